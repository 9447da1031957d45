//! [`BarrierWord`]: the state machine of a barrier (generation + count), which a host sleeps
//! on (futex) and breaks when a party dies.
//!
//! Layout (12 bytes, `#[repr(C)]`, all-zero = generation 0, nobody waiting, not broken):
//!
//! ```text
//! state     u32  generation (16) | broken (1) | count (15)
//! seq       u32  moves on every trip, break and reset: the futex word waiters sleep on
//! outcomes  u32  bit (generation mod 32): that generation ended broken (a reset), not tripped
//! ```
//!
//! A party *arrives* with one CAS (`count + 1` in the current generation); the last one (count
//! reaches the party count, which the caller gives and never reads from shared memory) *trips*
//! the barrier: it records the generation's outcome, then CASes the state to the next
//! generation with count 0, then moves `seq`. A waiter *polls* its generation: a later
//! generation means it ended (tripped, or reset if its outcome bit says so); the broken flag in
//! its own generation means broken.
//!
//! **Hostile memory.** Any bits are valid; a count at or above the party count breaks the
//! barrier; CAS retries are capped (`4 × parties + 64` for an arrival, `2^15 + 64` for a break). A process that writes the words can
//! make waits end early (passed or broken) or last until the host's timeout, nothing else.

use core::fmt;

use crate::sync::{AtomicU32, Ordering::*};

const BROKEN: u32 = 1 << 15;
const COUNT_MASK: u32 = BROKEN - 1;
const GEN_SHIFT: u32 = 16;

/// The most parties a [`BarrierWord`] counts.
pub const MAX_BARRIER_PARTIES: u32 = COUNT_MASK;

/// Why a party could not pass: the barrier is broken (Python's `BrokenBarrierError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BarrierBroken;

impl fmt::Display for BarrierBroken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken")
    }
}

impl core::error::Error for BarrierBroken {}

/// A party's arrival: its generation and its index (`0..parties`, in arrival order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    generation: u32,
    index: u32,
    /// The state word after this arrival (the last party trips from exactly it).
    word: u32,
    last: bool,
}

impl Arrival {
    /// This party's index: `0..parties`, the last to arrive gets `parties - 1`.
    pub const fn index(&self) -> u32 {
        self.index
    }

    /// Whether this party arrived last: it runs the action (if any), then
    /// [`BarrierWord::trip`]s; the others [`poll`](BarrierWord::poll).
    pub const fn is_last(&self) -> bool {
        self.last
    }
}

/// What a waiting party's generation has come to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Poll {
    /// Still waiting for the others.
    Waiting,
    /// Tripped: every party arrived.
    Passed,
    /// Broken (aborted, reset, broken by a host: a dead party, a timeout).
    Broken,
}

/// The state of a barrier: see the module docs (`ipc_core`'s `src/barrier.rs`) and
/// `LAYOUT.md`.
///
/// # Examples
///
/// ```
/// use ipc_core::{BarrierWord, Poll};
///
/// let b = BarrierWord::new();
/// let first = b.arrive(2).unwrap();
/// assert!(!first.is_last());
/// assert_eq!(b.poll(&first), Poll::Waiting);
/// let second = b.arrive(2).unwrap();
/// assert!(second.is_last());
/// assert!(b.trip(&second)); // the host wakes the sleepers on `b.seq()` now
/// assert_eq!(b.poll(&first), Poll::Passed);
/// ```
#[derive(Debug)]
#[repr(C)]
pub struct BarrierWord {
    state: AtomicU32,
    seq: AtomicU32,
    outcomes: AtomicU32,
}

#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<BarrierWord>() == 12);

impl Default for BarrierWord {
    fn default() -> Self {
        Self::new()
    }
}

const fn generation(word: u32) -> u32 {
    word >> GEN_SHIFT
}

impl BarrierWord {
    crate::sync::const_fn! {
        /// A barrier at generation 0, nobody waiting, not broken.
        pub fn new() -> Self {
            Self { state: AtomicU32::new(0), seq: AtomicU32::new(0), outcomes: AtomicU32::new(0) }
        }
    }

