//! Loom model checks of the ring protocol, through the typed [`Queue`] (which shares
//! the ring with `ByteQueue`; loom's atomics cannot be laid over raw bytes, so the byte
//! queue itself is not modelled).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p ipc-core --release --test loom`.
#![cfg(loom)]

use ipc_core::{Queue, WaitWord};
use loom::sync::atomic::{AtomicBool, Ordering::*};
use loom::sync::Arc;
use loom::thread;

/// Explores every interleaving with at most `preemptions` forced context switches
/// (loom's usual bound: most concurrency bugs need two or three).
fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    // Threads that wait for a full or empty queue spin (with `yield_now`); allow for it.
    builder.max_branches = 100_000;
    builder.check(f);
}

/// Pushes `value`, yielding while the queue is full.
fn push<const N: usize>(q: &Queue<(usize, usize), N>, mut value: (usize, usize)) {
    while let Err(back) = q.push(value) {
        value = back;
        thread::yield_now();
    }
}

/// Pops `count` values, yielding while the queue is empty; checks per-producer order.
fn pop_n<const N: usize>(q: &Queue<(usize, usize), N>, count: usize) -> Vec<(usize, usize)> {
    let mut got = Vec::new();
    let mut last = [None; 2];
    while got.len() < count {
        match q.pop() {
            Some((producer, seq)) => {
                assert!(
                    last[producer].is_none_or(|l| l < seq),
                    "FIFO per producer broken"
                );
                last[producer] = Some(seq);
                got.push((producer, seq));
            }
            None => thread::yield_now(),
        }
    }
    got
}

/// 2 producers × 2 consumers, `per` messages per producer, each consumer taking `per`:
/// every message is delivered exactly once, in order per producer.
fn two_by_two<const N: usize>(per: usize, preemptions: usize) {
    model(preemptions, move || {
        let q = Arc::new(Queue::<(usize, usize), N>::new());
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let q = q.clone();
                thread::spawn(move || (0..per).for_each(|i| push(&q, (p, i))))
            })
            .collect();
        let consumer = {
            let q = q.clone();
            thread::spawn(move || pop_n(&q, per))
        };
        let mut all = pop_n(&q, per);
        all.extend(consumer.join().unwrap());
        producers.into_iter().for_each(|p| p.join().unwrap());
        all.sort_unstable();
        let expect: Vec<_> = (0..2).flat_map(|p| (0..per).map(move |i| (p, i))).collect();
        assert_eq!(all, expect, "lost or duplicated");
        assert!(q.is_empty());
    });
}

#[test]
fn two_by_two_capacity_1() {
    two_by_two::<1>(2, 2);
}

#[test]
fn two_by_two_capacity_2() {
    two_by_two::<2>(2, 2);
}

#[test]
fn two_by_two_capacity_3() {
    two_by_two::<3>(2, 2);
}

#[test]
fn two_by_two_capacity_4() {
    two_by_two::<4>(2, 2);
}

#[test]
fn full_and_empty_are_never_spurious_for_one_thread() {
    // A thread alone on its side of the queue: with nobody else pushing, a pop racing
    // one producer returns the message or None, and a push on an unfilled queue succeeds.
    model(3, || {
        let q = Arc::new(Queue::<(usize, usize), 2>::new());
        let p = {
            let q = q.clone();
            thread::spawn(move || {
                q.push((0, 0))
                    .expect("queue of 2 holding at most 1 is not full");
                q.push((0, 1))
                    .expect("queue of 2 holding at most 1 is not full");
            })
        };
        let mut got = Vec::new();
        while got.len() < 2 {
            if let Some(v) = q.pop() {
                got.push(v);
            } else {
                thread::yield_now();
            }
        }
        p.join().unwrap();
        assert_eq!(got, vec![(0, 0), (0, 1)]);
    });
}

#[test]
fn wait_word_never_loses_a_wakeup() {
    model(3, || {
        let ready = Arc::new(AtomicBool::new(false));
        let word = Arc::new(WaitWord::default());
        let waiter = {
            let (ready, word) = (ready.clone(), word.clone());
            thread::spawn(move || {
                let seen = word.prepare_wait();
                if !ready.load(Acquire) {
                    // "Sleep" until the word changes; a lost wake-up spins forever and
                    // loom reports it.
                    while word.seq().load(Acquire) == seen {
                        thread::yield_now();
                    }
                    assert!(ready.load(Acquire), "woken before the condition holds");
                }
                word.finish_wait();
            })
        };
        ready.store(true, Release);
        word.notify();
        waiter.join().unwrap();
    });
}
