//! [`Process`]: the parent's handle on a child, from its start (the fork, and what the child
//! does before and after the closure) to its end (join, signals, drop).

use std::fmt;
use std::io::{self, Write};
use std::os::fd::BorrowedFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::builder::Builder;
use super::children::{lock_children, register};
use super::error::ProcessError;
use super::forkserver::lock_server;
use super::handshake::{handshake, ReadyRx, ReadyTx};
use super::identity::{default_name, enter_child, lock_identity, next_number, own_path};
use super::lock;
use super::panic_hook::install_child_panic_hook;
use super::reaping::Reaping;
use super::start::warn_if_threaded;
use super::{get_start_method, StartMethod};
use crate::sys::{self, Pid, Signal, WaitStatus};
use crate::wait::Deadline;

/// Exit code of a child whose closure panicked (Python: an uncaught exception).
const EXIT_PANIC: i32 = 1;

/// A closure run in a child process: Python's `multiprocessing.Process` (fork start method).
///
/// All methods take `&self`: a `Process` is `Send + Sync`, so one thread may [`join`] it while
/// another calls [`terminate`] (share it in an `Arc`). See the [module docs](super) for exit
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
    /// This process's number in its parent's counter.
    number: u64,
    daemon: bool,
    /// The builder's start method; `None`: the program's, read at the start.
    start_method: Option<StartMethod>,
    use_pidfd: bool,
    use_socket: bool,
    /// The closure; `None` once started (taking it is what makes a start unique).
    target: Mutex<Option<Box<dyn FnOnce() + Send + 'static>>>,
    /// How the started child is waited for and reaped, with its state; set once by `start`.
    /// With a pidfd the state lives here, costing no allocation.
    reaping: OnceLock<Reaping>,
}

impl Process {
    /// The unstarted process [`Builder::build`] makes. Takes the next number of the
    /// per-process counter, named or not, as Python does.
    pub(super) fn unstarted(
        builder: Builder,
        target: Box<dyn FnOnce() + Send + 'static>,
    ) -> Process {
        // Nothing here allocates for a default name and a zero-sized closure: the name is
        // made on first use (every page a start writes costs a page fault after the fork).
        Process {
            given_name: builder.name.map(Arc::from),
            default_name: OnceLock::new(),
            parent_path: own_path(),
            number: next_number(),
            daemon: builder.daemon,
            start_method: builder.start_method,
            use_pidfd: builder.use_pidfd,
            use_socket: builder.use_socket,
            target: Mutex::new(Some(target)),
            reaping: OnceLock::new(),
        }
    }

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
    /// See the [module docs](super) for what happens in the child, and what is safe to do there
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
        match self.start_method.unwrap_or_else(get_start_method) {
            StartMethod::Fork => {}
            method => return Err(ProcessError::NeedsFork { method }),
        }
        // Warn (once) if other threads run: taken before the stderr lock below.
        warn_if_threaded();
        // A daemon tells us when its parent-death signal is armed (see the module docs).
        let (ready_rx, ready_tx) = if self.daemon {
            let (rx, tx) = handshake(self.use_socket)?;
            (Some(rx), Some(tx))
        } else {
            (None, None)
        };
        let mut target = slot.take();

        install_child_panic_hook();
        // A `Once` that another thread is completing at the instant of the fork stays "running"
        // in the child for ever, and hangs the child's first use of it: the ledgers' fork
        // handlers are the one of this crate a child may need (`sys::fork` does the same for
        // `fork_generation`'s; the crate's other per-process values are atomic words that no
        // one waits on).
        crate::ledger::install_fork_handlers();
        let parent = sys::getpid();
        let daemon = self.daemon;

