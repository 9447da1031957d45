//! The parent's bookkeeping: which task is in which worker's custody, the backlog of tasks
//! that wait for room, and the rules for handing tasks out ([`Sched::dispatch`],
//! [`Sched::steal`]). Shared by the submitting threads and the result thread, under one lock.

use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};

use ipc_core::pool::{PoolTables, TaskHandle};

use super::message::{set_handle, task_handle};
use super::result::Sink;
use super::tables::Tables;
use crate::lock::{self, lock};
use crate::queue::RawQueue;
use crate::sys::fncall::CallKey;
use crate::wait::Deadline;

/// Where the pool is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Phase {
    /// Takes tasks.
    Running,
    /// `close()`d: finishes its tasks, then stops its workers.
    Closed,
    /// `terminate()`d: the result thread is stopping everything now.
    Terminating,
    /// The result thread has ended; every worker was reaped.
    Finished,
}

/// A task not yet handed to a worker.
pub(super) struct Job {
    /// The task message; its handle field is set when it is dispatched.
    pub(super) msg: Vec<u8>,
    /// The message's last part, if it is kept apart: a long byte payload argument, moved here
    /// instead of copied into `msg` (see `message::TAIL_MIN`). The message is `msg` followed
    /// by it.
    pub(super) tail: Option<Vec<u8>>,
    /// Its task slot, if it has one already (a task taken back from a dead worker).
    pub(super) handle: Option<TaskHandle>,
    pub(super) sink: Arc<dyn Sink>,
    pub(super) tag: u32,
}

/// A task in a worker's custody: in its inbox, running, or with its result on the way.
pub(super) struct Record {
    /// Kept so that the task can be given to another worker if this one dies before
    /// starting it.
    pub(super) msg: Vec<u8>,
    pub(super) tail: Option<Vec<u8>>,
    pub(super) handle: TaskHandle,
    pub(super) sink: Arc<dyn Sink>,
    pub(super) tag: u32,
    /// The worker slot whose custody it is in.
    pub(super) lane: usize,
}

/// The parent's view of one worker: its inbox and how many tasks it holds.
pub(super) struct Lane {
    pub(super) inbox: RawQueue,
    /// Tasks handed to it whose result has not been read yet (at most `prefetch`).
    pub(super) custody: usize,
    /// Tasks handed to it, less those taken back by [`Sched::steal`]: it exits after
    /// `limit` of them (maxtasksperchild).
    pub(super) assigned: u64,
    pub(super) limit: Option<u64>,
    /// Takes tasks (not stopping).
    pub(super) open: bool,
    /// A put found its inbox full (every blob chunk of a size class in use, or a worker
    /// killed inside a `get` jammed it): no more tasks until one of its results comes back.
    pub(super) stalled: bool,
}

impl Lane {
    /// A lane for a new worker with this inbox.
    pub(super) fn new(inbox: RawQueue, limit: Option<u64>) -> Lane {
        Lane {
            inbox,
            custody: 0,
            assigned: 0,
            limit,
            open: true,
            stalled: false,
        }
    }

    fn has_room(&self, prefetch: usize) -> bool {
        self.open
            && !self.stalled
            && self.custody < prefetch
            && self.limit.is_none_or(|l| self.assigned < l)
    }
}

/// The bookkeeping behind the lock.
pub(super) struct Sched {
    pub(super) phase: Phase,
    pub(super) backlog: VecDeque<Job>,
    /// By worker slot index.
    pub(super) lanes: Vec<Option<Lane>>,
    /// By task slot index.
    pub(super) records: Vec<Option<Record>>,
    /// Where the search for a lane with room starts (round robin among equals).
    next_lane: usize,
    /// Where the search for a free task slot starts: after the last one taken, so the
    /// search skips the tasks still running at the front of the table.
    next_task: usize,
    /// A buffer for [`Sched::steal`].
    scratch: Vec<u8>,
    /// Message buffers of completed tasks, for new ones (see [`Sched::buffer`]).
    spare: Vec<Vec<u8>>,
    /// Long message buffers of completed tasks, for `map`'s next long messages (see
    /// [`Sched::take_long`]); they hold at most [`LONG_SPARE_BYTES`] in all.
    long_spare: Vec<Vec<u8>>,
    long_spare_bytes: usize,
    /// Tails of completed tasks' messages, for long results (see [`Sched::take_tail`]); they
    /// hold at most [`TAIL_SPARE_BYTES`] in all.
    tail_spare: Vec<Vec<u8>>,
    tail_spare_bytes: usize,
    /// Tasks that [`Sched::retry_stranded`], the backstop, handed out or moved: each one a
    /// dispatch the events missed (a bug). See `Pool::stranded_rescues`.
    pub(super) rescued: u64,
    /// A named pool's tables, whose `queued` gauge [`Sched::publish_queued`] keeps (set by
    /// the result thread as it starts).
    pub(super) status: Option<Tables>,
}

