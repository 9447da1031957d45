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

/// Messages timed per stream of the speed section, after `WARM` untimed ones.
const N: u64 = 1_000_000;
const WARM: u64 = 100_000;

/// Sustained streams from a child to us: the child `put`s in a free-running loop, we `get` in
/// ours, the queue (capacity 1,024) fills and drains as it will. Timed over `N` messages after
/// `WARM` (the steady state of a long stream); every message is checked.
fn speed() -> Result<(), Box<dyn Error>> {
    const MSG: usize = 64;
    println!(
        "4. Speed: sustained streams, child process -> parent, {N} messages timed after {WARM}"
    );

    let raw = RawQueue::new(1024)?;
    let tx = raw.clone();
    let mut buf = Vec::with_capacity(MSG);
    let raw_rate = stream(
        move |seq| tx.put(message(seq)).expect("put"),
        |seq| {
            raw.get_into(&mut buf).expect("get");
            assert_eq!(buf[..], message(seq), "in order");
        },
    )?;

    let typed = Queue::<Vec<u8>>::new(1024)?;
    let tx = typed.clone();
    let vec_rate = stream(
        move |seq| tx.put(message(seq).to_vec()).expect("put"),
        |seq| assert_eq!(typed.get().expect("get"), message(seq), "in order"),
    )?;

    let small = Queue::<(u64, f64, String)>::new(1024)?;
    let tx = small.clone();
    let text = "sixteen chars!!!".to_string();
    let small_rate = stream(
        move |seq| tx.put((seq, 3.25, text.clone())).expect("put"),
        |seq| assert_eq!(small.get().expect("get").0, seq, "in order"),
    )?;

    let (r, w) = sys::pipe()?;
    let (mut r, mut w) = (File::from(r), File::from(w));
    let mut m = [0u8; MSG];
    let pipe_rate = stream(
        move |seq| w.write_all(&message(seq)).expect("write"),
        |seq| {
            r.read_exact(&mut m).expect("read");
            assert_eq!(m, message(seq), "in order");
        },
    )?;

    let line = |what: &str, rate: f64| {
        println!(
            "   {what:<36} {:>6.2} M msg/s  {:>5.1}x pipe",
            rate / 1e6,
            rate / pipe_rate
        );
    };
    line("RawQueue put / get_into, 64 B", raw_rate);
    line("Queue<Vec<u8>> put(v.clone()) / get", vec_rate);
    line("Queue<(u64, f64, String)> put / get", small_rate);
    line("pipe, one write / one read, 64 B", pipe_rate);
    println!("   (BENCHMARKS.md, *Sustained streams*: the same loops, longer runs, more peers)");
    Ok(())
}

/// A 64-byte message carrying `seq` in its first 8 bytes.
fn message(seq: u64) -> [u8; 64] {
    let mut m = [7u8; 64];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

/// Runs `send(seq)` for every `seq` in a child and `recv(seq)` for each here; the messages per
/// second of `recv` over the last `N` (the first `WARM` untimed).
fn stream(
    mut send: impl FnMut(u64) + Send + 'static,
    mut recv: impl FnMut(u64),
) -> Result<f64, Box<dyn Error>> {
    let p = Process::new(move || (0..WARM + N).for_each(&mut send));
    p.start()?;
    (0..WARM).for_each(&mut recv);
    let t = Instant::now();
    (WARM..WARM + N).for_each(&mut recv);
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(p.join()?, 0, "the producer failed");
    Ok(N as f64 / secs)
}
