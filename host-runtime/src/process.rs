//! [`Process`]: Python's `multiprocessing.Process`, for Linux, with the `fork`, `spawn` and
//! `forkserver` start methods (see [Start methods](#start-methods)).
//!
//! A `Process` runs a closure in a forked child. Its captures are the arguments; the child gets
//! a copy-on-write copy of the parent's memory, as in Python.
//!
//! ```
//! use host_runtime::{current_process, Process};
//!
//! let p = Process::new(|| {
//!     assert_ne!(current_process().name(), "MainProcess");
//!     // Runs in the child; returning means exit code 0.
//! });
//! p.start()?;
//! assert_eq!(p.join()?, 0);
//! assert_eq!(p.exitcode(), Some(0));
//! # Ok::<(), host_runtime::process::ProcessError>(())
//! ```
//!
//! # Life cycle and exit codes
//!
//! [`Process::new`] (or [`Builder::build`]) makes an unstarted process; [`Process::start`]
//! forks; [`Builder::spawn`] does both. In the child, the closure runs under `catch_unwind`;
//! the child then flushes Rust's stdout and leaves with `_exit(2)`, so it never runs the
//! parent's `atexit` handlers nor writes a second time buffers it inherited. The exit code,
//! read by [`Process::exitcode`], [`Process::join`] and [`Process::join_timeout`], follows
//! Python exactly:
//!
//! | the closure …                    | exit code |
//! |----------------------------------|-----------|
//! | returns                          | `0`       |
//! | panics                           | `1`       |
//! | calls `std::process::exit(n)`    | `n`       |
//! | is killed by signal `s`          | `-s` (`terminate()`: `-15`, `kill()`: `-9`) |
//!
//! A panic's message is written to the child's stderr (see *Panics in the child* below).
//! `std::process::exit` is not `_exit`: it runs the C `atexit` handlers the child inherited
//! from the parent. Prefer returning.
//!
//! Default names are `Process-1`, `Process-2`, … in the order the `Process` values are made,
//! counted per process; in a child the count starts again and names nest as in Python: the
//! first process made by `Process-2` is `Process-2:1`. [`current_process`] reports
//! `MainProcess` in the original process and the `Process`'s name in a child.
//!
//! # Return values, children, the parent, CPUs
//!
//! - [`Builder::start`] (or [`start`]) runs a closure that returns a value and gives a
//!   [`JoinHandle<T>`], whose [`join`](JoinHandle::join) returns it (any size; through a memory
//!   file, see [`JoinHandle`]) or a [`JoinError`] that tells a panic (with its message), an exit
//!   code and a signal apart. [`Builder::run`] (or [`run`]) does the same for a `fn` item with
//!   serde arguments, with any [start method](#start-methods).
//! - [`active_children`]: the children this process started that still run (Python's
//!   `multiprocessing.active_children()`; it does not reap, see there why).
//! - [`parent_process`]: in a child, the process that started it (name, pid, `is_alive`);
//!   `None` in the main process.
//! - [`cpu_count`] (Python's `multiprocessing.cpu_count()`, all online CPUs) and
//!   [`process_cpu_count`] (Python 3.13's `os.process_cpu_count()`, the CPUs this process may
//!   run on).
//! - A `Process` or `JoinHandle` is a source for [`wait`](crate::wait()), ready once the child
//!   has exited, next to queues.
//!
//! # Waiting and signalling: pidfds
//!
//! Right after the fork, the parent opens a pidfd for the child (`pidfd_open(2)`, Linux ≥ 5.3).
//! [`Process::join`] and [`Process::join_timeout`] sleep in `ppoll(2)` on it until the child
//! exits or the timeout passes — no sleep loop — and then reap with `waitpid(pid, WNOHANG)`.
//! Every `waitpid` names the child's pid; this crate never waits for "any child"
//! (`waitpid(-1)`), which would steal children from other code. [`Process::terminate`] and
//! [`Process::kill`] signal through the pidfd (`pidfd_send_signal(2)`), so they reach the child
//! or nobody, never a process that reused its pid. After the child has been reaped they do
//! nothing and succeed, as in Python.
//!
//! **Without pidfds** (kernel < 5.3, or `pidfd_open` refused by a seccomp filter or the
//! descriptor limit), each started process gets a small waiter thread instead. It blocks in
//! `waitid(P_PID, pid, WEXITED | WNOWAIT)`, which waits for the exit *without* reaping, then
//! takes the process's state lock, reaps with `waitpid(pid, WNOHANG)` and wakes the joiners
//! through a condition variable; [`Process::join_timeout`] waits on that condition variable
//! with its timeout. No `SIGCHLD` handler is installed and nothing polls. Signals then go
//! through `kill(2)`, sent while holding the same state lock: since all reaping happens under
//! that lock, the pid is still our (possibly zombie) child, so it can't have been reused.
//!
//! Both paths assume that only this crate reaps the child: if `SIGCHLD` is set to `SIG_IGN`
//! (the kernel then reaps children itself) or other code calls `waitpid(-1)`, the exit status
//! is lost ([`ProcessError::Lost`]), and in the fallback path a `kill` could reach a reused pid.
//!
//! # Zombies and dropping a running `Process`
//!
//! Every started child is reaped, at the latest by a waiter thread:
//!
//! - Joined, or found finished by [`Process::exitcode`]/[`Process::is_alive`]: reaped then.
//! - Dropped while still running: **the child is neither killed nor waited for** (daemon or
//!   not; Python doesn't kill non-daemon children either, and a `Drop` that blocks would be
//!   worse). The handle hands the child to a detached thread that reaps it when it exits
//!   (a blocking `waitpid(pid)`: with the handle gone, nothing else may reap it; without pidfds
//!   the waiter thread above does it), so it never lingers as a zombie. If the thread can't be
//!   created (out of threads or memory), the child stays a zombie until this process exits.
//!   When this process exits first, the child is re-parented to init (or the nearest
//!   subreaper), which reaps it. Unlike Python, the parent's exit does not wait for non-daemon
//!   children: join them before returning from `main` if you need them to finish.
//!
//! # Daemon processes
//!
//! A daemon child ([`Builder::daemon`]) dies with its parent: its first act after the fork is
//! `prctl(PR_SET_PDEATHSIG, SIGKILL)`; it then compares `getppid()` with the parent's pid
//! recorded before the fork and, if they differ (the parent died before the `prctl`, so no
//! signal will ever come), kills itself at once. This holds however the parent dies, including
//! `SIGKILL`. Non-daemon children outlive a crashed parent.
//!
//! **Threads:** Linux sends the parent-death signal when the *thread* that forked the child
//! exits, not when the parent process does (`prctl(2)`). So a daemon started from a thread is
//! killed when that thread ends, even though the process lives on. Start daemons from a thread
//! that lives at least as long as you need them (e.g. the main thread). To make this
//! deterministic rather than a race, [`Process::start`] of a daemon returns only after the child
//! has armed the signal (it reports through a socket pair; the parent polls that socket and the
//! child's pidfd; with no descriptor free for the pair, through a futex word in a shared page,
//! checking between waits whether the child died instead): once `start` has returned, the end
//! of the calling thread kills the daemon.
//! Without that handshake a thread that exited within microseconds of `start` would leave
//! the daemon un-armed and re-parented to another thread, alive for good. This crate does not
//! fork from a long-lived helper thread instead, because the child would then be a copy of
//! that thread rather than of the caller.
//!
//! # Start methods
//!
//! [`StartMethod::Fork`] (the default, the fastest) copies the parent: the child runs a
//! closure. [`StartMethod::Spawn`] starts the program anew (`execve("/proc/self/exe")`) and
//! runs a `fn` item on serde arguments: nothing of the parent's memory reaches the child, so
//! nothing another thread was holding is held there (see the next section for what `fork`
//! leaves held). [`StartMethod::Forkserver`] runs such a `fn` in a fork of a server process,
//! started once by re-executing the program: as safe, without an `execve` per child. Choose per program with
//! [`set_start_method`] (once; [`set_start_method_forced`] to change it) or per process with
//! [`Builder::start_method`]; [`Builder::run`] (or [`run`]) starts a `fn` with either method,
//! closures ([`Process::new`], [`Builder::start`]) are forked only
//! ([`ProcessError::NeedsFork`] otherwise).
//!
//! Spawning needs one line in the program: [`init`] first thing in `main` (it runs the
//! function in a spawned child and exits, and returns at once otherwise), or, in a test crate,
//! whose `main` is the harness's, [`init_before_main!`](crate::init_before_main) at the top
//! level. How the function, its arguments, its result and its panic travel: see [`Builder::run`]
//! and the crate's `examples/spawn.rs`.
//!
//! | | `Fork` | `Spawn` | `Forkserver` |
//! |---|---|---|---|
//! | runs | a closure (its captures are the arguments) | a `fn` item (or a closure capturing nothing) on serde arguments | as `Spawn` |
//! | with other threads running | may deadlock (held locks stay held) | safe | safe |
//! | handles (queues, regions, locks) | inherited, anonymous or named | named ones, passed by name and opened in the child | as `Spawn` |
//! | cost | a `fork` | a `fork`-like `clone`, an `execve`, the program's start-up | a request on a socket, a `fork` of the small server (its start once) |
//! | `main` needs | nothing | [`init`] (tests: [`init_before_main!`](crate::init_before_main)) | as `Spawn` |
//! | daemons | yes | yes | not yet |
//!
//! A program that forks while other threads run is told once, on stderr, with the way out (as
//! Python 3.12 does); [`set_fork_warning`]`(false)` turns that off.
//!
//! # Forking a multi-threaded parent
//!
//! After `fork`, only the thread that called [`Process::start`] exists in the child. Whatever
//! the other threads were doing is frozen: a lock one of them held at that instant stays locked
//! forever in the child, and taking it there deadlocks. `start` removes the hazards it knows of:
//!
//! - **malloc**: glibc's `fork` takes its arena locks before the fork and resets them in the
//!   child, so allocating in the child is fine. A custom global allocator must be fork-safe
//!   the same way (jemalloc registers `pthread_atfork` handlers for this); a spin lock or a
//!   plain mutex in an allocator can deadlock the child.
//! - **Rust's stdout and stderr**: `start` takes the `stdout` lock, then the `stderr` lock,
//!   flushes both and C's stdio (`fflush(NULL)`), and holds the locks across the fork. In the
//!   child the locks are owned by the forking thread, the only one, which releases them: the
//!   child can `println!`, and it inherits no buffered output to write a second time. The
//!   lock order is stdout → stderr: code that holds `stderr().lock()` and then asks for the
//!   `stdout` lock while another thread starts a process can deadlock the parent.
//! - **Panics in the child**: the first `start` installs a panic hook that wraps the existing
//!   one. In the parent it calls the previous hook. In a child it writes
//!   `process 'NAME' (pid N) panicked at FILE:LINE:COL:\nMESSAGE` to fd 2 with a raw
//!   `write(2)`, taking no lock, so a thread of the parent that was panicking (holding the
//!   default hook's lock) or printing at the fork can't block it. Consequences: in children,
//!   a custom hook installed *before* the first `start` is replaced by that message, and
//!   `RUST_BACKTRACE` is ignored; a hook installed *after* it replaces ours and runs in the
//!   children as it is. With `panic = "abort"` the message is still written, then the child
//!   aborts (exit code `-6`).
//! - **This module's own state** (the identity behind [`current_process`] and
//!   [`parent_process`], the registry behind [`active_children`], the forkserver connection)
//!   is locked across the fork the same way.
//! - **This crate's values set on first use**: the `pthread_atfork` handlers (the fork
//!   counter's, the ledgers') are registered before the fork, so a child never waits on a
//!   registration another thread was making at that instant (it used to hang a pool worker in
//!   its first queue call); the other per-process values (the pid namespace, the executable's
//!   identity) are atomic words that threads racing to set them set alike, with no waiting.
//!
//! What stays unsafe to do in the child of a multi-threaded parent (it may deadlock):
//!
//! - taking any lock that another thread of the parent may have held at the fork: your own
//!   `Mutex`/`RwLock`s, a `OnceLock`/`LazyLock`/`Once` another thread was initialising, the
//!   state lock of another [`Process`] handle captured by the closure, `std::env::var` while
//!   another thread was in `std::env::set_var`, a `log` backend's lock;
//! - thread pools and runtimes created in the parent (rayon, tokio): their threads don't exist
//!   in the child, so submitting work there waits forever;
//! - non-fork-safe C libraries (anything with its own locks and no `pthread_atfork` handling;
//!   e.g. some GPU drivers);
//! - a panic while, at the fork, another thread was inside `std::panic::set_hook`/`take_hook`
//!   (the child's panic waits for the hook's lock) or unwinding (the system unwinder takes
//!   locks of the C runtime; glibc resets the dynamic loader's in the child, not necessarily
//!   all);
//! - under the test harness's output capture (`cargo test` without `--nocapture`),
//!   `print!`/`println!` write to a buffer shared, behind a lock `start` can't take, with the
//!   threads the test spawned: a child may block on it, and its output is lost anyway. Write to
//!   `std::io::stdout()` directly, or run with `--nocapture`.
//!
//! # What a start costs
//!
//! A started child shares the parent's memory copy-on-write, so after each fork every page of
//! memory that the parent *or* the child writes costs a page fault (and the child faults in each
//! page of code it runs): on a small machine these faults, not the system calls, are most of what
//! a start and join cost beyond the bare `fork` and `waitpid`. So `new` and `start` allocate
//! nothing for a default-named process with a closure that captures nothing (the default name
//! is made on first use; the child's [`current_process`] identity is set from plain fields
//! copied from the `Process`; the registry of [`active_children`] keeps its capacity, so its
//! entry allocates only when it grows), the child writes only the locks it releases and this
//! module's statics before running the closure. Besides `fork`, a start and join make six
//! system calls (`getpid` in each and once more when the reap takes the child out of the
//! registry, `pidfd_open`, `ppoll`, `waitpid`) and the drop one (`close`); until the
//! multi-threaded fork warning has been given (or while it is on in a single-threaded
//! program), one more: the thread count's `statx` of `/proc/self/task`
//! ([`set_fork_warning`]`(false)` spares it). What the fork-safety measures below write (the stdout and stderr locks, `fflush(NULL)`) remains.
//!
//! The child inherits every file descriptor of the parent, as with Python's `fork`: both ends
//! of a pipe or socket pair made before `start` are open in the child, even those its closure
//! did not capture, and stay open until it exits. So a child never sees end-of-file on a pipe
//! whose other end the parent made before the fork; send it a message instead. Stdin is
//! inherited unchanged (Python reopens it on `/dev/null` in the child; we don't).

