//! A named pool's status region: [`PoolSnapshot`] and its reader.
//!
//! The region (`pool/tables.rs`, `LAYOUT.md`) is copied once into private memory, its header
//! checked word by word against the layout the pool computes, then read through ipc-core's
//! [`PoolTables`] over the copy. Each value is read once from the copy; the task table's walk
//! is bounded by its length (checked against the file's size and [`MAX_READ`]); counts
//! saturate. Times come from the stamps the workers write: a stamp is shown only if it was
//! written for the state the slot is in, and lies before this process's clock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use ipc_core::pool::{PoolTables, TaskHandle, TaskSlot, TaskState, WorkerSlot, WorkerState};

use super::source::{u64_at, Source};
use super::{pool_layout, InspectError, Keep, Liveness, RecordedProcess, MAX_READ};
use crate::liveness;
use crate::shared::copy::PrivateCopy;
use crate::sys::Pid;

/// One worker slot of a named pool ([`pool::Builder::name`](crate::pool::Builder::name)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerSnapshot {
    /// The slot's index.
    pub index: usize,
    /// Its state: `new`, `ready` (waiting for a task), `running` (a task's code), `blocked`
    /// (its task sleeps in one of our blocking calls: a get, a put, a lock, `wait`, sending
    /// its result), `dead`.
    pub state: &'static str,
    /// When it entered that state: `CLOCK_MONOTONIC` nanoseconds (shared by every process of
    /// the machine). `None` if no stamp matches the state (none written yet, or the state
    /// changed while the region was read).
    pub since_ns: Option<u64>,
    /// How long it has been in that state when the region was read (`since_ns` to the
    /// reader's clock). `None` without `since_ns`, or if the stamp lies in the reader's
    /// future (garbage, or a reader in another time namespace).
    pub state_for: Option<Duration>,
    /// Its process (0: not recorded yet). Its identity is not recorded: judged by pid alone.
    pub process: RecordedProcess,
    /// Tasks it finished (done or failed).
    pub tasks_done: u64,
    /// The task slot it runs, if any (an index within the task table).
    pub task: Option<usize>,
    /// The generation of that task slot: with `task`, names the task among all those the
    /// pool ran (`task` alone names a slot, reused by later tasks).
    pub task_generation: Option<u32>,
}

/// A named pool's tasks, by where they are. A task of `map`/`imap` is one chunk of items.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskCounts {
    /// Submitted, not started by a worker: waiting in the pool's process, in a worker's
    /// inbox, or taken back from a dead worker that had not started it.
    pub pending: u64,
    /// Started by a worker that has not finished it (the worker is running or blocked).
    pub running: u64,
    /// Finished with a value (since the pool began).
    pub done: u64,
    /// Finished with an error (since the pool began): it raised or panicked, its result could
    /// not be encoded, its worker died while it held it (killed mid-task: `WorkerDied`), or
    /// the pool was terminated first.
    pub failed: u64,
}

/// Everything [`inspect_region`](super::inspect_region) reads from a named pool's status
/// region.
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
    /// Its tasks, counted from the pool's counters and its task table.
    pub tasks: TaskCounts,
}

