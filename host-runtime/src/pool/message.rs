//! The messages between the pool and its workers, and the shims a worker calls.
//!
//! Task message (parent → a worker's inbox), little-endian:
//!
//! | bytes    | field |
//! |----------|-------|
//! | `0`      | kind: [`TASK`] or [`STOP`] (a stop message is this byte alone) |
//! | `1..9`   | the task's handle in the pool tables ([`TaskHandle::to_bits`]) |
//! | `9..41`  | the call ([`ForkCall::to_bits`]): entry, shim, function, tag |
//! | `41..`   | the arguments, postcard-encoded (a chunk: a sequence of them) |
//!
//! Result message (a worker → its result queue):
//!
//! | bytes   | field |
//! |---------|-------|
//! | `0..8`  | the task's handle |
//! | `8`     | status: [`OK`], [`PANICKED`], [`DECODE`], [`ENCODE`] |
//! | `9..`   | `OK`: the postcard-encoded value; otherwise a UTF-8 message |
//!
//! **Long byte payloads travel as a tail.** When the value of a message (the arguments of an
//! `apply` or of a one-item chunk, or such a result) is one `Vec<u8>` or `String` of at least
//! [`TAIL_MIN`] bytes, the bytes on the wire are the same, but the process that writes the
//! message keeps the payload in its own allocation (moved, not encoded into the message
//! buffer) and writes the message's two parts straight into the blob chunk; the process that
//! reads it copies the first bytes out, decides from that private copy where the payload starts
//! ([`tail_start`]), and reads the payload out of shared memory straight into the allocation
//! that becomes the value ([`decode_parts`]). So a 1 MiB argument is copied twice between the
//! caller and `f` (into shared memory, out of it), and a 1 MiB result twice on its way back.

use std::any::Any;

use serde::de::DeserializeOwned;
use serde::Serialize;

use ipc_core::pool::TaskHandle;

use crate::encoding::payload::{self, VARINT_MAX};
use crate::sys::fncall::{ForkCall, Input, Output};

/// A task message.
pub(super) const TASK: u8 = 1;
/// Tells the worker to exit.
pub(super) const STOP: u8 = 2;
/// Where the handle lies in a task message.
const HANDLE: std::ops::Range<usize> = 1..9;
/// Where the call lies in a task message.
const CALL: std::ops::Range<usize> = 9..41;
/// The length of a task message's header.
pub(super) const TASK_HEADER: usize = 41;

/// The task returned; the payload is its value.
pub(super) const OK: u8 = 0;
/// The task panicked; the payload is the panic message.
pub(super) const PANICKED: u8 = 1;
/// The arguments could not be decoded (or the call was refused).
pub(super) const DECODE: u8 = 2;
/// The result could not be encoded, or is too large.
pub(super) const ENCODE: u8 = 3;
/// The length of a result message's header.
pub(super) const RESULT_HEADER: usize = 9;

/// The first byte of a shim's error message, saying which status it maps to.
const SHIM_DECODE: char = 'D';
const SHIM_ENCODE: char = 'E';

/// Starts a task message in `buf` (cleared): kind, a zero handle (set by [`set_handle`] when
/// the task is dispatched) and `call`; the caller appends the arguments.
pub(super) fn begin_task(buf: &mut Vec<u8>, call: ForkCall) {
    buf.clear();
    buf.push(TASK);
    buf.extend_from_slice(&0u64.to_le_bytes());
    for word in call.to_bits() {
        buf.extend_from_slice(&word.to_le_bytes());
    }
    debug_assert_eq!(buf.len(), TASK_HEADER);
}

/// Writes `handle` into the task message `msg`.
pub(super) fn set_handle(msg: &mut [u8], handle: TaskHandle) {
    msg[HANDLE].copy_from_slice(&handle.to_bits().to_le_bytes());
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let word: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(word))
}

/// The handle of a task message, if it is one.
pub(super) fn task_handle(msg: &[u8]) -> Option<TaskHandle> {
    if msg.first() != Some(&TASK) {
        return None;
    }
    u64_at(msg, HANDLE.start).map(TaskHandle::from_bits)
}

/// A decoded task message: handle, the call's numbers, the encoded arguments.
pub(super) struct Task<'a> {
    pub(super) handle: TaskHandle,
    pub(super) call: [u64; 4],
    pub(super) args: &'a [u8],
}

