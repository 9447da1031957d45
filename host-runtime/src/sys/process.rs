//! Process identifiers, `fork`, `waitpid`, signals and the parent-death signal.

// Unsafe here: `fork`, `waitpid`, `waitid`, `kill`, `prctl`, `sigaction`, `getrlimit` (FFI).
#![allow(unsafe_code)]

use std::io;
use std::num::NonZeroI32;
use std::panic::{self, AssertUnwindSafe};

use super::{cvt, fork_generation, retry_on_intr, Pid};

/// A signal number, as passed to [`kill`] or [`pidfd_send_signal`](super::pidfd_send_signal).
///
/// # Examples
///
/// ```
/// use host_runtime::sys::Signal;
///
/// assert_eq!(Signal::TERM.as_raw(), libc::SIGTERM);
/// assert_eq!(Signal::from_raw(9), Some(Signal::KILL));
/// assert_eq!(Signal::from_raw(0), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Signal(NonZeroI32);

impl Signal {
    /// `SIGTERM`: polite request to terminate; may be caught or ignored.
    pub const TERM: Signal = Signal::known(libc::SIGTERM);
    /// `SIGKILL`: terminates at once; can't be caught, blocked or ignored.
    pub const KILL: Signal = Signal::known(libc::SIGKILL);
    /// `SIGINT`: interrupt, as sent by Ctrl-C.
    pub const INT: Signal = Signal::known(libc::SIGINT);

    const fn known(raw: libc::c_int) -> Signal {
        match Signal::from_raw(raw) {
            Some(s) => s,
            None => panic!("signal numbers are positive"),
        }
    }

    /// Wraps a raw signal number; `None` unless it is positive. (Whether the kernel knows the
    /// number is checked when it is sent.)
    pub const fn from_raw(raw: libc::c_int) -> Option<Signal> {
        if raw > 0 {
            match NonZeroI32::new(raw) {
                Some(nz) => Some(Signal(nz)),
                None => None,
            }
        } else {
            None
        }
    }

    /// The raw signal number.
    pub const fn as_raw(self) -> libc::c_int {
        self.0.get()
    }
}

/// How a child process ended, as reported by [`waitpid`].
///
/// Only the two final states exist here: this crate never asks `waitpid` about stopped or
/// continued children (`WUNTRACED`, `WCONTINUED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitStatus {
    /// The child called `_exit(code)`/`exit(code)` or returned from `main` (`WIFEXITED`); the
    /// code is the low 8 bits of the value it passed (`WEXITSTATUS`).
    Exited(i32),
    /// The child was killed by a signal (`WIFSIGNALED`, `WTERMSIG`).
    Signaled(Signal),
}

impl WaitStatus {
    /// Decodes the `status` word filled in by `waitpid(2)`.
    fn from_raw(status: libc::c_int) -> io::Result<WaitStatus> {
        if libc::WIFEXITED(status) {
            Ok(WaitStatus::Exited(libc::WEXITSTATUS(status)))
        } else if let Some(sig) = libc::WIFSIGNALED(status)
            .then(|| Signal::from_raw(libc::WTERMSIG(status)))
            .flatten()
        {
            Ok(WaitStatus::Signaled(sig))
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("waitpid reported neither exit nor signal (status {status:#x})"),
            ))
        }
    }

    /// The status in Python's `multiprocessing` convention: the exit code, or minus the signal
    /// number for a child killed by a signal.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::sys::{Signal, WaitStatus};
    ///
    /// assert_eq!(WaitStatus::Exited(3).exitcode(), 3);
    /// assert_eq!(WaitStatus::Signaled(Signal::KILL).exitcode(), -9);
    /// ```
    pub const fn exitcode(self) -> i32 {
        match self {
            WaitStatus::Exited(code) => code,
            WaitStatus::Signaled(sig) => -sig.as_raw(),
        }
    }
}

/// Options for [`waitpid`]: `0` or `WNOHANG`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitOptions(libc::c_int);

impl WaitOptions {
    /// Block until the child has exited.
    pub const BLOCK: WaitOptions = WaitOptions(0);
    /// `WNOHANG`: return at once if the child is still running.
    pub const NOHANG: WaitOptions = WaitOptions(libc::WNOHANG);
}

/// Which side of a [`fork`] the caller is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fork {
    /// In the new process.
    Child,
    /// In the original process; the new process has this id.
    Parent(Pid),
}

