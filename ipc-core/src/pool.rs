//! Bookkeeping of a process pool: a table of workers and a table of tasks, each entry
//! one atomic word (plus a few informational fields), so that every transition is a
//! single compare-and-swap and any process sharing the tables sees a consistent state.
//!
//! * A **task** moves `Free → Pending → Running(worker) → Done | Failed`, or to `Lost`
//!   (its worker died) or `Cancelled` (the pool was terminated before it ran). Each
//!   allocation of a task slot bumps its 32-bit generation, and a [`TaskHandle`]
//!   carries the generation it was given: a stale handle can never read or release
//!   another task's state.
//! * A **worker** moves `Free → New → Ready ⇄ Running`, `Running ⇄ Blocked`, and to
//!   `Dead` from any of them; a dead worker's slot is reused for its replacement.
//!
//! The task word records which worker runs it, so when a worker dies,
//! [`PoolTables::worker_died`] finds its task and marks it lost in the same CAS that
//! could otherwise have completed it: exactly one of "finished" and "lost" wins.
//!
//! Needs 64-bit atomics: the module exists on targets that have them.

use core::fmt;

use crate::sync::{AtomicWord, Ordering::*};

mod error;
mod slot;
mod state;

pub use error::PoolError;
use slot::NO_TASK;
pub use slot::{TaskSlot, WorkerSlot};
use state::*;
pub use state::{TaskHandle, TaskState, WorkerId, WorkerState};

/// The most workers a table may have (worker indices are 16 bits in a task word).
pub const MAX_WORKERS: usize = 1 << 16;
/// The most tasks a table may have (task indices are 32 bits in a handle).
pub const MAX_TASKS: usize = 1 << 31;

/// What [`PoolTables::worker`] reports about a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Its incarnation.
    pub id: WorkerId,
    /// Its state.
    pub state: WorkerState,
    /// Its process id, once recorded.
    pub pid: Option<u32>,
    /// The task it runs, if any.
    pub task: Option<TaskHandle>,
    /// Tasks it has finished.
    pub tasks_done: u64,
}

/// How often a transition retries its CAS on a word that keeps changing before it gives up
/// with [`PoolError::Contended`]: far more than the few moves a live worker makes to its own
/// slot in the meantime.
pub const MAX_CAS_RETRIES: u32 = 1024;

/// A worker table and a task table, seen together (the task table says which worker
/// runs each task).
///
/// The tables are slices the caller provides: arrays in a `static`, or
/// [`TaskSlot`]/[`WorkerSlot`] arrays laid over shared memory (both are `#[repr(C)]`
/// atomics; all-zero bytes are free slots).
///
/// # Examples
///
/// ```
/// use ipc_core::pool::{PoolTables, TaskSlot, TaskState, WorkerSlot};
///
/// let workers: [WorkerSlot; 2] = Default::default();
/// let tasks: [TaskSlot; 8] = Default::default();
/// let pool = PoolTables::new(&workers, &tasks).unwrap();
///
/// let w = pool.add_worker().unwrap();
/// pool.worker_started(w, 4242).unwrap();
/// let t = pool.submit().unwrap();
/// pool.start(w, t).unwrap();
/// assert_eq!(pool.task_state(t), Ok(TaskState::Running(w.index())));
/// pool.finish(w, t, true).unwrap();
/// assert_eq!(pool.release(t), Ok(TaskState::Done));
/// assert!(pool.task_state(t).is_err(), "a released handle is stale");
/// ```
#[derive(Clone, Copy)]
pub struct PoolTables<'a> {
    workers: &'a [WorkerSlot],
    tasks: &'a [TaskSlot],
}

impl fmt::Debug for PoolTables<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolTables")
            .field("workers", &self.workers.len())
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

impl<'a> PoolTables<'a> {
    /// Tables over `workers` and `tasks`.
    ///
    /// # Errors
    ///
    /// [`PoolError::WrongState`] if a table is empty or longer than [`MAX_WORKERS`] /
    /// [`MAX_TASKS`].
    pub fn new(workers: &'a [WorkerSlot], tasks: &'a [TaskSlot]) -> Result<Self, PoolError> {
        if workers.is_empty()
            || workers.len() > MAX_WORKERS
            || tasks.is_empty()
            || tasks.len() > MAX_TASKS
        {
            return Err(PoolError::WrongState);
        }
        Ok(Self { workers, tasks })
    }

