//! The entry table of a ledger: the words of its region, this process's entry (register,
//! claim), and the repair of dead processes' entries.

use std::sync::atomic::{
    AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst},
};

use super::fork::{own_identity, registry, tag};
use super::*;
use crate::liveness::{self, Verdict};

impl Shared {
    pub(super) fn is_inherited(&self, kind: usize) -> bool {
        assert!(kind < self.kinds, "kind {kind} out of range");
        self.inherited & (1 << kind) != 0
    }

    pub(super) fn word(&self, index: usize) -> &AtomicU64 {
        self.bytes.u64_at(self.base + TOTALS + 8 * index)
    }

    pub(super) fn total_word(&self, kind: usize) -> &AtomicU64 {
        self.word(kind)
    }

    pub(super) fn lost_word(&self, kind: usize) -> &AtomicU64 {
        self.word(MAX_KINDS + kind)
    }

    pub(super) fn owner(&self, entry: usize) -> &AtomicU64 {
        self.word(2 * MAX_KINDS + entry * ENTRY_WORDS)
    }

    pub(super) fn identity(&self, entry: usize) -> &AtomicU64 {
        self.word(2 * MAX_KINDS + entry * ENTRY_WORDS + 1)
    }

    pub(super) fn count(&self, entry: usize, kind: usize) -> &AtomicU64 {
        self.word(2 * MAX_KINDS + entry * ENTRY_WORDS + 2 + kind)
    }

    pub(super) fn entry_index(&self, slot: u64) -> Option<usize> {
        (slot != 0 && slot != OVERFLOW).then(|| (slot - 1) as usize)
    }

    /// This process's slot, registering it (or writing its identity) first if needed, under
    /// the registry lock (`locked`: the caller holds it already).
    #[inline]
    pub(super) fn slot(&self, locked: bool) -> u64 {
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
    pub(super) fn register(&self) -> u64 {
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
    pub(super) fn claim_entry(&self, pid: u32, identity: u64) -> Option<(usize, u64)> {
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

    pub(super) fn claim(&self, pid: u32, identity: u64) -> Option<usize> {
        self.claim_entry(pid, identity).map(|(entry, _)| entry)
    }

    pub(super) fn repair_dead(&self, mut on_dead: impl FnMut(&[u64])) -> usize {
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
}
