//! A crash-aware ledger of per-process counters in shared memory: how many of each *kind* of
//! thing (senders, receivers, items taken but not yet done) the processes sharing it hold, and
//! how many of them died with their holders.
//!
//! The question it answers is "does any live process still hold one?" — e.g. "is there a
//! sender left?" — with a single load: [`Ledger::total`]. Each process counts what it holds in
//! its own *entry* (pid, start time, a count per kind), and every change goes to a shared
//! *total* per kind too, in an order that keeps the total at or above the sum of the entries of
//! live processes (see *Why the total never drops early*). A process that dies holding some is
//! found by [`Ledger::repair_dead`] (the death test of [`liveness`]): its counts move from the
//! total to the kind's `lost` count, once, and its entry is freed.
//!
//! # Kinds inherited by fork, and kinds that are not
//!
//! A handle (a `Sender`) copied into a child by `fork` is held by the child as well, from the
//! moment of the fork, even if the child never touches it: the counts of an *inherited* kind
//! are the process's handles. A kind that is not inherited (items a consumer took) stays with
//! the process that took them: a child starts with none.
//!
//! Inheritance is made at the fork itself, by `pthread_atfork` handlers over a process-wide
//! registry of the ledgers alive in this process:
//!
//! - *prepare* (parent, before the fork): takes the registry lock (which every change of an
//!   inherited kind also takes, so no count moves under the fork), and for each ledger in
//!   which this process holds some inherited count, *reserves* a free entry for the child:
//!   owner = this (the parent's) pid, the parent's inherited counts; the totals went up first.
//!   From then on, the child's handles are counted, while it is judged by its parent's life.
//! - *child*: takes its reserved entries over (a CAS from the exact reserved owner word to its
//!   own pid), forgets the non-inherited counts it copied, releases the lock.
//! - *parent*: releases the lock. (The reservation stays the parent's if `fork` failed: glibc
//!   runs the parent handler then too, and it cannot tell. That entry counts handles nobody
//!   holds while the parent lives, so disconnection is reported late, never early.)
//!
//! The child handler cannot read `/proc` (it runs in a fork child), so a child's entry has no
//! identity (start time) until its first change here; until then it is judged by its pid
//! alone. If such a child dies and its pid is reused before a repair, it is judged alive:
//! its handles stay counted (disconnection missed, never reported early).
//!
//! If the parent dies between the fork and its child's handler, and a repair frees the
//! reserved entry in that window, the child's take-over fails and it counts its handles in
//! the totals only (as on overflow, below); the totals may have reached zero in the window.
//!
//! # Where it lives, and who uses it
//!
//! [`Ledger::new`] maps a region of its own (anonymous: a channel's senders and receivers, a
//! `JoinableQueue`'s items taken); [`Ledger::within`] lays one over part of a region its user
//! made, anonymous or a named object that unrelated processes open, each with its own
//! `Ledger` over the same bytes (`sync`'s `Semaphore`, permits held; `Barrier`, parties; both
//! kinds not inherited). [`Ledger::repair_dead_with`] hands each dead entry's counts to the
//! caller, which gives them back where they belong (a semaphore's count) or just learns of a
//! death (a barrier breaks).
//!
//! # Overflow
//!
//! A process that finds every entry held (by live processes, after a repair) counts in the
//! totals only, without an entry: what it holds is never repaired, so if it dies holding some,
//! the total never reaches zero again. This errs the safe way: a channel with such a sender
//! never reports `Disconnected` falsely, it just never reports it after that death.
//!
//! # Why the total never drops early
//!
//! Every count that goes into an entry went into the total before (add: total, then entry;
//! reservation: totals, then entry), and every count that leaves the total left the entry
//! before (subtract: entry, then total; repair: the entry's count is taken with a swap, then
//! subtracted). A process that dies between the two steps leaves the total too high, never too
//! low. So a zero total means nobody alive holds one — unless a process wrote garbage here.
//!
//! # Hostile memory
//!
//! The region is shared with every process forked after it was made, any of which may write
//! anything into it. What that can do: make a total read zero (a false disconnection: the
//! callers report it as a typed error), or never zero (a missed one), or garble the `lost`
//! counts. What it cannot: every shared value is read once, into a local, and checked; the
//! table's size is this process's own (fixed at creation, never read from the region), so every
//! loop is bounded by it; counts wrap instead of overflowing; nothing here panics on what it
//! reads.

