//! [`Pool`]: Python's `multiprocessing.Pool`, with any of its start methods — without its hang
//! when a worker dies.
//!
//! Workers are started with the program's [start method](crate::process::StartMethod)
//! ([`set_start_method`](crate::process::set_start_method); forked by default), or the one
//! given to [`Builder::start_method`]; see [Start methods](#start-methods).
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
//! this process or a new run of its executable; closures can't be sent (their captures live
//! in this process's memory). The pointer travels as its distance from a fixed function of
//! this crate, with a keyed hash of it, under a random key that only this process and its
//! workers hold; a worker refuses a message whose hash does not match (see the crate-private
//! `sys::fncall`).
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
//! - **Long byte payloads** (a `Vec<u8>` or `String` of 16 KiB or more, as the argument of
//!   `apply` or of a one-item chunk, or as such a result) are copied only into shared memory
//!   and out of it, once each way: the argument is moved into the task (not encoded into a
//!   buffer) and written straight into a blob chunk of the inbox; the worker reads it straight
//!   into the allocation `f` gets, and writes `f`'s long result straight into a chunk of its
//!   result queue; the result thread reads it into the allocation that becomes the value (the
//!   memory of an argument the pool has sent and is done with, when one fits). The bytes
//!   are the same as postcard's (see `pool/message.rs`). `map` keeps only a few long messages
//!   ahead of the results (for 1 MiB ones on 2 workers, 3 in flight), so the memory it moves
//!   stays in the cache.
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
//! to the pool's result thread, which starts them; a forkserver worker, which can't have it,
//! has a thread that waits on a pidfd of this process and ends the worker when it ends).
//!
//! # Start methods
//!
//! | method | a worker is | tasks | initializer |
//! |---|---|---|---|
//! | `Fork` (default) | a fork of this process | `fn` items and pointers | [`Builder::initializer`] (a closure) or [`Builder::initializer_fn`] |
//! | `Spawn` | a new run of the executable (`/proc/self/exe`) | `fn`s of the main executable | [`Builder::initializer_fn`] |
//! | `Forkserver` | a fork of the fork server (see [`StartMethod::Forkserver`](crate::process::StartMethod::Forkserver)) | as `Spawn` | as `Spawn` |
//!
//! With `Spawn` and `Forkserver` the program calls [`process::init`](crate::process::init)
//! first thing in `main` (a test crate: [`init_before_main!`](crate::init_before_main)); a
//! worker runs there and never returns into `main`. Nothing of this process's memory reaches
//! such a worker, so:
//!
//! - **Shared memory goes as descriptors.** The pool tables and each worker's inbox and result
//!   queue live in memory files (`memfd_create(2)`, sealed against resizing, with no name in
//!   `/dev/shm`) instead of anonymous mappings. A spawned worker inherits their descriptors
//!   across `execve` (close-on-exec is cleared in the child only, between `clone` and
//!   `execve`); a forkserver worker gets them as `SCM_RIGHTS` with its request. It maps them
//!   and validates each queue's header as a named queue's opener does. (A named pool,
//!   [`Builder::name`], hands on its named region's descriptor the same way.)
//! - **The call key goes through private memory.** The worker's settings and the pool's
//!   random call key travel in its arguments file, a memory file only this process and the
//!   worker hold (never the shared queues); tasks name their functions by distances from an
//!   anchor in this crate, which are the same in every run of the executable. The pool seals
//!   only functions of the main executable (a task of a shared library fails with
//!   [`PoolError::Spawn`]), and a worker runs only in the same executable file.
//! - **Initializers are functions with serde arguments** ([`Builder::initializer_fn`]); a
//!   closure initializer is refused at [`Builder::build`] with
//!   [`ProcessError::NeedsFork`](crate::process::ProcessError::NeedsFork).
//!
//! Workers that die, or reach `maxtasksperchild`, are replaced with the same method. A
//! spawned worker costs a program start (a few milliseconds), a forkserver worker about a
//! fork; both are started once and reused, so a task costs the same as with forked workers.
//!
//! A forked worker holds every descriptor this process had open at the moment of the fork,
//! as any `fork` child does, and replacement workers are forked whenever one dies: a pipe
//! another thread is reading to its end (`std::process::Command::output`) then stays open
//! until that worker exits. Give such children files, or wait for their exit status, or use
//! `Spawn`/`Forkserver` workers, which inherit only the pool's own descriptors.
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
//! - The forking caveats of [`Process`] apply to forked workers (locks held by other threads
//!   at the fork, thread pools made before it); not to `Spawn` and `Forkserver` workers.
//!
//! [`Process`]: crate::Process

// All `unsafe` code lives in `crate::sys` and `crate::shared`.
#![forbid(unsafe_code)]

mod builder;
mod collector;
mod error;
mod handle;
mod message;
mod result;
mod sched;
mod shared;
mod submit;
pub(crate) mod tables;
mod worker;
mod worker_info;

pub use ipc_core::pool::{TaskHandle, WorkerId, WorkerState};
pub use worker_info::WorkerInfo;

pub use builder::{Builder, DEFAULT_PREFETCH, MAX_PROCESSES};
pub use error::{PoolError, TaskError};
pub use handle::Pool;
pub use result::{AsyncResult, Callbacks, Imap};
