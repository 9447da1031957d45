//! Issue 14's figures for channels and pipes, each next to what it is built on, in the same
//! criterion run:
//!
//! - `channel_send_recv`: one message sent and received by the same thread (no waiting): a
//!   typed `channel::<String>` send + recv next to `Queue<String>` put + get (63 characters,
//!   64 bytes encoded), and a `channel::bytes` send + `recv_into` next to `RawQueue` put +
//!   `get_into` (64 bytes). What the channel adds: the disconnection checks (a ledger total
//!   read per call) and its hooks.
//! - `pipe_round_trip_64B`: one 64-byte message to a forked echo process and back: a duplex
//!   `pipe` (`send_bytes` + `recv_bytes_into`), two `RawQueue`s of the same capacity (blocking
//!   `put`/`get_into`),
//!   and an `AF_UNIX` socket pair (`write` + `read_exact`).
//!
//! Each benchmark checks its result once before timing.

use std::hint::black_box;
use std::time::Duration;

use benches::roundtrip::{Echo, FileLink, RoundTrip};
use criterion::{criterion_group, criterion_main, Criterion};
use host_runtime::channel::{bytes, channel};
use host_runtime::pipe::{pipe, PIPE_CAPACITY};
use host_runtime::{Process, Queue, RawQueue};

const MSG: usize = 64;

fn send_recv(c: &mut Criterion) {
    let mut g = c.benchmark_group("channel_send_recv");
    g.measurement_time(Duration::from_secs(3));
    let text = "x".repeat(MSG - 1);

    let (tx, rx) = channel::<String>(64).expect("channel");
    tx.send(text.clone()).expect("send");
    assert_eq!(rx.recv().expect("recv"), text, "the channel delivers");
    g.bench_function("channel_typed", |b| {
        b.iter(|| {
            tx.send(text.clone()).expect("send");
            black_box(rx.recv().expect("recv"));
        })
    });

    let q = Queue::<String>::new(64).expect("queue");
    q.put(text.clone()).expect("put");
    assert_eq!(q.get().expect("get"), text, "the queue delivers");
    g.bench_function("queue_typed", |b| {
        b.iter(|| {
            q.put(text.clone()).expect("put");
            black_box(q.get().expect("get"));
        })
    });

    let m = [0x5au8; MSG];
    let mut buf = Vec::with_capacity(MSG);
    let (tx, rx) = bytes(64).expect("channel");
    tx.send(&m[..]).expect("send");
    assert_eq!(rx.recv_into(&mut buf).expect("recv"), MSG);
    assert_eq!(buf, m, "the byte channel delivers");
    g.bench_function("channel_bytes", |b| {
        b.iter(|| {
            tx.send(&m[..]).expect("send");
            black_box(rx.recv_into(&mut buf).expect("recv"));
        })
    });

    let q = RawQueue::new(64).expect("queue");
    q.put(&m[..]).expect("put");
    assert_eq!(q.get_into(&mut buf).expect("get"), MSG);
    g.bench_function("raw_queue", |b| {
        b.iter(|| {
            q.put(&m[..]).expect("put");
            black_box(q.get_into(&mut buf).expect("get"));
        })
    });
    g.finish();
}

fn pipe_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipe_round_trip_64B");
    g.measurement_time(Duration::from_secs(5));
    let m = [0x5au8; MSG];
    let mut buf = Vec::with_capacity(MSG);

    // A duplex pipe; the echo child sends back what it gets until an empty message.
    let (parent, child) = pipe(true).expect("pipe");
    let echo = Process::new(move || {
        let mut buf = Vec::with_capacity(MSG);
        while child.recv_bytes_into(&mut buf).expect("recv") > 0 {
            child.send_bytes(&buf).expect("send");
        }
    });
    echo.start().expect("start echo");
    for i in 0..1000u32 {
        let mut msg = m;
        msg[..4].copy_from_slice(&i.to_le_bytes());
        parent.send_bytes(&msg).expect("send");
        parent.recv_bytes_into(&mut buf).expect("recv");
        assert_eq!(buf, msg, "the echo returns the message");
    }
    g.bench_function("pipe", |b| {
        b.iter(|| {
            parent.send_bytes(&m).expect("send");
            black_box(parent.recv_bytes_into(&mut buf).expect("recv"));
        })
    });
    parent.send_bytes(b"").expect("stop");
    assert_eq!(echo.join().expect("join"), 0);
    drop(parent);

    // Two RawQueues, as in `ipc`'s `round_trip_64B/queue_blocking`, of the pipe's capacity
    // (a ring's size changes what a round trip costs in cache traffic).
    let (ping, pong, echo) = benches::host_queue::raw_echo(PIPE_CAPACITY);
    for _ in 0..1000 {
        ping.put(m).expect("put");
        pong.get_into(&mut buf).expect("get");
        assert_eq!(buf, m, "the echo returns the message");
    }
    g.bench_function("raw_queue", |b| {
        b.iter(|| {
            ping.put(&m[..]).expect("put");
            black_box(pong.get_into(&mut buf).expect("get"));
        })
    });
    ping.put(b"").expect("stop");
    assert_eq!(echo.join().expect("join"), 0);

    // An AF_UNIX socket pair (checks every round trip's sequence number itself).
    let mut sock = Echo::spawn(FileLink::socketpair().expect("socketpair")).expect("echo");
    g.bench_function("socketpair", |b| b.iter(|| sock.round_trip()));
    drop(sock);
    g.finish();
}

criterion_group!(benches, send_recv, pipe_round_trip);
criterion_main!(benches);
