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
    begin_result, fail_result, parse_task, shim_error, DECODE, ENCODE, OK, PANICKED, RESULT_HEADER,
};
use super::result::panic_message;
use super::tables::Tables;
use crate::process::take_inherited_fd;
use crate::queue::{RawPutNowaitError, RawQueue};
use crate::shm::SharedRegion;
use crate::sys::fncall::{CallKey, ForkCall};
use crate::sys::{self, Pid};
use crate::wait::{set_on_block, OnBlock};

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
                if let Err(e) = call.call(args, &mut Vec::new()) {
                    panic!("the initializer could not run: {e}");
                }
            }
        }
    }
}

/// The shim of an initializer call: decodes the arguments, calls `f`.
pub(super) fn init_shim<A: serde::de::DeserializeOwned>(
    f: fn(A),
    input: &[u8],
    _: &mut Vec<u8>,
) -> Result<(), String> {
    let args: A = crate::encoding::depth::from_bytes(input)
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
    let mut done = 0u64;
    let max_result = ctx.results.max_message_size();
    // The last call checked: tasks usually repeat one function, and checking hashes.
    let mut last_call: Option<([u64; 4], ForkCall)> = None;
    loop {
        if ctx.max_tasks.is_some_and(|max| done >= max) {
            return;
        }
        if ctx.inbox.get_into(&mut msg).is_err() {
            return; // corrupt inbox: the pool sees us exit and takes our tasks back
        }
        let Some(task) = parse_task(&msg) else {
            return; // a stop message
        };
        // Fails for a task cancelled by `terminate` (or a stale handle): skip it.
        if tables.start(ctx.id, task.handle).is_err() {
            continue;
        }
        ctx.tables.stamp(ctx.id, WorkerState::Running);
        begin_result(&mut out, task.handle);
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
                let outcome =
                    panic::catch_unwind(AssertUnwindSafe(|| call.call(task.args, &mut out)));
                set_on_block(None);
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
        if out.len() > max_result {
            let len = out.len() - RESULT_HEADER;
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
        if finished && !send(&ctx, &out) {
            return;
        }
        done += 1;
    }
}

/// Puts a result message and rings the doorbell; `false` if the result queue is corrupt.
fn send(ctx: &WorkerCtx, out: &[u8]) -> bool {
    let put = match ctx.results.put_nowait(out) {
        Ok(()) => true,
        Err(RawPutNowaitError::Full(_)) => {
            // Never happens while the pool keeps at most `prefetch` tasks in our custody (the
            // queue's capacity); wait for room, as `Blocked`, all the same.
            let tables = ctx.tables.get();
            let _ = tables.worker_blocked(ctx.id);
            let put = ctx.results.put(out);
            let _ = tables.worker_unblocked(ctx.id);
            put.is_ok()
        }
        Err(_) => false,
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