/// The longest buffer kept for reuse, and how many are kept.
const SPARE_CAPACITY: usize = 256;
const SPARE_BUFFERS: usize = 4096;
/// The most bytes of long message buffers kept for reuse ([`Sched::take_long`]).
const LONG_SPARE_BYTES: usize = 16 << 20;
/// The most bytes of message tails kept for long results ([`Sched::take_tail`]): a `map`
/// keeps about 4 MiB of messages in flight (`submit.rs`), and the result thread reads a few
/// results before their tasks complete.
const TAIL_SPARE_BYTES: usize = 8 << 20;

impl Sched {
    pub(super) fn new(workers: usize, tasks: usize) -> Sched {
        Sched {
            phase: Phase::Running,
            backlog: VecDeque::new(),
            lanes: (0..workers).map(|_| None).collect(),
            records: (0..tasks).map(|_| None).collect(),
            next_lane: 0,
            next_task: 0,
            scratch: Vec::new(),
            spare: Vec::new(),
            long_spare: Vec::new(),
            long_spare_bytes: 0,
            tail_spare: Vec::new(),
            tail_spare_bytes: 0,
            rescued: 0,
            status: None,
        }
    }

    /// Publishes how many backlog tasks have no task slot yet (a named pool's `queued` word;
    /// see `tables.rs`). Tasks that keep a slot (taken back from a worker, or refused by a
    /// full inbox) are put back at the front, and new tasks go to the back, so the ones with a
    /// slot are a prefix of the backlog: counted by a walk no longer than the task table.
    pub(super) fn publish_queued(&self) {
        if let Some(tables) = &self.status {
            let slotted = self
                .backlog
                .iter()
                .take_while(|job| job.handle.is_some())
                .count();
            tables.set_queued(self.backlog.len() - slotted);
        }
    }

    /// The buffer a job keeps its message `msg` in: a short one is copied into a recycled
    /// buffer if there is one (the submitting thread would allocate it, the result thread
    /// free it: recycling saves both, per task); a longer one, which no recycled buffer holds,
    /// is moved out of `msg` (left empty) rather than copied into a new allocation.
    pub(super) fn buffer(&mut self, msg: &mut Vec<u8>) -> Vec<u8> {
        if msg.len() > SPARE_CAPACITY {
            return std::mem::take(msg);
        }
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(msg);
        buf
    }

    /// A long message buffer of a completed task (empty), if one is kept: `map` encodes its
    /// next message into it instead of a fresh allocation, whose pages would each fault on
    /// first touch (the allocator gives the memory of freed long buffers back to the system).
    pub(super) fn take_long(&mut self) -> Option<Vec<u8>> {
        let mut buf = self.long_spare.pop()?;
        self.long_spare_bytes -= buf.capacity();
        buf.clear();
        Some(buf)
    }

    /// Keeps the tail of a completed task's message (a long argument, moved into the pool),
    /// for [`take_tail`](Self::take_tail), if there is room; drops it otherwise.
    fn keep_tail(&mut self, tail: Vec<u8>) {
        let capacity = tail.capacity();
        if self.tail_spare_bytes + capacity <= TAIL_SPARE_BYTES {
            self.tail_spare_bytes += capacity;
            self.tail_spare.push(tail);
        }
    }

    /// An allocation (empty) for the tail of a long result of `len` bytes, if one is kept that
    /// fits it without wasting more than a quarter: the result thread reads the result into it
    /// instead of a fresh allocation, whose pages would each fault on first touch. These are
    /// the allocations of long arguments the pool was given and has sent: a `map` of 1 MiB
    /// buffers hands its arguments' memory back as its results'.
    pub(super) fn take_tail(&mut self, len: usize) -> Option<Vec<u8>> {
        let fits = |v: &Vec<u8>| v.capacity() >= len && v.capacity() - len <= len / 4;
        let i = self.tail_spare.iter().rposition(fits)?;
        let mut tail = self.tail_spare.swap_remove(i);
        self.tail_spare_bytes -= tail.capacity();
        tail.clear();
        Some(tail)
    }

