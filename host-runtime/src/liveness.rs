//! Is a process that registered in a queue still able to run? The death test that makes a
//! crash repair sound (`ipc_core::ByteQueue::repair`): a process is declared dead only when
//! the kernel says it can no longer run — its pid is gone, it is a zombie, or the pid now
//! belongs to a process that started at another time. A stopped, slow or swapped-out process
//! is never declared dead.
//!
//! A participant's *identity* (stored next to its pid in the participant table) is its start
//! time in clock ticks since boot (`/proc/PID/stat`, field 22; 40 bits, 348 years at 100 Hz)
//! with the low 24 bits of its pid namespace's inode above it: a pid is only judged in the
//! namespace it was recorded in.
//!
//! **A zombie leader.** `/proc/PID/stat` shows the state of the process's *main thread*: one
//! that ended with `pthread_exit` shows `Z` while the process's other threads run on. A `Z` is
//! taken for death only if the process has one thread left (`Threads:` of
//! `/proc/PID/status`), the main thread itself.
//!
//! **Assumptions.** The judge reads `/proc` of the pid namespace it runs in: a pid recorded in
//! another pid namespace (whose inode differs) is judged `Unknown`, i.e. alive, never dead; and
//! a process whose `/proc` entry we cannot read (another user's under `hidepid`, or a `/proc`
//! of another namespace mounted here) is judged `Unknown` too. Queues are shared by processes
//! of one user (named regions are mode 0600 and refused if owned by another), whose
//! `/proc/PID/stat` and `status` are readable. The low 24 bits of a namespace inode could
//! collide for two namespaces; a pid recorded in one and judged in the other would then be
//! judged by its start time, which a live process of the other namespace matches only by
//! chance (same pid and same start tick).

use std::fs;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const START_BITS: u32 = 40;
const START_MASK: u64 = (1 << START_BITS) - 1;

/// What the kernel says about a `(pid, identity)` pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It may run: its pid exists, with its start time, and is not a zombie.
    Alive,
    /// It can never run again: safe to repair what it held.
    Dead,
    /// Recorded in another pid namespace: we cannot tell, so we treat it as alive.
    Unknown,
}

/// State and start time of a process, from `/proc/PID/stat`.
struct Stat {
    state: u8,
    start_time: u64,
}

/// `None` if there is no such process (any more).
fn stat(pid: u32) -> io::Result<Option<Stat>> {
    let text = match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => text,
        // ESRCH: the process went away while we read.
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ')'.
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc/PID/stat");
    let rest = text.rsplit_once(')').ok_or_else(bad)?.1;
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields
        .next()
        .ok_or_else(bad)?
        .as_bytes()
        .first()
        .ok_or_else(bad)?;
    // Fields after the state are numbered from 4; the start time is field 22.
    let start_time = fields
        .nth(22 - 4)
        .and_then(|f| f.parse().ok())
        .ok_or_else(bad)?;
    Ok(Some(Stat { state, start_time }))
}

/// The number of threads of process `pid` (`Threads:` of `/proc/PID/status`); `None` if there
/// is no such process (any more).
fn threads(pid: u32) -> io::Result<Option<u64>> {
    let text = match fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    text.lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "no Threads: in /proc/PID/status",
            )
        })
}

