//! Waiting push and pop on an ipc-core [`ByteQueue`]:
//!
//! - [`push`], [`pop`]: blocking, with the queue's [`WaitWord`]s and shared
//!   futexes and the policy of host-runtime's queue (try, a short spin, a few yields, then
//!   sleep). This is
//!   what a host does with ipc-core's wait support; host-runtime's `RawQueue` adds its encoding,
//!   size classes and deadlines on top of the same loop.
//! - [`spin_push`], [`spin_pop`]: non-blocking `try_push`/`try_pop` retried with the common
//!   [`Backoff`] (spin, then yield); they never sleep in the kernel.

use std::cell::Cell;
use std::hint::spin_loop;
use std::time::{Duration, Instant};

use crate::backoff::Backoff;

use host_runtime::sys::futex::{futex_wait, futex_wake};
use ipc_core::{ByteQueue, PopError, PushError, WaitWord};

/// Spin rounds double from 1 `spin_loop` up to this many between attempts (127 in all).
const MAX_SPINS_PER_ROUND: u32 = 64;
/// Spinning goes on for this long on the clock after the doubling rounds (a `pause` takes 10
/// to 140 cycles depending on the CPU).
const SPIN_TIME: Duration = Duration::from_micros(2);
/// `sched_yield` rounds after spinning, before sleeping.
const YIELD_ROUNDS: u32 = 16;
/// After this thread woke a sleeper, its next wait spins until this long after the wake-up,
/// as host-runtime's does (`WAKE_LATENCY` in `queue/block.rs`): the woken peer takes about
/// that long to answer, and sleeping meanwhile would make it wake us in turn.
const WAKE_LATENCY: Duration = Duration::from_micros(50);

thread_local! {
    /// When this thread last woke a sleeper.
    static WOKE_AT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `attempt` until it returns `Some`: tries, spins (doubling rounds, then up to
/// [`SPIN_TIME`], or [`WAKE_LATENCY`] after a wake-up this thread made), yields
/// [`YIELD_ROUNDS`] times, then sleeps on `word` under the [`WaitWord`] protocol. The same policy as host-runtime's queue (`queue/block.rs`), so the
/// difference between this and `RawQueue` is what `RawQueue` adds, not how it waits.
fn block_on<R>(word: &WaitWord, mut attempt: impl FnMut() -> Option<R>) -> R {
    if let Some(r) = attempt() {
        return r;
    }
    let mut spins = 1;
    let mut spin_until = None;
    loop {
        for _ in 0..spins {
            spin_loop();
        }
        if let Some(r) = attempt() {
            return r;
        }
        if spins < MAX_SPINS_PER_ROUND {
            spins *= 2;
        } else if Instant::now()
            >= *spin_until.get_or_insert_with(|| {
                let end = Instant::now() + SPIN_TIME;
                WOKE_AT
                    .take()
                    .map_or(end, |woke| end.max(woke + WAKE_LATENCY))
            })
        {
            break;
        }
    }
    for _ in 0..YIELD_ROUNDS {
        std::thread::yield_now();
        if let Some(r) = attempt() {
            return r;
        }
    }
    loop {
        let seen = word.prepare_wait();
        if let Some(r) = attempt() {
            word.finish_wait();
            return r;
        }
        // Woken, EAGAIN (seq moved) or EINTR: look again.
        let _ = futex_wait(word.seq(), seen, None);
        word.finish_wait();
    }
}

/// Wakes one sleeper on `word` if anyone waits (no system call otherwise).
#[inline]
fn notify(word: &WaitWord) {
    if word.notify() && futex_wake(word.seq(), 1).is_ok_and(|n| n > 0) {
        WOKE_AT.set(Some(Instant::now()));
    }
}

/// Pushes `message`, sleeping while the queue is full; wakes a sleeping consumer.
///
/// # Panics
///
/// On any error but `Full` (a message too long, corrupt memory).
pub fn push(q: &ByteQueue<'_>, message: &[u8]) {
    block_on(q.not_full(), || match q.try_push(message) {
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
    let n = block_on(q.not_empty(), || match q.try_pop(buf) {
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
    let mut backoff = Backoff::new();
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
    let mut backoff = Backoff::new();
    loop {
        match q.try_pop(buf) {
            Ok(n) => return n,
            Err(PopError::Empty) => backoff.snooze(),
            Err(e) => panic!("pop: {e}"),
        }
    }
}
