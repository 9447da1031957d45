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

use std::cell::RefCell;
use std::sync::atomic::{
    AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst},
};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError, Weak};

use ipc_core::WaitWord;

use crate::liveness::{self, Verdict};
use crate::shared::region::{Part, SharedBytes, View};
use crate::shm::{SharedRegion, ShmError};
use crate::sys::register_fork_handlers;
use crate::wait::{notify_all, Stall};

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

/// Forks seen by this module's child handler: a `mine` word of another tag was copied from a
/// parent, and is not this process's.
static FORKS: AtomicU64 = AtomicU64::new(0);

fn tag() -> u64 {
    FORKS.load(Relaxed) + 1
}

/// The ledgers alive in this process (dead `Weak`s are pruned as new ones come). Its lock is
/// held by every change of an inherited kind and across each `fork` (see the module docs).
static REGISTRY: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());
static HANDLERS: Once = Once::new();

thread_local! {
    /// The registry lock, held from the prepare handler to the parent's or child's handler.
    static HELD: RefCell<Option<MutexGuard<'static, Vec<Weak<Shared>>>>> =
        const { RefCell::new(None) };
}

/// This process's identity ([`liveness::own_identity`], a read of `/proc`), once per process:
/// the prepare handler needs it at every fork. `OWN_PID` is stored after `OWN_IDENTITY`
/// (Release), so a reader that sees its own pid there (Acquire) sees its own identity; a
/// forked child sees its parent's pid and computes its own.
static OWN_IDENTITY: AtomicU64 = AtomicU64::new(0);
static OWN_PID: AtomicU64 = AtomicU64::new(0);

fn own_identity() -> u64 {
    let pid = u64::from(std::process::id());
    if OWN_PID.load(Acquire) == pid {
        return OWN_IDENTITY.load(Relaxed);
    }
    let identity = liveness::own_identity();
    OWN_IDENTITY.store(identity, Relaxed);
    OWN_PID.store(pid, Release);
    identity
}

fn registry() -> MutexGuard<'static, Vec<Weak<Shared>>> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

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
        HANDLERS.call_once(|| register_fork_handlers(prepare, parent, child));
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

impl Shared {
    fn is_inherited(&self, kind: usize) -> bool {
        assert!(kind < self.kinds, "kind {kind} out of range");
        self.inherited & (1 << kind) != 0
    }

    fn word(&self, index: usize) -> &AtomicU64 {
        self.bytes.u64_at(self.base + TOTALS + 8 * index)
    }

    fn total_word(&self, kind: usize) -> &AtomicU64 {
        self.word(kind)
    }

    fn lost_word(&self, kind: usize) -> &AtomicU64 {
        self.word(MAX_KINDS + kind)
    }

    fn owner(&self, entry: usize) -> &AtomicU64 {
        self.word(2 * MAX_KINDS + entry * ENTRY_WORDS)
    }

    fn identity(&self, entry: usize) -> &AtomicU64 {
        self.word(2 * MAX_KINDS + entry * ENTRY_WORDS + 1)
    }

    fn count(&self, entry: usize, kind: usize) -> &AtomicU64 {
        self.word(2 * MAX_KINDS + entry * ENTRY_WORDS + 2 + kind)
    }

    fn entry_index(&self, slot: u64) -> Option<usize> {
        (slot != 0 && slot != OVERFLOW).then(|| (slot - 1) as usize)
    }

    /// This process's slot, registering it (or writing its identity) first if needed, under
    /// the registry lock (`locked`: the caller holds it already).
    #[inline]
    fn slot(&self, locked: bool) -> u64 {
        let mine = self.mine.load(Acquire);
        if mine >> TAG_SHIFT == tag() && mine & PENDING_IDENTITY == 0 && mine & SLOT_MASK != 0 {
            return mine & SLOT_MASK;
        }
        // Serialised with the fork handlers and other registrations of this process.
        let _lock = (!locked).then(registry);
        self.register()
    }

