//! [`Process`]: Python's `multiprocessing.Process` (with the `fork` start method), for Linux.
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
//! - **This module's own state** (the identity behind [`current_process`]) is locked across the
//!   fork the same way.
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
//! copied from the `Process`), the child writes only the locks it releases and this module's
//! statics before running the closure. Besides `fork`, a start and join make five system calls
//! (`getpid` in each, `pidfd_open`, `ppoll`, `waitpid`) and the drop one (`close`). What the
//! fork-safety measures below write (the stdout and stderr locks, `fflush(NULL)`) remains.
//!
//! The child inherits every file descriptor of the parent, as with Python's `fork`: both ends
//! of a pipe or socket pair made before `start` are open in the child, even those its closure
//! did not capture, and stay open until it exits. So a child never sees end-of-file on a pipe
//! whose other end the parent made before the fork; send it a message instead. Stdin is
//! inherited unchanged (Python reopens it on `/dev/null` in the child; we don't).

// All `unsafe` code lives in `crate::sys`.
#![forbid(unsafe_code)]

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, OnceLock, PoisonError, TryLockError};
use std::thread;
use std::time::{Duration, Instant};

use crate::sys::region::{Mapping, Part, SharedBytes, View};
use crate::sys::{self, Pid, Signal, WaitOptions, WaitStatus};

/// The name [`current_process`] reports in the original process.
const MAIN_NAME: &str = "MainProcess";
/// Exit code of a child whose closure panicked (Python: an uncaught exception).
const EXIT_PANIC: i32 = 1;
/// Stack size of waiter threads: they only call `waitid` and `waitpid`.
const WAITER_STACK: usize = 64 * 1024;

/// Python's `_process_counter`: numbers the `Process` values made in this process, from 1.
/// Reset to 0 in each child. Relaxed: only uniqueness matters, which the RMW gives.
static COUNTER: AtomicU64 = AtomicU64::new(0);
/// Set in a child right after the fork, before the closure runs (same thread; threads it spawns
/// later see it through `thread::spawn`'s happens-before), so Relaxed suffices. Read by the
/// panic hook.
static IN_CHILD: AtomicBool = AtomicBool::new(false);
/// Who this process is; locked across every fork (see the module docs). Written once per
/// process, by the child right after its fork (the main process keeps `me: None`).
static IDENTITY: Mutex<Identity> = Mutex::new(Identity { me: None });
/// Installs the panic hook once per process (children inherit it).
static PANIC_HOOK: Once = Once::new();

/// The identity [`current_process`] reports.
struct Identity {
    /// `None` in the main process: [`MAIN_NAME`].
    me: Option<Me>,
}

/// The identity of a process started by a [`Process`]. Set in the child from fields of the
/// `Process` that need no allocation (a copied `&'static` slice and a number), so that
/// starting allocates nothing in the parent nor in the child; the name and the full path are
/// made on first use.
struct Me {
    /// The [`Process::parent_path`] of the `Process` that started this process.
    parent_path: &'static [u64],
    /// Its [`Process::number`].
    number: u64,
    /// Given to [`Builder::name`], or the default name, made on first use.
    name: Option<Arc<str>>,
    /// `parent_path` followed by `number`: Python's `_identity` of this process, made (and
    /// leaked, once per process) when this process first builds a `Process`.
    path: Option<&'static [u64]>,
}

impl Me {
    /// This process's name, made on first use.
    fn name(&mut self) -> Arc<str> {
        let (parent_path, number) = (self.parent_path, self.number);
        Arc::clone(
            self.name
                .get_or_insert_with(|| default_name(parent_path, number).into()),
        )
    }
}

/// Python's default name of the process numbered `number` by the process whose `_identity` is
/// `parent_path`: `Process-2:1` for `[2]` and `1`.
fn default_name(parent_path: &[u64], number: u64) -> String {
    let mut name = String::from("Process-");
    for n in parent_path {
        // Writing to a `String` can't fail.
        let _ = write!(name, "{n}:");
    }
    let _ = write!(name, "{number}");
    name
}

/// Python's `_identity` of the calling process (empty in the main process): the
/// [`Process::parent_path`] of the processes it builds.
fn own_path() -> &'static [u64] {
    // Set before the closure runs in a child; never set in the main process (see IN_CHILD).
    if !IN_CHILD.load(Ordering::Relaxed) {
        return &[];
    }
    let mut identity = lock(&IDENTITY);
    match &mut identity.me {
        None => &[],
        Some(me) => me.path.get_or_insert_with(|| {
            let mut path = me.parent_path.to_vec();
            path.push(me.number);
            // Once per process, and needed as long as any `Process` made here lives.
            Vec::leak(path)
        }),
    }
}

/// Locks `m`, ignoring poisoning: every critical section here leaves the state consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a [`Process`] operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProcessError {
    /// [`Process::start`] was called on a process that was already started.
    AlreadyStarted,
    /// The operation needs a started process.
    NotStarted,
    /// Waiting is only possible in the process that started the child (e.g. not in a child
    /// that inherited the handle), as in Python.
    NotParent,
    /// The child was reaped by someone else (`SIGCHLD` ignored, or `waitpid(-1)` elsewhere in
    /// this process); its exit status is unknown.
    Lost,
    /// A system call failed.
    Os(io::Error),
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::AlreadyStarted => f.write_str("process already started"),
            ProcessError::NotStarted => f.write_str("process not started"),
            ProcessError::NotParent => {
                f.write_str("can only wait for a child process of the current process")
            }
            ProcessError::Lost => {
                f.write_str("child process was reaped elsewhere; its exit status is lost")
            }
            ProcessError::Os(e) => write!(f, "system call failed: {e}"),
        }
    }
}

