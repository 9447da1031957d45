//! [`Semaphore`] and [`BoundedSemaphore`]: Python's, with the permits a dead process held
//! given back.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_core::SemaphoreWord;

use super::raw::{Kind, NamedError, Shared, Sleeper, DEATH_CHECK};
use super::PROCESSES;
use crate::ledger::{ledger_len, Ledger};
use crate::sys::futex::futex_wake;
use crate::wait::Deadline;

/// Page layout: an `ipc_core::SemaphoreWord` (the count, the futex word; sleepers) at 0,
/// permits returned from dead processes (`u64`) at 8, the ledger of permits held per process
/// at 64 (`crate::ledger`, [`PROCESSES`] entries, one kind: [`HELD`], not inherited by fork).
const WORD: usize = 0;
const RETURNED: usize = 8;
const TABLE: usize = 64;
const PAGE: usize = TABLE + ledger_len(PROCESSES);
/// The ledger's kind: permits this process took and has not given back.
const HELD: usize = 0;

/// The largest value a semaphore may hold (Python's `SEM_VALUE_MAX` on Linux is `i32::MAX`).
pub const SEM_VALUE_MAX: u32 = i32::MAX as u32;

/// Why a release gave nothing back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SemaphoreReleaseError {
    /// A [`BoundedSemaphore`] released more times than it was acquired (Python's
    /// `ValueError: semaphore or lock released too many times`), or a value past
    /// [`SEM_VALUE_MAX`]. Nothing changed.
    TooManyReleases,
}

impl fmt::Display for SemaphoreReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore or lock released too many times")
    }
}

impl std::error::Error for SemaphoreReleaseError {}

/// What a semaphore has seen, for monitoring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SemaphoreStats {
    /// The number of permits free now (a snapshot).
    pub value: u32,
    /// Permits given back because the process that held them died.
    pub returned_from_dead: u64,
}

struct Inner {
    shared: Arc<Shared>,
    /// The most permits it may hold (`SEM_VALUE_MAX` for a plain semaphore): this handle's,
    /// never read from shared memory.
    max: u32,
    /// Who holds how many permits (in `shared`'s page).
    ledger: Ledger,
}

impl Inner {
    fn create_named(name: &str, kind: Kind, value: u32, max: u32) -> Result<Inner, NamedError> {
        if value > max || max > SEM_VALUE_MAX {
            return Err(NamedError::BadParameters);
        }
        let shared = Shared::create_named(name, kind, u64::from(max), PAGE, |b| {
            b.atomics::<SemaphoreWord>(WORD, 1)[0].init(value);
        })?;
        Ok(Inner::from_shared(shared, max))
    }

    fn open_named(name: &str, kind: Kind) -> Result<Inner, NamedError> {
        let (shared, max) = Shared::open_named(name, kind, PAGE)?;
        let max = u32::try_from(max)
            .ok()
            .filter(|&m| m <= SEM_VALUE_MAX)
            .ok_or(NamedError::BadParameters)?;
        Ok(Inner::from_shared(shared, max))
    }

