//! Errors of the queue: one type per operation; a failed put hands the item back.

use std::fmt;

use ipc_core::LayoutError;

use crate::encoding::{DecodeError, EncodeError};
use crate::shm::ShmError;
use crate::sys::region::ClaimError;

/// Why a put did not happen. The item comes back inside the error; the queue is unchanged.
///
/// # Examples
///
/// ```
/// use host_runtime::{PutError, Queue};
///
/// let q = Queue::<String>::new(1)?;
/// q.put("first".to_string())?;
/// match q.put_nowait("second".to_string()) {
///     Err(PutError::Full(item)) => assert_eq!(item, "second"),
///     other => panic!("expected Full, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
pub enum PutError<T> {
    /// The queue is full (or, for a large message, every blob chunk of its size class is in
    /// use) and the call was not to wait ([`put_nowait`](crate::Queue::put_nowait)).
    Full(T),
    /// The queue stayed full until the timeout passed.
    Timeout(T),
    /// The encoded message is longer than the queue's maximum message size.
    TooLarge {
        /// The item.
        item: T,
        /// Its encoded length in bytes.
        len: usize,
        /// The queue's maximum message size.
        max: usize,
    },
    /// The item could not be encoded (e.g. a sequence of unknown length, or a `Serialize`
    /// implementation that failed).
    Encode {
        /// The item.
        item: T,
        /// Why it could not be encoded.
        error: EncodeError,
    },
    /// The shared memory holds an impossible state (written by a foreign or broken process).
    Corrupt(T),
}

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(item)
            | Self::Timeout(item)
            | Self::TooLarge { item, .. }
            | Self::Encode { item, .. }
            | Self::Corrupt(item) => item,
        }
    }
}

// Like `std::sync::mpsc::SendError`: no `T: Debug` bound, the item is not shown.
impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Timeout(_) => f.write_str("Timeout(..)"),
            Self::TooLarge { len, max, .. } => f
                .debug_struct("TooLarge")
                .field("len", len)
                .field("max", max)
                .finish_non_exhaustive(),
            Self::Encode { error, .. } => f
                .debug_struct("Encode")
                .field("error", error)
                .finish_non_exhaustive(),
            Self::Corrupt(_) => f.write_str("Corrupt(..)"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("queue is full"),
            Self::Timeout(_) => f.write_str("timed out waiting for room in the queue"),
            Self::TooLarge { len, max, .. } => write!(
                f,
                "message of {len} bytes is larger than the queue's maximum of {max} bytes"
            ),
            Self::Encode { error, .. } => error.fmt(f),
            Self::Corrupt(_) => f.write_str("queue memory is corrupt"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Encode { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Why a get returned no item.
///
/// # Examples
///
/// ```
/// use host_runtime::{GetError, Queue};
///
/// let q = Queue::<u32>::new(4)?;
/// assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum GetError {
    /// The queue is empty and the call was not to wait ([`get_nowait`](crate::Queue::get_nowait)).
    Empty,
    /// The queue stayed empty until the timeout passed.
    Timeout,
    /// The message was taken off the queue but is not a valid encoding of the item type (a
    /// producer used another type, or another process garbled it); it is dropped. A message
    /// with bytes left over after the item is not one either
    /// ([`DecodeErrorKind::TrailingBytes`](crate::DecodeErrorKind::TrailingBytes)).
    Decode(DecodeError),
    /// The shared memory holds an impossible state (written by a foreign or broken process).
    Corrupt,
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("queue is empty"),
            Self::Timeout => f.write_str("timed out waiting for a message"),
            Self::Decode(e) => write!(f, "{e} (the message is dropped)"),
            Self::Corrupt => f.write_str("queue memory is corrupt"),
        }
    }
}

impl std::error::Error for GetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Decode(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a queue could not be made or opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum QueueError {
    /// A builder setting is out of range; the message says which.
    Config(String),
    /// The ring for this capacity and slot size has no layout (e.g. capacity too large).
    Layout(LayoutError),
    /// Making, opening or mapping the shared memory failed, or (opening by name) its owner,
    /// mode or size is wrong.
    Shm(ShmError),
    /// A queue inside the region failed validation (`ipc_core::ByteQueue::attach_raw`), or its
    /// parts do not fit the region.
    Claim(ClaimError),
    /// The region holds no queue, or a header that contradicts itself; the message says what.
    BadHeader(&'static str),
    /// A create with [`Builder::reclaim_stale`](super::Builder::reclaim_stale) found a region
    /// of that name that is not stale, and left it alone: a process that may use it lives (or
    /// may: its liveness is unknown), or it is not a queue of this version, or it is being made
    /// or reclaimed right now.
    InUse {
        /// The process found alive, when there is one to name.
        pid: Option<u32>,
        /// Why the region is kept.
        reason: &'static str,
    },
    /// [`Queue::open_named`](crate::Queue::open_named) of a queue made for another item type
    /// (or made untyped, by `create_named_raw`): the fingerprints (of the type's name and the
    /// encoding, see `LAYOUT.md`, *Item type*) differ. Nothing was changed.
    WrongItemType {
        /// The type asked for (`core::any::type_name`).
        type_name: &'static str,
        /// Its fingerprint.
        expected: u64,
        /// The fingerprint the queue records (0: an untyped queue).
        found: u64,
    },
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(m) => write!(f, "invalid queue configuration: {m}"),
            Self::Layout(e) => write!(f, "queue layout: {e}"),
            Self::Shm(e) => e.fmt(f),
            Self::Claim(e) => write!(f, "queue region: {e}"),
            Self::BadHeader(m) => write!(f, "not a valid queue region: {m}"),
            Self::InUse {
                pid: Some(pid),
                reason,
            } => write!(f, "named queue not reclaimed: {reason} (pid {pid})"),
            Self::InUse { pid: None, reason } => write!(f, "named queue not reclaimed: {reason}"),
            Self::WrongItemType {
                type_name,
                expected,
                found,
            } => write!(
                f,
                "the queue was made for another item type: {type_name} is {expected:#018x}, \
                 the queue records {found:#018x}{}",
                if *found == 0 { " (untyped)" } else { "" }
            ),
        }
    }
}

impl std::error::Error for QueueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Layout(e) => Some(e),
            Self::Shm(e) => Some(e),
            Self::Claim(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ShmError> for QueueError {
    fn from(e: ShmError) -> Self {
        Self::Shm(e)
    }
}

impl From<ClaimError> for QueueError {
    fn from(e: ClaimError) -> Self {
        Self::Claim(e)
    }
}

impl From<LayoutError> for QueueError {
    fn from(e: LayoutError) -> Self {
        Self::Layout(e)
    }
}