use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release, SeqCst},
};
use std::sync::Arc;

use ipc_core::WaitWord;

use crate::shared::region::{Part, SharedBytes, View};
use crate::shm::{SharedRegion, ShmError};
use crate::sys::register_fork_handlers;
use crate::wait::word::{notify_all, Stall};

mod entries;
mod fork;

use fork::{child, parent, prepare, registry, tag, HANDLERS};

/// At most this many kinds per ledger.
pub(crate) const MAX_KINDS: usize = 4;

/// Region layout: the doorbell, then `totals[K]`, `lost[K]`, then the entries, each `owner`,
/// `identity`, `counts[K]` (`u64`s).
const DOORBELL: usize = 0;
const TOTALS: usize = 64;
const ENTRY_WORDS: usize = 2 + MAX_KINDS;

/// Entry owner word: `seq (30) | state (2) | pid (32)`. `seq` moves on each claim, so a
/// repairer's CAS from a word it judged cannot succeed on a later owner of the same pid.
const PID_MASK: u64 = 0xffff_ffff;
const STATE_SHIFT: u32 = 32;
const STATE_MASK: u64 = 3 << STATE_SHIFT;
const FREE: u64 = 0;
const ALIVE: u64 = 1 << STATE_SHIFT;
const REPAIRING: u64 = 2 << STATE_SHIFT;
const SEQ_SHIFT: u32 = 34;

fn owner_word(seq: u64, state: u64, pid: u32) -> u64 {
    (seq << SEQ_SHIFT) | state | u64::from(pid)
}

/// Process-local `mine` word: `tag (31) | identity pending (1) | slot (32)`. `tag` is
/// [`FORKS`] + 1 of the process that stored it (0: never registered); slot 0: no entry yet,
/// [`OVERFLOW`]: counting in the totals only, else entry index + 1.
const SLOT_MASK: u64 = 0xffff_ffff;
const PENDING_IDENTITY: u64 = 1 << 32;
const TAG_SHIFT: u32 = 33;
const OVERFLOW: u64 = SLOT_MASK;

/// A table of per-process counters in shared memory; clones share it, and so do children
/// forked after it was made.
#[derive(Clone)]
pub(crate) struct Ledger {
    shared: Arc<Shared>,
}

struct Shared {
    bytes: SharedBytes,
    /// Where the ledger starts in `bytes` (0 for one of its own; a multiple of 8).
    base: usize,
    kinds: usize,
    /// Bit `k`: kind `k` is inherited by forked children.
    inherited: u32,
    entries: usize,
    /// This process's entry (see [`SLOT_MASK`] and the constants after it).
    mine: AtomicU64,
    /// The entry the prepare handler reserved for the child of the fork under way (slot
    /// encoding of `mine`), and the owner word it stored there.
    child_slot: AtomicU64,
    child_owner: AtomicU64,
    /// What this process holds, per kind: the truth that a child inherits.
    local: [AtomicU64; MAX_KINDS],
    /// Rate limit of [`Ledger::look_for_dead`].
    stall: Stall,
    /// The ledger's own mapping ([`Ledger::new`]); `None` inside another's ([`Ledger::within`]).
    _region: Option<SharedRegion>,
}

/// Bytes of a ledger of `entries` entries (doorbell, totals, lost, entries).
pub(crate) const fn ledger_len(entries: usize) -> usize {
    TOTALS + 8 * (2 * MAX_KINDS + entries * ENTRY_WORDS)
}

