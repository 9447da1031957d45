//! [`Tables`]: the pool's shared region — the result doorbell and ipc-core's worker and task
//! tables — inherited by every worker at its fork.
//!
//! Layout (offsets in bytes; all-zero bytes are a valid empty state):
//!
//! | offset      | length    | what |
//! |-------------|-----------|------|
//! | `0`         | 8         | the doorbell, an [`ipc_core::WaitWord`] |
//! | `64`        | `32 × W`  | `W` [`WorkerSlot`]s |
//! | `tasks_at`  | `8 × T`   | `T` [`TaskSlot`]s (`tasks_at`: the end of the workers, rounded up to 64) |
//!
//! A **named** pool ([`Builder::name`](super::Builder::name)) keeps the same tables in a named
//! region (`/dev/shm/NAME`, mode 0600), after a header of [`HEADER_LEN`] bytes and before `W`
//! time stamps, so that `ipcctl` (`crate::inspect`) can show its workers and tasks; the pool
//! removes the name when it is dropped. Header words (`u64`, little-endian, at `8 × index`):
//!
//! | word | what |
//! |------|------|
//! | 0 | magic `b"hrpool\0\x01"` (stored last, Release) |
//! | 1 | version ([`VERSION`], 2; version 1 had no stamps and no counts) |
//! | 2 | region length: `HEADER_LEN + stamps_at + 8 × W` |
//! | 3, 4 | worker slots `W`, task slots `T` |
//! | 5 | `tasks_at` (from the tables' start) |
//! | 6, 7 | creator pid, creator identity |
//! | 8 | `stamps_at` (from the tables' start): `tasks_at + 8 × T`, rounded up to 64 |
//! | 9 | queued: tasks in the pool's process that have no task slot yet (a gauge) |
//! | 10 | done: tasks whose result was delivered as a value (since the pool began) |
//! | 11 | failed: tasks whose result was delivered as an error (raised or panicked, could not be encoded, worker died, pool terminated) |
//! | 12–15 | reserved, 0 |
//!
//! Words 9–11 are written by the pool's process alone (under its scheduler lock, or by its
//! result thread); no worker writes them, so a worker killed at any instruction leaves them
//! consistent: its task is counted failed once the pool buries it. Stamp `i` (at
//! `HEADER_LEN + stamps_at + 8 i`) is the `CLOCK_MONOTONIC` time in nanoseconds at which worker
//! slot `i` entered its state, with the state's code in its low 3 bits ([`stamp`]), written
//! right after each transition by whoever made it (the worker; the pool's process for `new` and
//! `dead`); 0: none yet. A reader shows it only if its code is the slot's state.

use ipc_core::pool::{PoolTables, TaskSlot, WorkerId, WorkerSlot, WorkerState};
use ipc_core::WaitWord;

use super::error::PoolError;
use crate::queue::QueueError;
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::sync::Arc;

use crate::shared::region::SharedBytes;
use crate::shm::SharedRegion;

const DOORBELL_AT: usize = 0;
pub(crate) const WORKERS_AT: usize = 64;

/// `b"hrpool\0\x01"` read as a little-endian `u64`: a named pool's status region.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"hrpool\0\x01");
/// The named pool region's format version (1: no `stamps_at`, no stamps, no task counts).
pub(crate) const VERSION: u64 = 2;
/// Bytes of a named pool region's header; the tables follow.
pub(crate) const HEADER_LEN: usize = 128;

/// Header word indices of a named pool region.
pub(crate) mod word {
    pub(crate) const MAGIC: usize = 0;
    pub(crate) const VERSION: usize = 1;
    pub(crate) const REGION_LEN: usize = 2;
    pub(crate) const WORKERS: usize = 3;
    pub(crate) const TASKS: usize = 4;
    pub(crate) const TASKS_AT: usize = 5;
    pub(crate) const CREATOR_PID: usize = 6;
    pub(crate) const CREATOR_IDENTITY: usize = 7;
    pub(crate) const STAMPS_AT: usize = 8;
    pub(crate) const QUEUED: usize = 9;
    pub(crate) const DONE: usize = 10;
    pub(crate) const FAILED: usize = 11;
}

