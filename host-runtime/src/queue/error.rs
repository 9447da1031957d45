//! Errors of the queue: one type per operation and way of waiting; a failed put hands the
//! item back.

use std::fmt;

use ipc_core::LayoutError;

use crate::encoding::{DecodeError, EncodeError};
use crate::shared::region::ClaimError;
use crate::shm::ShmError;
use crate::sys::Pid;

// One error type per way of waiting, as crossbeam-channel's `SendError`/`TrySendError`/
// `SendTimeoutError`: a blocking `put` can't be `Full` nor time out, so its type has neither;
// `put_nowait` adds Python's `Full`, `put_timeout` adds `Timeout`. Same for the gets (`Empty`,
// `Timeout`). The failures every form shares convert into the wider types (`From`), for `?`.
//
// `RawQueue` has a family of its own (`RawPutError`, …, `RawGetNowaitError`): the same
// variants less `Encode` and `Decode`, which bytes never need; each converts into its typed
// counterpart (`From`). One pair of macros makes both families' impls.

/// The `Display` text of every `Closed` variant (Python's `ValueError` says "Queue ... is
/// closed").
const CLOSED: &str = "the queue is closed in this process";

/// Why a [`put`](crate::Queue::put) (which waits for room as long as it takes) did not happen.
/// The item comes back inside the error; the queue is unchanged.
///
/// # Examples
///
/// ```
/// use host_runtime::{PutError, Queue};
///
/// let q = Queue::<Vec<u8>>::builder().maxsize(1).max_message_size(200).build()?;
/// match q.put(vec![0; 300]) {
///     Err(PutError::TooLarge { item, max, .. }) => assert_eq!((item.len(), max), (300, 200)),
///     other => panic!("expected TooLarge, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
pub enum PutError<T> {
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
    /// This process closed the queue ([`Queue::close`](crate::Queue::close)): it puts no more
    /// (Python raises `ValueError: Queue ... is closed`).
    Closed(T),
}

/// Why a [`put_timeout`](crate::Queue::put_timeout) did not happen: as [`PutError`], or
/// `Timeout`. The item comes back inside the error; the queue is unchanged.
///
/// # Examples
///
/// ```
/// use host_runtime::{PutTimeoutError, Queue};
/// use std::time::Duration;
///
/// let q = Queue::<u8>::new(1)?;
/// q.put(1)?;
/// let err = q.put_timeout(2, Duration::from_millis(5)).unwrap_err();
/// assert!(matches!(err, PutTimeoutError::Timeout(2)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
pub enum PutTimeoutError<T> {
    /// The queue stayed full (or, for a large message, every blob chunk of its size class
    /// stayed in use) until the timeout passed.
    Timeout(T),
    /// As [`PutError::TooLarge`].
    TooLarge {
        /// The item.
        item: T,
        /// Its encoded length in bytes.
        len: usize,
        /// The queue's maximum message size.
        max: usize,
    },
    /// As [`PutError::Encode`].
    Encode {
        /// The item.
        item: T,
        /// Why it could not be encoded.
        error: EncodeError,
    },
    /// As [`PutError::Corrupt`].
    Corrupt(T),
    /// As [`PutError::Closed`].
    Closed(T),
}

/// Why a [`put_nowait`](crate::Queue::put_nowait) did not happen: as [`PutError`], or `Full`
/// (Python's `queue.Full`). The item comes back inside the error; the queue is unchanged.
///
/// # Examples
///
/// ```
/// use host_runtime::{PutNowaitError, Queue};
///
/// let q = Queue::<String>::new(1)?;
/// q.put("first".to_string())?;
/// match q.put_nowait("second".to_string()) {
///     Err(PutNowaitError::Full(item)) => assert_eq!(item, "second"),
///     other => panic!("expected Full, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
pub enum PutNowaitError<T> {
    /// The queue is full (or, for a large message, every blob chunk of its size class is in
    /// use).
    Full(T),
    /// As [`PutError::TooLarge`].
    TooLarge {
        /// The item.
        item: T,
        /// Its encoded length in bytes.
        len: usize,
        /// The queue's maximum message size.
        max: usize,
    },
    /// As [`PutError::Encode`].
    Encode {
        /// The item.
        item: T,
        /// Why it could not be encoded.
        error: EncodeError,
    },
    /// As [`PutError::Corrupt`].
    Corrupt(T),
    /// As [`PutError::Closed`].
    Closed(T),
}