impl std::error::Error for ProcessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProcessError::Os(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ProcessError {
    fn from(e: io::Error) -> ProcessError {
        ProcessError::Os(e)
    }
}

/// Configuration for a [`Process`], in the manner of [`std::thread::Builder`].
///
/// # Examples
///
/// ```
/// use host_runtime::process::Builder;
///
/// let p = Builder::new().name("worker").daemon(true).spawn(|| {})?;
/// assert_eq!(p.name(), "worker");
/// assert!(p.is_daemon());
/// assert_eq!(p.join()?, 0);
/// # Ok::<(), host_runtime::process::ProcessError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    name: Option<String>,
    daemon: bool,
    /// Cleared only by unit tests, to exercise the no-pidfd fallback on any kernel.
    use_pidfd: bool,
    /// Cleared only by unit tests, to exercise a daemon's start-up handshake without a socket
    /// (as when no descriptor is free).
    use_socket: bool,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// A builder for a non-daemon process with the default name.
    pub fn new() -> Builder {
        Builder {
            name: None,
            daemon: false,
            use_pidfd: true,
            use_socket: true,
        }
    }

    /// Names the process (default: `Process-N`). The child sees it through
    /// [`current_process`].
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Makes the process a daemon (default: `false`): it is killed when the thread that
    /// started it exits. See [Daemon processes](self#daemon-processes).
    pub fn daemon(mut self, daemon: bool) -> Builder {
        self.daemon = daemon;
        self
    }

    /// Forces the no-pidfd fallback (waiter thread, `kill`), for tests.
    #[cfg(test)]
    pub(crate) fn without_pidfd(mut self) -> Builder {
        self.use_pidfd = false;
        self
    }

    /// Forces a daemon's start-up handshake through shared memory, for tests.
    #[cfg(test)]
    pub(crate) fn without_socket(mut self) -> Builder {
        self.use_socket = false;
        self
    }

    /// Makes an unstarted [`Process`] that will run `f`; [`Process::start`] starts it.
    ///
    /// This takes the next number of the per-process counter, named or not, as Python does.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::process::Builder;
    ///
    /// let p = Builder::new().name("later").build(|| {});
    /// assert_eq!(p.pid(), None);
    /// p.start()?;
    /// assert!(p.pid().is_some());
    /// p.join()?;
    /// # Ok::<(), host_runtime::process::ProcessError>(())
    /// ```
    pub fn build<F>(self, f: F) -> Process
    where
        F: FnOnce() + Send + 'static,
    {
        // Nothing here allocates for a default name and a zero-sized closure: the name is
        // made on first use (every page a start writes costs a page fault after the fork).
        let number = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
        Process {
            given_name: self.name.map(Arc::from),
            default_name: OnceLock::new(),
            parent_path: own_path(),
            number,
            daemon: self.daemon,
            use_pidfd: self.use_pidfd,
            use_socket: self.use_socket,
            target: Mutex::new(Some(Box::new(f))),
            local: Shared::new(),
            fallback: OnceLock::new(),
        }
    }

    /// Makes a [`Process`] that runs `f` and starts it.
    ///
    /// # Errors
    ///
    /// As [`Process::start`].
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::process::Builder;
    ///
    /// let p = Builder::new().spawn(|| std::process::exit(3))?;
    /// assert_eq!(p.join()?, 3);
    /// # Ok::<(), host_runtime::process::ProcessError>(())
    /// ```
    pub fn spawn<F>(self, f: F) -> Result<Process, ProcessError>
    where
        F: FnOnce() + Send + 'static,
    {
        let p = self.build(f);
        p.start()?;
        Ok(p)
    }
}

/// A closure run in a child process: Python's `multiprocessing.Process` (fork start method).
///
/// All methods take `&self`: a `Process` is `Send + Sync`, so one thread may [`join`] it while
/// another calls [`terminate`] (share it in an `Arc`). See the [module docs](self) for exit
/// codes, waiting, dropping, daemons and fork safety.
///
/// [`join`]: Process::join
/// [`terminate`]: Process::terminate
pub struct Process {
    /// Given to [`Builder::name`]; `None`: the default name, see `default_name`.
    given_name: Option<Arc<str>>,
    /// `Process-N`, made on first use from `parent_path` and `number`.
    default_name: OnceLock<String>,
    /// Python's `_identity` of the process that made this one (empty in the main process);
    /// this one's is `parent_path` followed by `number`.
    parent_path: &'static [u64],
    /// This process's number in its parent's [`COUNTER`].
    number: u64,
    daemon: bool,
    use_pidfd: bool,
    use_socket: bool,
    /// The closure; `None` once started (taking it is what makes a start unique).
    target: Mutex<Option<Box<dyn FnOnce() + Send + 'static>>>,
    /// The child's state when it has a pidfd: no other thread needs it, so it lives here and
    /// costs no allocation.
    local: Shared,
    /// Without a pidfd (the fallback), the child's state is here instead, shared with its
    /// waiter thread; set once by `start`. See [`Process::shared`].
    fallback: OnceLock<Arc<Shared>>,
}

