//! [`Pool`]: Python's `multiprocessing.Pool` (fork start method) — without its hang when a
//! worker dies.
//!
//! ```
//! use host_runtime::pool::Pool;
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! let pool = Pool::new(2)?;
//! assert_eq!(pool.map(square, 0..10)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
//! let r = pool.apply_async(square, 12)?;
//! assert_eq!(r.get()?, 144);
//! pool.close()?;
//! pool.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Tasks are plain functions
//!
//! A task is `f: fn(A) -> R` and its argument `a: A`, with `A` and `R` serde types (encoded
//! with postcard); several arguments are a tuple (`fn((A, B)) -> R`), which is also how
//! Python's `starmap` is written here: `pool.map(f, pairs)` with `f` taking a tuple. A
//! function pointer names the same code in every worker, because each worker is a `fork` of
//! this process; closures can't be sent (their captures live in this process's memory). The
//! pointer travels as its address with a keyed hash of it, under a random key that only this
//! process and the workers it forks hold; a worker refuses a message whose hash does not
//! match (see the crate-private `sys::fncall`).
//!
//! # How it works
//!
//! - **Workers** are forked once and reused (and replaced when they die or reach
//!   `maxtasksperchild`). Each has its own **inbox** (a [`RawQueue`](crate::RawQueue) of
//!   [`Builder::prefetch`] task messages) and its own **result queue**. A worker takes a task
//!   from its inbox, records in the pool tables that it runs it, runs it under
//!   `catch_unwind`, records it finished, and puts the result.
//! - The **pool tables** ([`ipc_core::pool`], in shared memory) say for every task slot
//!   whether it is pending, running on worker *w*, done, failed, lost or cancelled, with a
//!   generation so that a stale handle never touches another task. Every transition is one
//!   compare-and-swap.
//! - In this process, tasks first wait in a **backlog** (Python: "when all workers are busy,
//!   tasks wait in a shared queue"). The submitting thread, and the result thread as results
//!   come back, hand backlog tasks to the workers with room (fewest tasks first). Each task in
//!   a worker's custody is recorded here with its message, until its result is read.
//! - The **result thread** reads results, runs callbacks, completes [`AsyncResult`]s and
//!   [`Imap`]s, and hands out more work. When a worker is idle and the backlog is empty, it
//!   takes a task still waiting in a busy worker's inbox behind another task and gives it to
//!   the idle one, so a slow task does not hold up the tasks queued behind it (this runs on
//!   every event: a result, a dead or new worker, a submit; a 20 ms timer stays as a
//!   backstop, and the tests check it never has anything to do). It sleeps in `ppoll` on a
//!   wake-up socket and the workers' pidfds: a worker writes one byte after its result only
//!   when the result thread is registered as sleeping (an [`ipc_core::WaitWord`] doorbell in
//!   the tables), so a busy pool makes no system call per result.
//!
//! Why per-worker inboxes rather than Python's one shared task queue: see *A worker that
//! dies* below. Why [`Builder::prefetch`] defaults to 128: on a machine with few cores, the
//! submitting thread, the result thread and the workers take turns; the more tasks each
//! worker holds, the longer it runs on its own, and throughput of short tasks rises (2 shared
//! cores: about 1.5–2.5 M trivial tasks/s). Waiting threads (`get`, the result thread) yield
//! the CPU a few times before they sleep, for the same reason: a sleep and a wake-up cost more
//! than the microseconds a batch of results takes to come back.
//!
//! # A worker that dies
//!
//! Python's pool has one shared task queue: a worker killed between taking a task and
//! reporting it leaves that task's result pending for ever. Here the parent always knows
//! which tasks are in which worker's custody, and learns of a death at once (the pidfd wakes
//! the result thread; while busy it checks every few milliseconds). It then:
//!
//! 1. reads the results the worker put before it died, and delivers them;
//! 2. marks the task it was running [`Lost`](ipc_core::pool::TaskState::Lost)
//!    ([`PoolTables::worker_died`](ipc_core::pool::PoolTables::worker_died));
//! 3. gives every task of its custody that it never started (still `Pending` in the tables)
//!    to the other workers — nothing of them ran;
//! 4. fails the others (lost, or finished but the result never arrived) with
//!    [`TaskError::WorkerDied`], at once;
//! 5. drops the dead worker's inbox and result queue (a process killed inside a queue call
//!    may leave a slot half-claimed: a queue only the dead process used is simply thrown
//!    away) and forks a replacement, with new queues, into the freed slot.
//!
//! So every result arrives — a value or an error — and the pool keeps its size. A worker
//! that exits by itself (maxtasksperchild, a panic in the initializer,
//! `std::process::exit` in a task) goes the same way.
//!
//! # Closing, terminating, dropping
//!
//! [`close`](Pool::close) stops new submissions; the workers finish every submitted task and
//! then exit. [`terminate`](Pool::terminate) stops at once: pending tasks are cancelled,
//! workers killed (`SIGKILL`) and reaped, and every unfinished result fails with
//! [`TaskError::Terminated`]. [`join`](Pool::join) waits until the workers have exited, after
//! `close` or `terminate` (before, it is an error, as in Python). **Dropping a `Pool`
//! terminates it** — what leaving Python's `with Pool() as p:` block does: call `close` and
//! `join` first to let submitted tasks finish. Every worker is reaped before `terminate`,
//! `join` or the drop returns: no zombies.
//!
//! Workers are daemon processes: if this process dies, they die too (`PR_SET_PDEATHSIG`, tied
//! to the pool's result thread, which forks them).
//!
//! # Limits and caveats
//!
//! - Messages (a task's encoded arguments, a result) are limited to
//!   [`Builder::max_message_size`] (4 MiB by default); `map` splits chunks that would be
//!   longer, but a chunk's *results* that are too long fail it with [`TaskError::Encode`]
//!   (use a smaller chunk size). A worker's inbox holds at most 4 messages of the largest size
//!   class at once (16 over 64 KiB, 64 over 4 KiB); more wait in the backlog.
//! - Callbacks run on the result thread: while one runs, no other result is delivered. From
//!   a callback, [`terminate`](Pool::terminate) only asks (the pool ends after the callback
//!   returns) and [`join`](Pool::join) is an error.
//! - A pool belongs to the process that made it. In a child forked later, its operations
//!   fail with [`PoolError::NotOwner`] (`apply_async` is not checked there, for speed: its
//!   result then never becomes ready, and waiting for it fails with
//!   [`TaskError::NotOwner`]).
//! - A worker's panic message also goes to its stderr (the panic hook of [`Process`]).
//! - An initializer that always panics makes the pool restart workers for ever, as in
//!   Python; tasks then wait.
//! - The forking caveats of [`Process`] apply to workers (locks held by other threads at the
//!   fork, thread pools made before it).
//!
//! [`Process`]: crate::Process

