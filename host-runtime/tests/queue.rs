//! Integration tests for [`host_runtime::Queue`] and [`host_runtime::RawQueue`]: most fork real
//! processes with [`Process`].
//!
//! Each test body runs under [`watchdog`], so a bug that blocks (a lost wake-up, a deadlocked
//! child) fails the test instead of hanging the run, and one at a time (`common::SERIAL`): the
//! timing tests and the RSS test must not share the two cores with a 4 × 4 process storm.
//!
//! No test sleeps to synchronise. Where a test needs "the other side is blocked in the
//! kernel", it waits until [`Queue::waiters`] says so: a condition nothing notifies, re-checked
//! with `yield_now` ([`wait_until`]). No test asserts a maximum run time.

mod common;

use common::{children_of_self, join_ok, spawn, watchdog_secs};
use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use std::thread;
use std::time::{Duration, Instant};

use host_runtime::queue::{Builder, SizeClassStats, Waiters, UNBOUNDED_CAPACITY};
use host_runtime::shared::region::ClaimError;
use host_runtime::shm::ShmError;
use host_runtime::sys::{self, Pid, Signal};
use host_runtime::{
    DecodeErrorKind, GetError, GetNowaitError, GetTimeoutError, Process, PutError, PutNowaitError,
    PutTimeoutError, Queue, QueueError, RawGetTimeoutError, RawPutError, RawQueue,
};
use serde::{Deserialize, Serialize};

fn watchdog(body: impl FnOnce() + Send + 'static) {
    watchdog_secs(60, body);
}

/// Re-checks `cond` until it holds, failing after `timeout`. Only for conditions no
/// notification reports (another process blocked in the kernel).
fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::yield_now();
    }
}