/// How a daemon tells [`Process::start`] that its parent-death signal is armed: the parent's
/// end ([`ReadyRx`]) and the child's ([`ReadyTx`]).
///
/// Normally a socket pair: the child writes a byte, the parent polls its end and the child's
/// pidfd (a dead child shows as end of file if there is no pidfd). Without a descriptor free
/// for one (`EMFILE`, `ENFILE`: the workers of a pool under a low `RLIMIT_NOFILE`), a word in
/// an anonymous shared page: the child sets it to 1 and wakes its futex; the parent waits on
/// the futex, and between waits checks whether the child exited instead.
fn handshake(socket: bool) -> io::Result<(ReadyRx, ReadyTx)> {
    if socket {
        match UnixStream::pair() {
            Ok((rx, tx)) => return Ok((ReadyRx::Socket(rx), ReadyTx::Socket(tx))),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {}
            Err(e) => return Err(e),
        }
    }
    let mapping = Arc::new(Mapping::anonymous(8)?);
    match Mapping::claim(&mapping, Part::Bytes { offset: 0, len: 8 }) {
        Ok(View::Bytes(word)) => Ok((ReadyRx::Word(word.clone()), ReadyTx::Word(word))),
        _ => Err(io::Error::other("the handshake word could not be claimed")),
    }
}

/// The parent's end of a [`handshake`].
enum ReadyRx {
    Socket(UnixStream),
    Word(SharedBytes),
}

/// The child's end of a [`handshake`].
enum ReadyTx {
    Socket(UnixStream),
    Word(SharedBytes),
}

/// The longest pause between two checks of a daemon that has not armed its signal yet, when
/// the handshake is a shared word (it normally arms within microseconds; this bounds how long
/// a daemon killed before arming keeps `start` waiting).
const HANDSHAKE_MAX_PAUSE: Duration = Duration::from_millis(10);

/// The handshake word: 0 until the child has armed its signal, then 1.
fn handshake_word(bytes: &SharedBytes) -> &AtomicU32 {
    &bytes.atomics::<AtomicU32>(0, 1)[0]
}

impl ReadyTx {
    /// In the child: tells the parent the signal is armed. Allocates nothing.
    fn armed(self) {
        match self {
            ReadyTx::Socket(tx) => {
                let _ = sys::write_all(tx.as_fd(), b"r");
            }
            ReadyTx::Word(bytes) => {
                let word = handshake_word(&bytes);
                // Release: pairs with the Acquire load in `ReadyRx::wait` (publishes nothing
                // else; the order only makes the word's meaning plain).
                word.store(1, Ordering::Release);
                let _ = sys::futex::futex_wake(word, 1);
            }
        }
    }
}

impl ReadyRx {
    /// In the parent: returns once the child `pid` has armed its signal or has exited. On an
    /// error of the wait itself (`ENOMEM`) it returns at once: the daemon still arms itself,
    /// only perhaps after `start` returned.
    fn wait(self, pid: Pid, pidfd: Option<&OwnedFd>) {
        match self {
            ReadyRx::Socket(rx) => {
                let mut fds = vec![rx.as_fd()];
                fds.extend(pidfd.map(AsFd::as_fd));
                let _ = sys::retry_on_intr(|| sys::poll_any_readable(&fds, None));
            }
            ReadyRx::Word(bytes) => {
                let word = handshake_word(&bytes);
                let mut pause = Duration::from_micros(50);
                // Acquire: pairs with the Release store in `ReadyTx::armed`.
                while word.load(Ordering::Acquire) == 0 {
                    // A child dies before arming only if killed, or if its `prctl` failed.
                    // Not reaped yet (we are its only reaper), so `pid` is still our child.
                    if sys::has_exited(pid).unwrap_or(true) {
                        return;
                    }
                    // Woken by the child, or after `pause` to look again.
                    let _ = sys::futex::futex_wait(word, 0, Some(pause));
                    pause = (pause * 2).min(HANDSHAKE_MAX_PAUSE);
                }
            }
        }
    }
}

/// A started child's state: in [`Process::local`], or shared with a waiter thread.
struct Shared {
    /// Set once by `start`, then never changed until drop: so the pidfd can be polled without
    /// holding `status` (it can't be closed under a poller).
    child: OnceLock<Child>,
    /// Only changed with the lock held; all reaping (`waitpid`) of the child happens with it
    /// held, so while it is held and says `Running`, the pid is not reused.
    status: Mutex<Status>,
    /// Notified (all) when `status` leaves `Running`, in the no-pidfd fallback only: with a
    /// pidfd, waiters sleep in `ppoll` on it instead.
    exited: Condvar,
}

/// A started child.
struct Child {
    pid: Pid,
    /// The process that forked it: the only one that may `waitpid` for it.
    parent: Pid,
    /// `None` when `pidfd_open` failed: the fallback (waiter thread, `kill`) is in use.
    pidfd: Option<OwnedFd>,
}

#[derive(Clone, Copy, Debug)]
enum Status {
    NotStarted,
    Running,
    Exited(WaitStatus),
    Lost,
}

impl Shared {
    const fn new() -> Shared {
        Shared {
            child: OnceLock::new(),
            status: Mutex::new(Status::NotStarted),
            exited: Condvar::new(),
        }
    }

    fn child(&self) -> &Child {
        self.child
            .get()
            .expect("`child` is set before `status` leaves `NotStarted`")
    }

    /// Reaps the child if it has exited (`waitpid(pid, WNOHANG)`); the caller holds `status`.
    ///
    /// `Ok(None)`: still running.
    fn poll_status(&self, status: &mut Status) -> Result<Option<WaitStatus>, ProcessError> {
        match *status {
            Status::NotStarted => Err(ProcessError::NotStarted),
            Status::Exited(ws) => Ok(Some(ws)),
            Status::Lost => Err(ProcessError::Lost),
            Status::Running => {
                if sys::getpid() != self.child().parent {
                    return Err(ProcessError::NotParent);
                }
                self.reap(status)
            }
        }
    }