    /// The lane with room that holds the fewest tasks (round robin among equals).
    fn pick_lane(&mut self, prefetch: usize) -> Option<usize> {
        let n = self.lanes.len();
        let mut best: Option<(usize, usize)> = None;
        for k in 0..n {
            let i = (self.next_lane + k) % n;
            if let Some(lane) = &self.lanes[i] {
                if lane.has_room(prefetch) && best.is_none_or(|(_, c)| lane.custody < c) {
                    best = Some((i, lane.custody));
                    if lane.custody == 0 {
                        break;
                    }
                }
            }
        }
        let (i, _) = best?;
        self.next_lane = (i + 1) % n;
        Some(i)
    }

    /// Hands backlog tasks, oldest first, to workers with room, until the backlog is empty,
    /// no worker has room, or the task table is full. Returns how many it handed out.
    pub(super) fn dispatch(&mut self, tables: &PoolTables<'_>, prefetch: usize) -> usize {
        let handed = self.dispatch_backlog(tables, prefetch);
        self.publish_queued();
        handed
    }

    /// [`dispatch`](Self::dispatch), without publishing the backlog's size.
    fn dispatch_backlog(&mut self, tables: &PoolTables<'_>, prefetch: usize) -> usize {
        let mut handed = 0;
        if self.phase >= Phase::Terminating {
            return handed;
        }
        while !self.backlog.is_empty() {
            let Some(i) = self.pick_lane(prefetch) else {
                return handed;
            };
            let Some(mut job) = self.backlog.pop_front() else {
                return handed;
            };
            let handle = match job.handle {
                Some(h) => h,
                None => match tables.submit_from(self.next_task) {
                    Ok(h) => {
                        self.next_task = h.index() + 1;
                        h
                    }
                    Err(_) => {
                        self.backlog.push_front(job);
                        return handed;
                    }
                },
            };
            set_handle(&mut job.msg, handle);
            let Some(lane) = self.lanes[i].as_mut() else {
                unreachable!("`pick_lane` returns an occupied lane")
            };
            if !put_task(&lane.inbox, &job.msg, job.tail.as_deref()) {
                // Room comes back with its next result (its worker has read a message then);
                // a jammed inbox's worker is dead and is found so. The task keeps its slot.
                lane.stalled = true;
                job.handle = Some(handle);
                self.backlog.push_front(job);
                continue;
            }
            lane.custody += 1;
            lane.assigned += 1;
            handed += 1;
            self.records[handle.index()] = Some(Record {
                msg: job.msg,
                tail: job.tail,
                handle,
                sink: job.sink,
                tag: job.tag,
                lane: i,
            });
        }
        handed
    }

    /// Gives idle workers tasks still waiting in the inbox of a busy one, so that a slow task
    /// does not hold up the tasks queued behind it while other workers have nothing to do.
    /// Only when the backlog is empty (otherwise [`dispatch`](Self::dispatch) feeds them).
    /// Returns how many tasks it moved.
    ///
    /// A victim holds at least two tasks and keeps one: a task is only taken from behind
    /// another (running, or ahead of it in the inbox), never the only task of a worker that
    /// has not started it yet, which would just make that worker the idle one. (Taking it, the
    /// old rule, could leave a worker idle while a task waited behind a blocked one, with no
    /// event to come: see the `tests` module.) It passes over the idle workers until a pass
    /// moves nothing, so on return no worker is idle while a task waits behind another, as
    /// far as its inbox's count shows; workers only take tasks from their inboxes in between,
    /// which keeps that so until the next event (a result, a death, a new worker, a submit),
    /// and every event runs this.
    pub(super) fn steal(&mut self, prefetch: usize) -> usize {
        if !self.backlog.is_empty() || self.phase >= Phase::Terminating {
            return 0;
        }
        let mut moved = 0;
        // Each move turns an idle worker busy and leaves its victim busy: at most one move
        // per worker, so at most `lanes + 1` passes.
        for _ in 0..=self.lanes.len() {
            let before = moved;
            moved += self.steal_pass(prefetch);
            if moved == before || !self.backlog.is_empty() {
                break;
            }
        }
        moved
    }