/// Resident set size of this process in KiB (`/proc/self/statm`, shared pages included).
fn rss_kib() -> usize {
    let statm = fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

/// CPU time of the calling thread in clock ticks (`/proc/thread-self/stat`, utime + stime).
fn thread_cpu_ticks() -> u64 {
    let stat = fs::read_to_string("/proc/thread-self/stat").unwrap();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A name for a named queue, unique to this test run.
fn unique_name(tag: &str) -> String {
    format!("host-runtime-test-{}-{tag}", std::process::id())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
    Circle { r: f64 },
    Polygon(Vec<(i32, i32)>),
    Empty,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    name: String,
    tags: Vec<String>,
    shape: Shape,
    payload: Vec<u8>,
}

#[test]
fn serde_types_round_trip_in_order() {
    watchdog(|| {
        let q = Queue::<Record>::new(0).unwrap();
        let records: Vec<Record> = (0..50)
            .map(|i| Record {
                id: i,
                name: format!("record-{i}"),
                tags: (0..i % 4).map(|t| format!("t{t}")).collect(),
                shape: match i % 3 {
                    0 => Shape::Circle { r: i as f64 / 2.0 },
                    1 => Shape::Polygon((0..i as i32).map(|k| (k, -k)).collect()),
                    _ => Shape::Empty,
                },
                // Some inline, some through each blob class.
                payload: vec![i as u8; [0, 10, 200, 5000, 70_000][i as usize % 5]],
            })
            .collect();
        for r in &records {
            q.put(r.clone()).unwrap();
        }
        assert_eq!(q.qsize(), records.len());
        for r in &records {
            assert_eq!(&q.get().unwrap(), r);
        }
        assert!(q.empty());
        let strings = Queue::<String>::new(2).unwrap();
        strings.put("héllo".to_string()).unwrap();
        assert_eq!(strings.get().unwrap(), "héllo");
    });
}

#[test]
fn fifo_across_fork() {
    watchdog(|| {
        const N: u64 = 100_000;
        let q = Queue::<u64>::new(64).unwrap();
        let tx = q.clone();
        let p = spawn(move || {
            for i in 0..N {
                tx.put(i).unwrap();
            }
        });
        for i in 0..N {
            assert_eq!(q.get().unwrap(), i);
        }
        join_ok(&p);
        assert!(q.empty());
    });
}

#[test]
fn timeouts_are_never_early() {
    watchdog(|| {
        let q = Queue::<u32>::new(3).unwrap();
        for timeout in [0, 1, 20, 150].map(Duration::from_millis) {
            let t = Instant::now();
            assert!(matches!(
                q.get_timeout(timeout),
                Err(GetTimeoutError::Timeout)
            ));
            let waited = t.elapsed();
            assert!(
                waited >= timeout,
                "get_timeout({timeout:?}) returned after {waited:?}"
            );
        }
        for i in 0..3 {
            q.put(i).unwrap();
        }
        for timeout in [0, 1, 20, 150].map(Duration::from_millis) {
            let t = Instant::now();
            assert!(matches!(
                q.put_timeout(7, timeout),
                Err(PutTimeoutError::Timeout(7))
            ));
            let waited = t.elapsed();
            assert!(
                waited >= timeout,
                "put_timeout({timeout:?}) returned after {waited:?}"
            );
        }
        assert_eq!(q.qsize(), 3);
    });
}

#[test]
fn blocked_get_sleeps_without_cpu() {
    watchdog(|| {
        let q = Queue::<u32>::new(3).unwrap();
        let before = thread_cpu_ticks();
        let timeout = Duration::from_millis(500);
        assert!(matches!(
            q.get_timeout(timeout),
            Err(GetTimeoutError::Timeout)
        ));
        let used = thread_cpu_ticks() - before;
        // A spinning wait would use all 50 ticks (100 Hz); sleeping uses none or one.
        assert!(
            used <= 5,
            "a blocked get used {used} ticks of CPU in 500 ms"
        );
    });
}

#[test]
fn signals_never_break_a_blocking_call() {
    watchdog(|| {
        let usr1 = Signal::from_raw(libc::SIGUSR1).unwrap();
        let q = Queue::<u32>::new(2).unwrap();
        let stop = Queue::<u32>::new(1).unwrap();
        let (rx, done) = (q.clone(), stop.clone());
        let p = spawn(move || {
            sys::set_interrupting_noop_handler(usr1).unwrap();
            // Each signal interrupts the futex wait with EINTR; the calls carry on.
            let timeout = Duration::from_millis(300);
            let t = Instant::now();
            assert!(matches!(
                rx.get_timeout(timeout),
                Err(GetTimeoutError::Timeout)
            ));
            assert!(t.elapsed() >= timeout, "EINTR ended the wait early");
            assert_eq!(rx.get().unwrap(), 42, "EINTR ended the wait early");
            done.put(0).unwrap();
        });
        let pid = p.pid().unwrap();
        // Signal the child while it waits in `get_timeout`, then in `get`, until it is done.
        let mut sent = 0;
        let mut put = false;
        while stop.get_timeout(Duration::from_millis(1)).is_err() {
            if q.waiters().getters >= 1 {
                sys::kill(pid, usr1).unwrap();
                sent += 1;
                if sent >= 400 && !put {
                    q.put(42).unwrap();
                    put = true;
                }
            }
        }
        join_ok(&p);
        assert!(sent >= 400);
    });
}

#[test]
fn blocked_get_is_released_by_another_process() {
    watchdog(|| {
        let q = Queue::<String>::new(3).unwrap();
        let tx = q.clone();
        let p = spawn(move || {
            wait_until(Duration::from_secs(20), "the parent blocks in get", || {
                tx.waiters().getters >= 1
            });
            tx.put("wake up".to_string()).unwrap();
        });
        assert_eq!(q.get().unwrap(), "wake up");
        join_ok(&p);
        assert_eq!(q.waiters(), Waiters::default());
    });
}

#[test]
fn blocked_put_is_released_by_another_process() {
    watchdog(|| {
        let q = Queue::<u32>::new(1).unwrap();
        q.put(1).unwrap();
        let rx = q.clone();
        let p = spawn(move || {
            wait_until(Duration::from_secs(20), "the parent blocks in put", || {
                rx.waiters().putters >= 1
            });
            assert_eq!(rx.get().unwrap(), 1);
        });
        q.put(2).unwrap();
        join_ok(&p);
        assert_eq!(q.get_nowait().unwrap(), 2);
    });
}

#[test]
fn blocked_put_waits_for_a_free_blob_chunk() {
    watchdog(|| {
        // One 64 KiB chunk: the second long message must wait for the first to be taken.
        let q = Queue::<Vec<u8>>::builder()
            .maxsize(8)
            .size_class(64 << 10, 1)
            .build()
            .unwrap();
        q.put(vec![1; 60_000]).unwrap();
        let err = q.put_nowait(vec![2; 60_000]).unwrap_err();
        assert!(matches!(&err, PutNowaitError::Full(v) if v.len() == 60_000 && v[0] == 2));
        let rx = q.clone();
        let p = spawn(move || {
            wait_until(
                Duration::from_secs(20),
                "the parent waits for a chunk",
                || rx.waiters().putters >= 1,
            );
            assert_eq!(rx.get().unwrap(), vec![1; 60_000]);
        });
        q.put(err.into_inner()).unwrap();
        join_ok(&p);
        assert_eq!(q.get().unwrap(), vec![2; 60_000]);
        assert_eq!(
            q.pool_stats(),
            vec![SizeClassStats {
                chunk_size: 64 << 10,
                free: 1,
                total: 1
            }]
        );
    });
}

/// `put_ref` sends what `put` sends, inline and through a blob chunk, across a fork, while
/// the sender keeps (and reuses) its buffer; a message too large is refused with its length,
/// and nothing is left in the queue.
#[test]
fn put_ref_sends_a_copy_and_keeps_the_value() {
    watchdog(|| {
        const N: u8 = 200;
        let q = Queue::<Vec<u8>>::builder()
            .maxsize(8)
            .max_message_size(10_000)
            .build()
            .unwrap();
        let tx = q.clone();
        let p = spawn(move || {
            let (mut short, mut long) = (vec![0u8; 64], vec![0u8; 3000]);
            for i in 0..N {
                short.fill(i);
                long.fill(i);
                tx.put_ref(&short).unwrap();
                tx.put_ref(&long).unwrap();
            }
            assert_eq!(
                (short[0], long[2999]),
                (N - 1, N - 1),
                "the sender's values"
            );
        });
        for i in 0..N {
            assert_eq!(q.get().unwrap(), vec![i; 64]);
            assert_eq!(q.get().unwrap(), vec![i; 3000]);
        }
        join_ok(&p);
        let big = vec![5u8; 20_000];
        assert!(matches!(
            q.put_ref(&big),
            Err(PutError::TooLarge { item: (), len, max: 10_000 }) if len > 20_000
        ));
        assert!(q.empty());
        assert!(q.pool_stats().iter().all(|c| c.free == c.total));
    });
}

#[test]
fn full_empty_and_too_large_hand_items_back() {
    watchdog(|| {
        let q = Queue::<Vec<u8>>::builder()
            .maxsize(3)
            .max_message_size(10_000)
            .build()
            .unwrap();
        assert!(q.empty() && !q.full() && q.qsize() == 0);
        assert!(matches!(q.get_nowait(), Err(GetNowaitError::Empty)));
        for i in 0..3u8 {
            q.put(vec![i; 10]).unwrap();
        }
        assert!(q.full() && !q.empty() && q.qsize() == 3);
        match q.put_nowait(vec![9; 10]) {
            Err(PutNowaitError::Full(item)) => assert_eq!(item, vec![9; 10]),
            other => panic!("expected Full, got {other:?}"),
        }
        assert_eq!(q.qsize(), 3);
        q.get().unwrap();
        match q.put(vec![5; 20_000]) {
            Err(PutError::TooLarge { item, len, max }) => {
                assert_eq!(item, vec![5; 20_000]);
                assert!(len > 20_000);
                assert_eq!(max, 10_000);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert_eq!(q.qsize(), 2);
        for i in 1..3u8 {
            assert_eq!(q.get().unwrap(), vec![i; 10]);
        }
        assert!(q.empty());
        // Every chunk is back in its pool.
        assert!(q.pool_stats().iter().all(|c| c.free == c.total));

        let raw = RawQueue::builder()
            .maxsize(2)
            .max_message_size(100)
            .build_raw()
            .unwrap();
        assert!(matches!(
            raw.put([0u8; 101]),
            Err(RawPutError::TooLarge {
                len: 101,
                max: 100,
                ..
            })
        ));
        raw.put([1u8; 100]).unwrap();
        assert_eq!(raw.get().unwrap(), [1u8; 100]);
    });
}

/// The failures the three forms of a call share convert into the wider error types, for `?`;
/// the extra variant says only how the wait ended.
#[test]
fn the_shared_failures_convert_into_the_wider_error_types() {
    fn put_both(q: &Queue<Vec<u8>>, item: Vec<u8>) -> Result<(), PutNowaitError<Vec<u8>>> {
        q.put(item.clone())?;
        q.put_nowait(item)
    }
    fn get_both(q: &RawQueue) -> Result<Vec<u8>, RawGetTimeoutError> {
        q.get()?;
        q.get_timeout(Duration::from_millis(1))
    }
    watchdog(|| {
        let q = Queue::<Vec<u8>>::builder()
            .maxsize(1)
            .max_message_size(100)
            .build()
            .unwrap();
        match put_both(&q, vec![0; 200]) {
            Err(PutNowaitError::TooLarge { item, len, max }) => {
                assert_eq!((item.len(), max), (200, 100));
                assert!(len > 200);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        match put_both(&q, vec![1; 10]) {
            Err(e @ PutNowaitError::Full(_)) => assert_eq!(e.into_inner(), [1; 10]),
            other => panic!("expected Full, got {other:?}"),
        }
        let raw = RawQueue::new(2).unwrap();
        raw.put(b"one").unwrap();
        assert!(matches!(get_both(&raw), Err(RawGetTimeoutError::Timeout)));
    });
}

#[test]
fn encode_errors_hand_items_back() {
    watchdog(|| {
        struct Unsized(Vec<u8>);
        impl Serialize for Unsized {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                // A sequence of unknown length: postcard refuses it.
                s.collect_seq(self.0.iter().filter(|_| true))
            }
        }
        impl<'de> Deserialize<'de> for Unsized {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Vec::<u8>::deserialize(d).map(Unsized)
            }
        }
        let q = Queue::<Unsized>::new(2).unwrap();
        match q.put(Unsized(vec![1, 2, 3])) {
            Err(PutError::Encode { item, .. }) => assert_eq!(item.0, [1, 2, 3]),
            other => panic!("expected Encode, got {:?}", other.err()),
        }
        assert!(q.empty());

        // A message of another type is taken off and reported, not mistaken.
        let raw_name = unique_name("decode");
        let typed = Queue::<String>::builder()
            .maxsize(2)
            .create_named(&raw_name)
            .unwrap();
        // Any queue opens as bytes.
        let raw = RawQueue::open_named(&raw_name).unwrap();
        RawQueue::unlink_named(&raw_name).unwrap();
        raw.put([0xff, 0xff, 0xff]).unwrap();
        assert!(matches!(typed.get(), Err(GetError::Decode(_))));
        assert!(typed.empty());
    });
}

#[test]
fn named_queues_record_their_item_type() {
    watchdog(|| {
        let name = unique_name("typed");
        let q = Queue::<u64>::builder()
            .maxsize(4)
            .create_named(&name)
            .unwrap();
        // Another type: refused at open, saying both fingerprints.
        match Queue::<u8>::open_named(&name) {
            Err(QueueError::WrongItemType {
                type_name,
                expected,
                found,
            }) => {
                assert_eq!(type_name, "u8");
                assert_ne!(expected, found);
                assert_ne!(found, 0);
                // The same type is the one recorded.
                match Queue::<u64>::open_named(&name) {
                    Ok(same) => {
                        q.put(300).unwrap();
                        assert_eq!(same.get().unwrap(), 300);
                    }
                    Err(e) => panic!("the same type must open: {e}"),
                }
            }
            other => panic!("expected WrongItemType, got {:?}", other.err()),
        }
        assert!(matches!(
            Queue::<String>::open_named(&name),
            Err(QueueError::WrongItemType { .. })
        ));
        // Bytes open any queue.
        assert!(RawQueue::open_named(&name).is_ok());
        Queue::<u64>::unlink_named(&name).unwrap();

        // An untyped queue records no type: a typed open is refused.
        let raw_name = unique_name("untyped");
        let _raw = Builder::new()
            .maxsize(2)
            .create_named_raw(&raw_name)
            .unwrap();
        assert!(matches!(
            Queue::<Vec<u8>>::open_named(&raw_name),
            Err(QueueError::WrongItemType { found: 0, .. })
        ));
        RawQueue::unlink_named(&raw_name).unwrap();
    });
}

#[test]
fn bytes_left_after_the_item_are_a_decode_error() {
    watchdog(|| {
        let name = unique_name("trailing");
        let q = Queue::<u8>::builder()
            .maxsize(4)
            .max_message_size(1 << 16)
            .create_named(&name)
            .unwrap();
        let raw = RawQueue::open_named(&name).unwrap();
        RawQueue::unlink_named(&name).unwrap();
        // 300u64 is the varint [0xac, 0x02]: a u8 decoder takes 0xac = 172 and leaves 0x02.
        raw.put(postcard::to_allocvec(&300u64).unwrap()).unwrap();
        assert!(matches!(
            q.get(),
            Err(GetError::Decode(e)) if e.kind() == DecodeErrorKind::TrailingBytes
        ));
        // The same through a blob chunk (a long message).
        let mut long = vec![7u8];
        long.resize(5000, 0);
        raw.put(long).unwrap();
        assert!(matches!(q.get(), Err(GetError::Decode(_))));
        // A whole u8 still decodes.
        raw.put([9]).unwrap();
        assert_eq!(q.get().unwrap(), 9);
        assert!(q.empty());
    });
}

#[test]
fn one_mib_messages_across_processes() {
    watchdog(|| {
        const MIB: usize = 1 << 20;
        let q = Queue::<Vec<u8>>::new(2).unwrap();
        let raw = RawQueue::new(2).unwrap();
        let (tx, raw_tx) = (q.clone(), raw.clone());
        let p = spawn(move || {
            for i in 0..6u8 {
                let message: Vec<u8> = (0..MIB).map(|k| (k as u8).wrapping_add(i)).collect();
                tx.put(message).unwrap();
            }
            raw_tx.put(vec![0xAB; MIB]).unwrap();
            raw_tx.put(vec![0xCD; 4 * MIB]).unwrap();
        });
        for i in 0..6u8 {
            let message = q.get().unwrap();
            assert_eq!(message.len(), MIB);
            assert!(message
                .iter()
                .enumerate()
                .all(|(k, &b)| b == (k as u8).wrapping_add(i)));
        }
        assert_eq!(raw.get().unwrap(), vec![0xAB; MIB]);
        assert_eq!(raw.get().unwrap(), vec![0xCD; 4 * MIB]);
        join_ok(&p);
        assert!(q.pool_stats().iter().all(|c| c.free == c.total));
        assert!(raw.pool_stats().iter().all(|c| c.free == c.total));
        // Just above the default maximum (4 MiB encoded): refused, handed back.
        match raw.put(vec![0u8; 4 * MIB + 1]) {
            Err(RawPutError::TooLarge { item, .. }) => assert_eq!(item.len(), 4 * MIB + 1),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    });
}

#[test]
fn four_producers_four_consumers_no_loss_no_duplicate() {
    watchdog_secs(300, || {
        const PRODUCERS: u64 = 4;
        const CONSUMERS: usize = 4;
        const PER_PRODUCER: u64 = 250_000;
        const TOTAL: usize = (PRODUCERS * PER_PRODUCER) as usize;
        const STOP: u64 = u64::MAX;

        let q = Queue::<u64>::new(1024).unwrap();
        // Each consumer reports a bitmap of what it got, and how many it got.
        let results = Queue::<(Vec<u8>, u64)>::new(CONSUMERS).unwrap();

        let consumers: Vec<Process> = (0..CONSUMERS)
            .map(|_| {
                let (q, results) = (q.clone(), results.clone());
                spawn(move || {
                    let mut seen = vec![0u8; TOTAL / 8];
                    let mut last = [None::<u64>; PRODUCERS as usize];
                    let mut count = 0;
                    loop {
                        let v = q.get().unwrap();
                        if v == STOP {
                            break;
                        }
                        let (producer, seq) = ((v >> 32) as usize, v & 0xffff_ffff);
                        // FIFO: one consumer sees each producer's items in order.
                        assert!(last[producer].is_none_or(|l| l < seq), "out of order");
                        last[producer] = Some(seq);
                        let bit = producer * PER_PRODUCER as usize + seq as usize;
                        assert_eq!(seen[bit / 8] & (1 << (bit % 8)), 0, "duplicate {v:#x}");
                        seen[bit / 8] |= 1 << (bit % 8);
                        count += 1;
                    }
                    results.put((seen, count)).unwrap();
                })
            })
            .collect();
        let producers: Vec<Process> = (0..PRODUCERS)
            .map(|producer| {
                let q = q.clone();
                spawn(move || {
                    for seq in 0..PER_PRODUCER {
                        q.put(producer << 32 | seq).unwrap();
                    }
                })
            })
            .collect();
        for p in &producers {
            join_ok(p);
        }
        for _ in 0..CONSUMERS {
            q.put(STOP).unwrap();
        }
        let mut all = vec![0u8; TOTAL / 8];
        let mut total = 0;
        for _ in 0..CONSUMERS {
            let (seen, count) = results.get().unwrap();
            for (a, s) in all.iter_mut().zip(&seen) {
                assert_eq!(*a & s, 0, "an item was taken by two consumers");
                *a |= s;
            }
            total += count;
        }
        for p in &consumers {
            join_ok(p);
        }
        assert_eq!(total, TOTAL as u64);
        assert!(all.iter().all(|&b| b == 0xff), "an item was lost");
        assert!(q.empty());
        let ours: HashSet<Pid> = producers
            .iter()
            .chain(&consumers)
            .map(|p| p.pid().unwrap())
            .collect();
        assert!(
            children_of_self().is_disjoint(&ours),
            "a child was left unreaped (zombie)"
        );
    });
}

#[test]
fn unbounded_queue_holds_a_million_and_commits_memory_as_used() {
    watchdog_secs(120, || {
        const N: u32 = 1_000_000;
        let before = rss_kib();
        let q = Queue::<u32>::new(0).unwrap();
        assert_eq!(q.capacity(), UNBOUNDED_CAPACITY);
        let made = rss_kib();
        // The ring reserves 128 MiB of address space; creating it commits almost nothing.
        assert!(
            made - before < 2048,
            "creating the queue committed {} KiB",
            made - before
        );
        for i in 0..N {
            q.put_nowait(i).unwrap();
        }
        assert_eq!(q.qsize(), N as usize);
        let filled = rss_kib();
        // One 128-byte slot per message is touched: about 125 MB, not more.
        let per_message = (filled - made) as f64 * 1024.0 / f64::from(N);
        assert!(per_message <= 160.0, "{per_message:.0} bytes per message");
        for i in 0..N {
            assert_eq!(q.get_nowait().unwrap(), i);
        }
        assert!(q.empty());
    });
}

#[test]
fn last_drop_unmaps_the_region() {
    watchdog(|| {
        let mappings = || {
            fs::read_to_string("/proc/self/maps")
                .unwrap()
                .lines()
                .filter(|l| l.contains("/dev/zero (deleted)"))
                .count()
        };
        let before = mappings();
        let q = RawQueue::new(8).unwrap();
        let clone = q.clone();
        assert_eq!(mappings(), before + 1);
        drop(q);
        assert_eq!(mappings(), before + 1, "a clone still holds the region");
        clone.put(b"still mapped").unwrap();
        drop(clone);
        assert_eq!(mappings(), before);
    });
}

#[test]
fn named_queue_between_processes() {
    watchdog(|| {
        let name = unique_name("named");
        let q = Queue::<String>::builder()
            .maxsize(4)
            .create_named(&name)
            .unwrap();
        assert_eq!(q.name(), Some(format!("/{name}").as_str()));
        // The child opens the queue by name (it does not use the inherited handle).
        let child_name = name.clone();
        let p = spawn(move || {
            let q = Queue::<String>::open_named(&child_name).unwrap();
            q.put("by name".to_string()).unwrap();
            q.put("x".repeat(100_000)).unwrap();
        });
        assert_eq!(q.get().unwrap(), "by name");
        assert_eq!(q.get().unwrap().len(), 100_000);
        join_ok(&p);
        let path = format!("/dev/shm/{name}");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        Queue::<String>::unlink_named(&name).unwrap();
        assert!(matches!(
            Queue::<String>::open_named(&name),
            Err(QueueError::Shm(ShmError::NotFound(_)))
        ));
    });
}

#[test]
fn bad_inputs_are_clear_errors() {
    watchdog(|| {
        let config = |r: Result<RawQueue, QueueError>| matches!(r, Err(QueueError::Config(_)));
        assert!(config(Builder::new().inline_max(5).build_raw()));
        assert!(config(Builder::new().inline_max(5000).build_raw()));
        assert!(config(Builder::new().size_class(1001, 4).build_raw()));
        assert!(config(Builder::new().size_class(4096, 0).build_raw()));
        assert!(config(
            Builder::new()
                .size_class(4096, 4)
                .max_message_size(5000)
                .build_raw()
        ));
        assert!(matches!(
            Builder::new().maxsize(usize::MAX).build_raw(),
            Err(QueueError::Layout(_) | QueueError::Config(_))
        ));

        for bad in ["", "a/b", "/", &"n".repeat(300)] {
            assert!(
                matches!(
                    Builder::new().create_named_raw(bad),
                    Err(QueueError::Shm(ShmError::InvalidName(_)))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            RawQueue::open_named("host-runtime-test-no-such-queue"),
            Err(QueueError::Shm(ShmError::NotFound(_)))
        ));

        let name = unique_name("bad");
        let path = format!("/dev/shm/{name}");
        let q = Builder::new().maxsize(4).create_named_raw(&name).unwrap();
        q.put(b"kept").unwrap();
        assert!(matches!(
            Builder::new().create_named_raw(&name),
            Err(QueueError::Shm(ShmError::AlreadyExists(_)))
        ));
        assert_eq!(RawQueue::open_named(&name).unwrap().qsize(), 1);

        // Group or other access: refused.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            RawQueue::open_named(&name),
            Err(QueueError::Shm(ShmError::InsecureMode { mode: 0o640 }))
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();

        // Another owner: refused (changing the owner needs root).
        let me = host_runtime::sys::shm::geteuid();
        if std::os::unix::fs::chown(&path, Some(me + 4242), None).is_ok() {
            assert!(matches!(
                RawQueue::open_named(&name),
                Err(QueueError::Shm(ShmError::NotOwner { owner, expected }))
                    if owner == me + 4242 && expected == me
            ));
            std::os::unix::fs::chown(&path, Some(me), None).unwrap();
        }

        // A size that disagrees with the header: refused.
        let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        file.set_len(len + 4096).unwrap();
        assert!(matches!(
            RawQueue::open_named(&name),
            Err(QueueError::Shm(ShmError::SizeMismatch { .. }))
        ));
        file.set_len(len).unwrap();
        assert_eq!(RawQueue::open_named(&name).unwrap().get().unwrap(), b"kept");

        // A corrupt ring header: refused by ipc-core's validation.
        let mut bytes = fs::read(&path).unwrap();
        let ring_magic = bytes[384..388].to_vec();
        bytes[384..388].copy_from_slice(&[0; 4]);
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            RawQueue::open_named(&name),
            Err(QueueError::Claim(ClaimError::Attach(ipc_core_bad_magic))) if ipc_core_bad_magic.to_string().contains("magic")
        ));
        bytes[384..388].copy_from_slice(&ring_magic);
        // A corrupt queue header: refused.
        bytes[3 * 8] = 0; // capacity 4 → 0
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            RawQueue::open_named(&name),
            Err(QueueError::BadHeader(_))
        ));
        // Not a queue at all.
        fs::write(&path, vec![0u8; len as usize]).unwrap();
        assert!(matches!(
            RawQueue::open_named(&name),
            Err(QueueError::BadHeader(_))
        ));
        RawQueue::unlink_named(&name).unwrap();
    });
}
