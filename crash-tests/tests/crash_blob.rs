//! Crash safety of long messages (those that go through the blob pool): a process SIGKILLed at
//! any step of a long put or get loses at most the one message it was handing over, that loss
//! is counted (`lost_in_put` / `lost_in_get`), the others resume by themselves (the automatic
//! repair of blocked calls; no test calls `repair_dead`), and no blob chunk leaks.
//!
//! The child is killed at its n-th crash point (ipc-core's `crash-points` feature: the ring's
//! own points and the blob pool's, see `ipc_core::crash`), for n = 1, 2, … until it finishes
//! normally. Before dying it puts the point's name into a side queue, so the parent knows
//! which step it died at.

#![deny(unsafe_code)]

#[path = "../../host-runtime/tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use host_runtime::queue::QueueStats;
use host_runtime::sys::{self, Signal};
use host_runtime::{Process, RawQueue};

/// Crash points passed so far in this (child) process.
static PASSED: AtomicUsize = AtomicUsize::new(0);
/// The crash point to die at (1-based).
static KILL_AT: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Set while the hook itself uses a queue (whose crash points must not count).
static DYING: AtomicBool = AtomicBool::new(false);

/// Where a dying child says at which crash point it dies (made before any fork).
fn last_words() -> &'static RawQueue {
    static LOG: OnceLock<RawQueue> = OnceLock::new();
    LOG.get_or_init(|| RawQueue::new(4).expect("side queue"))
}

fn hook(point: &'static str) {
    if DYING.load(SeqCst) {
        return;
    }
    if PASSED.fetch_add(1, SeqCst) + 1 == KILL_AT.load(SeqCst) {
        DYING.store(true, SeqCst);
        last_words().put(point.as_bytes()).expect("last words");
        let _ = sys::kill(sys::getpid(), Signal::KILL);
    }
}

/// Runs `f` in a child killed at its `n`-th crash point; returns the point's name, or `None`
/// if the child finished (exit code 0) first.
fn run_killed_at(n: usize, f: impl FnOnce() + Send + 'static) -> Option<String> {
    let log = last_words();
    let child = Process::new(move || {
        KILL_AT.store(n, SeqCst);
        ipc_core::crash::set_hook(Some(hook));
        f();
        ipc_core::crash::set_hook(None);
    });
    child.start().expect("start");
    match child.join().expect("join") {
        0 => None,
        -9 => {
            let point = log.get().expect("the point the child died at");
            Some(String::from_utf8(point).expect("a point name"))
        }
        code => panic!("child failed with exit code {code}"),
    }
}

const CHUNK: usize = 4096;

