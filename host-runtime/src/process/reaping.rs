//! How a started child is waited for, reaped and signalled: the [`Reaping`] strategy, chosen
//! once by `start` — a pidfd, or a waiter thread without one (see
//! [Waiting and signalling](super#waiting-and-signalling-pidfds) and
//! [Zombies](super#zombies-and-dropping-a-running-process)).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::Duration;

use super::children::{forget, notify_child_exit};
use super::{lock, ProcessError};
use crate::lock;
use crate::sys::{self, Pid, Signal, WaitOptions, WaitStatus};
use crate::wait::Deadline;

/// Stack size of waiter threads: they only call `waitid` and `waitpid`.
const WAITER_STACK: usize = 64 * 1024;

/// How a started child is waited for and reaped, with its state. Set once by `start`, when it
/// knows whether `pidfd_open` gave a descriptor; never changed.
pub(super) enum Reaping {
    /// With a pidfd: joiners sleep in `ppoll` on it and then reap; signals go through it
    /// (`pidfd_send_signal`). No other thread needs the state, so it lives in the `Process`
    /// and costs no allocation. A handle dropped while the child runs hands it to a reaper
    /// thread.
    Pidfd {
        /// The child's state.
        state: State,
        /// Set by `start`, closed only when the `Process` is dropped: so it can be polled
        /// without holding `state.status` (it can't be closed under a poller).
        pidfd: OwnedFd,
    },
    /// Without a pidfd (kernel < 5.3, or `pidfd_open` refused): a waiter thread reaps the
    /// child when it exits and wakes the joiners, who wait on its condition variable; signals
    /// go through `kill`, under the state lock. The state is shared with that thread.
    Waiter(Arc<Waited>),
}

/// A started child's state.
pub(super) struct State {
    pid: Pid,
    /// The process that forked it: the only one that may `waitpid` for it.
    parent: Pid,
    /// Only changed with the lock held; all reaping (`waitpid`) of the child happens with it
    /// held, so while it is held and says `Running`, the pid is not reused.
    status: Mutex<Status>,
}

/// A child reaped by a waiter thread: its state, shared with that thread.
pub(super) struct Waited {
    state: State,
    /// Notified (all) when `state.status` leaves `Running`.
    exited: Condvar,
}

/// Where a started child is.
#[derive(Clone, Copy, Debug)]
pub(super) enum Status {
    Running,
    Exited(WaitStatus),
    /// Reaped by someone else: [`ProcessError::Lost`].
    Lost,
}

impl Reaping {
    /// Starts reaping the child `pid` that `parent` (the caller) has just forked and not
    /// waited for yet: through `pidfd` if `pidfd_open` gave one, else with a waiter thread.
    /// Sets `slot`, which must be empty (a process is started once).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if the waiter thread could not be created: the child is killed
    /// and reaped, and counts as finished.
    pub(super) fn start(
        slot: &OnceLock<Reaping>,
        pid: Pid,
        parent: Pid,
        pidfd: Option<OwnedFd>,
    ) -> Result<(), ProcessError> {
        let state = State {
            pid,
            parent,
            status: Mutex::new(Status::Running),
        };
        let waited = match pidfd {
            Some(pidfd) => {
                let set = slot.set(Reaping::Pidfd { state, pidfd });
                debug_assert!(set.is_ok(), "a process is started once");
                return Ok(());
            }
            // The state moves to the heap, shared with a waiter thread.
            None => Arc::new(Waited {
                state,
                exited: Condvar::new(),
            }),
        };
        let set = slot.set(Reaping::Waiter(Arc::clone(&waited)));
        debug_assert!(set.is_ok(), "a process is started once");
        if let Err(e) = spawn_waiter(Arc::clone(&waited)) {
            // Nobody could ever reap it: kill it now (not reaped, so `pid` is ours).
            let mut status = lock(&waited.state.status);
            let _ = sys::kill(pid, Signal::KILL);
            if let Ok(Some(ws)) = sys::waitpid(pid, WaitOptions::BLOCK) {
                *status = Status::Exited(ws);
                // A joiner on another thread may already wait.
                waited.exited.notify_all();
            }
            return Err(ProcessError::Os(e));
        }
        Ok(())
    }

    /// The child's state, and the condition variable its joiners wait on (the waiter's).
    fn parts(&self) -> (&State, Option<&Condvar>) {
        match self {
            Reaping::Pidfd { state, .. } => (state, None),
            Reaping::Waiter(waited) => (&waited.state, Some(&waited.exited)),
        }
    }

    /// The child's pid.
    pub(super) fn pid(&self) -> Pid {
        self.parts().0.pid
    }