/// The low 24 bits of this process's pid namespace inode (0 if unknown).
///
/// Read once per process and kept in an atomic word, not a `OnceLock`: threads that race to
/// read it store the same value, and no thread ever waits for another's first read (a child
/// forked while another thread of its parent was inside a `OnceLock`'s initialisation would
/// wait for it for ever).
pub(crate) fn namespace() -> u64 {
    /// Not read yet: no namespace has it (the value is 24 bits).
    const UNREAD: u64 = u64::MAX;
    static NS: AtomicU64 = AtomicU64::new(UNREAD);
    let ns = NS.load(Relaxed);
    if ns != UNREAD {
        return ns;
    }
    // "pid:[4026531836]"
    let ns = fs::read_link("/proc/self/ns/pid")
        .ok()
        .and_then(|link| {
            let link = link.to_string_lossy().into_owned();
            link.strip_prefix("pid:[")?
                .strip_suffix(']')?
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |inode| inode & 0xff_ffff);
    NS.store(ns, Relaxed);
    ns
}

/// This process's identity (see the module docs); 0 if `/proc` cannot tell.
pub(crate) fn own_identity() -> u64 {
    match stat(std::process::id()) {
        Ok(Some(s)) => (namespace() << START_BITS) | (s.start_time & START_MASK),
        _ => 0,
    }
}

/// Judges the process `pid` that registered with `identity` (0: unknown identity, judged by
/// its pid alone, which errs towards "alive" when the pid was reused).
pub(crate) fn judge(pid: u32, identity: u64) -> Verdict {
    if pid == 0 {
        return Verdict::Unknown;
    }
    if identity != 0 && identity >> START_BITS != namespace() {
        return Verdict::Unknown;
    }
    match stat(pid) {
        Ok(None) => Verdict::Dead,
        // Another process has the pid now: ours is gone.
        Ok(Some(s)) if identity != 0 && s.start_time & START_MASK != identity & START_MASK => {
            Verdict::Dead
        }
        // A process being torn down ('X', 'x') never runs again.
        Ok(Some(s)) if matches!(s.state, b'X' | b'x') => Verdict::Dead,
        // A zombie main thread ('Z'): the process is dead only if no other thread of it runs
        // (`Threads:` counts the zombie leader itself until the process is reaped). Should
        // the pid be reaped and reused between the two reads, the newcomer's count errs
        // towards "alive".
        Ok(Some(s)) if s.state == b'Z' => match threads(pid) {
            Ok(Some(n)) if n > 1 => Verdict::Alive,
            Ok(_) => Verdict::Dead,
            Err(_) => Verdict::Unknown,
        },
        Ok(Some(_)) => Verdict::Alive,
        // Unreadable (e.g. /proc mounted with hidepid): we cannot tell.
        Err(_) => Verdict::Unknown,
    }
}

/// The low 32 bits of the start time of thread (or process) `tid`, which a lock records
/// next to the thread id (`ipc_core::LockOwner`'s stamp); `None` if `/proc` cannot tell.
pub(crate) fn thread_stamp(tid: u32) -> Option<u32> {
    match stat(tid) {
        Ok(Some(s)) => Some(s.start_time as u32),
        _ => None,
    }
}

/// Judges thread `tid` (a lock holder) that recorded `stamp` (the low 32 bits of its start
/// time; `None`: judged by its id alone, which errs towards "alive" if the id was reused). As
/// [`judge`], in the namespace of the caller: a stopped or slow thread is alive.
pub(crate) fn judge_thread(tid: u32, stamp: Option<u32>) -> Verdict {
    if tid == 0 {
        return Verdict::Unknown;
    }
    match stat(tid) {
        Ok(None) => Verdict::Dead,
        Ok(Some(s)) if stamp.is_some_and(|stamp| s.start_time as u32 != stamp) => Verdict::Dead,
        Ok(Some(s)) if matches!(s.state, b'X' | b'x') => Verdict::Dead,
        // As in `judge`: a zombie main thread is dead only with no other thread left.
        Ok(Some(s)) if s.state == b'Z' => match threads(tid) {
            Ok(Some(n)) if n > 1 => Verdict::Alive,
            Ok(_) => Verdict::Dead,
            Err(_) => Verdict::Unknown,
        },
        Ok(Some(_)) => Verdict::Alive,
        Err(_) => Verdict::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{fork_run, kill, waitpid, Signal, WaitOptions};
    use std::io::Read;

    #[test]
    fn the_living_the_zombie_and_the_reaped() {
        let me = own_identity();
        assert_ne!(me & START_MASK, 0);
        assert_eq!(judge(std::process::id(), me), Verdict::Alive);
        assert_eq!(judge(std::process::id(), 0), Verdict::Alive);
        // Our pid with another start time: a process that had our pid before us.
        assert_eq!(judge(std::process::id(), me + 1), Verdict::Dead);
        assert_eq!(judge(std::process::id(), me ^ (1 << 50)), Verdict::Unknown);

        let child = fork_run(|| {
            std::thread::park();
            0
        })
        .unwrap();
        let raw = child.as_raw() as u32;
        let identity = loop {
            // The child's /proc entry exists once fork returned.
            if let Ok(Some(s)) = stat(raw) {
                break (namespace() << START_BITS) | s.start_time;
            }
        };
        assert_eq!(judge(raw, identity), Verdict::Alive);
        kill(child, Signal::KILL).unwrap();
        // Not reaped yet: a zombie, already dead. Wait until the kernel says so.
        while stat(raw).unwrap().is_some_and(|s| s.state != b'Z') {
            std::thread::yield_now();
        }
        assert_eq!(judge(raw, identity), Verdict::Dead);
        waitpid(child, WaitOptions::BLOCK).unwrap();
        assert_eq!(judge(raw, identity), Verdict::Dead);
        assert_eq!(judge(raw, 0), Verdict::Dead);
    }

    /// Blocks until the process `pid` shows `state` in `/proc/PID/stat` (10 s at most).
    fn await_state(pid: u32, state: u8) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while stat(pid).unwrap().is_none_or(|s| s.state != state) {
            assert!(
                std::time::Instant::now() < deadline,
                "process {pid} never showed state {}",
                state as char
            );
            std::thread::yield_now();
        }
    }

    #[test]
    #[allow(unsafe_code)] // The one system call no wrapper offers: ending only the main thread.
    fn a_process_whose_main_thread_exited_lives_on() {
        let (rx, tx) = crate::sys::pipe().unwrap();
        // The closure takes `rx` (dropped unrun in this process).
        let child = fork_run(move || {
            // A thread that keeps the process alive until the parent says so (or dies).
            std::thread::spawn(move || {
                let mut byte = [0u8; 1];
                let _ = std::fs::File::from(rx).read(&mut byte);
                crate::sys::exit_immediately(0);
            });
            // What `pthread_exit` does to the main thread, without its forced unwinding through
            // our frames: the raw `exit` system call (not `exit_group`) ends only this thread.
            // SAFETY: the call takes an integer and never returns; nothing of this thread's
            // stack is used again (the other thread owns all it uses).
            unsafe { libc::syscall(libc::SYS_exit, 0) };
            unreachable!("exit returned")
        })
        .unwrap();
        let raw = child.as_raw() as u32;
        let identity = (namespace() << START_BITS) | stat(raw).unwrap().unwrap().start_time;
        // The main thread is a zombie; the process is not.
        await_state(raw, b'Z');
        assert_eq!(threads(raw).unwrap(), Some(2));
        assert_eq!(judge(raw, identity), Verdict::Alive);
        assert_eq!(judge(raw, 0), Verdict::Alive);
        // Now the whole process exits: a zombie with one thread, dead.
        crate::sys::write_all(std::os::fd::AsFd::as_fd(&tx), b"x").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while threads(raw).unwrap() != Some(1) {
            assert!(
                std::time::Instant::now() < deadline,
                "the child never exited"
            );
            std::thread::yield_now();
        }
        assert_eq!(judge(raw, identity), Verdict::Dead);
        waitpid(child, WaitOptions::BLOCK).unwrap();
        assert_eq!(judge(raw, identity), Verdict::Dead);
    }
}
