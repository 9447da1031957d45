//! Small probes of host-runtime's queue paths, for profilers rather than for figures (the
//! criterion groups in `benches/ipc.rs` give those).
//!
//! ```sh
//! cargo build --release -p benches --bin probe
//! # instructions per put+get, one thread, no peer (stable on a noisy machine):
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/probe raw 100000
//! # round trips with a forked echo process, or a forked producer's stream:
//! target/release/probe rt 200000
//! target/release/probe stream 2000000
//! ```
//!
//! Modes (`N` messages of 64 bytes):
//! - `raw N`, `typed N`: `N` put+get pairs on one thread through a `RawQueue` (`put`,
//!   `get_into`) or a `Queue<String>` (63 characters, 64 bytes encoded). Subtract a run with
//!   a different `N` to cancel the set-up: (Ir(N2) - Ir(N1)) / (N2 - N1) per pair.
//! - `rt N`: `N` round trips through two `RawQueue`s with a forked echo process; prints the
//!   mean per round trip.
//! - `stream N`, `stream-typed N`: a forked producer puts `N` messages, the parent gets
//!   them; prints messages per second.

use std::hint::black_box;
use std::time::Instant;

use host_runtime::{Process, Queue, RawQueue};

const MSG: usize = 64;

fn message(i: u64) -> [u8; MSG] {
    let mut m = [0x5a; MSG];
    m[..8].copy_from_slice(&i.to_le_bytes());
    m
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("raw", String::as_str);
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    match mode {
        "raw" => {
            let q = RawQueue::new(1024).expect("queue");
            let mut buf = Vec::with_capacity(MSG);
            for i in 0..n {
                q.put(message(i)).expect("put");
                black_box(q.get_into(&mut buf).expect("get"));
            }
        }
        "typed" => {
            let q = Queue::<String>::new(1024).expect("queue");
            let text = "x".repeat(MSG - 1);
            for _ in 0..n {
                q.put(text.clone()).expect("put");
                black_box(q.get().expect("get"));
            }
        }
        "rt" => {
            let (ping, pong, echo) = benches::host_queue::raw_echo(16);
            let mut buf = Vec::with_capacity(MSG);
            let m = message(7);
            for _ in 0..5 {
                let t = Instant::now();
                for _ in 0..n {
                    ping.put(&m[..]).expect("put");
                    black_box(pong.get_into(&mut buf).expect("get"));
                }
                println!("rt: {:.0} ns", t.elapsed().as_nanos() as f64 / n as f64);
            }
            ping.put(b"").expect("stop");
            assert_eq!(echo.join().expect("join"), 0);
        }
        "stream" | "stream-typed" => {
            let typed = mode == "stream-typed";
            let raw = RawQueue::new(1024).expect("queue");
            let q = Queue::<String>::new(1024).expect("queue");
            let (raw_tx, q_tx) = (raw.clone(), q.clone());
            let text = "x".repeat(MSG - 1);
            let producer = Process::new(move || {
                for i in 0..n {
                    if typed {
                        q_tx.put(text.clone()).expect("put");
                    } else {
                        raw_tx.put(message(i)).expect("put");
                    }
                }
            });
            let t = Instant::now();
            producer.start().expect("start producer");
            let mut buf = Vec::with_capacity(MSG);
            for _ in 0..n {
                if typed {
                    black_box(q.get().expect("get"));
                } else {
                    black_box(raw.get_into(&mut buf).expect("get"));
                }
            }
            let dt = t.elapsed();
            assert_eq!(producer.join().expect("join"), 0);
            println!("stream: {:.2} M msg/s", n as f64 / dt.as_secs_f64() / 1e6);
        }
        other => panic!("unknown mode {other}"),
    }
}
