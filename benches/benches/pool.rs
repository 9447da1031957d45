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
//! Each scenario's result is checked once before it is timed.

#![deny(unsafe_code)]

use std::hint::black_box;
use std::time::Duration;

use benches::ids::{group, pool as ids};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use host_runtime::pool::Pool;

fn noop(x: u64) -> u64 {
    x
}

const TASKS: u64 = 10_000;

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
    targets = apply_async, map
}
criterion_main!(benches);
