//! [`WorkerInfo`]: what [`Pool::workers`](super::Pool::workers) reports about a worker slot.

use ipc_core::pool::{TaskHandle, WorkerId, WorkerState};

use crate::sys::Pid;

/// What the pool tables say about one worker slot ([`Pool::workers`](super::Pool::workers)).
///
/// ipc-core's `WorkerInfo` with the pid read as a [`Pid`]: the tables hold it as a raw `u32`
/// word, and a word that is no pid (0, or above `i32::MAX`, as a broken process may write)
/// reads as `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerInfo {
    /// Its incarnation.
    pub id: WorkerId,
    /// Its state.
    pub state: WorkerState,
    /// Its process id, once recorded.
    pub pid: Option<Pid>,
    /// The task it runs, if any.
    pub task: Option<TaskHandle>,
    /// Tasks it has finished.
    pub tasks_done: u64,
}

impl From<ipc_core::pool::WorkerInfo> for WorkerInfo {
    fn from(info: ipc_core::pool::WorkerInfo) -> WorkerInfo {
        WorkerInfo {
            id: info.id,
            state: info.state,
            pid: info.pid.and_then(Pid::from_word),
            task: info.task,
            tasks_done: info.tasks_done,
        }
    }
}