/// Decodes a task message; `None` if it is too short or not a task.
pub(super) fn parse_task(msg: &[u8]) -> Option<Task<'_>> {
    let handle = task_handle(msg)?;
    let mut call = [0u64; 4];
    for (i, word) in call.iter_mut().enumerate() {
        *word = u64_at(msg, CALL.start + 8 * i)?;
    }
    Some(Task {
        handle,
        call,
        args: msg.get(TASK_HEADER..)?,
    })
}

/// Starts a result message for `handle` in `buf` (cleared), with status [`OK`]; the value is
/// appended after it.
pub(super) fn begin_result(buf: &mut Vec<u8>, handle: TaskHandle) {
    buf.clear();
    buf.extend_from_slice(&handle.to_bits().to_le_bytes());
    buf.push(OK);
}

/// Turns the result message in `buf` into an error with `status` and `message`.
pub(super) fn fail_result(buf: &mut Vec<u8>, status: u8, message: &str) {
    buf.truncate(RESULT_HEADER);
    buf[RESULT_HEADER - 1] = status;
    buf.extend_from_slice(message.as_bytes());
}

/// Turns a shim's error message into a status and the message proper.
pub(super) fn shim_error(message: &str) -> (u8, &str) {
    if let Some(rest) = message.strip_prefix(SHIM_ENCODE) {
        (ENCODE, rest)
    } else if let Some(rest) = message.strip_prefix(SHIM_DECODE) {
        (DECODE, rest)
    } else {
        (DECODE, message)
    }
}

/// A decoded result message.
pub(super) struct Reply<'a> {
    pub(super) handle: TaskHandle,
    pub(super) status: u8,
    pub(super) payload: &'a [u8],
}

/// Decodes a result message; `None` if it is too short.
pub(super) fn parse_result(msg: &[u8]) -> Option<Reply<'_>> {
    Some(Reply {
        handle: TaskHandle::from_bits(u64_at(msg, 0)?),
        status: *msg.get(RESULT_HEADER - 1)?,
        payload: msg.get(RESULT_HEADER..)?,
    })
}

/// Appends the encoding of `value` to `out` (on an error, `out` may hold part of it): postcard's,
/// with byte payloads (`Vec<u8>`, `String`, and sequences of them) moved as blocks.
pub(super) fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), postcard::Error> {
    payload::encode_to_vec(value, out)
}

/// Byte payloads at least this long travel as a message's *tail*: in an allocation of their
/// own, moved rather than copied into the message buffer, and read out of shared memory
/// straight into the allocation that becomes the value (see [`tail_start`]).
pub(super) const TAIL_MIN: usize = 16 << 10;

/// The bytes of a long message read to find its tail: the header and two varints.
pub(super) const fn head_len(header: usize) -> usize {
    header + 2 * VARINT_MAX
}

/// Where the tail of a message of `len` bytes starts, from its first bytes `head` (a private
/// copy), if the value that starts at `at` ends in one byte payload that runs to the
/// message's end: a varint length and that many bytes (an `apply`'s `Vec<u8>` or `String`),
/// or a sequence of one such (a chunk of one item). `None` otherwise. Whatever the bytes,
/// [`decode_parts`] decodes the same value from the head and the tail as from the whole.
pub(super) fn tail_start(head: &[u8], at: usize, len: usize) -> Option<usize> {
    let mut at = at;
    let (n, size) = payload::read_varint(head.get(at..)?).ok()?;
    at += size;
    if at.checked_add(n) == Some(len) {
        return Some(at);
    }
    if n != 1 {
        return None;
    }
    let (n, size) = payload::read_varint(head.get(at..)?).ok()?;
    at += size;
    (at.checked_add(n) == Some(len)).then_some(at)
}

/// Decodes a `T` from the encoding `head` followed by `tail`. A byte payload type whose head is
/// exactly the tail's length is the tail, unchanged (no copy); anything else is decoded from
/// the two parts laid end to end, as from one message.
pub(super) fn decode_parts<T: DeserializeOwned>(
    head: &[u8],
    tail: Vec<u8>,
) -> Result<T, postcard::Error> {
    if payload::is_payload::<T>() && head == payload::Varint::new(tail.len()).as_bytes() {
        return payload::from_payload(tail);
    }
    let mut bytes = Vec::with_capacity(head.len() + tail.len());
    bytes.extend_from_slice(head);
    bytes.extend_from_slice(&tail);
    payload::from_bytes(&bytes)
}