    /// Registers this process (the registry lock held).
    #[cold]
    fn register(&self) -> u64 {
        let mine = self.mine.load(Acquire);
        let tag = tag();
        if mine >> TAG_SHIFT == tag && mine & SLOT_MASK != 0 {
            let slot = mine & SLOT_MASK;
            if mine & PENDING_IDENTITY != 0 {
                // A child's inherited entry, whose identity the child handler left 0.
                if let Some(entry) = self.entry_index(slot) {
                    self.identity(entry).store(own_identity(), Release);
                }
                self.mine.store((tag << TAG_SHIFT) | slot, Release);
            }
            return slot;
        }
        // Another generation's word: the parent's. This process holds nothing yet here
        // (its inherited counts, if any, came with a reserved entry and a word of this tag).
        for local in &self.local {
            local.store(0, Relaxed);
        }
        let slot = match self.claim(std::process::id(), own_identity()) {
            Some(entry) => entry as u64 + 1,
            None => {
                self.repair_dead(|_| {});
                self.claim(std::process::id(), own_identity())
                    .map_or(OVERFLOW, |entry| entry as u64 + 1)
            }
        };
        self.mine.store((tag << TAG_SHIFT) | slot, Release);
        slot
    }

    /// Claims a free entry for `pid`; returns its index and the owner word stored.
    fn claim_entry(&self, pid: u32, identity: u64) -> Option<(usize, u64)> {
        for entry in 0..self.entries {
            let owner = self.owner(entry);
            let seen = owner.load(Acquire);
            if seen & STATE_MASK != FREE {
                continue;
            }
            let seq = ((seen >> SEQ_SHIFT) + 1) & ((1 << (64 - SEQ_SHIFT)) - 1);
            let word = owner_word(seq, ALIVE, pid);
            // AcqRel: acquires the freeing (counts zeroed, identity cleared); releases
            // nothing yet (the identity follows; a judge that reads 0 judges by pid).
            if owner.compare_exchange(seen, word, AcqRel, Relaxed).is_ok() {
                self.identity(entry).store(identity, Release);
                for kind in 0..MAX_KINDS {
                    // Zero whatever a hostile process left (an honest free leaves 0).
                    self.count(entry, kind).store(0, Relaxed);
                }
                return Some((entry, word));
            }
        }
        None
    }

    fn claim(&self, pid: u32, identity: u64) -> Option<usize> {
        self.claim_entry(pid, identity).map(|(entry, _)| entry)
    }

    fn repair_dead(&self, mut on_dead: impl FnMut(&[u64])) -> usize {
        let me = std::process::id();
        let mut repaired = 0;
        // Bounded by this process's own entry count, whatever the region holds.
        for entry in 0..self.entries {
            let owner = self.owner(entry);
            let seen = owner.load(Acquire);
            let state = seen & STATE_MASK;
            let pid = (seen & PID_MASK) as u32;
            if (state != ALIVE && state != REPAIRING) || pid == me {
                continue;
            }
            // A repairer's identity is not recorded: judged by pid alone (errs to alive).
            let identity = if state == ALIVE {
                self.identity(entry).load(Acquire)
            } else {
                0
            };
            if liveness::judge(pid, identity) != Verdict::Dead {
                continue;
            }
            let ours = (seen & !(STATE_MASK | PID_MASK)) | REPAIRING | u64::from(me);
            // AcqRel: acquires the dead owner's last count changes (it is dead: final).
            if owner.compare_exchange(seen, ours, AcqRel, Relaxed).is_err() {
                continue;
            }
            let mut counts = [0u64; MAX_KINDS];
            for (kind, held) in counts.iter_mut().enumerate().take(self.kinds) {
                // Swap: each count moves once, even across a take-over of a dead repairer.
                *held = self.count(entry, kind).swap(0, AcqRel);
                if *held != 0 {
                    self.lost_word(kind).fetch_add(*held, Relaxed);
                    self.total_word(kind).fetch_sub(*held, SeqCst);
                }
            }
            on_dead(&counts[..self.kinds]);
            self.identity(entry).store(0, Relaxed);
            // Release: the next claimer sees zeroed counts and identity.
            owner.store(seen & !(STATE_MASK | PID_MASK), Release);
            repaired += 1;
        }
        repaired
    }