    fn new(value: u32, max: u32) -> io::Result<Inner> {
        if value > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "semaphore value above its maximum",
            ));
        }
        let shared = Shared::anonymous(PAGE)?;
        shared.bytes().atomics::<SemaphoreWord>(WORD, 1)[0].init(value);
        Ok(Inner::from_shared(shared, max))
    }

    fn from_shared(shared: Arc<Shared>, max: u32) -> Inner {
        let ledger = Ledger::within(shared.bytes(), TABLE, 1, 0, PROCESSES);
        Inner {
            shared,
            max,
            ledger,
        }
    }

    fn word(&self) -> &SemaphoreWord {
        &self.shared.bytes().atomics::<SemaphoreWord>(WORD, 1)[0]
    }
    fn returned(&self) -> &AtomicU64 {
        self.shared.bytes().u64_at(RETURNED)
    }

    /// Gives back the permits of dead processes (at most up to `max`); how many processes.
    fn repair_dead(&self) -> usize {
        let n = self.ledger.repair_dead_with(|counts| {
            let held = u32::try_from(counts[HELD]).unwrap_or(u32::MAX);
            let given = self.word().give_back(held, self.max);
            self.returned().fetch_add(u64::from(given), Relaxed);
        });
        if n > 0 {
            let _ = futex_wake(self.word().futex(), u32::MAX);
        }
        n
    }

    fn try_take(&self) -> bool {
        let taken = self.word().try_acquire();
        if taken {
            self.ledger.add(HELD, 1);
        }
        taken
    }

    fn acquire(&self, deadline: Deadline) -> bool {
        // Register before taking (a `/proc` read on first use), so that the window between
        // the take and the count is a few instructions.
        self.ledger.enter();
        if self.try_take() {
            return true;
        }
        if deadline.is_nowait() {
            if self.shared.stall.due() && self.repair_dead() > 0 {
                return self.try_take();
            }
            return false;
        }
        let mut sleeper = Sleeper::new();
        // The first check at once only if this handle's is due (at most every DEATH_CHECK per
        // handle and process: a check reads `/proc` for each registered process).
        let mut next_check = if self.shared.stall.due() {
            Instant::now()
        } else {
            Instant::now() + DEATH_CHECK
        };
        loop {
            if Instant::now() >= next_check {
                next_check = Instant::now() + DEATH_CHECK;
                self.repair_dead();
            }
            if self.try_take() {
                return true;
            }
            if deadline.has_passed() {
                return false;
            }
            let mut wait = next_check.saturating_duration_since(Instant::now());
            if let Some(left) = deadline.remaining() {
                wait = wait.min(left);
            }
            if self.word().prepare_sleep() {
                sleeper.sleep(self.word().futex(), 0, Some(wait));
            }
            self.word().finish_sleep();
        }
    }

    fn release(&self) -> Result<(), SemaphoreReleaseError> {
        let wake = self
            .word()
            .release(self.max)
            .map_err(|_| SemaphoreReleaseError::TooManyReleases)?;
        // At most what this process holds: a permit it did not take (another's, or a
        // producer's) is not its to count down.
        self.ledger.sub(HELD, 1);
        if wake {
            let _ = futex_wake(self.word().futex(), 1);
        }
        Ok(())
    }
}

macro_rules! define_semaphore {
    ($(#[$doc:meta])* $name:ident, python: $python:literal, kind: $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            inner: Arc<Inner>,
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("value", &self.get_value())
                    .finish()
            }
        }

        impl $name {
            /// Python's `acquire(block, timeout)`: takes a permit, waiting (if `block`) at most
            /// `timeout` (`None`: as long as it takes). Returns whether it took one. `timeout`
            /// is ignored when `block` is false.
            pub fn acquire(&self, block: bool, timeout: Option<Duration>) -> bool {
                let deadline = if block { Deadline::within(timeout) } else { Deadline::NoWait };
                self.inner.acquire(deadline)
            }

            /// Python's `release()`: gives a permit back and wakes a waiter.
            ///
            /// # Errors
            ///
            /// [`SemaphoreReleaseError::TooManyReleases`] past the maximum, with no change.
            pub fn release(&self) -> Result<(), SemaphoreReleaseError> {
                self.inner.release()
            }

            /// Opens the named semaphore `name` made by `create_named` (its bound comes from
            /// the object, checked).
            ///
            /// # Errors
            ///
            /// As [`Lock::open_named`](super::Lock::open_named).
            pub fn open_named(name: &str) -> Result<$name, NamedError> {
                Ok($name {
                    inner: Arc::new(Inner::open_named(name, $kind)?),
                })
            }

            /// Python's `get_value()`: the permits free now (a snapshot).
            pub fn get_value(&self) -> u32 {
                self.inner.word().value()
            }

            /// Gives back now the permits held by processes that died (waiters do it every
            /// [`DEATH_CHECK`](super::DEATH_CHECK)); returns how many dead processes it found.
            pub fn repair_dead(&self) -> usize {
                self.inner.repair_dead()
            }

            /// The value and the permits given back from dead processes.
            pub fn stats(&self) -> SemaphoreStats {
                SemaphoreStats {
                    value: self.get_value(),
                    returned_from_dead: self.inner.returned().load(Relaxed),
                }
            }
        }
    };
}

