//! The worker process: takes task messages from its inbox, runs them, puts result messages.
//!
//! A forked worker inherits everything in its [`WorkerCtx`]. A worker started with `Spawn` or
//! `Forkserver` runs [`exec_main`]: it gets its [`ExecArgs`] (the call key among them) through
//! its private arguments file, and the pool's shared memory as descriptors of memory files
//! (see `pool.rs`, "Start methods").

use std::fs::File;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use ipc_core::pool::{WorkerId, WorkerState};
use serde::{Deserialize, Serialize};

use super::message::{
    begin_result, fail_result, head_len, parse_task, shim_error, tail_start, DECODE, ENCODE, OK,
    PANICKED, RESULT_HEADER, TAIL_MIN, TASK, TASK_HEADER,
};
use super::result::panic_message;
use super::tables::Tables;
use crate::process::take_inherited_fd;
use crate::queue::{GetFail, Message, PutFail, RawPutNowaitError, RawQueue};
use crate::shm::SharedRegion;
use crate::sys::fncall::{CallKey, ForkCall, Input, Output};
use crate::sys::{self, Pid};
use crate::wait::{set_on_block, Deadline, OnBlock};

/// A worker's initializer.
#[derive(Clone)]
pub(super) enum Initializer {
    /// A closure ([`Builder::initializer`](super::Builder::initializer)): forked workers only.
    Closure(Arc<dyn Fn() + Send + Sync + 'static>),
    /// A sealed call of an `fn` and its encoded arguments
    /// ([`Builder::initializer_fn`](super::Builder::initializer_fn)): any start method.
    Call { call: ForkCall, args: Arc<[u8]> },
}

impl Initializer {
    fn run(&self) {
        match self {
            Initializer::Closure(f) => f(),
            Initializer::Call { call, args } => {
                if let Err(e) = call.call(Input::whole(args), &mut Output::new(&mut Vec::new())) {
                    panic!("the initializer could not run: {e}");
                }
            }
        }
    }
}

/// The shim of an initializer call: decodes the arguments, calls `f`.
pub(super) fn init_shim<A: serde::de::DeserializeOwned>(
    f: fn(A),
    input: Input<'_>,
    _: &mut Output<'_>,
) -> Result<(), String> {
    // An initializer's arguments come in one part (`Initializer::run`); any tail is joined.
    let joined;
    let bytes = match input.tail {
        None => input.head,
        Some(tail) => {
            joined = [input.head, &tail].concat();
            &joined[..]
        }
    };
    let args: A = crate::encoding::depth::from_bytes(bytes)
        .map_err(|e| format!("its arguments could not be decoded: {e}"))?;
    f(args);
    Ok(())
}

/// Everything a worker needs, moved into its process's closure before the fork.
pub(super) struct WorkerCtx {
    pub(super) id: WorkerId,
    pub(super) tables: Tables,
    pub(super) key: CallKey,
    pub(super) inbox: RawQueue,
    pub(super) results: RawQueue,
    /// The wake-up socket's write end (non-blocking), the pool's own (inherited at the fork).
    pub(super) wake: Arc<UnixStream>,
    pub(super) initializer: Option<Initializer>,
    pub(super) max_tasks: Option<u64>,
}

/// The worker's main loop; returning ends the process with exit code 0.
///
/// Exits after `max_tasks` tasks, on a stop message, or if its inbox is corrupt. A panic in
/// the initializer ends the process with exit code 1 (the pool replaces it).
pub(super) fn main(ctx: WorkerCtx) {
    if let Some(init) = &ctx.initializer {
        init.run();
    }
    let tables = ctx.tables.get();
    if tables.worker_started(ctx.id, std::process::id()).is_err() {
        return; // declared dead already (the pool is being terminated)
    }
    ctx.tables.stamp(ctx.id, WorkerState::Ready);
    // Shows this worker `blocked` while its task sleeps in one of our blocking calls (once
    // per worker process: the hook lives as long as the process).
    let hook: &'static BlockedHook = Box::leak(Box::new(BlockedHook {
        tables: ctx.tables.clone(),
        id: ctx.id,
    }));
    let mut msg = Vec::with_capacity(512);
    let mut out = Vec::with_capacity(512);
    // The allocation the next long argument is read into (see `take_task`): the last one
    // that came back as a result's tail, already faulted in.
    let mut spare: Vec<u8> = Vec::new();
    let mut done = 0u64;
    let max_result = ctx.results.max_message_size();
    // The last call checked: tasks usually repeat one function, and checking hashes.
    let mut last_call: Option<([u64; 4], ForkCall)> = None;
    loop {
        if ctx.max_tasks.is_some_and(|max| done >= max) {
            return;
        }
        let Ok(tail) = take_task(&ctx.inbox, &mut msg, &mut spare) else {
            return; // corrupt inbox: the pool sees us exit and takes our tasks back
        };
        let Some(task) = parse_task(&msg) else {
            return; // a stop message
        };
        // Fails for a task cancelled by `terminate` (or a stale handle): skip it.
        if tables.start(ctx.id, task.handle).is_err() {
            continue;
        }
        ctx.tables.stamp(ctx.id, WorkerState::Running);
        begin_result(&mut out, task.handle);
        let mut out_tail = None;
        let call = match last_call {
            Some((bits, call)) if bits == task.call => Some(call),
            _ => {
                let call = ForkCall::from_bits(&ctx.key, task.call);
                last_call = call.map(|c| (task.call, c));
                call
            }
        };
        match call {
            None => fail_result(&mut out, DECODE, "the task's call was refused (bad tag)"),
            Some(call) => {
                set_on_block(Some(hook));
                let input = Input {
                    head: task.args,
                    tail,
                };
                let mut output = Output::new(&mut out);
                let outcome =
                    panic::catch_unwind(AssertUnwindSafe(|| call.call(input, &mut output)));
                set_on_block(None);
                out_tail = output.tail.take();
                match outcome {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        let (status, text) = shim_error(&e);
                        fail_result(&mut out, status, text);
                    }
                    Err(payload) => {
                        let message = panic_message(&*payload);
                        // The panic hook reported it already; dropping the payload could
                        // panic again (as in `Process`).
                        std::mem::forget(payload);
                        fail_result(&mut out, PANICKED, &message);
                    }
                }
            }
        }
        let tail_len = out_tail.as_ref().map_or(0, Vec::len);
        if out[RESULT_HEADER - 1] != OK {
            out_tail = None; // a failure's message is in `out` alone
        } else if out.len() + tail_len > max_result {
            let len = out.len() + tail_len - RESULT_HEADER;
            out_tail = None;
            fail_result(
                &mut out,
                ENCODE,
                &format!(
                    "the result is {len} bytes long, more than the pool's maximum message \
                     size ({max_result} bytes with the header)"
                ),
            );
        }
        let ok = out[RESULT_HEADER - 1] == OK;
        // `finish` before `put`: once the parent reads the result, the task is done in the
        // table and can be released. If `finish` fails, the parent declared us dead: drop it.
        let finished = tables.finish(ctx.id, task.handle, ok).is_ok();
        if finished {
            ctx.tables.stamp(ctx.id, WorkerState::Ready);
        }
        if finished && !send(&ctx, &mut out, out_tail.as_deref()) {
            return;
        }
        if let Some(mut tail) = out_tail {
            // Kept for the next long argument, unless it is much longer than a message.
            if tail.capacity() <= max_result {
                tail.clear();
                spare = tail;
            }
        }
        done += 1;
    }
}

