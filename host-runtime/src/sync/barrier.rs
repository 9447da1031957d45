//! [`Barrier`]: Python's `multiprocessing.Barrier`, broken (for every waiter) by a party that
//! dies instead of waiting for it for ever.

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_core::{BarrierWord, Poll};

use super::raw::{Kind, NamedError, Shared, Sleeper, DEATH_CHECK};
use super::PROCESSES;
use crate::ledger::{ledger_len, Ledger};
use crate::sys::futex::futex_wake;
use crate::wait::Deadline;

/// Page layout: an `ipc_core::BarrierWord` (generation, count, broken; the futex word; the
/// outcomes) at 0, the ledger of parties at 64 (`crate::ledger`, [`PROCESSES`] entries, one
/// kind: [`PARTY`], 1 from a process's first `wait`, not inherited by fork).
const WORD: usize = 0;
const TABLE: usize = 64;
const PAGE: usize = TABLE + ledger_len(PROCESSES);
/// The ledger's kind: this process has waited here (its death breaks the barrier).
const PARTY: usize = 0;

/// The most parties a barrier may have.
pub const MAX_PARTIES: u32 = ipc_core::MAX_BARRIER_PARTIES;

/// Python's `threading.BrokenBarrierError`: the barrier was aborted, reset, timed out in a
/// waiter, its action panicked, or a party died.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BrokenBarrierError;

impl fmt::Display for BrokenBarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken")
    }
}

impl std::error::Error for BrokenBarrierError {}

type Action = Arc<dyn Fn() + Send + Sync>;

struct Inner {
    shared: Arc<Shared>,
    /// This handle's, never read from shared memory.
    parties: u32,
    action: Option<Action>,
    /// The parties (in `shared`'s page).
    ledger: Ledger,
}

/// Python's `multiprocessing.Barrier`: `parties` processes (or threads) wait until all have
/// arrived, then all go on; in anonymous shared memory (shared with children forked after it
/// is made).
///
/// **A party that dies.** Each process that waits at the barrier registers in its table of
/// parties (up to 64 processes; registration happens at its first `wait`). A waiter asks the
/// kernel every [`DEATH_CHECK`](super::DEATH_CHECK) whether a registered process died (or
/// exited): if one did, the barrier is broken, and every waiter gets
/// [`BrokenBarrierError`] instead of waiting for ever. A process that dies before its first
/// `wait` is not known, and is waited for as Python would. Don't reuse a barrier with new
/// processes after a party exited: its exit breaks it.
///
/// **Hostile memory.** The party count is the handle's own; a count in shared memory at or
/// above it breaks the barrier; every CAS loop is capped; waiters sleep on a futex. The state
/// machine is `ipc_core::BarrierWord` (loom-checked there).
///
/// # Examples
///
/// ```
/// use host_runtime::sync::Barrier;
/// use host_runtime::Process;
///
/// let barrier = Barrier::new(2)?;
/// let b = barrier.clone();
/// let p = Process::new(move || {
///     b.wait(None).unwrap();
/// });
/// p.start()?;
/// let index = barrier.wait(None)?;
/// assert!(index < 2);
/// p.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Barrier {
    inner: Arc<Inner>,
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}

impl Barrier {
    /// A barrier for `parties` (Python's `Barrier(parties)`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for 0 parties or more than [`MAX_PARTIES`]; the `mmap` failed.
    pub fn new(parties: u32) -> io::Result<Barrier> {
        Self::build(parties, None)
    }

