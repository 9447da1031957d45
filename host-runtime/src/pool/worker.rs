//! The worker process: takes task messages from its inbox, runs them, puts result messages.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use ipc_core::pool::{WorkerId, WorkerState};

use super::message::{
    begin_result, fail_result, parse_task, shim_error, DECODE, ENCODE, OK, PANICKED, RESULT_HEADER,
};
use super::result::panic_message;
use super::tables::Tables;
use crate::queue::{RawPutNowaitError, RawQueue};
use crate::sys::fncall::{CallKey, ForkCall};
use crate::wait::{set_on_block, OnBlock};

/// A worker's initializer.
pub(super) type Initializer = Arc<dyn Fn() + Send + Sync + 'static>;

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
        init();
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