    // ----- tasks -----

    /// Allocates a task slot: `Free → Pending`, with a new generation.
    ///
    /// # Errors
    ///
    /// [`PoolError::NoFreeTask`] if every slot is in use.
    pub fn submit(&self) -> Result<TaskHandle, PoolError> {
        self.submit_from(0)
    }

    /// [`submit`](Self::submit), looking for a free slot from index `start` on (then from
    /// 0): a submitter that passes the index after its last handle's finds a free slot at
    /// once instead of scanning past the tasks still running at the front of the table.
    ///
    /// # Errors
    ///
    /// [`PoolError::NoFreeTask`] if every slot is in use.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::pool::{PoolTables, TaskSlot, WorkerSlot};
    ///
    /// let (workers, tasks) = ([WorkerSlot::new()], [TaskSlot::new(), TaskSlot::new(), TaskSlot::new()]);
    /// let pool = PoolTables::new(&workers, &tasks)?;
    /// let a = pool.submit_from(2)?;
    /// let b = pool.submit_from(a.index() + 1)?; // wraps round to 0
    /// assert_eq!((a.index(), b.index()), (2, 0));
    /// # Ok::<(), ipc_core::pool::PoolError>(())
    /// ```
    pub fn submit_from(&self, start: usize) -> Result<TaskHandle, PoolError> {
        let start = if start < self.tasks.len() { start } else { 0 };
        let (back, front) = self.tasks.split_at(start);
        let words = front
            .iter()
            .chain(back)
            .map(|slot| &slot.word)
            .zip((start..self.tasks.len()).chain(0..start));
        let (index, generation) = take_first(
            words,
            |_, word| task_state_bits(word) == T_FREE,
            |generation| task_word(generation, T_PENDING, 0),
        )
        .ok_or(PoolError::NoFreeTask)?;
        Ok(TaskHandle {
            index: index as u32,
            generation,
        })
    }

    /// A worker takes a pending task: `Pending → Running(worker)`, and the worker
    /// `Ready → Running`. Exactly one of several workers racing for a task wins.
    ///
    /// # Errors
    ///
    /// [`PoolError::Stale`] for an old handle or worker id; [`PoolError::WrongState`] if
    /// the task is not pending (taken, cancelled) or the worker not ready.
    pub fn start(&self, worker: WorkerId, task: TaskHandle) -> Result<(), PoolError> {
        let wslot = self.worker_slot(worker)?;
        let wword = wslot.word.load(Acquire);
        if wword != worker_word(worker.generation, W_READY) {
            return Err(if task_gen(wword) != worker.generation {
                PoolError::Stale
            } else {
                PoolError::WrongState
            });
        }
        let tslot = self.task_slot(task)?;
        let pending = task_word(task.generation, T_PENDING, 0);
        let running = task_word(task.generation, T_RUNNING, worker.index());
        // AcqRel: takes the task (pairs with the submitter's writes of its arguments,
        // published before its message) and publishes the claim to `worker_died()`.
        tslot
            .word
            .compare_exchange(pending, running, AcqRel, Acquire)
            .map_err(|now| Self::why(now, task))?;
        wslot.task.store(task.to_bits(), Relaxed);
        // AcqRel: if `worker_died()` declared this worker dead meanwhile, its scan may
        // have missed our claim; we see that here and give the task up ourselves.
        if wslot
            .word
            .compare_exchange(
                wword,
                worker_word(worker.generation, W_RUNNING),
                AcqRel,
                Acquire,
            )
            .is_err()
        {
            let _ = tslot.word.compare_exchange(
                running,
                task_word(task.generation, T_LOST, 0),
                AcqRel,
                Relaxed,
            );
            return Err(PoolError::WrongState);
        }
        Ok(())
    }

