//! Crash safety of `host_runtime::sync::Lock`: a process killed (`SIGKILL`) at each step of an
//! acquire and a release (ipc-core's crash points in `LockWord`), or stopped (`SIGSTOP`) there.
//! A killed holder's lock is taken over by the next acquirer, which is told (`OwnerDied`); a
//! process killed after letting go leaves a free lock; a stopped one is waited for, never taken
//! for dead.
//!
//! Every test body runs under the watchdog of `common`, so a hang fails the test.

#![deny(unsafe_code)]

#[path = "../../host-runtime/tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::OnceLock;
use std::time::Duration;

use common::watchdog_secs;
use host_runtime::shared::region::SharedBytes;
use host_runtime::sync::{Lock, LockError, LockTimeoutError, DEATH_CHECK};
use host_runtime::sys::{self, Pid, Signal};
use host_runtime::{Process, SharedRegion};

/// The points an acquire and a release pass, in order.
const POINTS: [&str; 3] = ["lock.claimed", "lock.stamped", "unlock.unstamped"];

static TARGET: AtomicU64 = AtomicU64::new(0);
static PASSED: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);
/// Word 0: the index + 1 in `POINTS` of the point the child stopped at.
static BOARD: OnceLock<SharedBytes> = OnceLock::new();

fn hook(point: &'static str) {
    if PASSED.fetch_add(1, SeqCst) + 1 != TARGET.load(SeqCst) {
        return;
    }
    if let Some(board) = BOARD.get() {
        let index = POINTS
            .iter()
            .position(|&p| p == point)
            .map_or(99, |i| i + 1);
        board.u64_at(0).store(index as u64, SeqCst);
    }
    let signal = if STOP.load(SeqCst) {
        Signal::from_raw(libc::SIGSTOP).unwrap()
    } else {
        Signal::KILL
    };
    sys::kill(sys::getpid(), signal).unwrap();
}

/// A child that takes and lets go of `lock` once, killed (or stopped) at its `n`-th crash point
/// (none if it passes fewer). Returns the child, started, and the board it writes.
fn child_at(lock: &Lock, n: u64, stop: bool) -> (Process, SharedBytes) {
    let board = SharedRegion::new(8).unwrap().claim_bytes(0, 8).unwrap();
    let (child_lock, child_board) = (lock.clone(), board.clone());
    let p = Process::new(move || {
        TARGET.store(n, SeqCst);
        STOP.store(stop, SeqCst);
        let _ = BOARD.set(child_board);
        ipc_core::crash::set_hook(Some(hook));
        drop(child_lock.lock().unwrap());
    });
    p.start().unwrap();
    (p, board)
}

#[test]
fn a_holder_killed_at_each_step_hands_the_lock_over_or_leaves_it_free() {
    watchdog_secs(60, || {
        for (n, point) in (1..).zip(POINTS) {
            let lock = Lock::new().unwrap();
            let (p, board) = child_at(&lock, n, false);
            assert_eq!(p.join().unwrap(), -9, "killed at {point}");
            assert_eq!(board.u64_at(0).load(SeqCst), n, "stopped at {point}");
            // Killed anywhere between its claim and its release CAS: it held the lock, and we
            // are told. (`lock.claimed`: no stamp yet, judged by its thread id alone.)
            match lock.lock() {
                Err(LockError::OwnerDied(g)) => drop(g),
                Ok(_) => panic!("{point}: the dead holder's lock came back clean"),
                Err(e) => panic!("{point}: {e}"),
            }
            drop(lock.lock().expect("clean after the take-over"));
        }
        // Past the last point: the child lets go and exits; nothing to tell.
        let lock = Lock::new().unwrap();
        let (p, _board) = child_at(&lock, POINTS.len() as u64 + 1, false);
        assert_eq!(p.join().unwrap(), 0);
        drop(lock.lock().unwrap());
    });
}

#[test]
fn a_holder_stopped_at_each_step_is_waited_for() {
    watchdog_secs(60, || {
        for (n, point) in (1..).zip(POINTS) {
            let lock = Lock::new().unwrap();
            let (p, board) = child_at(&lock, n, true);
            while board.u64_at(0).load(SeqCst) != n {
                std::thread::yield_now();
            }
            // Stopped while holding: two death checks find it alive.
            assert!(
                matches!(
                    lock.lock_timeout(DEATH_CHECK * 2 + Duration::from_millis(50)),
                    Err(LockTimeoutError::Timeout)
                ),
                "{point}: a stopped holder was taken for dead"
            );
            let pid = Pid::from_raw(p.pid().unwrap()).unwrap();
            sys::kill(pid, Signal::from_raw(libc::SIGCONT).unwrap()).unwrap();
            // It goes on and lets go: a clean acquire.
            drop(lock.lock().unwrap());
            assert_eq!(p.join().unwrap(), 0);
        }
    });
}
