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
    /// One spin per call (127 calls) instead of `2^step`: see [`flat`](Backoff::flat).
    flat: bool,
}

impl Backoff {
    /// Calls that spin before the first yield.
    pub const SPIN_STEPS: u32 = 7;

    /// A fresh backoff, in its spinning phase.
    pub const fn new() -> Self {
        Self {
            step: 0,
            flat: false,
        }
    }

    /// A backoff that spins once per call for as many spins as [`new`](Backoff::new)'s spin
    /// phase (127), then yields on every call: it notices a change within one `pause`, where
    /// the growing spin may look again only after 64 of them (about 3 µs). For the floors of
    /// the round-trip group, which must be the least the hardware does.
    pub const fn flat() -> Self {
        Self {
            step: 0,
            flat: true,
        }
    }

    /// Waits a little: a growing spin, then a yield.
    #[inline]
    pub fn snooze(&mut self) {
        if self.flat && self.step < (1 << Self::SPIN_STEPS) - 1 {
            spin_loop();
            self.step += 1;
        } else if !self.flat && self.step < Self::SPIN_STEPS {
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
        if self.flat {
            self.step >= (1 << Self::SPIN_STEPS) - 1
        } else {
            self.step >= Self::SPIN_STEPS
        }
    }

    /// Back to the spinning phase, after progress.
    #[inline]
    pub fn reset(&mut self) {
        self.step = 0;
    }
}
