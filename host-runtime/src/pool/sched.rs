//! The parent's bookkeeping: which task is in which worker's custody, the backlog of tasks
//! that wait for room, and the rules for handing tasks out ([`Sched::dispatch`],
//! [`Sched::steal`]). Shared by the submitting threads and the result thread, under one lock.
//!
//! This file holds the bookkeeping (lanes, records, the backlog, recycled buffers) and what
//! a completed task gives back; the rules for handing tasks out, with the tests that drive
//! them, are in `dispatch`.

mod dispatch;

use std::collections::VecDeque;
use std::sync::Arc;

use ipc_core::pool::{PoolTables, TaskHandle};

use super::result::Sink;
use super::tables::Tables;
use crate::queue::RawQueue;

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

    /// Whether no task is waiting or in any worker's custody.
    pub(super) fn idle(&self) -> bool {
        self.backlog.is_empty() && self.lanes.iter().flatten().all(|l| l.custody == 0)
    }
}