/// Where the stamps start (from the tables' start), after the task table.
pub(crate) fn stamps_at(workers: usize, tasks: usize) -> Option<usize> {
    tasks
        .checked_mul(size_of::<TaskSlot>())?
        .checked_add(tasks_at(workers))?
        .checked_next_multiple_of(64)
}

/// A worker state's code in a stamp's low 3 bits (those of ipc-core's worker word).
pub(crate) fn state_code(state: WorkerState) -> u64 {
    match state {
        WorkerState::New => 1,
        WorkerState::Ready => 2,
        WorkerState::Running => 3,
        WorkerState::Blocked => 4,
        WorkerState::Dead => 5,
        // A state added to ipc-core later: no code, never matches.
        _ => 7,
    }
}

/// The stamp word for entering `state` at `now_ns` (`CLOCK_MONOTONIC`): the time, rounded
/// down to 8 ns, with the state's code in the low 3 bits. Decoded by `inspect`
/// ([`stamp_time`]).
pub(crate) fn stamp(state: WorkerState, now_ns: u64) -> u64 {
    (now_ns & !7) | state_code(state)
}

/// A stamp word's time, if it was written for `state` (and is not 0).
pub(crate) fn stamp_time(word: u64, state: WorkerState) -> Option<u64> {
    (word != 0 && word & 7 == state_code(state)).then_some(word & !7)
}

/// Where the task slots start (from the tables' start), for `workers` worker slots.
pub(crate) fn tasks_at(workers: usize) -> usize {
    (WORKERS_AT + workers * size_of::<WorkerSlot>()).next_multiple_of(64)
}

/// The pool's shared region, viewed as its parts. Clones share it.
#[derive(Clone, Debug)]
pub(super) struct Tables {
    bytes: SharedBytes,
    workers: usize,
    tasks: usize,
    tasks_at: usize,
    /// A named pool's region name, removed by [`Tables::unlink`].
    name: Option<Arc<str>>,
    /// A named pool's header and stamps (module docs).
    status: Option<Status>,
    /// The region, for its file ([`Tables::fd`]).
    region: SharedRegion,
}

/// The parts of a named pool's region that only `inspect` reads.
#[derive(Clone, Debug)]
struct Status {
    header: SharedBytes,
    /// `W` stamps.
    stamps: SharedBytes,
}

impl Status {
    /// A named pool region's header, tables (`len` bytes after the header) and `workers`
    /// stamps at `stamps_at` (after the header).
    fn claim(
        region: &SharedRegion,
        stamps_at: usize,
        len: usize,
        workers: usize,
    ) -> Result<(SharedBytes, SharedBytes, SharedBytes), crate::shared::region::ClaimError> {
        let header = region.claim_bytes(0, HEADER_LEN)?;
        let bytes = region.claim_bytes(HEADER_LEN, len)?;
        let stamps = region.claim_bytes(HEADER_LEN + stamps_at, workers * 8)?;
        Ok((header, bytes, stamps))
    }
}