    /// The 32-bit word waiters sleep on: read it (Acquire) *before* [`poll`](Self::poll), and
    /// sleep only while it still holds what was read.
    pub fn seq(&self) -> &AtomicU32 {
        &self.seq
    }

    /// Arrives at the barrier of `parties` (the caller's number, `1..=MAX_BARRIER_PARTIES`).
    ///
    /// # Errors
    ///
    /// [`BarrierBroken`] if the barrier is broken, if `parties` is out of range, if the count
    /// in the word is impossible (then the barrier is broken for all), or if the word kept
    /// changing.
    pub fn arrive(&self, parties: u32) -> Result<Arrival, BarrierBroken> {
        if parties == 0 || parties > MAX_BARRIER_PARTIES {
            return Err(BarrierBroken);
        }
        let mut seen = self.state.load(Acquire);
        for _ in 0..(4 * parties + 64) {
            if seen & BROKEN != 0 {
                return Err(BarrierBroken);
            }
            let count = seen & COUNT_MASK;
            if count >= parties {
                self.break_generation(generation(seen));
                return Err(BarrierBroken);
            }
            // AcqRel: the arrivals before ours (and their parties' work) are visible to the
            // last party's action; ours is visible to it.
            match self.state.compare_exchange(seen, seen + 1, AcqRel, Acquire) {
                Ok(_) => {
                    return Ok(Arrival {
                        generation: generation(seen),
                        index: count,
                        word: seen + 1,
                        last: count + 1 == parties,
                    })
                }
                Err(now) => seen = now,
            }
        }
        Err(BarrierBroken)
    }

    /// Ends the generation of the last party's `arrival`: every party passes. Returns `false`
    /// (nothing done) if the barrier was broken or reset since the arrival. Then the host wakes
    /// every sleeper on [`seq`](Self::seq).
    pub fn trip(&self, arrival: &Arrival) -> bool {
        self.end(arrival.word, false)
    }

    /// Ends the generation of `word` (the exact state seen) with the outcome `broken`.
    fn end(&self, word: u32, broken: bool) -> bool {
        let generation = generation(word);
        let bit = 1u32 << (generation % 32);
        if broken {
            self.outcomes.fetch_or(bit, Relaxed);
        } else {
            self.outcomes.fetch_and(!bit, Relaxed);
        }
        let next = (generation.wrapping_add(1) & 0xffff) << GEN_SHIFT;
        // Release: pairs with `poll`'s Acquire; the outcome bit (and, for a trip, the action's
        // effects) are visible to the waiters that see the new generation.
        if self
            .state
            .compare_exchange(word, next, Release, Relaxed)
            .is_err()
        {
            return false;
        }
        self.bump();
        true
    }

    fn bump(&self) {
        // Release: pairs with the waiter's Acquire load of `seq` before its `poll`.
        self.seq.fetch_add(1, Release);
    }

    /// What the generation of `arrival` has come to.
    pub fn poll(&self, arrival: &Arrival) -> Poll {
        // Acquire: pairs with `end`'s Release (the outcome bit) and `break_generation`'s.
        let now = self.state.load(Acquire);
        if generation(now) != arrival.generation {
            let bit = 1u32 << (arrival.generation % 32);
            return if self.outcomes.load(Relaxed) & bit != 0 {
                Poll::Broken
            } else {
                Poll::Passed
            };
        }
        if now & BROKEN != 0 {
            Poll::Broken
        } else {
            Poll::Waiting
        }
    }

    /// Breaks the generation of `arrival` if it is still current (a host: a party died, a
    /// waiter's timeout ran out, the action panicked). Then the host wakes every sleeper.
    pub fn break_arrival(&self, arrival: &Arrival) {
        self.break_generation(arrival.generation);
    }