    /// Prepare handler's part: reserve an entry for the child if this process holds some of
    /// an inherited kind. Runs with the registry lock held.
    fn reserve_for_child(&self) {
        let mut inherit = [0u64; MAX_KINDS];
        let mut any = false;
        for (kind, n) in inherit.iter_mut().enumerate().take(self.kinds) {
            if self.inherited & (1 << kind) != 0 {
                *n = self.local[kind].load(Relaxed);
                any |= *n != 0;
            }
        }
        if !any {
            self.child_slot.store(0, Relaxed);
            return;
        }
        // Totals first (module docs).
        for (kind, &n) in inherit.iter().enumerate() {
            if n != 0 {
                self.total_word(kind).fetch_add(n, SeqCst);
            }
        }
        // The parent's pid and identity: the entry is judged by the parent's life until the
        // child takes it over.
        let reserved = self.claim_entry(std::process::id(), own_identity());
        let (slot, word) = match reserved {
            Some((entry, word)) => {
                for (kind, &n) in inherit.iter().enumerate() {
                    self.count(entry, kind).store(n, Release);
                }
                (entry as u64 + 1, word)
            }
            None => (OVERFLOW, 0),
        };
        self.child_slot.store(slot, Relaxed);
        self.child_owner.store(word, Relaxed);
    }