    /// [`poll_status`](Shared::poll_status) for a `Running` child, once the caller has checked
    /// that it is the parent.
    fn reap(&self, status: &mut Status) -> Result<Option<WaitStatus>, ProcessError> {
        let child = self.child();
        let (found, result) = match sys::waitpid(child.pid, WaitOptions::NOHANG) {
            Ok(None) => return Ok(None),
            Ok(Some(ws)) => (Status::Exited(ws), Ok(Some(ws))),
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {
                (Status::Lost, Err(ProcessError::Lost))
            }
            Err(e) => return Err(ProcessError::Os(e)),
        };
        *status = found;
        // Only the fallback's joiners wait on the condition variable (a futex wake-up each).
        if child.pidfd.is_none() {
            self.exited.notify_all();
        }
        result
    }
}

/// Starts a thread that waits for the child to exit, without reaping it, then reaps it under
/// the `status` lock and wakes the joiners. Used when there is no pidfd.
fn spawn_waiter(shared: Arc<Shared>) -> io::Result<()> {
    thread::Builder::new()
        .name("process-waiter".into())
        .stack_size(WAITER_STACK)
        .spawn(move || {
            // `ECHILD`: already reaped; `poll_status` below records what happened.
            let _ = sys::wait_exited_nowait(shared.child().pid);
            let mut status = lock(&shared.status);
            let _ = shared.poll_status(&mut status);
        })
        .map(drop)
}

/// Starts a thread that reaps the child `pid` of a dropped `Process` when it exits. Nothing
/// else can reap it any more (its `Process` is gone), so a blocking `waitpid` is safe: the pid
/// stays ours until this thread reaps it.
fn spawn_reaper(pid: Pid) -> io::Result<()> {
    thread::Builder::new()
        .name("process-waiter".into())
        .stack_size(WAITER_STACK)
        .spawn(move || {
            // `ECHILD`: reaped by someone else (`SIGCHLD` ignored); nothing left to do.
            let _ = sys::waitpid(pid, WaitOptions::BLOCK);
        })
        .map(drop)
}

/// Time left until `deadline` (`None`: no deadline), zero once passed.
fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

impl Process {
    /// Makes an unstarted, non-daemon process named `Process-N` that will run `f`; same as
    /// `Builder::new().build(f)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::Process;
    ///
    /// let data = vec![1, 2, 3];
    /// let p = Process::new(move || assert_eq!(data.iter().sum::<i32>(), 6));
    /// assert!(p.name().starts_with("Process-"));
    /// p.start()?;
    /// assert_eq!(p.join()?, 0);
    /// # Ok::<(), host_runtime::process::ProcessError>(())
    /// ```
    pub fn new<F>(f: F) -> Process
    where
        F: FnOnce() + Send + 'static,
    {
        Builder::new().build(f)
    }

