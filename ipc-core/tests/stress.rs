//! Threaded stress: 4 producers × 4 consumers, 1,000,000 messages through one queue.
//! A bitmap proves no message is lost or delivered twice; each consumer checks that it
//! sees every producer's messages in order.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::thread;

use ipc_core::{ByteQueue, Config, Queue, Region};

const PRODUCERS: u64 = 4;
const CONSUMERS: usize = 4;
const PER_PRODUCER: u64 = if cfg!(miri) { 100 } else { 250_000 };
const TOTAL: u64 = PRODUCERS * PER_PRODUCER;

/// Records each message id once; a second delivery fails the test.
struct Seen {
    bits: Vec<AtomicU64>,
    count: AtomicUsize,
}

impl Seen {
    fn new() -> Self {
        Self {
            bits: (0..TOTAL.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicUsize::new(0),
        }
    }

    fn record(&self, id: u64) {
        let bit = 1 << (id % 64);
        let before = self.bits[(id / 64) as usize].fetch_or(bit, Relaxed);
        assert_eq!(before & bit, 0, "message {id} delivered twice");
        self.count.fetch_add(1, Relaxed);
    }

    fn done(&self) -> bool {
        self.count.load(Relaxed) as u64 == TOTAL
    }

    fn assert_all(&self) {
        assert_eq!(self.count.load(Relaxed) as u64, TOTAL);
        for (word, bits) in self.bits.iter().enumerate() {
            let expect = if (word as u64 + 1) * 64 <= TOTAL {
                u64::MAX
            } else {
                (1 << (TOTAL % 64)) - 1
            };
            assert_eq!(
                bits.load(Relaxed),
                expect,
                "messages missing near id {}",
                word * 64
            );
        }
    }
}

/// Checks per-producer FIFO order as one consumer sees it.
struct Order([Option<u64>; PRODUCERS as usize]);

impl Order {
    fn check(&mut self, id: u64) {
        let (producer, seq) = ((id / PER_PRODUCER) as usize, id % PER_PRODUCER);
        assert!(
            self.0[producer].is_none_or(|last| last < seq),
            "producer {producer}: {seq} after {:?}",
            self.0[producer]
        );
        self.0[producer] = Some(seq);
    }
}

/// Runs the scenario with `push(id) -> bool` and `pop() -> Option<id>`.
fn run(push: impl Fn(u64) -> bool + Sync, pop: impl Fn() -> Option<u64> + Sync) {
    let seen = Seen::new();
    thread::scope(|s| {
        for p in 0..PRODUCERS {
            let push = &push;
            s.spawn(move || {
                for id in p * PER_PRODUCER..(p + 1) * PER_PRODUCER {
                    while !push(id) {
                        thread::yield_now();
                    }
                }
            });
        }
        for _ in 0..CONSUMERS {
            let (pop, seen) = (&pop, &seen);
            s.spawn(move || {
                let mut order = Order([None; PRODUCERS as usize]);
                while !seen.done() {
                    match pop() {
                        Some(id) => {
                            order.check(id);
                            seen.record(id);
                        }
                        None => thread::yield_now(),
                    }
                }
            });
        }
    });
    seen.assert_all();
}

#[test]
fn byte_queue_4x4_one_million() {
    const CAP: usize = 64;
    const SIZE: usize = match ByteQueue::memory_size(Config::new(CAP, 32)) {
        Ok(size) => size,
        Err(_) => panic!("layout"),
    };
    let mut region = Box::new(Region::<SIZE>::new());
    let q = ByteQueue::init(region.as_mut_slice(), Config::new(CAP, 32)).unwrap();
    run(
        |id| {
            // A checksum next to the id catches a torn or mixed-up payload.
            let mut msg = [0u8; 16];
            msg[..8].copy_from_slice(&id.to_le_bytes());
            msg[8..].copy_from_slice(&(!id).rotate_left(17).to_le_bytes());
            q.try_push(&msg).is_ok()
        },
        || {
            let mut buf = [0u8; 32];
            let len = q.try_pop(&mut buf).ok()?;
            assert_eq!(len, 16);
            let id = u64::from_le_bytes(buf[..8].try_into().unwrap());
            let check = u64::from_le_bytes(buf[8..16].try_into().unwrap());
            assert_eq!(check, (!id).rotate_left(17), "torn message {id}");
            Some(id)
        },
    );
    assert_eq!(q.len(), 0);
    assert_eq!(q.stats(), Default::default());
}

#[test]
fn typed_queue_4x4_one_million() {
    let q = Box::new(Queue::<(u64, u64), 64>::new());
    run(
        |id| q.push((id, !id)).is_ok(),
        || {
            let (id, check) = q.pop()?;
            assert_eq!(check, !id, "torn value {id}");
            Some(id)
        },
    );
    assert!(q.is_empty());
}