    /// The worker finished its task: `Running(worker) → Done` (`ok`) or `Failed`, and
    /// the worker `Running | Blocked → Ready`, one more task done.
    ///
    /// # Errors
    ///
    /// [`PoolError::Stale`] / [`PoolError::WrongState`] if the task is not running on
    /// this worker — e.g. it was marked lost because the worker was declared dead:
    /// then its result must be discarded.
    pub fn finish(&self, worker: WorkerId, task: TaskHandle, ok: bool) -> Result<(), PoolError> {
        let wslot = self.worker_slot(worker)?;
        if task_gen(wslot.word.load(Acquire)) != worker.generation {
            // An earlier incarnation of this slot: it cannot finish its successor's task.
            return Err(PoolError::Stale);
        }
        let tslot = self.task_slot(task)?;
        let running = task_word(task.generation, T_RUNNING, worker.index());
        let end = task_word(task.generation, if ok { T_DONE } else { T_FAILED }, 0);
        // AcqRel: the worker's result writes happen before whoever sees Done.
        tslot
            .word
            .compare_exchange(running, end, AcqRel, Acquire)
            .map_err(|now| Self::why(now, task))?;
        wslot.task.store(NO_TASK, Relaxed);
        wslot.done.fetch_add(1, Relaxed);
        for from in [W_RUNNING, W_BLOCKED] {
            let was = worker_word(worker.generation, from);
            if wslot
                .word
                .compare_exchange(
                    was,
                    worker_word(worker.generation, W_READY),
                    Relaxed,
                    Relaxed,
                )
                .is_ok()
            {
                break;
            }
        }
        Ok(())
    }

    /// The task's state.
    ///
    /// # Errors
    ///
    /// [`PoolError::Stale`] if the handle's slot was released (and maybe reused).
    pub fn task_state(&self, task: TaskHandle) -> Result<TaskState, PoolError> {
        let word = self.task_slot(task)?.word.load(Acquire);
        if task_gen(word) != task.generation {
            return Err(PoolError::Stale);
        }
        decode_task(word).ok_or(PoolError::Stale)
    }

    /// Frees a finished task's slot (`Done | Failed | Lost | Cancelled → Free`) and
    /// returns the state it ended in. The handle is stale afterwards.
    ///
    /// # Errors
    ///
    /// [`PoolError::Stale`] for an old handle; [`PoolError::WrongState`] if the task has
    /// not finished.
    pub fn release(&self, task: TaskHandle) -> Result<TaskState, PoolError> {
        let slot = self.task_slot(task)?;
        let word = slot.word.load(Acquire);
        let state = match decode_task(word) {
            _ if task_gen(word) != task.generation => return Err(PoolError::Stale),
            Some(state) if state.is_finished() => state,
            Some(_) => return Err(PoolError::WrongState),
            None => return Err(PoolError::Stale),
        };
        // Release: pairs with the Acquire in `submit()`.
        slot.word
            .compare_exchange(
                word,
                task_word(task.generation, T_FREE, 0),
                Release,
                Relaxed,
            )
            .map_err(|now| Self::why(now, task))?;
        Ok(state)
    }

    /// Marks every pending task cancelled (`Pending → Cancelled`), e.g. when the pool is
    /// terminated, and returns how many. A worker's `start` on such a task then fails.
    pub fn cancel_pending(&self) -> usize {
        self.tasks
            .iter()
            .filter(|slot| {
                let word = slot.word.load(Relaxed);
                task_state_bits(word) == T_PENDING
                    && slot
                        .word
                        .compare_exchange(
                            word,
                            task_word(task_gen(word), T_CANCELLED, 0),
                            AcqRel,
                            Relaxed,
                        )
                        .is_ok()
            })
            .count()
    }

    /// Calls `f` with each task running on `worker` (any incarnation of its slot).
    pub fn running_on(&self, worker: usize, mut f: impl FnMut(TaskHandle)) {
        for (index, slot) in self.tasks.iter().enumerate() {
            let word = slot.word.load(Acquire);
            if task_state_bits(word) == T_RUNNING && task_worker(word) == worker {
                f(TaskHandle {
                    index: index as u32,
                    generation: task_gen(word),
                });
            }
        }
    }