    /// Forks the child, which runs the closure and exits; returns once the child exists (for a
    /// daemon: once it has armed its parent-death signal).
    ///
    /// See the [module docs](self) for what happens in the child, and what is safe to do there
    /// when the parent has other threads. The parent's copy of the closure is dropped after the
    /// fork (so e.g. a socket end it captured stays open only in the child).
    ///
    /// # Errors
    ///
    /// - [`ProcessError::AlreadyStarted`] if called before (by any thread).
    /// - [`ProcessError::Os`] if `fork` failed (`EAGAIN`: process limit), or for a daemon
    ///   neither the socket pair for its start-up handshake nor, without a descriptor free for
    ///   it, the shared page that replaces it could be made (`ENOMEM`): the process is left
    ///   unstarted with its closure, and may be started again.
    /// - [`ProcessError::Os`] if, without pidfd support, the waiter thread could not be created:
    ///   the child is killed and reaped, and the process counts as finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::process::{Process, ProcessError};
    ///
    /// let p = Process::new(|| {});
    /// p.start()?;
    /// assert!(matches!(p.start(), Err(ProcessError::AlreadyStarted)));
    /// p.join()?;
    /// # Ok::<(), ProcessError>(())
    /// ```
    pub fn start(&self) -> Result<(), ProcessError> {
        // Held until the end: a concurrent `start` waits, then finds the closure gone.
        let mut slot = lock(&self.target);
        if slot.is_none() {
            return Err(ProcessError::AlreadyStarted);
        }
        // A daemon tells us when its parent-death signal is armed (see the module docs).
        let (ready_rx, ready_tx) = if self.daemon {
            let (rx, tx) = handshake(self.use_socket)?;
            (Some(rx), Some(tx))
        } else {
            (None, None)
        };
        let mut target = slot.take();

        install_child_panic_hook();
        let parent = sys::getpid();
        let daemon = self.daemon;

        // Lock order: stdout, stderr, IDENTITY (see the module docs). Held across the fork so
        // no other thread owns them at that instant; flushed so the child inherits no output.
        let mut stdout = io::stdout().lock();
        let mut stderr = io::stderr().lock();
        // A closed or broken stdout must not prevent starting a process.
        let _ = stdout.flush();
        let _ = stderr.flush();
        let _ = sys::flush_c_stdio();
        let identity = lock(&IDENTITY);
        let held = (stdout, stderr, identity);
        let target_ref = &mut target;

        let forked = sys::fork_run(move || {
            // In the child: the only thread. `held` are our own locks: release them here.
            let (stdout, stderr, mut identity) = held;
            if daemon {
                let armed = sys::set_parent_death_signal(Some(Signal::KILL)).is_ok();
                if !armed || sys::getppid() != Some(parent) {
                    // The parent died before the prctl: no signal will come. Die as if it had.
                    let _ = sys::kill(sys::getpid(), Signal::KILL);
                    return EXIT_PANIC; // not reached: SIGKILL can't be blocked or caught
                }
            }
            if let Some(tx) = ready_tx {
                // The parent may go on; if it can't hear us it sees our exit or EOF instead.
                tx.armed();
            }
            IN_CHILD.store(true, Ordering::Relaxed);
            COUNTER.store(0, Ordering::Relaxed);
            // Copies of plain fields of `self` (which outlives the child: `fork_run` never
            // returns in it), so nothing is allocated; a given name's count goes up here.
            let me = Me {
                parent_path: self.parent_path,
                number: self.number,
                name: self.given_name.clone(),
                path: None,
            };
            // The parent's identity (in a nested child) is left alone: dropping it would only
            // write to pages this process does not otherwise touch.
            std::mem::forget(identity.me.replace(me));
            drop(identity);
            drop(stderr);
            drop(stdout);

            let f = target_ref
                .take()
                .expect("the closure is set before the fork");
            let code = match panic::catch_unwind(AssertUnwindSafe(f)) {
                Ok(()) => 0,
                Err(payload) => {
                    // The hook already reported it; dropping could panic again.
                    std::mem::forget(payload);
                    EXIT_PANIC
                }
            };
            // Our own buffer only: the locks are ours (or held briefly by the child's threads).
            let _ = io::stdout().flush();
            code
        });
        // In the parent; the locks in `held` were released when `fork_run` dropped its closure.

        let pid = match forked {
            Ok(pid) => pid,
            Err(e) => {
                *slot = target;
                return Err(ProcessError::Os(e));
            }
        };
        // The child has its own copy; release what the parent's copy holds.
        drop(target);

        // Not reaped yet (we are the only reaper and haven't waited), so `pid` is our child.
        let pidfd = if self.use_pidfd {
            sys::pidfd_open(pid).ok()
        } else {
            None
        };
        if let Some(rx) = ready_rx {
            // Wait until the daemon armed its parent-death signal or exited, so the calling
            // thread can't exit before the kernel knows to kill the daemon then.
            rx.wait(pid, pidfd.as_ref());
        }
        let child = Child { pid, parent, pidfd };
        if child.pidfd.is_some() {
            let set = self.local.child.set(child);
            debug_assert!(set.is_ok(), "a process is started once");
            *lock(&self.local.status) = Status::Running;
            return Ok(());
        }

        // The fallback: the state moves to the heap, shared with a waiter thread.
        let shared = Arc::new(Shared {
            child: OnceLock::from(child),
            status: Mutex::new(Status::Running),
            exited: Condvar::new(),
        });
        let set = self.fallback.set(Arc::clone(&shared));
        debug_assert!(set.is_ok(), "a process is started once");
        if let Err(e) = spawn_waiter(Arc::clone(&shared)) {
            // Nobody could ever reap it: kill it now (not reaped, so `pid` is ours).
            let mut status = lock(&shared.status);
            let _ = sys::kill(pid, Signal::KILL);
            if let Ok(Some(ws)) = sys::waitpid(pid, WaitOptions::BLOCK) {
                *status = Status::Exited(ws);
            }
            return Err(ProcessError::Os(e));
        }
        Ok(())
    }

    /// The process's name: given to [`Builder::name`], or `Process-N`.
    pub fn name(&self) -> &str {
        match &self.given_name {
            Some(name) => name,
            None => self
                .default_name
                .get_or_init(|| default_name(self.parent_path, self.number)),
        }
    }

    /// The child's state: [`local`](Process::local), or shared with the fallback's waiter.
    fn shared(&self) -> &Shared {
        self.fallback.get().map_or(&self.local, |shared| shared)
    }

    /// Whether the process is a daemon (see [`Builder::daemon`]).
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// The child's pid: `None` before [`start`](Process::start), then `Some` for good (also
    /// after it exited, as in Python).
    pub fn pid(&self) -> Option<i32> {
        self.shared().child.get().map(|c| c.pid.as_raw())
    }