    /// The child's pidfd, if it has one.
    pub(super) fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Reaping::Pidfd { pidfd, .. } => Some(pidfd.as_fd()),
            Reaping::Waiter(_) => None,
        }
    }

    /// The child's status, locked.
    pub(super) fn status(&self) -> MutexGuard<'_, Status> {
        lock(&self.parts().0.status)
    }

    /// Whether the child has not exited yet; reaps it if it has. In a process other than the
    /// parent, asks the pidfd if there is one.
    pub(super) fn is_alive(&self) -> bool {
        let (state, exited) = self.parts();
        let mut status = lock(&state.status);
        match state.poll_status(&mut status, exited) {
            Ok(found) => found.is_none(),
            Err(ProcessError::NotParent) => match self {
                Reaping::Pidfd { pidfd, .. } => {
                    !sys::poll_readable(pidfd.as_fd(), Some(Duration::ZERO)).unwrap_or(false)
                }
                // `Running`, perhaps stale.
                Reaping::Waiter(_) => matches!(*status, Status::Running),
            },
            Err(_) => false,
        }
    }

    /// The exit status, if the child has exited; reaps it then. `None` also if the status was
    /// lost, or in a process other than the parent.
    pub(super) fn exit_status(&self) -> Option<WaitStatus> {
        let (state, exited) = self.parts();
        let mut status = lock(&state.status);
        state.poll_status(&mut status, exited).ok().flatten()
    }

    /// The one waiting loop behind `join` and `join_timeout`: `None` means the deadline passed.
    pub(super) fn wait(&self, deadline: Deadline) -> Result<Option<i32>, ProcessError> {
        let (state, exited) = self.parts();
        let mut status = lock(&state.status);
        match *status {
            Status::Exited(ws) => return Ok(Some(ws.exitcode())),
            Status::Lost => return Err(ProcessError::Lost),
            Status::Running => {}
        }
        // Checked once: which process we are can't change while we wait.
        if sys::getpid() != state.parent {
            return Err(ProcessError::NotParent);
        }
        loop {
            // `Running` here. Sleep first, then reap: right after `start` the child is usually
            // still running, and once it has exited the sleep returns at once.
            let may_have_exited;
            (status, may_have_exited) = self.sleep(status, deadline)?;
            let found = match *status {
                // Reaped meanwhile by another thread (or the waiter).
                Status::Exited(ws) => Some(ws),
                Status::Lost => return Err(ProcessError::Lost),
                Status::Running if may_have_exited => state.reap(&mut status, exited)?,
                Status::Running => None,
            };
            if let Some(ws) = found {
                return Ok(Some(ws.exitcode()));
            }
            if deadline.has_passed() {
                return Ok(None);
            }
        }
    }

    /// One sleep of [`wait`](Reaping::wait): until the child may have exited or `deadline`
    /// passes. Takes `status` locked (and `Running`), returns it locked again, and whether
    /// the child may have exited (then a reap should look).
    fn sleep<'a>(
        &'a self,
        status: MutexGuard<'a, Status>,
        deadline: Deadline,
    ) -> Result<(MutexGuard<'a, Status>, bool), ProcessError> {
        match self {
            Reaping::Pidfd { state, pidfd } => {
                // Unlocked while sleeping, so other threads can signal or poll meanwhile.
                // The pidfd can't be closed under us: it lives as long as the `Process`.
                drop(status);
                let ready =
                    sys::retry_on_intr(|| sys::poll_readable(pidfd.as_fd(), deadline.remaining()))?;
                Ok((lock(&state.status), ready))
            }
            Reaping::Waiter(waited) => {
                // The waiter thread reaps under `status` and then notifies, so checking
                // `status` and waiting here (atomically releasing it) can't miss it.
                let status = lock::wait(&waited.exited, status, deadline.remaining());
                // A wake-up or a timeout: either way, look.
                Ok((status, true))
            }
        }
    }

    /// Sends `sig` to the child unless it has been reaped (then nothing, and `Ok`).
    pub(super) fn signal(&self, sig: Signal) -> Result<(), ProcessError> {
        // Held while signalling: all reaping happens under this lock, so while it says
        // `Running` the pid is still our child — alive or a zombie, never reused.
        let state = self.parts().0;
        let status = lock(&state.status);
        if !matches!(*status, Status::Running) {
            return Ok(());
        }
        let sent = match self {
            Reaping::Pidfd { pidfd, .. } => sys::pidfd_send_signal(pidfd.as_fd(), sig),
            // Another process's `Running` may be stale: the pid may be reused.
            Reaping::Waiter(_) if sys::getpid() != state.parent => {
                return Err(ProcessError::NotParent)
            }
            Reaping::Waiter(_) => sys::kill(state.pid, sig),
        };
        match sent {
            // ESRCH: reaped behind our back (lost status); nothing to signal.
            Err(e) if e.raw_os_error() != Some(libc::ESRCH) => Err(ProcessError::Os(e)),
            _ => Ok(()),
        }
    }

    /// The `Process` is dropped: a child still running is left running, and reaped by a
    /// thread once it exits.
    pub(super) fn detach(&self) {
        // The handle is gone: `active_children` lists only children that have one.
        forget(self.pid());
        match self {
            // The waiter thread from `start` reaps it.
            Reaping::Waiter(_) => {}
            Reaping::Pidfd { state, .. } => {
                let mut status = lock(&state.status);
                if let Ok(None) = state.poll_status(&mut status, None) {
                    // If this fails, the child stays a zombie until we exit (documented).
                    let _ = spawn_reaper(state.pid);
                }
            }
        }
    }
}