    // ----- workers -----

    /// Allocates a worker slot (a free or dead one): `→ New`, with a new generation.
    ///
    /// # Errors
    ///
    /// [`PoolError::NoFreeWorker`] if every slot holds a live worker.
    pub fn add_worker(&self) -> Result<WorkerId, PoolError> {
        let reusable = |index: usize, word: u64| {
            // A dead worker whose tasks are not yet marked lost is not reusable yet.
            matches!(word & STATE_MASK, W_FREE | W_DEAD)
                && !self.tasks.iter().any(|t| {
                    let w = t.word.load(Relaxed);
                    task_state_bits(w) == T_RUNNING && task_worker(w) == index
                })
        };
        let words = self.workers.iter().map(|slot| &slot.word).zip(0..);
        let (index, generation) =
            take_first(words, reusable, |generation| worker_word(generation, W_NEW))
                .ok_or(PoolError::NoFreeWorker)?;
        let slot = &self.workers[index];
        slot.pid.store(0, Relaxed);
        slot.task.store(NO_TASK, Relaxed);
        slot.done.store(0, Relaxed);
        Ok(WorkerId {
            index: index as u16,
            generation,
        })
    }

    /// The worker's process is up: records its pid, `New → Ready`.
    ///
    /// # Errors
    ///
    /// [`PoolError::Stale`] / [`PoolError::WrongState`] unless the worker is `New`.
    pub fn worker_started(&self, worker: WorkerId, pid: u32) -> Result<(), PoolError> {
        let slot = self.worker_slot(worker)?;
        self.worker_transition(slot, worker, &[W_NEW], W_READY)?;
        slot.pid.store(pid, Relaxed);
        Ok(())
    }

    /// The worker waits for something while running its task: `Running → Blocked`.
    ///
    /// # Errors
    ///
    /// [`PoolError::Stale`] / [`PoolError::WrongState`] unless the worker is `Running`.
    pub fn worker_blocked(&self, worker: WorkerId) -> Result<(), PoolError> {
        self.worker_transition(self.worker_slot(worker)?, worker, &[W_RUNNING], W_BLOCKED)
    }

    /// The wait is over: `Blocked → Running`.
    ///
    /// # Errors
    ///
    /// [`PoolError::Stale`] / [`PoolError::WrongState`] unless the worker is `Blocked`.
    pub fn worker_unblocked(&self, worker: WorkerId) -> Result<(), PoolError> {
        self.worker_transition(self.worker_slot(worker)?, worker, &[W_BLOCKED], W_RUNNING)
    }

    /// The worker's process is gone: the worker becomes `Dead` and every task running
    /// on it becomes `Lost` (each in one CAS that races fairly with the worker's own
    /// `finish`: exactly one wins). Calls `lost` with each task it marked, and returns
    /// how many. Idempotent.
    ///
    /// Meant for a worker that can no longer act (its process was reaped). If it is in
    /// fact still running, its `finish` fails (the result must be dropped) and a
    /// `start` racing with this call marks its task lost itself.
    ///
    /// # Errors
    ///
    /// [`PoolError::Stale`] if the slot already belongs to a later worker;
    /// [`PoolError::Contended`] if its word kept changing (see [`MAX_CAS_RETRIES`]).
    pub fn worker_died(
        &self,
        worker: WorkerId,
        mut lost: impl FnMut(TaskHandle),
    ) -> Result<usize, PoolError> {
        let slot = self.worker_slot(worker)?;
        let mut tries = 0;
        loop {
            tries += 1;
            if tries > MAX_CAS_RETRIES {
                return Err(PoolError::Contended);
            }
            let word = slot.word.load(Acquire);
            if task_gen(word) != worker.generation {
                return Err(PoolError::Stale);
            }
            if word & STATE_MASK == W_DEAD {
                break;
            }
            // Release: pairs with the Acquire in `add_worker()`. (The Acquire load above,
            // whose value this CAS confirms, pairs with `start()`'s worker CAS, so the
            // scan below sees any task `start` took.)
            if slot
                .word
                .compare_exchange(
                    word,
                    worker_word(worker.generation, W_DEAD),
                    Release,
                    Relaxed,
                )
                .is_ok()
            {
                break;
            }
        }
        let mut count = 0;
        for (index, tslot) in self.tasks.iter().enumerate() {
            let word = tslot.word.load(Acquire);
            if task_state_bits(word) == T_RUNNING && task_worker(word) == worker.index() {
                let lost_word = task_word(task_gen(word), T_LOST, 0);
                if tslot
                    .word
                    .compare_exchange(word, lost_word, AcqRel, Relaxed)
                    .is_ok()
                {
                    count += 1;
                    lost(TaskHandle {
                        index: index as u32,
                        generation: task_gen(word),
                    });
                }
            }
        }
        slot.task.store(NO_TASK, Relaxed);
        Ok(count)
    }

