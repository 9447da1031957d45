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

use ipc_core::pool::{PoolTables, TaskSlot, WorkerSlot};
use ipc_core::WaitWord;

use super::error::PoolError;
use crate::queue::QueueError;
use crate::shared::region::SharedBytes;
use crate::shm::SharedRegion;

const DOORBELL_AT: usize = 0;
const WORKERS_AT: usize = 64;

/// The pool's shared region, viewed as its parts. Clones share it.
#[derive(Clone, Debug)]
pub(super) struct Tables {
    bytes: SharedBytes,
    workers: usize,
    tasks: usize,
    tasks_at: usize,
}

impl Tables {
    /// A new zeroed region for `workers` worker slots and `tasks` task slots.
    pub(super) fn new(workers: usize, tasks: usize) -> Result<Tables, PoolError> {
        let tasks_at = (WORKERS_AT + workers * size_of::<WorkerSlot>()).next_multiple_of(64);
        let len = tasks_at + tasks * size_of::<TaskSlot>();
        let region = SharedRegion::new(len)?;
        let bytes = region.claim_bytes(0, len).map_err(QueueError::Claim)?;
        let tables = Tables {
            bytes,
            workers,
            tasks,
            tasks_at,
        };
        // Refuses empty or oversized tables once, here; `get` relies on it.
        PoolTables::new(tables.worker_slots(), tables.task_slots())
            .map_err(|e| PoolError::InvalidConfig(format!("pool tables: {e}")))?;
        Ok(tables)
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
