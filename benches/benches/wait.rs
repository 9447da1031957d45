//! What `host_runtime::wait` adds to a blocked get: a ping-pong between two threads over two
//! `RawQueue`s, where the echo side either blocks in `get` (the baseline) or first waits with
//! `wait` over three sources (two idle queues, or an idle queue and a live child process, plus
//! the ping queue) and then gets. One iteration is one round trip (put ping, echo, get pong);
//! the difference between the rows is the cost of the `wait` on the echo side.
//!
//! Every benchmark checks its result once before timing.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::thread;

use criterion::{criterion_group, criterion_main, Criterion};
use host_runtime::process::Builder;
use host_runtime::{wait, Process, RawQueue, Waitable};

/// Ends the echo thread.
const STOP: &[u8] = b"stop";

/// How the echo side waits for a ping.
#[derive(Clone, Copy)]
enum Echo {
    Get,
    WaitQueues,
    WaitWithProcess,
}

fn round_trips(c: &mut Criterion) {
    let mut g = c.benchmark_group("wake_get_vs_wait3_then_get");
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
        ("wait(3 queues)+get", Echo::WaitQueues),
        ("wait(2 queues, process)+get", Echo::WaitWithProcess),
    ] {
        let (ping, pong) = (RawQueue::new(64).unwrap(), RawQueue::new(64).unwrap());
        let idle = (RawQueue::new(4).unwrap(), RawQueue::new(4).unwrap());
        thread::scope(|s| {
            s.spawn(|| loop {
                match echo {
                    Echo::Get => {}
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
            g.bench_function(name, |b| b.iter(round));
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
