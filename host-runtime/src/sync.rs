//! Python's `multiprocessing` synchronisation primitives over shared memory, which survive the
//! death of a process that holds them.
//!
//! - [`Lock`] and [`RLock`] (recursive): Python's `acquire(block, timeout)` and `release()`,
//!   and Rust guards ([`Lock::lock`], [`Lock::try_lock`], [`Lock::lock_timeout`]).
//! - [`Event`]: `set`, `clear`, `is_set`, `wait(timeout)`.
//! - [`Semaphore`] and [`BoundedSemaphore`]: the permits a dead process held are given back.
//! - [`Barrier`]: `wait`, `abort`, `reset`, `parties`, `n_waiting`, `broken`; a party that dies
//!   breaks it for every waiter.
//! - [`Condition`]: over an [`RLock`]; `wait`, `wait_for`, `notify`, `notify_all`.
//! - [`Value<T>`](Value) and [`Array<T>`](Array) for plain-old-data `T` (`bytemuck::Pod`), with
//!   an optional lock: copies in and out, or atomic words; never a `&T` into shared memory.
//!
//! Each is made in anonymous shared memory (`new`: shared with the children forked after it) or
//! in a named object that unrelated processes of the user open (`create_named`, `open_named`;
//! see [`SharedRegion::create_named`](crate::SharedRegion::create_named) for the files and their
//! removal). A named `Condition`, `Value` or `Array` is one object holding its lock too.
//!
//! # A holder that dies
//!
//! In Python, a process killed while it holds a `Lock` wedges every other process for ever.
//! Here the lock word records its holder (thread id and start time: `ipc_core::LockWord`), and a
//! process that waits for it asks the kernel, every [`DEATH_CHECK`] while it waits (and on a
//! failed `try_lock`, at most as often), whether the holder can still run. If it cannot (its
//! thread is gone, or a zombie, or its id now names a thread that started at another time), the
//! waiter takes the lock over and is told: [`LockError::OwnerDied`] carries the guard, as
//! `std`'s `PoisonError` does, and as POSIX robust mutexes return `EOWNERDEAD`, so the program
//! can repair what the lock protects. A *stopped* (`SIGSTOP`) or slow holder is never taken for
//! dead: a waiter keeps waiting, and a timed wait times out.
//!
//! # Hostile memory
//!
//! The lock words live in memory every process forked after their creation can write. One that
//! scribbles on them can make calls fail ([`LockError::Corrupt`]), wait, or let two processes
//! hold a lock at once; nothing else (no undefined behaviour, no panic, no unbounded loop of CPU:
//! a waiter sleeps on a futex, with a timeout of at most [`DEATH_CHECK`]).
//!
//! # Examples
//!
//! ```
//! use host_runtime::sync::Lock;
//! use host_runtime::Process;
//!
//! let lock = Lock::new()?;
//! let child_lock = lock.clone();
//! let p = Process::new(move || {
//!     let _guard = child_lock.lock().unwrap();
//!     // ... work on shared state ...
//! });
//! p.start()?;
//! drop(lock.lock().unwrap());
//! p.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod barrier;
mod condition;
mod error;
mod event;
mod lock;
mod raw;
mod semaphore;
mod value;

pub use barrier::{Barrier, BrokenBarrierError, MAX_PARTIES};
pub use condition::{Condition, ConditionError};
pub use error::{AcquireError, LockError, LockTimeoutError, ReleaseError, TryLockError};
pub use event::Event;
pub use lock::{Lock, LockGuard, RLock, RLockGuard};
pub use raw::{NamedError, DEATH_CHECK};
pub use semaphore::{
    BoundedSemaphore, Semaphore, SemaphoreReleaseError, SemaphoreStats, SEM_VALUE_MAX,
};
pub use value::{Array, IndexError, Value};

/// Entries in the ledger (`crate::ledger`) of a [`Semaphore`] or [`Barrier`]: the processes
/// whose permits are given back, or whose death breaks the barrier, if they die.
const PROCESSES: usize = 64;