    /// What the table says about worker slot `index`, or `None` for a free slot or an
    /// index outside the table.
    pub fn worker(&self, index: usize) -> Option<WorkerInfo> {
        let slot = self.workers.get(index)?;
        let word = slot.word.load(Acquire);
        let state = decode_worker(word)?;
        let pid = slot.pid.load(Relaxed);
        let task = slot.task.load(Relaxed);
        Some(WorkerInfo {
            id: WorkerId {
                index: index as u16,
                generation: task_gen(word),
            },
            state,
            pid: (pid != 0).then_some(pid),
            task: (task != NO_TASK && state != WorkerState::New)
                .then(|| TaskHandle::from_bits(task)),
            tasks_done: slot.done.load(Relaxed),
        })
    }

    /// The number of worker slots.
    pub fn worker_capacity(&self) -> usize {
        self.workers.len()
    }

    /// The number of task slots.
    pub fn task_capacity(&self) -> usize {
        self.tasks.len()
    }

    fn worker_slot(&self, worker: WorkerId) -> Result<&'a WorkerSlot, PoolError> {
        self.workers.get(worker.index()).ok_or(PoolError::Stale)
    }

    fn task_slot(&self, task: TaskHandle) -> Result<&'a TaskSlot, PoolError> {
        self.tasks.get(task.index()).ok_or(PoolError::Stale)
    }

    fn worker_transition(
        &self,
        slot: &WorkerSlot,
        worker: WorkerId,
        from: &[u64],
        to: u64,
    ) -> Result<(), PoolError> {
        let word = slot.word.load(Acquire);
        if task_gen(word) != worker.generation {
            return Err(PoolError::Stale);
        }
        if !from.contains(&(word & STATE_MASK)) {
            return Err(PoolError::WrongState);
        }
        // AcqRel: orders the informational fields written around the transition.
        slot.word
            .compare_exchange(word, worker_word(worker.generation, to), AcqRel, Relaxed)
            .map(|_| ())
            .map_err(|now| {
                if task_gen(now) != worker.generation {
                    PoolError::Stale
                } else {
                    PoolError::WrongState
                }
            })
    }

    /// Why a CAS on `task`'s word failed, given what the word is now.
    fn why(now: u64, task: TaskHandle) -> PoolError {
        if task_gen(now) != task.generation || task_state_bits(now) == T_FREE {
            PoolError::Stale
        } else {
            PoolError::WrongState
        }
    }
}

/// Takes the first of `words` (each with its index) that `free(index, word)` accepts, with one CAS to
/// `taken(generation + 1)`; returns its index and new generation.
fn take_first<'w>(
    words: impl Iterator<Item = (&'w AtomicWord, usize)>,
    free: impl Fn(usize, u64) -> bool,
    taken: impl Fn(u32) -> u64,
) -> Option<(usize, u32)> {
    for (atomic, index) in words {
        let word = atomic.load(Relaxed);
        if !free(index, word) {
            continue;
        }
        let generation = task_gen(word).wrapping_add(1);
        // Acquire: pairs with the Release that freed the entry (`release()`,
        // `worker_died()`); its last user is done before we take it.
        if atomic
            .compare_exchange(word, taken(generation), Acquire, Relaxed)
            .is_ok()
        {
            return Some((index, generation));
        }
    }
    None
}

#[cfg(all(test, not(loom)))]
mod tests;
