//! The typed path of `host_runtime::Queue<T>`: what encoding and decoding add to the bytes.
//!
//! - `put_get_64B_single_thread`: one put+get of a 64-byte message in one thread:
//!   `Queue<String>` (a 63-character string, 64 bytes encoded), `RawQueue` (64 bytes), and
//!   crossbeam's `ArrayQueue<String>` (push of a clone + pop) as the in-process anchor.
//! - `typed_put_get_single_thread`: one `put(v.clone())` + `get()` in one thread, per item type:
//!   `Queue<Vec<u8>>` of 64 B and 1 KiB (a long message: the blob pool), `Queue<(u64, f64,
//!   String)>` (a 16-character string, as the Python peer's tuple), `Queue<u64>`, and a
//!   struct with 1 KiB of bytes inside (`Frame`), without and with `#[serde(with =
//!   "serde_bytes")]` on the field.
//! - `typed_sustained`: a forked producer puts `put(v.clone())` as fast as it can (no gate, a
//!   queue of capacity 1,024 that fills), the bench process `get()`s; the time from the fork to
//!   the last message. Same item types, and a pipe moving 64-byte and 1 KiB records the same
//!   way (`write_all` / `read_exact`) as the same-run peer; and, beside the plain loops, the
//!   tuple and 64 B cases with the consumer getting into one reused value (`get_into`). The
//!   Python peer's figures come from
//!   `python3 ../shared/peers/python_mp_bench.py` (`SECTIONS=queue,tuple`).
//!
//! - `typed_round_trip`: `Queue<u64>` to a forked echo process (it answers `n + 1` on a second
//!   `Queue<u64>`) and back, next to the one-word spin ping-pong of `benches/ipc.rs` (both
//!   sides spin on one shared word: the floor) in the same run (issue 17, item 4), and the same
//!   echo through two `RawQueue`s of 8-byte messages (what the typed path adds).
//!
//! **Instructions per put+get.**
//! `TYPED_OPS=N TYPED_CASE=<vec64|vec1k|str63|tuple|u64|frame|frame_bytes|raw64|raw8|raw1k>`
//! (`str63`: the 63-character `String` of `put_get_64B_single_thread`; or `vec64_into`,
//! `vec1k_into`, `str63_into`, `tuple_into`, `u64_into`: the get into one reused value,
//! `Queue::get_into`; `vec64_ref`, `vec1k_ref`, `tuple_ref`: that get after a `put_ref` of the
//! item, no clone) makes the binary run N single-thread put+get of that case and exit,
//! without criterion: run it under `valgrind --tool=callgrind` for two values of N; the
//! difference of the two instruction counts divided by the difference of the Ns is the cost of
//! one put+get.
//!
//! **Tried, not kept (2026-12-06, 2 vCPUs AMD EPYC): an encoder and a decoder of postcard's
//! wire of our own.** A serde `Serializer` writing postcard's bytes (a varint of up to 8 bytes
//! as one word store, short fields by two overlapping fixed-size moves instead of a `memcpy`
//! call each; 550 lines with its tests, byte-for-byte postcard's output and errors): tuple
//! put+get 1,276 -> 1,227 instructions, `tuple_into` 996 -> 947, `vec64` and `u64` unchanged;
//! between processes, only the `get_into` tuple stream gained (13.1 -> 14.7 M/s, medians of 8
//! alternated runs), the plain `get` tuple stream not (its consumer, with an allocation and a
//! free per message, is the slower side: ~640 instructions against the producer's ~530). Not
//! worth a second implementation of postcard to keep in step with it. The decoder: tuple 1,276
//! -> 1,268 (a decode's cost is the string's allocation and copy, not its varints), and a
//! `Vec<u8>` field decoded through serde paid 3 instructions more a byte. Varints read a word at
//! a time: `u64` 585 -> 588 (its message is shorter than a word).
//!
//! **`put_ref` (2026-12-06, 2 vCPUs AMD EPYC).** `Queue::put_ref(&item)` puts a value the
//! caller keeps, so a loop need not clone what it sends. Instructions per put+get (callgrind):
//! `vec64` 1,002 (`put(clone)` + `get`), `vec64_into` 779 (`put(clone)` + `get_into`),
//! `vec64_ref` 603 (`put_ref` + `get_into`); `tuple_into` 992, `tuple_ref` 802. Streams
//! between processes (`benches/batch.rs`, `vec_*` against `vecref_*` in the same runs, medians
//! of 3, 3 rounds, load 1.4-1.6): pinned to one CPU 64 B 105-121 -> 88-111 ns CPU/msg, 1 KiB
//! 272-306 -> 233-285; unpinned 1 KiB 2.47 / 4.15 / 4.38 -> 3.73 / 5.10 / 5.87 M msg/s, 64 B
//! unchanged (3.10 / 8.85 / 10.81 -> 4.73 / 8.82 / 11.14: the consumer, which allocates, is the
//! slower side).
//!
//! **Issue 17, item 3 (2026-12-06, 2 vCPUs AMD EPYC): the consumer of a short byte payload.**
//! Kept: a `String`'s bytes are checked as ASCII a word at a time (`sys::text::utf8_string`)
//! before `String::from_utf8`: `str63` put+get 1,122 -> 1,057 instructions (callgrind).
//! Tried, not kept: a short `Vec<u8>`/`String` copied once, from the ring slot straight into the
//! value's allocation (a new `SlotReader::read_at_uninit` after the varint), where it is a stack
//! copy and then a `memcpy` into a new allocation. Instructions per put+get: `vec64` 1,002 ->
//! 1,024, `vec64_into` 773 -> 794, `str63_into` 860 -> 882 (the copy from an offset of 1-2 bytes
//! pays ~40 in bounds and branches, where `read_uninit` and a 64-byte `memcpy` are ~63
//! together); single thread, medians of 7 alternated rounds (load 1.2-2.5), `Queue<Vec<u8>>`
//! 64 B 100.8 -> 95.3 ns, `Queue<String>` 112.4 -> 109.1 ns (`RawQueue` 34.1 / 34.4). Between
//! processes, what the target counts, nothing showed: `typed_sustained` 8 alternated rounds
//! (load 1.9-2.4), medians `Vec<u8>` 64 B 9.91 -> 10.21 M/s (runs 3.6-11.1 before, 6.7-10.6
//! after), tuple 9.55 -> 9.00, tuple `get_into` 13.42 -> 13.23: not worth ~170 lines (an
//! `unsafe` `set_len` among them) and a new ipc-core API. The ring get itself (`raw64`:
//! `RawQueue::get_into_until` ~191 instructions, its copy out ~88, `notify` 13; the put ~204
//! with its copy in): the pop ~80 (claim CAS, slot checks), ~25 moving the result through
//! `Result<Result<R, DecodeError>, GetFail>`, ~25 spills of the ring's geometry, the member
//! check ~10, `CAUGHT_UP` ~5: nothing large to cut. The tuple's decode is the string's
//! allocation and 16-byte copy and postcard's fields.
//!
//! Every benchmark checks its result once before timing.

