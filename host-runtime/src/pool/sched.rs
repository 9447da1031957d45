//! The parent's bookkeeping: which task is in which worker's custody, the backlog of tasks
//! that wait for room, and the rules for handing tasks out ([`Sched::dispatch`],
//! [`Sched::steal`]). Shared by the submitting threads and the result thread, under one lock.

use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use ipc_core::pool::{PoolTables, TaskHandle};

use super::message::{set_handle, task_handle};
use super::result::Sink;
use super::tables::Tables;
use crate::queue::RawQueue;
use crate::sys::fncall::CallKey;

/// Locks `m`, ignoring poisoning (no critical section here calls user code).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

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
}

/// The longest buffer kept for reuse, and how many are kept.
const SPARE_CAPACITY: usize = 256;
const SPARE_BUFFERS: usize = 4096;

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
        }
    }

    /// A copy of `msg` in a recycled buffer if there is one (the submitting thread allocated
    /// it, the result thread would free it: recycling saves both, per task).
    pub(super) fn buffer(&mut self, msg: &[u8]) -> Vec<u8> {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(msg);
        buf
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
    /// no worker has room, or the task table is full.
    pub(super) fn dispatch(&mut self, tables: &PoolTables<'_>, prefetch: usize) {
        if self.phase >= Phase::Terminating {
            return;
        }
        while !self.backlog.is_empty() {
            let Some(i) = self.pick_lane(prefetch) else {
                return;
            };
            let Some(mut job) = self.backlog.pop_front() else {
                return;
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
                        return;
                    }
                },
            };
            set_handle(&mut job.msg, handle);
            let Some(lane) = self.lanes[i].as_mut() else {
                unreachable!("`pick_lane` returns an occupied lane")
            };
            if lane.inbox.put_nowait(&job.msg[..]).is_err() {
                // Room comes back with its next result (its worker has read a message then);
                // a jammed inbox's worker is dead and is found so. The task keeps its slot.
                lane.stalled = true;
                job.handle = Some(handle);
                self.backlog.push_front(job);
                continue;
            }
            lane.custody += 1;
            lane.assigned += 1;
            self.records[handle.index()] = Some(Record {
                msg: job.msg,
                handle,
                sink: job.sink,
                tag: job.tag,
                lane: i,
            });
        }
    }

    /// Gives idle workers tasks still waiting in the inbox of a busy one, so that a slow task
    /// does not hold up the tasks queued behind it while other workers have nothing to do.
    /// Only when the backlog is empty (otherwise [`dispatch`](Self::dispatch) feeds them).
    pub(super) fn steal(&mut self, prefetch: usize) {
        if !self.backlog.is_empty() || self.phase >= Phase::Terminating {
            return;
        }
        for thief in 0..self.lanes.len() {
            let idle = self.lanes[thief]
                .as_ref()
                .is_some_and(|l| l.custody == 0 && l.has_room(prefetch));
            if !idle {
                continue;
            }
            // The lane with the most tasks waiting in its inbox (beyond the one it runs).
            let victim = (0..self.lanes.len())
                .filter(|&v| v != thief)
                .filter_map(|v| Some((v, self.lanes[v].as_ref()?.inbox.qsize())))
                .filter(|&(_, waiting)| waiting > 0)
                .max_by_key(|&(_, waiting)| waiting);
            let Some((victim, _)) = victim else {
                return;
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
            if t.inbox.put_nowait(&record.msg[..]).is_ok() {
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
                        handle: Some(r.handle),
                        sink: r.sink,
                        tag: r.tag,
                    });
                }
            }
        }
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
        if record.msg.capacity() <= SPARE_CAPACITY && self.spare.len() < SPARE_BUFFERS {
            self.spare.push(record.msg);
        }
        Some((record.sink, record.tag))
    }

    /// Hands out again what may be stranded, and tells whether a task still waits while a
    /// worker has nothing to do. Dispatch and steal run on events (a result, a death, a new
    /// worker); if tasks wait behind busy workers that are all blocked on one another (the
    /// tasks of a rendezvous), no event may come. So before the result thread sleeps it calls
    /// this, and while it returns `true` it sleeps only briefly and calls it again. A lane that
    /// was stalled by a failed put but holds nothing gets another chance here: no result of
    /// its would ever unstall it.
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
        self.dispatch(tables, prefetch);
        self.steal(prefetch);
        let idle = self
            .lanes
            .iter()
            .flatten()
            .any(|l| l.custody == 0 && l.has_room(prefetch));
        let waiting = !self.backlog.is_empty()
            || self
                .lanes
                .iter()
                .flatten()
                .any(|l| l.custody > 0 && l.inbox.qsize() > 0);
        idle && waiting
    }

    /// Whether no task is waiting or in any worker's custody.
    pub(super) fn idle(&self) -> bool {
        self.backlog.is_empty() && self.lanes.iter().flatten().all(|l| l.custody == 0)
    }
}

/// What the pool's handle, the result thread and the submitting threads share.
pub(super) struct Shared {
    pub(super) sched: Mutex<Sched>,
    pub(super) tables: Tables,
    pub(super) key: CallKey,
    /// Unique among the pools of this process (for the call cache of `Pool`).
    pub(super) id: u64,
    /// The wake-up socket's write end (non-blocking): `close`/`terminate` write a byte.
    pub(super) wake_tx: UnixStream,
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
        let _ = (&self.wake_tx).write(&[1]);
    }

    /// Waits until the result thread has ended.
    pub(super) fn wait_finished(&self) {
        let mut done = lock(&self.finished);
        while !*done {
            done = self
                .finished_cond
                .wait(done)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}