/// `fork()`: creates a child process that is a copy of the calling one; see `fork(2)`.
///
/// This calls glibc's `fork`, not the raw system call, so the `pthread_atfork` handlers run:
/// glibc takes and resets its malloc arena locks and stdio list lock around the fork, which is
/// what makes `malloc` usable in the child of a multi-threaded parent.
///
/// Prefer [`fork_run`], which is safe.
///
/// # Errors
///
/// `EAGAIN` (a process or thread limit was reached) or `ENOMEM`.
///
/// # Safety
///
/// - In the child, only the calling thread exists. Anything another thread of the parent was
///   doing at the instant of the fork is frozen: a lock it held stays locked forever in the child
///   (a deadlock if the child takes it), a lazily initialised value it was initialising is never
///   finished. POSIX only promises async-signal-safe functions in that child; glibc does more
///   (see above), but not everything.
/// - The child gets a copy of every value of the parent, including values standing for
///   something outside the process that may only have one owner: a `&mut` into a `MAP_SHARED`
///   mapping now has an alias in another process, a handle whose `Drop` removes a file or
///   reaps a process would do so twice. The caller must make sure the child neither drops such
///   values nor uses such aliases; the simplest way is to never return in the child from the
///   function that called `fork`, and leave with [`exit_immediately`] (as [`fork_run`] does).
///
/// # Examples
///
/// ```
/// use host_runtime::sys::{exit_immediately, fork, waitpid, Fork, WaitOptions, WaitStatus};
///
/// // SAFETY: the child calls only `exit_immediately` (`_exit`, async-signal-safe).
/// match unsafe { fork() }? {
///     Fork::Child => exit_immediately(5),
///     Fork::Parent(pid) => {
///         assert_eq!(waitpid(pid, WaitOptions::BLOCK)?, Some(WaitStatus::Exited(5)));
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub unsafe fn fork() -> io::Result<Fork> {
    // A `Once` that another thread is completing at the instant of the fork stays "running" for
    // ever in the child, whose first call that needs it then hangs: a pool worker hung in its
    // first queue call that way, with the handler `fork_generation` installs on first use. Its
    // `call_once` returns only once the handler is registered, so after this line the child
    // inherits it complete (and the handler counts this fork).
    fork_generation();
    // SAFETY: `fork` has no memory preconditions of its own; the hazards it creates in the
    // child are the caller's obligations, stated under `# Safety` above.
    let pid = cvt(unsafe { libc::fork() })?;
    Ok(match Pid::from_raw(pid) {
        Some(pid) => Fork::Parent(pid),
        None => Fork::Child,
    })
}

/// `fork()`, then `_exit(child())` in the child: runs `child` in a new process.
///
/// In the parent this returns the child's id at once. In the child it never returns: it runs
/// `child` and leaves with `_exit(2)` using the code `child` returned, so the child never runs
/// the parent's `atexit` handlers, never flushes stdio buffers it inherited, and never unwinds
/// or drops anything of the caller's frames. If `child` panics, the panic is caught and the
/// child exits with code 101 (the code of a Rust program whose `main` panicked).
///
/// The deadlock hazards of forking a multi-threaded process remain (see [`fork`]):
/// `crate::process` documents how [`Process`](crate::Process) avoids the ones it can.
///
/// # Errors
///
/// As [`fork`]: `EAGAIN` or `ENOMEM`; no child was created.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::{fork_run, waitpid, WaitOptions, WaitStatus};
///
/// let pid = fork_run(|| 7)?;
/// assert_eq!(waitpid(pid, WaitOptions::BLOCK)?, Some(WaitStatus::Exited(7)));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn fork_run<F: FnOnce() -> i32>(child: F) -> io::Result<Pid> {
    // SAFETY: the child never returns into the caller: it runs `child` (unwinding stops at
    // `catch_unwind`) and leaves with `_exit`, so no value of the caller's frames is dropped or
    // used a second time. What `child` itself does is ordinary safe Rust; the fork hazards left
    // for it are deadlocks on locks other threads held, which are not memory-unsafe. (A `&mut`
    // into `MAP_SHARED` memory aliased by the fork can only have been made by `unsafe` code,
    // whose contract must already account for other processes sharing the mapping.)
    match unsafe { fork() }? {
        Fork::Parent(pid) => Ok(pid),
        Fork::Child => {
            let code = match panic::catch_unwind(AssertUnwindSafe(child)) {
                Ok(code) => code,
                Err(payload) => {
                    // Don't run the payload's destructor: it could panic again.
                    std::mem::forget(payload);
                    101
                }
            };
            exit_immediately(code)
        }
    }
}