impl State {
    /// Reaps the child if it has exited (`waitpid(pid, WNOHANG)`); the caller holds `status`.
    /// `exited`: the condition variable to notify when `status` leaves `Running`.
    ///
    /// `Ok(None)`: still running.
    fn poll_status(
        &self,
        status: &mut Status,
        exited: Option<&Condvar>,
    ) -> Result<Option<WaitStatus>, ProcessError> {
        match *status {
            Status::Exited(ws) => Ok(Some(ws)),
            Status::Lost => Err(ProcessError::Lost),
            Status::Running => {
                if sys::getpid() != self.parent {
                    return Err(ProcessError::NotParent);
                }
                self.reap(status, exited)
            }
        }
    }

    /// [`poll_status`](State::poll_status) for a `Running` child, once the caller has checked
    /// that it is the parent.
    fn reap(
        &self,
        status: &mut Status,
        exited: Option<&Condvar>,
    ) -> Result<Option<WaitStatus>, ProcessError> {
        let (found, result) = match sys::waitpid(self.pid, WaitOptions::NOHANG) {
            Ok(None) => return Ok(None),
            Ok(Some(ws)) => (Status::Exited(ws), Ok(Some(ws))),
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {
                (Status::Lost, Err(ProcessError::Lost))
            }
            Err(e) => return Err(ProcessError::Os(e)),
        };
        *status = found;
        // Only the waiter's joiners wait on a condition variable (a futex wake-up each).
        if let Some(exited) = exited {
            exited.notify_all();
        }
        forget(self.pid);
        // A `wait` on this child (or another) looks again; no system call if none sleeps.
        notify_child_exit();
        result
    }
}

/// Starts a thread that waits for the child to exit, without reaping it, then reaps it under
/// the `status` lock and wakes the joiners. Used when there is no pidfd.
fn spawn_waiter(waited: Arc<Waited>) -> io::Result<()> {
    thread::Builder::new()
        .name("process-waiter".into())
        .stack_size(WAITER_STACK)
        .spawn(move || {
            let state = &waited.state;
            // `ECHILD`: already reaped; `poll_status` below records what happened.
            let _ = sys::wait_exited_nowait(state.pid);
            let mut status = lock(&state.status);
            let _ = state.poll_status(&mut status, Some(&waited.exited));
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

#[cfg(test)]
mod tests {
    //! The waiter-thread strategy (no pidfd, `kill`), forced on any kernel. The pidfd strategy
    //! is covered by `tests/process.rs`.

    use crate::process::{Builder, Process, ProcessError};
    use crate::sys::{self, WaitOptions};
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
            assert!(matches!(
                p.join_timeout(timeout),
                Err(ProcessError::Timeout)
            ));
            assert!(t.elapsed() >= timeout);
            assert!(p.is_alive());
            p.terminate().unwrap();
            assert_eq!(p.join().unwrap(), -15);
            p.kill().unwrap(); // reaped: no-op

            let (p, _tx) = waiting_child(Builder::new());
            p.kill().unwrap();
            assert_eq!(p.join_timeout(Duration::from_secs(20)).unwrap(), -9);
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
            let pid = p.pid().unwrap();
            let e = sys::waitpid(pid, WaitOptions::NOHANG).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ECHILD));
        });
    }

    #[test]
    fn fallback_drop_of_a_running_child_reaps_it_later() {
        watchdog(30, || {
            let (p, tx) = waiting_child(Builder::new());
            let pid = p.pid().unwrap();
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
}
