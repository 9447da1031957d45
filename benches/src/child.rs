//! [`Child`]: a forked helper process (an echo server, a producer) that dies with the bench.

use std::io;
use std::time::Duration;

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
    /// `Other` if it did not exit with code 0 within [`STOP_BUDGET`] (it is killed then; the
    /// error says what the kernel showed of it first) or `waitpid` failed.
    pub fn join(mut self) -> io::Result<()> {
        let Some(pid) = self.pid.take() else {
            return Ok(());
        };
        // The budget counts the sleeps this loop asked for, not the clock: a VM whose vCPUs
        // the host holds back for seconds (seen on CI's machines) moves the clock without
        // letting the child run, and must not make a child that is about to exit look hung.
        let mut slept = Duration::ZERO;
        let mut pause = Duration::from_micros(50);
        loop {
            match waitpid(pid, WaitOptions::NOHANG)? {
                Some(WaitStatus::Exited(0)) => return Ok(()),
                Some(status) => {
                    return Err(io::Error::other(format!(
                        "helper process ended with {status:?}"
                    )))
                }
                None if slept > STOP_BUDGET => {
                    let seen = describe(pid);
                    let _ = kill(pid, Signal::KILL);
                    let _ = waitpid(pid, WaitOptions::BLOCK);
                    return Err(io::Error::other(format!(
                        "helper process did not stop within {STOP_BUDGET:?}; killed ({seen})"
                    )));
                }
                // Polling only at the end of a benchmark, never while one is timed.
                None => {
                    std::thread::sleep(pause);
                    slept += pause;
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
        }
    }
}

/// How long [`Child::join`] waits for a child told to stop (which takes microseconds): far
/// above any scheduling delay, so that only a helper that is stuck fails.
pub const STOP_BUDGET: Duration = Duration::from_secs(60);

/// What `/proc` shows of a child that does not stop: its state, the kernel function it sleeps
/// in and its current system call (with arguments: a futex address tells which wait it is).
fn describe(pid: Pid) -> String {
    let read = |what: &str| {
        std::fs::read_to_string(format!("/proc/{}/{what}", pid.as_raw()))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|e| format!("? ({e})"))
    };
    let stat = read("stat");
    // The state is the field after the command name, which is in parentheses.
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .unwrap_or("?")
        .to_string();
    format!(
        "state {state}, wchan {}, syscall {}",
        read("wchan"),
        read("syscall")
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use host_runtime::sys::futex::futex_wait;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn a_child_that_does_not_stop_is_described_as_the_kernel_shows_it() {
        // A child asleep on a futex word of its own, for ever: nobody wakes it.
        let child = Child::spawn(|| {
            let word = AtomicU32::new(0);
            loop {
                let _ = futex_wait(&word, 0, None);
            }
        })
        .expect("fork");
        let pid = child.pid().expect("running");
        // Until it is asleep, the state may still be R; a watchdog bounds the wait.
        let mut seen = describe(pid);
        for _ in 0..10_000 {
            if seen.starts_with("state S") {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            seen = describe(pid);
        }
        assert!(seen.starts_with("state S, wchan "), "{seen}");
        // The system call it is in: `SYS_futex`, then its arguments (where the kernel lets a
        // parent read them: `/proc/PID/syscall` needs ptrace access).
        let futex = format!("syscall {} ", libc::SYS_futex);
        assert!(
            seen.contains(&futex) || seen.contains("syscall ? ("),
            "{seen}"
        );
        drop(child); // killed and reaped
    }
}
