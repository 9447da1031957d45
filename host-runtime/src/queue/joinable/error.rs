//! Errors of [`JoinableQueue`](super::JoinableQueue)'s `task_done` and `join`.

use std::fmt;

/// Why a [`task_done`](super::JoinableQueue::task_done) changed nothing.
///
/// # Examples
///
/// ```
/// use host_runtime::{JoinableQueue, TaskDoneError};
///
/// let q = JoinableQueue::<u8>::new(0)?;
/// let err = q.task_done().unwrap_err();
/// assert!(matches!(err, TaskDoneError::TooManyCalls));
/// assert_eq!(err.to_string(), "task_done() called too many times");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskDoneError {
    /// No item is unfinished (other than the lost ones): more `task_done` calls than items
    /// put (Python's `ValueError`).
    TooManyCalls,
    /// The shared count kept changing under the call (only a broken process makes it).
    Corrupt,
}

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyCalls => f.write_str("task_done() called too many times"),
            Self::Corrupt => f.write_str("the unfinished count kept changing (corrupt)"),
        }
    }
}

impl std::error::Error for TaskDoneError {}

/// Why a [`join`](super::JoinableQueue::join) returned without every item done.
///
/// # Examples
///
/// ```
/// use host_runtime::queue::JoinError;
///
/// let err = JoinError::ConsumerDied { lost: 3 };
/// assert_eq!(err.to_string(), "3 items were lost with consumers that died holding them");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// Every item not done was held by a consumer when it died: `lost` of them. They stay
    /// unfinished, so later joins report them too, until `task_done` is called for them (by
    /// a process that holds no item: see [`JoinableQueue`](super::JoinableQueue), *Lost items*).
    ConsumerDied {
        /// How many items are lost.
        lost: u64,
    },
}

/// Why a [`join_timeout`](super::JoinableQueue::join_timeout) returned without every item done.
///
/// # Examples
///
/// ```
/// use host_runtime::queue::{JoinError, JoinTimeoutError};
///
/// let err = JoinTimeoutError::from(JoinError::ConsumerDied { lost: 1 });
/// assert!(matches!(err, JoinTimeoutError::ConsumerDied { lost: 1 }));
/// assert_eq!(JoinTimeoutError::Timeout.to_string(), "timed out waiting for the tasks to be done");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinTimeoutError {
    /// Items were still unfinished (and not lost) when the timeout passed.
    Timeout,
    /// As [`JoinError::ConsumerDied`].
    ConsumerDied {
        /// How many items are lost.
        lost: u64,
    },
}

impl From<JoinError> for JoinTimeoutError {
    fn from(e: JoinError) -> Self {
        match e {
            JoinError::ConsumerDied { lost } => Self::ConsumerDied { lost },
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConsumerDied { lost } => write!(
                f,
                "{lost} items were lost with consumers that died holding them"
            ),
        }
    }
}

impl fmt::Display for JoinTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out waiting for the tasks to be done"),
            Self::ConsumerDied { lost } => JoinError::ConsumerDied { lost: *lost }.fmt(f),
        }
    }
}

impl std::error::Error for JoinError {}

impl std::error::Error for JoinTimeoutError {}
