//! Errors of the pool: [`PoolError`] for what the pool refused or failed to do,
//! [`TaskError`] for how a task ended if it did not return a value.

use std::fmt;
use std::io;

use crate::encoding::EncodeError;
use crate::process::ProcessError;
use crate::queue::QueueError;
use crate::shm::ShmError;
use crate::sys::Pid;

/// Why a pool operation failed (the pool itself, not a task).
///
/// # Examples
///
/// ```
/// use host_runtime::pool::{Pool, PoolError};
///
/// assert!(matches!(Pool::new(0), Err(PoolError::InvalidConfig(_))));
/// let pool = Pool::new(1)?;
/// assert!(matches!(pool.join(), Err(PoolError::StillRunning)));
/// pool.close()?;
/// assert!(matches!(pool.apply(|x: u8| x, 1), Err(PoolError::NotRunning)));
/// pool.join()?;
/// # Ok::<(), PoolError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum PoolError {
    /// A setting is out of range (e.g. 0 processes); the message says which.
    InvalidConfig(String),
    /// The pool was closed or terminated: it takes no more tasks (Python: `ValueError: Pool
    /// not running`).
    NotRunning,
    /// [`join`](super::Pool::join) before [`close`](super::Pool::close) or
    /// [`terminate`](super::Pool::terminate) (Python: `ValueError: Pool is still running`).
    StillRunning,
    /// The call would wait for the pool's own result thread, from that thread (a callback).
    InCallback,
    /// The pool belongs to another process: this one is a child forked after it was made.
    NotOwner,
    /// The task's arguments could not be encoded (their `Serialize` implementation failed,
    /// or they are a shape the encoding can't hold).
    Encode(EncodeError),
    /// The task's message (the encoded arguments and a header) is longer than the pool's
    /// maximum message size ([`Builder::max_message_size`](super::Builder::max_message_size)).
    /// [`map`](super::Pool::map) and its kin split a chunk that is too long until it fits;
    /// this is a single item that does not.
    TooLarge {
        /// The message's length in bytes.
        len: usize,
        /// The pool's maximum message size.
        max: usize,
    },
    /// A task ended without a value (from [`apply`](super::Pool::apply),
    /// [`map`](super::Pool::map)).
    Task(TaskError),
    /// Starting a worker process failed.
    Spawn(ProcessError),
    /// Making the shared memory or a queue failed.
    Queue(QueueError),
    /// The process's limit on open file descriptors (`RLIMIT_NOFILE`, its soft value `limit`)
    /// leaves fewer free than the pool needs to start: `needed` more (its wake-up socket).
    /// Workers need none of their own: without free descriptors they do without a pidfd and
    /// without the socket of their start-up handshake. Raise the limit (`ulimit -n`,
    /// `setrlimit`) or close descriptors.
    FdLimit {
        /// The soft `RLIMIT_NOFILE` when the pool was built.
        limit: u64,
        /// Descriptors the pool needs free.
        needed: usize,
    },
    /// Another system call failed (making the wake-up socket, the result thread).
    Os(io::Error),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidConfig(m) => write!(f, "invalid pool configuration: {m}"),
            Self::NotRunning => f.write_str("pool not running (closed or terminated)"),
            Self::StillRunning => f.write_str("pool is still running: close or terminate it first"),
            Self::InCallback => {
                f.write_str("cannot wait for the pool from its own result thread (a callback)")
            }
            Self::NotOwner => f.write_str("the pool belongs to another process"),
            Self::Encode(e) => write!(f, "could not send the task: {e}"),
            Self::TooLarge { len, max } => write!(
                f,
                "could not send the task: its message is {len} bytes long, more than the \
                 pool's maximum message size ({max} bytes)"
            ),
            Self::Task(e) => e.fmt(f),
            Self::Spawn(e) => write!(f, "could not start a worker process: {e}"),
            Self::Queue(e) => write!(f, "could not make the pool's shared memory: {e}"),
            Self::FdLimit { limit, needed } => write!(
                f,
                "too many open files: the pool needs {needed} free file descriptors, and the \
                 limit (RLIMIT_NOFILE = {limit}) leaves fewer"
            ),
            Self::Os(e) => write!(f, "pool: {e}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Encode(e) => Some(e),
            Self::Task(e) => Some(e),
            Self::Spawn(e) => Some(e),
            Self::Queue(e) => Some(e),
            Self::Os(e) => Some(e),
            _ => None,
        }
    }
}

impl From<TaskError> for PoolError {
    fn from(e: TaskError) -> Self {
        Self::Task(e)
    }
}

impl From<ProcessError> for PoolError {
    fn from(e: ProcessError) -> Self {
        Self::Spawn(e)
    }
}

impl From<QueueError> for PoolError {
    fn from(e: QueueError) -> Self {
        Self::Queue(e)
    }
}

impl From<ShmError> for PoolError {
    fn from(e: ShmError) -> Self {
        Self::Queue(QueueError::Shm(e))
    }
}

impl From<io::Error> for PoolError {
    fn from(e: io::Error) -> Self {
        Self::Os(e)
    }
}

/// How a task ended if it did not give a value, or why its value can't be had.
///
/// Cloneable: an error stays in its [`AsyncResult`](super::AsyncResult) and every `get`
/// returns it again; [`imap`](super::Pool::imap) repeats a failed chunk's error for each of its
/// items.
///
/// # Examples
///
/// ```
/// use host_runtime::pool::{Pool, TaskError};
///
/// fn fail(x: u32) -> u32 {
///     if x == 3 {
///         panic!("three is not allowed");
///     }
///     x
/// }
///
/// let pool = Pool::new(1)?;
/// let r = pool.apply_async(fail, 3)?;
/// match r.get() {
///     Err(TaskError::Panicked(message)) => assert_eq!(message, "three is not allowed"),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(pool.apply(fail, 4)?, 4, "the pool goes on");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked; the panic message (`"Box<dyn Any>"` if it was not a string).
    Panicked(String),
    /// The worker process running the task (or holding its finished result) died: killed,
    /// crashed, or exited from inside the task. Python's pool hangs here.
    WorkerDied {
        /// The worker's pid.
        pid: Pid,
        /// Its exit code, Python-style: `-9` for `SIGKILL`.
        exitcode: i32,
    },
    /// The pool was terminated (or dropped) before the task finished.
    Terminated,
    /// [`get_timeout`](super::AsyncResult::get_timeout) waited in vain; the task goes on.
    Timeout,
    /// The value was already taken by an earlier `get`.
    Taken,
    /// The result could not be encoded in the worker, or is longer than the pool's maximum
    /// message size.
    Encode(String),
    /// The arguments could not be decoded in the worker, or the result in this process.
    Decode(String),
    /// Waiting from a process other than the pool's (a child forked after the task was
    /// submitted): the result would never come.
    NotOwner,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panicked(m) => write!(f, "task panicked: {m}"),
            Self::WorkerDied { pid, exitcode } => write!(
                f,
                "worker process (pid {pid}) died before the task's result was delivered \
                 (exit code {exitcode})"
            ),
            Self::Terminated => f.write_str("pool terminated before the task finished"),
            Self::Timeout => f.write_str("timed out waiting for the result"),
            Self::Taken => f.write_str("the result was already taken"),
            Self::Encode(m) => write!(f, "could not encode the result: {m}"),
            Self::Decode(m) => write!(f, "could not decode: {m}"),
            Self::NotOwner => f.write_str("the pool belongs to another process"),
        }
    }
}

impl std::error::Error for TaskError {}
