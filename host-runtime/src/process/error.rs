//! [`ProcessError`]: why a [`Process`] operation failed.

use std::fmt;
use std::io;

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
            ProcessError::Os(e) => write!(f, "system call failed: {e}"),
        }
    }
}

impl std::error::Error for ProcessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProcessError::Os(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ProcessError {
    fn from(e: io::Error) -> ProcessError {
        ProcessError::Os(e)
    }
}