/// A long message (3000 bytes: one 4 KiB chunk) made from `seed`.
fn long(seed: u8) -> Vec<u8> {
    (0..3000u32)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn all_chunks_free(q: &RawQueue) -> bool {
    q.pool_stats().iter().all(|c| c.free == c.total)
}

/// A long put killed at each of its steps: before its ring claim the message never entered
/// the queue (nothing counted); from the claim to the publish it is skipped and counted in
/// `lost_in_put`; a put that returned is delivered whole, once. The queue's only chunk is
/// free again afterwards (a later long put needs it).
#[test]
fn a_long_put_killed_at_any_step() {
    common::watchdog_secs(120, || {
        let mut seen = Vec::new();
        for n in 1.. {
            let q = RawQueue::builder()
                .maxsize(4)
                .size_class(CHUNK, 1)
                .build_raw()
                .unwrap();
            let tx = q.clone();
            let point = run_killed_at(n, move || tx.put(long(1)).unwrap());

            // Resumes by itself: a get blocked behind a dead producer's claim repairs it.
            q.put(b"marker").unwrap();
            let mut delivered = Vec::new();
            loop {
                let m = q.get().unwrap();
                if m == b"marker" {
                    break;
                }
                delivered.push(m);
            }
            // The one chunk comes back: a long put blocked for it repairs the dead holder.
            q.put(long(2)).unwrap();
            assert_eq!(q.get().unwrap(), long(2));

            let stats = q.stats();
            assert!(delivered.iter().all(|m| *m == long(1)), "delivered whole");
            let (want_delivered, want_lost) = match point.as_deref() {
                None => (1, 0),
                Some("blob.taken" | "blob.written") => (0, 0),
                Some("push.claimed" | "blob.described" | "blob.ringed" | "push.filled") => (0, 1),
                Some(other) => panic!("unexpected crash point {other}"),
            };
            assert_eq!(
                (delivered.len(), stats.lost_in_put, stats.lost_in_get),
                (want_delivered, want_lost, 0),
                "killed at {point:?}"
            );
            assert!(all_chunks_free(&q), "leaked a chunk: {:?}", q.pool_stats());
            assert_eq!(q.qsize(), 0);
            seen.push(point.clone().unwrap_or_else(|| "finished".into()));
            if point.is_none() {
                break;
            }
        }
        assert_eq!(
            seen,
            [
                "blob.taken",
                "blob.written",
                "push.claimed",
                "blob.described",
                "blob.ringed",
                "push.filled",
                "finished"
            ]
        );
    });
}

/// A long get killed at each of its steps: every step lies inside the ring claim, so a
/// killed get's message is gone and counted in `lost_in_get` (exactly once), and a get that
/// returned had it whole. In a queue of one slot and one chunk, the parent's next long put
/// needs both back: it repairs the dead consumer by itself.
#[test]
fn a_long_get_killed_at_any_step() {
    common::watchdog_secs(120, || {
        let mut seen = Vec::new();
        for n in 1.. {
            let q = RawQueue::builder()
                .maxsize(1)
                .size_class(CHUNK, 1)
                .build_raw()
                .unwrap();
            q.put(long(1)).unwrap();
            let rx = q.clone();
            let point = run_killed_at(n, move || {
                let m = rx.get().unwrap();
                assert!(m == long(1), "the child got the message whole");
            });

            q.put(long(2)).unwrap();
            assert_eq!(q.get().unwrap(), long(2), "the first message is gone");

            let stats = q.stats();
            let lost = u64::from(point.is_some());
            assert_eq!(
                (stats.lost_in_put, stats.lost_in_get),
                (0, lost),
                "killed at {point:?}"
            );
            assert!(all_chunks_free(&q), "leaked a chunk: {:?}", q.pool_stats());
            seen.push(point.clone().unwrap_or_else(|| "finished".into()));
            if point.is_none() {
                break;
            }
        }
        assert_eq!(
            seen,
            [
                "pop.claimed",
                "blob.leased",
                "blob.read",
                "blob.freed",
                "pop.read",
                "finished"
            ]
        );
    });
}

/// A tiny xorshift, so that the kill times differ between rounds and runs.
fn random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

const MIB: usize = 1 << 20;
/// The first word a child acknowledges with, before any message.
const HELLO: u32 = u32::MAX - 2;

fn big(id: u32) -> Vec<u8> {
    let mut m = vec![id as u8; MIB];
    m[..4].copy_from_slice(&id.to_le_bytes());
    m
}

/// A consumer of 1 MiB messages SIGKILLed at random moments (often in the middle of copying
/// one out), 50 times: no chunk ever leaks, the queue goes on, and every message is delivered
/// once (acknowledged by the child, or still in the queue) or counted lost — except one the
/// child took whole and died before acknowledging (its get had returned: not a loss of the
/// queue's).
#[test]
fn a_big_message_consumer_killed_at_random_moments() {
    common::watchdog_secs(240, || {
        const ROUNDS: u32 = 50;
        let q = RawQueue::builder()
            .maxsize(4)
            .size_class(MIB, 2)
            .build_raw()
            .unwrap();
        let mut rng = Instant::now().elapsed().as_nanos() as u64 | 1;
        rng ^= u64::from(std::process::id()) << 20;
        let (mut counted, mut unacknowledged) = (0u64, 0u32);
        let mut last = QueueStats::default();
        for round in 0..ROUNDS {
            let ids = [2 * round, 2 * round + 1];
            for id in ids {
                q.put(big(id)).unwrap();
            }
            // A fresh one each round: a child killed while putting an acknowledgement leaves
            // a dead claim in it.
            let acks = RawQueue::new(8).unwrap();
            let (rx, tx) = (q.clone(), acks.clone());
            let child = Process::new(move || {
                // Registers in `acks` first, so that the window between a get's return and
                // its acknowledgement is the put alone.
                tx.put(HELLO.to_le_bytes()).unwrap();
                loop {
                    let m = rx.get().unwrap();
                    let id = u32::from_le_bytes(m[..4].try_into().unwrap());
                    tx.put(id.to_le_bytes()).unwrap();
                    // After the acknowledgement (a failure exits with 101, not -9).
                    assert!(m == big(id), "a message arrives whole");
                }
            });
            child.start().unwrap();
            // Not a synchronisation: a random moment to kill the child at (it starts, then
            // copies 1 MiB twice, then waits for more).
            std::thread::sleep(Duration::from_micros(random(&mut rng) % 2500));
            child.kill().unwrap();
            assert_eq!(child.join().unwrap(), -9);

            let mut acked = Vec::new();
            while let Ok(a) = acks.get_nowait() {
                let id = u32::from_le_bytes(a[..4].try_into().unwrap());
                if id != HELLO {
                    acked.push(id);
                }
            }
            // What is left, up to a marker; then two more long puts, the second of which
            // needs a chunk the child may still hold: they repair it by themselves.
            q.put(b"marker").unwrap();
            let mut left = Vec::new();
            loop {
                let m = q.get().unwrap();
                if m == b"marker" {
                    break;
                }
                let id = u32::from_le_bytes(m[..4].try_into().unwrap());
                assert!(m == big(id));
                left.push(id);
            }
            for id in [u32::MAX - 1, u32::MAX] {
                q.put(big(id)).unwrap();
            }
            for id in [u32::MAX - 1, u32::MAX] {
                assert_eq!(q.get().unwrap()[..4], id.to_le_bytes());
            }

            let stats = q.stats();
            let lost = stats.lost_in_get - last.lost_in_get;
            assert_eq!(stats.lost_in_put, 0);
            assert!(
                lost <= 1,
                "round {round}: one message at most in the dead get"
            );
            let mut seen: Vec<u32> = acked.iter().chain(&left).copied().collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), acked.len() + left.len(), "round {round}: once");
            assert!(seen.iter().all(|id| ids.contains(id)));
            let missing = 2 - seen.len() as u64;
            assert!(
                missing == lost || (missing == lost + 1 && lost == 0),
                "round {round}: {missing} missing, {lost} counted lost"
            );
            unacknowledged += (missing - lost) as u32;
            counted += lost;
            assert!(all_chunks_free(&q), "round {round}: {:?}", q.pool_stats());
            last = stats;
        }
        eprintln!(
            "{ROUNDS} kills: {counted} messages lost in a get (counted), \
             {unacknowledged} taken whole by a child killed before it acknowledged"
        );
    });
}
