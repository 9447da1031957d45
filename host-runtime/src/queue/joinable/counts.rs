//! The shared counts of a [`JoinableQueue`](super::JoinableQueue) (its *Counting*): the
//! counting region, this process's ledger entry and the lock that serialises its changes.

use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

use ipc_core::WaitWord;

use super::TaskDoneError;
use crate::ledger::Ledger;
use crate::queue::{QueueError, DEFAULT_MAX_PROCESSES};
use crate::shared::region::{Part, SharedBytes, View};
use crate::shm::SharedRegion;
use crate::sys::fork_generation;
use crate::wait::notify_all;

/// The ledger kind: items a process got and has not marked done.
pub(super) const HELD: usize = 0;

/// Offsets in the counting region.
const UNFINISHED: usize = 0;
const FOREIGN: usize = 8;
const ALL_DONE: usize = 16;
const STATE_LEN: usize = 24;

/// Compare-and-swap attempts on a shared counter before giving up: other processes' honest
/// changes each let one attempt fail, so only a process that keeps rewriting the word (a
/// broken one) makes a call run out of them.
const MAX_ATTEMPTS: u32 = 1 << 16;

/// The shared counts (type docs) and this process's view of them.
pub(super) struct Counts {
    /// `unfinished`, `foreign`, `all_done` (the offsets above).
    bytes: SharedBytes,
    pub(super) ledger: Ledger,
    /// Serialises this process's changes of its `HELD` count with the look at it that decides
    /// whether a `task_done` is its own or foreign (threads of one process share the count,
    /// and the ledger's changes of a kind not inherited are not atomic as a whole).
    held: HeldLock,
    _region: SharedRegion,
}

/// A process-local lock that a fork cannot leave locked for ever: its word holds the fork
/// generation + 1 of the process whose thread holds it (0: free), so a child, whose other
/// threads are gone, takes over a lock copied from its parent. Held for a few atomic operations
/// (and, once per process, the ledger's registration); waiters spin briefly, then yield.
pub(super) struct HeldLock(AtomicU64);

struct HeldGuard<'a>(&'a AtomicU64);

impl HeldLock {
    fn lock(&self) -> HeldGuard<'_> {
        let mine = fork_generation() + 1;
        let mut spins = 0u32;
        loop {
            let seen = self.0.load(Relaxed);
            // Free, or held by a thread of the parent this process was forked from (it does
            // not exist here). Acquire: pairs with the Release of the last unlock.
            if seen != mine
                && self
                    .0
                    .compare_exchange(seen, mine, Acquire, Relaxed)
                    .is_ok()
            {
                return HeldGuard(&self.0);
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire of the next lock.
        self.0.store(0, Release);
    }
}

impl Counts {
    pub(super) fn new() -> Result<Counts, QueueError> {
        let region = SharedRegion::new(STATE_LEN)?;
        let View::Bytes(bytes) = region.claim(Part::Bytes {
            offset: 0,
            len: STATE_LEN,
        })?
        else {
            unreachable!("a bytes part gives a bytes view")
        };
        // Kind HELD, not inherited by fork.
        let ledger = Ledger::new(1, 0, DEFAULT_MAX_PROCESSES)?;
        Ok(Counts {
            bytes,
            ledger,
            held: HeldLock(AtomicU64::new(0)),
            _region: region,
        })
    }

    pub(super) fn unfinished(&self) -> &AtomicU64 {
        self.bytes.u64_at(UNFINISHED)
    }

    pub(super) fn foreign(&self) -> &AtomicU64 {
        self.bytes.u64_at(FOREIGN)
    }

    pub(super) fn all_done(&self) -> &WaitWord {
        &self.bytes.atomics::<WaitWord>(ALL_DONE, 1)[0]
    }

    /// The items counted lost (type docs: `E = L − F`, not below 0).
    pub(super) fn lost(&self) -> u64 {
        let foreign = self.foreign().load(Relaxed);
        self.ledger.lost(HELD).saturating_sub(foreign)
    }

    /// Takes one from `unfinished` unless it is at most `floor` (then `TooManyCalls`), and wakes
    /// the joiners if it reached the lost count. A CAS loop, capped at [`MAX_ATTEMPTS`].
    pub(super) fn finish_one(&self, floor: impl Fn() -> u64) -> Result<(), TaskDoneError> {
        let unfinished = self.unfinished();
        let mut seen = unfinished.load(Relaxed);
        for _ in 0..MAX_ATTEMPTS {
            if seen <= floor() {
                return Err(TaskDoneError::TooManyCalls);
            }
            // Release: pairs with the Acquire load in `join`; the work done on the item comes
            // before the joiner's return (RMWs continue the release sequence).
            match unfinished.compare_exchange_weak(seen, seen - 1, Release, Relaxed) {
                Ok(_) => {
                    if seen - 1 <= self.lost() {
                        notify_all(self.all_done());
                    }
                    return Ok(());
                }
                Err(now) => seen = now,
            }
        }
        Err(TaskDoneError::Corrupt)
    }

    /// This process took an item (inside the ring claim of its get).
    pub(super) fn took(&self) {
        let _held = self.held.lock();
        self.ledger.add(HELD, 1);
    }

    /// `task_done`: one of this process's items if it holds any, else a foreign one.
    pub(super) fn task_done(&self) -> Result<(), TaskDoneError> {
        let own = {
            let _held = self.held.lock();
            let own = self.ledger.held(HELD) > 0;
            // Before `unfinished` (type docs): a death in between leaves the item counted
            // neither held nor done, so a loss may go unreported but a live item is never
            // written off.
            if own {
                self.ledger.sub(HELD, 1);
            } else {
                self.foreign().fetch_add(1, Relaxed);
            }
            own
        };
        let done = self.finish_one(|| self.lost());
        if done.is_err() {
            // Nothing was done: undo.
            if own {
                self.took();
            } else {
                // One RMW, no loop on a shared word (it wraps only if a broken process wrote
                // it: then `lost` saturates).
                self.foreign().fetch_sub(1, Relaxed);
            }
        }
        done
    }

    /// A put that failed after counting its item: takes it back.
    pub(super) fn unput(&self) {
        let _ = self.finish_one(|| 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_copied_by_fork_is_taken_over() {
        let lock = HeldLock(AtomicU64::new(0));
        // As a parent's thread would have left it: held under another generation.
        lock.0.store(fork_generation() + 7, Relaxed);
        drop(lock.lock());
        assert_eq!(lock.0.load(Relaxed), 0);
    }
}
