//! A rig of persistent producer and consumer threads around any in-process queue, for
//! throughput benches with a fixed number of messages per iteration.
//!
//! The bench thread is consumer 0; the other consumers and all producers are threads that live
//! as long as the [`Rig`] and wait at a [`Gate`] between batches. [`Rig::run`] opens the gate and
//! consumes until every message of the batch has been received (by any consumer), and returns
//! the time from the start signal to that moment. After each batch it checks that the count
//! and the sum of the sequence numbers received are exactly those sent (no loss, no duplicate).

use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use host_runtime::wait::{Backoff, Policy};

use crate::gate::Gate;

/// The producing end of a queue, owned by one producer thread.
pub trait Tx: Send + 'static {
    /// Tries to send the message carrying `seq`; `false` if the queue is full.
    fn try_send(&mut self, seq: u64) -> bool;
}

/// The consuming end of a queue, owned by one consumer thread.
pub trait Rx: Send + 'static {
    /// Tries to receive a message; its `seq`, or `None` if the queue is empty.
    fn try_recv(&mut self) -> Option<u64>;
}

/// Shared counters of the rig.
#[derive(Debug, Default)]
struct Shared {
    gate: Gate,
    /// Messages received so far, all batches (flushed by consumers in bunches).
    received: AtomicU64,
    /// Wrapping sum of the sequence numbers received so far.
    sum: AtomicU64,
}

/// Consumers add to the shared counters after this many messages, or when the queue is empty.
const FLUSH: u64 = 256;

/// Producer and consumer threads around one queue (see the module docs).
#[derive(Debug)]
pub struct Rig<R: Rx> {
    shared: Arc<Shared>,
    rx: R,
    threads: Vec<JoinHandle<()>>,
    per_producer: u64,
    producers: u64,
    batches: u64,
    expected_sum: u64,
}

impl<R: Rx> Rig<R> {
    /// Starts one thread per producer end and per consumer end but the first, which the bench
    /// thread uses; each batch is `per_producer` messages from every producer.
    ///
    /// Producer `p` sends, in batch `b`, the sequence numbers `(b * P + p) * per_producer + k`.
    ///
    /// # Panics
    ///
    /// If there is no consumer end, or a thread can't be started.
    pub fn new<T: Tx>(txs: Vec<T>, mut rxs: Vec<R>, per_producer: u64) -> Self {
        assert!(!rxs.is_empty(), "at least one consumer");
        let shared = Arc::new(Shared::default());
        let producers = txs.len() as u64;
        let rx = rxs.remove(0);
        let mut threads = Vec::new();
        for (p, mut tx) in txs.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            threads.push(spawn(move || {
                let mut seen = 0;
                let mut batch = 0u64;
                while shared.gate.wait(&mut seen) {
                    let base = (batch * producers + p as u64) * per_producer;
                    for k in 0..per_producer {
                        let mut backoff = Backoff::new(Policy::SPIN_THEN_YIELD);
                        while !tx.try_send(base + k) {
                            backoff.snooze();
                        }
                    }
                    batch += 1;
                }
            }));
        }
        for mut rx in rxs {
            let shared = Arc::clone(&shared);
            threads.push(spawn(move || {
                let mut seen = 0;
                let mut batch = 0u64;
                while shared.gate.wait(&mut seen) {
                    batch += 1;
                    consume(&shared, &mut rx, batch * producers * per_producer);
                }
            }));
        }
        Rig {
            shared,
            rx,
            threads,
            per_producer,
            producers,
            batches: 0,
            expected_sum: 0,
        }
    }

    /// Messages per batch.
    pub fn batch_len(&self) -> u64 {
        self.producers * self.per_producer
    }

    /// Runs one batch; the time from the start signal until every message was received.
    ///
    /// # Panics
    ///
    /// If the messages received are not exactly those sent.
    #[inline(never)]
    pub fn run(&mut self) -> Duration {
        let n = self.batch_len();
        // The sequence numbers of this batch: n consecutive numbers from batches * n.
        let first = self.batches * n;
        self.expected_sum = self
            .expected_sum
            .wrapping_add(first.wrapping_mul(n))
            .wrapping_add(n * (n - 1) / 2);
        self.batches += 1;
        let target = self.batches * n;
        let start = Instant::now();
        self.shared.gate.open();
        consume(&self.shared, &mut self.rx, target);
        let elapsed = start.elapsed();
        // Every message was counted, so every consumer has flushed all it received (a consumer
        // flushes before it looks at the total).
        assert_eq!(
            self.shared.received.load(Acquire),
            target,
            "lost or extra messages"
        );
        assert_eq!(
            self.shared.sum.load(Acquire),
            self.expected_sum,
            "wrong messages received"
        );
        elapsed
    }
}

/// Consumes until the shared count reaches `target`.
#[inline(always)]
fn consume(shared: &Shared, rx: &mut impl Rx, target: u64) {
    let mut count = 0u64;
    let mut sum = 0u64;
    let mut backoff = Backoff::new(Policy::SPIN_THEN_YIELD);
    let flush = |count: &mut u64, sum: &mut u64| {
        if *count > 0 {
            // AcqRel: the final Acquire load in `run()` sees every flush before it.
            shared.sum.fetch_add(*sum, AcqRel);
            shared.received.fetch_add(*count, AcqRel);
            *count = 0;
            *sum = 0;
        }
    };
    loop {
        match rx.try_recv() {
            Some(seq) => {
                count += 1;
                sum = sum.wrapping_add(seq);
                if count == FLUSH {
                    flush(&mut count, &mut sum);
                }
                backoff.reset();
            }
            None => {
                flush(&mut count, &mut sum);
                if shared.received.load(Acquire) >= target {
                    return;
                }
                backoff.snooze();
            }
        }
    }
}

fn spawn(f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("bench-rig".into())
        .stack_size(8 << 20)
        .spawn(f)
        .expect("spawn a bench thread")
}

impl<R: Rx> Drop for Rig<R> {
    fn drop(&mut self) {
        self.shared.gate.stop();
        for t in self.threads.drain(..) {
            let r = t.join();
            if !std::thread::panicking() {
                r.expect("a bench thread panicked");
            }
        }
    }
}

/// Runs `f` on a thread with a 256 MiB stack and returns its result: for building large
/// inline-storage queues (`Box::new(Queue::new())` may build the value on the stack first).
///
/// # Panics
///
/// If `f` panics.
pub fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("builder thread panicked")
}
