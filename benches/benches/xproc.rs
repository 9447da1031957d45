//! Between processes: a forked echo process (round trip) or producer (throughput), 64-byte
//! messages, ipc's queues next to every peer.
//!
//! - `xproc_roundtrip_64B`: one message there and back (`benches::roundtrip`); the report adds
//!   median and p99 of single round trips from its own latency loop over the same peers.
//! - `xproc_throughput_64B`: batches of 4,096 messages; ipc's queues (and iceoryx2's buffer)
//!   hold a whole batch, so they never fill; pipes are grown to hold one too
//!   (`F_SETPIPE_SZ`); the Unix socket keeps its default buffer and the POSIX message queue
//!   holds at most `/proc/sys/fs/mqueue/msg_max` messages (10 by default).
//! - `xproc_throughput_64B_cap2`: the same batches through queues of capacity 2 (lock-step);
//!   pipes and sockets can't be bounded to two messages and are left out.
//!
//! - `sustained_64B`, `sustained_1KiB`, `sustained_64B_2to1`, `sustained_struct`: forked
//!   producers run free, the queue fills and drains as it will (`benches::sustained`): one
//!   criterion iteration is a free-running stream of a million messages (2^20) for the
//!   shared-memory peers, 2^17 for the kernel's and the crates' (a sample is one stream of one
//!   or more iterations, so a measured run of our queues moves at least 10 M messages); in
//!   criterion's test mode (`-- --test`, CI's quick pass) 2,000.
//!
//! Every peer checks one round trip, batch or short stream before it is timed, and every
//! message's sequence number while timed. A peer that can't be made here (e.g. no POSIX
//! message queues) is skipped with a note on stderr.

#![deny(unsafe_code)]

use std::time::{Duration, Instant};

use benches::ids::group;
use benches::sustained::{self, Scenario};
use benches::{roundtrip, stream};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

/// Messages per throughput iteration.
const BATCH: u64 = 4096;

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group(group::XPROC_ROUNDTRIP_64B);
    g.sample_size(50);
    for peer in roundtrip::peers() {
        let mut rt = match (peer.make)() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("skipped {}: {e}", peer.name);
                continue;
            }
        };
        g.bench_function(peer.name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    rt.round_trip();
                }
                start.elapsed()
            })
        });
    }
    g.finish();
}

fn throughput(c: &mut Criterion, name: &str, cap: Option<usize>) {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .throughput(Throughput::Elements(BATCH));
    for peer in stream::peers() {
        if cap.is_some() && !peer.boundable {
            continue;
        }
        let mut s = match (peer.make)(cap.unwrap_or(BATCH as usize), BATCH) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skipped {}: {e}", peer.name);
                continue;
            }
        };
        g.bench_function(peer.name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| s.run()).sum::<Duration>())
        });
    }
    g.finish();
}

fn sustained_streams(c: &mut Criterion) {
    // Criterion's test mode runs each benchmark once: a short stream shows it works.
    let test = std::env::args().any(|a| a == "--test");
    for scenario in Scenario::ALL {
        let mut g = c.benchmark_group(scenario.group());
        g.sampling_mode(SamplingMode::Flat).sample_size(10);
        for peer in sustained::peers(scenario) {
            let chunk = if test { sustained::TEST } else { peer.chunk };
            let mut run = match (peer.make)() {
                Ok(run) => run,
                Err(e) => {
                    eprintln!("skipped {}: {e}", peer.name);
                    continue;
                }
            };
            g.throughput(Throughput::Elements(chunk));
            g.bench_function(peer.name, |b| b.iter_custom(|iters| run.run(iters * chunk)));
        }
        g.finish();
    }
}

fn all(c: &mut Criterion) {
    round_trip(c);
    throughput(c, group::XPROC_THROUGHPUT_64B, None);
    throughput(c, group::XPROC_THROUGHPUT_64B_CAP2, Some(2));
    sustained_streams(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = all
}
criterion_main!(benches);