// All `unsafe` code lives in `crate::sys` and `crate::shared`.
#![forbid(unsafe_code)]

mod collector;
mod error;
mod message;
mod result;
mod sched;
mod tables;
mod worker;

use std::cell::{Cell as StdCell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle, ThreadId};

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use ipc_core::pool::{TaskHandle, WorkerId, WorkerInfo, WorkerState};

use collector::{Collector, WorkerConfig};
pub use error::{PoolError, TaskError};
use message::{apply_shim, begin_task, chunk_shim, encode_into};
pub use result::{AsyncResult, Callbacks, Imap};
use result::{Cell, Chunks, Sink};
use sched::{Job, Phase, Sched, Shared};
use tables::Tables;

use crate::encoding::EncodeError;
use crate::lock::lock;
use crate::queue::{self, DEFAULT_MAX_MESSAGE_SIZE};
use crate::sys;
use crate::sys::fncall::{CallKey, ForkCall, Shim};

/// Numbers the pools made by this process, for [`CALL_CACHE`].
static POOL_IDS: AtomicU64 = AtomicU64::new(0);

/// What identifies a sealed call: the pool's id, the shim's and the function's addresses.
type CallId = (u64, usize, usize);

thread_local! {
    /// Where `apply_async` encodes a task message.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };

    /// The last call this thread sealed, by `(pool, shim, function)`: sealing computes a keyed
    /// hash, which a thread submitting the same function to the same pool again can skip.
    static CALL_CACHE: StdCell<Option<(CallId, ForkCall)>> = const { StdCell::new(None) };
}

