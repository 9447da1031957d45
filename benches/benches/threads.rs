//! Queues between threads: SPSC for message sizes 8, 64, 1024 and 65,536 bytes, with a queue
//! that never fills and with capacity 2; MPMC with 2×2, 4×4 and 4×1 producers × consumers.
//!
//! Each iteration is one batch of messages through persistent threads
//! ([`benches::threads::Rig`]); `iter_custom` times the batches and criterion reports them
//! with `Throughput::Elements` (messages per second). Every rig runs one batch before it is
//! timed, and every batch checks the count and the sum of the sequence numbers received.
//! Every waiting producer or consumer uses the same backoff (spin, then yield).

#![deny(unsafe_code)]

use std::sync::mpsc::{self, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use benches::ids::{self, push_pop::BYTE_QUEUE};
use benches::msg::{seq_of, stamp};
use benches::shm::{OwnedQueue, SharedMem};
use benches::threads::{on_big_stack, Rig, Rx, Tx};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use crossbeam_queue::ArrayQueue;
use ipc_core::{ByteQueue, Config, PopError, PushError, Queue};

/// A message of `S` bytes carrying `seq` in its first 8 bytes.
fn msg<const S: usize>() -> Box<[u8; S]> {
    vec![0xA5u8; S]
        .into_boxed_slice()
        .try_into()
        .expect("length")
}

// ---- ipc_core::ByteQueue in (anonymous shared) memory ----------------------------------------

struct BqTx<const S: usize>(OwnedQueue, Box<[u8; S]>);
struct BqRx<const S: usize>(OwnedQueue, Box<[u8; S]>);

impl<const S: usize> Tx for BqTx<S> {
    #[inline]
    fn try_send(&mut self, seq: u64) -> bool {
        stamp(&mut self.1[..], seq);
        match self.0.get().try_push(&self.1[..]) {
            Ok(()) => true,
            Err(PushError::Full) => false,
            Err(e) => panic!("{e}"),
        }
    }
}

impl<const S: usize> Rx for BqRx<S> {
    #[inline]
    fn try_recv(&mut self) -> Option<u64> {
        match self.0.get().try_pop(&mut self.1[..]) {
            Ok(n) => {
                assert_eq!(n, S);
                Some(seq_of(&self.1[..]))
            }
            Err(PopError::Empty) => None,
            Err(e) => panic!("{e}"),
        }
    }
}

fn byte_queue<const S: usize>(cap: usize, p: usize, c: usize, batch: u64) -> Rig<BqRx<S>> {
    let len = ByteQueue::memory_size(Config::new(cap, S)).expect("layout");
    let mem = SharedMem::for_queues(len).expect("mmap");
    let q = OwnedQueue::init(&mem, 0, cap, S);
    let txs = (0..p).map(|_| BqTx::<S>(q.clone(), msg())).collect();
    let rxs = (0..c).map(|_| BqRx::<S>(q.clone(), msg())).collect();
    Rig::new(txs, rxs, batch / p as u64)
}

// ---- ipc_core::Queue<[u8; S], N> -------------------------------------------------------------

struct TypedTx<const S: usize, const N: usize>(Arc<Queue<[u8; S], N>>, Box<[u8; S]>);
struct TypedRx<const S: usize, const N: usize>(Arc<Queue<[u8; S], N>>);

impl<const S: usize, const N: usize> Tx for TypedTx<S, N> {
    #[inline]
    fn try_send(&mut self, seq: u64) -> bool {
        stamp(&mut self.1[..], seq);
        self.0.push(*self.1).is_ok()
    }
}

impl<const S: usize, const N: usize> Rx for TypedRx<S, N> {
    #[inline]
    fn try_recv(&mut self) -> Option<u64> {
        self.0.pop().map(|m| seq_of(&m))
    }
}

fn typed<const S: usize, const N: usize>(p: usize, c: usize, batch: u64) -> Rig<TypedRx<S, N>> {
    let q: Arc<Queue<[u8; S], N>> = on_big_stack(|| Arc::from(Box::new(Queue::new())));
    let txs = (0..p).map(|_| TypedTx(Arc::clone(&q), msg())).collect();
    let rxs = (0..c).map(|_| TypedRx(Arc::clone(&q))).collect();
    Rig::new(txs, rxs, batch / p as u64)
}

// ---- crossbeam ArrayQueue --------------------------------------------------------------------

struct CbTx<const S: usize>(Arc<ArrayQueue<[u8; S]>>, Box<[u8; S]>);
struct CbRx<const S: usize>(Arc<ArrayQueue<[u8; S]>>);

impl<const S: usize> Tx for CbTx<S> {
    #[inline]
    fn try_send(&mut self, seq: u64) -> bool {
        stamp(&mut self.1[..], seq);
        self.0.push(*self.1).is_ok()
    }
}

impl<const S: usize> Rx for CbRx<S> {
    #[inline]
    fn try_recv(&mut self) -> Option<u64> {
        self.0.pop().map(|m| seq_of(&m))
    }
}

fn crossbeam<const S: usize>(cap: usize, p: usize, c: usize, batch: u64) -> Rig<CbRx<S>> {
    let q = Arc::new(ArrayQueue::new(cap));
    let txs = (0..p).map(|_| CbTx::<S>(Arc::clone(&q), msg())).collect();
    let rxs = (0..c).map(|_| CbRx(Arc::clone(&q))).collect();
    Rig::new(txs, rxs, batch / p as u64)
}

// ---- heapless spsc (capacity N - 1) ----------------------------------------------------------

struct HlTx<const S: usize>(heapless::spsc::Producer<'static, [u8; S]>, Box<[u8; S]>);
struct HlRx<const S: usize>(heapless::spsc::Consumer<'static, [u8; S]>);

impl<const S: usize> Tx for HlTx<S> {
    #[inline]
    fn try_send(&mut self, seq: u64) -> bool {
        stamp(&mut self.1[..], seq);
        self.0.enqueue(*self.1).is_ok()
    }
}

impl<const S: usize> Rx for HlRx<S> {
    #[inline]
    fn try_recv(&mut self) -> Option<u64> {
        self.0.dequeue().map(|m| seq_of(&m))
    }
}

/// `N1` is the capacity + 1 (heapless's spsc queue keeps one slot free).
fn heapless_spsc<const S: usize, const N1: usize>(batch: u64) -> Rig<HlRx<S>> {
    let q: Box<heapless::spsc::Queue<[u8; S], N1>> =
        on_big_stack(|| Box::new(heapless::spsc::Queue::new()));
    // Leaked: the producer and consumer threads need `'static` ends. One queue per benchmark,
    // freed when the bench process exits.
    let (tx, rx) = Box::leak(q).split();
    Rig::new(vec![HlTx(tx, msg())], vec![HlRx(rx)], batch)
}

// ---- rtrb ------------------------------------------------------------------------------------

struct RtTx<const S: usize>(rtrb::Producer<[u8; S]>, Box<[u8; S]>);
struct RtRx<const S: usize>(rtrb::Consumer<[u8; S]>);

impl<const S: usize> Tx for RtTx<S> {
    #[inline]
    fn try_send(&mut self, seq: u64) -> bool {
        stamp(&mut self.1[..], seq);
        self.0.push(*self.1).is_ok()
    }
}

impl<const S: usize> Rx for RtRx<S> {
    #[inline]
    fn try_recv(&mut self) -> Option<u64> {
        self.0.pop().ok().map(|m| seq_of(&m))
    }
}

fn rtrb_spsc<const S: usize>(cap: usize, batch: u64) -> Rig<RtRx<S>> {
    let (tx, rx) = rtrb::RingBuffer::new(cap);
    Rig::new(vec![RtTx(tx, msg())], vec![RtRx(rx)], batch)
}

// ---- std::sync::mpsc::sync_channel -----------------------------------------------------------

struct StdTx<const S: usize>(mpsc::SyncSender<[u8; S]>, Box<[u8; S]>);
struct StdRx<const S: usize>(mpsc::Receiver<[u8; S]>);

impl<const S: usize> Tx for StdTx<S> {
    #[inline]
    fn try_send(&mut self, seq: u64) -> bool {
        stamp(&mut self.1[..], seq);
        match self.0.try_send(*self.1) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => false,
            Err(TrySendError::Disconnected(_)) => panic!("disconnected"),
        }
    }
}

impl<const S: usize> Rx for StdRx<S> {
    #[inline]
    fn try_recv(&mut self) -> Option<u64> {
        self.0.try_recv().ok().map(|m| seq_of(&m))
    }
}

fn std_mpsc<const S: usize>(cap: usize, p: usize, batch: u64) -> Rig<StdRx<S>> {
    let (tx, rx) = mpsc::sync_channel(cap);
    let txs = (0..p).map(|_| StdTx::<S>(tx.clone(), msg())).collect();
    Rig::new(txs, vec![StdRx(rx)], batch / p as u64)
}

// ---- groups ----------------------------------------------------------------------------------

/// Times batches of `rig` (after one checked batch) as `name` in `g`.
fn bench<R: Rx>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, mut rig: Rig<R>) {
    rig.run();
    g.throughput(Throughput::Elements(rig.batch_len()));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| (0..iters).map(|_| rig.run()).sum::<Duration>())
    });
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat).sample_size(20);
    g
}

