//! [`Builder`]: a pool's settings, and the start of its workers.

use std::fmt;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::collector::{Collector, WorkerConfig};
use super::sched::Sched;
use super::shared::Shared;
use super::tables::Tables;
use super::worker::{self, init_shim};
use super::{Pool, PoolError};
use crate::process::{self, ProcessError, StartMethod};
use crate::queue::{self, DEFAULT_MAX_MESSAGE_SIZE};
use crate::sys;
use crate::sys::fncall::{CallKey, ForkCall, NotPortable};

/// Numbers the pools made by this process: a thread caches the last call it sealed per pool
/// (`CALL_CACHE`, in `submit.rs`).
static POOL_IDS: AtomicU64 = AtomicU64::new(0);

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
    initializer: Option<InitSpec>,
    start_method: Option<StartMethod>,
    maxtasksperchild: Option<u64>,
    prefetch: usize,
    max_message_size: usize,
    name: Option<String>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("processes", &self.processes)
            .field("initializer", &self.initializer.is_some())
            .field("start_method", &self.start_method)
            .field("maxtasksperchild", &self.maxtasksperchild)
            .field("prefetch", &self.prefetch)
            .field("max_message_size", &self.max_message_size)
            .field("name", &self.name)
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
            start_method: None,
            maxtasksperchild: None,
            prefetch: DEFAULT_PREFETCH,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            name: None,
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
    ///
    /// Forked workers only: with another [start method](Self::start_method),
    /// [`build`](Self::build) fails with [`ProcessError::NeedsFork`]; use
    /// [`initializer_fn`](Self::initializer_fn). Replaces an earlier initializer.
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.initializer = Some(InitSpec::Closure(Arc::new(f)));
        self
    }

    /// Runs `f(args)` once in each worker when it starts, before its first task (Python's
    /// `initializer=f, initargs=args`), with any start method: `f` is an `fn` and `args` a
    /// serde value, encoded once here and decoded in each worker. If it panics, the worker
    /// exits and is replaced. Replaces an earlier initializer.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::pool::Builder;
    ///
    /// fn set_level(level: u32) {
    ///     std::env::set_var("LEVEL", level.to_string());
    /// }
    ///
    /// fn level(_: ()) -> String {
    ///     std::env::var("LEVEL").unwrap_or_default()
    /// }
    ///
    /// let pool = Builder::new().processes(1).initializer_fn(set_level, 3).build()?;
    /// assert_eq!(pool.apply(level, ())?, "3");
    /// # Ok::<(), host_runtime::pool::PoolError>(())
    /// ```
    pub fn initializer_fn<A>(mut self, f: fn(A), args: A) -> Builder
    where
        A: Serialize + DeserializeOwned + 'static,
    {
        let args = postcard::to_stdvec(&args)
            .map(Arc::from)
            .map_err(|e| e.to_string());
        let seal: SealFn = Arc::new(move |key| ForkCall::new(key, init_shim::<A>, f));
        self.initializer = Some(InitSpec::Call { seal, args });
        self
    }

    /// How the workers are started (default: the program's,
    /// [`get_start_method`](crate::process::get_start_method), as Python's `Pool` uses its
    /// context's): forked ([`StartMethod::Fork`]), or re-executing the program
    /// ([`StartMethod::Spawn`], [`StartMethod::Forkserver`]; the program calls
    /// [`process::init`](crate::process::init) first, see there). Workers replaced after a
    /// death or [`maxtasksperchild`](Self::maxtasksperchild) are started the same way.
    ///
    /// With `Spawn` or `Forkserver`, tasks and the initializer must be functions of the main
    /// executable (not of a shared library: the task fails with [`PoolError::Spawn`]), the
    /// initializer an [`initializer_fn`](Self::initializer_fn), and the pool's shared memory
    /// is made of memory files that the workers are handed as descriptors (see the
    /// [module docs](crate::pool#start-methods)).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::pool::Builder;
    /// use host_runtime::process::StartMethod;
    ///
    /// host_runtime::init_before_main!(); // a spawned worker runs here, before `main`
    ///
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// fn main() -> Result<(), host_runtime::pool::PoolError> {
    ///     let pool = Builder::new()
    ///         .processes(2)
    ///         .start_method(StartMethod::Spawn)
    ///         .build()?;
    ///     assert_eq!(pool.map(square, 1..=4)?, [1, 4, 9, 16]);
    ///     Ok(())
    /// }
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Builder {
        self.start_method = Some(method);
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

    /// Publishes the pool's worker table under `name` (a named region, `/dev/shm/NAME`, mode
    /// 0600) so that `ipcctl show NAME` lists each worker: its pid, its state (new, ready,
    /// running, blocked, dead), the tasks it finished and the one it runs. The pool removes the
    /// name when it is dropped; a pool whose process died leaves it to `ipcctl clean`.
    ///
    /// [`build`](Self::build) fails if the name is taken ([`PoolError::Queue`] with
    /// `ShmError::AlreadyExists`).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{inspect, pool::Builder};
    ///
    /// let name = format!("doc-pool-{}", std::process::id());
    /// let pool = Builder::new().processes(2).name(&name).build()?;
    /// assert_eq!(pool.apply(|x: u32| x + 1, 1)?, 2);
    /// let snap = inspect::inspect_region(&std::path::Path::new(inspect::SHM_DIR).join(&name))?;
    /// let inspect::RegionSnapshot::Pool(p) = snap else { panic!("not a pool") };
    /// assert_eq!(p.workers.len(), 2);
    /// drop(pool);
    /// assert!(!std::path::Path::new(inspect::SHM_DIR).join(&name).exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(mut self, name: &str) -> Builder {
        self.name = Some(name.to_owned());
        self
    }

    /// Starts the pool: starts its workers with its [start method](Self::start_method).
    ///
    /// # Errors
    ///
    /// - [`PoolError::InvalidConfig`] for 0 processes (or more than [`MAX_PROCESSES`]),
    ///   `maxtasksperchild(0)`, a prefetch outside 1..=4096, a message size under 256 bytes,
    ///   initializer arguments that could not be encoded.
    /// - [`PoolError::Spawn`] with [`ProcessError::NeedsFork`] for a closure
    ///   [`initializer`](Self::initializer) with a start method other than `Fork`, and with
    ///   [`ProcessError::Os`] (`Unsupported`) for an [`initializer_fn`](Self::initializer_fn)
    ///   outside the main executable with such a method.
    /// - [`PoolError::FdLimit`] if `RLIMIT_NOFILE` leaves fewer than two file descriptors free
    ///   (the result thread's wake-up socket). That is all a pool needs: a worker also gets a
    ///   pidfd and, while it starts, a socket pair, but does without them when no descriptor
    ///   is free. A pool of `Spawn` or `Forkserver` workers also holds the memory files of its
    ///   tables and of each worker's two queues (one descriptor each, while it runs); failing
    ///   to make them is a [`PoolError::Queue`] or [`PoolError::Spawn`].
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
        let method = self.start_method.unwrap_or_else(process::get_start_method);
        let exec = method != StartMethod::Fork;
        let key = if exec {
            CallKey::portable()
        } else {
            CallKey::new()
        };
        let initializer = match self.initializer {
            None => None,
            Some(InitSpec::Closure(_)) if exec => {
                return Err(PoolError::Spawn(ProcessError::NeedsFork { method }))
            }
            Some(InitSpec::Closure(f)) => Some(worker::Initializer::Closure(f)),
            Some(InitSpec::Call { seal, args }) => {
                let args = args.map_err(|e| {
                    PoolError::InvalidConfig(format!(
                        "the initializer's arguments could not be encoded: {e}"
                    ))
                })?;
                let call = seal(&key).map_err(|e| {
                    PoolError::Spawn(ProcessError::Os(std::io::Error::new(
                        std::io::ErrorKind::Unsupported,
                        e,
                    )))
                })?;
                Some(worker::Initializer::Call { call, args })
            }
        };
        let queues = queue_builder(self.prefetch, self.max_message_size);
        // Custody is bounded by `processes × prefetch`; twice that leaves room for tasks taken
        // back from dead workers, which keep their slots while they wait.
        let tasks = 2 * processes * self.prefetch + 64;
        let tables = Tables::new(processes, tasks, self.name.as_deref(), exec)?;
        let (wake_rx, wake_tx) = wake_socket()?;
        let shared = Arc::new(Shared {
            sched: Mutex::new(Sched::new(processes, tasks)),
            tables,
            key,
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
            initializer,
            max_tasks: self.maxtasksperchild,
            queues,
            start_method: method,
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

/// Seals an initializer's call with the pool's key.
type SealFn = Arc<dyn Fn(&CallKey) -> Result<ForkCall, NotPortable> + Send + Sync>;

/// An initializer as given to the builder (sealed with the pool's key by `build`).
#[derive(Clone)]
enum InitSpec {
    Closure(Arc<dyn Fn() + Send + Sync + 'static>),
    Call {
        seal: SealFn,
        /// The encoded arguments, or why they could not be encoded.
        args: Result<Arc<[u8]>, String>,
    },
}

/// The settings of a worker's inbox and result queue: `prefetch` messages, and blob chunks
/// for longer ones — as many as messages for the small sizes, fewer for the large, so that the
/// address space reserved stays modest (about 40 MiB per queue with the defaults). A put that
/// finds no chunk free waits for the next result (see `Lane::stalled`).
pub(super) fn queue_builder(prefetch: usize, max_message_size: usize) -> queue::Builder {
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