impl Tables {
    /// A new zeroed region for `workers` worker slots and `tasks` task slots; named `name`
    /// (with a header, see the module docs) if given. With `shareable`, the region keeps its
    /// file ([`Tables::fd`]: an anonymous one is then a sealed memory file) to hand to workers
    /// that don't inherit the mapping.
    pub(super) fn new(
        workers: usize,
        tasks: usize,
        name: Option<&str>,
        shareable: bool,
    ) -> Result<Tables, PoolError> {
        let tasks_at = tasks_at(workers);
        let len = tasks_at + tasks * size_of::<TaskSlot>();
        let (bytes, region, status) = match name {
            None => {
                let region = if shareable {
                    SharedRegion::new_memfd(len)?
                } else {
                    SharedRegion::new(len)?
                };
                let bytes = region.claim_bytes(0, len).map_err(QueueError::Claim)?;
                (bytes, region, None)
            }
            Some(name) => {
                let stamps_at = stamps_at(workers, tasks).ok_or_else(|| {
                    PoolError::InvalidConfig("pool tables: too many task slots".into())
                })?;
                let region_len = HEADER_LEN + stamps_at + workers * 8;
                let (region, file) = SharedRegion::create_named_file(name, region_len)?;
                crate::shm::unlock(&file);
                let region = if shareable {
                    region.keeping_file(file)
                } else {
                    region
                };
                let (header, bytes, stamps) = match Status::claim(&region, stamps_at, len, workers)
                {
                    Ok(parts) => parts,
                    Err(e) => {
                        let _ = SharedRegion::unlink_named(name);
                        return Err(QueueError::Claim(e).into());
                    }
                };
                let words = [
                    (word::VERSION, VERSION),
                    (word::REGION_LEN, region_len as u64),
                    (word::WORKERS, workers as u64),
                    (word::TASKS, tasks as u64),
                    (word::TASKS_AT, tasks_at as u64),
                    (word::CREATOR_PID, u64::from(std::process::id())),
                    (word::CREATOR_IDENTITY, crate::liveness::own_identity()),
                    (word::STAMPS_AT, stamps_at as u64),
                ];
                for (index, value) in words {
                    header.u64_at(8 * index).store(value, Relaxed);
                }
                // Release: whoever sees the magic sees the words above.
                header.u64_at(8 * word::MAGIC).store(MAGIC, Release);
                (bytes, region, Some(Status { header, stamps }))
            }
        };
        let tables = Tables {
            bytes,
            workers,
            tasks,
            tasks_at,
            name: name.map(Arc::from),
            status,
            region,
        };
        // Refuses empty or oversized tables once, here; `get` relies on it.
        if let Err(e) = PoolTables::new(tables.worker_slots(), tables.task_slots()) {
            tables.unlink();
            return Err(PoolError::InvalidConfig(format!("pool tables: {e}")));
        }
        Ok(tables)
    }

    /// The tables of a pool, in `region` (its file handed to this worker process): `workers`
    /// and `tasks` slots, after a named pool's header if `named`. Only the length is checked
    /// here (every slot's bits are valid to the tables' code, whatever is written there).
    ///
    /// # Errors
    ///
    /// [`PoolError::InvalidConfig`] if the region's length is not the one these counts make,
    /// or the counts are refused by the tables.
    pub(super) fn attach(
        region: SharedRegion,
        workers: usize,
        tasks: usize,
        named: bool,
    ) -> Result<Tables, PoolError> {
        let tasks_at = tasks_at(workers);
        let len = tasks
            .checked_mul(size_of::<TaskSlot>())
            .and_then(|t| t.checked_add(tasks_at))
            .ok_or_else(|| PoolError::InvalidConfig("pool tables: bad counts".into()))?;
        let stamps_at = stamps_at(workers, tasks)
            .ok_or_else(|| PoolError::InvalidConfig("pool tables: bad counts".into()))?;
        let expected = if named {
            workers
                .checked_mul(8)
                .and_then(|stamps| stamps.checked_add(HEADER_LEN + stamps_at))
                .ok_or_else(|| PoolError::InvalidConfig("pool tables: bad counts".into()))?
        } else {
            len
        };
        if region.len() != expected {
            return Err(PoolError::InvalidConfig(format!(
                "pool tables: the region is {} bytes, not {expected}",
                region.len(),
            )));
        }
        let (bytes, status) = if named {
            let (header, bytes, stamps) =
                Status::claim(&region, stamps_at, len, workers).map_err(QueueError::Claim)?;
            (bytes, Some(Status { header, stamps }))
        } else {
            let bytes = region.claim_bytes(0, len).map_err(QueueError::Claim)?;
            (bytes, None)
        };
        let tables = Tables {
            bytes,
            workers,
            tasks,
            tasks_at,
            name: None,
            status,
            region,
        };
        if let Err(e) = PoolTables::new(tables.worker_slots(), tables.task_slots()) {
            return Err(PoolError::InvalidConfig(format!("pool tables: {e}")));
        }
        Ok(tables)
    }

