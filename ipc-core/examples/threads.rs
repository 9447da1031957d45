//! Four producer threads and four consumer threads share one `ByteQueue` in a plain
//! heap region: every message arrives once, in order per producer.
//!
//! `cargo run --release -p ipc-core --example threads`

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::Instant;

use ipc_core::{ByteQueue, Config, PopError, PushError, Region};

const PRODUCERS: u64 = 4;
const CONSUMERS: usize = 4;
const PER_PRODUCER: u64 = 250_000;
const CAPACITY: usize = 256;
const MAX_LEN: usize = 64;
const SIZE: usize = match ByteQueue::memory_size(Config::new(CAPACITY, MAX_LEN)) {
    Ok(size) => size,
    Err(_) => panic!("bad layout"),
};

fn main() {
    let mut region = Box::new(Region::<SIZE>::new());
    let queue =
        ByteQueue::init(region.as_mut_slice(), Config::new(CAPACITY, MAX_LEN)).expect("init");
    println!("ByteQueue: {CAPACITY} slots × {MAX_LEN} B in a {SIZE}-byte region");
    println!("{PRODUCERS} producers × {PER_PRODUCER} messages → {CONSUMERS} consumers");

    let delivered = AtomicU64::new(0);
    let full_retries = AtomicU64::new(0);
    let total = PRODUCERS * PER_PRODUCER;
    let start = Instant::now();
    let sums: Vec<u64> = thread::scope(|s| {
        for producer in 0..PRODUCERS {
            let (queue, full_retries) = (&queue, &full_retries);
            s.spawn(move || {
                for seq in 0..PER_PRODUCER {
                    let mut msg = [0u8; 16];
                    msg[..8].copy_from_slice(&producer.to_le_bytes());
                    msg[8..].copy_from_slice(&seq.to_le_bytes());
                    while let Err(PushError::Full) = queue.try_push(&msg) {
                        full_retries.fetch_add(1, Relaxed);
                        thread::yield_now();
                    }
                }
            });
        }
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let (queue, delivered) = (&queue, &delivered);
                s.spawn(move || {
                    let mut last = [None::<u64>; PRODUCERS as usize];
                    let mut sum = 0;
                    let mut buf = [0u8; MAX_LEN];
                    while delivered.load(Relaxed) < total {
                        match queue.try_pop(&mut buf) {
                            Ok(16) => {
                                let producer = u64::from_le_bytes(buf[..8].try_into().unwrap());
                                let seq = u64::from_le_bytes(buf[8..16].try_into().unwrap());
                                let last = &mut last[producer as usize];
                                assert!(last.is_none_or(|l| l < seq), "out of order");
                                *last = Some(seq);
                                sum += seq;
                                delivered.fetch_add(1, Relaxed);
                            }
                            Err(PopError::Empty) => thread::yield_now(),
                            other => panic!("unexpected pop result {other:?}"),
                        }
                    }
                    sum
                })
            })
            .collect();
        consumers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let elapsed = start.elapsed();

    let expected = PRODUCERS * (PER_PRODUCER * (PER_PRODUCER - 1) / 2);
    assert_eq!(
        sums.iter().sum::<u64>(),
        expected,
        "lost or duplicated messages"
    );
    println!(
        "delivered {total} messages exactly once, in order per producer, in {elapsed:.2?} ({:.1} M msgs/s)",
        total as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!(
        "producers found the queue full {} times; losses: {:?}",
        full_retries.load(Relaxed),
        queue.stats()
    );
}
