//! The typed path of a put and a get, shared by [`Queue`](super::Queue) and the channels:
//! an item encoded into a ring slot or a blob chunk, and a taken message decoded from a private
//! copy.
//!
//! **Put.** An integer item (`u64`, `u32`, `usize`, `i64`, `i32`: `crate::encoding::int`) is its
//! postcard varint, put as it is. A byte payload (`Vec<u8>`, `String`: `crate::encoding`'s fast
//! path) is its varint length and its bytes, written straight into the claimed ring slot (a
//! short message: one store per word, built from the two, `ipc_core::SlotWriter::write_parts`)
//! or copied as two blocks into the blob chunk (a long one). Any other item is encoded with postcard
//! into a stack buffer of the ring slot's size (a reused per-thread one if the queue's inline size
//! is larger than the default); one that does not fit is encoded into a per-thread buffer reused
//! from put to put (up to [`KEPT_BUF`] bytes), then copied into a blob chunk as one block.
//!
//! **Get.** The message is copied out of shared memory once (never decoded in place: another
//! process may rewrite it mid-decode), then decoded from the copy: a short one from a stack
//! buffer; a long byte payload straight into the value's own allocation (the copy *is* the
//! value); any other long one from a per-thread buffer reused from get to get (up to
//! [`KEPT_BUF`] bytes). Whatever the path, the decoder sees exactly the message's bytes,
//! never what an earlier message left in a buffer, and refuses bytes left over after the item.
//!
//! **Get into a value** (`Queue::get_into`): the same copies, decoded into the caller's value:
//! a byte payload into its allocation (cleared first), any other type by its
//! `deserialize_in_place`, under the same nesting limit and with the same errors.

use std::cell::RefCell;
use std::mem::MaybeUninit;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Hooks, Message, Parts, PutFail, RawQueue, MAX_INLINE};
use crate::encoding::int;
use crate::encoding::payload::{self, Varint, VARINT_MAX};
use crate::encoding::{DecodeError, EncodeError};
use crate::shared::region::SharedBytes;
use crate::sys::cast::cast_mut;
use crate::wait::Deadline;

/// The hooks of a plain queue's put: none.
pub(crate) struct Plain;

impl Hooks for Plain {}

/// The stack buffer of a short item's put: the default inline size fits.
const SHORT_STACK: usize = 128;

/// The largest encode or decode buffer a thread keeps between puts or gets; a longer message
/// is encoded into (decoded from) a buffer of its own, freed after.
const KEPT_BUF: usize = 1 << 20;

thread_local! {
    /// Where an item is encoded before it is copied into a ring slot, when the inline size is
    /// more than [`SHORT_STACK`].
    static ENCODE_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Where a long item is encoded before it is copied into a blob chunk.
    static LONG_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// The private copy a long message is decoded from.
    static DECODE_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Decodes one `T` that must take up all of `bytes`: bytes left over after it mean the message
/// is not a `T` (e.g. a `u64` of 300 read as a `u8`), reported as
/// [`DecodeErrorKind::TrailingBytes`](crate::DecodeErrorKind::TrailingBytes).
pub(crate) fn decode_all<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    match payload::take_from_bytes::<T>(bytes).map_err(DecodeError::new)? {
        (item, []) => Ok(item),
        (_, _rest) => Err(DecodeError::trailing_bytes()),
    }
}

/// [`decode_all`] into `place`, reusing what it owns where it can
/// ([`payload::take_into`]). On an error, `place` holds a valid value, possibly partly
/// overwritten.
pub(crate) fn decode_all_into<T: DeserializeOwned>(
    bytes: &[u8],
    place: &mut T,
) -> Result<(), DecodeError> {
    match payload::take_into::<T>(bytes, place).map_err(DecodeError::new)? {
        [] => Ok(()),
        _rest => Err(DecodeError::trailing_bytes()),
    }
}