// All `unsafe` code lives in `crate::sys`.
#![forbid(unsafe_code)]

mod builder; // `Builder`: name and daemon flag
mod children; // `active_children`: the registry of started children; the child-exit word
mod cpus; // `cpu_count`, `process_cpu_count`
mod error; // `ProcessError`
mod forkserver; // the forkserver start method: the server, its requests
mod handle; // `Process`: start (the fork and the child's side), join, signals, drop
mod handoff; // `ByFd`: queues and regions passed to spawned children as descriptors
mod handshake; // a daemon's ready handshake: a socket pair, or a futex word
mod identity; // names, `_identity` paths, `current_process`, `parent_process`
mod join; // `JoinHandle<T>`: a child that returns a value
mod panic_hook; // the children's panic message, written without a lock
mod reaping; // `Reaping`: a pidfd, or a waiter thread; waiting, reaping, signalling
mod spawn; // the spawn start method: `Builder::run`, `init`, `init_before_main!`
mod start; // `StartMethod`, `set_start_method`, the warning on forks with threads running

pub use builder::Builder;
pub use children::{active_children, ActiveChild};
pub(crate) use children::{child_exits, notify_child_exit};
pub use cpus::{cpu_count, process_cpu_count};
pub use error::ProcessError;
pub(crate) use forkserver::die_with_parent;
pub use handle::Process;
pub use handoff::{ByFd, FdShareable};
pub use identity::{current_process, parent_process, CurrentProcess, ParentProcess};
pub use join::{start, JoinError, JoinHandle, MESSAGE_MAX};
pub use spawn::{init, run};
pub(crate) use spawn::{start_with_fds, take_inherited_fd};
pub use start::{
    get_start_method, set_fork_warning, set_start_method, set_start_method_forced, StartMethod,
    StartMethodError,
};

use crate::lock::lock;
