//! A named pool in a known state, for `ipcctl show` (the README's capture) and the `inspect`
//! fuzz target's template (`fuzz/regions/pool.region`):
//!
//! ```text
//! cargo run -p ipcctl --example pool_region -- NAME [COPY]
//! ```
//!
//! Two workers; five tasks run to the end (four done, one failed), then worker A takes a task
//! that runs until the process ends, worker B one that sleeps in a `get` on an empty queue
//! (blocked), and two more tasks wait behind them. Once both are seen so, the region is copied
//! to `COPY` if given; then the program waits for a line on standard input (meanwhile: `ipcctl
//! show NAME`) and ends, removing the pool's region and the queue.

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

use host_runtime::inspect::{self, RegionSnapshot};
use host_runtime::pool::Builder;
use host_runtime::Queue;

fn echo(x: u32) -> u32 {
    x
}

fn fail(_: ()) -> u32 {
    panic!("this task fails on purpose")
}

/// Runs until its process is killed (the pool's end).
fn spin(_: ()) -> u32 {
    loop {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sleeps in a get on the named queue `name` until something is put.
fn get_one(name: String) -> u64 {
    Queue::<u64>::open_named(&name).unwrap().get().unwrap()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().ok_or("usage: pool_region NAME [COPY]")?;
    let copy = args.next();
    let qname = format!("{name}-q");
    let _ = Queue::<u64>::unlink_named(&qname);
    let queue = Queue::<u64>::builder().maxsize(4).create_named(&qname)?;
    let pool = Builder::new()
        .processes(2)
        .prefetch(1)
        .name(&name)
        .build()?;
    for i in 0..4 {
        pool.apply(echo, i)?;
    }
    assert!(pool.apply(fail, ()).is_err());
    let _spin = pool.apply_async(spin, ())?;
    let _get = pool.apply_async(get_one, qname.clone())?;
    let _waiting: Vec<_> = (10..12)
        .map(|i| pool.apply_async(echo, i))
        .collect::<Result<_, _>>()?;

    let path = Path::new(inspect::SHM_DIR).join(&name);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let RegionSnapshot::Pool(p) = inspect::inspect_region(&path)? {
            let mut states: Vec<_> = p.workers.iter().map(|w| w.state).collect();
            states.sort_unstable();
            if states == ["blocked", "running"] {
                break;
            }
        }
        if Instant::now() > deadline {
            return Err("the workers never got to running and blocked".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Some(copy) = copy {
        std::fs::copy(&path, copy)?;
    }
    println!("pool {name} ready: `ipcctl show {name}`; a line on stdin ends it");
    let _ = std::io::stdin().lock().lines().next();
    queue.put(1)?; // let the blocked task end
    pool.terminate()?;
    drop(pool);
    Queue::<u64>::unlink_named(&qname)?;
    Ok(())
}