/// The impls the put errors share; `$waited` is the extra variant (if any) and `$text` its
/// `Display` text; `$encode` names the `Encode` variant of the typed family (the raw one has
/// none).
macro_rules! put_error_impls {
    ($ty:ident $(, $waited:ident, $text:literal)? $(; $encode:ident)?) => {
        impl<T> $ty<T> {
            /// The item that was not put.
            pub fn into_inner(self) -> T {
                match self {
                    $(Self::$waited(item) => item,)?
                    $(Self::$encode { item, .. } => item,)?
                    Self::TooLarge { item, .. } | Self::Corrupt(item) | Self::Closed(item) => item,
                }
            }
        }

        // Like `std::sync::mpsc::SendError`: no `T: Debug` bound, the item is not shown.
        impl<T> fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Self::$waited(_) => f.write_str(concat!(stringify!($waited), "(..)")),)?
                    Self::TooLarge { len, max, .. } => f
                        .debug_struct("TooLarge")
                        .field("len", len)
                        .field("max", max)
                        .finish_non_exhaustive(),
                    $(Self::$encode { error, .. } => f
                        .debug_struct(stringify!($encode))
                        .field("error", error)
                        .finish_non_exhaustive(),)?
                    Self::Corrupt(_) => f.write_str("Corrupt(..)"),
                    Self::Closed(_) => f.write_str("Closed(..)"),
                }
            }
        }

        impl<T> fmt::Display for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Self::$waited(_) => f.write_str($text),)?
                    Self::TooLarge { len, max, .. } => write!(
                        f,
                        "message of {len} bytes is larger than the queue's maximum of {max} bytes"
                    ),
                    $(Self::$encode { error, .. } => error.fmt(f),)?
                    Self::Corrupt(_) => f.write_str("queue memory is corrupt"),
                    Self::Closed(_) => f.write_str(CLOSED),
                }
            }
        }

        impl<T> std::error::Error for $ty<T> {
            $(
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                match self {
                    Self::$encode { error, .. } => Some(error),
                    _ => None,
                }
            }
            )?
        }

        $(
        impl<T> $ty<T> {
            /// The error of a call that ran out of waiting, handing `item` back.
            pub(crate) fn waited(item: T) -> Self {
                Self::$waited(item)
            }
        }
        )?
    };
}

/// `From<$from<T>> for $ty<T>`, variant for variant: a narrower put error into a wider one
/// (the blocking form's into a waiting form's, a raw one into its typed counterpart).
macro_rules! put_error_from {
    ($from:ident => $ty:ident $(, $waited:ident)? $(; $encode:ident)?) => {
        impl<T> From<$from<T>> for $ty<T> {
            fn from(e: $from<T>) -> Self {
                match e {
                    $($from::$waited(item) => Self::$waited(item),)?
                    $from::TooLarge { item, len, max } => Self::TooLarge { item, len, max },
                    $($from::$encode { item, error } => Self::$encode { item, error },)?
                    $from::Corrupt(item) => Self::Corrupt(item),
                    $from::Closed(item) => Self::Closed(item),
                }
            }
        }
    };
}

put_error_impls!(PutError; Encode);
put_error_impls!(
    PutTimeoutError,
    Timeout,
    "timed out waiting for room in the queue";
    Encode
);
put_error_impls!(PutNowaitError, Full, "queue is full"; Encode);
put_error_from!(PutError => PutTimeoutError; Encode);
put_error_from!(PutError => PutNowaitError; Encode);

/// Why a [`get`](crate::Queue::get) (which waits for an item as long as it takes) returned no
/// item.
///
/// # Examples
///
/// ```
/// use host_runtime::{GetError, Queue, RawQueue};
///
/// # let _ = RawQueue::unlink_named("doc-get-error");
/// let q = Queue::<bool>::builder().maxsize(2).create_named("doc-get-error")?;
/// let raw = RawQueue::open_named("doc-get-error")?;
/// RawQueue::unlink_named("doc-get-error")?;
/// raw.put([2])?; // not a bool
/// assert!(matches!(q.get(), Err(GetError::Decode(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum GetError {
    /// The message was taken off the queue but is not a valid encoding of the item type (a
    /// producer used another type, or another process garbled it); it is dropped. A message
    /// with bytes left over after the item is not one either
    /// ([`DecodeErrorKind::TrailingBytes`](crate::DecodeErrorKind::TrailingBytes)).
    Decode(DecodeError),
    /// The shared memory holds an impossible state (written by a foreign or broken process).
    Corrupt,
    /// This process closed the queue ([`Queue::close`](crate::Queue::close)): it gets no more
    /// (Python raises `ValueError: Queue ... is closed`).
    Closed,
}

