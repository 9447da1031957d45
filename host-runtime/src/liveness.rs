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

use std::fs;
use std::io;
use std::sync::OnceLock;

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

/// The low 24 bits of this process's pid namespace inode (0 if unknown).
fn namespace() -> u64 {
    static NS: OnceLock<u64> = OnceLock::new();
    *NS.get_or_init(|| {
        // "pid:[4026531836]"
        fs::read_link("/proc/self/ns/pid")
            .ok()
            .and_then(|link| {
                let link = link.to_string_lossy().into_owned();
                link.strip_prefix("pid:[")?
                    .strip_suffix(']')?
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |inode| inode & 0xff_ffff)
    })
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
        // A zombie ('Z') or a process being torn down ('X', 'x') never runs again.
        Ok(Some(s)) if matches!(s.state, b'Z' | b'X' | b'x') => Verdict::Dead,
        Ok(Some(s)) if identity != 0 && s.start_time & START_MASK != identity & START_MASK => {
            Verdict::Dead
        }
        Ok(Some(_)) => Verdict::Alive,
        // Unreadable (e.g. /proc mounted with hidepid): we cannot tell.
        Err(_) => Verdict::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{fork_run, kill, waitpid, Signal, WaitOptions};

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
}
