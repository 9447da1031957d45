//! Crash safety of the batch calls ([`RawQueue::put_many`], [`RawQueue::get_many`]): a process
//! killed (`SIGKILL`) at each crash point of a batch in turn — the claim and the publish
//! (release) of each of its messages — loses only the one message it had claimed, counted in
//! [`RawQueue::stats`]; the messages of the batch before it were delivered (taken) in order,
//! those after it were never put (taken), and the others resume by themselves (no test calls
//! `repair_dead`).
//!
//! Every test body runs under the watchdog of `common`, so a hang fails the test.

#![deny(unsafe_code)]

#[path = "../../host-runtime/tests/common/mod.rs"]
mod common;
mod trap;

use std::sync::atomic::Ordering::SeqCst;

use common::watchdog_secs;
use host_runtime::queue::{Batch, QueueStats};
use host_runtime::shared::region::SharedBytes;
use host_runtime::{Process, RawGetNowaitError, RawQueue, SharedRegion};
use trap::Trap;

/// The points the board names (word 0: index + 1).
const POINTS: [&str; 4] = ["push.claimed", "push.filled", "pop.claimed", "pop.read"];
static TRAP: Trap = Trap::new(&POINTS);

fn hook(point: &'static str) {
    TRAP.hit(point);
}

/// One word of shared memory for the trap to name the point it killed at.
fn board() -> SharedBytes {
    SharedRegion::new(8).unwrap().claim_bytes(0, 8).unwrap()
}

const BATCH: [&[u8]; 3] = [b"first", b"second", b"third"];

fn assert_stats(q: &RawQueue, lost_in_put: u64, lost_in_get: u64) {
    let s: QueueStats = q.stats();
    assert_eq!(
        (s.lost_in_put, s.lost_in_get, s.dead_processes),
        (lost_in_put, lost_in_get, 1),
        "stats (lost_in_put, lost_in_get, dead_processes)"
    );
}

/// A child `put_many`s the batch and is killed at its `n`-th crash point; `false` if it
/// finished instead.
fn put_many_killed_at(n: u64) -> bool {
    let q = RawQueue::new(4).unwrap();
    let board = board();
    let (child_q, child_board) = (q.clone(), board.clone());
    let p = Process::new(move || {
        TRAP.arm(n, false, child_board, hook);
        let mut sent = 0;
        while sent < BATCH.len() {
            sent += child_q.put_many(&BATCH[sent..]).unwrap();
        }
    });
    p.start().unwrap();
    let code = p.join().unwrap();
    if code == 0 {
        return false;
    }
    assert_eq!(code, -9, "killed at crash point {n}");
    let point = POINTS[board.u64_at(0).load(SeqCst) as usize - 1];
    // Two points per message (claimed, filled): the dead one had published the ones before.
    let published = ((n - 1) / 2) as usize;
    // The dead claim is at the head: the get waits for it until a repair marks it abandoned.
    q.put(b"after").unwrap();
    for m in &BATCH[..published] {
        assert_eq!(q.get().unwrap(), *m, "killed at {point} (point {n})");
    }
    assert_eq!(q.get().unwrap(), b"after", "killed at {point} (point {n})");
    assert!(matches!(q.get_nowait(), Err(RawGetNowaitError::Empty)));
    assert_stats(&q, 1, 0);
    true
}

/// A child `get_many`s a queue holding the batch and is killed at its `n`-th crash point;
/// `false` if it finished instead.
fn get_many_killed_at(n: u64) -> bool {
    let q = RawQueue::new(4).unwrap();
    q.put_many(&BATCH).unwrap();
    let board = board();
    let (child_q, child_board) = (q.clone(), board.clone());
    let p = Process::new(move || {
        TRAP.arm(n, false, child_board, hook);
        let mut batch = Batch::new();
        let mut got = 0;
        while got < BATCH.len() {
            got += child_q.get_many(&mut batch, BATCH.len()).unwrap();
        }
    });
    p.start().unwrap();
    let code = p.join().unwrap();
    if code == 0 {
        return false;
    }
    assert_eq!(code, -9, "killed at crash point {n}");
    let point = POINTS[board.u64_at(0).load(SeqCst) as usize - 1];
    // Two points per message (claimed, read): the dead one had taken the ones before, and
    // holds the next; the rest are still there, in order.
    let taken = ((n - 1) / 2) as usize;
    for m in &BATCH[taken + 1..] {
        assert_eq!(q.get_nowait().unwrap(), *m, "killed at {point} (point {n})");
    }
    assert!(matches!(q.get_nowait(), Err(RawGetNowaitError::Empty)));
    // The dead consumer holds a slot: the fourth put of a lap needs it and waits until a
    // repair releases it. The claimed message is lost and counted.
    for i in 0..4u8 {
        q.put([i; 8]).unwrap();
    }
    for i in 0..4u8 {
        assert_eq!(
            q.get_nowait().unwrap(),
            [i; 8],
            "killed at {point} (point {n})"
        );
    }
    assert_stats(&q, 0, 1);
    true
}

#[test]
fn a_put_many_killed_at_each_step_loses_only_its_claimed_message() {
    watchdog_secs(120, || {
        let mut n = 1;
        while put_many_killed_at(n) {
            n += 1;
        }
        assert_eq!(
            n - 1,
            2 * BATCH.len() as u64,
            "a claim and a publish per message"
        );
    });
}

#[test]
fn a_get_many_killed_at_each_step_loses_only_its_claimed_message() {
    watchdog_secs(120, || {
        let mut n = 1;
        while get_many_killed_at(n) {
            n += 1;
        }
        assert_eq!(
            n - 1,
            2 * BATCH.len() as u64,
            "a claim and a release per message"
        );
    });
}