/// Takes the next task message from `inbox` into `msg`, waiting for one. A long message whose
/// arguments end in a byte payload (one `Vec<u8>` or `String`: see [`tail_start`]) has that
/// payload read into an allocation of its own instead, `spare`'s if it has one (else a new
/// one), returned as the tail: the argument takes it as it is. Either way each byte of the
/// message is read out of shared memory once, into private memory, and the split is decided
/// from that private copy of the message's first bytes.
fn take_task(
    inbox: &RawQueue,
    msg: &mut Vec<u8>,
    spare: &mut Vec<u8>,
) -> Result<Option<Vec<u8>>, GetFail> {
    inbox.get_with(Deadline::Never, |message| match message {
        Message::Inline(m) => {
            let len = m.len();
            m.read(fit(msg, len));
            None
        }
        Message::Blob(chunks, offset, len) => {
            if len >= TAIL_MIN {
                let mut head = [0u8; TASK_HEAD];
                chunks.read(offset, &mut head);
                if let Some(at) = (head[0] == TASK)
                    .then(|| tail_start(&head, TASK_HEADER, len))
                    .flatten()
                {
                    msg.clear();
                    msg.extend_from_slice(&head[..at]);
                    let mut tail = std::mem::take(spare);
                    tail.clear();
                    chunks.read_append(offset + at, len - at, &mut tail);
                    return Some(tail);
                }
            }
            chunks.read(offset, fit(msg, len));
            None
        }
    })
}

/// The bytes of a long task message read to find its tail.
const TASK_HEAD: usize = head_len(TASK_HEADER);