    /// Child handler's part: take the reserved entry over. Only atomics and `getpid`.
    fn adopt(&self, tag: u64) {
        for kind in 0..self.kinds {
            if self.inherited & (1 << kind) == 0 {
                self.local[kind].store(0, Relaxed);
            }
        }
        let mut slot = self.child_slot.load(Relaxed);
        if let Some(entry) = self.entry_index(slot) {
            let reserved = self.child_owner.load(Relaxed);
            // Identity unknown here (reading it needs /proc): 0, judged by pid alone, until
            // the first call in the child writes it.
            self.identity(entry).store(0, Release);
            let word = (reserved & !PID_MASK) | u64::from(std::process::id());
            if self
                .owner(entry)
                .compare_exchange(reserved, word, AcqRel, Relaxed)
                .is_err()
            {
                // The parent died and its reservation was repaired: count in the totals only.
                for kind in 0..self.kinds {
                    let n = self.local[kind].load(Relaxed);
                    if n != 0 {
                        self.total_word(kind).fetch_add(n, SeqCst);
                    }
                }
                slot = OVERFLOW;
            }
        }
        let pending = if slot != 0 && slot != OVERFLOW {
            PENDING_IDENTITY
        } else {
            0
        };
        // Slot 0 (nothing inherited): registers on first use.
        self.mine
            .store((tag << TAG_SHIFT) | pending | slot, Release);
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

extern "C" fn prepare() {
    let guard = registry();
    for ledger in guard.iter().filter_map(Weak::upgrade) {
        ledger.reserve_for_child();
    }
    HELD.with(|h| *h.borrow_mut() = Some(guard));
}

extern "C" fn parent() {
    drop(HELD.with(|h| h.borrow_mut().take()));
}

extern "C" fn child() {
    FORKS.fetch_add(1, Relaxed);
    let tag = tag();
    let guard = HELD.with(|h| h.borrow_mut().take());
    if let Some(ledgers) = &guard {
        for ledger in ledgers.iter().filter_map(Weak::upgrade) {
            ledger.adopt(tag);
        }
    }
    drop(guard);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{
        fork_run, kill, pipe, set_parent_death_signal, waitpid, write_all, Signal, WaitOptions,
        WaitStatus,
    };
    use crate::test_util::watchdog;
    use std::io::Read;
    use std::os::fd::AsFd;

    const HANDLES: usize = 0;
    const HELD_ITEMS: usize = 1;

    fn ledger(entries: usize) -> Ledger {
        Ledger::new(2, 1 << HANDLES, entries).unwrap()
    }

    /// Runs `body` in a forked child, alone: a child forked by another test thread inherits
    /// every ledger of the process (as it should), which would move the counts under test.
    fn isolated(body: impl FnOnce() + Send + 'static) {
        watchdog(60, || {
            let child = fork_run(move || {
                body();
                0
            })
            .unwrap();
            assert_eq!(
                waitpid(child, WaitOptions::BLOCK).unwrap(),
                Some(WaitStatus::Exited(0)),
                "the isolated test body failed (its output is above)"
            );
        });
    }

    /// Forks a child that runs `body`, writes one byte to say it is done, and then parks
    /// until killed; returns its pid once the byte arrived.
    fn parked_child(body: impl FnOnce()) -> crate::sys::Pid {
        let (mut rx, tx) = {
            let (r, w) = pipe().unwrap();
            (std::fs::File::from(r), w)
        };
        let child = fork_run(move || {
            // Gone with its parent, should a failed test leave it.
            set_parent_death_signal(Some(Signal::KILL)).unwrap();
            body();
            write_all(tx.as_fd(), b"x").unwrap();
            loop {
                std::thread::park();
            }
        })
        .unwrap();
        let mut byte = [0u8; 1];
        rx.read_exact(&mut byte).unwrap();
        child
    }

    fn kill_and_reap(child: crate::sys::Pid) {
        kill(child, Signal::KILL).unwrap();
        waitpid(child, WaitOptions::BLOCK).unwrap();
    }

    #[test]
    fn counts_add_up_and_a_drop_to_zero_rings() {
        isolated(|| {
            let l = ledger(4);
            let seq = l.doorbell().seq().load(Relaxed);
            l.add(HANDLES, 2);
            l.add(HELD_ITEMS, 1);
            assert_eq!((l.total(HANDLES), l.total(HELD_ITEMS)), (2, 1));
            assert!(!l.sub(HANDLES, 1));
            // Taking more than this process holds takes what it holds.
            assert!(l.sub(HANDLES, 5));
            assert_eq!(l.total(HANDLES), 0);
            assert_eq!(l.held(HANDLES), 0);
            assert!(!l.sub(HANDLES, 1), "nothing held: no change");
            assert_eq!(l.total(HELD_ITEMS), 1);
            // Nobody waited, so the doorbell's word is unchanged; the repair finds nobody dead.
            assert_eq!(l.doorbell().seq().load(Relaxed), seq);
            assert_eq!(l.repair_dead(), 0);
        });
    }

    #[test]
    fn a_child_holds_inherited_handles_from_the_fork_until_it_dies() {
        isolated(|| {
            let l = ledger(4);
            l.add(HANDLES, 2);
            l.add(HELD_ITEMS, 3);
            // The child does nothing with the ledger.
            let child = parked_child(|| {});
            assert_eq!(l.total(HANDLES), 4, "the child's two count from the fork");
            assert_eq!(l.total(HELD_ITEMS), 3, "held items are not inherited");
            l.sub(HANDLES, 2);
            assert_eq!(l.total(HANDLES), 2);
            assert_eq!(l.repair_dead(), 0, "the child lives");
            kill_and_reap(child);
            assert_eq!(l.repair_dead(), 1);
            assert_eq!((l.total(HANDLES), l.lost(HANDLES)), (0, 2));
            assert_eq!(l.repair_dead(), 0, "counted once");
            l.sub(HELD_ITEMS, 3);
            assert_eq!(l.total(HELD_ITEMS), 0);
        });
    }

    #[test]
    fn a_child_that_drops_what_it_inherited_and_takes_items() {
        isolated(|| {
            let l = ledger(4);
            l.add(HANDLES, 1);
            let c = l.clone();
            let child = parked_child(move || {
                assert_eq!(c.held(HANDLES), 1);
                assert_eq!(c.held(HELD_ITEMS), 0);
                c.add(HELD_ITEMS, 5);
                c.sub(HANDLES, 1);
            });
            assert_eq!(l.total(HANDLES), 1);
            assert_eq!(l.total(HELD_ITEMS), 5);
            kill_and_reap(child);
            assert_eq!(l.repair_dead(), 1);
            assert_eq!((l.total(HELD_ITEMS), l.lost(HELD_ITEMS)), (0, 5));
            assert_eq!((l.total(HANDLES), l.lost(HANDLES)), (1, 0));
        });
    }

    #[test]
    fn a_child_of_a_full_table_counts_in_the_totals_only() {
        isolated(|| {
            let l = ledger(1);
            l.add(HANDLES, 1);
            let c = l.clone();
            drop(l);
            // One entry: ours. The child's reservation finds the table full: it counts in
            // the totals only, and so never lets the total reach zero.
            let child = fork_run(move || {
                c.sub(HANDLES, 1);
                i32::from(c.total(HANDLES) != 1)
            })
            .unwrap();
            assert_eq!(
                waitpid(child, WaitOptions::BLOCK).unwrap(),
                Some(WaitStatus::Exited(0))
            );
        });
    }

    #[test]
    fn overflow_never_reports_zero_for_a_dead_holder() {
        isolated(|| {
            let l = ledger(1);
            l.add(HELD_ITEMS, 1); // takes the one entry
            l.add(HANDLES, 1);
            let child = parked_child(|| {});
            assert_eq!(l.total(HANDLES), 2);
            kill_and_reap(child);
            assert_eq!(l.repair_dead(), 0, "the child had no entry");
            l.sub(HANDLES, 1);
            assert_eq!(l.total(HANDLES), 1, "the dead child's handle stays counted");
        });
    }

    #[test]
    fn ledgers_within_one_region_share_it_and_hand_the_dead_counts_over() {
        isolated(|| {
            let region = SharedRegion::new(64 + ledger_len(4)).unwrap();
            let View::Bytes(bytes) = region
                .claim(Part::Bytes {
                    offset: 0,
                    len: 64 + ledger_len(4),
                })
                .unwrap()
            else {
                unreachable!()
            };
            // Two handles over the same bytes at 64, as two opens of a named object make.
            let a = Ledger::within(&bytes, 64, 1, 0, 4);
            let b = Ledger::within(&bytes, 64, 1, 0, 4);
            a.add(0, 2);
            assert_eq!(b.total(0), 2);
            assert_eq!(bytes.u64_at(0).load(Relaxed), 0, "nothing below the base");
            let c = a.clone();
            let child = parked_child(move || c.add(0, 3));
            assert_eq!(b.total(0), 5, "not inherited: the child's own 3 only");
            kill_and_reap(child);
            let mut seen = Vec::new();
            assert_eq!(b.repair_dead_with(|counts| seen.push(counts.to_vec())), 1);
            assert_eq!(seen, [vec![3]]);
            assert_eq!((a.total(0), a.lost(0)), (2, 3));
        });
    }

    #[test]
    fn garbage_in_the_region_cannot_panic() {
        isolated(|| {
            let l = ledger(3);
            l.add(HANDLES, 1);
            let words = l.bytes().len() / 8;
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for round in 0..50 {
                for i in 0..words {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Now and then an owner that names a dead pid, or ours, or nobody.
                    let v = match round % 4 {
                        0 => x,
                        1 => x & (STATE_MASK | 0xffff),
                        2 => ALIVE | u64::from(std::process::id()),
                        _ => u64::MAX,
                    };
                    l.bytes().u64_at(8 * i).store(v, Relaxed);
                }
                l.add(HANDLES, 1);
                l.add(HELD_ITEMS, 2);
                let _ = l.total(HANDLES);
                let _ = l.repair_dead();
                l.sub(HANDLES, 1);
                l.sub(HELD_ITEMS, 3);
                let _ = l.lost(HELD_ITEMS);
            }
            // This process's own truth is intact.
            assert_eq!(l.held(HANDLES), 1);
            assert_eq!(l.held(HELD_ITEMS), 0);
        });
    }
}
