//! What `JoinableQueue`'s counting costs: put + get + task_done of one `u64` in one thread,
//! next to `Queue<u64>`'s put + get, in the same run. The difference is the unfinished
//! counter (an add on put, a compare-and-swap on task_done), the held count in the crash-aware
//! ledger (an add inside the get's claim, a subtract in task_done, each under a process-local
//! lock) and the look at the lost count.
//!
//! Every benchmark checks its result once before timing.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use host_runtime::{JoinableQueue, Queue};

fn put_get_done(c: &mut Criterion) {
    let mut g = c.benchmark_group("joinable_put_get_u64_single_thread");

    let q = Queue::<u64>::new(1024).expect("queue");
    let round = |q: &Queue<u64>| {
        q.put(black_box(42)).expect("put");
        q.get().expect("get")
    };
    assert_eq!(round(&q), 42);
    g.bench_function("Queue<u64> put+get", |b| b.iter(|| round(&q)));

    let j = JoinableQueue::<u64>::new(1024).expect("queue");
    let round = |j: &JoinableQueue<u64>| {
        j.put(black_box(42)).expect("put");
        let item = j.get().expect("get");
        j.task_done().expect("task_done");
        item
    };
    assert_eq!(round(&j), 42);
    assert_eq!(j.unfinished_tasks(), 0);
    g.bench_function("JoinableQueue<u64> put+get+task_done", |b| {
        b.iter(|| round(&j))
    });
    assert_eq!(j.unfinished_tasks(), 0);

    g.finish();
}

criterion_group!(benches, put_get_done);
criterion_main!(benches);