use std::fs::File;
use std::hint::black_box;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use benches::host_queue::U64Echo;
use benches::roundtrip::RoundTrip;
use benches::spin_word::SpinPingPong;
use criterion::{criterion_group, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use host_runtime::{Process, Queue, RawQueue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const MSG: usize = 64;
/// The Python peer's tuple: `(123456789, 3.25, "sixteen chars!!!")`.
type Tuple = (u64, f64, String);

fn tuple() -> Tuple {
    (123_456_789, 3.25, "sixteen chars!!!".to_string())
}

/// A user's struct with 1 KiB of bytes inside: serde hands them to the encoder one at a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Frame {
    id: u64,
    name: String,
    data: Vec<u8>,
}

/// The same struct with the one documented line: its bytes move as a block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct FrameBytes {
    id: u64,
    name: String,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

fn frame() -> Frame {
    Frame {
        id: 7,
        name: "frame".to_string(),
        data: vec![0x5a; 1024],
    }
}

fn frame_bytes() -> FrameBytes {
    FrameBytes {
        id: 7,
        name: "frame".to_string(),
        data: vec![0x5a; 1024],
    }
}

fn put_get(c: &mut Criterion) {
    let mut g = c.benchmark_group("put_get_64B_single_thread");
    let text = "x".repeat(MSG - 1);

    let q = Queue::<String>::new(1024).expect("queue");
    let round = |q: &Queue<String>| {
        q.put(black_box(text.clone())).expect("put");
        q.get().expect("get")
    };
    assert_eq!(round(&q), text);
    g.bench_function("host_runtime::Queue<String>", |b| b.iter(|| round(&q)));

    let raw = RawQueue::new(1024).expect("queue");
    let message = [0x5au8; MSG];
    let round = |buf: &mut Vec<u8>| {
        raw.put(black_box(&message)).expect("put");
        raw.get_into(buf).expect("get")
    };
    let mut buf = Vec::with_capacity(MSG);
    assert_eq!(round(&mut buf), MSG);
    assert_eq!(buf, message);
    g.bench_function("host_runtime::RawQueue", |b| b.iter(|| round(&mut buf)));

    let cb = ArrayQueue::<String>::new(1024);
    let round = |q: &ArrayQueue<String>| {
        q.push(black_box(text.clone())).expect("push");
        q.pop().expect("pop")
    };
    assert_eq!(round(&cb), text);
    g.bench_function("crossbeam::ArrayQueue<String>", |b| b.iter(|| round(&cb)));

    g.finish();
}

/// One `put(item.clone())` + `get()` in this thread.
fn round<T: Serialize + DeserializeOwned + Clone>(q: &Queue<T>, item: &T) -> T {
    q.put(black_box(item.clone())).expect("put");
    q.get().expect("get")
}

/// One `put(item.clone())` + `get_into(place)` in this thread.
fn round_into<T: Serialize + DeserializeOwned + Clone>(q: &Queue<T>, item: &T, place: &mut T) {
    q.put(black_box(item.clone())).expect("put");
    q.get_into(place).expect("get_into");
}

fn typed_put_get(c: &mut Criterion) {
    let mut g = c.benchmark_group("typed_put_get_single_thread");
    fn case<T: Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug>(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
        item: T,
    ) {
        let q = Queue::<T>::new(1024).expect("queue");
        assert_eq!(round(&q, &item), item);
        g.bench_function(name, |b| b.iter(|| round(&q, &item)));
    }
    case(&mut g, "Queue<Vec<u8>>/64B", vec![0x5au8; 64]);
    case(&mut g, "Queue<Vec<u8>>/1KiB", vec![0x5au8; 1024]);
    case(&mut g, "Queue<(u64,f64,String)>", tuple());
    case(&mut g, "Queue<u64>", 0x1234_5678_9abc_u64);
    case(&mut g, "Queue<Frame>/1KiB", frame());
    case(&mut g, "Queue<Frame>/1KiB_serde_bytes", frame_bytes());
    g.finish();
}

/// Messages per sustained run: enough for a steady state, few enough for criterion's samples.
const SUSTAINED_N: u64 = 200_000;

/// A forked producer `put`s `n` clones of `item` into a fresh queue of capacity 1,024; this
/// process gets them all (checking the last), with `get()`, or with `get_into` one reused
/// value if `into`. The time from the fork to the last get.
fn sustained_queue<T>(item: &T, n: u64, into: bool) -> Duration
where
    T: Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug + Send + 'static,
{
    let q = Queue::<T>::new(1024).expect("queue");
    let tx = q.clone();
    let sent = item.clone();
    let t = Instant::now();
    let p = Process::new(move || {
        for _ in 0..n {
            tx.put(sent.clone()).expect("put");
        }
    });
    p.start().expect("start");
    let mut last = None;
    if into {
        let mut place = item.clone();
        for _ in 0..n {
            q.get_into(&mut place).expect("get_into");
        }
        last = Some(place);
    } else {
        for _ in 0..n {
            last = Some(q.get().expect("get"));
        }
    }
    let dt = t.elapsed();
    assert_eq!(last.as_ref(), Some(item));
    assert_eq!(p.join().expect("join"), 0);
    dt
}

/// The pipe peer: a forked producer writes `n` records of `len` bytes, this process reads them.
fn sustained_pipe(len: usize, n: u64) -> Duration {
    let (r, w) = host_runtime::sys::pipe().expect("pipe");
    let mut r = File::from(r);
    let t = Instant::now();
    let p = Process::new(move || {
        let mut w = File::from(w);
        let record = vec![0x5au8; len];
        for _ in 0..n {
            w.write_all(&record).expect("write");
        }
    });
    p.start().expect("start");
    let mut buf = vec![0u8; len];
    for _ in 0..n {
        r.read_exact(&mut buf).expect("read");
    }
    let dt = t.elapsed();
    assert!(buf.iter().all(|&b| b == 0x5a));
    assert_eq!(p.join().expect("join"), 0);
    dt
}

fn sustained(c: &mut Criterion) {
    let mut g = c.benchmark_group("typed_sustained");
    g.sample_size(10);
    g.throughput(Throughput::Elements(SUSTAINED_N));
    let n = SUSTAINED_N;
    let v64 = vec![0x5au8; 64];
    let v1k = vec![0x5au8; 1024];
    let tup = tuple();
    assert!(sustained_queue(&v64, 1000, false) > Duration::ZERO);
    g.bench_function("Queue<Vec<u8>>/64B", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| sustained_queue(&v64, n, false)).sum())
    });
    g.bench_function("pipe/64B", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| sustained_pipe(64, n)).sum())
    });
    g.bench_function("Queue<(u64,f64,String)>", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| sustained_queue(&tup, n, false)).sum())
    });
    // Beside the plain loops: the consumer gets into one reused value.
    g.bench_function("Queue<(u64,f64,String)>/get_into", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| sustained_queue(&tup, n, true)).sum())
    });
    g.bench_function("Queue<Vec<u8>>/64B/get_into", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| sustained_queue(&v64, n, true)).sum())
    });
    g.bench_function("Queue<Vec<u8>>/1KiB", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| sustained_queue(&v1k, n, false)).sum())
    });
    g.bench_function("pipe/1KiB", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| sustained_pipe(1024, n)).sum())
    });
    g.finish();
}

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("typed_round_trip");
    g.measurement_time(Duration::from_secs(3));

    // Queue<u64> there and back: the echo process answers n + 1 (checked on every round
    // trip), and stops at u64::MAX.
    let mut echo = U64Echo::spawn(None).expect("queues and echo");
    for _ in 0..1000 {
        echo.round_trip();
    }
    g.bench_function("Queue<u64>", |b| b.iter(|| echo.round_trip()));
    drop(echo);

    // The same through two RawQueues of 8-byte messages: what the typed path adds.
    let ping = RawQueue::new(16).expect("queue");
    let pong = RawQueue::new(16).expect("queue");
    let (rx, tx) = (ping.clone(), pong.clone());
    let echo = Process::new(move || {
        let mut buf = Vec::with_capacity(8);
        loop {
            rx.get_into(&mut buf).expect("get");
            let Ok(n) = <[u8; 8]>::try_from(&buf[..]) else {
                break;
            };
            tx.put(&(u64::from_le_bytes(n) + 1).to_le_bytes())
                .expect("put");
        }
    });
    echo.start().expect("start echo");
    let mut n = 0u64;
    let mut buf = Vec::with_capacity(8);
    let mut one = || {
        ping.put(&black_box(n).to_le_bytes()).expect("put");
        pong.get_into(&mut buf).expect("get");
        n += 2;
        u64::from_le_bytes(buf[..].try_into().expect("8 bytes"))
    };
    for i in 0..1000u64 {
        assert_eq!(one(), 2 * i + 1, "the echo answers n + 1");
    }
    g.bench_function("RawQueue 8B", |b| b.iter(&mut one));
    ping.put(b"").expect("stop");
    assert_eq!(echo.join().expect("join"), 0);

    // The floor: one shared word, spun on by both sides.
    let mut floor = SpinPingPong::start();
    g.bench_function("shm_spin_pingpong", |b| b.iter(|| floor.ping()));
    floor.stop();
    g.finish();
}

