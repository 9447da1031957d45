//! What `host_runtime::wait` adds to a blocked get: a ping-pong between two threads over two
//! `RawQueue`s, where the echo side either blocks in `get` (the baseline) or first waits with
//! `wait` over three sources (two idle queues, or an idle queue and a live child process, plus
//! the ping queue) and then gets. One iteration is one round trip (put ping, echo, get pong);
//! the difference between the rows is the cost of the `wait` on the echo side.
//!
//! Two groups: `…/spinning` times back-to-back round trips (the echo side mostly catches the
//! ping while it still spins, as a busy consumer does); `…/from_sleep` times only round trips
//! whose ping finds the echo thread asleep in the kernel (the pinger waits, untimed, until
//! `/proc` shows the thread in state `S`), which is the wake-up latency of a blocked get or
//! wait.
//!
//! A third and fourth group do the same over channels: the echo side blocks in
//! `ByteReceiver::recv` (the baseline) or first waits with `wait` over the ping channel's
//! receiver, an idle channel's receiver and an idle pipe end, then receives.
//!
//! Every benchmark checks its result once before timing.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use host_runtime::channel::{self, ByteReceiver, ByteSender};
use host_runtime::pipe::pipe;
use host_runtime::process::Builder;
use host_runtime::{wait, Process, RawQueue, Waitable};

/// Ends the echo thread.
const STOP: &[u8] = b"stop";

/// How the echo side waits for a ping.
#[derive(Clone, Copy)]
enum Echo {
    Get,
    WaitOne,
    WaitQueues,
    WaitWithProcess,
}

/// The calling thread's id (from `/proc/thread-self`, which links to `PID/task/TID`).
fn gettid() -> u32 {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    let tid = link
        .file_name()
        .expect("a tid")
        .to_string_lossy()
        .into_owned();
    tid.parse().expect("a number")
}

/// Whether thread `tid` of this process sleeps (state `S` in `/proc/self/task/TID/stat`).
fn asleep(tid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    // The state follows the command name, which is in parentheses and may hold spaces.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        == Some("S")
}

fn round_trips(c: &mut Criterion) {
    for from_sleep in [false, true] {
        group(c, from_sleep);
    }
    for from_sleep in [false, true] {
        channel_group(c, from_sleep);
    }
}

/// Times `round` as the group asks: back to back, or only when thread `tid` sleeps.
fn bench_round<M: criterion::measurement::Measurement<Value = Duration>>(
    g: &mut criterion::BenchmarkGroup<'_, M>,
    name: &str,
    from_sleep: bool,
    tid: u32,
    round: impl Fn() -> Vec<u8>,
) {
    if from_sleep {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    while !asleep(tid) {
                        thread::yield_now();
                    }
                    let t = Instant::now();
                    round();
                    total += t.elapsed();
                }
                total
            })
        });
    } else {
        g.bench_function(name, |b| b.iter(&round));
    }
}

/// The channel rows: a ping-pong over two byte channels; the echo side receives with
/// `recv`, or with `wait` over the ping receiver, an idle receiver and an idle pipe end first.
fn channel_group(c: &mut Criterion, from_sleep: bool) {
    let mut g = c.benchmark_group(if from_sleep {
        "wake_recv_vs_wait3_then_recv/from_sleep"
    } else {
        "wake_recv_vs_wait3_then_recv/spinning"
    });
    for (name, sources) in [
        ("recv", 0),
        ("wait(1 channel)+recv", 1),
        ("wait(3: channels, pipe)+recv", 3),
    ] {
        let (ping_tx, ping_rx): (ByteSender, ByteReceiver) = channel::bytes(64).unwrap();
        let (pong_tx, pong_rx) = channel::bytes(64).unwrap();
        let (_idle_tx, idle_rx) = channel::bytes(4).unwrap();
        let (idle_end, _idle_peer) = pipe(true).unwrap();
        let tid = AtomicU32::new(0);
        thread::scope(|s| {
            s.spawn(|| loop {
                if tid.load(Ordering::Relaxed) == 0 {
                    tid.store(gettid(), Ordering::Release);
                }
                match sources {
                    0 => {}
                    1 => assert_eq!(wait(&[&ping_rx], None), [0]),
                    _ => {
                        let sources: [&dyn Waitable; 3] = [&idle_rx, &idle_end, &ping_rx];
                        assert_eq!(wait(&sources, None), [2]);
                    }
                }
                let m = ping_rx.recv().unwrap();
                if m == STOP {
                    break;
                }
                pong_tx.send(m).unwrap();
            });
            let round = || {
                ping_tx.send(b"ping").unwrap();
                pong_rx.recv().unwrap()
            };
            assert_eq!(round(), b"ping");
            let tid = loop {
                match tid.load(Ordering::Acquire) {
                    0 => thread::yield_now(),
                    t => break t,
                }
            };
            bench_round(&mut g, name, from_sleep, tid, round);
            ping_tx.send(STOP).unwrap();
        });
    }
    g.finish();
}

fn group(c: &mut Criterion, from_sleep: bool) {
    let mut g = c.benchmark_group(if from_sleep {
        "wake_get_vs_wait3_then_get/from_sleep"
    } else {
        "wake_get_vs_wait3_then_get/spinning"
    });
    // A child that lives until the end of the bench (a source that never becomes ready).
    let (_keep, rx) = UnixStream::pair().expect("socket pair");
    let child: Process = Builder::new()
        .spawn(move || {
            let mut rx = rx;
            let _ = rx.read(&mut [0u8]);
        })
        .expect("child");
    for (name, echo) in [
        ("get", Echo::Get),
        ("wait(1 queue)+get", Echo::WaitOne),
        ("wait(3 queues)+get", Echo::WaitQueues),
        ("wait(2 queues, process)+get", Echo::WaitWithProcess),
    ] {
        let (ping, pong) = (RawQueue::new(64).unwrap(), RawQueue::new(64).unwrap());
        let idle = (RawQueue::new(4).unwrap(), RawQueue::new(4).unwrap());
        let tid = AtomicU32::new(0);
        thread::scope(|s| {
            s.spawn(|| loop {
                if tid.load(Ordering::Relaxed) == 0 {
                    tid.store(gettid(), Ordering::Release);
                }
                match echo {
                    Echo::Get => {}
                    Echo::WaitOne => assert_eq!(wait(&[&ping], None), [0]),
                    Echo::WaitQueues => {
                        let ready = wait(&[&idle.0, &idle.1, &ping], None);
                        assert_eq!(ready, [2]);
                    }
                    Echo::WaitWithProcess => {
                        let sources: [&dyn Waitable; 3] = [&idle.0, &child, &ping];
                        assert_eq!(wait(&sources, None), [2]);
                    }
                }
                let m = ping.get().unwrap();
                if m == STOP {
                    break;
                }
                pong.put(m).unwrap();
            });
            let round = || {
                ping.put(b"ping").unwrap();
                pong.get().unwrap()
            };
            assert_eq!(round(), b"ping");
            let tid = loop {
                match tid.load(Ordering::Acquire) {
                    0 => thread::yield_now(),
                    t => break t,
                }
            };
            if from_sleep {
                g.bench_function(name, |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            while !asleep(tid) {
                                thread::yield_now();
                            }
                            let t = Instant::now();
                            round();
                            total += t.elapsed();
                        }
                        total
                    })
                });
            } else {
                g.bench_function(name, |b| b.iter(round));
            }
            ping.put(STOP).unwrap();
        });
    }
    g.finish();
    drop(_keep);
    child.kill().expect("kill");
    child.join().expect("join");
}

criterion_group!(benches, round_trips);
criterion_main!(benches);
