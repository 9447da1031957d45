//! [`Backoff`]: how every peer of every bench waits for the other side.

use std::hint::spin_loop;
use std::thread::yield_now;

/// Spins `2^step` times per call for the first [`SPIN_STEPS`](Backoff::SPIN_STEPS) calls (127
/// pause instructions in all, a few microseconds; the spin budget of host-runtime's blocking
/// queue), then yields the CPU on every call.
///
/// On a 2-core machine two spinning parties on one core would otherwise burn a whole time slice
/// each time; the yield phase keeps a descheduled peer from stalling the other for milliseconds.
/// The fast path (the other side answers within a few hundred nanoseconds) never reaches it.
///
/// # Examples
///
/// ```
/// use benches::backoff::Backoff;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let ready = AtomicBool::new(true);
/// let mut backoff = Backoff::new();
/// while !ready.load(Ordering::Acquire) {
///     backoff.snooze();
/// }
/// ```
#[derive(Debug, Default)]
pub struct Backoff {
    step: u32,
}

impl Backoff {
    /// Calls that spin before the first yield.
    pub const SPIN_STEPS: u32 = 7;

    /// A fresh backoff, in its spinning phase.
    pub const fn new() -> Self {
        Self { step: 0 }
    }

    /// Waits a little: a growing spin, then a yield.
    #[inline]
    pub fn snooze(&mut self) {
        if self.step < Self::SPIN_STEPS {
            for _ in 0..1u32 << self.step {
                spin_loop();
            }
            self.step += 1;
        } else {
            yield_now();
        }
    }

    /// Whether the spinning phase is over.
    pub fn is_yielding(&self) -> bool {
        self.step >= Self::SPIN_STEPS
    }

    /// Back to the spinning phase, after progress.
    #[inline]
    pub fn reset(&mut self) {
        self.step = 0;
    }
}
