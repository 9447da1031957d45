//! [`EventWord`]: Python's `Event` as one 32-bit word a host sleeps on.
//!
//! `word = generation (31) | set (1)`. [`set`](EventWord::set) moves the generation when it sets
//! the flag, so a waiter that began before a `set` returns even if a `clear` came before it
//! looked again. Any bits are valid; a process that writes the word can make waits end early or
//! late (as `set`/`clear` calls would), nothing else.

use crate::sync::{AtomicU32, Ordering::*};

const SET: u32 = 1;

/// A wait begun on an [`EventWord`]: the word when it began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventWait {
    first: u32,
}

/// Python's `Event` state: see the module docs (`ipc_core`'s `src/event.rs`).
///
/// # Examples
///
/// ```
/// use ipc_core::EventWord;
///
/// let e = EventWord::new();
/// let w = e.begin_wait();
/// assert!(e.poll(&w).is_err(), "not set: sleep on the value returned");
/// assert!(e.set(), "it was clear: wake every sleeper");
/// e.clear();
/// assert!(e.poll(&w).is_ok(), "set since the wait began");
/// ```
#[derive(Debug)]
#[repr(C)]
pub struct EventWord {
    word: AtomicU32,
}

impl Default for EventWord {
    fn default() -> Self {
        Self::new()
    }
}

impl EventWord {
    crate::sync::const_fn! {
        /// A clear event.
        pub fn new() -> Self {
            Self { word: AtomicU32::new(0) }
        }
    }

    /// The word to sleep on (futex).
    pub fn futex(&self) -> &AtomicU32 {
        &self.word
    }

    /// Whether the event is set.
    pub fn is_set(&self) -> bool {
        // Acquire: pairs with `set`'s Release; what the setter did before is visible.
        self.word.load(Acquire) & SET != 0
    }

    /// Sets the event. Returns `true` if it was clear: the host wakes every sleeper.
    pub fn set(&self) -> bool {
        let mut seen = self.word.load(Relaxed);
        // Capped: each failure is another `set`/`clear` (or a scribbler); then a plain `fetch_or`.
        for _ in 0..64 {
            if seen & SET != 0 {
                return false;
            }
            let next = (seen.wrapping_add(2) & !SET) | SET;
            // Release: pairs with the Acquire of `is_set` and `poll`.
            match self.word.compare_exchange(seen, next, Release, Relaxed) {
                Ok(_) => return true,
                Err(now) => seen = now,
            }
        }
        self.word.fetch_or(SET, Release) & SET == 0
    }

    /// Clears the event.
    pub fn clear(&self) {
        self.word.fetch_and(!SET, Relaxed);
    }

    /// Begins a wait: remembers the word.
    pub fn begin_wait(&self) -> EventWait {
        EventWait {
            first: self.word.load(Acquire),
        }
    }

    /// `Ok` if the event is set, or was set since `wait` began; else `Err(value)`: sleep while
    /// the word holds `value`.
    pub fn poll(&self, wait: &EventWait) -> Result<(), u32> {
        // Acquire: pairs with `set`'s Release.
        let now = self.word.load(Acquire);
        if now & SET != 0 || now >> 1 != wait.first >> 1 {
            Ok(())
        } else {
            Err(now)
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn set_clear_and_generations() {
        let e = EventWord::new();
        assert!(!e.is_set());
        let w = e.begin_wait();
        assert_eq!(e.poll(&w), Err(0));
        assert!(e.set());
        assert!(!e.set(), "already set: no wake");
        assert!(e.is_set() && e.poll(&w).is_ok());
        e.clear();
        assert!(e.poll(&w).is_ok(), "the set since the wait began counts");
        let later = e.begin_wait();
        assert!(
            e.poll(&later).is_err(),
            "a wait begun after set and clear waits"
        );
        // The generation wraps.
        e.word.store(!SET, Relaxed);
        let w = e.begin_wait();
        assert!(e.set());
        e.clear();
        assert!(e.poll(&w).is_ok());
    }
}