    /// The region's file, for a pool made `shareable` (see [`Tables::new`]).
    pub(super) fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.region.fd()
    }

    /// Whether the tables follow a named pool's header.
    pub(super) fn is_named(&self) -> bool {
        self.name.is_some()
    }

    /// The numbers of worker and task slots.
    pub(super) fn counts(&self) -> (usize, usize) {
        (self.workers, self.tasks)
    }

    /// Removes a named pool's name (nothing for an anonymous one).
    pub(super) fn unlink(&self) {
        if let Some(name) = &self.name {
            let _ = SharedRegion::unlink_named(name);
        }
    }

    fn worker_slots(&self) -> &[WorkerSlot] {
        self.bytes.atomics(WORKERS_AT, self.workers)
    }

    fn task_slots(&self) -> &[TaskSlot] {
        self.bytes.atomics(self.tasks_at, self.tasks)
    }

    /// The worker and task tables.
    pub(super) fn get(&self) -> PoolTables<'_> {
        PoolTables::new(self.worker_slots(), self.task_slots())
            .expect("the table sizes were accepted in `Tables::new`")
    }

    /// The doorbell: workers `notify` it after putting a result, and write a byte to the
    /// wake-up socket when the result thread is registered as waiting.
    pub(super) fn doorbell(&self) -> &WaitWord {
        &self.bytes.atomics::<WaitWord>(DOORBELL_AT, 1)[0]
    }

    /// A named pool's worker `id` entered `state` just now: its stamp (module docs). Nothing
    /// for an anonymous pool. Called right after a transition that succeeded.
    pub(super) fn stamp(&self, id: WorkerId, state: WorkerState) {
        if let Some(status) = &self.status {
            let word = stamp(state, crate::sys::monotonic_ns());
            status.stamps.u64_at(8 * id.index()).store(word, Relaxed);
        }
    }

    /// A named pool's count of finished tasks: one more done (`ok`) or failed. Called by the
    /// result thread as it delivers each task's outcome.
    pub(super) fn count_finished(&self, ok: bool) {
        if let Some(status) = &self.status {
            let at = if ok { word::DONE } else { word::FAILED };
            status.header.u64_at(8 * at).fetch_add(1, Relaxed);
        }
    }

    /// A named pool's gauge of tasks waiting in its process with no task slot yet. Called
    /// under the scheduler's lock, after each change of its backlog.
    pub(super) fn set_queued(&self, queued: usize) {
        if let Some(status) = &self.status {
            status
                .header
                .u64_at(8 * word::QUEUED)
                .store(queued as u64, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::{inspect_region_bytes, RegionSnapshot, TaskCounts};

    /// A named pool's region as the pool writes it (no workers forked: the test plays them;
    /// the running stamp comes through the tables an exec'd worker attaches from the region's
    /// file), read back by `inspect`.
    #[test]
    fn a_named_region_publishes_stamps_and_counts() {
        let name = format!("hr-pool-tables-unit-{}", std::process::id());
        let _ = SharedRegion::unlink_named(&name);
        let tables = Tables::new(2, 8, Some(&name), true).unwrap();
        let file = std::fs::File::from(tables.fd().unwrap().try_clone_to_owned().unwrap());
        let attached = Tables::attach(SharedRegion::from_memfd(file).unwrap(), 2, 8, true).unwrap();
        let t = tables.get();
        let w = t.add_worker().unwrap();
        tables.stamp(w, WorkerState::New);
        t.worker_started(w, 4242).unwrap();
        tables.stamp(w, WorkerState::Ready);
        let task = t.submit().unwrap();
        t.start(w, task).unwrap();
        attached.stamp(w, WorkerState::Running);
        tables.set_queued(3);
        tables.count_finished(true);
        tables.count_finished(true);
        tables.count_finished(false);
        let bytes = std::fs::read(std::path::Path::new("/dev/shm").join(&name)).unwrap();
        tables.unlink();
        let RegionSnapshot::Pool(p) = inspect_region_bytes(&bytes).unwrap() else {
            panic!("not a pool region");
        };
        assert_eq!(p.region_len, bytes.len());
        assert_eq!(
            p.tasks,
            TaskCounts {
                pending: 3,
                running: 1,
                done: 2,
                failed: 1
            }
        );
        let worker = p.workers[0];
        assert_eq!((worker.state, worker.task), ("running", Some(task.index())));
        assert!(worker.since_ns.is_some() && worker.state_for.is_some());
        // An anonymous pool has no status part: the same calls do nothing.
        let anonymous = Tables::new(2, 8, None, false).unwrap();
        anonymous.stamp(w, WorkerState::Ready);
        anonymous.count_finished(true);
        anonymous.set_queued(1);
    }
}