/// Default [`Builder::prefetch`]: tasks a worker may hold at once.
pub const DEFAULT_PREFETCH: usize = 128;
/// Most worker processes a pool may have.
pub const MAX_PROCESSES: usize = 4096;
/// Longest task message carried inline in an inbox slot (longer ones go through the queue's
/// blob pool): a 41-byte header and up to 198 bytes of arguments.
const INLINE_MAX: usize = 239;

/// Settings for a [`Pool`]: Python's `Pool(processes, initializer, initargs,
/// maxtasksperchild)`, plus the sizes of its queues.
///
/// # Examples
///
/// ```
/// use host_runtime::pool::Builder;
///
/// fn pid(_: ()) -> u32 {
///     std::process::id()
/// }
///
/// let pool = Builder::new().processes(1).maxtasksperchild(1).build()?;
/// let first = pool.apply(pid, ())?;
/// let second = pool.apply(pid, ())?;
/// assert_ne!(first, second, "each worker ran one task and was replaced");
/// # Ok::<(), host_runtime::pool::PoolError>(())
/// ```
#[derive(Clone)]
pub struct Builder {
    processes: Option<usize>,
    initializer: Option<worker::Initializer>,
    maxtasksperchild: Option<u64>,
    prefetch: usize,
    max_message_size: usize,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("processes", &self.processes)
            .field("initializer", &self.initializer.is_some())
            .field("maxtasksperchild", &self.maxtasksperchild)
            .field("prefetch", &self.prefetch)
            .field("max_message_size", &self.max_message_size)
            .finish()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// The defaults: as many processes as CPUs, no initializer, workers never replaced,
    /// [`DEFAULT_PREFETCH`], 4 MiB messages.
    pub fn new() -> Builder {
        Builder {
            processes: None,
            initializer: None,
            maxtasksperchild: None,
            prefetch: DEFAULT_PREFETCH,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }

    /// The number of worker processes (default: [`std::thread::available_parallelism`]).
    /// `0` is refused by [`build`](Self::build).
    pub fn processes(mut self, processes: usize) -> Builder {
        self.processes = Some(processes);
        self
    }

    /// Runs `f` once in each worker when it starts, before its first task (Python's
    /// `initializer(*initargs)`: capture the arguments). It is copied into each worker by the
    /// fork, so it may capture anything. If it panics, the worker exits and is replaced.
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.initializer = Some(Arc::new(f));
        self
    }

    /// Replaces each worker after it has run `tasks` tasks (Python's `maxtasksperchild`),
    /// e.g. to release resources a task leaks. `0` is refused by [`build`](Self::build).
    pub fn maxtasksperchild(mut self, tasks: u64) -> Builder {
        self.maxtasksperchild = Some(tasks);
        self
    }

    /// The most tasks one worker holds at once: running, waiting in its inbox, or with the
    /// result on the way (default [`DEFAULT_PREFETCH`], between 1 and 4096). More keeps
    /// workers busy with short tasks; an idle worker takes waiting tasks from a busy one's
    /// inbox anyway.
    pub fn prefetch(mut self, tasks: usize) -> Builder {
        self.prefetch = tasks;
        self
    }

    /// The longest encoded task (arguments plus a 41-byte header) or result (plus 9 bytes),
    /// in bytes (default 4 MiB). Reserved as address space in each worker's queues, committed
    /// only when used.
    pub fn max_message_size(mut self, bytes: usize) -> Builder {
        self.max_message_size = bytes;
        self
    }

