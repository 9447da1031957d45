//! How a queue's calls wait, and what waiters outside the queue use: the wait ledger (each
//! participant's count of sleepers per wait word, so a repair can take a dead one's out), the
//! [`Hooks`] a channel adds to a blocking call, and the crate-private helpers for the waiters
//! of channels and of [`wait`](crate::wait()), which sleep on the ring's words themselves.

use std::sync::atomic::AtomicU32;

use ipc_core::WaitWord;

use super::repair::Waiting;
use super::RawQueue;
use crate::wait::{block_on_marked, notify, notify_all, Deadline, Wait};

/// Wait word numbers, for the wait ledger: the ring's two words, then each class's `freed`.
pub(super) const NOT_EMPTY: usize = 0;
pub(super) const NOT_FULL: usize = 1;
pub(super) const FREED: usize = 2;

/// What a blocking call of a channel adds to the queue's (crate-private; see
/// `crate::channel`): a way to stop waiting (the other side is gone), a periodic check while
/// blocked, and a hook inside a put's ring claim. The queues themselves use [`NoHooks`].
pub(crate) trait Hooks {
    /// Whether [`in_put_claim`](Self::in_put_claim) must run (a put takes the claim-with-closure
    /// path then, instead of the fused push-and-notify).
    const IN_PUT_CLAIM: bool = false;
    /// Asked after each attempt that found the ring empty (a get) or full, or no free chunk (a
    /// put): `true` ends the call with `Stopped`.
    fn stopped(&self) -> bool {
        false
    }
    /// Runs with the call's own stall check (every `STALL_CHECK` while it sleeps).
    fn on_stall(&self) {}
    /// Runs inside the ring claim of a put, after the message (or descriptor) was written.
    fn in_put_claim(&self) {}
}

/// The queues' hooks: none.
pub(crate) struct NoHooks;

impl Hooks for NoHooks {}

impl RawQueue {
    /// The ring's wait words, `(not_empty, not_full)`: for a channel's waiters that sleep on
    /// them with other words (`futex_waitv`).
    pub(crate) fn wait_words(&self) -> (&WaitWord, &WaitWord) {
        let ring = self.ring_view();
        (ring.not_empty(), ring.not_full())
    }

    /// Waits until the ring holds a message (or one is being put) or `hooks.stopped()`, at
    /// most until `deadline`, without taking it: a channel's `poll`. Returns whether it did.
    pub(crate) fn wait_not_empty<H: Hooks>(&self, deadline: Deadline, hooks: &H) -> bool {
        let (ring, me) = self.ring_and_id();
        block_on_marked(
            self.wait(ring.queue().not_empty(), me, NOT_EMPTY),
            deadline,
            || (!ring.queue().is_empty() || hooks.stopped()).then_some(()),
            || ring.queue().mark_empty_wait(),
            || {
                self.repair_if_stuck(Waiting::Message);
                hooks.on_stall();
            },
        )
        .is_some()
    }

    /// `ByteQueue::mark_empty_wait`: what a waiter on [`wait_words`](Self::wait_words)`.0`
    /// (a channel's, or [`wait`](crate::wait()) after [`get_wait`](Self::get_wait)'s
    /// `prepare`) must call after `prepare_wait` and a look that found the ring empty, before it sleeps;
    /// a put's fence-free wake-up sees only marked waiters. `false`: the mark failed (a put is
    /// under way where it looked): sleep briefly only.
    pub(crate) fn mark_empty_wait(&self) -> bool {
        self.ring_view().mark_empty_wait()
    }

    /// Wakes every call blocked on this queue, to look again (a channel's other side is
    /// gone).
    pub(crate) fn wake_all(&self) {
        let ring = self.ring_view();
        notify_all(ring.not_empty());
        notify_all(ring.not_full());
        for class in self.inner.classes.iter() {
            notify_all(class.freed());
        }
    }

    /// The ledger counter of participant `id` for wait word number `slot` (`NOT_EMPTY`,
    /// `NOT_FULL`, `FREED + class`); `None` for an anonymous process.
    pub(super) fn ledger(&self, id: u16, slot: usize) -> Option<&AtomicU32> {
        let row = usize::from(id).checked_sub(1)?;
        let at = 4 * (row * self.inner.wait_words + slot);
        Some(&self.inner.ledger.atomics::<AtomicU32>(at, 1)[0])
    }

    /// How participant `id` sleeps on `word` (wait word number `slot`).
    pub(super) fn wait<'q>(&'q self, word: &'q WaitWord, id: u16, slot: usize) -> Wait<'q> {
        Wait {
            word,
            ledger: self.ledger(id, slot),
        }
    }

    /// [`notify`](crate::wait::notify), and if it woke nobody although the word counted
    /// sleepers, a look for dead ones (at most every 200 ms per process): a process killed
    /// asleep would otherwise cost every later call a wake system call until some repair.
    #[inline]
    pub(super) fn notify(&self, word: &WaitWord) {
        if notify(word) {
            self.look_for_dead();
        }
    }

    /// For [`wait`](crate::wait()): how this process sleeps until a get may succeed (the ring's
    /// `not_empty` word and this process's ledger counter for it), as [`get_with`] does.
    ///
    /// [`get_with`]: Self::get_with
    pub(crate) fn get_wait(&self) -> Wait<'_> {
        let (_, me) = self.ring_and_id();
        self.wait(self.ring_view().not_empty(), me, NOT_EMPTY)
    }

    /// For [`wait`](crate::wait()): its stall check, as a blocked get's.
    pub(crate) fn get_stalled(&self) {
        self.repair_if_stuck(Waiting::Message);
    }
}