        // Lock order: stdout, stderr, the identity, the children registry (see the module
        // docs). Held across the fork so no other thread owns them at that instant; flushed so
        // the child inherits no output.
        let mut stdout = io::stdout().lock();
        let mut stderr = io::stderr().lock();
        // A closed or broken stdout must not prevent starting a process.
        let _ = stdout.flush();
        let _ = stderr.flush();
        let _ = sys::flush_c_stdio();
        let identity = lock_identity();
        let children = lock_children();
        // The forkserver connection: a child must not inherit it locked by another thread.
        let server = lock_server();
        let held = (stdout, stderr, identity, children, server);
        let target_ref = &mut target;

        let forked = sys::fork_run(move || {
            // In the child: the only thread. `held` are our own locks: release them here.
            let (stdout, stderr, identity, children, server) = held;
            // The registry holds the parent's children, which `active_children` skips here.
            drop(children);
            drop(server);
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
            // Copies of plain fields of `self` (which outlives the child: `fork_run` never
            // returns in it), so nothing is allocated; a given name's count goes up here.
            let name = self.given_name.clone();
            enter_child(identity, parent, self.parent_path, self.number, name);
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
        self.enroll(pid, parent, ready_rx)
    }

    /// The parent's part once child `pid` exists (forked or launched by this `parent`):
    /// registers it, opens its pidfd, waits for a daemon's handshake, and starts reaping.
    fn enroll(&self, pid: Pid, parent: Pid, ready_rx: Option<ReadyRx>) -> Result<(), ProcessError> {
        register(
            pid,
            parent,
            self.given_name.clone(),
            self.parent_path,
            self.number,
            self.daemon,
        );

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
        Reaping::start(&self.reaping, pid, parent, pidfd)
    }

    /// Starts the child with `launch` instead of a fork (a spawn: `launch` makes a child that
    /// runs another program image, see `spawn.rs`); the closure is dropped unrun. `launch`
    /// gets the daemon's handshake, to signal in its child once the parent-death signal is
    /// armed. Registers, waits and reaps the child as [`start`](Self::start) does.
    pub(super) fn start_launched(
        &self,
        launch: impl FnOnce(Option<ReadyTx>) -> io::Result<Pid>,
    ) -> Result<(), ProcessError> {
        let mut slot = lock(&self.target);
        if slot.is_none() {
            return Err(ProcessError::AlreadyStarted);
        }
        let (ready_rx, ready_tx) = if self.daemon {
            let (rx, tx) = handshake(self.use_socket)?;
            (Some(rx), Some(tx))
        } else {
            (None, None)
        };
        let parent = sys::getpid();
        let pid = launch(ready_tx)?;
        slot.take();
        self.enroll(pid, parent, ready_rx)
    }

    /// The number of this process in its parent's counter, and its given name: what a
    /// spawned child needs to name itself.
    pub(super) fn naming(&self) -> (u64, Option<&str>) {
        (self.number, self.given_name.as_deref())
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

    /// How the child is reaped, once started.
    fn started(&self) -> Result<&Reaping, ProcessError> {
        self.reaping.get().ok_or(ProcessError::NotStarted)
    }

    /// Whether the process is a daemon (see [`Builder::daemon`]).
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// The child's pid: `None` before [`start`](Process::start), then `Some` for good (also
    /// after it exited, as in Python).
    pub fn pid(&self) -> Option<Pid> {
        self.reaping.get().map(|r| r.pid())
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
        self.reaping.get()?.pidfd()
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
        self.reaping.get().is_some_and(Reaping::is_alive)
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
        self.reaping.get()?.exit_status().map(WaitStatus::exitcode)
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
        let code = self.wait(Deadline::Never)?;
        Ok(code.expect("a wait without deadline returns only once the child exited"))
    }

    /// Waits at most `timeout` for the child to exit, and returns its exit code (it is
    /// reaped) as [`join`](Process::join) does.
    ///
    /// # Errors
    ///
    /// - [`ProcessError::Timeout`] if it is still running after `timeout` (never sooner,
    ///   measured with the monotonic clock); it runs on, and a later `join` still reaps it.
    /// - As [`join`](Process::join) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{Process, ProcessError};
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
    /// assert!(matches!(
    ///     p.join_timeout(Duration::from_millis(10)),
    ///     Err(ProcessError::Timeout)
    /// ));
    /// tx.write_all(b"x")?; // the child's read returns: it exits
    /// assert_eq!(p.join_timeout(Duration::from_secs(60))?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<i32, ProcessError> {
        // An unrepresentable deadline (centuries away) means no deadline.
        self.wait(Deadline::after(timeout))?
            .ok_or(ProcessError::Timeout)
    }

    /// The one waiting loop behind [`join`](Process::join) and
    /// [`join_timeout`](Process::join_timeout): `None` means the deadline passed.
    fn wait(&self, deadline: Deadline) -> Result<Option<i32>, ProcessError> {
        self.started()?.wait(deadline)
    }

    /// Sends `SIGTERM` to the child (Python's `terminate()`); its exit code becomes `-15`
    /// unless it catches the signal.
    ///
    /// Does nothing once the child has been reaped (no error, as in Python); never signals a
    /// reaped pid (see [the module docs](super#waiting-and-signalling-pidfds)).
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
        self.started()?.signal(sig)
    }
}