impl Ledger {
    /// A new ledger of `kinds` kinds (at most [`MAX_KINDS`]), of which those whose bit is set in
    /// `inherited` are inherited by forked children, with `entries` process entries.
    ///
    /// # Errors
    ///
    /// [`ShmError`] if the mapping cannot be made.
    ///
    /// # Panics
    ///
    /// If `kinds` is 0 or above [`MAX_KINDS`], or `entries` is 0 or above `u32::MAX - 1`
    /// (callers pass constants).
    pub(crate) fn new(kinds: usize, inherited: u32, entries: usize) -> Result<Ledger, ShmError> {
        let len = ledger_len(entries);
        let region = SharedRegion::new(len)?;
        let View::Bytes(bytes) = region
            .claim(Part::Bytes { offset: 0, len })
            .map_err(|e| ShmError::Os(std::io::Error::other(e)))?
        else {
            unreachable!("a Bytes part gives a Bytes view")
        };
        Ok(Self::build(
            bytes,
            0,
            kinds,
            inherited,
            entries,
            Some(region),
        ))
    }

    /// A ledger laid over `bytes` at byte `base` ([`ledger_len`]`(entries)` bytes, zeroed when
    /// the memory was made), inside a region its user owns, e.g. a named object shared by
    /// unrelated processes (each of which makes its own `Ledger` over it). As [`new`](Self::new)
    /// otherwise: children forked after this inherit the kinds of `inherited`.
    ///
    /// # Panics
    ///
    /// As [`new`](Self::new); and if `base` is not a multiple of 8 or the ledger does not fit
    /// in `bytes` (callers pass their layout's constants).
    pub(crate) fn within(
        bytes: &SharedBytes,
        base: usize,
        kinds: usize,
        inherited: u32,
        entries: usize,
    ) -> Ledger {
        assert!(
            base % 8 == 0 && base + ledger_len(entries) <= bytes.len(),
            "the ledger does not fit"
        );
        Self::build(bytes.clone(), base, kinds, inherited, entries, None)
    }

    fn build(
        bytes: SharedBytes,
        base: usize,
        kinds: usize,
        inherited: u32,
        entries: usize,
        region: Option<SharedRegion>,
    ) -> Ledger {
        assert!((1..=MAX_KINDS).contains(&kinds), "1 to {MAX_KINDS} kinds");
        assert!(
            entries > 0 && entries < SLOT_MASK as usize - 1,
            "bad entry count"
        );
        install_fork_handlers();
        let shared = Arc::new(Shared {
            bytes,
            base,
            kinds,
            inherited: inherited & ((1 << kinds) - 1),
            entries,
            mine: AtomicU64::new(0),
            child_slot: AtomicU64::new(0),
            child_owner: AtomicU64::new(0),
            local: Default::default(),
            stall: Stall::new(),
            _region: region,
        });
        let mut ledgers = registry();
        ledgers.retain(|w| w.strong_count() > 0);
        ledgers.push(Arc::downgrade(&shared));
        Ledger { shared }
    }

    /// The doorbell: bumped and woken whenever a total may have dropped (a count of this
    /// process reached zero, a repair). A waiter registers with `prepare_wait`, looks at the
    /// totals, and sleeps on its `seq`.
    pub(crate) fn doorbell(&self) -> &WaitWord {
        let s = &*self.shared;
        &s.bytes.atomics::<WaitWord>(s.base + DOORBELL, 1)[0]
    }

    /// Registers this process now, if it has no entry yet in this fork generation (a read of
    /// `/proc` the first time in a process): for a caller whose next change must be quick.
    pub(crate) fn enter(&self) {
        let _ = self.shared.slot(false);
    }

    /// Adds `n` to this process's count of `kind` (registering this process on its first
    /// change in each fork generation).
    pub(crate) fn add(&self, kind: usize, n: u64) {
        let s = &*self.shared;
        let lock = s.is_inherited(kind).then(registry);
        let slot = s.slot(lock.is_some());
        s.local[kind].fetch_add(n, Relaxed);
        // Total first, entry second (module docs). SeqCst: a reader of the total sees the
        // count before (or with) anything this process does after this call.
        s.total_word(kind).fetch_add(n, SeqCst);
        if let Some(entry) = s.entry_index(slot) {
            s.count(entry, kind).fetch_add(n, Release);
        }
    }

