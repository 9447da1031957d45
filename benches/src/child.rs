//! [`Child`]: a forked helper process (an echo server, a producer) that dies with the bench.

use std::io;
use std::time::{Duration, Instant};

use host_runtime::sys::{
    fork_run, kill, set_parent_death_signal, waitpid, Pid, Signal, WaitOptions, WaitStatus,
};

/// A child process running a closure, killed (`SIGKILL`) and reaped if dropped unjoined.
///
/// The child gets `PR_SET_PDEATHSIG(SIGKILL)`, so a bench that panics or is interrupted leaves
/// no spinning helper behind. It leaves with `_exit` (through `fork_run`): it never drops the
/// parent's values or flushes its buffers.
///
/// # Examples
///
/// ```
/// use benches::child::Child;
///
/// let child = Child::spawn(|| 0)?;
/// child.join()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Child {
    pid: Option<Pid>,
}

impl Child {
    /// Forks a child that runs `f` and exits with the code it returns (101 if it panics).
    ///
    /// # Errors
    ///
    /// Those of `fork`.
    pub fn spawn(f: impl FnOnce() -> i32) -> io::Result<Child> {
        let pid = fork_run(|| {
            if set_parent_death_signal(Some(Signal::KILL)).is_err() {
                return 120;
            }
            f()
        })?;
        Ok(Child { pid: Some(pid) })
    }

    /// The child's pid.
    pub fn pid(&self) -> Option<Pid> {
        self.pid
    }

    /// Waits for the child to exit on its own (after being told to stop).
    ///
    /// # Errors
    ///
    /// `Other` if it did not exit with code 0 within 10 s (it is killed then) or `waitpid` failed.
    pub fn join(mut self) -> io::Result<()> {
        let Some(pid) = self.pid.take() else {
            return Ok(());
        };
        let start = Instant::now();
        let mut pause = Duration::from_micros(50);
        loop {
            match waitpid(pid, WaitOptions::NOHANG)? {
                Some(WaitStatus::Exited(0)) => return Ok(()),
                Some(status) => {
                    return Err(io::Error::other(format!(
                        "helper process ended with {status:?}"
                    )))
                }
                None if start.elapsed() > Duration::from_secs(10) => {
                    let _ = kill(pid, Signal::KILL);
                    let _ = waitpid(pid, WaitOptions::BLOCK);
                    return Err(io::Error::other("helper process did not stop; killed"));
                }
                // Polling only at the end of a benchmark, never while one is timed.
                None => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            // The child has not been reaped, so `pid` still names it.
            let _ = kill(pid, Signal::KILL);
            let _ = waitpid(pid, WaitOptions::BLOCK);
        }
    }
}