    /// One pass of [`steal`](Self::steal) over the idle workers.
    fn steal_pass(&mut self, prefetch: usize) -> usize {
        let lanes = || self.lanes.iter().flatten();
        // Without a worker holding two tasks there is no victim: this is the common case,
        // and costs no look at the inboxes.
        if !lanes().any(|l| l.custody >= 2) || !lanes().any(|l| Self::is_thief(l, prefetch)) {
            return 0;
        }
        let mut moved = 0;
        for thief in 0..self.lanes.len() {
            if !self.lanes[thief]
                .as_ref()
                .is_some_and(|l| Self::is_thief(l, prefetch))
            {
                continue;
            }
            // The lane with the most tasks waiting in its inbox, among those holding at least
            // two (the first of equals).
            let mut victim: Option<(usize, usize)> = None;
            for (v, lane) in self.lanes.iter().enumerate() {
                let Some(lane) = lane else { continue };
                if v == thief || lane.custody < 2 {
                    continue;
                }
                let waiting = lane.inbox.qsize();
                if waiting > 0 && victim.is_none_or(|(_, w)| waiting > w) {
                    victim = Some((v, waiting));
                }
            }
            let Some((victim, _)) = victim else {
                return moved;
            };
            let mut buf = std::mem::take(&mut self.scratch);
            let taken = self.lanes[victim]
                .as_ref()
                .is_some_and(|l| l.inbox.get_into_nowait(&mut buf).is_ok());
            let handle = taken.then(|| task_handle(&buf)).flatten();
            self.scratch = buf;
            let Some(handle) = handle else {
                continue; // the victim took it first
            };
            let Some(record) = self.records[handle.index()]
                .as_mut()
                .filter(|r| r.handle == handle && r.lane == victim)
            else {
                continue; // not ours: cannot happen, drop it
            };
            if let Some(v) = self.lanes[victim].as_mut() {
                v.custody -= 1;
                v.assigned -= 1;
                v.stalled = false;
            }
            let Some(t) = self.lanes[thief].as_mut() else {
                continue;
            };
            moved += 1;
            if put_task(&t.inbox, &record.msg, record.tail.as_deref()) {
                t.custody += 1;
                t.assigned += 1;
                record.lane = thief;
            } else {
                // Back to the front of the line, keeping its task slot. (An idle worker's
                // inbox is empty: only a jam, by a worker killed in a `get`, gets here.)
                t.stalled = true;
                if let Some(r) = self.records[handle.index()].take() {
                    self.backlog.push_front(Job {
                        msg: r.msg,
                        tail: r.tail,
                        handle: Some(r.handle),
                        sink: r.sink,
                        tag: r.tag,
                    });
                }
                return moved;
            }
        }
        moved
    }

    /// Whether `lane`'s worker has nothing to do and may take a task.
    fn is_thief(lane: &Lane, prefetch: usize) -> bool {
        lane.custody == 0 && lane.has_room(prefetch)
    }

    /// Where the result of a task goes, once it was read: the task leaves its worker's
    /// custody, its task slot is released and its message buffer kept for reuse. `None` for a
    /// handle we don't hold (stale).
    pub(super) fn complete(
        &mut self,
        tables: &PoolTables<'_>,
        handle: TaskHandle,
    ) -> Option<(Arc<dyn Sink>, u32)> {
        let slot = self.records.get_mut(handle.index())?;
        if slot.as_ref()?.handle != handle {
            return None;
        }
        let record = slot.take()?;
        if let Some(lane) = self.lanes[record.lane].as_mut() {
            lane.custody -= 1;
            lane.stalled = false;
        }
        let _ = tables.release(handle);
        if let Some(tail) = record.tail {
            self.keep_tail(tail);
        }
        let capacity = record.msg.capacity();
        if capacity <= SPARE_CAPACITY {
            if self.spare.len() < SPARE_BUFFERS {
                self.spare.push(record.msg);
            }
        } else if self.long_spare_bytes + capacity <= LONG_SPARE_BYTES {
            self.long_spare_bytes += capacity;
            self.long_spare.push(record.msg);
        }
        Some((record.sink, record.tag))
    }

