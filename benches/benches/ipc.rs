//! Issue 3's figures: host-runtime's `Queue`/`RawQueue` and `Process` between forked processes,
//! next to their peers in the same criterion groups.
//!
//! - `throughput_64B`: a forked producer streams 64-byte messages to the parent: `RawQueue`
//!   (bytes), `Queue<String>` (serde + postcard: 63 characters and a length byte), a pipe (one `write(2)` per
//!   message, the parent reading 64 KiB at a time, as `shared/peers/baselines` does).
//! - `round_trip_64B`: one message to a forked echo process and back: two `RawQueue`s with the
//!   blocking `put`/`get_into` (the echo process is awake: it spins briefly before sleeping),
//!   and the raw shared-memory spin ping-pong of `shared/peers/baselines` (the floor).
//! - `process`: `Process::new(..).start()` + `join()` against raw `fork()` + `_exit(0)` +
//!   `waitpid()`.
//!
//! Each benchmark checks its result once before timing. Producers and echo processes are
//! persistent children, started once per benchmark and told how much to do through a control
//! queue, so fork costs stay out of the message figures.
//!
//! Python's `multiprocessing.Queue` figure comes from `shared/peers/python_mp_bench.py`, run
//! separately (it needs CPython).

#![deny(unsafe_code)]

use std::fs::File;
use std::hint::black_box;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use benches::spin_word::SpinPingPong;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use host_runtime::{Process, Queue, RawQueue};

const MSG: usize = 64;
/// Control message: stop.
const STOP: u64 = 0;

fn message(i: u64) -> [u8; MSG] {
    let mut m = [0x5a; MSG];
    m[..8].copy_from_slice(&i.to_le_bytes());
    m
}

/// A persistent child that runs `produce(n)` for every `n` the parent sends, until [`STOP`].
struct Producer {
    control: Queue<u64>,
    process: Process,
}

impl Producer {
    fn spawn(mut produce: impl FnMut(u64) + Send + 'static) -> Producer {
        let control = Queue::<u64>::new(4).expect("control queue");
        let rx = control.clone();
        let process = Process::new(move || loop {
            match rx.get().expect("control get") {
                STOP => break,
                n => produce(n),
            }
        });
        process.start().expect("start producer");
        Producer { control, process }
    }

    fn request(&self, n: u64) {
        self.control.put(n).expect("control put");
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        let _ = self.control.put(STOP);
        assert_eq!(self.process.join().expect("join producer"), 0);
    }
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("throughput_64B");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));

    // RawQueue: bytes in, bytes out.
    let data = RawQueue::new(1024).expect("queue");
    let tx = data.clone();
    let producer = Producer::spawn(move |n| {
        for i in 0..n {
            tx.put(message(i)).expect("put");
        }
    });
    let mut buf = Vec::with_capacity(MSG);
    producer.request(10_000);
    for i in 0..10_000 {
        assert_eq!(data.get_into(&mut buf).expect("get"), MSG);
        assert_eq!(buf[..], message(i)[..], "queue_raw delivers in order");
    }
    g.bench_function("queue_raw", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            producer.request(iters);
            for _ in 0..iters {
                black_box(data.get_into(&mut buf).expect("get"));
            }
            t.elapsed()
        })
    });
    drop(producer);

    // Queue<T>: serde + postcard; a String of 63 characters encodes to 64 bytes (a length
    // byte first). Each put takes an owned String, as the API does.
    let text = "x".repeat(MSG - 1);
    let data = Queue::<String>::new(1024).expect("queue");
    let tx = data.clone();
    let sent = text.clone();
    let producer = Producer::spawn(move |n| {
        for _ in 0..n {
            tx.put(sent.clone()).expect("put");
        }
    });
    producer.request(10_000);
    for _ in 0..10_000 {
        assert_eq!(
            data.get().expect("get"),
            text,
            "queue_serde delivers the text"
        );
    }
    assert!(data.empty());
    g.bench_function("queue_serde", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            producer.request(iters);
            for _ in 0..iters {
                black_box(data.get().expect("get"));
            }
            t.elapsed()
        })
    });
    drop(producer);

    // A pipe: one write(2) per message; the reader takes what is there, up to 64 KiB.
    let (reader, writer) = host_runtime::sys::pipe().expect("pipe");
    let (mut reader, writer) = (File::from(reader), File::from(writer));
    let producer = Producer::spawn(move |n| {
        let mut w = &writer;
        for i in 0..n {
            w.write_all(&message(i)).expect("write");
        }
    });
    let mut big = vec![0u8; 64 << 10];
    let mut read_messages = |n: u64, check: bool| {
        let mut want = n as usize * MSG;
        let mut at = 0usize;
        while want > 0 {
            let got = reader.read(&mut big[..want.min(64 << 10)]).expect("read");
            assert!(got > 0, "pipe closed");
            if check {
                for (k, &b) in big[..got].iter().enumerate() {
                    let pos = at + k;
                    assert_eq!(
                        b,
                        message((pos / MSG) as u64)[pos % MSG],
                        "pipe delivers in order"
                    );
                }
            }
            at += got;
            want -= got;
        }
    };
    producer.request(10_000);
    read_messages(10_000, true);
    g.bench_function("pipe", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            producer.request(iters);
            read_messages(iters, false);
            t.elapsed()
        })
    });
    drop(producer);
    g.finish();
}

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip_64B");
    g.measurement_time(Duration::from_secs(5));

    // Two RawQueues, blocking API; the echo process sends back what it gets until an empty
    // message.
    let (ping, pong, echo) = benches::host_queue::raw_echo(16);
    let mut buf = Vec::with_capacity(MSG);
    for i in 0..1000 {
        ping.put(message(i)).expect("put");
        pong.get_into(&mut buf).expect("get");
        assert_eq!(buf[..], message(i)[..], "the echo returns the message");
    }
    let m = message(7);
    g.bench_function("queue_blocking", |b| {
        b.iter(|| {
            ping.put(&m[..]).expect("put");
            black_box(pong.get_into(&mut buf).expect("get"));
        })
    });
    ping.put(b"").expect("stop");
    assert_eq!(echo.join().expect("join"), 0);

    // The floor: one shared word, spun on by both sides.
    let mut floor = SpinPingPong::start();
    g.bench_function("shm_spin_pingpong", |b| b.iter(|| floor.ping()));
    floor.stop();
    g.finish();
}

fn process(c: &mut Criterion) {
    let mut g = c.benchmark_group("process_start_join");
    g.measurement_time(Duration::from_secs(5));
    let p = Process::new(|| {});
    p.start().expect("start");
    assert_eq!(p.join().expect("join"), 0, "Process runs and exits 0");
    g.bench_function("Process", |b| {
        b.iter(|| {
            let p = Process::new(|| {});
            p.start().expect("start");
            black_box(p.join().expect("join"));
        })
    });
    // The raw `fork(2)`/`waitpid(2)` peer, measured as such.
    #[allow(unsafe_code)]
    let raw_fork_wait = || {
        // SAFETY: the child calls only `_exit`, which is async-signal-safe; it touches no
        // state the fork may have left inconsistent.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: ends the child at once, running no handlers (see above).
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: `status` is a valid int; `pid` is our unreaped child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        status
    };
    assert_eq!(raw_fork_wait(), 0, "the raw child exits 0");
    g.bench_function("raw_fork_waitpid", |b| {
        b.iter(|| black_box(raw_fork_wait()))
    });
    g.finish();
}

criterion_group!(benches, throughput, round_trip, process);
criterion_main!(benches);