/// `waitpid(pid, &status, options)`: waits for the child `pid` to exit and reaps it; see
/// `waitpid(2)`.
///
/// Only a specific pid can be waited for: waiting for "any child" (`-1`) would steal the
/// children of other code in the process. `EINTR` is retried.
///
/// Returns `Ok(None)` only with [`WaitOptions::NOHANG`], when the child is still running.
///
/// # Errors
///
/// `ECHILD` if `pid` is not an unreaped child of this process: already reaped (by this or by
/// other code, or automatically because `SIGCHLD` is ignored) or not ours at all.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::{fork_run, waitpid, WaitOptions, WaitStatus};
///
/// let pid = fork_run(|| 0)?;
/// assert_eq!(waitpid(pid, WaitOptions::BLOCK)?, Some(WaitStatus::Exited(0)));
/// // Reaped: the pid is no longer our child.
/// let err = waitpid(pid, WaitOptions::NOHANG).unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::ECHILD));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn waitpid(pid: Pid, options: WaitOptions) -> io::Result<Option<WaitStatus>> {
    let mut status: libc::c_int = 0;
    let ret = retry_on_intr(|| {
        // SAFETY: `status` is a valid, writable `c_int` for the duration of the call.
        cvt(unsafe { libc::waitpid(pid.as_raw(), &mut status, options.0) })
    })?;
    if ret == 0 {
        Ok(None)
    } else {
        WaitStatus::from_raw(status).map(Some)
    }
}

/// `waitid(P_PID, pid, &info, WEXITED | WNOWAIT | extra)`, `EINTR` retried: the `siginfo_t`
/// the kernel filled in (all zero if `extra` holds `WNOHANG` and the child has not exited).
/// Shared by [`wait_exited_nowait`] and [`has_exited`].
fn waitid_exited_nowait(pid: Pid, extra: libc::c_int) -> io::Result<libc::siginfo_t> {
    // SAFETY: `siginfo_t` is a plain C struct for which all-zero bytes are a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    retry_on_intr(|| {
        // SAFETY: `info` is a valid, writable `siginfo_t` for the duration of the call.
        cvt(unsafe {
            libc::waitid(
                libc::P_PID,
                pid.as_raw() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT | extra,
            )
        })
    })?;
    Ok(info)
}

/// `waitid(P_PID, pid, &info, WEXITED | WNOWAIT)`: blocks until the child `pid` has exited,
/// without reaping it; see `waitid(2)`.
///
/// The child stays a zombie, so its pid can't be reused until someone reaps it with
/// [`waitpid`]. `EINTR` is retried.
///
/// # Errors
///
/// `ECHILD` if `pid` is not an unreaped child of this process.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::{fork_run, wait_exited_nowait, waitpid, WaitOptions, WaitStatus};
///
/// let pid = fork_run(|| 3)?;
/// wait_exited_nowait(pid)?;
/// // Exited but not reaped: a non-blocking waitpid finds it.
/// assert_eq!(waitpid(pid, WaitOptions::NOHANG)?, Some(WaitStatus::Exited(3)));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn wait_exited_nowait(pid: Pid) -> io::Result<()> {
    waitid_exited_nowait(pid, 0).map(drop)
}

/// `waitid(P_PID, pid, &info, WEXITED | WNOWAIT | WNOHANG)`: whether the child `pid` has
/// exited, without waiting and without reaping it; see `waitid(2)`.
///
/// An exited child stays a zombie (its pid can't be reused) until someone reaps it with
/// [`waitpid`]. `EINTR` is retried.
///
/// # Errors
///
/// `ECHILD` if `pid` is not an unreaped child of this process.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::{fork_run, has_exited, wait_exited_nowait, waitpid, WaitOptions};
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// let (a, b) = UnixStream::pair()?;
/// let pid = fork_run(move || {
///     let _ = (&b).read(&mut [0u8]); // until we write a byte
///     0
/// })?;
/// assert!(!has_exited(pid)?);
/// (&a).write_all(b"x")?;
/// wait_exited_nowait(pid)?;
/// assert!(has_exited(pid)?);
/// assert!(has_exited(pid)?, "not reaped");
/// waitpid(pid, WaitOptions::BLOCK)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn has_exited(pid: Pid) -> io::Result<bool> {
    let info = waitid_exited_nowait(pid, libc::WNOHANG)?;
    // With `WNOHANG`, `si_pid` stays 0 when the child has not exited (`waitid(2)`).
    // SAFETY: `info` was zeroed and then filled in by the kernel: reading `si_pid` reads
    // initialised bytes whatever the kernel wrote.
    Ok(unsafe { info.si_pid() } != 0)
}