/// Encodes `item` into `queue` by the shortest way its length allows, with `hooks` (a
/// channel's, or [`Plain`]).
#[inline]
pub(crate) fn put_item<T: Serialize + ?Sized, H: Hooks>(
    queue: &RawQueue,
    item: &T,
    deadline: Deadline,
    hooks: &H,
) -> Result<(), PutFail> {
    if let Some(varint) = int::as_varint(item) {
        return queue.put_inline_with(varint.as_bytes(), deadline, hooks);
    }
    if let Some(bytes) = payload::as_payload(item) {
        return put_payload(queue, bytes, deadline, hooks);
    }
    let inline_max = queue.inline_max();
    // Short items: encode into a buffer on the stack (or, for a queue with a larger inline size
    // than the default, a reused one), copy into a ring slot.
    let short = |buf: &mut [u8]| match postcard::to_slice(item, buf) {
        Ok(bytes) => Some(queue.put_inline_with(bytes, deadline, hooks)),
        Err(postcard::Error::SerializeBufferFull) => None,
        Err(error) => Some(Err(PutFail::Encode(EncodeError::new(error)))),
    };
    let short = if inline_max <= SHORT_STACK {
        short(&mut [0u8; SHORT_STACK][..inline_max])
    } else {
        ENCODE_BUF.with(|buf| {
            let Ok(mut buf) = buf.try_borrow_mut() else {
                // Re-entered from a `Serialize` impl: skip to the long path.
                return None;
            };
            if buf.len() < inline_max {
                buf.resize(inline_max, 0);
            }
            short(&mut buf[..inline_max])
        })
    };
    if let Some(result) = short {
        return result;
    }
    // Long items: encode into a reused per-thread buffer (one pass, a cheap push per byte),
    // then copy into a blob chunk as one block.
    let put = |buf: &mut Vec<u8>| {
        buf.clear();
        payload::encode_to_vec(item, buf).map_err(|e| PutFail::Encode(EncodeError::new(e)))?;
        let len = buf.len();
        if len <= inline_max {
            // Only when re-entered (see above), with a large inline size.
            return queue.put_inline_with(&buf[..], deadline, hooks);
        }
        queue.put_blob_with(len, deadline, hooks, |chunks, offset| {
            chunks.write(offset, buf);
            Ok(len)
        })
    };
    LONG_BUF
        .with(|buf| {
            let mut buf = buf.try_borrow_mut().ok()?;
            let result = put(&mut buf);
            if buf.capacity() > KEPT_BUF {
                *buf = Vec::new();
            }
            Some(result)
        })
        // Re-entered from a `Serialize` impl: a buffer of its own.
        .unwrap_or_else(|| put(&mut Vec::new()))
}

/// Puts a byte payload: its varint length, then its bytes, in two block copies: straight
/// into the claimed ring slot (a short message: [`Parts`]) or into the blob chunk (a long one).
#[inline]
fn put_payload<H: Hooks>(
    queue: &RawQueue,
    bytes: &[u8],
    deadline: Deadline,
    hooks: &H,
) -> Result<(), PutFail> {
    let prefix = Varint::new(bytes.len());
    let prefix = prefix.as_bytes();
    let len = prefix.len() + bytes.len();
    if len <= queue.inline_max() {
        let parts = Parts {
            head: prefix,
            body: bytes,
        };
        return queue.put_inline_with(&parts, deadline, hooks);
    }
    queue.put_blob_with(len, deadline, hooks, |chunks, offset| {
        chunks.write(offset, prefix);
        chunks.write(offset + prefix.len(), bytes);
        Ok(len)
    })
}

/// Decodes a taken message into a `T`, from a private copy (see the module docs).
#[inline]
pub(crate) fn decode_message<T: DeserializeOwned>(message: Message<'_>) -> Result<T, DecodeError> {
    match message {
        // Decoded from a private copy on the stack (not zeroed first: `read_uninit`), never
        // from the slot, which another process may rewrite mid-decode.
        Message::Inline(m) => {
            let mut buf = [MaybeUninit::uninit(); MAX_INLINE + 1];
            decode_all::<T>(m.read_uninit(&mut buf))
        }
        Message::Blob(chunks, offset, len) if payload::is_payload::<T>() => {
            read_payload(chunks, offset, len)
        }
        Message::Blob(chunks, offset, len) => with_copy(chunks, offset, len, decode_all::<T>),
    }
}

