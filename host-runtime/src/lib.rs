//! Linux runtime for `ipc-core`: shared memory, processes, queues and pools, with the semantics
//! of Python's `multiprocessing`.
//!
//! - [`process`]: [`Process`], a closure run in a forked child, with Python's names, exit codes,
//!   `join`/`terminate`/`kill` and daemon semantics; [`current_process`].
//! - [`sys`]: the thin, typed OS layer (`fork`, `waitpid`, pidfds, `poll`, signals, shared
//!   futexes, shared anonymous memory). It is the only module with `unsafe` code.
//!
//! Linux only: pidfds, futexes and `PR_SET_PDEATHSIG` have no portable equivalent.
//!
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

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

#[cfg(not(target_os = "linux"))]
compile_error!("host-runtime supports Linux only (pidfd, futex, PR_SET_PDEATHSIG)");

pub mod process;
pub mod sys;

pub use process::{current_process, Builder, CurrentProcess, Process, ProcessError};

#[cfg(test)]
mod test_util;