    /// Starts the pool: forks its workers.
    ///
    /// # Errors
    ///
    /// - [`PoolError::InvalidConfig`] for 0 processes (or more than [`MAX_PROCESSES`]),
    ///   `maxtasksperchild(0)`, a prefetch outside 1..=4096, a message size under 256 bytes.
    /// - [`PoolError::FdLimit`] if `RLIMIT_NOFILE` leaves fewer than two file descriptors free
    ///   (the result thread's wake-up socket). That is all a pool needs: a worker also gets a
    ///   pidfd and, while it starts, a socket pair, but does without them when no descriptor
    ///   is free.
    /// - [`PoolError::Queue`], [`PoolError::Os`], [`PoolError::Spawn`] if the shared memory,
    ///   the result thread or a worker could not be made (nothing is left running then).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::pool::{Builder, PoolError};
    ///
    /// assert!(matches!(Builder::new().processes(0).build(), Err(PoolError::InvalidConfig(_))));
    /// let pool = Builder::new().processes(2).prefetch(4).build()?;
    /// assert_eq!(pool.processes(), 2);
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn build(self) -> Result<Pool, PoolError> {
        let processes = match self.processes {
            Some(n) => n,
            None => thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if processes == 0 || processes > MAX_PROCESSES {
            return Err(PoolError::InvalidConfig(format!(
                "processes must be between 1 and {MAX_PROCESSES}, not {processes}"
            )));
        }
        if self.maxtasksperchild == Some(0) {
            return Err(PoolError::InvalidConfig(
                "maxtasksperchild must be at least 1".into(),
            ));
        }
        if !(1..=4096).contains(&self.prefetch) {
            return Err(PoolError::InvalidConfig(format!(
                "prefetch must be between 1 and 4096, not {}",
                self.prefetch
            )));
        }
        if self.max_message_size < 256 {
            return Err(PoolError::InvalidConfig(format!(
                "max_message_size must be at least 256 bytes, not {}",
                self.max_message_size
            )));
        }
        let queues = queue_builder(self.prefetch, self.max_message_size);
        // Custody is bounded by `processes × prefetch`; twice that leaves room for tasks taken
        // back from dead workers, which keep their slots while they wait.
        let tasks = 2 * processes * self.prefetch + 64;
        let tables = Tables::new(processes, tasks)?;
        let (wake_rx, wake_tx) = wake_socket()?;
        let shared = Arc::new(Shared {
            sched: Mutex::new(Sched::new(processes, tasks)),
            tables,
            key: CallKey::new(),
            id: POOL_IDS.fetch_add(1, Ordering::Relaxed),
            wake_tx: Arc::new(wake_tx),
            prefetch: self.prefetch,
            max_message_size: self.max_message_size,
            owner: std::process::id(),
            finished: Mutex::new(false),
            finished_cond: Condvar::new(),
        });
        let config = WorkerConfig {
            processes,
            initializer: self.initializer,
            max_tasks: self.maxtasksperchild,
            queues,
        };
        let handle = Collector::start(Arc::clone(&shared), config, wake_rx)?;
        Ok(Pool {
            collector_id: handle.thread().id(),
            collector: Mutex::new(Some(handle)),
            shared,
            processes,
        })
    }
}

/// A pool of worker processes: Python's `multiprocessing.Pool`. See the
/// [module docs](self) for how it works and what happens when a worker dies.
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
    shared: Arc<Shared>,
    collector: Mutex<Option<JoinHandle<()>>>,
    collector_id: ThreadId,
    processes: usize,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.processes)
            .field("phase", &lock(&self.shared.sched).phase)
            .finish_non_exhaustive()
    }
}

