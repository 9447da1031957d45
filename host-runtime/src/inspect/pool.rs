//! A named pool's status region: [`PoolSnapshot`] and its reader.

use ipc_core::pool::{PoolTables, TaskSlot, WorkerSlot, WorkerState};

use super::source::{u64_at, Source};
use super::{pool_layout, InspectError, Keep, Liveness, RecordedProcess, MAX_READ};
use crate::liveness;
use crate::shared::copy::PrivateCopy;

/// One worker slot of a named pool ([`pool::Builder::name`](crate::pool::Builder::name)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// The slot's index.
    pub index: usize,
    /// Its state: `new`, `ready` (waiting for a task), `running` (a task's code), `blocked`
    /// (its task sleeps in one of our blocking calls: a get, a put, a lock, `wait`, sending
    /// its result), `dead`.
    pub state: &'static str,
    /// Its process (0: not recorded yet). Its identity is not recorded: judged by pid alone.
    pub process: RecordedProcess,
    /// Tasks it finished (done or failed).
    pub tasks_done: u64,
    /// The task slot it runs, if any (an index within the task table).
    pub task: Option<usize>,
}

/// Everything [`inspect_region`] reads from a named pool's status region.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolSnapshot {
    /// The region's size in bytes.
    pub region_len: usize,
    /// The process that made the pool.
    pub creator: RecordedProcess,
    /// Task slots in the table.
    pub task_slots: usize,
    /// The worker slots in use.
    pub workers: Vec<WorkerSnapshot>,
}

impl PoolSnapshot {
    /// Tasks being run now (by running or blocked workers), and tasks finished by the
    /// workers (those of workers replaced since are not counted).
    pub fn task_counts(&self) -> (usize, u64) {
        let running = self.workers.iter().filter(|w| w.task.is_some()).count();
        let done = self
            .workers
            .iter()
            .fold(0u64, |n, w| n.saturating_add(w.tasks_done));
        (running, done)
    }

    /// Asks the kernel whether the creator and each worker live (reads `/proc`).
    pub fn judge(&mut self) {
        let c = &mut self.creator;
        c.liveness = Liveness::of(liveness::judge(c.pid, c.identity));
        for w in &mut self.workers {
            w.process.liveness = if w.state == "dead" {
                Liveness::Dead
            } else {
                Liveness::of(liveness::judge(w.process.pid, 0))
            };
        }
    }

    /// `Ok` if nobody can use the pool's region: its creator and every worker are dead.
    ///
    /// # Errors
    ///
    /// The first reason found to keep it.
    pub fn stale(&self) -> Result<(), Keep> {
        let c = self.creator;
        if c.liveness != Liveness::Dead {
            return Err(Keep::Creator {
                pid: c.pid,
                liveness: c.liveness,
            });
        }
        for w in &self.workers {
            if w.process.liveness != Liveness::Dead {
                return Err(Keep::Participant {
                    pid: w.process.pid,
                    liveness: w.process.liveness,
                });
            }
        }
        Ok(())
    }
}

pub(super) fn pool_snapshot(source: &dyn Source) -> Result<PoolSnapshot, InspectError> {
    use pool_layout::word;
    let file_len = source.len();
    if file_len < pool_layout::HEADER_LEN {
        return Err(InspectError::NotOurs);
    }
    let mut header = [0u8; pool_layout::HEADER_LEN];
    source.read_at(0, &mut header)?;
    let w = |index: usize| u64_at(&header, 8 * index);
    if w(word::MAGIC) != pool_layout::MAGIC {
        return Err(InspectError::NotOurs);
    }
    let version = w(word::VERSION);
    if version != pool_layout::VERSION {
        return Err(InspectError::UnsupportedVersion { found: version });
    }
    let r = |index: usize| usize::try_from(w(index)).unwrap_or(usize::MAX);
    let (workers, tasks) = (r(word::WORKERS), r(word::TASKS));
    if workers == 0
        || workers > ipc_core::pool::MAX_WORKERS
        || tasks == 0
        || tasks > ipc_core::pool::MAX_TASKS
    {
        return Err(InspectError::BadHeader("worker or task count out of range"));
    }
    let tasks_at = pool_layout::tasks_at(workers);
    if r(word::TASKS_AT) != tasks_at {
        return Err(InspectError::BadHeader(
            "the task table is not where it belongs",
        ));
    }
    let len = tasks
        .checked_mul(core::mem::size_of::<TaskSlot>())
        .and_then(|n| n.checked_add(tasks_at))
        .ok_or(InspectError::BadHeader("the tables do not fit in memory"))?;
    let region_len = len.saturating_add(pool_layout::HEADER_LEN);
    if r(word::REGION_LEN) != region_len {
        return Err(InspectError::BadHeader(
            "the recorded region length disagrees with the tables",
        ));
    }
    if file_len != region_len {
        return Err(InspectError::SizeMismatch {
            expected: region_len,
            found: file_len,
        });
    }
    if len > MAX_READ {
        return Err(InspectError::TooLarge { needed: len });
    }
    let mut copy = PrivateCopy::zeroed(len).ok_or(InspectError::OutOfMemory)?;
    source.read_at(pool_layout::HEADER_LEN, copy.as_mut_slice())?;
    let broken = || InspectError::BadHeader("the tables fail validation");
    let worker_slots = copy
        .atomics::<WorkerSlot>(pool_layout::WORKERS_AT, workers)
        .ok_or_else(broken)?;
    let task_slots = copy
        .atomics::<TaskSlot>(tasks_at, tasks)
        .ok_or_else(broken)?;
    let tables = PoolTables::new(worker_slots, task_slots).map_err(|_| broken())?;
    let workers = (0..workers)
        .filter_map(|index| {
            let info = tables.worker(index)?;
            let state = match info.state {
                WorkerState::New => "new",
                WorkerState::Ready => "ready",
                WorkerState::Running => "running",
                WorkerState::Blocked => "blocked",
                WorkerState::Dead => "dead",
                _ => "unknown",
            };
            Some(WorkerSnapshot {
                index,
                state,
                process: RecordedProcess {
                    pid: info.pid.unwrap_or(0),
                    identity: 0,
                    liveness: Liveness::NotJudged,
                },
                tasks_done: info.tasks_done,
                // Informational in the slot, never checked by a transition: garbage there
                // (an index outside the table) is not shown.
                task: info.task.map(|t| t.index()).filter(|&t| t < tasks),
            })
        })
        .collect();
    Ok(PoolSnapshot {
        region_len,
        creator: RecordedProcess {
            pid: u32::try_from(w(word::CREATOR_PID)).unwrap_or(0),
            identity: w(word::CREATOR_IDENTITY),
            liveness: Liveness::NotJudged,
        },
        task_slots: tasks,
        workers,
    })
}