/// [`decode_parts`] of a sequence of `T` (a chunk): a sequence of one byte payload whose head
/// is exactly the count and the tail's length is the tail, unchanged.
pub(super) fn decode_parts_seq<T: DeserializeOwned>(
    head: &[u8],
    tail: Vec<u8>,
) -> Result<Vec<T>, postcard::Error> {
    if let Some(rest) = head.strip_prefix(&[1]) {
        if payload::is_payload::<T>() && rest == payload::Varint::new(tail.len()).as_bytes() {
            return decode_parts::<T>(rest, tail).map(|v| vec![v]);
        }
    }
    decode_parts(head, tail)
}

/// The bytes of `value` if it is a `Vec<u8>` or a `String` (moved, not copied); `value` back
/// otherwise.
pub(super) fn into_payload<T: 'static>(value: T) -> Result<Vec<u8>, T> {
    let mut slot = Some(value);
    let any: &mut dyn Any = &mut slot;
    if let Some(Some(bytes)) = any.downcast_mut::<Option<Vec<u8>>>().map(Option::take) {
        return Ok(bytes);
    }
    if let Some(Some(text)) = any.downcast_mut::<Option<String>>().map(Option::take) {
        return Ok(text.into_bytes());
    }
    match slot {
        Some(value) => Err(value),
        None => unreachable!("taken only when it was a byte payload"),
    }
}

/// The bytes of `value` if it is a `Vec<u8>` or a `String` of at least [`TAIL_MIN`] bytes
/// (moved, not copied): what travels as a message's tail. `value` back otherwise.
pub(super) fn into_long_payload<T: 'static>(value: T) -> Result<Vec<u8>, T> {
    if payload::as_payload(&value).is_none_or(|b| b.len() < TAIL_MIN) {
        return Err(value);
    }
    into_payload(value)
}

/// Appends the encoding of `value` to `out.head`; a long byte payload ([`TAIL_MIN`]) has only
/// its length appended and becomes `out.tail` (moved): the message is the two laid end to end.
fn encode_output<R: Serialize + 'static>(value: R, out: &mut Output<'_>) -> Result<(), String> {
    match into_payload(value) {
        Ok(bytes) if bytes.len() >= TAIL_MIN => {
            out.head
                .extend_from_slice(payload::Varint::new(bytes.len()).as_bytes());
            out.tail = Some(bytes);
            Ok(())
        }
        Ok(bytes) => encode_into(&bytes[..], out.head).map_err(|e| format!("{SHIM_ENCODE}{e}")),
        Err(value) => encode_into(&value, out.head).map_err(|e| format!("{SHIM_ENCODE}{e}")),
    }
}

/// Decodes the arguments in `input`, as a `T` (`seq`: a sequence of them, a chunk).
fn decode_input<T: DeserializeOwned>(input: Input<'_>) -> Result<T, String> {
    match input.tail {
        None => payload::from_bytes(input.head),
        Some(tail) => decode_parts(input.head, tail),
    }
    .map_err(|e| format!("{SHIM_DECODE}the arguments in the worker: {e}"))
}

/// The shim of a single task: decode `A`, call `f`, encode `R` (a long byte payload as the
/// output's tail).
pub(super) fn apply_shim<A, R>(
    f: fn(A) -> R,
    input: Input<'_>,
    out: &mut Output<'_>,
) -> Result<(), String>
where
    A: DeserializeOwned,
    R: Serialize + 'static,
{
    let args: A = decode_input(input)?;
    encode_output(f(args), out)
}

