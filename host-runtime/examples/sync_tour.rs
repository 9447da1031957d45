//! A tour of `host_runtime::sync`: processes increment a `Value<u64>` under its lock, one of
//! them is killed (`SIGKILL`) mid-way, and the total is still exactly what the survivors and the
//! victim's recorded part say. In Python the other processes would wait for ever on the dead
//! process's lock; here the next one to take it is told (`OwnerDied`) and repairs.
//!
//! Run with `cargo run --release -p host-runtime --example sync_tour`.

use std::error::Error;

use host_runtime::sync::{Array, LockError, Value};
use host_runtime::Process;

const WORKERS: usize = 4;
const PER_WORKER: u64 = 200_000;

/// One step: under the lock, the total and this worker's own count go up by one (two stores; a
/// kill between them leaves them apart). Whoever takes the lock from a dead holder recomputes
/// the total from the counts. Returns whether this step found a dead holder.
fn step(total: &Value<u64>, done: &Array<u64>, me: usize) -> bool {
    let lock = total
        .get_lock()
        .expect("a Value made with new() has a lock");
    let (guard, repaired) = match lock.lock() {
        Ok(g) => (g, false),
        Err(LockError::OwnerDied(g)) => {
            total.set(done.to_vec().iter().sum());
            (g, true)
        }
        Err(e) => panic!("{e}"),
    };
    total.set(total.get() + 1);
    done.set(me, done.get(me).expect("in range") + 1)
        .expect("in range");
    drop(guard);
    repaired
}

fn main() -> Result<(), Box<dyn Error>> {
    let total = Value::new(0u64)?;
    let done = Array::new_unlocked(&[0u64; WORKERS])?;
    let repairs = Value::new_unlocked(0u64)?;
    let workers: Vec<Process> = (0..WORKERS)
        .map(|me| {
            let (total, done, repairs) = (total.clone(), done.clone(), repairs.clone());
            let p = Process::new(move || {
                for _ in 0..PER_WORKER {
                    if step(&total, &done, me) {
                        repairs.words()[0].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
            p.start().map(|()| p)
        })
        .collect::<Result<_, _>>()?;
    // Kill worker 0 once it is about a third of the way (no sleep: it is watched).
    while done.get(0)? < PER_WORKER / 3 {
        std::thread::yield_now();
    }
    workers[0].kill()?;
    println!("killed {} mid-way", workers[0].name());
    for p in &workers[1..] {
        assert_eq!(p.join()?, 0);
    }
    let _ = workers[0].join();
    // If the victim died holding the lock after the others finished, our step repairs it.
    if step(&total, &done, 1) {
        repairs.words()[0].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let recorded = done.to_vec();
    let sum: u64 = recorded.iter().sum();
    println!("recorded per worker: {recorded:?} (worker 1 did one more step at the end)");
    println!(
        "total {} = recorded {sum}; lock taken over from the dead {} time(s)",
        total.get(),
        repairs.get()
    );
    assert_eq!(total.get(), sum);
    Ok(())
}
