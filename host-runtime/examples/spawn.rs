//! The spawn start method from a program's own `main`: a thread holds a lock while a child is
//! started; the spawned child, a new run of this program, has its own lock and completes.
//!
//! `cargo run -p host-runtime --example spawn`

use std::sync::{mpsc, Mutex};

use host_runtime::process::{self, Builder, StartMethod};

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Runs in the child: takes the lock (a fork child would hang here) and answers.
fn greet(name: String) -> String {
    LOG.lock().unwrap().push(name.clone());
    format!("hello, {name}, from pid {}", std::process::id())
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
    done_tx.send(())?;
    holder.join().unwrap();
    Ok(())
}