/// The settings of a worker's inbox and result queue: `prefetch` messages, and blob chunks
/// for longer ones — as many as messages for the small sizes, fewer for the large, so that the
/// address space reserved stays modest (about 40 MiB per queue with the defaults). A put that
/// finds no chunk free waits for the next result (see `Lane::stalled`).
fn queue_builder(prefetch: usize, max_message_size: usize) -> queue::Builder {
    let mut b = queue::Builder::new()
        .maxsize(prefetch)
        .inline_max(INLINE_MAX)
        .max_message_size(max_message_size);
    for (size, count) in [
        (4 << 10, prefetch),
        (64 << 10, prefetch.min(64)),
        (1 << 20, prefetch.min(16)),
    ] {
        if size < max_message_size {
            b = b.size_class(size, count);
        }
    }
    b.size_class(max_message_size.next_multiple_of(8), prefetch.min(4))
}

/// The result thread's wake-up socket pair: the pool's only descriptors, besides its workers'
/// pidfds (which it does without when there is no descriptor free).
///
/// # Errors
///
/// [`PoolError::FdLimit`] if `RLIMIT_NOFILE` leaves no two descriptors free, [`PoolError::Os`]
/// for other errors.
fn wake_socket() -> Result<(UnixStream, UnixStream), PoolError> {
    let pair = UnixStream::pair().map_err(|e| match e.raw_os_error() {
        Some(libc::EMFILE) => PoolError::FdLimit {
            limit: sys::open_files_limit().unwrap_or(0),
            needed: 2,
        },
        _ => PoolError::Os(e),
    })?;
    pair.0.set_nonblocking(true)?;
    pair.1.set_nonblocking(true)?;
    Ok(pair)
}