/// Runs `f` on a private copy of the `len` bytes at `offset` in `chunks`: in this thread's
/// kept buffer when it is free and long enough, else in a new one.
fn with_copy<R>(chunks: &SharedBytes, offset: usize, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
    let mut f = Some(f);
    let kept = DECODE_BUF.with(|buf| {
        let mut buf = buf.try_borrow_mut().ok().filter(|_| len <= KEPT_BUF)?;
        if buf.len() < len {
            buf.resize(len, 0);
        }
        let copy = &mut buf[..len];
        chunks.read(offset, copy);
        f.take().map(|f| f(copy))
    });
    kept.unwrap_or_else(|| {
        // Too long to keep, or re-entered from a `Deserialize` impl.
        let Some(f) = f.take() else {
            unreachable!("`f` runs at most once, and then `kept` holds its result")
        };
        let mut buf = vec![0; len];
        chunks.read(offset, &mut buf);
        f(&buf)
    })
}

/// [`decode_message`] into `place`, reusing what it owns where it can: a long `Vec<u8>` is
/// read straight into its allocation, a long `String` too (then checked as UTF-8), and other
/// types as [`decode_all_into`] decodes them. On an error, `place` holds a valid value,
/// possibly partly overwritten (a `Vec<u8>` or `String` is left empty).
#[inline]
pub(crate) fn decode_message_into<T: DeserializeOwned>(
    message: Message<'_>,
    place: &mut T,
) -> Result<(), DecodeError> {
    match message {
        Message::Inline(m) => {
            let mut buf = [MaybeUninit::uninit(); MAX_INLINE + 1];
            decode_all_into(m.read_uninit(&mut buf), place)
        }
        Message::Blob(chunks, offset, len) if payload::is_payload::<T>() => {
            if let Some(v) = cast_mut::<T, Vec<u8>>(place) {
                v.clear();
                return read_payload_into(chunks, offset, len, v);
            }
            if let Some(s) = cast_mut::<T, String>(place) {
                let mut bytes = std::mem::take(s).into_bytes();
                bytes.clear();
                read_payload_into(chunks, offset, len, &mut bytes)?;
                return match String::from_utf8(bytes) {
                    Ok(text) => {
                        *s = text;
                        Ok(())
                    }
                    Err(_) => Err(DecodeError::new(postcard::Error::DeserializeBadUtf8)),
                };
            }
            unreachable!("a byte payload is a Vec<u8> or a String")
        }
        Message::Blob(chunks, offset, len) => {
            with_copy(chunks, offset, len, |copy| decode_all_into(copy, place))
        }
    }
}

/// Decodes a long byte payload (`T` is `Vec<u8>` or `String`) of `len` bytes at `offset`:
/// the varint length into a stack buffer, the bytes straight into the value's allocation.
/// Each byte of shared memory is read once.
fn read_payload<T: DeserializeOwned>(
    chunks: &SharedBytes,
    offset: usize,
    len: usize,
) -> Result<T, DecodeError> {
    // Read into the value's allocation as it is made: no zero-fill first.
    let mut bytes = Vec::new();
    read_payload_into(chunks, offset, len, &mut bytes)?;
    payload::from_payload(bytes).map_err(DecodeError::new)
}

/// The bytes of a long byte payload of `len` bytes at `offset`, appended to `out` (each byte of
/// shared memory read once: the varint length into a stack buffer, the bytes into `out`).
fn read_payload_into(
    chunks: &SharedBytes,
    offset: usize,
    len: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let mut head = [0u8; VARINT_MAX];
    let head = &mut head[..len.min(VARINT_MAX)];
    chunks.read(offset, head);
    let (n, at) = payload::read_varint(head).map_err(DecodeError::new)?;
    match at.checked_add(n) {
        Some(end) if end == len => {}
        Some(end) if end < len => return Err(DecodeError::trailing_bytes()),
        _ => return Err(DecodeError::new(postcard::Error::DeserializeUnexpectedEnd)),
    }
    chunks.read_append(offset + at, n, out);
    Ok(())
}
