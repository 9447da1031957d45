//! Typed put+get of one 64-byte message in one thread: `host_runtime::Queue<String>` (a
//! 63-character string, 64 bytes encoded) and `RawQueue` (64 bytes), next to crossbeam's
//! `ArrayQueue<String>` (push of a clone + pop) as the in-process anchor.
//!
//! Every benchmark checks its result once before timing.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use crossbeam_queue::ArrayQueue;
use host_runtime::{Queue, RawQueue};

const MSG: usize = 64;

fn put_get(c: &mut Criterion) {
    let mut g = c.benchmark_group("put_get_64B_single_thread");
    let text = "x".repeat(MSG - 1);

    let q = Queue::<String>::new(1024).expect("queue");
    let round = |q: &Queue<String>| {
        q.put(black_box(text.clone())).expect("put");
        q.get().expect("get")
    };
    assert_eq!(round(&q), text);
    g.bench_function("host_runtime::Queue<String>", |b| b.iter(|| round(&q)));

    let raw = RawQueue::new(1024).expect("queue");
    let message = [0x5au8; MSG];
    let round = |buf: &mut Vec<u8>| {
        raw.put(black_box(&message)).expect("put");
        raw.get_into(buf).expect("get")
    };
    let mut buf = Vec::with_capacity(MSG);
    assert_eq!(round(&mut buf), MSG);
    assert_eq!(buf, message);
    g.bench_function("host_runtime::RawQueue", |b| b.iter(|| round(&mut buf)));

    let cb = ArrayQueue::<String>::new(1024);
    let round = |q: &ArrayQueue<String>| {
        q.push(black_box(text.clone())).expect("push");
        q.pop().expect("pop")
    };
    assert_eq!(round(&cb), text);
    g.bench_function("crossbeam::ArrayQueue<String>", |b| b.iter(|| round(&cb)));

    g.finish();
}

criterion_group!(benches, put_get);
criterion_main!(benches);