impl PoolSnapshot {
    /// Asks the kernel whether the creator and each worker live (reads `/proc`).
    pub fn judge(&mut self) {
        let c = &mut self.creator;
        c.liveness = Liveness::of(liveness::judge(super::pid_word(c.pid), c.identity));
        for w in &mut self.workers {
            w.process.liveness = if w.state == "dead" {
                Liveness::Dead
            } else {
                Liveness::of(liveness::judge(super::pid_word(w.process.pid), 0))
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

/// What a worker state is called.
fn state_name(state: WorkerState) -> &'static str {
    match state {
        WorkerState::New => "new",
        WorkerState::Ready => "ready",
        WorkerState::Running => "running",
        WorkerState::Blocked => "blocked",
        WorkerState::Dead => "dead",
        _ => "unknown",
    }
}

pub(super) fn pool_snapshot(source: &dyn Source) -> Result<PoolSnapshot, InspectError> {
    use pool_layout::word;
    let file_len = source.len();
    if file_len < pool_layout::HEADER_LEN {
        return Err(InspectError::NotOurs);
    }
    // The header, once, into a private copy: every word below comes from it.
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
    let stamps_at = pool_layout::stamps_at(workers, tasks)
        .ok_or(InspectError::BadHeader("the tables do not fit in memory"))?;
    if r(word::STAMPS_AT) != stamps_at {
        return Err(InspectError::BadHeader(
            "the stamps are not where they belong",
        ));
    }
    // Everything after the header: the tables, then the stamps (`workers` is at most 2^16).
    let len = stamps_at
        .checked_add(8 * workers)
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
    // After the copy: a stamp written while it was read lies before this.
    let now = crate::sys::monotonic_ns();
    let broken = || InspectError::BadHeader("the tables fail validation");
    let worker_slots = copy
        .atomics::<WorkerSlot>(pool_layout::WORKERS_AT, workers)
        .ok_or_else(broken)?;
    let task_slots = copy
        .atomics::<TaskSlot>(tasks_at, tasks)
        .ok_or_else(broken)?;
    // The same task slots as words, for their generations (a task word's top 32 bits, as in
    // a `TaskHandle`'s bits): every word of the private copy is read once, here or by
    // `task_state` below, and nobody writes the copy.
    let task_words = copy
        .atomics::<AtomicU64>(tasks_at, tasks)
        .ok_or_else(broken)?;
    let stamps = copy
        .atomics::<AtomicU64>(stamps_at, workers)
        .ok_or_else(broken)?;
    let tables = PoolTables::new(worker_slots, task_slots).map_err(|_| broken())?;

    // At most `workers` slots (checked above).
    let workers = (0..workers)
        .filter_map(|index| {
            let info = tables.worker(index)?;
            let since_ns = stamps
                .get(index)
                .and_then(|s| pool_layout::stamp_time(s.load(Relaxed), info.state));
            // Informational in the slot, never checked by a transition: garbage there
            // (an index outside the table) is not shown.
            let task = info.task.filter(|t| t.index() < tasks);
            Some(WorkerSnapshot {
                index,
                state: state_name(info.state),
                since_ns,
                state_for: since_ns
                    .and_then(|since| now.checked_sub(since))
                    .map(Duration::from_nanos),
                process: RecordedProcess {
                    pid: info.pid.and_then(Pid::from_word),
                    identity: 0,
                    liveness: Liveness::NotJudged,
                },
                tasks_done: info.tasks_done,
                task: task.map(TaskHandle::index),
                task_generation: task.map(|t| (t.to_bits() >> 32) as u32),
            })
        })
        .collect();

    // The task table, each slot once (at most `tasks`, checked above); then the counters
    // of the pool's process, saturating: garbage makes the numbers wrong, never a panic.
    let mut counts = TaskCounts::default();
    for (index, word) in task_words.iter().enumerate() {
        let generation = word.load(Relaxed) >> 32;
        let handle = TaskHandle::from_bits(generation << 32 | index as u64);
        let count = match tables.task_state(handle) {
            Ok(TaskState::Pending) => &mut counts.pending,
            Ok(TaskState::Running(_)) => &mut counts.running,
            Ok(TaskState::Done) => &mut counts.done,
            Ok(TaskState::Failed | TaskState::Lost | TaskState::Cancelled) => &mut counts.failed,
            // A free slot.
            _ => continue,
        };
        *count += 1;
    }
    counts.pending = counts.pending.saturating_add(w(word::QUEUED));
    counts.done = counts.done.saturating_add(w(word::DONE));
    counts.failed = counts.failed.saturating_add(w(word::FAILED));

    Ok(PoolSnapshot {
        region_len,
        creator: RecordedProcess {
            pid: u32::try_from(w(word::CREATOR_PID)).map_or(None, Pid::from_word),
            identity: w(word::CREATOR_IDENTITY),
            liveness: Liveness::NotJudged,
        },
        task_slots: tasks,
        workers,
        tasks: counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::InspectError;
    use ipc_core::pool::WorkerId;
    use pool_layout::word;

    /// A version-2 pool region built by hand: `W` = 2, `T` = 4, the tables driven through
    /// ipc-core's `PoolTables` as a pool would, then `edit` applied to its parts.
    struct Region {
        header: [u64; 16],
        body: PrivateCopy,
        stamps_at: usize,
    }

    const W: usize = 2;
    const T: usize = 4;

    impl Region {
        fn new() -> Region {
            let tasks_at = pool_layout::tasks_at(W);
            let stamps_at = pool_layout::stamps_at(W, T).unwrap();
            let len = stamps_at + 8 * W;
            let mut header = [0u64; 16];
            header[word::MAGIC] = pool_layout::MAGIC;
            header[word::VERSION] = pool_layout::VERSION;
            header[word::REGION_LEN] = (pool_layout::HEADER_LEN + len) as u64;
            header[word::WORKERS] = W as u64;
            header[word::TASKS] = T as u64;
            header[word::TASKS_AT] = tasks_at as u64;
            header[word::CREATOR_PID] = 1;
            header[word::STAMPS_AT] = stamps_at as u64;
            Region {
                header,
                body: PrivateCopy::zeroed(len).unwrap(),
                stamps_at,
            }
        }

        fn tables(&self) -> PoolTables<'_> {
            let workers = self.body.atomics(pool_layout::WORKERS_AT, W).unwrap();
            let tasks = self.body.atomics(pool_layout::tasks_at(W), T).unwrap();
            PoolTables::new(workers, tasks).unwrap()
        }

        fn stamp(&self, worker: WorkerId, value: u64) {
            self.body.atomics::<AtomicU64>(self.stamps_at, W).unwrap()[worker.index()]
                .store(value, Relaxed);
        }

        fn bytes(&mut self) -> Vec<u8> {
            let mut bytes: Vec<u8> = self.header.iter().flat_map(|w| w.to_le_bytes()).collect();
            bytes.extend_from_slice(self.body.as_mut_slice());
            bytes
        }

        fn snapshot(&mut self) -> Result<PoolSnapshot, InspectError> {
            let bytes = self.bytes();
            pool_snapshot(&&bytes[..])
        }
    }

    /// Worker 0 runs a task, worker 1 is ready; one task pending, one done and not yet
    /// collected; the pool's process counts 3 queued, 10 done, 2 failed.
    fn busy() -> (Region, WorkerId, WorkerId) {
        let mut r = Region::new();
        let t = r.tables();
        let (a, b) = (t.add_worker().unwrap(), t.add_worker().unwrap());
        t.worker_started(a, 100).unwrap();
        t.worker_started(b, 101).unwrap();
        let (run, done) = (t.submit().unwrap(), t.submit().unwrap());
        t.start(b, done).unwrap();
        t.finish(b, done, true).unwrap();
        t.start(a, run).unwrap();
        t.submit().unwrap(); // pending
        r.header[word::QUEUED] = 3;
        r.header[word::DONE] = 10;
        r.header[word::FAILED] = 2;
        (r, a, b)
    }

    #[test]
    fn stamps_and_counts_are_read_and_checked() {
        let (mut r, a, b) = busy();
        let now = crate::sys::monotonic_ns().max(10_000_000_000);
        let second = 1_000_000_000;
        r.stamp(
            a,
            pool_layout::stamp(WorkerState::Running, now - 3 * second),
        );
        // Written for another state than the slot's: not shown.
        r.stamp(b, pool_layout::stamp(WorkerState::Running, now - second));
        let p = r.snapshot().unwrap();
        assert_eq!(
            p.tasks,
            TaskCounts {
                pending: 4,
                running: 1,
                done: 11,
                failed: 2
            }
        );
        let (wa, wb) = (p.workers[0], p.workers[1]);
        assert_eq!((wa.state, wb.state), ("running", "ready"));
        assert_eq!(wa.since_ns, Some((now - 3 * second) & !7));
        let for_a = wa.state_for.unwrap();
        assert!(for_a >= Duration::from_secs(3) && for_a < Duration::from_secs(3600));
        assert_eq!((wb.since_ns, wb.state_for), (None, None));
        assert_eq!((wa.task, wa.task_generation), (Some(0), Some(1)));
        assert_eq!(wb.task, None);

        // A stamp in the future: its time, but no duration.
        r.stamp(
            b,
            pool_layout::stamp(WorkerState::Ready, now + 3600 * second),
        );
        let wb = r.snapshot().unwrap().workers[1];
        assert!(wb.since_ns.is_some());
        assert_eq!(wb.state_for, None);
    }

    #[test]
    fn garbage_counters_saturate() {
        let (mut r, _, _) = busy();
        for w in [word::QUEUED, word::DONE, word::FAILED] {
            r.header[w] = u64::MAX;
        }
        let t = r.snapshot().unwrap().tasks;
        assert_eq!(
            (t.pending, t.done, t.failed),
            (u64::MAX, u64::MAX, u64::MAX)
        );
    }

    #[test]
    fn other_versions_and_broken_headers_are_typed_errors() {
        let (mut r, _, _) = busy();
        r.header[word::VERSION] = 1;
        assert!(matches!(
            r.snapshot(),
            Err(InspectError::UnsupportedVersion { found: 1 })
        ));
        r.header[word::VERSION] = pool_layout::VERSION;
        r.header[word::STAMPS_AT] += 64;
        assert!(matches!(r.snapshot(), Err(InspectError::BadHeader(_))));
        r.header[word::STAMPS_AT] -= 64;
        let bytes = r.bytes();
        for cut in [0, 8, pool_layout::HEADER_LEN, bytes.len() - 8] {
            assert!(pool_snapshot(&&bytes[..cut]).is_err(), "{cut}");
        }
        assert!(pool_snapshot(&&bytes[..]).is_ok());
    }
}