/// Why a [`get_timeout`](crate::Queue::get_timeout) returned no item: as [`GetError`], or
/// `Timeout`.
///
/// # Examples
///
/// ```
/// use host_runtime::{GetTimeoutError, Queue};
/// use std::time::Duration;
///
/// let q = Queue::<u8>::new(2)?;
/// assert!(matches!(q.get_timeout(Duration::from_millis(5)), Err(GetTimeoutError::Timeout)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum GetTimeoutError {
    /// The queue stayed empty until the timeout passed.
    Timeout,
    /// As [`GetError::Decode`].
    Decode(DecodeError),
    /// As [`GetError::Corrupt`].
    Corrupt,
    /// As [`GetError::Closed`].
    Closed,
}

/// Why a [`get_nowait`](crate::Queue::get_nowait) returned no item: as [`GetError`], or
/// `Empty` (Python's `queue.Empty`).
///
/// # Examples
///
/// ```
/// use host_runtime::{GetNowaitError, Queue};
///
/// let q = Queue::<u32>::new(4)?;
/// assert!(matches!(q.get_nowait(), Err(GetNowaitError::Empty)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum GetNowaitError {
    /// The queue is empty.
    Empty,
    /// As [`GetError::Decode`].
    Decode(DecodeError),
    /// As [`GetError::Corrupt`].
    Corrupt,
    /// As [`GetError::Closed`].
    Closed,
}

/// The impls the get errors share, as [`put_error_impls`]; `$decode` names the `Decode`
/// variant of the typed family.
macro_rules! get_error_impls {
    ($ty:ident $(, $waited:ident, $text:literal)? $(; $decode:ident)?) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Self::$waited => f.write_str($text),)?
                    $(Self::$decode(e) => write!(f, "{e} (the message is dropped)"),)?
                    Self::Corrupt => f.write_str("queue memory is corrupt"),
                    Self::Closed => f.write_str(CLOSED),
                }
            }
        }

        impl std::error::Error for $ty {
            $(
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                match self {
                    Self::$decode(e) => Some(e),
                    _ => None,
                }
            }
            )?
        }

        $(
        impl From<DecodeError> for $ty {
            fn from(e: DecodeError) -> Self {
                Self::$decode(e)
            }
        }
        )?

        $(
        impl $ty {
            /// The error of a call that ran out of waiting.
            pub(crate) fn waited() -> Self {
                Self::$waited
            }
        }
        )?
    };
}

/// `From<$from> for $ty`, as [`put_error_from`].
macro_rules! get_error_from {
    ($from:ident => $ty:ident $(, $waited:ident)? $(; $decode:ident)?) => {
        impl From<$from> for $ty {
            fn from(e: $from) -> Self {
                match e {
                    $($from::$waited => Self::$waited,)?
                    $($from::$decode(e) => Self::$decode(e),)?
                    $from::Corrupt => Self::Corrupt,
                    $from::Closed => Self::Closed,
                }
            }
        }
    };
}

get_error_impls!(GetError; Decode);
get_error_impls!(GetTimeoutError, Timeout, "timed out waiting for a message"; Decode);
get_error_impls!(GetNowaitError, Empty, "queue is empty"; Decode);
get_error_from!(GetError => GetTimeoutError; Decode);
get_error_from!(GetError => GetNowaitError; Decode);

/// Why a [`RawQueue::put`](crate::RawQueue::put) (which waits for room as long as it takes)
/// did not happen: as [`PutError`] less `Encode` (bytes need no encoding). The message comes
/// back inside the error; the queue is unchanged.
///
/// # Examples
///
/// ```
/// use host_runtime::{RawPutError, RawQueue};
///
/// let q = RawQueue::builder().maxsize(1).max_message_size(200).build_raw()?;
/// match q.put(vec![0; 300]) {
///     Err(RawPutError::TooLarge { item, max, .. }) => assert_eq!((item.len(), max), (300, 200)),
///     other => panic!("expected TooLarge, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
pub enum RawPutError<B> {
    /// The message is longer than the queue's maximum message size.
    TooLarge {
        /// The message.
        item: B,
        /// Its length in bytes.
        len: usize,
        /// The queue's maximum message size.
        max: usize,
    },
    /// As [`PutError::Corrupt`].
    Corrupt(B),
    /// As [`PutError::Closed`] ([`RawQueue::close`](crate::RawQueue::close)).
    Closed(B),
}

/// Why a [`RawQueue::put_timeout`](crate::RawQueue::put_timeout) did not happen: as
/// [`RawPutError`], or `Timeout`. The message comes back inside the error.
///
/// # Examples
///
/// ```
/// use host_runtime::{RawPutTimeoutError, RawQueue};
/// use std::time::Duration;
///
/// let q = RawQueue::new(1)?;
/// q.put(b"a")?;
/// let err = q.put_timeout(b"b", Duration::from_millis(5)).unwrap_err();
/// assert!(matches!(err, RawPutTimeoutError::Timeout(b"b")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
pub enum RawPutTimeoutError<B> {
    /// As [`PutTimeoutError::Timeout`].
    Timeout(B),
    /// As [`RawPutError::TooLarge`].
    TooLarge {
        /// The message.
        item: B,
        /// Its length in bytes.
        len: usize,
        /// The queue's maximum message size.
        max: usize,
    },
    /// As [`RawPutError::Corrupt`].
    Corrupt(B),
    /// As [`RawPutError::Closed`].
    Closed(B),
}

