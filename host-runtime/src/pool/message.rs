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

use serde::de::DeserializeOwned;
use serde::Serialize;

use ipc_core::pool::TaskHandle;

use crate::encoding::payload;
use crate::sys::fncall::ForkCall;

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

/// The shim of a single task: decode `A`, call `f`, encode `R`.
pub(super) fn apply_shim<A, R>(f: fn(A) -> R, input: &[u8], out: &mut Vec<u8>) -> Result<(), String>
where
    A: DeserializeOwned,
    R: Serialize,
{
    let args: A = payload::from_bytes(input)
        .map_err(|e| format!("{SHIM_DECODE}the arguments in the worker: {e}"))?;
    let value = f(args);
    encode_into(&value, out).map_err(|e| format!("{SHIM_ENCODE}{e}"))
}

/// The shim of a chunk of `map`/`imap`: decode a sequence of `A`, call `f` on each, encode the
/// sequence of `R`.
pub(super) fn chunk_shim<A, R>(f: fn(A) -> R, input: &[u8], out: &mut Vec<u8>) -> Result<(), String>
where
    A: DeserializeOwned,
    R: Serialize,
{
    let items: Vec<A> = payload::from_bytes(input)
        .map_err(|e| format!("{SHIM_DECODE}the arguments in the worker: {e}"))?;
    let values: Vec<R> = items.into_iter().map(f).collect();
    encode_into(&values, out).map_err(|e| format!("{SHIM_ENCODE}{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fncall::CallKey;

    fn inc(x: u32) -> u32 {
        x + 1
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
        call.call(task.args, &mut out).unwrap();
        let reply = parse_result(&out).unwrap();
        assert_eq!((reply.handle, reply.status), (handle, OK));
        assert_eq!(postcard::from_bytes::<u32>(reply.payload).unwrap(), 42);

        let err = call.call(&[], &mut out).unwrap_err();
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