/// The shim of a chunk of `map`/`imap`: decode a sequence of `A`, call `f` on each, encode the
/// sequence of `R` (a chunk of one long byte payload with the payload as the output's tail).
pub(super) fn chunk_shim<A, R>(
    f: fn(A) -> R,
    input: Input<'_>,
    out: &mut Output<'_>,
) -> Result<(), String>
where
    A: DeserializeOwned,
    R: Serialize + 'static,
{
    let items: Vec<A> = match input.tail {
        None => payload::from_bytes(input.head),
        Some(tail) => decode_parts_seq(input.head, tail),
    }
    .map_err(|e| format!("{SHIM_DECODE}the arguments in the worker: {e}"))?;
    let mut values: Vec<R> = items.into_iter().map(f).collect();
    if values.len() == 1 && payload::is_payload::<R>() {
        if let Some(value) = values.pop() {
            out.head.push(1); // the count, as postcard writes a sequence of one
            return encode_output(value, out);
        }
    }
    encode_into(&values, out.head).map_err(|e| format!("{SHIM_ENCODE}{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fncall::CallKey;

    fn inc(x: u32) -> u32 {
        x + 1
    }

    /// Splits `msg` (a value's encoding after `at` bytes of header) where [`tail_start`] says,
    /// if it does: the head and the tail.
    fn split(msg: &[u8], at: usize) -> Option<(&[u8], Vec<u8>)> {
        let mut head = [0u8; head_len(0)];
        let n = head.len().min(msg.len() - at);
        head[..n].copy_from_slice(&msg[at..at + n]);
        let start = tail_start(&head, 0, msg.len() - at)?;
        Some((&msg[at..at + start], msg[at + start..].to_vec()))
    }

    /// A value split at its tail decodes as the whole message does, whatever its type (a
    /// byte payload taken as it is, or anything else joined again), and an output's tail
    /// makes the same bytes as encoding the value at once.
    #[test]
    fn a_message_split_at_its_tail_decodes_as_the_whole() {
        let bytes: Vec<u8> = (0..TAIL_MIN as u32 + 5).map(|i| i as u8).collect();
        let mut whole = Vec::new();
        encode_into(&vec![bytes.clone()], &mut whole).unwrap();
        let (head, tail) = split(&whole, 0).expect("a sequence of one payload");
        assert_eq!(tail.len(), bytes.len());
        assert_eq!(
            decode_parts_seq::<Vec<u8>>(head, tail.clone()).unwrap(),
            std::slice::from_ref(&bytes)
        );
        // The same bytes read as another type: joined, as from the whole message.
        assert_eq!(
            decode_parts_seq::<Vec<u16>>(head, tail.clone()).ok(),
            payload::from_bytes::<Vec<Vec<u16>>>(&whole).ok()
        );
        assert!(decode_parts_seq::<String>(head, tail).is_err(), "not UTF-8");
        let mut whole = Vec::new();
        encode_into(&bytes, &mut whole).unwrap();
        let (head, tail) = split(&whole, 0).expect("one payload");
        assert_eq!(decode_parts::<Vec<u8>>(head, tail).unwrap(), bytes);
        // A value that does not end in one payload running to the end has no tail.
        let mut two = Vec::new();
        encode_into(&vec![bytes.clone(), vec![1]], &mut two).unwrap();
        assert!(split(&two, 0).is_none());

        // Outputs: a long payload goes to the tail, a short one into the head.
        for (value, long) in [(bytes.clone(), true), (vec![5u8; 10], false)] {
            let mut head = Vec::new();
            let mut out = Output::new(&mut head);
            encode_output(value.clone(), &mut out).unwrap();
            assert_eq!(out.tail.is_some(), long);
            let tail = out.tail.take().unwrap_or_default();
            let mut joined = head.clone();
            joined.extend_from_slice(&tail);
            let mut want = Vec::new();
            encode_into(&value, &mut want).unwrap();
            assert_eq!(joined, want);
        }
        let text = "é".repeat(TAIL_MIN);
        assert_eq!(into_payload(text.clone()), Ok(text.into_bytes()));
        assert_eq!(into_payload(7u32), Err(7));
    }

    #[test]
    fn task_and_result_messages_round_trip() {
        let key = CallKey::new();
        let call = ForkCall::new(&key, apply_shim::<u32, u32>, inc).unwrap();
        let mut msg = Vec::new();
        begin_task(&mut msg, call);
        encode_into(&41u32, &mut msg).unwrap();
        let handle = TaskHandle::from_bits(0x0000_0007_0000_0003);
        set_handle(&mut msg, handle);
        let task = parse_task(&msg).unwrap();
        assert_eq!(task.handle, handle);
        let call = ForkCall::from_bits(&key, task.call).unwrap();
        let mut out = Vec::new();
        begin_result(&mut out, task.handle);
        call.call(Input::whole(task.args), &mut Output::new(&mut out))
            .unwrap();
        let reply = parse_result(&out).unwrap();
        assert_eq!((reply.handle, reply.status), (handle, OK));
        assert_eq!(postcard::from_bytes::<u32>(reply.payload).unwrap(), 42);

        let err = call
            .call(Input::whole(&[]), &mut Output::new(&mut out))
            .unwrap_err();
        let (status, text) = shim_error(&err);
        assert_eq!(status, DECODE);
        fail_result(&mut out, status, text);
        let reply = parse_result(&out).unwrap();
        assert_eq!(reply.status, DECODE);
        assert!(std::str::from_utf8(reply.payload)
            .unwrap()
            .contains("arguments"));
        assert!(parse_task(&[STOP]).is_none());
    }
}
