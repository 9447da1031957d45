//! ipc-core against its in-process peers: single-thread push+pop of one 64-byte message.
//!
//! Every benchmark checks that the message comes back intact before it is timed.

#![deny(unsafe_code)]

use std::hint::black_box;

use benches::ids::{group, push_pop};
use criterion::{criterion_group, criterion_main, Criterion};
use crossbeam_queue::ArrayQueue;
use ipc_core::{ByteQueue, Config, Queue, Region};

/// heapless's MPMC queue takes at most 128 slots; every peer gets the same capacity.
const CAP: usize = 128;
type Msg = [u8; 64];
const MSG: Msg = {
    let mut m = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        m[i] = i as u8;
        i += 1;
    }
    m
};
const REGION: usize = match ByteQueue::memory_size(Config::new(CAP, 64)) {
    Ok(n) => n,
    Err(_) => panic!("layout"),
};

fn single_thread_push_pop(c: &mut Criterion) {
    let mut g = c.benchmark_group(group::PUSH_POP_64B);

    let mut region = Box::new(Region::<REGION>::new());
    let bq = ByteQueue::init(region.as_mut_slice(), Config::new(CAP, 64)).unwrap();
    let round = |bq: &ByteQueue<'_>| {
        bq.try_push(black_box(&MSG)).unwrap();
        let mut out = [0u8; 64];
        let n = bq.try_pop(&mut out).unwrap();
        (n, out)
    };
    assert_eq!(round(&bq), (64, MSG));
    g.bench_function(push_pop::BYTE_QUEUE, |b| b.iter(|| round(&bq)));

    // The slot views of the closure API: write the message in, read one byte back out.
    let views = |bq: &ByteQueue<'_>| {
        bq.try_push_with(64, |slot| {
            slot.write(black_box(&MSG));
        })
        .unwrap();
        bq.try_pop_with(|m| {
            let mut last = [0u8; 1];
            m.read_at(63, &mut last);
            last[0]
        })
        .unwrap()
    };
    assert_eq!(views(&bq), 63);
    g.bench_function("ipc_core::ByteQueue (slot views)", |b| {
        b.iter(|| views(&bq))
    });

    let typed: Box<Queue<Msg, CAP>> = Box::new(Queue::new());
    let round = |q: &Queue<Msg, CAP>| {
        q.push(black_box(MSG)).unwrap();
        q.pop().unwrap()
    };
    assert_eq!(round(&typed), MSG);
    g.bench_function("ipc_core::Queue<[u8; 64]>", |b| b.iter(|| round(&typed)));

    let cb = ArrayQueue::<Msg>::new(CAP);
    let round = |q: &ArrayQueue<Msg>| {
        q.push(black_box(MSG)).unwrap();
        q.pop().unwrap()
    };
    assert_eq!(round(&cb), MSG);
    g.bench_function(push_pop::CROSSBEAM, |b| b.iter(|| round(&cb)));

    // heapless's MPMC queue is deprecated (its u8 counters wrap; see ipc-core's docs).
    #[allow(deprecated)]
    let hl: Box<heapless::mpmc::Queue<Msg, CAP>> = Box::new(heapless::mpmc::Queue::new());
    let round = |q: &heapless::mpmc::Queue<Msg, CAP>| {
        q.enqueue(black_box(MSG)).unwrap();
        q.dequeue().unwrap()
    };
    assert_eq!(round(&hl), MSG);
    g.bench_function(push_pop::HEAPLESS_MPMC, |b| b.iter(|| round(&hl)));

    let mut spsc: Box<heapless::spsc::Queue<Msg, CAP>> = Box::new(heapless::spsc::Queue::new());
    let (mut tx, mut rx) = spsc.split();
    let mut round = || {
        tx.enqueue(black_box(MSG)).unwrap();
        rx.dequeue().unwrap()
    };
    assert_eq!(round(), MSG);
    g.bench_function("heapless::spsc::Queue<[u8; 64]>", |b| b.iter(&mut round));

    g.finish();
}

criterion_group!(benches, single_thread_push_pop);
criterion_main!(benches);