    /// A barrier whose last arriving party runs `action` before the others are let go
    /// (Python's `Barrier(parties, action)`); each process runs its own copy (a child's is the
    /// one it inherited). An action that panics breaks the barrier, and the panic goes on in
    /// the party that ran it.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_action(
        parties: u32,
        action: impl Fn() + Send + Sync + 'static,
    ) -> io::Result<Barrier> {
        Self::build(parties, Some(Arc::new(action)))
    }

    /// A barrier for `parties` in the named shared-memory object `name` (see
    /// [`Lock::create_named`](super::Lock::create_named)); no action.
    ///
    /// # Errors
    ///
    /// [`NamedError::BadParameters`] for 0 or more than [`MAX_PARTIES`] parties;
    /// [`NamedError::Shm`] (e.g. `AlreadyExists`).
    pub fn create_named(name: &str, parties: u32) -> Result<Barrier, NamedError> {
        if parties == 0 || parties > MAX_PARTIES {
            return Err(NamedError::BadParameters);
        }
        let shared = Shared::create_named(name, Kind::Barrier, u64::from(parties), PAGE, |_| {})?;
        Ok(Self::from_shared(shared, parties, None))
    }

    /// Opens the named barrier `name` (its party count comes from the object, checked).
    ///
    /// # Errors
    ///
    /// As [`Lock::open_named`](super::Lock::open_named).
    pub fn open_named(name: &str) -> Result<Barrier, NamedError> {
        let (shared, parties) = Shared::open_named(name, Kind::Barrier, PAGE)?;
        let parties = u32::try_from(parties)
            .ok()
            .filter(|&p| p != 0 && p <= MAX_PARTIES)
            .ok_or(NamedError::BadParameters)?;
        Ok(Self::from_shared(shared, parties, None))
    }

    fn from_shared(shared: Arc<Shared>, parties: u32, action: Option<Action>) -> Barrier {
        let ledger = Ledger::within(shared.bytes(), TABLE, 1, 0, PROCESSES);
        Barrier {
            inner: Arc::new(Inner {
                shared,
                parties,
                action,
                ledger,
            }),
        }
    }

    fn build(parties: u32, action: Option<Action>) -> io::Result<Barrier> {
        if parties == 0 || parties > MAX_PARTIES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a barrier needs 1 to MAX_PARTIES parties",
            ));
        }
        Ok(Self::from_shared(Shared::anonymous(PAGE)?, parties, action))
    }

    fn word(&self) -> &BarrierWord {
        &self.inner.shared.bytes().atomics::<BarrierWord>(WORD, 1)[0]
    }

    /// The number of parties.
    pub fn parties(&self) -> u32 {
        self.inner.parties
    }

    /// The number of parties waiting now (a snapshot).
    pub fn n_waiting(&self) -> u32 {
        self.word().n_waiting(self.inner.parties)
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> bool {
        self.word().is_broken()
    }

    fn wake(&self) {
        let _ = futex_wake(self.word().seq(), u32::MAX);
    }

    /// Python's `abort()`: breaks the barrier: every waiter, and every `wait` until a
    /// [`reset`](Self::reset), gets [`BrokenBarrierError`].
    pub fn abort(&self) {
        self.word().abort();
        self.wake();
    }

    /// Python's `reset()`: back to the empty, unbroken state; the parties waiting now get
    /// [`BrokenBarrierError`].
    pub fn reset(&self) {
        self.word().reset();
        self.wake();
    }

    /// Python's `wait(timeout)`: waits until all parties have called `wait`; returns this
    /// party's arrival index (`0..parties`; the last to arrive gets `parties - 1` and runs the
    /// action). `timeout`: at most this long (`None`: as long as it takes).
    ///
    /// # Errors
    ///
    /// [`BrokenBarrierError`] if the barrier is or becomes broken while waiting: aborted,
    /// reset, a party's timeout ran out (this one's too: it breaks the barrier, as in Python),
    /// the action panicked, or a party died.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<u32, BrokenBarrierError> {
        let deadline = Deadline::within(timeout);
        if self.inner.ledger.held(PARTY) == 0 {
            // Once per process (a forked child starts at 0): two threads racing here both
            // add, which only marks the party twice.
            self.inner.ledger.add(PARTY, 1);
        }
        let word = self.word();
        let arrival = word
            .arrive(self.inner.parties)
            .map_err(|_| BrokenBarrierError)?;
        if arrival.is_last() {
            if let Some(action) = &self.inner.action {
                if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(|| action())) {
                    word.break_arrival(&arrival);
                    self.wake();
                    panic::resume_unwind(panic);
                }
            }
            let tripped = word.trip(&arrival);
            self.wake();
            // Not tripped: broken (or reset) while the action ran.
            return if tripped {
                Ok(arrival.index())
            } else {
                Err(BrokenBarrierError)
            };
        }
        let mut sleeper = Sleeper::new();
        let mut next_check = Instant::now() + DEATH_CHECK;
        loop {
            // Acquire: pairs with the Release moves of `seq`; the poll below is at least as new.
            let seq = word.seq().load(Acquire);
            match word.poll(&arrival) {
                Poll::Passed => return Ok(arrival.index()),
                Poll::Broken => return Err(BrokenBarrierError),
                Poll::Waiting => {}
            }
            if Instant::now() >= next_check {
                next_check = Instant::now() + DEATH_CHECK;
                if self.inner.ledger.repair_dead() > 0 {
                    word.break_arrival(&arrival);
                    self.wake();
                    continue;
                }
            }
            if deadline.has_passed() {
                word.break_arrival(&arrival);
                self.wake();
                continue;
            }
            let mut wait = next_check.saturating_duration_since(Instant::now());
            if let Some(left) = deadline.remaining() {
                wait = wait.min(left);
            }
            sleeper.sleep(word.seq(), seq, Some(wait));
        }
    }
}
