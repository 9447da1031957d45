//! [`Pool`]: the handle on a pool of workers, and its calls (Python's `apply`, `map`, `imap`,
//! `close`, `terminate`, `join`).

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, ThreadId};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::message::{apply_shim, into_long_payload};
use super::result::{Cell, Sink};
use super::sched::Phase;
use super::shared::Shared;
#[cfg(doc)]
use super::TaskError;
use super::{AsyncResult, Builder, Callbacks, Imap, PoolError, WorkerInfo};
use crate::lock::lock;

thread_local! {
    /// Where `apply_async` encodes a task message.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A pool of worker processes: Python's `multiprocessing.Pool`. See the
/// [module docs](crate::pool) for how it works and what happens when a worker dies.
///
/// All methods take `&self`; a `Pool` is `Send + Sync` (share it in an `Arc` to submit from
/// several threads). Dropping it terminates it.
///
/// # Examples
///
/// ```
/// use host_runtime::pool::Pool;
///
/// fn word_len(w: String) -> usize {
///     w.len()
/// }
///
/// let pool = Pool::new(2)?;
/// let words = ["fork", "pool", "shared", "memory"].map(String::from);
/// assert_eq!(pool.map(word_len, words)?, [4, 4, 6, 6]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pool {
    pub(super) shared: Arc<Shared>,
    pub(super) collector: Mutex<Option<JoinHandle<()>>>,
    pub(super) collector_id: ThreadId,
    pub(super) processes: usize,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.processes)
            .field("phase", &lock(&self.shared.sched).phase)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool of `processes` workers with the default settings (see [`Builder`]).
    ///
    /// # Errors
    ///
    /// As [`Builder::build`]; [`PoolError::InvalidConfig`] for 0 processes.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = host_runtime::pool::Pool::new(3)?;
    /// assert_eq!(pool.workers().len(), 3);
    /// # Ok::<(), host_runtime::pool::PoolError>(())
    /// ```
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        Builder::new().processes(processes).build()
    }

    /// A pool of as many workers as CPUs ([`std::thread::available_parallelism`]), Python's
    /// `Pool()`.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = host_runtime::pool::Pool::with_cpu_count()?;
    /// assert!(pool.processes() >= 1);
    /// # Ok::<(), host_runtime::pool::PoolError>(())
    /// ```
    pub fn with_cpu_count() -> Result<Pool, PoolError> {
        Builder::new().build()
    }

    /// A [`Builder`] for the other settings.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = host_runtime::pool::Pool::builder().processes(1).build()?;
    /// # Ok::<(), host_runtime::pool::PoolError>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The number of worker processes the pool keeps.
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// Runs `f(args)` in a worker; returns at once with the [`AsyncResult`].
    ///
    /// # Errors
    ///
    /// [`PoolError::NotRunning`] after [`close`](Self::close) or
    /// [`terminate`](Self::terminate); [`PoolError::Encode`] if `args` can't be encoded,
    /// [`PoolError::TooLarge`] if they are longer than the maximum message size.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::pool::Pool;
    ///
    /// fn greet(name: String) -> String {
    ///     format!("hello, {name}")
    /// }
    ///
    /// let pool = Pool::new(2)?;
    /// let results: Vec<_> = ["ann", "bob"]
    ///     .into_iter()
    ///     .map(|n| pool.apply_async(greet, n.to_string()))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(results[1].get()?, "hello, bob");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, args: A) -> Result<AsyncResult<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async_with(f, args, Callbacks::new())
    }

    /// [`apply_async`](Self::apply_async) with a callback and an error callback, run in this
    /// process before the result reads as ready (see [`Callbacks`]).
    ///
    /// # Errors
    ///
    /// As [`apply_async`](Self::apply_async); the callbacks are then not called.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::pool::{Callbacks, Pool, TaskError};
    /// use std::sync::{Arc, Mutex};
    ///
    /// fn checked_div((a, b): (i32, i32)) -> i32 {
    ///     a.checked_div(b).expect("division by zero")
    /// }
    ///
    /// let pool = Pool::new(1)?;
    /// let seen = Arc::new(Mutex::new(None));
    /// let s = Arc::clone(&seen);
    /// let r = pool.apply_async_with(
    ///     checked_div,
    ///     (1, 0),
    ///     Callbacks::new().on_error(move |e: &TaskError| *s.lock().unwrap() = Some(e.clone())),
    /// )?;
    /// assert!(r.get().is_err());
    /// assert_eq!(
    ///     *seen.lock().unwrap(),
    ///     Some(TaskError::Panicked("division by zero".into()))
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply_async_with<A, R>(
        &self,
        f: fn(A) -> R,
        args: A,
        callbacks: Callbacks<R>,
    ) -> Result<AsyncResult<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let cell = Arc::new(Cell::new(callbacks));
        let sink: Arc<dyn Sink> = cell.clone();
        // A long `Vec<u8>` or `String` is moved into the task as its message's tail.
        let args = match into_long_payload(args) {
            Ok(bytes) => {
                self.submit_tail(apply_shim::<A, R>, f, bytes, sink)?;
                return Ok(AsyncResult::new(cell, self.shared.owner));
            }
            Err(args) => args,
        };
        // Encoded into a buffer of this thread, then copied into a buffer the pool recycles:
        // no allocation per task for a short message. A long one is not copied again: the
        // job takes the thread's buffer, which the next long message allocates anew.
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut buf) => {
                self.encode_task(apply_shim::<A, R>, f, &args, &mut buf)?;
                self.submit_message(&mut buf, sink)
            }
            // Re-entered (an argument's `Serialize` submits a task): use a fresh buffer.
            Err(_) => {
                let mut buf = Vec::new();
                self.encode_task(apply_shim::<A, R>, f, &args, &mut buf)?;
                self.submit_message(&mut buf, sink)
            }
        })?;
        Ok(AsyncResult::new(cell, self.shared.owner))
    }

    /// Runs `f(args)` in a worker and waits for the value (Python's `apply`).
    ///
    /// # Errors
    ///
    /// As [`apply_async`](Self::apply_async), and [`PoolError::Task`] if the task failed.
    ///
    /// # Examples
    ///
    /// ```
    /// fn pid(_: ()) -> u32 {
    ///     std::process::id()
    /// }
    ///
    /// let pool = host_runtime::pool::Pool::new(1)?;
    /// assert_ne!(pool.apply(pid, ())?, std::process::id());
    /// # Ok::<(), host_runtime::pool::PoolError>(())
    /// ```
    pub fn apply<A, R>(&self, f: fn(A) -> R, args: A) -> Result<R, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        Ok(self.apply_async(f, args)?.get()?)
    }

    /// Applies `f` to every item, in chunks spread over the workers, and returns the values
    /// in input order (Python's `map`, with its default chunk size: `len / (4 × processes)`
    /// rounded up). An empty input returns at once.
    ///
    /// Chunks are submitted as they are encoded, and the encoding keeps only a few MiB of
    /// messages (at least a chunk per worker) ahead of the results (with long items, e.g. 1 MiB buffers, it waits for
    /// results meanwhile, so the messages are not all held at once).
    ///
    /// # Errors
    ///
    /// As [`apply_async`](Self::apply_async); [`PoolError::Task`] with the first failed
    /// chunk's error (in input order). The other chunks still run. An item that can't be
    /// encoded fails the call once the chunks before it were submitted: they still run, and
    /// their results are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// fn double(x: i32) -> i32 {
    ///     2 * x
    /// }
    ///
    /// let pool = host_runtime::pool::Pool::new(2)?;
    /// assert_eq!(pool.map(double, vec![1, 2, 3])?, [2, 4, 6]);
    /// assert!(pool.map(double, Vec::new())?.is_empty());
    /// # Ok::<(), host_runtime::pool::PoolError>(())
    /// ```
    pub fn map<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_chunked(f, items, 0)
    }

    /// [`map`](Self::map) with a chunk size: `chunksize` items per task (`0`: the default).
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    ///
    /// # Examples
    ///
    /// ```
    /// fn neg(x: i64) -> i64 {
    ///     -x
    /// }
    ///
    /// let pool = host_runtime::pool::Pool::new(2)?;
    /// assert_eq!(pool.map_chunked(neg, 0..4, 3)?, [0, -1, -2, -3]);
    /// # Ok::<(), host_runtime::pool::PoolError>(())
    /// ```
    pub fn map_chunked<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let it = self.start_map(f, items, chunksize, true, true)?;
        let mut out = Vec::with_capacity(it.len());
        for item in it {
            out.push(item?);
        }
        Ok(out)
    }

    /// Applies `f` to every item, `chunksize` items per task (`0`: `map`'s default; Python's
    /// default is 1), and returns an iterator over the results in input order as they become
    /// available (Python's `imap`). The input is read and submitted at once.
    ///
    /// # Errors
    ///
    /// As [`apply_async`](Self::apply_async). Task failures come out of the iterator.
    ///
    /// # Examples
    ///
    /// ```
    /// fn len(s: String) -> usize {
    ///     s.len()
    /// }
    ///
    /// let pool = host_runtime::pool::Pool::new(2)?;
    /// let mut it = pool.imap(len, ["a", "bb", "ccc"].map(String::from), 1)?;
    /// assert_eq!(it.next(), Some(Ok(1)));
    /// assert_eq!(it.collect::<Result<Vec<_>, _>>()?, [2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn imap<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
    ) -> Result<Imap<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.start_map(f, items, chunksize, true, false)
    }

    /// [`imap`](Self::imap), yielding chunks in the order they finish (Python's
    /// `imap_unordered`).
    ///
    /// # Errors
    ///
    /// As [`imap`](Self::imap).
    ///
    /// # Examples
    ///
    /// ```
    /// fn id(x: u8) -> u8 {
    ///     x
    /// }
    ///
    /// let pool = host_runtime::pool::Pool::new(2)?;
    /// let mut all: Vec<u8> = pool.imap_unordered(id, 0..10, 1)?.map(Result::unwrap).collect();
    /// all.sort();
    /// assert_eq!(all, (0..10).collect::<Vec<u8>>());
    /// # Ok::<(), host_runtime::pool::PoolError>(())
    /// ```
    pub fn imap_unordered<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
    ) -> Result<Imap<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.start_map(f, items, chunksize, false, false)
    }

    /// Stops taking tasks (Python's `close`); the workers finish what was submitted, then
    /// exit. [`join`](Self::join) waits for that. Closing twice, or after `terminate`, does
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`PoolError::NotOwner`] in a process other than the pool's.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::pool::{Pool, PoolError};
    ///
    /// fn one(_: ()) -> u8 {
    ///     1
    /// }
    ///
    /// let pool = Pool::new(1)?;
    /// let r = pool.apply_async(one, ())?;
    /// pool.close()?;
    /// assert!(matches!(pool.apply_async(one, ()), Err(PoolError::NotRunning)));
    /// pool.join()?;
    /// assert_eq!(r.get()?, 1, "submitted before close: it ran");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) -> Result<(), PoolError> {
        self.check_owner()?;
        {
            let mut s = lock(&self.shared.sched);
            if s.phase == Phase::Running {
                s.phase = Phase::Closed;
            }
        }
        self.shared.wake();
        Ok(())
    }

    /// Stops the pool now (Python's `terminate`): cancels the tasks not yet started, kills
    /// the workers (`SIGKILL`) and reaps them; every unfinished result fails with
    /// [`TaskError::Terminated`] (results already delivered by the workers are kept). Returns
    /// once all that is done — quickly, whatever is pending. Called from a callback, it only
    /// asks: the pool ends when the callback returns.
    ///
    /// # Errors
    ///
    /// [`PoolError::NotOwner`] in a process other than the pool's.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::pool::{Pool, TaskError};
    ///
    /// fn slow(_: ()) {
    ///     std::thread::sleep(std::time::Duration::from_secs(60));
    /// }
    ///
    /// let pool = Pool::new(1)?;
    /// let r = pool.apply_async(slow, ())?;
    /// pool.terminate()?;
    /// assert_eq!(r.get(), Err(TaskError::Terminated));
    /// pool.join()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn terminate(&self) -> Result<(), PoolError> {
        self.check_owner()?;
        {
            let mut s = lock(&self.shared.sched);
            if s.phase < Phase::Terminating {
                s.phase = Phase::Terminating;
            }
        }
        self.shared.wake();
        if thread::current().id() != self.collector_id {
            self.shared.wait_finished();
        }
        Ok(())
    }

    /// Waits until every worker has exited and been reaped (Python's `join`), after
    /// [`close`](Self::close) (the workers first finish every submitted task) or
    /// [`terminate`](Self::terminate).
    ///
    /// # Errors
    ///
    /// [`PoolError::StillRunning`] before `close`/`terminate`; [`PoolError::InCallback`] from
    /// a callback; [`PoolError::NotOwner`] in a process other than the pool's.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::pool::{Pool, PoolError};
    ///
    /// let pool = Pool::new(2)?;
    /// assert!(matches!(pool.join(), Err(PoolError::StillRunning)));
    /// pool.close()?;
    /// pool.join()?;
    /// assert!(pool.workers().iter().all(|w| w.state == host_runtime::pool::WorkerState::Dead));
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn join(&self) -> Result<(), PoolError> {
        self.check_owner()?;
        if lock(&self.shared.sched).phase == Phase::Running {
            return Err(PoolError::StillRunning);
        }
        if thread::current().id() == self.collector_id {
            return Err(PoolError::InCallback);
        }
        self.shared.wait_finished();
        if let Some(handle) = lock(&self.collector).take() {
            let _ = handle.join();
        }
        Ok(())
    }

    /// What the pool tables say about each worker slot: pid, state, current task, tasks
    /// done. A replaced worker's slot shows its successor (a new pid, tasks counted from 0).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::pool::Pool;
    ///
    /// fn nothing(_: ()) {}
    ///
    /// let pool = Pool::new(2)?;
    /// pool.map(nothing, vec![(); 10])?;
    /// let workers = pool.workers();
    /// assert_eq!(workers.len(), 2);
    /// assert!(workers.iter().all(|w| w.pid.is_some()));
    /// # Ok::<(), host_runtime::pool::PoolError>(())
    /// ```
    pub fn workers(&self) -> Vec<WorkerInfo> {
        let tables = self.shared.tables.get();
        (0..tables.worker_capacity())
            .filter_map(|i| tables.worker(i))
            .map(WorkerInfo::from)
            .collect()
    }

    /// How many tasks the pool's backstop timer had to hand out: tasks that waited while a
    /// worker was idle and no event would have moved them (a missed dispatch, so a bug; the
    /// backstop turns it into a delay of about 20 ms). The tests assert that it stays 0.
    #[doc(hidden)]
    pub fn stranded_rescues(&self) -> u64 {
        lock(&self.shared.sched).rescued
    }

    pub(super) fn check_owner(&self) -> Result<(), PoolError> {
        if std::process::id() == self.shared.owner {
            Ok(())
        } else {
            Err(PoolError::NotOwner)
        }
    }
}

impl Drop for Pool {
    /// Terminates the pool (as leaving Python's `with Pool()` block does) and reaps every
    /// worker. In a child forked after the pool was made, it does nothing to the pool.
    fn drop(&mut self) {
        let handle = lock(&self.collector).take();
        if self.check_owner().is_err() {
            // Not our thread: don't touch it.
            std::mem::forget(handle);
            return;
        }
        let _ = self.terminate();
        if let Some(handle) = handle {
            if handle.thread().id() != thread::current().id() {
                let _ = handle.join();
            }
        }
        // A named pool's status region goes with it.
        self.shared.tables.unlink();
    }
}
