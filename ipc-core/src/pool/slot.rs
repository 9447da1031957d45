//! The `#[repr(C)]` slots the tables are made of, laid over shared memory by the host.

use crate::sync::{AtomicU32, AtomicWord};
/// One task slot. `#[repr(C)]`, 8 bytes: lay a table over shared memory.
#[derive(Debug)]
#[repr(C)]
pub struct TaskSlot {
    pub(super) word: AtomicWord,
}

impl TaskSlot {
    /// A free slot (all-zero bytes are one too).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            word: AtomicWord::new(0),
        }
    }

    /// A free slot.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            word: AtomicWord::new(0),
        }
    }
}

impl Default for TaskSlot {
    fn default() -> Self {
        Self::new()
    }
}

/// One worker slot. `#[repr(C)]`, 32 bytes: lay a table over shared memory.
#[derive(Debug)]
#[repr(C)]
pub struct WorkerSlot {
    /// `generation | state`: the only field a transition depends on.
    pub(super) word: AtomicWord,
    /// Informational: the worker's process id (0 = unknown).
    pub(super) pid: AtomicU32,
    _pad: AtomicU32,
    /// Informational: the handle bits of its current task (`u64::MAX` = none).
    pub(super) task: AtomicWord,
    /// Informational: tasks it finished (done or failed).
    pub(super) done: AtomicWord,
}

impl WorkerSlot {
    crate::sync::const_fn! {
        /// A free slot (all-zero bytes are one too).
        pub fn new() -> Self {
            Self {
                word: AtomicWord::new(0),
                pid: AtomicU32::new(0),
                _pad: AtomicU32::new(0),
                task: AtomicWord::new(0),
                done: AtomicWord::new(0),
            }
        }
    }
}

impl Default for WorkerSlot {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<TaskSlot>() == 8);
    assert!(core::mem::size_of::<WorkerSlot>() == 32);
    assert!(core::mem::offset_of!(WorkerSlot, task) == 16);
};

pub(super) const NO_TASK: u64 = u64::MAX;
