//! `Queue<T>` and `RawQueue` in action: typed items between processes, Python's blocking and
//! non-blocking calls, long messages, errors that hand the item back, and a named queue.
//!
//! Run with `cargo run -p host-runtime --example queue`.

use std::error::Error;
use std::time::Duration;

use host_runtime::queue::Builder;
use host_runtime::{
    current_process, GetTimeoutError, Pid, Process, PutError, PutNowaitError, Queue, RawQueue,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
enum Event {
    Started { worker: String, pid: Pid },
    Progress(u8),
    Done { checksum: u64 },
}

fn main() -> Result<(), Box<dyn Error>> {
    // Typed items, any serde type, from several processes into one queue.
    let events = Queue::<Event>::new(0)?;
    let workers: Vec<Process> = (0..3)
        .map(|_| {
            let tx = events.clone();
            Process::new(move || {
                let me = current_process();
                tx.put(Event::Started {
                    worker: me.name().to_string(),
                    pid: me.pid(),
                })
                .unwrap();
                for p in [50, 100] {
                    tx.put(Event::Progress(p)).unwrap();
                }
                tx.put(Event::Done {
                    checksum: u64::from(me.pid().as_raw().unsigned_abs()) * 31,
                })
                .unwrap();
            })
        })
        .collect();
    for w in &workers {
        w.start()?;
    }
    for _ in 0..workers.len() * 4 {
        println!("event: {:?}", events.get()?);
    }
    for w in &workers {
        w.join()?;
    }

    // Blocking, timeouts and "nowait", as in Python; a failed put gives the item back.
    let q = Queue::<String>::new(2)?;
    q.put("a".into())?;
    q.put_timeout("b".into(), Duration::from_millis(10))?;
    if let Err(PutNowaitError::Full(item)) = q.put_nowait("c".into()) {
        println!("full: got {item:?} back; qsize = {}", q.qsize());
    }
    println!("get -> {:?}, {:?}", q.get()?, q.get_nowait()?);
    if let Err(e @ GetTimeoutError::Timeout) = q.get_timeout(Duration::from_millis(10)) {
        println!("get_timeout on an empty queue: {e}");
    }

    // Long messages go through the blob pool; beyond the maximum they are refused.
    let big = Queue::<Vec<u8>>::builder()
        .maxsize(4)
        .max_message_size(2 << 20)
        .build()?;
    big.put(vec![1; 1 << 20])?;
    println!("1 MiB message back: {} bytes", big.get()?.len());
    if let Err(PutError::TooLarge { item, len, max }) = big.put(vec![0; 3 << 20]) {
        println!(
            "refused {len} bytes (max {max}); the {} bytes are ours again",
            item.len()
        );
    }

    // Raw bytes: no encoding, and an allocation-free get.
    let raw = RawQueue::new(8)?;
    raw.put(b"raw bytes")?;
    let mut buf = Vec::with_capacity(64);
    let n = raw.get_into(&mut buf)?;
    println!("raw: {:?}", std::str::from_utf8(&buf[..n])?);

    // A named queue, for processes that are not parent and child.
    let name = format!("host-runtime-example-{}", std::process::id());
    let named = Builder::new().maxsize(4).create_named_raw(&name)?;
    let opened = RawQueue::open_named(&name)?; // what another program would do
    opened.put(b"hello by name")?;
    println!(
        "named {:?}: {:?}",
        named.name(),
        String::from_utf8(named.get()?)?
    );
    RawQueue::unlink_named(&name)?;
    Ok(())
}
