//! What the integration tests share: a watchdog that runs each test body alone and
//! fails it, instead of hanging the run, if it does not finish in time.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, PoisonError};

use host_runtime::process::Builder;
use host_runtime::{Pid, Process};

#[path = "../../src/test_util.rs"]
mod test_util;

/// Serialises the test bodies of one test binary: a forked child inherits *every*
/// descriptor of the binary, so a child forked by one test would hold another test's
/// socket ends open and delay the end-of-file that test waits for.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `body` on its own thread, one test at a time, and fails the test if it has not
/// finished within `secs` seconds (waiting for [`SERIAL`] is not counted): the unit tests'
/// watchdog (`src/test_util.rs`), serialised.
pub fn watchdog_secs(secs: u64, body: impl FnOnce() + Send + 'static) {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    test_util::watchdog(secs, body);
}

/// A small xorshift generator for the torture tests' victims and moments, seeded from the clock
/// (each test prints its seed so a run can be replayed).
#[allow(dead_code)] // Not every test binary that includes this module tortures.
pub struct Rng(pub u64);

#[allow(dead_code)]
impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The pids of this process's unreaped children (zombies included), from
/// `/proc/self/task/*/children`.
#[allow(dead_code)] // Not every test binary that includes this module counts children.
pub fn children_of_self() -> HashSet<Pid> {
    let mut pids = HashSet::new();
    for task in fs::read_dir("/proc/self/task").unwrap() {
        // A task that exited meanwhile has no file any more.
        if let Ok(list) = fs::read_to_string(task.unwrap().path().join("children")) {
            pids.extend(
                list.split_whitespace()
                    .map(|p| Pid::from_raw(p.parse().unwrap()).unwrap()),
            );
        }
    }
    pids
}

/// Asserts that none of `pids` is a child of ours any more: reaped, no zombie (`waitpid`
/// says `ECHILD`).
#[allow(dead_code)]
pub fn assert_reaped(pids: impl IntoIterator<Item = i32>) {
    let children = children_of_self();
    for pid in pids {
        let pid = Pid::from_raw(pid).unwrap();
        assert!(!children.contains(&pid), "worker {pid} is still our child");
        let err =
            host_runtime::sys::waitpid(pid, host_runtime::sys::WaitOptions::NOHANG).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECHILD), "worker {pid}");
    }
}

/// Starts `f` in a child process.
#[allow(dead_code)]
pub fn spawn(f: impl FnOnce() + Send + 'static) -> Process {
    let p = Process::new(f);
    p.start().unwrap();
    p
}

/// Joins `p` and checks it exited 0 (a failed assertion in the child exits non-zero).
#[allow(dead_code)]
pub fn join_ok(p: &Process) {
    assert_eq!(p.join().unwrap(), 0, "{} failed", p.name());
}

/// Starts a child (configured by `builder`) that exits 0 once it has read one byte from the
/// returned socket: it runs until [`release`]d, terminated or killed.
#[allow(dead_code)]
pub fn waiting_child(builder: Builder) -> (Process, UnixStream) {
    let (tx, rx) = UnixStream::pair().unwrap();
    let p = builder
        .spawn(move || {
            let mut rx = rx;
            let _ = rx.read(&mut [0u8]);
        })
        .unwrap();
    (p, tx)
}

/// Lets a [`waiting_child`] exit.
#[allow(dead_code)]
pub fn release(mut tx: &UnixStream) {
    tx.write_all(b"x").unwrap();
}