/// SPSC, messages of `S` bytes, capacity `CAP` (`CAP1` = `CAP` + 1 for heapless); a batch is
/// `CAP` messages, so the queue can never fill.
fn spsc<const S: usize, const CAP: usize, const CAP1: usize>(c: &mut Criterion, name: &str) {
    let n = CAP as u64;
    let mut g = group(c, name);
    bench(&mut g, BYTE_QUEUE, byte_queue::<S>(CAP, 1, 1, n));
    bench(&mut g, "ipc_core::Queue<[u8; S]>", typed::<S, CAP>(1, 1, n));
    bench(
        &mut g,
        "crossbeam::ArrayQueue",
        crossbeam::<S>(CAP, 1, 1, n),
    );
    bench(&mut g, "heapless::spsc::Queue", heapless_spsc::<S, CAP1>(n));
    bench(&mut g, "rtrb::RingBuffer", rtrb_spsc::<S>(CAP, n));
    bench(
        &mut g,
        "std::sync::mpsc::sync_channel",
        std_mpsc::<S>(CAP, 1, n),
    );
    g.finish();
}

/// SPSC with capacity 2: batches of 4,096 messages through a queue of 2.
fn spsc_cap2(c: &mut Criterion) {
    const N: u64 = 4096;
    let mut g = group(c, ids::group::SPSC_64B_CAP2);
    bench(&mut g, BYTE_QUEUE, byte_queue::<64>(2, 1, 1, N));
    bench(&mut g, "ipc_core::Queue<[u8; S]>", typed::<64, 2>(1, 1, N));
    bench(&mut g, "crossbeam::ArrayQueue", crossbeam::<64>(2, 1, 1, N));
    bench(&mut g, "heapless::spsc::Queue", heapless_spsc::<64, 3>(N));
    bench(&mut g, "rtrb::RingBuffer", rtrb_spsc::<64>(2, N));
    bench(
        &mut g,
        "std::sync::mpsc::sync_channel",
        std_mpsc::<64>(2, 1, N),
    );
    g.finish();
}

