//! [`Gate`]: how a driver (the measuring thread or process) starts each batch of work in its
//! helpers, and tells them to stop.

use std::sync::atomic::{AtomicU32, Ordering::*};

use host_runtime::sys::futex::{futex_wait, futex_wake};
use host_runtime::wait::{Backoff, Policy};

/// An epoch counter helpers wait on: [`open`](Gate::open) starts one batch, [`stop`](Gate::stop)
/// ends them all.
///
/// Waiting spins and yields (a [`Backoff`]: the common spin, then 1,000 yields) and then sleeps
/// on a shared futex, so helpers are awake between the batches of a measurement but cost
/// nothing between benchmarks. It works between threads (e.g. in an `Arc`) and between
/// processes (in a [`SharedMem`](crate::shm)).
///
/// # Examples
///
/// ```
/// use benches::gate::Gate;
///
/// let gate = Gate::new();
/// let mut seen = gate.epoch();
/// std::thread::scope(|s| {
///     s.spawn(|| gate.open());
///     assert!(gate.wait(&mut seen)); // one batch
/// });
/// gate.stop();
/// assert!(!gate.wait(&mut seen));
/// ```
#[derive(Debug, Default)]
#[repr(C)]
pub struct Gate {
    epoch: AtomicU32,
    stop: AtomicU32,
}

// The one promise host-runtime needs to lay a `Gate` over shared memory.
#[allow(unsafe_code)]
// SAFETY: `#[repr(C)]` of two `AtomicU32`s (8 bytes, no padding, aligned to 4): valid for every
// bit pattern, changed only through atomic operations, no pointer.
unsafe impl host_runtime::shared::region::AtomicsOnly for Gate {}

/// How a waiting helper backs off before it sleeps on the futex: the common spin, then 1,000
/// yields (about a millisecond when nothing else runs).
const GATE: Policy = Policy {
    yields: 1000,
    ..Policy::SPIN_THEN_YIELD
};

impl Gate {
    /// A gate at epoch 0.
    pub const fn new() -> Self {
        Self {
            epoch: AtomicU32::new(0),
            stop: AtomicU32::new(0),
        }
    }

    /// The current epoch, to pass to the first [`wait`](Self::wait).
    pub fn epoch(&self) -> u32 {
        // Acquire: pairs with the Release increment in `open()`.
        self.epoch.load(Acquire)
    }

    /// Starts one batch: every helper waiting in [`wait`](Self::wait) returns `true` once.
    pub fn open(&self) {
        // Release: pairs with the Acquire loads in `wait()`; what the driver wrote before
        // (e.g. a batch size) is visible to the helpers it starts.
        self.epoch.fetch_add(1, Release);
        let _ = futex_wake(&self.epoch, u32::MAX);
    }

    /// Tells every helper to finish: [`wait`](Self::wait) returns `false` from now on.
    pub fn stop(&self) {
        // Release: pairs with the Acquire load of `stop` in `wait()`.
        self.stop.store(1, Release);
        self.open();
    }

    /// Waits until the epoch moves past `*seen` (and records the new one): `true` to run a
    /// batch, `false` once [`stop`](Self::stop) was called.
    pub fn wait(&self, seen: &mut u32) -> bool {
        let mut backoff = Backoff::new(GATE);
        loop {
            // The epoch first, then `stop`: `stop()` sets `stop` before it moves the epoch, so
            // an epoch moved by a stop comes with `stop` visible (the other order took a stop
            // landing between the two loads for one more batch: a helper then sent a batch
            // nobody received, and blocked in its sends for ever).
            // Acquire: pairs with the Release increment in `open()`.
            let now = self.epoch.load(Acquire);
            // Acquire: pairs with the Release store in `stop()`.
            if self.stop.load(Acquire) != 0 {
                return false;
            }
            if now != *seen {
                *seen = seen.wrapping_add(1);
                return true;
            }
            if !backoff.is_completed() {
                backoff.snooze();
            } else {
                // Sleeps only while the epoch still is `now`; any outcome means: look again.
                let _ = futex_wait(&self.epoch, now, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `stop()` while a helper is looking must never read as one more batch: the stop lands at
    /// random points of the waiter's loop, between its two loads too (a helper that took it
    /// for a batch ran a batch nobody received, and blocked in its sends for ever).
    #[test]
    fn a_stop_is_never_taken_for_a_batch() {
        const ROUNDS: u32 = 20_000;
        let gates: Vec<Gate> = (0..ROUNDS).map(|_| Gate::new()).collect();
        // The gate the waiter is at (from 1), and the stops it took for a batch.
        let at = AtomicU32::new(0);
        let batches = AtomicU32::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                for (i, gate) in (1..).zip(&gates) {
                    at.store(i, Release);
                    let mut seen = 0;
                    if gate.wait(&mut seen) {
                        batches.fetch_add(1, Relaxed);
                    }
                }
            });
            for (i, gate) in (1..).zip(&gates) {
                // Stop a gate only once the waiter is at it; it moves on as soon as the
                // previous one stopped, whatever `wait` returned.
                while at.load(Acquire) < i {
                    std::hint::spin_loop();
                }
                gate.stop();
            }
        });
        assert_eq!(batches.load(Relaxed), 0, "stops taken for a batch");
    }
}
