//! A tour of the process pool: `map`, `apply_async` with a callback, `imap_unordered`, a
//! worker killed in the middle of a task (its result becomes an error at once, and the pool
//! replaces it — where Python's pool would hang), and what the pool tables say.
//!
//! Run with `cargo run -p host-runtime --example pool`.

use std::error::Error;
use std::thread;
use std::time::{Duration, Instant};

use host_runtime::pool::{Callbacks, Pool, TaskError, WorkerState};
use host_runtime::sys::{self, Signal};

/// Steps of the Collatz sequence from `n` down to 1.
fn collatz_steps(mut n: u64) -> u32 {
    let mut steps = 0;
    while n > 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

/// A task that never finishes on its own.
fn stuck(_: ()) {
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let pool = Pool::new(2)?;

    // map: results in input order, chunked over the workers.
    let t = Instant::now();
    let steps = pool.map(collatz_steps, 1..=200_000u64)?;
    let (longest, start) = steps.iter().zip(1u64..).max().expect("not empty");
    println!(
        "map: of 1..=200000, {start} takes the most steps ({longest}); {:?}",
        t.elapsed()
    );

    // apply_async with a callback: it runs here, in the parent, before `get` returns.
    let r = pool.apply_async_with(
        collatz_steps,
        27,
        Callbacks::new().on_success(|s: &u32| {
            println!("callback (pid {}): 27 takes {s} steps", std::process::id())
        }),
    )?;
    assert_eq!(r.get()?, 111);

    // imap_unordered: results as they come.
    let firsts: Vec<u32> = pool
        .imap_unordered(collatz_steps, [97u64, 871, 6171, 77031], 1)?
        .collect::<Result<_, _>>()?;
    println!("imap_unordered: {firsts:?}");

    // Kill the worker that runs a stuck task.
    let r = pool.apply_async(stuck, ())?;
    let victim = loop {
        // Polling is fine for a demo: wait until a worker reports it runs the task.
        if let Some(w) = pool
            .workers()
            .into_iter()
            .find(|w| w.state == WorkerState::Running)
        {
            break w.pid.expect("a running worker has recorded its pid");
        }
        thread::sleep(Duration::from_millis(1));
    };
    let t = Instant::now();
    sys::kill(victim, Signal::KILL)?;
    match r.get() {
        Err(e @ TaskError::WorkerDied { .. }) => {
            println!("killed worker {victim}: {e} (after {:?})", t.elapsed())
        }
        other => println!("unexpected: {other:?}"),
    }

    // The pool replaced the worker and goes on.
    assert_eq!(pool.apply(collatz_steps, 9)?, 19);
    for w in pool.workers() {
        println!(
            "worker slot {}: pid {:?}, {:?}, {} tasks done",
            w.id.index(),
            w.pid,
            w.state,
            w.tasks_done
        );
    }
    pool.close()?;
    pool.join()?;
    println!("closed and joined: every worker reaped");
    Ok(())
}
