//! Linux runtime for `ipc-core`: shared memory, processes, queues and pools, with the semantics
//! of Python's `multiprocessing`.
//!
//! - [`process`]: [`Process`], a closure run in a forked child, with Python's names, exit codes,
//!   `join`/`terminate`/`kill` and daemon semantics; [`JoinHandle`], a child whose closure
//!   returns a value ([`process::start`]); [`current_process`], [`parent_process`],
//!   [`active_children`], [`cpu_count`]. Every pid is a [`Pid`], the crate's one pid type.
//! - [`queue`]: [`Queue<T>`], Python's `multiprocessing.Queue` over shared memory (serde items,
//!   postcard-encoded), and [`RawQueue`] for byte messages.
//! - [`channel`]: crossbeam-channel's API between processes ([`channel::channel`],
//!   [`channel::unbounded`], rendezvous, raw bytes): a receive returns `Disconnected` once every
//!   sender in every process was dropped or died, a send once every receiver is gone.
//! - [`pipe`]: Python's `multiprocessing.Pipe` over shared memory ([`pipe::Connection`]), with
//!   end-of-file when the other end is closed or its process died.
//! - [`shm`]: [`SharedRegion`], shared memory inherited by forked children or opened by name.
//! - [`sync`]: [`Lock`](sync::Lock) and [`RLock`](sync::RLock), Python's, recovered when their
//!   holder dies.
//! - [`pool`]: [`Pool`], Python's `multiprocessing.Pool` over forked workers, which survives
//!   workers that die (their tasks' results become errors; the pool replaces them).
//! - [`shared`]: low-level, the views of shared memory that safe code uses
//!   ([`shared::region`]), and the participant protocol of the queues; with [`sys`], the only
//!   module with `unsafe` code.
//! - [`sys`]: low-level, the thin, typed OS layer (`fork`, `waitpid`, pidfds, `poll`, signals,
//!   shared futexes, shared memory); it knows no queue.
//! - [`inspect`]: read-only snapshots of named queue and pool regions (shape, depth,
//!   participants and whether they live, losses), and the removal of stale ones; what `ipcctl`
//!   shows.
//! - [`wait()`]: which of several queues, channel receivers, pipe connections and processes
//!   are ready, in one sleep (Python's `multiprocessing.connection.wait`).
//! - [`wait`](mod@wait): low-level, the one wait policy (spin, yield, then sleep) behind every
//!   blocking call, public for hosts and benchmarks that wait on ipc-core queues themselves.
//!
//! Linux only: pidfds, futexes and `PR_SET_PDEATHSIG` have no portable equivalent.
//!
//! # Waiting and timeouts
//!
//! A call that waits comes in up to three forms, as in Python: `get()` waits as long as it
//! takes, `get_timeout(t)` at most `t`, `get_nowait()` not at all. One convention for all of
//! them: a `*_timeout` call that runs out of time returns `Err` with a `Timeout` variant of its
//! error type ([`ProcessError::Timeout`] from [`Process::join_timeout`],
//! [`JoinError::Timeout`] from [`JoinHandle::join_timeout`], [`TaskError::Timeout`] from [`AsyncResult::get_timeout`] and
//! [`Imap::next_timeout`](pool::Imap::next_timeout), [`PutTimeoutError::Timeout`] and
//! [`GetTimeoutError::Timeout`] from the queues), never before `t` has passed (measured with
//! the monotonic clock), and the thing waited for goes on; a `*_nowait` call that can't
//! proceed returns Python's `Full` ([`PutNowaitError::Full`]) or `Empty`
//! ([`GetNowaitError::Empty`]). The calls without a value to return don't:
//! [`AsyncResult::wait_timeout`] returns whether the task finished, and [`wait()`] the ready
//! sources, none when the timeout passed (as Python's `connection.wait` returns `[]`).
//!
//! # Errors
//!
//! Each call's error type lists what that call can return: the queues have one type per way
//! of waiting (as crossbeam-channel's `SendError`, `TrySendError`, `SendTimeoutError`), so a
//! blocking [`Queue::put`] ([`PutError`]) can't be `Full` nor time out, and a blocking
//! [`Queue::get`] ([`GetError`]) can't be `Empty`; the failures the three forms share convert
//! into the wider types with `From`. A failed put hands the item back. [`RawQueue`] has a
//! family of its own, [`RawPutError`] to [`RawGetNowaitError`], without the `Encode` and
//! `Decode` variants bytes never need (each converts into its typed counterpart). The
//! encoder's own error type never appears in a signature ([`EncodeError`], [`DecodeError`] are
//! ours).

//! # Examples
//!
//! ```
//! use host_runtime::{current_process, Process};
//!
//! let p = Process::new(|| println!("hello from {}", current_process().name()));
//! p.start()?;
//! assert_eq!(p.join()?, 0);
//! # Ok::<(), host_runtime::process::ProcessError>(())
//! ```
//!
//! A queue between processes:
//!
//! ```
//! use host_runtime::{Process, Queue};
//!
//! let q = Queue::<(u32, String)>::new(3)?;
//! let tx = q.clone();
//! let p = Process::new(move || tx.put((7, "from a child".into())).unwrap());
//! p.start()?;
//! assert_eq!(q.get()?, (7, "from a child".to_string()));
//! p.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Unsafe code lives in the OS layer (`sys`) and the shared-memory layer (`shared`): each of
// their modules that needs it opts in, and says why. Elsewhere, only single items that pass an
// unsafe contract on (`sync::Array::as_slice`, `as_mut_slice`) or a test's one system call.
#![deny(unsafe_code, unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

#[cfg(not(target_os = "linux"))]
compile_error!("host-runtime supports Linux only (pidfd, futex, PR_SET_PDEATHSIG)");

#[cfg(target_has_atomic = "64")]
pub mod channel;
mod encoding;
#[cfg(target_has_atomic = "64")]
pub mod inspect;
#[cfg(target_has_atomic = "64")]
mod ledger;
#[cfg(target_has_atomic = "64")]
mod liveness;
mod lock;
#[cfg(target_has_atomic = "64")]
pub mod pipe;
pub mod pool;
pub mod process;
pub mod queue;
pub mod shared;
pub mod shm;
#[cfg(target_has_atomic = "64")]
pub mod sync;
pub mod sys;
pub mod wait;

#[cfg(target_has_atomic = "64")]
pub use pool::{AsyncResult, Pool, PoolError, TaskError};
// The builders stay in their modules (`process::Builder`, `queue::Builder`, `pool::Builder`):
// at the crate root, a bare `Builder` would not say what it builds.
pub use process::{
    active_children, cpu_count, current_process, parent_process, CurrentProcess, JoinError,
    JoinHandle, Process, ProcessError,
};
pub use queue::{
    DecodeError, DecodeErrorKind, EncodeError, GetError, GetNowaitError, GetTimeoutError, PutError,
    PutNowaitError, PutTimeoutError, Queue, QueueError, RawGetError, RawGetNowaitError,
    RawGetTimeoutError, RawPutError, RawPutNowaitError, RawPutTimeoutError, RawQueue, SimpleQueue,
};
#[cfg(target_has_atomic = "64")]
pub use queue::{JoinableQueue, TaskDoneError};
pub use shm::{SharedRegion, ShmError};
pub use sys::Pid;
pub use wait::{wait, Waitable};

#[cfg(test)]
mod test_util;

/// The README's examples, run as doctests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