    /// The backstop: hands out again what may be stranded, and tells whether a task still
    /// waits while a worker has nothing to do. Dispatch and steal run on every event (a
    /// result, a death, a new worker, a submit) and leave no worker idle while a task waits
    /// behind another (see [`steal`](Self::steal)); between events workers only take tasks
    /// from their inboxes, which keeps that so. So this should find nothing; the result thread
    /// still calls it before it sleeps, and while it returns `true` sleeps only briefly and
    /// calls it again, so that a missed dispatch (a bug) costs a delay, not a task stuck for
    /// ever behind a blocked one. What it moves is counted in [`rescued`](Self::rescued). A
    /// lane that was stalled by a failed put but holds nothing gets another chance here: no
    /// result of its would ever unstall it.
    pub(super) fn retry_stranded(&mut self, tables: &PoolTables<'_>, prefetch: usize) -> bool {
        if self.phase >= Phase::Terminating {
            return false;
        }
        let mut idle = false;
        for lane in self.lanes.iter_mut().flatten() {
            if lane.custody == 0 {
                lane.stalled = false;
                idle |= lane.has_room(prefetch);
            }
        }
        if !idle {
            return false;
        }
        let moved = self.dispatch(tables, prefetch) + self.steal(prefetch);
        self.rescued += moved as u64;
        let idle = self
            .lanes
            .iter()
            .flatten()
            .any(|l| Self::is_thief(l, prefetch));
        let waiting = !self.backlog.is_empty()
            || self
                .lanes
                .iter()
                .flatten()
                .any(|l| l.custody >= 2 && l.inbox.qsize() > 0);
        idle && waiting
    }

    /// Whether no task is waiting or in any worker's custody.
    pub(super) fn idle(&self) -> bool {
        self.backlog.is_empty() && self.lanes.iter().flatten().all(|l| l.custody == 0)
    }
}

/// Puts the task message `msg`, followed by `tail` if there is one, into `inbox` if there is
/// room now; `false` if not (full, or jammed). The two parts are written straight into the
/// blob chunk: no copy of them joined first.
fn put_task(inbox: &RawQueue, msg: &[u8], tail: Option<&[u8]>) -> bool {
    match tail {
        None => inbox.put_nowait(msg).is_ok(),
        Some(tail) => {
            let len = msg.len() + tail.len();
            if len <= inbox.inline_max() {
                return inbox.put_nowait([msg, tail].concat()).is_ok();
            }
            inbox
                .put_blob(len, Deadline::NoWait, |chunks, offset| {
                    chunks.write(offset, msg);
                    chunks.write(offset + msg.len(), tail);
                    Ok(len)
                })
                .is_ok()
        }
    }
}

/// What the pool's handle, the result thread and the submitting threads share.
pub(super) struct Shared {
    pub(super) sched: Mutex<Sched>,
    pub(super) tables: Tables,
    pub(super) key: CallKey,
    /// Unique among the pools of this process (for the call cache of `Pool`).
    pub(super) id: u64,
    /// The wake-up socket's write end (non-blocking): `close`/`terminate` write a byte, and
    /// so do the workers, which share it (each worker inherits the descriptor at its fork: no
    /// copy of its own, which would take a descriptor per worker start).
    pub(super) wake_tx: Arc<UnixStream>,
    /// Tasks a worker may hold at once; also its inbox's and result queue's capacity.
    pub(super) prefetch: usize,
    /// The longest task or result message.
    pub(super) max_message_size: usize,
    /// The pool's process.
    pub(super) owner: u32,
    /// Set by the result thread when it ends.
    pub(super) finished: Mutex<bool>,
    pub(super) finished_cond: Condvar,
}

impl Shared {
    /// Wakes the result thread.
    pub(super) fn wake(&self) {
        let _ = (&*self.wake_tx).write(&[1]);
    }

