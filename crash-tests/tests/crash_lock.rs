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
mod trap;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use common::{watchdog_secs, Rng};
use host_runtime::shared::region::SharedBytes;
use host_runtime::sync::{Array, Lock, LockError, LockTimeoutError, Value, DEATH_CHECK};
use host_runtime::sys::{self, Signal};
use host_runtime::{Process, SharedRegion};
use trap::Trap;

/// The points an acquire and a release pass, in order.
const POINTS: [&str; 3] = ["lock.claimed", "lock.stamped", "unlock.unstamped"];

static TRAP: Trap = Trap::new(&POINTS);

fn hook(point: &'static str) {
    TRAP.hit(point);
}

/// A child that takes and lets go of `lock` once, killed (or stopped) at its `n`-th crash point
/// (none if it passes fewer). Returns the child, started, and the board it writes.
fn child_at(lock: &Lock, n: u64, stop: bool) -> (Process, SharedBytes) {
    let board = SharedRegion::new(8).unwrap().claim_bytes(0, 8).unwrap();
    let (child_lock, child_board) = (lock.clone(), board.clone());
    let p = Process::new(move || {
        TRAP.arm(n, stop, child_board, hook);
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
            let pid = p.pid().unwrap();
            sys::kill(pid, Signal::from_raw(libc::SIGCONT).unwrap()).unwrap();
            // It goes on and lets go: a clean acquire.
            drop(lock.lock().unwrap());
            assert_eq!(p.join().unwrap(), 0);
        }
    });
}

/// One step of a torture worker: under the lock, the total and the worker's own count go up by
/// one each (two stores: a kill between them leaves them apart). Whoever takes the lock from a
/// dead holder recomputes the total from the counts.
fn step(total: &Value<u64>, done: &Array<u64>, me: usize) {
    let lock = total.get_lock().unwrap();
    let _g = match lock.lock() {
        Ok(g) => g,
        Err(LockError::OwnerDied(g)) => {
            total.set(done.to_vec().iter().sum());
            g
        }
        Err(e) => panic!("{e}"),
    };
    total.set(total.get() + 1);
    done.set(me, done.get(me).unwrap() + 1).unwrap();
}

/// Random kills: workers increment under the lock without end; the parent kills one at a
/// random moment (once it has done a random number of steps), starts a new one in its place,
/// `LOCK_KILL_ROUNDS` times (default 20). At the end the total is exactly the sum of what
/// every worker, dead or alive, recorded: a kill inside the lock was repaired by the next
/// holder, a kill outside it left nothing to repair, and no worker ever hung.
#[test]
fn random_kills_of_lock_holders_keep_the_count_exact() {
    let rounds: usize = std::env::var("LOCK_KILL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    println!("CRASH_SEED={seed}");
    watchdog_secs(60 + rounds as u64, move || {
        const WORKERS: usize = 3;
        let slots = WORKERS + rounds;
        let total = Value::new(0u64).unwrap();
        let done = Array::new_unlocked(&vec![0u64; slots]).unwrap();
        let spawn = |slot: usize| {
            let (total, done) = (total.clone(), done.clone());
            let p = Process::new(move || loop {
                step(&total, &done, slot);
            });
            p.start().unwrap();
            p
        };
        let mut rng = Rng(seed);
        let mut workers: Vec<(usize, Process)> = (0..WORKERS).map(|s| (s, spawn(s))).collect();
        for round in 0..rounds {
            let victim = rng.below(WORKERS as u64) as usize;
            let (slot, _) = &workers[victim];
            let target = done.get(*slot).unwrap() + 1 + rng.below(2_000);
            while done.get(*slot).unwrap() < target {
                std::thread::yield_now();
            }
            let (_, p) = std::mem::replace(
                &mut workers[victim],
                (WORKERS + round, spawn(WORKERS + round)),
            );
            p.kill().unwrap();
            let _ = p.join();
        }
        for (_, p) in &workers {
            p.kill().unwrap();
            let _ = p.join();
        }
        // Every worker is dead now: one more step repairs if the last death was in the lock.
        step(&total, &done, 0);
        let recorded: u64 = done.to_vec().iter().sum();
        assert_eq!(total.get(), recorded, "seed {seed}");
    });
}