/// `getrlimit(RLIMIT_NOFILE)`: this process's soft limit on open file descriptors (one more
/// than the highest descriptor number it may open); see `getrlimit(2)`. `u64::MAX` for no
/// limit.
///
/// # Errors
///
/// None expected on Linux (`EFAULT` is ruled out here).
///
/// # Examples
///
/// ```
/// let limit = host_runtime::sys::open_files_limit()?;
/// assert!(limit > 2, "stdin, stdout and stderr are open");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn open_files_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit` for the duration of the call.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) })?;
    Ok(if limit.rlim_cur == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        limit.rlim_cur
    })
}

/// `kill(pid, sig)`: sends `sig` to the process `pid`; see `kill(2)`.
///
/// A raw pid names whichever process has that number *now*: once a child has been reaped its
/// pid may belong to an unrelated process. Signal children through a pidfd
/// ([`pidfd_send_signal`](super::pidfd_send_signal)) when you can, and otherwise only while you
/// know the child is not yet reaped.
///
/// # Errors
///
/// `ESRCH` if no such process (or zombie) exists, `EPERM` if we may not signal it.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::{fork_run, kill, waitpid, Signal, WaitOptions, WaitStatus};
/// use std::os::unix::net::UnixStream;
/// use std::io::Read;
///
/// let (a, b) = UnixStream::pair()?;
/// let pid = fork_run(move || {
///     let mut b = b;
///     let _ = b.read(&mut [0u8]); // blocks until killed
///     0
/// })?;
/// kill(pid, Signal::KILL)?; // not reaped yet, so `pid` is still our child
/// assert_eq!(waitpid(pid, WaitOptions::BLOCK)?, Some(WaitStatus::Signaled(Signal::KILL)));
/// # drop(a);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn kill(pid: Pid, sig: Signal) -> io::Result<()> {
    // SAFETY: `kill` takes plain integers; `pid` is positive, so it names one process.
    cvt(unsafe { libc::kill(pid.as_raw(), sig.as_raw()) }).map(drop)
}

/// `killpg(pgid, sig)`: sends `sig` to every process in the process group `pgid`; see
/// `killpg(3)`.
///
/// Like a pid, a process group id names whatever group has that number now; it stays ours while
/// any member, even a zombie, exists.
///
/// # Errors
///
/// `ESRCH` if no process is in the group, `EPERM` if we may signal none of them.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::{kill_process_group, Pid, Signal};
/// use std::os::unix::process::CommandExt;
/// use std::process::Command;
///
/// // A new group, led by the child: its pid is the group id.
/// let mut child = Command::new("sleep").arg("60").process_group(0).spawn()?;
/// let pgid = Pid::from_raw(child.id() as i32).unwrap();
/// kill_process_group(pgid, Signal::KILL)?; // not reaped yet, so the group is still ours
/// assert!(!child.wait()?.success());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn kill_process_group(pgid: Pid, sig: Signal) -> io::Result<()> {
    // SAFETY: `killpg` takes plain integers; `pgid` is positive, so it names one group.
    cvt(unsafe { libc::killpg(pgid.as_raw(), sig.as_raw()) }).map(drop)
}

/// `prctl(PR_SET_PDEATHSIG, sig)`: asks the kernel to send `sig` to the calling process when its
/// parent dies (`None` clears it); see `prctl(2)`, `PR_SET_PDEATHSIG`.
///
/// The "parent" is the *thread* that created this process: the signal is sent when that
/// thread exits, even if the rest of the parent process lives on. The setting is cleared in
/// children created by `fork`. Call it first thing in a child, then compare [`getppid`] with
/// the parent's pid recorded before the fork: if the parent died before the call, no signal
/// will come.
///
/// # Errors
///
/// `EINVAL` for an invalid signal number.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::{fork_run, getpid, getppid, set_parent_death_signal, waitpid};
/// use host_runtime::sys::{Signal, WaitOptions, WaitStatus};
///
/// let parent = getpid();
/// let pid = fork_run(move || {
///     if set_parent_death_signal(Some(Signal::KILL)).is_err() || getppid() != Some(parent) {
///         return 1;
///     }
///     0
/// })?;
/// assert_eq!(waitpid(pid, WaitOptions::BLOCK)?, Some(WaitStatus::Exited(0)));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_parent_death_signal(sig: Option<Signal>) -> io::Result<()> {
    let raw = sig.map_or(0, Signal::as_raw) as libc::c_ulong;
    // SAFETY: `PR_SET_PDEATHSIG` reads one integer argument and no memory.
    cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, raw) }).map(drop)
}