/// Why a [`RawQueue::put_nowait`](crate::RawQueue::put_nowait) did not happen: as
/// [`RawPutError`], or `Full` (Python's `queue.Full`). The message comes back inside the error.
///
/// # Examples
///
/// ```
/// use host_runtime::{RawPutNowaitError, RawQueue};
///
/// let q = RawQueue::new(1)?;
/// q.put(b"a")?;
/// assert!(matches!(q.put_nowait(b"b"), Err(RawPutNowaitError::Full(b"b"))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
pub enum RawPutNowaitError<B> {
    /// As [`PutNowaitError::Full`].
    Full(B),
    /// As [`RawPutError::TooLarge`].
    TooLarge {
        /// The message.
        item: B,
        /// Its length in bytes.
        len: usize,
        /// The queue's maximum message size.
        max: usize,
    },
    /// As [`RawPutError::Corrupt`].
    Corrupt(B),
    /// As [`RawPutError::Closed`].
    Closed(B),
}

put_error_impls!(RawPutError);
put_error_impls!(
    RawPutTimeoutError,
    Timeout,
    "timed out waiting for room in the queue"
);
put_error_impls!(RawPutNowaitError, Full, "queue is full");
put_error_from!(RawPutError => RawPutTimeoutError);
put_error_from!(RawPutError => RawPutNowaitError);
put_error_from!(RawPutError => PutError);
put_error_from!(RawPutTimeoutError => PutTimeoutError, Timeout);
put_error_from!(RawPutNowaitError => PutNowaitError, Full);

/// Why a [`RawQueue::get`](crate::RawQueue::get) (which waits for a message as long as it
/// takes) returned none: as [`GetError`] less `Decode` (bytes need no decoding).
///
/// # Examples
///
/// ```
/// use host_runtime::{RawGetError, RawQueue};
///
/// let q = RawQueue::new(2)?;
/// q.close();
/// assert_eq!(q.get(), Err(RawGetError::Closed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawGetError {
    /// As [`GetError::Corrupt`].
    Corrupt,
    /// As [`GetError::Closed`] ([`RawQueue::close`](crate::RawQueue::close)).
    Closed,
}

/// Why a [`RawQueue::get_timeout`](crate::RawQueue::get_timeout) returned no message: as
/// [`RawGetError`], or `Timeout`.
///
/// # Examples
///
/// ```
/// use host_runtime::{RawGetTimeoutError, RawQueue};
/// use std::time::Duration;
///
/// let q = RawQueue::new(2)?;
/// assert_eq!(q.get_timeout(Duration::from_millis(5)), Err(RawGetTimeoutError::Timeout));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawGetTimeoutError {
    /// As [`GetTimeoutError::Timeout`].
    Timeout,
    /// As [`RawGetError::Corrupt`].
    Corrupt,
    /// As [`RawGetError::Closed`].
    Closed,
}

/// Why a [`RawQueue::get_nowait`](crate::RawQueue::get_nowait) returned no message: as
/// [`RawGetError`], or `Empty` (Python's `queue.Empty`).
///
/// # Examples
///
/// ```
/// use host_runtime::{RawGetNowaitError, RawQueue};
///
/// let q = RawQueue::new(2)?;
/// assert_eq!(q.get_nowait(), Err(RawGetNowaitError::Empty));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawGetNowaitError {
    /// As [`GetNowaitError::Empty`].
    Empty,
    /// As [`RawGetError::Corrupt`].
    Corrupt,
    /// As [`RawGetError::Closed`].
    Closed,
}

get_error_impls!(RawGetError);
get_error_impls!(
    RawGetTimeoutError,
    Timeout,
    "timed out waiting for a message"
);
get_error_impls!(RawGetNowaitError, Empty, "queue is empty");
get_error_from!(RawGetError => RawGetTimeoutError);
get_error_from!(RawGetError => RawGetNowaitError);
get_error_from!(RawGetError => GetError);
get_error_from!(RawGetError => GetTimeoutError);
get_error_from!(RawGetError => GetNowaitError);
get_error_from!(RawGetTimeoutError => GetTimeoutError, Timeout);
get_error_from!(RawGetNowaitError => GetNowaitError, Empty);

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
        pid: Option<Pid>,
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
