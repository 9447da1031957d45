//! A tour of host-runtime: processes with names and pids, a producer and a consumer process
//! talking over queues, Python's `Queue(3)` example, a channel that ends, and the speed of a queue against a pipe.
//!
//! Run with `cargo run --release -p host-runtime --example tour`.

use std::error::Error;
use std::fs::File;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use host_runtime::process::Builder;
use host_runtime::{
    current_process, sys, Pid, Process, PutNowaitError, PutTimeoutError, Queue, RawQueue,
};
use serde::{Deserialize, Serialize};

/// A job for the consumer: some text to count the words of.
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    id: u32,
    text: String,
}

/// What the consumer sends back.
#[derive(Debug, Serialize, Deserialize)]
struct Report {
    id: u32,
    words: usize,
    by: String,
    pid: Pid,
}

fn main() -> Result<(), Box<dyn Error>> {
    let me = current_process();
    println!("host-runtime tour — {} (pid {})\n", me.name(), me.pid());

    producer_consumer()?;
    python_seed()?;
    channel_ends()?;
    speed()?;
    Ok(())
}

/// A producer process feeds jobs to a consumer process; the consumer reports back to us.
fn producer_consumer() -> Result<(), Box<dyn Error>> {
    println!("1. Producer and consumer processes over a Queue");
    // `None` is the sentinel that tells the consumer to stop.
    let jobs = Queue::<Option<Job>>::new(0)?;
    let reports = Queue::<Report>::new(0)?;

    let (tx, texts) = (
        jobs.clone(),
        ["to be or not to be", "hello world", "a b c d e f g"],
    );
    let producer = Builder::new().name("producer").spawn(move || {
        for (id, text) in texts.iter().enumerate() {
            let job = Job {
                id: id as u32,
                text: text.to_string(),
            };
            tx.put(Some(job)).expect("put job");
        }
        tx.put(None).expect("put sentinel");
    })?;

    let (rx, out) = (jobs.clone(), reports.clone());
    let consumer = Builder::new().name("consumer").spawn(move || {
        let me = current_process();
        while let Some(job) = rx.get().expect("get job") {
            let report = Report {
                id: job.id,
                words: job.text.split_whitespace().count(),
                by: me.name().to_string(),
                pid: me.pid(),
            };
            out.put(report).expect("put report");
        }
    })?;

    for p in [&producer, &consumer] {
        println!(
            "   started {:<9} pid {}",
            p.name(),
            p.pid().map_or(0, Pid::as_raw)
        );
    }
    for _ in 0..texts.len() {
        let r = reports.get()?;
        println!(
            "   job {} has {} words   (counted by {} pid {})",
            r.id, r.words, r.by, r.pid
        );
    }
    for p in [&producer, &consumer] {
        println!("   {:<9} exited with {}", p.name(), p.join()?);
    }
    println!();
    Ok(())
}

/// Python's example: `q = Queue(3)`; a fourth `put` waits, then times out; `put_nowait` fails.
fn python_seed() -> Result<(), Box<dyn Error>> {
    println!("2. Queue(3), as in Python");
    let q = Queue::<i32>::new(3)?;
    for i in 1..=3 {
        q.put(i)?;
    }
    println!(
        "   put 1, 2, 3        qsize={} full={} empty={}",
        q.qsize(),
        q.full(),
        q.empty()
    );
    let t = Instant::now();
    match q.put_timeout(4, Duration::from_secs(2)) {
        Err(PutTimeoutError::Timeout(item)) => println!(
            "   put(4, timeout=2s) -> Timeout after {:.3} s, item {item} handed back",
            t.elapsed().as_secs_f64()
        ),
        other => println!("   put(4, timeout=2s) -> unexpected {other:?}"),
    }
    match q.put_nowait(5) {
        Err(PutNowaitError::Full(item)) => {
            println!("   put_nowait(5)      -> Full, item {item} handed back")
        }
        other => println!("   put_nowait(5)      -> unexpected {other:?}"),
    }
    let got: Vec<i32> = (0..3).map(|_| q.get()).collect::<Result<_, _>>()?;
    println!("   get x3             -> {got:?}, qsize={}", q.qsize());
    println!();
    Ok(())
}

/// A channel that ends: a child sends and exits (dropping its sender); our loop ends there.
fn channel_ends() -> Result<(), Box<dyn Error>> {
    println!("3. A channel that ends when its last sender is gone");
    let (tx, rx) = host_runtime::channel::channel::<String>(2)?;
    // `tx` moves into the child; `start` drops our copy, so the child holds the only sender.
    let p = Process::new(move || {
        for word in ["one", "two", "three"] {
            tx.send(word.to_string()).expect("send");
        }
    });
    p.start()?;
    let got: Vec<String> = rx.iter().collect();
    println!("   for x in &rx       -> {got:?}, then Disconnected: the loop ends");
    p.join()?;
    println!();
    Ok(())
}

/// 64-byte messages from a child to us: through a RawQueue, a Queue<T> and a pipe.
fn speed() -> Result<(), Box<dyn Error>> {
    const N: u64 = 1_000_000;
    const MSG: usize = 64;
    println!("4. Speed: {N} messages of {MSG} bytes, child process -> parent");

    let raw = RawQueue::new(1024)?;
    let tx = raw.clone();
    let secs = timed(
        move || {
            let m = [7u8; MSG];
            for _ in 0..N {
                tx.put(&m[..]).expect("put");
            }
        },
        || {
            let mut buf = Vec::with_capacity(MSG);
            for _ in 0..N {
                raw.get_into(&mut buf).expect("get");
            }
        },
    )?;
    let raw_rate = N as f64 / secs;

    let typed = Queue::<String>::new(1024)?;
    let tx = typed.clone();
    let secs = timed(
        move || {
            let m = "x".repeat(MSG - 1); // 63 bytes + a length byte
            for _ in 0..N {
                tx.put(m.clone()).expect("put");
            }
        },
        || {
            for _ in 0..N {
                typed.get().expect("get");
            }
        },
    )?;
    let typed_rate = N as f64 / secs;

    let (r, w) = sys::pipe()?;
    let (mut r, w) = (File::from(r), File::from(w));
    let secs = timed(
        move || {
            let mut w = &w;
            let m = [7u8; MSG];
            for _ in 0..N {
                w.write_all(&m).expect("write");
            }
        },
        || {
            let mut buf = vec![0u8; 64 << 10];
            let mut left = N as usize * MSG;
            while left > 0 {
                let n = r.read(&mut buf[..left.min(64 << 10)]).expect("read");
                assert!(n > 0, "pipe closed early");
                left -= n;
            }
        },
    )?;
    let pipe_rate = N as f64 / secs;

    let line = |what: &str, rate: f64| {
        println!(
            "   {what:<26} {:>7.2} M msg/s   {:>5.1}x pipe",
            rate / 1e6,
            rate / pipe_rate
        );
    };
    line("RawQueue (bytes)", raw_rate);
    line("Queue<String> (serde)", typed_rate);
    line("pipe (one write per msg)", pipe_rate);
    Ok(())
}

/// Runs `produce` in a child and `consume` here; returns the seconds until `consume` is done.
fn timed(
    produce: impl FnOnce() + Send + 'static,
    consume: impl FnOnce(),
) -> Result<f64, Box<dyn Error>> {
    let p = Process::new(produce);
    let t = Instant::now();
    p.start()?;
    consume();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(p.join()?, 0, "the producer failed");
    Ok(secs)
}
