//! Unit tests of [`Queue`](super::Queue).

use super::*;
use crate::word::Word;

extern crate std;
use std::{sync::Arc, vec::Vec};

impl<T, const N: usize> Queue<T, N> {
    /// An empty queue whose head and tail start at `stamp` (wrap-around tests).
    fn starting_at(stamp: Word) -> Self {
        let q = Self::new();
        let geo = Self::GEOMETRY;
        q.head.store(stamp, crate::sync::Ordering::Relaxed);
        q.tail.store(stamp, crate::sync::Ordering::Relaxed);
        for (index, slot) in q.slots.iter().enumerate() {
            let lap = geo.lap(geo.stamp_at_or_after(stamp, index));
            slot.word.store(
                crate::word::SlotWord::pack(lap, crate::word::State::Free, 0),
                crate::sync::Ordering::Relaxed,
            );
        }
        q
    }
}

#[test]
fn fifo_and_full_empty() {
    let q = Queue::<u32, 3>::new();
    assert!(q.is_empty());
    for i in 0..3 {
        q.push(i).unwrap();
    }
    assert!(q.is_full());
    assert_eq!(q.push(9), Err(9));
    assert_eq!(q.len(), 3);
    for i in 0..3 {
        assert_eq!(q.pop(), Some(i));
    }
    assert_eq!(q.pop(), None);
}

#[test]
fn many_laps_keep_order() {
    let q = Queue::<usize, 5>::new();
    let mut next_in = 0;
    let mut next_out = 0;
    for round in 0..200 {
        for _ in 0..(round % 5 + 1) {
            if q.push(next_in).is_ok() {
                next_in += 1;
            }
        }
        for _ in 0..(round % 3 + 1) {
            if let Some(v) = q.pop() {
                assert_eq!(v, next_out);
                next_out += 1;
            }
        }
        assert_eq!(q.len(), next_in - next_out);
    }
}

#[test]
fn wraps_the_stamp_counter() {
    for n in [1usize, 2, 3, 4, 7] {
        // Start a few laps before the stamp (and the word's lap field) wraps.
        let start = Word::MAX - 3 * n.next_power_of_two() as Word + 1;
        check_wrap(start, n);
    }
}

#[test]
fn wraps_the_slot_word_lap_field() {
    // On 64-bit targets the word keeps 48 lap bits; stamps wrap much later.
    let lap_field_wrap: Word = 1 << crate::word::WORD_LAP_BITS;
    check_wrap((lap_field_wrap - 2) << 2, 4);
}

fn check_wrap(start: Word, n: usize) {
    match n {
        1 => run_wrap::<1>(start),
        2 => run_wrap::<2>(start),
        3 => run_wrap::<3>(start),
        4 => run_wrap::<4>(start),
        7 => run_wrap::<7>(start),
        _ => unreachable!(),
    }
}

fn run_wrap<const N: usize>(start: Word) {
    let q = Queue::<u64, N>::starting_at(start);
    let mut pushed = 0u64;
    let mut popped = 0u64;
    for _ in 0..10 * N {
        while q.push(pushed).is_ok() {
            pushed += 1;
        }
        assert_eq!(q.len(), N, "full after wrap");
        assert_eq!(q.pop(), Some(popped));
        popped += 1;
    }
    while let Some(v) = q.pop() {
        assert_eq!(v, popped);
        popped += 1;
    }
    assert_eq!(pushed, popped);
    assert!(pushed as usize >= 10 * N);
}

#[test]
fn drops_what_is_left() {
    let item = Arc::new(());
    {
        let q = Queue::<Arc<()>, 4>::new();
        for _ in 0..3 {
            q.push(item.clone()).unwrap();
        }
        drop(q.pop());
    }
    assert_eq!(Arc::strong_count(&item), 1);
}

#[test]
fn threads_deliver_exactly_once() {
    const PER: usize = if cfg!(miri) { 50 } else { 20_000 };
    let q = Arc::new(Queue::<usize, 8>::new());
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    let mut v = p * PER + i;
                    while let Err(back) = q.push(v) {
                        v = back;
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let taken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let (q, taken) = (q.clone(), taken.clone());
            std::thread::spawn(move || {
                let mut got = Vec::new();
                let mut last = [None::<usize>; 2];
                while taken.load(std::sync::atomic::Ordering::Relaxed) < 2 * PER {
                    match q.pop() {
                        Some(v) => {
                            taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let p = v / PER;
                            assert!(last[p].is_none_or(|l| l < v), "per-producer FIFO");
                            last[p] = Some(v);
                            got.push(v);
                        }
                        None => std::thread::yield_now(),
                    }
                }
                got
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut all: Vec<usize> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..2 * PER).collect::<Vec<_>>());
}