    /// A descriptor that becomes readable when the child exits (its pidfd), for use with
    /// `poll`/`epoll` next to other descriptors, like Python's `Process.sentinel`.
    ///
    /// `None` before [`start`](Process::start), and on systems without pidfd support.
    /// Reading it does not reap the child: call [`join`](Process::join) or
    /// [`exitcode`](Process::exitcode) when it is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{sys, Process};
    ///
    /// let p = Process::new(|| {});
    /// p.start()?;
    /// if let Some(fd) = p.sentinel() {
    ///     assert!(sys::poll_readable(fd, None)?);
    /// }
    /// assert_eq!(p.join()?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sentinel(&self) -> Option<BorrowedFd<'_>> {
        self.shared().child.get()?.pidfd.as_ref().map(AsFd::as_fd)
    }

    /// Whether the child has been started and has not exited yet. Reaps it if it has exited.
    ///
    /// `false` before [`start`](Process::start) and when the exit status was
    /// [lost](ProcessError::Lost). In a process other than the parent (a child holding an
    /// inherited handle) it asks the pidfd, if there is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::Process;
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    ///
    /// let (mut tx, rx) = UnixStream::pair()?;
    /// let p = Process::new(move || {
    ///     let mut rx = rx;
    ///     let _ = rx.read(&mut [0u8]); // runs until the parent sends a byte
    /// });
    /// assert!(!p.is_alive());
    /// p.start()?;
    /// assert!(p.is_alive());
    /// tx.write_all(b"x")?;
    /// p.join()?;
    /// assert!(!p.is_alive());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_alive(&self) -> bool {
        let shared = self.shared();
        let mut status = lock(&shared.status);
        match shared.poll_status(&mut status) {
            Ok(found) => found.is_none(),
            Err(ProcessError::NotParent) => match &shared.child().pidfd {
                Some(fd) => !sys::poll_readable(fd.as_fd(), Some(Duration::ZERO)).unwrap_or(false),
                None => matches!(*status, Status::Running),
            },
            Err(_) => false,
        }
    }

    /// The exit code, Python-style: `None` before the start and while running, the code the
    /// child exited with, or `-signal` if a signal killed it. Reaps the child if it has exited.
    ///
    /// Also `None` if the status was [lost](ProcessError::Lost), or when asked from a process
    /// other than the parent.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::Process;
    ///
    /// let p = Process::new(|| panic!("boom"));
    /// assert_eq!(p.exitcode(), None);
    /// p.start()?;
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(1));
    /// # Ok::<(), host_runtime::process::ProcessError>(())
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        let shared = self.shared();
        let mut status = lock(&shared.status);
        match shared.poll_status(&mut status) {
            Ok(found) => found.map(WaitStatus::exitcode),
            Err(_) => None,
        }
    }

    /// Waits for the child to exit, reaps it and returns its [exit code](Process::exitcode).
    ///
    /// Returns at once if it was already reaped. Any number of threads may join at once.
    ///
    /// # Errors
    ///
    /// - [`ProcessError::NotStarted`] before [`start`](Process::start).
    /// - [`ProcessError::NotParent`] in a process other than the one that started it.
    /// - [`ProcessError::Lost`] if someone else reaped the child.
    /// - [`ProcessError::Os`] if `poll` or `waitpid` failed unexpectedly.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::process::{Process, ProcessError};
    ///
    /// let p = Process::new(|| std::process::exit(7));
    /// assert!(matches!(p.join(), Err(ProcessError::NotStarted)));
    /// p.start()?;
    /// assert_eq!(p.join()?, 7);
    /// assert_eq!(p.join()?, 7); // again: already reaped
    /// # Ok::<(), ProcessError>(())
    /// ```
    pub fn join(&self) -> Result<i32, ProcessError> {
        let code = self.wait(None)?;
        Ok(code.expect("a wait without deadline returns only once the child exited"))
    }

    /// Waits at most `timeout` for the child to exit: `Some(exit code)` if it did (reaped),
    /// `None` if it is still running after `timeout`.
    ///
    /// Never returns `None` before `timeout` has passed (measured with the monotonic clock).
    ///
    /// # Errors
    ///
    /// As [`join`](Process::join).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::Process;
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    /// use std::time::Duration;
    ///
    /// let (mut tx, rx) = UnixStream::pair()?;
    /// let p = Process::new(move || {
    ///     let mut rx = rx;
    ///     let _ = rx.read(&mut [0u8]);
    /// });
    /// p.start()?;
    /// assert_eq!(p.join_timeout(Duration::from_millis(10))?, None);
    /// tx.write_all(b"x")?; // the child's read returns: it exits
    /// assert_eq!(p.join_timeout(Duration::from_secs(60))?, Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<Option<i32>, ProcessError> {
        // An unrepresentable deadline (centuries away) means no deadline.
        self.wait(Instant::now().checked_add(timeout))
    }

    /// The one waiting loop behind [`join`](Process::join) and
    /// [`join_timeout`](Process::join_timeout): `None` means the deadline passed.
    fn wait(&self, deadline: Option<Instant>) -> Result<Option<i32>, ProcessError> {
        let shared = self.shared();
        let mut status = lock(&shared.status);
        match *status {
            Status::NotStarted => return Err(ProcessError::NotStarted),
            Status::Exited(ws) => return Ok(Some(ws.exitcode())),
            Status::Lost => return Err(ProcessError::Lost),
            Status::Running => {}
        }
        let child = shared.child();
        // Checked once: which process we are can't change while we wait.
        if sys::getpid() != child.parent {
            return Err(ProcessError::NotParent);
        }
        loop {
            // `Running` here. Sleep first, then reap: right after `start` the child is usually
            // still running, and once it has exited the sleep returns at once.
            let exited = match &child.pidfd {
                Some(pidfd) => {
                    // Unlocked while sleeping, so other threads can signal or poll meanwhile.
                    // The pidfd can't be closed under us: `child` lives as long as `self`.
                    drop(status);
                    let ready = sys::retry_on_intr(|| {
                        sys::poll_readable(pidfd.as_fd(), remaining(deadline))
                    })?;
                    status = lock(&shared.status);
                    ready
                }
                None => {
                    // The waiter thread reaps under `status` and then notifies, so checking
                    // `status` and waiting here (atomically releasing it) can't miss it.
                    status = match remaining(deadline) {
                        None => shared
                            .exited
                            .wait(status)
                            .unwrap_or_else(PoisonError::into_inner),
                        Some(t) => {
                            shared
                                .exited
                                .wait_timeout(status, t)
                                .unwrap_or_else(PoisonError::into_inner)
                                .0
                        }
                    };
                    // A wake-up or a timeout: either way, look.
                    true
                }
            };
            let found = match *status {
                // Reaped meanwhile by another thread (or the waiter).
                Status::Exited(ws) => Some(ws),
                Status::Lost => return Err(ProcessError::Lost),
                Status::Running if exited => shared.reap(&mut status)?,
                Status::Running | Status::NotStarted => None,
            };
            if let Some(ws) = found {
                return Ok(Some(ws.exitcode()));
            }
            if remaining(deadline) == Some(Duration::ZERO) {
                return Ok(None);
            }
        }
    }

    /// Sends `SIGTERM` to the child (Python's `terminate()`); its exit code becomes `-15`
    /// unless it catches the signal.
    ///
    /// Does nothing once the child has been reaped (no error, as in Python); never signals a
    /// reaped pid (see [the module docs](self#waiting-and-signalling-pidfds)).
    ///
    /// # Errors
    ///
    /// - [`ProcessError::NotStarted`] before [`start`](Process::start).
    /// - [`ProcessError::NotParent`] without pidfd support, in a process other than the parent.
    /// - [`ProcessError::Os`] if the signal could not be sent (`EPERM`).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::Process;
    /// use std::io::Read;
    /// use std::os::unix::net::UnixStream;
    ///
    /// let (_tx, rx) = UnixStream::pair()?;
    /// let p = Process::new(move || {
    ///     let mut rx = rx;
    ///     let _ = rx.read(&mut [0u8]); // blocks: the parent keeps `_tx` open
    /// });
    /// p.start()?;
    /// p.terminate()?;
    /// assert_eq!(p.join()?, -15);
    /// p.terminate()?; // reaped: a no-op
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.signal(Signal::TERM)
    }

    /// Sends `SIGKILL` to the child (Python's `kill()`); its exit code becomes `-9`.
    ///
    /// Like [`terminate`](Process::terminate), a no-op once the child has been reaped.
    ///
    /// # Errors
    ///
    /// As [`terminate`](Process::terminate).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::Process;
    /// use std::io::Read;
    /// use std::os::unix::net::UnixStream;
    ///
    /// let (_tx, rx) = UnixStream::pair()?;
    /// let p = Process::new(move || {
    ///     let mut rx = rx;
    ///     let _ = rx.read(&mut [0u8]);
    /// });
    /// p.start()?;
    /// p.kill()?;
    /// assert_eq!(p.join()?, -9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.signal(Signal::KILL)
    }

    fn signal(&self, sig: Signal) -> Result<(), ProcessError> {
        // Held while signalling: all reaping happens under this lock, so while it says
        // `Running` the pid is still our child — alive or a zombie, never reused.
        let shared = self.shared();
        let status = lock(&shared.status);
        match *status {
            Status::NotStarted => Err(ProcessError::NotStarted),
            Status::Exited(_) | Status::Lost => Ok(()),
            Status::Running => {
                let child = shared.child();
                let sent = match &child.pidfd {
                    Some(pidfd) => sys::pidfd_send_signal(pidfd.as_fd(), sig),
                    // Another process's `Running` may be stale: the pid may be reused.
                    None if sys::getpid() != child.parent => return Err(ProcessError::NotParent),
                    None => sys::kill(child.pid, sig),
                };
                match sent {
                    // ESRCH: reaped behind our back (lost status); nothing to signal.
                    Err(e) if e.raw_os_error() != Some(libc::ESRCH) => Err(ProcessError::Os(e)),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl Drop for Process {
    /// A running child is not killed: a waiter thread reaps it when it exits (see
    /// [the module docs](self#zombies-and-dropping-a-running-process)).
    fn drop(&mut self) {
        if self.fallback.get().is_some() {
            return; // the waiter thread from `start` reaps it
        }
        let Some(child) = self.local.child.get() else {
            return; // never started
        };
        let mut status = lock(&self.local.status);
        if let Ok(None) = self.local.poll_status(&mut status) {
            // If this fails, the child stays a zombie until we exit (documented).
            let _ = spawn_reaper(child.pid);
        }
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name())
            .field("daemon", &self.daemon)
            .field("pid", &self.pid())
            .field("status", &*lock(&self.shared().status))
            .finish_non_exhaustive()
    }
}

/// The process the caller runs in, as [`current_process`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentProcess {
    name: Option<Arc<str>>,
    pid: Pid,
}

impl CurrentProcess {
    /// `"MainProcess"` in the original process; in a child, the name of its [`Process`].
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(MAIN_NAME)
    }

    /// The caller's pid (`getpid()`).
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Whether this is the original process, not one started by a [`Process`].
    pub fn is_main(&self) -> bool {
        self.name.is_none()
    }
}

/// The process the caller runs in: `MainProcess` and its pid in the original process, the
/// [`Process`]'s name and the child's pid in a child. Python's
/// `multiprocessing.current_process()`.
///
/// # Examples
///
/// ```
/// use host_runtime::{current_process, process::Builder};
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// assert_eq!(current_process().name(), "MainProcess");
/// assert_eq!(current_process().pid() as u32, std::process::id());
///
/// let (mut rx, tx) = UnixStream::pair()?;
/// let p = Builder::new().name("worker").spawn(move || {
///     let mut tx = tx;
///     tx.write_all(current_process().name().as_bytes()).unwrap();
/// })?;
/// p.join()?;
/// let mut name = String::new();
/// rx.read_to_string(&mut name)?;
/// assert_eq!(name, "worker");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn current_process() -> CurrentProcess {
    CurrentProcess {
        name: lock(&IDENTITY).me.as_mut().map(Me::name),
        pid: sys::getpid(),
    }
}