impl Drop for Process {
    /// A running child is not killed: a waiter thread reaps it when it exits (see
    /// [the module docs](super#zombies-and-dropping-a-running-process)).
    fn drop(&mut self) {
        if let Some(reaping) = self.reaping.get() {
            reaping.detach();
        }
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name())
            .field("daemon", &self.daemon)
            .field("pid", &self.pid())
            .field("status", &DebugStatus(self.reaping.get()))
            .finish_non_exhaustive()
    }
}

/// The status the `Debug` output of a [`Process`] shows.
struct DebugStatus<'a>(Option<&'a Reaping>);

impl fmt::Debug for DebugStatus<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("NotStarted"),
            Some(reaping) => fmt::Debug::fmt(&*reaping.status(), f),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::process::{Builder, ProcessError};

    #[test]
    fn wrong_state_errors() {
        let p = Builder::new().without_pidfd().build(|| {});
        assert!(matches!(p.join(), Err(ProcessError::NotStarted)));
        assert!(matches!(p.terminate(), Err(ProcessError::NotStarted)));
        assert!(matches!(p.kill(), Err(ProcessError::NotStarted)));
        assert_eq!(p.exitcode(), None);
        assert!(!p.is_alive());
    }

    /// Every process-wide value of this crate that a thread may have to *wait* for another
    /// thread to set (`Once`, `OnceLock`, `LazyLock`: a child forked while another thread was
    /// setting one would wait for ever) is completed by the forking thread before it forks.
    /// A new one must be added here with who completes it, or be an atomic word instead.
    #[test]
    fn every_lazily_set_static_is_set_before_a_fork() {
        // (file, static): completed before every fork of `Process::start` by
        const KNOWN: [(&str, &str); 3] = [
            // `sys::fork` (`fork_generation`), under `Process::start` and `fork_run`;
            ("sys/atfork.rs", "INSTALL"),
            // `Process::start` (`ledger::install_fork_handlers`);
            ("ledger/fork.rs", "HANDLERS"),
            // `Process::start` (`install_child_panic_hook`).
            ("process/panic_hook.rs", "PANIC_HOOK"),
        ];
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let file = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                for line in text.lines().map(str::trim_start) {
                    let Some((head, ty)) = line.split_once(':') else {
                        continue;
                    };
                    let Some(name) = head
                        .split_whitespace()
                        .skip_while(|w| *w != "static")
                        .nth(1)
                    else {
                        continue;
                    };
                    if ["Once", "OnceLock", "LazyLock"]
                        .iter()
                        .any(|t| ty.contains(&format!("{t} ")) || ty.contains(&format!("{t}<")))
                    {
                        found.push((file.clone(), name.to_owned()));
                    }
                }
            }
        }
        found.sort();
        let mut known: Vec<_> = KNOWN
            .iter()
            .map(|(f, n)| (f.to_string(), n.to_string()))
            .collect();
        known.sort();
        assert_eq!(found, known);
    }
}