/// MPMC, 64-byte messages, `p` producers × `c` consumers, capacity 4,096 = one batch.
fn mpmc(c: &mut Criterion, name: &str, p: usize, n: usize) {
    const CAP: usize = 4096;
    let mut g = group(c, name);
    let batch = CAP as u64;
    bench(&mut g, BYTE_QUEUE, byte_queue::<64>(CAP, p, n, batch));
    bench(
        &mut g,
        "ipc_core::Queue<[u8; S]>",
        typed::<64, CAP>(p, n, batch),
    );
    bench(
        &mut g,
        "crossbeam::ArrayQueue",
        crossbeam::<64>(CAP, p, n, batch),
    );
    if n == 1 {
        bench(
            &mut g,
            "std::sync::mpsc::sync_channel",
            std_mpsc::<64>(CAP, p, batch),
        );
    }
    g.finish();
}

fn all(c: &mut Criterion) {
    spsc::<8, 4096, 4097>(c, ids::group::SPSC_8B);
    spsc::<64, 4096, 4097>(c, ids::group::SPSC_64B);
    spsc::<1024, 1024, 1025>(c, ids::group::SPSC_1024B);
    spsc::<65536, 256, 257>(c, ids::group::SPSC_65536B);
    spsc_cap2(c);
    mpmc(c, ids::group::MPMC_64B_2X2, 2, 2);
    mpmc(c, ids::group::MPMC_64B_4X4, 4, 4);
    mpmc(c, ids::group::MPMC_64B_4X1, 4, 1);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = all
}
criterion_main!(benches);
