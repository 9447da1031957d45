//! A table of the processes that use one primitive, each with a count (a semaphore's permits
//! held, a barrier party's registration), so that what a dead process held can be given back.
//!
//! Entry (three `u64` words): `owner` = `pid (32) | seq (30) | state (2)`, `identity` (as in
//! [`liveness`]: start time under the pid namespace), `count`. States: FREE (0), ALIVE (1),
//! REPAIRING (2; `pid` is the repairer's). `seq` moves on every registration, so a repairer's
//! CAS from the word it judged never succeeds on a later owner of the same pid.
//!
//! **Registration** is once per process (and per fork: a child registers itself, it never
//! counts under its parent's entry): one CAS `FREE → ALIVE(pid)`, then the identity. A process
//! that finds the table full counts nowhere (what it holds is not returned if it dies).
//!
//! **Repair** of an entry whose process [`liveness::judge`] says is dead (never a stopped or
//! slow one): CAS `ALIVE(pid, seq) → REPAIRING(me, seq)` from exactly the word judged, take the
//! count (swap to 0), clear the identity, free the entry (Release). A repairer that dies mid-way
//! leaves a REPAIRING entry, which the next repair takes over once that repairer is dead too.
//!
//! **Hostile memory.** The table's length is the handle's own (never read from the region), so
//! every scan is one pass; each word is read once and CASed from what was read; counts are
//! whatever `u64` they hold (a caller clamps what it gives back).

use std::sync::atomic::{AtomicU64, Ordering::*};

use crate::liveness::{self, Verdict};
use crate::shared::region::SharedBytes;
use crate::sys::{fork_generation, getpid};

const STATE_MASK: u64 = 3;
const FREE: u64 = 0;
const ALIVE: u64 = 1;
const REPAIRING: u64 = 2;
const SEQ_MASK: u64 = ((1 << 30) - 1) << 2;

/// Entries in each table.
pub(crate) const ENTRIES: usize = 64;
/// Bytes of a table.
pub(crate) const TABLE_BYTES: usize = ENTRIES * 24;

fn owner_word(pid: u32, seq_bits: u64, state: u64) -> u64 {
    (u64::from(pid) << 32) | (seq_bits & SEQ_MASK) | state
}

/// The table at byte `offset` of `bytes` ([`TABLE_BYTES`] long, 8-aligned).
pub(crate) struct Procs<'a> {
    words: &'a [AtomicU64],
}

/// A process's registration, cached in its handle: `generation + 1 (32) | index + 1 (32)`;
/// 0 or another generation: not registered in this process; index + 1 = `u32::MAX`: the table
/// was full.
pub(crate) struct Mine(AtomicU64);

const NO_ENTRY: u64 = u32::MAX as u64;

impl Mine {
    pub(crate) fn new() -> Mine {
        Mine(AtomicU64::new(0))
    }
}

impl<'a> Procs<'a> {
    pub(crate) fn new(bytes: &'a SharedBytes, offset: usize) -> Procs<'a> {
        Procs {
            words: bytes.atomics::<AtomicU64>(offset, ENTRIES * 3),
        }
    }

    fn owner(&self, i: usize) -> &AtomicU64 {
        &self.words[3 * i]
    }
    fn identity(&self, i: usize) -> &AtomicU64 {
        &self.words[3 * i + 1]
    }
    fn count(&self, i: usize) -> &AtomicU64 {
        &self.words[3 * i + 2]
    }

    /// This process's entry (registering it if this process has none yet), or `None` if the
    /// table is full of live processes.
    pub(crate) fn mine(&self, mine: &Mine) -> Option<usize> {
        let generation = (fork_generation() + 1) & 0xffff_ffff;
        let cached = mine.0.load(Relaxed);
        if cached >> 32 == generation {
            let index = cached & 0xffff_ffff;
            return (index != NO_ENTRY).then(|| index as usize - 1);
        }
        let found = self.register().or_else(|| {
            self.repair_dead(|_| {});
            self.register()
        });
        let index = found.map_or(NO_ENTRY, |i| i as u64 + 1);
        mine.0.store((generation << 32) | index, Relaxed);
        found
    }

    fn register(&self) -> Option<usize> {
        let pid = getpid().as_raw() as u32;
        (0..ENTRIES).find(|&i| {
            let word = self.owner(i).load(Relaxed);
            if word & STATE_MASK != FREE {
                return false;
            }
            let next = owner_word(pid, (word & SEQ_MASK).wrapping_add(4), ALIVE);
            // Acquire: pairs with the Release that freed the entry (its count is 0 then).
            if self
                .owner(i)
                .compare_exchange(word, next, Acquire, Relaxed)
                .is_ok()
            {
                self.identity(i).store(liveness::own_identity(), Relaxed);
                true
            } else {
                false
            }
        })
    }

    /// Adds `n` to entry `i`'s count.
    pub(crate) fn add(&self, i: usize, n: u64) {
        self.count(i).fetch_add(n, Relaxed);
    }

    /// Takes one from entry `i`'s count if it is above 0; whether it did.
    pub(crate) fn take_one(&self, i: usize) -> bool {
        let count = self.count(i);
        let mut seen = count.load(Relaxed);
        // Capped: only this process changes its own count, and a repairer once (a scribbler
        // could change it more).
        for _ in 0..64 {
            if seen == 0 {
                return false;
            }
            match count.compare_exchange(seen, seen - 1, Relaxed, Relaxed) {
                Ok(_) => return true,
                Err(now) => seen = now,
            }
        }
        false
    }

    /// Repairs every entry of a dead process (or of a dead repairer): `on_dead(count)` for
    /// each, after its count was taken and before the entry is freed. Returns how many.
    pub(crate) fn repair_dead(&self, mut on_dead: impl FnMut(u64)) -> usize {
        let me = getpid().as_raw() as u32;
        let mut repaired = 0;
        for i in 0..ENTRIES {
            // Acquire: pairs with the registration CAS; the identity read after is its own.
            let word = self.owner(i).load(Acquire);
            let pid = (word >> 32) as u32;
            let identity = match word & STATE_MASK {
                ALIVE => self.identity(i).load(Relaxed),
                REPAIRING if pid != me => 0,
                _ => continue,
            };
            if liveness::judge(pid, identity) != Verdict::Dead {
                continue;
            }
            let repairing = owner_word(me, word, REPAIRING);
            // Acquire: the dead process's last count changes are visible (its death, learned
            // through the kernel, came after them).
            if self
                .owner(i)
                .compare_exchange(word, repairing, Acquire, Relaxed)
                .is_err()
            {
                continue;
            }
            let count = self.count(i).swap(0, Relaxed);
            on_dead(count);
            self.identity(i).store(0, Relaxed);
            // Release: pairs with `register`'s Acquire.
            let _ = self.owner(i).compare_exchange(
                repairing,
                owner_word(0, word, FREE),
                Release,
                Relaxed,
            );
            repaired += 1;
        }
        repaired
    }
}