    fn break_generation(&self, generation_seen: u32) {
        let mut seen = self.state.load(Relaxed);
        // Capped: each failure is another party's arrival (or a scribbler).
        for _ in 0..(COUNT_MASK + 64) {
            if generation(seen) != generation_seen || seen & BROKEN != 0 {
                break;
            }
            // Release: pairs with `poll`'s Acquire.
            match self
                .state
                .compare_exchange(seen, seen | BROKEN, Release, Relaxed)
            {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
        self.bump();
    }

    /// Python's `abort()`: breaks the barrier until [`reset`](Self::reset). Then the host wakes
    /// every sleeper.
    pub fn abort(&self) {
        self.state.fetch_or(BROKEN, Release);
        self.bump();
    }

    /// Python's `reset()`: ends the current generation as broken (its waiters get
    /// [`BarrierBroken`]) and starts a fresh one. Returns `false` if the word kept changing.
    /// Then the host wakes every sleeper.
    pub fn reset(&self) -> bool {
        for _ in 0..64 {
            let seen = self.state.load(Acquire);
            if seen & (BROKEN | COUNT_MASK) == 0 {
                return true;
            }
            if self.end(seen, true) {
                return true;
            }
        }
        false
    }

    /// Parties waiting now (a snapshot, at most `parties`).
    pub fn n_waiting(&self, parties: u32) -> u32 {
        (self.state.load(Relaxed) & COUNT_MASK).min(parties)
    }

    /// Whether the barrier is broken.
    pub fn is_broken(&self) -> bool {
        self.state.load(Acquire) & BROKEN != 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn rounds_indices_and_outcomes() {
        let b = BarrierWord::new();
        for _ in 0..70 {
            let a = b.arrive(3).unwrap();
            let c = b.arrive(3).unwrap();
            assert_eq!((a.index(), c.index()), (0, 1));
            let last = b.arrive(3).unwrap();
            assert!(last.is_last() && !a.is_last());
            assert_eq!(b.n_waiting(3), 3);
            assert_eq!(b.poll(&a), Poll::Waiting);
            assert!(b.trip(&last));
            assert_eq!((b.poll(&a), b.poll(&c)), (Poll::Passed, Poll::Passed));
            assert_eq!(b.n_waiting(3), 0);
        }
    }

    #[test]
    fn abort_reset_and_break() {
        let b = BarrierWord::new();
        let a = b.arrive(2).unwrap();
        b.abort();
        assert_eq!(b.poll(&a), Poll::Broken);
        assert_eq!(b.arrive(2), Err(BarrierBroken));
        assert!(b.reset());
        assert!(!b.is_broken());
        assert_eq!(b.poll(&a), Poll::Broken, "still broken after the reset");
        // A reset with a waiter: it is broken out; the next round works.
        let w = b.arrive(2).unwrap();
        assert!(b.reset());
        assert_eq!(b.poll(&w), Poll::Broken);
        let x = b.arrive(2).unwrap();
        let y = b.arrive(2).unwrap();
        // Broken between the last arrival and its trip: the trip does nothing.
        b.break_arrival(&x);
        assert!(!b.trip(&y));
        assert_eq!(b.poll(&x), Poll::Broken);
    }

    #[test]
    fn any_bits_are_handled() {
        for word in [u32::MAX, COUNT_MASK, 5, BROKEN - 1, 0xffff_0000] {
            let b = BarrierWord::new();
            b.state.store(word, Relaxed);
            b.outcomes.store(u32::MAX, Relaxed);
            let r = b.arrive(4);
            if let Ok(a) = r {
                let _ = (b.poll(&a), b.trip(&a));
            }
            let _ = (b.reset(), b.n_waiting(4), b.is_broken());
        }
        // An impossible count breaks the barrier for everyone.
        let b = BarrierWord::new();
        b.state.store(9, Relaxed);
        assert_eq!(b.arrive(4), Err(BarrierBroken));
        assert!(b.is_broken());
        assert_eq!(b.arrive(0), Err(BarrierBroken));
    }
}
