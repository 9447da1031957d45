//! host-runtime's `Pool` on the scenarios of Python's peer script
//! (`../shared/peers/python_mp_bench.py`, section 3), with 2 workers as there:
//!
//! - `pool_apply_async/10k`: submit 10,000 trivial tasks (`noop(i) -> i`) with `apply_async`,
//!   then `get` every result — Python's `pool_apply_async` (tasks/s).
//! - `pool_apply/round_trip`: one `apply` at a time (latency of a single task; no Python
//!   figure).
//! - `pool_map/100k` and `pool_map/1M`: `map` of 100,000 (Python's size) and 1,000,000 trivial
//!   items with the default chunk size — Python's `pool_map` (items/s).
//!
//! - `pool_big/1MiB_echo`: `map_chunked(echo, [1 MiB Vec<u8>] × 200, 1)`: every task takes a
//!   1 MiB argument and returns it — Python's `pool_big` (tasks/s).
//! - `pool_cpu/map_1ms` and `pool_cpu/serial_1ms`: `map` of 400 tasks that each spin for 1 ms
//!   (wall clock), and the same 400 calls in this process — Python's `pool_cpu` (400 tasks
//!   there too: the default chunk size makes 8 chunks of 50, 4 per worker; with 100 tasks the
//!   chunks of 13 split 52/48 and cap the speed-up at 1.92); the ratio of the two is the
//!   speed-up of 2 workers (≤ 2).
//!
//! Each scenario's result is checked once before it is timed.

#![deny(unsafe_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use benches::ids::{group, pool as ids};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use host_runtime::pool::Pool;

fn noop(x: u64) -> u64 {
    x
}

const TASKS: u64 = 10_000;

fn echo(v: Vec<u8>) -> Vec<u8> {
    v
}

/// Spins for 1 ms (wall clock, as Python's `spin_1ms`); returns `x`.
fn spin_1ms(x: u64) -> u64 {
    let end = Instant::now() + Duration::from_millis(1);
    while Instant::now() < end {
        std::hint::spin_loop();
    }
    x
}

/// Tasks per `pool_big` batch (Python's `n`).
const BIG_TASKS: usize = 200;

fn big(c: &mut Criterion) {
    let pool = Pool::new(2).expect("pool");
    let arg = vec![0x79u8; 1 << 20];
    let batch = |pool: &Pool| {
        pool.map_chunked(echo, std::iter::repeat_n(arg.clone(), BIG_TASKS), 1)
            .expect("map")
    };
    let out = batch(&pool);
    assert_eq!(out.len(), BIG_TASKS);
    assert!(out.iter().all(|v| *v == arg));
    let mut g = c.benchmark_group(group::POOL_BIG);
    g.sample_size(10);
    g.throughput(Throughput::Elements(BIG_TASKS as u64));
    g.bench_function(ids::BIG_ECHO, |b| b.iter(|| black_box(batch(&pool))));
    g.finish();
}

/// Tasks per `pool_cpu` batch (Python's `n`).
const CPU_TASKS: u64 = 400;

fn cpu(c: &mut Criterion) {
    let pool = Pool::new(2).expect("pool");
    let out = pool.map(spin_1ms, 0..CPU_TASKS).expect("map");
    assert!(out.iter().enumerate().all(|(i, &v)| v == i as u64));
    let mut g = c.benchmark_group(group::POOL_CPU);
    g.sample_size(10);
    g.throughput(Throughput::Elements(CPU_TASKS));
    g.bench_function(ids::MAP_1MS, |b| {
        b.iter(|| black_box(pool.map(spin_1ms, 0..CPU_TASKS).expect("map")))
    });
    g.bench_function(ids::SERIAL_1MS, |b| {
        b.iter(|| black_box((0..CPU_TASKS).map(spin_1ms).collect::<Vec<_>>()))
    });
    g.finish();
}

/// Submits `TASKS` tasks, then gets them all; returns the sum of the results.
fn apply_async_batch(pool: &Pool) -> u64 {
    let results: Vec<_> = (0..TASKS)
        .map(|i| pool.apply_async(noop, i).expect("submit"))
        .collect();
    results.iter().map(|r| r.get().expect("result")).sum()
}

fn map_items(pool: &Pool, n: u64) -> Vec<u64> {
    pool.map(noop, 0..n).expect("map")
}

fn apply_async(c: &mut Criterion) {
    let pool = Pool::new(2).expect("pool");
    assert_eq!(apply_async_batch(&pool), TASKS * (TASKS - 1) / 2);
    let mut g = c.benchmark_group(group::POOL_APPLY_ASYNC);
    g.throughput(Throughput::Elements(TASKS));
    g.bench_function(ids::APPLY_ASYNC_10K, |b| {
        b.iter(|| black_box(apply_async_batch(&pool)))
    });
    g.finish();

    assert_eq!(pool.apply(noop, 7).expect("apply"), 7);
    let mut g = c.benchmark_group(group::POOL_APPLY);
    g.throughput(Throughput::Elements(1));
    g.bench_function("round_trip", |b| {
        b.iter(|| black_box(pool.apply(noop, black_box(7)).expect("apply")))
    });
    g.finish();
}

fn map(c: &mut Criterion) {
    let pool = Pool::new(2).expect("pool");
    let mut g = c.benchmark_group(group::POOL_MAP);
    g.sample_size(10);
    for (name, n) in [(ids::MAP_100K, 100_000u64), (ids::MAP_1M, 1_000_000)] {
        let out = map_items(&pool, n);
        assert_eq!(out.len() as u64, n);
        assert!(out.iter().enumerate().all(|(i, &v)| v == i as u64));
        g.throughput(Throughput::Elements(n));
        g.bench_function(name, |b| b.iter(|| black_box(map_items(&pool, n))));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = apply_async, map, big, cpu
}
criterion_main!(benches);