/// `buf` made exactly `len` bytes long (grown with zeros if shorter), to be overwritten.
fn fit(buf: &mut Vec<u8>, len: usize) -> &mut [u8] {
    buf.resize(len, 0);
    &mut buf[..]
}

/// Puts a result message, `out` followed by `tail` if there is one, and rings the doorbell;
/// `false` if the result queue is corrupt.
fn send(ctx: &WorkerCtx, out: &mut Vec<u8>, tail: Option<&[u8]>) -> bool {
    let tail = match tail {
        // Short enough for a ring slot, or for a copy that costs nothing: one part.
        Some(tail) if out.len() + tail.len() <= ctx.results.inline_max() => {
            out.extend_from_slice(tail);
            None
        }
        tail => tail,
    };
    let put = |deadline: Deadline| match tail {
        None => match deadline {
            Deadline::NoWait => match ctx.results.put_nowait(&out[..]) {
                Ok(()) => Ok(()),
                Err(RawPutNowaitError::Full(_)) => Err(true),
                Err(_) => Err(false),
            },
            _ => ctx.results.put(&out[..]).map_err(|_| false),
        },
        // Both parts written straight into the blob chunk: no copy of them joined first.
        Some(tail) => {
            let len = out.len() + tail.len();
            ctx.results
                .put_blob(len, deadline, |chunks, offset| {
                    chunks.write(offset, out);
                    chunks.write(offset + out.len(), tail);
                    Ok(len)
                })
                .map_err(|fail| matches!(fail, PutFail::Waited))
        }
    };
    let put = match put(Deadline::NoWait) {
        Ok(()) => true,
        Err(true) => {
            // Full: never happens while the pool keeps at most `prefetch` tasks in our
            // custody (the queue's capacity); wait for room, as `Blocked`, all the same.
            let tables = ctx.tables.get();
            let _ = tables.worker_blocked(ctx.id);
            let put = put(Deadline::Never);
            let _ = tables.worker_unblocked(ctx.id);
            put.is_ok()
        }
        Err(false) => false,
    };
    if !put {
        return false;
    }
    if ctx.tables.doorbell().notify() {
        // Non-blocking: a full socket already holds a wake-up.
        let _ = (&*ctx.wake).write(&[1]);
    }
    true
}

/// The worker's [`OnBlock`] hook, installed while a task runs: `Running ⇄ Blocked` in its slot
/// (a refused transition, e.g. when the pool declared the worker dead, changes nothing).
struct BlockedHook {
    tables: Tables,
    id: WorkerId,
}

impl OnBlock for BlockedHook {
    fn blocked(&self) {
        if self.tables.get().worker_blocked(self.id).is_ok() {
            self.tables.stamp(self.id, WorkerState::Blocked);
        }
    }

    fn unblocked(&self) {
        if self.tables.get().worker_unblocked(self.id).is_ok() {
            self.tables.stamp(self.id, WorkerState::Running);
        }
    }
}

/// What a worker started with `Spawn` or `Forkserver` is told, through its private arguments
/// file (never through shared memory: the call key is in it). Its descriptors, in the order
/// [`ExecArgs::FDS`] names, come beside it.
#[derive(Serialize, Deserialize)]
pub(super) struct ExecArgs {
    /// Its worker slot (the table holds the generation the pool gave it).
    pub(super) index: usize,
    /// The pool's call key ([`CallKey::to_parts`]).
    pub(super) key: (u64, u64, bool),
    /// Worker and task slots of the tables, and whether they follow a named pool's header.
    pub(super) workers: usize,
    pub(super) tasks: usize,
    pub(super) named: bool,
    pub(super) max_tasks: Option<u64>,
    /// The initializer's sealed call ([`ForkCall::to_bits`]) and encoded arguments.
    pub(super) init: Option<([u64; 4], Vec<u8>)>,
    /// The pool's process: a forkserver worker exits when it does.
    pub(super) owner: i32,
    pub(super) watch_owner: bool,
}

impl ExecArgs {
    /// The descriptors handed to the worker: the tables, its inbox, its result queue (memory
    /// files), the result thread's wake-up socket.
    pub(super) const FDS: usize = 4;
}

