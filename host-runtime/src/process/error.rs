//! [`ProcessError`]: why a [`Process`] operation failed.

use std::fmt;
use std::io;

use super::StartMethod;
use crate::encoding::EncodeError;

#[cfg(doc)]
use super::Process;

/// Why a [`Process`] operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProcessError {
    /// [`Process::start`] was called on a process that was already started.
    AlreadyStarted,
    /// The operation needs a started process.
    NotStarted,
    /// Waiting is only possible in the process that started the child (e.g. not in a child
    /// that inherited the handle), as in Python.
    NotParent,
    /// The child was reaped by someone else (`SIGCHLD` ignored, or `waitpid(-1)` elsewhere in
    /// this process); its exit status is unknown.
    Lost,
    /// [`Process::join_timeout`] waited in vain: the child still runs after the timeout.
    Timeout,
    /// A closure can only be forked: this process's start method (its builder's, else the
    /// program's, see [`set_start_method`](super::set_start_method)) is `method`. Start a `fn`
    /// item with [`Builder::run`](super::Builder::run) instead, or ask for
    /// [`StartMethod::Fork`] with [`Builder::start_method`](super::Builder::start_method).
    NeedsFork {
        /// The start method in force.
        method: StartMethod,
    },
    /// The start method can't start this process: a daemon with
    /// [`StartMethod::Forkserver`] from a builder that may not use a socket for the start's
    /// handshake (the pool's workers when no descriptor is free).
    Unavailable(StartMethod),
    /// This process was spawned and its `main` did not call [`init`](super::init) first (the
    /// spawn's environment variable is still set): spawning from here would run `main` again
    /// in each child, without end (Python's "attempt to start a new process before the current
    /// process has finished its bootstrapping phase").
    SpawnedWithoutInit,
    /// The arguments of a spawned child could not be encoded (their `Serialize` failed).
    Encode(EncodeError),
    /// A system call failed.
    Os(io::Error),
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::AlreadyStarted => f.write_str("process already started"),
            ProcessError::NotStarted => f.write_str("process not started"),
            ProcessError::NotParent => {
                f.write_str("can only wait for a child process of the current process")
            }
            ProcessError::Lost => {
                f.write_str("child process was reaped elsewhere; its exit status is lost")
            }
            ProcessError::Timeout => f.write_str("timed out waiting for the child process to exit"),
            ProcessError::NeedsFork { method } => write!(
                f,
                "a closure can only be forked, and the start method is {method}: start a fn item"
            ),
            ProcessError::Unavailable(method) => {
                write!(f, "start method {method} is not available")
            }
            ProcessError::SpawnedWithoutInit => f.write_str(
                "this spawned process did not call host_runtime::process::init() at the start \
                 of main; it can't spawn",
            ),
            ProcessError::Encode(e) => write!(f, "could not encode the child's arguments: {e}"),
            ProcessError::Os(e) => write!(f, "system call failed: {e}"),
        }
    }
}

impl std::error::Error for ProcessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProcessError::Os(e) => Some(e),
            ProcessError::Encode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ProcessError {
    fn from(e: io::Error) -> ProcessError {
        ProcessError::Os(e)
    }
}
