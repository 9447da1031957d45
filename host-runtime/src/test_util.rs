//! Helpers for the unit tests.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Runs `body` on its own thread and fails the test if it has not finished within `secs`
/// seconds, so a bug that blocks (a lost wake-up, a deadlocked child) fails instead of hanging.
pub(crate) fn watchdog(secs: u64, body: impl FnOnce() + Send + 'static) {
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

/// A xorshift64 generator started at `seed` (not 0): cheap, repeatable numbers for tests.
// Used by unit tests only; the integration tests include this file too (`tests/common`).
#[allow(dead_code)]
pub(crate) fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}