/// Installs (once per process) the panic hook described in the module docs.
fn install_child_panic_hook() {
    // `take_hook` panics on a panicking thread (e.g. `start` called from a destructor during
    // unwinding): leave the installation to a later `start` then.
    if PANIC_HOOK.is_completed() || thread::panicking() {
        return;
    }
    PANIC_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_CHILD.load(Ordering::Relaxed) {
                report_child_panic(info);
            } else {
                previous(info);
            }
        }));
    });
}

/// Writes a child's panic message to fd 2 with one raw `write`, taking no lock that another
/// thread of the parent could have held at the fork.
fn report_child_panic(info: &PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    // `try_lock`: a thread of the child may hold it; then the name is left out.
    let name = match IDENTITY.try_lock() {
        Ok(mut identity) => identity.me.as_mut().map(Me::name),
        Err(TryLockError::Poisoned(p)) => p.into_inner().me.as_mut().map(Me::name),
        Err(TryLockError::WouldBlock) => None,
    };
    let name = name.as_deref().unwrap_or("?");
    let pid = sys::getpid();
    let text = match info.location() {
        Some(loc) => format!("process '{name}' (pid {pid}) panicked at {loc}:\n{message}\n"),
        None => format!("process '{name}' (pid {pid}) panicked:\n{message}\n"),
    };
    let _ = sys::write_all(io::stderr().as_fd(), text.as_bytes());
}