    /// Waits until the result thread has ended.
    pub(super) fn wait_finished(&self) {
        let mut done = lock(&self.finished);
        while !*done {
            done = lock::wait(&self.finished_cond, done, None);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The scheduler driven directly: real inboxes and pool tables, the workers played by the
    //! test (a worker starts a task by taking it from its inbox; its result comes back through
    //! [`Rig::finish`], as in `Collector::complete_spans`). Every step is a plain call on one
    //! thread: nothing races, nothing sleeps.

    use super::*;
    use crate::pool::builder::queue_builder;
    use crate::pool::message::{TASK, TASK_HEADER};
    use crate::pool::result::Outcome;

    struct NoSink;

    impl Sink for NoSink {
        fn deliver(&self, _: u32, _: Outcome<'_>) -> bool {
            false
        }
        fn wake(&self) {}
    }

    struct Rig {
        sched: Sched,
        tables: Tables,
        prefetch: usize,
    }

    impl Rig {
        fn new(workers: usize, prefetch: usize) -> Rig {
            let tasks = 2 * workers * prefetch + 64;
            let tables = Tables::new(workers, tasks, None, false).unwrap();
            let mut sched = Sched::new(workers, tasks);
            for lane in &mut sched.lanes {
                let inbox = queue_builder(prefetch, 1 << 16).build_raw().unwrap();
                *lane = Some(Lane::new(inbox, None));
            }
            Rig {
                sched,
                tables,
                prefetch,
            }
        }

        /// Submits tasks tagged `tags`, as `Pool::submit` does.
        fn submit(&mut self, tags: impl IntoIterator<Item = u32>) {
            for tag in tags {
                let mut msg = vec![0; TASK_HEADER];
                msg[0] = TASK;
                self.sched.backlog.push_back(Job {
                    msg,
                    tail: None,
                    handle: None,
                    sink: Arc::new(NoSink),
                    tag,
                });
            }
            let tables = self.tables.get();
            self.sched.dispatch(&tables, self.prefetch);
            self.sched.steal(self.prefetch);
        }

        fn lane(&self, i: usize) -> &Lane {
            self.sched.lanes[i].as_ref().unwrap()
        }

        /// Worker `i` starts its next task, if it has one in its inbox; returns its tag.
        fn start(&mut self, i: usize) -> Option<u32> {
            let mut buf = Vec::new();
            self.lane(i).inbox.get_into_nowait(&mut buf).ok()?;
            let handle = task_handle(&buf).unwrap();
            let record = self.sched.records[handle.index()].as_ref().unwrap();
            assert_eq!(
                record.lane, i,
                "a task is in the custody of the worker that has it"
            );
            Some(record.tag)
        }

        /// The results of the tasks tagged `tags` come back in one batch; `steal` says
        /// whether the result thread then runs dispatch and steal (it always does: `false`
        /// plays a missed event).
        fn finish(&mut self, tags: &[u32], steal: bool) {
            let tables = self.tables.get();
            for &tag in tags {
                let handle = self
                    .sched
                    .records
                    .iter()
                    .flatten()
                    .find(|r| r.tag == tag)
                    .unwrap()
                    .handle;
                assert!(self.sched.complete(&tables, handle).is_some());
            }
            if steal {
                self.sched.dispatch(&tables, self.prefetch);
                self.sched.steal(self.prefetch);
            }
        }

        /// The backstop, as the result thread runs it before sleeping.
        fn retry_stranded(&mut self) -> bool {
            let tables = self.tables.get();
            self.sched.retry_stranded(&tables, self.prefetch)
        }

        /// The tags of the tasks in each worker's custody.
        fn custody(&self) -> Vec<Vec<u32>> {
            (0..self.sched.lanes.len())
                .map(|i| {
                    let mut tags: Vec<u32> = self
                        .sched
                        .records
                        .iter()
                        .flatten()
                        .filter(|r| r.lane == i)
                        .map(|r| r.tag)
                        .collect();
                    tags.sort_unstable();
                    tags
                })
                .collect()
        }

        /// Whether a task waits behind another one while some worker has nothing to do:
        /// what `retry_stranded` would have to rescue.
        fn stranded(&self) -> bool {
            let lanes = || self.sched.lanes.iter().flatten();
            lanes().any(|l| l.custody == 0 && l.has_room(self.prefetch))
                && lanes().any(|l| l.custody >= 2 && l.inbox.qsize() > 0)
        }
    }

    /// Issue 12's suspected missed dispatch, step by step. Workers 0, 1, 2 get two tasks
    /// each. Worker 0 starts task 0, which then blocks until task 3, queued behind it, has run
    /// (a rendezvous); worker 1 finishes task 1 but has not yet started task 4; worker 2
    /// finishes both of its tasks. When those three results come back, worker 2 is idle and
    /// must take task 3 — not task 4, which would leave worker 1 idle and task 3 stuck behind
    /// task 0 with no event to come (the old `steal` did that: it chose the last of the
    /// equally loaded victims, worker 1, and made one pass, in which worker 1 had already had
    /// its turn as a thief).
    #[test]
    fn an_idle_worker_takes_the_task_stuck_behind_a_running_one() {
        let mut rig = Rig::new(3, 2);
        rig.submit(0..6);
        assert_eq!(rig.custody(), [[0, 3], [1, 4], [2, 5]]);
        assert_eq!(rig.start(0), Some(0));
        assert_eq!(rig.start(1), Some(1));
        assert_eq!((rig.start(2), rig.start(2)), (Some(2), Some(5)));
        rig.finish(&[1, 2, 5], true);

        assert!(!rig.stranded(), "{:?}", rig.custody());
        assert_eq!(rig.custody(), [vec![0], vec![4], vec![3]]);
        assert!(!rig.retry_stranded());
        assert_eq!(rig.sched.rescued, 0, "nothing was left for the backstop");
        assert_eq!((rig.start(1), rig.start(2)), (Some(4), Some(3)));
    }

    /// Two idle workers both take from the one blocked worker, and again after their next
    /// results; the blocked worker keeps the task it runs.
    #[test]
    fn idle_workers_drain_a_blocked_worker_event_after_event() {
        let mut rig = Rig::new(3, 4);
        rig.submit(0..12);
        assert_eq!(rig.custody(), [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]);
        assert_eq!(rig.start(0), Some(0)); // blocks
        let mut done = Vec::new();
        for w in 1..3 {
            while let Some(t) = rig.start(w) {
                done.push(t);
            }
        }
        rig.finish(&done, true);
        assert_eq!(rig.custody(), [vec![0, 9], vec![3], vec![6]]);
        assert_eq!((rig.start(1), rig.start(2)), (Some(3), Some(6)));
        rig.finish(&[3, 6], true);
        assert_eq!(rig.custody(), [vec![0], vec![9], vec![]]);
        assert!(!rig.stranded());
        assert!(!rig.retry_stranded());
        assert_eq!(rig.sched.rescued, 0);
    }

    /// The backstop still works, and counts: a missed event (results read without the
    /// dispatch and steal that follow them) leaves a task behind a blocked one while a worker
    /// is idle; `retry_stranded` moves it and counts one rescue.
    #[test]
    fn the_backstop_counts_what_it_rescues() {
        let mut rig = Rig::new(2, 2);
        rig.submit(0..4);
        assert_eq!(rig.custody(), [[0, 2], [1, 3]]);
        assert_eq!(rig.start(0), Some(0)); // blocks until task 2 has run
        assert_eq!((rig.start(1), rig.start(1)), (Some(1), Some(3)));
        rig.finish(&[1, 3], false);
        assert!(rig.stranded());
        assert!(
            !rig.retry_stranded(),
            "nothing is left stranded once it ran"
        );
        assert_eq!(rig.sched.rescued, 1);
        assert_eq!(rig.custody(), [vec![0], vec![2]]);
    }

    /// A small deterministic random walk over submits, starts and batches of results, with
    /// workers that run one task at a time and some that block: after every step no worker
    /// is idle while a task waits behind another, and the backstop never has anything to do.
    #[test]
    fn random_schedules_never_strand_a_task() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..200 {
            let workers = 2 + next(4) as usize;
            let mut rig = Rig::new(workers, 1 + next(4) as usize);
            let mut running: Vec<Option<u32>> = vec![None; workers];
            let mut tag = 0u32;
            for step in 0..200 {
                match next(4) {
                    0 => {
                        let n = 1 + next(6) as u32;
                        rig.submit(tag..tag + n);
                        tag += n;
                    }
                    1 | 2 => {
                        let w = next(workers as u64) as usize;
                        if running[w].is_none() {
                            running[w] = rig.start(w);
                        }
                    }
                    _ => {
                        // Some running tasks finish (a task may stay blocked for long).
                        let mut batch = Vec::new();
                        for r in &mut running {
                            if r.is_some() && next(3) == 0 {
                                batch.extend(r.take());
                            }
                        }
                        rig.finish(&batch, true);
                    }
                }
                assert!(
                    !rig.stranded(),
                    "round {round}, step {step}: {:?}",
                    rig.custody()
                );
                rig.retry_stranded();
                assert_eq!(rig.sched.rescued, 0, "round {round}, step {step}");
            }
        }
    }
}