/// The entry of a worker started with `Spawn` or `Forkserver`: rebuilds its [`WorkerCtx`] from
/// `args` and the descriptors it was handed, then runs [`main`]. Anything missing or
/// malformed panics (the process exits with code 1, and the pool sees a dead worker).
pub(super) fn exec_main(args: ExecArgs) {
    // First: whatever happens next, this process must not outlive the pool's.
    if args.watch_owner {
        let watching = Pid::from_raw(args.owner)
            .ok_or(std::io::ErrorKind::InvalidInput.into())
            .and_then(crate::process::die_with_parent);
        if watching.is_err() {
            // Better no worker than one that could outlive its pool.
            sys::exit_immediately(1);
        }
    }
    let file = |i: usize| {
        File::from(take_inherited_fd(i).unwrap_or_else(|| panic!("pool worker: no descriptor {i}")))
    };
    let region = |i: usize| {
        SharedRegion::from_memfd(file(i))
            .unwrap_or_else(|e| panic!("pool worker: memory file {i}: {e}"))
    };
    let tables = Tables::attach(region(0), args.workers, args.tasks, args.named)
        .unwrap_or_else(|e| panic!("pool worker: {e}"));
    let queue = |i: usize| {
        RawQueue::attach(region(i)).unwrap_or_else(|e| panic!("pool worker: queue {i}: {e}"))
    };
    let (inbox, results) = (queue(1), queue(2));
    let wake = UnixStream::from(std::os::fd::OwnedFd::from(file(3)));
    let key = CallKey::from_parts(args.key);
    let initializer = args.init.map(|(bits, init_args)| Initializer::Call {
        call: ForkCall::from_bits(&key, bits)
            .unwrap_or_else(|| panic!("pool worker: the initializer's call was refused")),
        args: init_args.into(),
    });
    let id = tables
        .get()
        .worker(args.index)
        .unwrap_or_else(|| panic!("pool worker: no worker slot {}", args.index))
        .id;
    main(WorkerCtx {
        id,
        tables,
        key,
        inbox,
        results,
        wake: Arc::new(wake),
        initializer,
        max_tasks: args.max_tasks,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::payload::Varint;
    use crate::pool::builder::queue_builder;
    use crate::pool::message::{begin_task, chunk_shim, parse_result};

    fn shout(s: String) -> String {
        s.to_uppercase()
    }

    /// Garbled long task messages (what a buggy or hostile process could leave in an inbox):
    /// each one is taken whole, split or not as its bytes say, and the shim answers with an
    /// error or some value — never a panic — while a well-formed one still comes back right,
    /// in the allocation the worker kept.
    #[test]
    fn garbled_long_task_messages_decode_to_errors() {
        let key = CallKey::new();
        let call = ForkCall::new(&key, chunk_shim::<String, String>, shout).unwrap();
        let inbox = queue_builder(4, 4 << 20).build_raw().unwrap();
        let n = TAIL_MIN + 3;
        let message = |value: &[&[u8]]| {
            let mut msg = Vec::new();
            begin_task(&mut msg, call);
            value.iter().for_each(|part| msg.extend_from_slice(part));
            msg
        };
        let varint = |n: usize| Varint::new(n).as_bytes().to_vec();
        let not_utf8 = vec![0xffu8; n];
        let text = "é".repeat(n / 2);
        let cases: Vec<(Vec<u8>, bool)> = vec![
            // A sequence of one payload, not UTF-8: split, then refused.
            (message(&[&[1], &varint(n), &not_utf8]), false),
            // Two items claimed, one there.
            (message(&[&[2], &varint(n), &not_utf8]), false),
            // A length past the end.
            (message(&[&[1], &varint(n + 9), &not_utf8]), false),
            // One payload where a sequence is expected: a count of `n` items.
            (message(&[&varint(n), &not_utf8]), false),
            // A varint that never ends.
            (message(&[&[0xff; 12], &not_utf8]), false),
            // Well formed.
            (message(&[&[1], &varint(text.len()), text.as_bytes()]), true),
        ];
        let mut msg = Vec::new();
        let mut spare = Vec::with_capacity(2 * n);
        for (i, (bytes, good)) in cases.into_iter().enumerate() {
            inbox.put(&bytes[..]).unwrap();
            let tail = take_task(&inbox, &mut msg, &mut spare).unwrap();
            // Split where the private copy of its first bytes says a payload runs to the end.
            assert_eq!(tail.is_some(), [0, 3, 5].contains(&i), "case {i}");
            let task = parse_task(&msg).expect("a task");
            let mut out = Vec::new();
            begin_result(&mut out, task.handle);
            let mut output = Output::new(&mut out);
            let got = call.call(
                Input {
                    head: task.args,
                    tail,
                },
                &mut output,
            );
            assert_eq!(got.is_ok(), good, "case {i}: {got:?}");
            if good {
                let tail = output.tail.take().expect("a long result has a tail");
                out.extend_from_slice(&tail);
                let reply = parse_result(&out).unwrap();
                let value: Vec<String> =
                    crate::encoding::payload::from_bytes(reply.payload).unwrap();
                assert_eq!(value, [text.to_uppercase()]);
            }
        }
    }
}
