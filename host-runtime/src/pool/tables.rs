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
//! region (`/dev/shm/NAME`, mode 0600), after a header of [`HEADER_LEN`] bytes, so that
//! `ipcctl` (`crate::inspect`) can show its workers; the pool removes the name when it is
//! dropped. Header words (`u64`, little-endian, at `8 × index`): 0 magic `b"hrpool\0\x01"`
//! (stored last, Release), 1 version (1), 2 region length, 3 worker slots `W`, 4 task slots
//! `T`, 5 `tasks_at` (from the tables' start), 6 creator pid, 7 creator identity; the rest 0.

use ipc_core::pool::{PoolTables, TaskSlot, WorkerSlot};
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
/// The named pool region's format version.
pub(crate) const VERSION: u64 = 1;
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
    /// The region, for its file ([`Tables::fd`]).
    region: SharedRegion,
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
        let (bytes, region) = match name {
            None => {
                let region = if shareable {
                    SharedRegion::new_memfd(len)?
                } else {
                    SharedRegion::new(len)?
                };
                (
                    region.claim_bytes(0, len).map_err(QueueError::Claim)?,
                    region,
                )
            }
            Some(name) => {
                let (region, file) = SharedRegion::create_named_file(name, HEADER_LEN + len)?;
                crate::shm::unlock(&file);
                let region = if shareable {
                    region.keeping_file(file)
                } else {
                    region
                };
                let header = region
                    .claim_bytes(0, HEADER_LEN)
                    .map_err(QueueError::Claim)?;
                let bytes = region
                    .claim_bytes(HEADER_LEN, len)
                    .map_err(QueueError::Claim)?;
                let words = [
                    (word::VERSION, VERSION),
                    (word::REGION_LEN, (HEADER_LEN + len) as u64),
                    (word::WORKERS, workers as u64),
                    (word::TASKS, tasks as u64),
                    (word::TASKS_AT, tasks_at as u64),
                    (word::CREATOR_PID, u64::from(std::process::id())),
                    (word::CREATOR_IDENTITY, crate::liveness::own_identity()),
                ];
                for (index, value) in words {
                    header.u64_at(8 * index).store(value, Relaxed);
                }
                // Release: whoever sees the magic sees the words above.
                header.u64_at(8 * word::MAGIC).store(MAGIC, Release);
                (bytes, region)
            }
        };
        let tables = Tables {
            bytes,
            workers,
            tasks,
            tasks_at,
            name: name.map(Arc::from),
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
        let start = if named { HEADER_LEN } else { 0 };
        if region.len() != start + len {
            return Err(PoolError::InvalidConfig(format!(
                "pool tables: the region is {} bytes, not {}",
                region.len(),
                start + len
            )));
        }
        let bytes = region.claim_bytes(start, len).map_err(QueueError::Claim)?;
        let tables = Tables {
            bytes,
            workers,
            tasks,
            tasks_at,
            name: None,
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
}