/// Python's default `chunksize` for `map`: `len / (4 × processes)`, rounded up.
fn default_chunksize(len: usize, processes: usize) -> usize {
    len.div_ceil(4 * processes).max(1)
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
        // Encoded into a buffer of this thread, then copied into a buffer the pool recycles:
        // no allocation per task for the message.
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut buf) => {
                self.encode_task(apply_shim::<A, R>, f, &args, &mut buf)?;
                self.submit_copy(&buf, sink)
            }
            // Re-entered (an argument's `Serialize` submits a task): use a fresh buffer.
            Err(_) => {
                let mut buf = Vec::new();
                self.encode_task(apply_shim::<A, R>, f, &args, &mut buf)?;
                self.submit_copy(&buf, sink)
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
    /// # Errors
    ///
    /// As [`apply_async`](Self::apply_async); [`PoolError::Task`] with the first failed
    /// chunk's error (in input order). The other chunks still run.
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
        let it = self.start_map(f, items, chunksize, true)?;
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
        self.start_map(f, items, chunksize, true)
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
        self.start_map(f, items, chunksize, false)
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
            .collect()
    }

    /// How many tasks the pool's backstop timer had to hand out: tasks that waited while a
    /// worker was idle and no event would have moved them (a missed dispatch, so a bug; the
    /// backstop turns it into a delay of about 20 ms). The tests assert that it stays 0.
    #[doc(hidden)]
    pub fn stranded_rescues(&self) -> u64 {
        lock(&self.shared.sched).rescued
    }

    fn check_owner(&self) -> Result<(), PoolError> {
        if std::process::id() == self.shared.owner {
            Ok(())
        } else {
            Err(PoolError::NotOwner)
        }
    }

    /// Encodes a task message for `shim(f, args)`, checking its size.
    fn encode_task<A, R, T>(
        &self,
        shim: Shim<A, R>,
        f: fn(A) -> R,
        args: &T,
        msg: &mut Vec<u8>,
    ) -> Result<(), PoolError>
    where
        T: Serialize + ?Sized,
    {
        let id = (self.shared.id, shim as usize, f as usize);
        let call = CALL_CACHE.with(|cache| match cache.get() {
            Some((cached, call)) if cached == id => call,
            _ => {
                let call = ForkCall::new(&self.shared.key, shim, f);
                cache.set(Some((id, call)));
                call
            }
        });
        begin_task(msg, call);
        encode_into(args, msg).map_err(|e| PoolError::Encode(EncodeError::new(e)))?;
        if msg.len() > self.shared.max_message_size {
            return Err(PoolError::TooLarge {
                len: msg.len(),
                max: self.shared.max_message_size,
            });
        }
        Ok(())
    }

    /// Submits one task whose message is `msg`, copied into a recycled buffer.
    fn submit_copy(&self, msg: &[u8], sink: Arc<dyn Sink>) -> Result<(), PoolError> {
        let tables = self.shared.tables.get();
        let mut s = lock(&self.shared.sched);
        if s.phase != Phase::Running {
            return Err(PoolError::NotRunning);
        }
        let msg = s.buffer(msg);
        s.backlog.push_back(Job {
            msg,
            handle: None,
            sink,
            tag: 0,
        });
        s.dispatch(&tables, self.shared.prefetch);
        // A submit is an event too: leave no worker idle while a task waits behind another.
        s.steal(self.shared.prefetch);
        Ok(())
    }

    /// Adds jobs to the backlog and hands out what fits.
    fn submit(&self, jobs: impl IntoIterator<Item = Job>) -> Result<(), PoolError> {
        let tables = self.shared.tables.get();
        let mut s = lock(&self.shared.sched);
        if s.phase != Phase::Running {
            return Err(PoolError::NotRunning);
        }
        s.backlog.extend(jobs);
        s.dispatch(&tables, self.shared.prefetch);
        // A submit is an event too: leave no worker idle while a task waits behind another.
        s.steal(self.shared.prefetch);
        Ok(())
    }

    /// Submits `items` in chunks for `map`/`imap`/`imap_unordered`.
    fn start_map<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
        ordered: bool,
    ) -> Result<Imap<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        if lock(&self.shared.sched).phase != Phase::Running {
            return Err(PoolError::NotRunning);
        }
        let items: Vec<A> = items.into_iter().collect();
        let chunksize = match chunksize {
            0 => default_chunksize(items.len(), self.processes),
            n => n,
        };
        let mut chunks = VecDeque::new();
        for chunk in items.chunks(chunksize) {
            self.encode_chunk(f, chunk, &mut chunks)?;
        }
        let lens: Vec<usize> = chunks.iter().map(|&(_, len)| len).collect();
        let sink = Arc::new(Chunks::<R>::new(lens));
        let dyn_sink: Arc<dyn Sink> = sink.clone();
        let jobs = chunks.into_iter().enumerate().map(|(i, (msg, _))| Job {
            msg,
            handle: None,
            sink: Arc::clone(&dyn_sink),
            tag: u32::try_from(i).unwrap_or(u32::MAX),
        });
        if !items.is_empty() {
            self.submit(jobs)?;
        }
        Ok(Imap::new(sink, ordered, self.shared.owner))
    }

    /// Encodes one chunk as a task message; splits it in halves while it is too long. An item
    /// that can't be encoded fails the whole call at once (encoding it again would fail again).
    fn encode_chunk<A, R>(
        &self,
        f: fn(A) -> R,
        chunk: &[A],
        out: &mut VecDeque<(Vec<u8>, usize)>,
    ) -> Result<(), PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let mut msg = Vec::new();
        match self.encode_task(chunk_shim::<A, R>, f, chunk, &mut msg) {
            Ok(()) => {
                out.push_back((msg, chunk.len()));
                Ok(())
            }
            Err(PoolError::TooLarge { .. }) if chunk.len() > 1 => {
                let (a, b) = chunk.split_at(chunk.len() / 2);
                self.encode_chunk(f, a, out)?;
                self.encode_chunk(f, b, out)
            }
            Err(e) => Err(e),
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
    }
}

#[cfg(test)]
mod tests {
    use super::default_chunksize;

    #[test]
    fn chunksize_is_pythons() {
        // Python: divmod(len, 4 * processes), plus one if there is a remainder.
        assert_eq!(default_chunksize(100_000, 2), 12_500);
        assert_eq!(default_chunksize(100_001, 2), 12_501);
        assert_eq!(default_chunksize(3, 2), 1);
        assert_eq!(default_chunksize(0, 2), 1);
    }
}
