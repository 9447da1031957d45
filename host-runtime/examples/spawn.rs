//! The spawn start method from a program's own `main`: a thread holds a lock while a child is
//! started; the spawned child, a new run of this program, has its own lock and completes.
//! Then a pool whose workers are spawned too (the program's start method), and one whose
//! workers come from the fork server, each with an initializer, run a `map` while that lock is
//! still held.
//!
//! `cargo run -p host-runtime --example spawn`

use std::sync::{mpsc, Mutex};

use host_runtime::pool;
use host_runtime::process::{self, Builder, StartMethod};

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Runs in the child: takes the lock (a fork child would hang here) and answers.
fn greet(name: String) -> String {
    LOG.lock().unwrap().push(name.clone());
    format!("hello, {name}, from pid {}", std::process::id())
}

/// A pool worker's initializer: takes the lock once (it is free in a re-executed worker).
fn init_worker(tag: String) {
    LOG.lock().unwrap().push(tag);
}

/// A pool task: the lock again, and the work.
fn cube(x: u64) -> u64 {
    assert!(!LOG.lock().unwrap().is_empty(), "the initializer ran first");
    x * x * x
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // In a spawned child this runs the requested function and exits; here it returns.
    process::init();
    process::set_start_method(StartMethod::Spawn)?;

    let (held_tx, held_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _guard = LOG.lock().unwrap();
        held_tx.send(()).unwrap();
        let _ = done_rx.recv();
    });
    held_rx.recv()?;
    let child = Builder::new()
        .name("greeter")
        .run(greet, "world".to_string())?;
    println!("{}", child.join()?);

    // Python's `Pool(2, initializer, initargs)` under the program's method (spawn).
    let spawned = pool::Builder::new()
        .processes(2)
        .initializer_fn(init_worker, "spawned worker".to_string())
        .build()?;
    println!("spawn pool: {:?}", spawned.map(cube, 1..=5u64)?);
    spawned.close()?;
    spawned.join()?;
    let served = pool::Builder::new()
        .processes(2)
        .start_method(StartMethod::Forkserver)
        .initializer_fn(init_worker, "forkserver worker".to_string())
        .build()?;
    println!("forkserver pool: {:?}", served.map(cube, 1..=5u64)?);
    drop(served); // terminates it
    done_tx.send(())?;
    holder.join().unwrap();
    Ok(())
}
