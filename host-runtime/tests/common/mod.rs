//! What the integration tests share: a watchdog that runs each test body alone and
//! fails it, instead of hanging the run, if it does not finish in time.

use std::collections::HashSet;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use host_runtime::Pid;

/// Serialises the test bodies of one test binary: a forked child inherits *every*
/// descriptor of the binary, so a child forked by one test would hold another test's
/// socket ends open and delay the end-of-file that test waits for.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `body` on its own thread, one test at a time, and fails the test if it has not
/// finished within `secs` seconds (waiting for [`SERIAL`] is not counted).
pub fn watchdog_secs(secs: u64, body: impl FnOnce() + Send + 'static) {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(body));
        let _ = done_tx.send(result);
    });
    match done_rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(())) => {}
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(_) => panic!("watchdog: test body did not finish within {secs} s"),
    }
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