    /// Takes `n` (at most what this process holds) from this process's count of `kind`.
    /// Returns `true` if the kind's total reached zero (the doorbell was rung then).
    pub(crate) fn sub(&self, kind: usize, n: u64) -> bool {
        let s = &*self.shared;
        let lock = s.is_inherited(kind).then(registry);
        let slot = s.slot(lock.is_some());
        // An RMW: threads of this process may change a kind that is not inherited (no lock)
        // at once. Process-local, so the retries end with the contention.
        let Ok(held) = s.local[kind].fetch_update(Relaxed, Relaxed, |held| {
            (held != 0).then(|| held - n.min(held))
        }) else {
            return false;
        };
        let n = n.min(held);
        // Entry first, total second (module docs). Wrapping: a hostile process may have
        // written anything there.
        if let Some(entry) = s.entry_index(slot) {
            s.count(entry, kind).fetch_sub(n, Release);
        }
        let before = s.total_word(kind).fetch_sub(n, SeqCst);
        let zero = before == n;
        if held == n || zero {
            notify_all(self.doorbell());
        }
        zero
    }

    /// What this process holds of `kind`.
    pub(crate) fn held(&self, kind: usize) -> u64 {
        self.shared.local[kind].load(Relaxed)
    }

    /// The total of `kind` held by live processes (and by dead ones not repaired yet).
    pub(crate) fn total(&self, kind: usize) -> u64 {
        self.shared.total_word(kind).load(SeqCst)
    }

    /// How many of `kind` dead processes held when they were repaired.
    #[cfg_attr(not(test), allow(dead_code))] // For the joinable queue's held items.
    pub(crate) fn lost(&self, kind: usize) -> u64 {
        self.shared.lost_word(kind).load(Relaxed)
    }

    /// Repairs the entries of processes that [`liveness::judge`] finds dead: their counts
    /// move from the totals to the `lost` counts, once, and the entries are freed. Returns
    /// how many were repaired; rings the doorbell if any.
    pub(crate) fn repair_dead(&self) -> usize {
        self.repair_dead_with(|_| {})
    }

    /// [`repair_dead`](Self::repair_dead), calling `on_dead(counts)` for each entry repaired,
    /// with what it held of each kind (`counts[k]`, as read from the region: a caller clamps
    /// what it gives back), after the counts were taken and before the entry is freed.
    pub(crate) fn repair_dead_with(&self, on_dead: impl FnMut(&[u64])) -> usize {
        let repaired = self.shared.repair_dead(on_dead);
        if repaired > 0 {
            notify_all(self.doorbell());
        }
        repaired
    }

    /// [`repair_dead`](Self::repair_dead), at most every 200 ms per process (unless the last
    /// one found someone): for callers that poll.
    pub(crate) fn look_for_dead(&self) -> usize {
        if !self.shared.stall.due() {
            return 0;
        }
        let repaired = self.repair_dead();
        if repaired > 0 {
            self.shared.stall.reset();
        }
        repaired
    }

    /// The region's bytes, for tests that play a hostile process.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &SharedBytes {
        &self.shared.bytes
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last handle of this process: free its entry if it holds nothing (what it
        // holds, e.g. items not done, stays counted until it dies and is repaired).
        let mine = self.mine.load(Acquire);
        if mine >> TAG_SHIFT != tag() {
            return;
        }
        let Some(entry) = self.entry_index(mine & SLOT_MASK) else {
            return;
        };
        if self.local.iter().any(|n| n.load(Relaxed) != 0) {
            return;
        }
        let owner = self.owner(entry);
        let seen = owner.load(Acquire);
        if seen & (STATE_MASK | PID_MASK) != ALIVE | u64::from(std::process::id()) {
            return; // not ours any more (a hostile write): leave it.
        }
        self.identity(entry).store(0, Relaxed);
        let _ = owner.compare_exchange(seen, seen & !(STATE_MASK | PID_MASK), Release, Relaxed);
    }
}

/// Registers the ledgers' `pthread_atfork` handlers, once per process (the first ledger made
/// does it). [`Process::start`](crate::Process::start) calls it before its fork: a child must
/// not inherit the `Once` half set by another thread, or its first ledger would wait for it
/// for ever.
pub(crate) fn install_fork_handlers() {
    HANDLERS.call_once(|| register_fork_handlers(prepare, parent, child));
}

#[cfg(test)]
mod tests;
