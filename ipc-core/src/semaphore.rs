//! [`SemaphoreWord`]: a counting semaphore's permits and sleepers, which a host sleeps on.
//!
//! `count` (the futex word: waiters sleep while it is 0) and `sleepers` (waiters registered to
//! sleep, so that a release wakes only when someone may sleep). A waiter registers, then
//! re-checks the count (SeqCst fences on both sides, as in [`crate::WaitWord`]): either the
//! releaser sees the registration and wakes, or the waiter sees the permit and does not sleep.
//! The bound (`max`) is the caller's, never read from the region. Any bits are valid; every CAS
//! loop is capped at [`MAX_LOCK_RETRIES`](crate::MAX_LOCK_RETRIES); a process that writes the
//! words can make acquires fail or succeed, and releases be refused or wake nobody, nothing
//! else. Which process holds permits is the host's to record (a killed holder's permits are given
//! back with [`give_back`](SemaphoreWord::give_back)).

use core::fmt;

use crate::sync::{fence, AtomicU32, Ordering::*};
use crate::MAX_LOCK_RETRIES;

/// Why a release gave nothing back: the count is at the bound (Python's `ValueError:
/// semaphore or lock released too many times`), or the word kept changing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TooManyReleases;

impl fmt::Display for TooManyReleases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore or lock released too many times")
    }
}

impl core::error::Error for TooManyReleases {}

/// A counting semaphore's state: see the module docs (`ipc_core`'s `src/semaphore.rs`).
///
/// # Examples
///
/// ```
/// use ipc_core::SemaphoreWord;
///
/// let s = SemaphoreWord::with_count(1);
/// assert!(s.try_acquire());
/// assert!(!s.try_acquire());
/// assert!(s.prepare_sleep(), "no permit: sleep while the count is 0");
/// assert_eq!(s.release(1), Ok(true), "a sleeper is registered: wake one");
/// s.finish_sleep();
/// assert!(s.release(1).is_err(), "bound 1 reached");
/// ```
#[derive(Debug)]
#[repr(C)]
pub struct SemaphoreWord {
    count: AtomicU32,
    sleepers: AtomicU32,
}

#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<SemaphoreWord>() == 8);

impl Default for SemaphoreWord {
    fn default() -> Self {
        Self::new()
    }
}

impl SemaphoreWord {
    crate::sync::const_fn! {
        /// A semaphore with no permit and no sleeper.
        pub fn new() -> Self {
            Self { count: AtomicU32::new(0), sleepers: AtomicU32::new(0) }
        }
    }

    /// A semaphore with `count` permits (for one being set up: the count is stored plainly).
    #[cfg(not(loom))]
    pub const fn with_count(count: u32) -> Self {
        Self {
            count: AtomicU32::new(count),
            sleepers: AtomicU32::new(0),
        }
    }

    /// A semaphore with `count` permits.
    #[cfg(loom)]
    pub fn with_count(count: u32) -> Self {
        Self {
            count: AtomicU32::new(count),
            sleepers: AtomicU32::new(0),
        }
    }

    /// Sets the count of a semaphore nobody uses yet (a new region).
    pub fn init(&self, count: u32) {
        self.count.store(count, Relaxed);
        self.sleepers.store(0, Relaxed);
    }

    /// The futex word: sleep while it is 0.
    pub fn futex(&self) -> &AtomicU32 {
        &self.count
    }

    /// The permits free now (a snapshot).
    pub fn value(&self) -> u32 {
        self.count.load(Relaxed)
    }

    /// Takes a permit if there is one. `false`: none (or the word kept changing).
    pub fn try_acquire(&self) -> bool {
        let mut seen = self.count.load(Relaxed);
        for _ in 0..MAX_LOCK_RETRIES {
            if seen == 0 {
                return false;
            }
            // Acquire: pairs with `release`'s Release; the releaser's work is visible.
            match self
                .count
                .compare_exchange(seen, seen - 1, Acquire, Relaxed)
            {
                Ok(_) => return true,
                Err(now) => seen = now,
            }
        }
        false
    }

    /// Gives one permit back, up to `max`. `Ok(true)`: a waiter may sleep, the host wakes one.
    ///
    /// # Errors
    ///
    /// [`TooManyReleases`] at the bound (or if the word kept changing), with no change.
    pub fn release(&self, max: u32) -> Result<bool, TooManyReleases> {
        self.give(1, max).and_then(|(given, wake)| {
            if given == 1 {
                Ok(wake)
            } else {
                Err(TooManyReleases)
            }
        })
    }

    /// Gives back up to `n` permits (those of a dead holder), without passing `max`; returns how
    /// many it gave. The host wakes every sleeper after.
    pub fn give_back(&self, n: u32, max: u32) -> u32 {
        self.give(n, max).map_or(0, |(given, _)| given)
    }

    fn give(&self, n: u32, max: u32) -> Result<(u32, bool), TooManyReleases> {
        let mut seen = self.count.load(Relaxed);
        for _ in 0..MAX_LOCK_RETRIES {
            let given = max.saturating_sub(seen).min(n);
            if given == 0 {
                return Err(TooManyReleases);
            }
            // Release: pairs with the Acquire of `try_acquire`.
            match self
                .count
                .compare_exchange(seen, seen + given, Release, Relaxed)
            {
                Ok(_) => {
                    // SeqCst: pairs with the fence in `prepare_sleep`. Either we see its
                    // registration, or its re-check sees our permit.
                    fence(SeqCst);
                    return Ok((given, self.sleepers.load(Relaxed) > 0));
                }
                Err(now) => seen = now,
            }
        }
        Err(TooManyReleases)
    }

    /// Registers the caller as a sleeper and re-checks: `true` if the count is 0, so it may
    /// sleep (on [`futex`](Self::futex), while it is 0). Call
    /// [`finish_sleep`](Self::finish_sleep) after, whatever this returned.
    pub fn prepare_sleep(&self) -> bool {
        self.sleepers.fetch_add(1, Relaxed);
        // SeqCst: pairs with the fence in `give`.
        fence(SeqCst);
        self.count.load(Relaxed) == 0
    }

    /// Unregisters a sleeper registered by [`prepare_sleep`](Self::prepare_sleep).
    pub fn finish_sleep(&self) {
        self.sleepers.fetch_sub(1, Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn counts_bounds_and_give_back() {
        let s = SemaphoreWord::new();
        s.init(2);
        assert!(s.try_acquire() && s.try_acquire() && !s.try_acquire());
        assert_eq!(s.release(2), Ok(false));
        assert_eq!(s.give_back(5, 2), 1, "only up to the bound");
        assert_eq!(s.value(), 2);
        assert_eq!(s.release(2), Err(TooManyReleases));
        assert_eq!(s.give_back(1, 2), 0);
        // Any bits: a count above the bound refuses releases, takes still work.
        s.count.store(u32::MAX, Relaxed);
        assert_eq!(s.release(10), Err(TooManyReleases));
        assert!(s.try_acquire());
    }
}