/// `getpid()`: the id of the calling process; see `getpid(2)`.
///
/// # Examples
///
/// ```
/// assert_eq!(host_runtime::sys::getpid().as_raw() as u32, std::process::id());
/// ```
pub fn getpid() -> Pid {
    // SAFETY: `getpid` takes no arguments and always succeeds.
    let raw = unsafe { libc::getpid() };
    Pid::from_raw(raw).expect("getpid returns a positive pid")
}

/// `gettid()`: the id of the calling thread (the process id for its main thread); see
/// `gettid(2)`.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::{getpid, gettid};
///
/// assert_eq!(gettid(), getpid()); // the test's main thread
/// std::thread::spawn(|| assert_ne!(gettid(), getpid())).join().unwrap();
/// ```
pub fn gettid() -> Pid {
    // SAFETY: `gettid` takes no arguments and always succeeds.
    let raw = unsafe { libc::gettid() };
    Pid::from_raw(raw).expect("gettid returns a positive id")
}

/// `getppid()`: the id of the parent process; see `getppid(2)`.
///
/// `None` when the parent lives outside our pid namespace (`getppid` returns `0`), e.g. for
/// the init process of a container. After the parent died this is the process the child was
/// re-parented to (init or the nearest "subreaper").
///
/// # Examples
///
/// ```
/// assert!(host_runtime::sys::getppid().is_some());
/// ```
pub fn getppid() -> Option<Pid> {
    // SAFETY: `getppid` takes no arguments and always succeeds.
    Pid::from_raw(unsafe { libc::getppid() })
}

/// `_exit(code)`: ends the calling process at once; see `_exit(2)`.
///
/// No `atexit` handlers, no flushing of stdio buffers (C's or Rust's), no destructors of any
/// thread. Flush what must be written before calling it.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::{exit_immediately, fork_run, waitpid, WaitOptions, WaitStatus};
///
/// let pid = fork_run(|| exit_immediately(4))?;
/// assert_eq!(waitpid(pid, WaitOptions::BLOCK)?, Some(WaitStatus::Exited(4)));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: `_exit` takes an integer, touches no memory of ours and does not return.
    unsafe { libc::_exit(code) }
}

/// The handler [`set_interrupting_noop_handler`] installs: returns at once.
extern "C" fn noop_handler(_sig: libc::c_int) {}

/// `sigaction(sig, {sa_handler: no-op, sa_flags: 0})`: installs, for the whole process, a
/// handler for `sig` that does nothing, *without* `SA_RESTART`; see `sigaction(2)`.
///
/// The signal then no longer has its default action (e.g. terminating for `SIGUSR1`), and a
/// thread blocked in a system call that it interrupts returns `EINTR`. Meant for tests of
/// `EINTR` handling: the blocking calls of this crate must carry on through such signals.
///
/// # Errors
///
/// `EINVAL` for `SIGKILL`/`SIGSTOP` or an invalid signal.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::{fork_run, getpid, kill, set_interrupting_noop_handler, waitpid};
/// use host_runtime::sys::{Signal, WaitOptions, WaitStatus};
///
/// let usr1 = Signal::from_raw(libc::SIGUSR1).unwrap();
/// let pid = fork_run(move || {
///     set_interrupting_noop_handler(usr1).unwrap();
///     kill(getpid(), usr1).unwrap(); // handled: the child lives on
///     3
/// })?;
/// assert_eq!(waitpid(pid, WaitOptions::BLOCK)?, Some(WaitStatus::Exited(3)));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_interrupting_noop_handler(sig: Signal) -> io::Result<()> {
    // SAFETY: `sigaction` is plain old data; all-zero is a valid value (empty mask, no flags).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = noop_handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = 0;
    // SAFETY: `action` is a valid, initialised `sigaction` for the call; the old action is not
    // asked for (null). The handler is async-signal-safe: it does nothing.
    cvt(unsafe { libc::sigaction(sig.as_raw(), &action, std::ptr::null_mut()) }).map(drop)
}
