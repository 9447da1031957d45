//! [`Shared`]: what the pool's handle, the result thread and the submitting threads share.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};

use super::sched::Sched;
use super::tables::Tables;
use crate::lock::{self, lock};
use crate::sys::fncall::CallKey;

/// What the pool's handle, the result thread and the submitting threads share.
pub(super) struct Shared {
    pub(super) sched: Mutex<Sched>,
    pub(super) tables: Tables,
    pub(super) key: CallKey,
    /// Unique among the pools of this process (for the call cache of `Pool`).
    pub(super) id: u64,
    /// The wake-up socket's write end (non-blocking): `close`/`terminate` write a byte, and
    /// so do the workers, which share it (each worker inherits the descriptor at its fork: no
    /// copy of its own, which would take a descriptor per worker start).
    pub(super) wake_tx: Arc<UnixStream>,
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
        let _ = (&*self.wake_tx).write(&[1]);
    }

    /// Waits until the result thread has ended.
    pub(super) fn wait_finished(&self) {
        let mut done = lock(&self.finished);
        while !*done {
            done = lock::wait(&self.finished_cond, done, None);
        }
    }
}