/// `TYPED_OPS=N TYPED_CASE=...`: N put+get of one case, for an instruction count.
fn count_mode() -> bool {
    let (Ok(ops), Ok(case)) = (std::env::var("TYPED_OPS"), std::env::var("TYPED_CASE")) else {
        return false;
    };
    let ops: u64 = ops.parse().expect("TYPED_OPS: a number");
    fn run<T: Serialize + DeserializeOwned + Clone>(item: T, ops: u64) {
        let q = Queue::<T>::new(1024).expect("queue");
        for _ in 0..ops {
            black_box(round(&q, &item));
        }
    }
    /// As `run`, getting into one reused value (`get_into`).
    fn run_into<T: Serialize + DeserializeOwned + Clone>(item: T, ops: u64) {
        let q = Queue::<T>::new(1024).expect("queue");
        let mut place = item.clone();
        for _ in 0..ops {
            round_into(&q, &item, &mut place);
            black_box(&place);
        }
    }
    /// As `run_into`, putting with `put_ref` (no clone).
    fn run_ref<T: Serialize + DeserializeOwned + Clone>(item: T, ops: u64) {
        let q = Queue::<T>::new(1024).expect("queue");
        let mut place = item.clone();
        for _ in 0..ops {
            q.put_ref(black_box(&item)).expect("put_ref");
            q.get_into(&mut place).expect("get_into");
            black_box(&place);
        }
    }
    fn raw(len: usize, ops: u64) {
        let q = RawQueue::new(1024).expect("queue");
        let message = vec![0x5au8; len];
        let mut buf = Vec::with_capacity(len);
        for _ in 0..ops {
            q.put(black_box(&message[..])).expect("put");
            black_box(q.get_into(&mut buf).expect("get"));
        }
    }
    match case.as_str() {
        "raw64" => raw(64, ops),
        "raw8" => raw(8, ops),
        "raw1k" => raw(1024, ops),
        "vec64" => run(vec![0x5au8; 64], ops),
        "str63" => run("x".repeat(MSG - 1), ops),
        "str63_into" => run_into("x".repeat(MSG - 1), ops),
        "vec1k" => run(vec![0x5au8; 1024], ops),
        "tuple" => run(tuple(), ops),
        "u64" => run(0x1234_5678_9abc_u64, ops),
        "vec64_into" => run_into(vec![0x5au8; 64], ops),
        "vec1k_into" => run_into(vec![0x5au8; 1024], ops),
        "tuple_into" => run_into(tuple(), ops),
        "u64_into" => run_into(0x1234_5678_9abc_u64, ops),
        "vec64_ref" => run_ref(vec![0x5au8; 64], ops),
        "vec1k_ref" => run_ref(vec![0x5au8; 1024], ops),
        "tuple_ref" => run_ref(tuple(), ops),
        "frame" => run(frame(), ops),
        "frame_bytes" => run(frame_bytes(), ops),
        other => panic!("TYPED_CASE: unknown case {other}"),
    }
    true
}

criterion_group!(benches, put_get, typed_put_get, sustained, round_trip);

fn main() {
    if count_mode() {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