define_semaphore! {
    /// Python's `multiprocessing.Semaphore`: a count of permits shared by processes (and
    /// threads), in anonymous shared memory (shared with children forked after it is made).
    ///
    /// **Permits of the dead.** Each process counts the permits it took and has not given back
    /// (in a table of up to 64 processes; a process that finds it full of live ones is not
    /// counted). When a process dies holding some, they are given back (by a waiter, within
    /// [`DEATH_CHECK`](super::DEATH_CHECK), or [`repair_dead`](Self::repair_dead)) and counted
    /// in [`stats`](Self::stats). A permit released by a process that holds none (a producer
    /// signalling a consumer) counts down nobody's; so a consumer that takes such permits and
    /// dies has them "given back" too. Use it for resources that are taken and given back by
    /// one process. Two windows of a few instructions: a process killed between its take and
    /// its count leaks that permit; one killed between its release and its count has one
    /// permit too many given back (never above the maximum).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(2)?;
    /// assert!(sem.acquire(true, None));
    /// assert!(sem.acquire(false, None));
    /// assert!(!sem.acquire(false, None)); // Python's acquire(False)
    /// sem.release()?;
    /// assert_eq!(sem.get_value(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Semaphore, python: "Semaphore", kind: Kind::Semaphore
}

define_semaphore! {
    /// Python's `multiprocessing.BoundedSemaphore`: a [`Semaphore`] whose value may not go
    /// above its initial value: a release past it is an error
    /// ([`SemaphoreReleaseError::TooManyReleases`]), with no change.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::sync::{BoundedSemaphore, SemaphoreReleaseError};
    ///
    /// let sem = BoundedSemaphore::new(1)?;
    /// assert_eq!(sem.release(), Err(SemaphoreReleaseError::TooManyReleases));
    /// assert!(sem.acquire(true, None));
    /// sem.release()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    BoundedSemaphore, python: "BoundedSemaphore", kind: Kind::BoundedSemaphore
}

impl Semaphore {
    /// A semaphore with `value` permits (Python's `Semaphore(value)`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a value above [`SEM_VALUE_MAX`]; the `mmap` of its page failed.
    pub fn new(value: u32) -> io::Result<Semaphore> {
        Ok(Semaphore {
            inner: Arc::new(Inner::new(value, SEM_VALUE_MAX)?),
        })
    }
}

impl Semaphore {
    /// A semaphore with `value` permits in the named shared-memory object `name` (see
    /// [`Lock::create_named`](super::Lock::create_named)).
    ///
    /// # Errors
    ///
    /// [`NamedError::BadParameters`] for a value above [`SEM_VALUE_MAX`];
    /// [`NamedError::Shm`] (e.g. `AlreadyExists`).
    pub fn create_named(name: &str, value: u32) -> Result<Semaphore, NamedError> {
        Ok(Semaphore {
            inner: Arc::new(Inner::create_named(
                name,
                Kind::Semaphore,
                value,
                SEM_VALUE_MAX,
            )?),
        })
    }
}

impl BoundedSemaphore {
    /// A bounded semaphore with `value` permits, never more, in the named shared-memory object
    /// `name`.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::create_named`].
    pub fn create_named(name: &str, value: u32) -> Result<BoundedSemaphore, NamedError> {
        Ok(BoundedSemaphore {
            inner: Arc::new(Inner::create_named(
                name,
                Kind::BoundedSemaphore,
                value,
                value,
            )?),
        })
    }
}

impl BoundedSemaphore {
    /// A bounded semaphore with `value` permits, never more (Python's
    /// `BoundedSemaphore(value)`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a value above [`SEM_VALUE_MAX`]; the `mmap` of its page failed.
    pub fn new(value: u32) -> io::Result<BoundedSemaphore> {
        let max = value.min(SEM_VALUE_MAX);
        Ok(BoundedSemaphore {
            inner: Arc::new(Inner::new(value, max)?),
        })
    }
}
