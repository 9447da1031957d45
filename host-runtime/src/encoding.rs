//! [`EncodeError`] and [`DecodeError`]: why an item could not be turned into a message or back.
//!
//! Items travel as their serde encoding (postcard today). Byte payloads (`Vec<u8>`, `String`,
//! and a pool's sequences of them) are written and read as blocks, and integer items (`u64`,
//! `u32`, `usize`, `i64`, `i32`) as their varint, on the same wire (`payload`, `int`). These
//! two types are ours, and opaque, so the encoder's own error type (and its version) is not
//! part of this crate's API: the encoder's error is reachable only as
//! [`source`](std::error::Error::source) and through `Display`.

use std::fmt;

pub(crate) mod depth;
pub(crate) mod int;
pub(crate) mod payload;

/// An item could not be encoded: its `Serialize` implementation failed, or it is a shape the
/// encoding can't hold (e.g. a sequence of unknown length). Encoding it again fails again.
///
/// # Examples
///
/// ```
/// use host_runtime::{PutError, Queue};
///
/// struct Refuses;
/// impl serde::Serialize for Refuses {
///     fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
///         Err(serde::ser::Error::custom("not today"))
///     }
/// }
/// # impl<'de> serde::Deserialize<'de> for Refuses {
/// #     fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
/// #         Ok(Refuses)
/// #     }
/// # }
///
/// let q = Queue::<Refuses>::new(1)?;
/// match q.put(Refuses) {
///     Err(PutError::Encode { error, .. }) => println!("{error}"),
///     other => panic!("expected Encode, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct EncodeError(postcard::Error);

impl EncodeError {
    pub(crate) fn new(error: postcard::Error) -> EncodeError {
        EncodeError(error)
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not encode the item: {}", self.0)
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// What was wrong with a message that did not decode; see [`DecodeError::kind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The message ends before the item does.
    Truncated,
    /// The message holds an item and then more bytes: it is not one item of this type (e.g. a
    /// `u64` of 300 read as a `u8`).
    TrailingBytes,
    /// The bytes are not an encoding of the item type (a wrong tag, length or value, or the
    /// type's `Deserialize` implementation refused them), or the item nests more than 128
    /// levels deep (options, sequences, structs, enums within each other: a decode stops there
    /// rather than recurse off the stack).
    Invalid,
}

/// A message is not a valid encoding of the item type: a producer used another type, or
/// another process garbled it.
///
/// # Examples
///
/// ```
/// use host_runtime::{DecodeErrorKind, GetError, Queue, RawQueue};
///
/// # let _ = RawQueue::unlink_named("doc-decode-error");
/// let q = Queue::<u32>::builder().maxsize(2).create_named("doc-decode-error")?;
/// let raw = RawQueue::open_named("doc-decode-error")?;
/// RawQueue::unlink_named("doc-decode-error")?;
/// raw.put([0xff])?; // a varint that never ends
/// match q.get() {
///     Err(GetError::Decode(e)) => assert_eq!(e.kind(), DecodeErrorKind::Truncated),
///     other => panic!("expected Decode, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DecodeError {
    kind: DecodeErrorKind,
    /// The decoder's error; `None` for bytes left over after a valid item.
    source: Option<postcard::Error>,
}

impl DecodeError {
    pub(crate) fn new(error: postcard::Error) -> DecodeError {
        let kind = match error {
            postcard::Error::DeserializeUnexpectedEnd => DecodeErrorKind::Truncated,
            _ => DecodeErrorKind::Invalid,
        };
        DecodeError {
            kind,
            source: Some(error),
        }
    }

    pub(crate) fn trailing_bytes() -> DecodeError {
        DecodeError {
            kind: DecodeErrorKind::TrailingBytes,
            source: None,
        }
    }

    /// What was wrong with the message.
    pub fn kind(&self) -> DecodeErrorKind {
        self.kind
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, &self.source) {
            (DecodeErrorKind::TrailingBytes, _) => {
                f.write_str("could not decode the item: bytes left over after it")
            }
            (_, Some(e)) => write!(f, "could not decode the item: {e}"),
            (_, None) => f.write_str("could not decode the item"),
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Checks that `ours`, a decode of `bytes` as a `T`, is postcard's own: the same value and
/// rest, or the same error.
#[cfg(test)]
pub(crate) fn same_as_postcard<T>(bytes: &[u8], ours: Result<(T, &[u8]), postcard::Error>)
where
    T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let theirs = postcard::take_from_bytes::<T>(bytes);
    assert_eq!(
        ours,
        theirs,
        "{} from {bytes:x?}",
        std::any::type_name::<T>()
    );
}
