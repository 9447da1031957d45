//! Waiting push and pop on an ipc-core [`ByteQueue`]:
//!
//! - [`push`], [`pop`]: blocking, with the queue's [`WaitWord`](ipc_core::WaitWord)s and
//!   shared futexes, through host-runtime's own blocking loop ([`wait_on`], [`notify`]: try,
//!   back off with [`Policy::QUEUE`](host_runtime::wait::Policy::QUEUE), then sleep). This is
//!   what a host does with ipc-core's wait support; host-runtime's `RawQueue` adds its
//!   encoding, size classes, deadlines and wait ledger on top of the same loop, so the
//!   difference between the two is what `RawQueue` adds, not how it waits.
//! - [`spin_push`], [`spin_pop`]: non-blocking `try_push`/`try_pop` retried with the common
//!   [`Backoff`] ([`Policy::SPIN_THEN_YIELD`]: spin, then yield); they never sleep in the
//!   kernel.

use host_runtime::wait::{notify, wait_on, Backoff, Policy};
use ipc_core::{ByteQueue, PopError, PushError};

/// Pushes `message`, sleeping while the queue is full; wakes a sleeping consumer.
///
/// # Panics
///
/// On any error but `Full` (a message too long, corrupt memory).
pub fn push(q: &ByteQueue<'_>, message: &[u8]) {
    wait_on(q.not_full(), || match q.try_push(message) {
        Ok(()) => Some(()),
        Err(PushError::Full) => None,
        Err(e) => panic!("push: {e}"),
    });
    notify(q.not_empty());
}

/// Pops the front message into `buf`, sleeping while the queue is empty; wakes a sleeping
/// producer. Returns the message's length.
///
/// # Panics
///
/// On any error but `Empty`.
pub fn pop(q: &ByteQueue<'_>, buf: &mut [u8]) -> usize {
    let n = wait_on(q.not_empty(), || match q.try_pop(buf) {
        Ok(n) => Some(n),
        Err(PopError::Empty) => None,
        Err(e) => panic!("pop: {e}"),
    });
    notify(q.not_full());
    n
}

/// Retries `try_push(message)` with [`Backoff`] until it succeeds.
///
/// # Panics
///
/// On any error but `Full`.
#[inline]
pub fn spin_push(q: &ByteQueue<'_>, message: &[u8]) {
    let mut backoff = Backoff::new(Policy::SPIN_THEN_YIELD);
    loop {
        match q.try_push(message) {
            Ok(()) => return,
            Err(PushError::Full) => backoff.snooze(),
            Err(e) => panic!("push: {e}"),
        }
    }
}

/// Retries `try_pop(buf)` with [`Backoff`] until it succeeds; returns the message's length.
///
/// # Panics
///
/// On any error but `Empty`.
#[inline]
pub fn spin_pop(q: &ByteQueue<'_>, buf: &mut [u8]) -> usize {
    let mut backoff = Backoff::new(Policy::SPIN_THEN_YIELD);
    loop {
        match q.try_pop(buf) {
            Ok(n) => return n,
            Err(PopError::Empty) => backoff.snooze(),
            Err(e) => panic!("pop: {e}"),
        }
    }
}