#[cfg(test)]
mod tests {
    //! The no-pidfd fallback (waiter thread, `kill`), forced on any kernel. The pidfd path is
    //! covered by `tests/process.rs`.

    use super::{Builder, Process, ProcessError};
    use crate::sys::{self, Pid, WaitOptions};
    use crate::test_util::watchdog;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    /// A started fallback-mode child that exits 0 once it reads a byte from the returned socket.
    fn waiting_child(builder: Builder) -> (Process, UnixStream) {
        let (tx, rx) = UnixStream::pair().unwrap();
        let p = builder.without_pidfd().build(move || {
            let mut rx = rx;
            let _ = rx.read(&mut [0u8]);
        });
        p.start().unwrap();
        (p, tx)
    }

    #[test]
    fn fallback_exit_codes() {
        watchdog(30, || {
            let ok = Builder::new().without_pidfd().spawn(|| {}).unwrap();
            assert!(ok.sentinel().is_none());
            assert_eq!(ok.join().unwrap(), 0);
            let exit = Builder::new()
                .without_pidfd()
                .spawn(|| std::process::exit(7))
                .unwrap();
            assert_eq!(exit.join().unwrap(), 7);
            assert_eq!(exit.exitcode(), Some(7));
        });
    }

    #[test]
    fn fallback_join_timeout_and_signals() {
        watchdog(30, || {
            let (p, _tx) = waiting_child(Builder::new());
            let timeout = Duration::from_millis(50);
            let t = Instant::now();
            assert_eq!(p.join_timeout(timeout).unwrap(), None);
            assert!(t.elapsed() >= timeout);
            assert!(p.is_alive());
            p.terminate().unwrap();
            assert_eq!(p.join().unwrap(), -15);
            p.kill().unwrap(); // reaped: no-op

            let (p, _tx) = waiting_child(Builder::new());
            p.kill().unwrap();
            assert_eq!(p.join_timeout(Duration::from_secs(20)).unwrap(), Some(-9));
        });
    }

    #[test]
    fn fallback_join_from_many_threads() {
        watchdog(30, || {
            let (p, mut tx) = waiting_child(Builder::new());
            std::thread::scope(|s| {
                let joiners: Vec<_> = (0..3).map(|_| s.spawn(|| p.join().unwrap())).collect();
                tx.write_all(b"x").unwrap();
                for j in joiners {
                    assert_eq!(j.join().unwrap(), 0);
                }
            });
            let pid = Pid::from_raw(p.pid().unwrap()).unwrap();
            let e = sys::waitpid(pid, WaitOptions::NOHANG).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ECHILD));
        });
    }

    #[test]
    fn fallback_drop_of_a_running_child_reaps_it_later() {
        watchdog(30, || {
            let (p, tx) = waiting_child(Builder::new());
            let pid = Pid::from_raw(p.pid().unwrap()).unwrap();
            drop(p);
            (&tx).write_all(b"x").unwrap();
            // The waiter thread reaps it; nothing notifies us, so check until it's done. The
            // non-reaping `waitid(WNOWAIT)` returns ECHILD once the pid is no longer our child.
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match sys::wait_exited_nowait(pid) {
                    Err(e) if e.raw_os_error() == Some(libc::ECHILD) => break,
                    _ => assert!(Instant::now() < deadline, "never reaped"),
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
    }

    /// The start-up handshake of a daemon without a socket (as when no descriptor is free):
    /// `start` returns only once the daemon has armed its parent-death signal, so the end of
    /// the thread that started it kills it, with a pidfd or without.
    #[test]
    fn a_daemon_started_without_a_socket_dies_with_its_thread() {
        watchdog(30, || {
            for pidfd in [true, false] {
                let mut builder = Builder::new().daemon(true).without_socket();
                if !pidfd {
                    builder = builder.without_pidfd();
                }
                let p = std::thread::spawn(move || {
                    builder
                        .spawn(|| loop {
                            // Until killed.
                            std::thread::sleep(Duration::from_secs(3600));
                        })
                        .unwrap()
                })
                .join()
                .unwrap();
                assert_eq!(p.sentinel().is_some(), pidfd);
                assert_eq!(p.join().unwrap(), -9, "pidfd: {pidfd}");
            }
        });
    }

    #[test]
    fn wrong_state_errors() {
        let p = Builder::new().without_pidfd().build(|| {});
        assert!(matches!(p.join(), Err(ProcessError::NotStarted)));
        assert!(matches!(p.terminate(), Err(ProcessError::NotStarted)));
        assert!(matches!(p.kill(), Err(ProcessError::NotStarted)));
        assert_eq!(p.exitcode(), None);
        assert!(!p.is_alive());
    }
}
