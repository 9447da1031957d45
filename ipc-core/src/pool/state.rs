//! The words of the tables: a task's and a worker's state packed with its generation (and a
//! task's worker) into one atomic word, decoded in one place; the handles that name one
//! allocation of a slot.

/// Task word: `generation (32) | state (3) | worker (16) | 0 (13)`.
pub(super) const GEN_SHIFT: u32 = 32;
pub(super) const STATE_SHIFT: u32 = 29;
pub(super) const WORKER_SHIFT: u32 = 13;
pub(super) const STATE_MASK: u64 = 0b111;
pub(super) const WORKER_MASK: u64 = 0xffff;

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskState {
    /// Submitted, waiting for a worker.
    Pending,
    /// Taken by the worker with this index.
    Running(usize),
    /// Finished; its result is ready.
    Done,
    /// Finished with an error (e.g. it panicked); the error is its result.
    Failed,
    /// Its worker died while running it.
    Lost,
    /// The pool stopped before a worker took it.
    Cancelled,
}

impl TaskState {
    /// Whether the task will not change any more (until released).
    pub const fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Done | Self::Failed | Self::Lost | Self::Cancelled
        )
    }
}

pub(super) const T_FREE: u64 = 0;
pub(super) const T_PENDING: u64 = 1;
pub(super) const T_RUNNING: u64 = 2;
pub(super) const T_DONE: u64 = 3;
pub(super) const T_FAILED: u64 = 4;
pub(super) const T_LOST: u64 = 5;
pub(super) const T_CANCELLED: u64 = 6;

pub(super) const fn task_word(generation: u32, state: u64, worker: usize) -> u64 {
    ((generation as u64) << GEN_SHIFT)
        | (state << STATE_SHIFT)
        | ((worker as u64 & WORKER_MASK) << WORKER_SHIFT)
}

pub(super) const fn task_gen(word: u64) -> u32 {
    (word >> GEN_SHIFT) as u32
}

pub(super) const fn task_state_bits(word: u64) -> u64 {
    (word >> STATE_SHIFT) & STATE_MASK
}

pub(super) const fn task_worker(word: u64) -> usize {
    ((word >> WORKER_SHIFT) & WORKER_MASK) as usize
}

/// The decoded state, or `None` for `Free` and reserved encodings.
pub(super) const fn decode_task(word: u64) -> Option<TaskState> {
    match task_state_bits(word) {
        T_PENDING => Some(TaskState::Pending),
        T_RUNNING => Some(TaskState::Running(task_worker(word))),
        T_DONE => Some(TaskState::Done),
        T_FAILED => Some(TaskState::Failed),
        T_LOST => Some(TaskState::Lost),
        T_CANCELLED => Some(TaskState::Cancelled),
        _ => None,
    }
}

/// Names one allocation of a task slot: its index and the generation it was given.
///
/// Packs into a `u64` ([`to_bits`](Self::to_bits)) to travel in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskHandle {
    pub(super) index: u32,
    pub(super) generation: u32,
}

impl TaskHandle {
    /// The task slot's index.
    pub const fn index(self) -> usize {
        self.index as usize
    }

    /// The handle as one `u64`: `generation << 32 | index`.
    pub const fn to_bits(self) -> u64 {
        ((self.generation as u64) << 32) | self.index as u64
    }

    /// The handle [`to_bits`](Self::to_bits) made. Any value is accepted; a forged or
    /// stale one is refused by the table ([`PoolError::Stale`](super::PoolError::Stale)).
    pub const fn from_bits(bits: u64) -> Self {
        Self {
            index: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }
}

/// A worker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WorkerState {
    /// Its slot is allocated; its process is starting.
    New,
    /// Waiting for a task.
    Ready,
    /// Running a task.
    Running,
    /// Running a task, and waiting for something else (e.g. room to send its result).
    Blocked,
    /// Its process has exited or was killed.
    Dead,
}

/// Worker word: `generation (32) | state (3)`.
pub(super) const W_FREE: u64 = 0;
pub(super) const W_NEW: u64 = 1;
pub(super) const W_READY: u64 = 2;
pub(super) const W_RUNNING: u64 = 3;
pub(super) const W_BLOCKED: u64 = 4;
pub(super) const W_DEAD: u64 = 5;

pub(super) const fn worker_word(generation: u32, state: u64) -> u64 {
    ((generation as u64) << GEN_SHIFT) | state
}

pub(super) const fn decode_worker(word: u64) -> Option<WorkerState> {
    match word & STATE_MASK {
        W_NEW => Some(WorkerState::New),
        W_READY => Some(WorkerState::Ready),
        W_RUNNING => Some(WorkerState::Running),
        W_BLOCKED => Some(WorkerState::Blocked),
        W_DEAD => Some(WorkerState::Dead),
        _ => None,
    }
}

/// Names one incarnation of a worker slot: its index and the generation it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WorkerId {
    pub(super) index: u16,
    pub(super) generation: u32,
}

impl WorkerId {
    /// The worker slot's index.
    pub const fn index(self) -> usize {
        self.index as usize
    }
}
