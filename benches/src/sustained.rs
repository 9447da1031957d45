//! Sustained streams between processes: forked producers `put` as fast as they can, the bench
//! process `get`s, the queue fills and drains as it will. The regime a user's loop lives in.
//!
//! [`crate::stream`] times *gated batches*: the producer waits at a gate after every 4,096
//! messages and the queue holds a whole batch, so it never fills. Here a producer is told how
//! many messages the run needs (a million or more for the shared-memory peers, see
//! [`Peer::chunk`]) and sends them in one free-running loop; the consumer receives them in its
//! own loop. Capacities are those a user picks first (1,024 messages where the peer has one;
//! pipes and sockets keep the kernel's default buffer). A [`Gate`] starts each run, so the
//! transient (the first capacity-full of messages) is under 0.1 % of a run of our queues.
//!
//! Scenarios ([`Scenario`]): 64-byte and 1,024-byte messages from one producer, 64-byte messages
//! from two producers into one consumer, and a small typed struct ([`Small`]). Every message
//! carries its producer's index and sequence number ([`stamp`]); the consumer checks each one
//! (per producer: no loss, no duplicate, no reordering; a byte message also carries the stamp in
//! its last 8 bytes, so a torn copy is caught).
//!
//! The peers' code is in [`ours`] (ipc's queues), [`kernel`] (pipe, socket pair), [`crates`]
//! (ipc-channel and interprocess, with their cargo features), [`crate::spsc`] (the SPSC ring
//! floor) and `crate::iceoryx` (iceoryx2, with its cargo feature).

pub mod crates;
pub mod kernel;
pub mod ours;

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::time::{Duration, Instant};

use host_runtime::wait::{Backoff, Policy};

use crate::child::Child;
use crate::gate::Gate;
use crate::ids::sustained as id;
use crate::shm::{SharedMem, PAGE};

/// The small struct of the typed scenario: what `(int, float, str)` is in Python.
pub type Small = (u64, f64, String);

/// The float every [`Small`] carries.
pub const SMALL_FLOAT: f64 = 3.25;

/// The 16-character string every [`Small`] carries (Python's tuple has the same).
pub const SMALL_TEXT: &str = "sixteen chars!!!";

/// What a stream carries, and from how many producers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// 64-byte messages, one producer.
    Bytes64,
    /// 1,024-byte messages, one producer.
    Bytes1K,
    /// 64-byte messages, two producers, one consumer.
    TwoToOne64,
    /// A [`Small`] struct per message (typed peers only), one producer.
    Struct,
}

impl Scenario {
    /// Every scenario, in the order of the report.
    pub const ALL: [Scenario; 4] = [
        Scenario::Bytes64,
        Scenario::Bytes1K,
        Scenario::TwoToOne64,
        Scenario::Struct,
    ];

    /// Its criterion group id.
    pub fn group(self) -> &'static str {
        match self {
            Scenario::Bytes64 => crate::ids::group::SUSTAINED_64B,
            Scenario::Bytes1K => crate::ids::group::SUSTAINED_1KIB,
            Scenario::TwoToOne64 => crate::ids::group::SUSTAINED_64B_2TO1,
            Scenario::Struct => crate::ids::group::SUSTAINED_STRUCT,
        }
    }

    /// The message length in bytes (0 for [`Scenario::Struct`]).
    pub fn len(self) -> usize {
        match self {
            Scenario::Bytes64 | Scenario::TwoToOne64 => 64,
            Scenario::Bytes1K => 1024,
            Scenario::Struct => 0,
        }
    }

    /// Whether it carries no bytes (only [`Scenario::Struct`]).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The number of producer processes.
    pub fn producers(self) -> u32 {
        match self {
            Scenario::TwoToOne64 => 2,
            _ => 1,
        }
    }
}

/// Capacity, in messages, of every peer that has one (ipc's queues, the SPSC floor, iceoryx2's
/// subscriber buffer): what a user asks for first.
pub const CAPACITY: usize = 1024;

/// Messages per iteration of the shared-memory peers: with criterion's 10 samples at least,
/// a measured run moves at least 10 M messages.
pub const LONG: u64 = 1 << 20;

/// Messages per iteration of the peers that go through the kernel (pipes, sockets,
/// ipc-channel, interprocess): ten times fewer, so a run of the slowest takes seconds, not
/// minutes.
pub const SHORT: u64 = 1 << 17;

/// Messages per iteration in criterion's test mode (`cargo bench -- --test`, CI's quick pass):
/// each benchmark runs one iteration, to show it works.
pub const TEST: u64 = 2_000;

/// Messages of the check run every stream does before it is timed.
const CHECK: u64 = 1_000;

/// Bits of a stamp that hold the sequence number; the producer's index is above them.
const SEQ_BITS: u32 = 48;

/// The stamp of producer `producer`'s message number `seq` (from 1).
#[inline]
pub fn stamp(producer: u32, seq: u64) -> u64 {
    (u64::from(producer) << SEQ_BITS) | seq
}

/// Writes `stamp` into the first and the last 8 bytes of `m` (little-endian).
///
/// # Panics
///
/// If `m` is shorter than 16 bytes.
#[inline]
pub fn stamp_bytes(m: &mut [u8], stamp: u64) {
    let n = m.len();
    m[..8].copy_from_slice(&stamp.to_le_bytes());
    m[n - 8..].copy_from_slice(&stamp.to_le_bytes());
}

/// The stamp of a byte message of `len` bytes, checked: its length, and the same stamp at
/// both ends.
///
/// # Panics
///
/// If the message has another length or its two stamps differ (a torn or garbled copy).
#[inline]
pub fn read_stamp(m: &[u8], len: usize) -> u64 {
    assert_eq!(m.len(), len, "message of the wrong length");
    let head = u64::from_le_bytes(m[..8].try_into().expect("8 bytes"));
    let tail = u64::from_le_bytes(m[len - 8..].try_into().expect("8 bytes"));
    assert_eq!(head, tail, "torn message");
    head
}

/// The producing end of a stream, used in a producer process.
pub trait Tx {
    /// Sends the message carrying `stamp`, waiting for room if needed.
    fn send(&mut self, stamp: u64);
}

/// The consuming end, used in the bench process.
pub trait Rx {
    /// Receives the next message, waiting for it; its stamp.
    fn recv(&mut self) -> u64;

    /// Called once after the producers are forked, before they are waited for: a handshake
    /// for transports whose connections form asynchronously (nothing by default).
    fn connect(&mut self, _producers: u32) {}
}

/// A byte transport's sending end: one message, as the user's loop sends it.
pub trait ByteTx {
    /// Sends `m`, waiting for room if needed.
    fn send_bytes(&mut self, m: &[u8]);
}

/// A byte transport's receiving end: one message, as the user's loop receives it.
pub trait ByteRx {
    /// Receives the next message, waiting for it; the message (in a buffer of the receiver's).
    fn recv_bytes(&mut self) -> &[u8];

    /// As [`Rx::connect`].
    fn connect(&mut self, _producers: u32) {}
}

/// A [`ByteTx`] sending stamped messages of a fixed length.
#[derive(Debug)]
pub struct BytesTx<T> {
    inner: T,
    buf: Vec<u8>,
}

impl<T: ByteTx> BytesTx<T> {
    /// Messages of `len` bytes (the filler is `0xA5`) through `inner`.
    pub fn new(inner: T, len: usize) -> Self {
        Self {
            inner,
            buf: vec![0xA5; len],
        }
    }
}

impl<T: ByteTx> Tx for BytesTx<T> {
    #[inline]
    fn send(&mut self, stamp: u64) {
        stamp_bytes(&mut self.buf, stamp);
        self.inner.send_bytes(&self.buf);
    }
}

/// A [`ByteRx`] whose messages are checked by [`read_stamp`].
#[derive(Debug)]
pub struct BytesRx<R> {
    inner: R,
    len: usize,
}

impl<R: ByteRx> BytesRx<R> {
    /// Messages of `len` bytes from `inner`.
    pub fn new(inner: R, len: usize) -> Self {
        Self { inner, len }
    }
}

impl<R: ByteRx> Rx for BytesRx<R> {
    #[inline]
    fn recv(&mut self) -> u64 {
        let len = self.len;
        read_stamp(self.inner.recv_bytes(), len)
    }

    fn connect(&mut self, producers: u32) {
        self.inner.connect(producers);
    }
}

/// A stream made for a scenario: producers forked and waiting, the receiving end here.
pub trait Run {
    /// Lets the producers send `n` messages in all (a multiple of the number of producers,
    /// split evenly) and receives them; the time from the start signal to the last message.
    ///
    /// # Panics
    ///
    /// If a message is lost, duplicated, reordered or garbled.
    fn run(&mut self, n: u64) -> Duration;
}

/// A sustained-stream peer: its benchmark id, how many messages an iteration moves, and how to
/// make one.
pub struct Peer {
    /// The benchmark id (function name), the same in every scenario's group.
    pub name: &'static str,
    /// Messages per criterion iteration outside test mode ([`LONG`] or [`SHORT`]).
    pub chunk: u64,
    /// Forks the producers and makes the receiving end.
    pub make: Box<dyn Fn() -> io::Result<Box<dyn Run>>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("name", &self.name)
            .field("chunk", &self.chunk)
            .finish()
    }
}

impl Peer {
    fn new(
        name: &'static str,
        chunk: u64,
        make: impl Fn() -> io::Result<Box<dyn Run>> + 'static,
    ) -> Self {
        Self {
            name,
            chunk,
            make: Box::new(make),
        }
    }
}

/// Every peer of this build for `scenario`, ipc's first.
///
/// The SPSC floor and interprocess's local socket (one connection to one stream) have one
/// producer only: they are not in [`Scenario::TwoToOne64`]. [`Scenario::Struct`] has the typed
/// peers: ipc's `Queue<Small>` and ipc-channel's `IpcSender<Small>`.
pub fn peers(scenario: Scenario) -> Vec<Peer> {
    let len = scenario.len();
    let p = scenario.producers();
    let mut v = Vec::new();
    if scenario == Scenario::Struct {
        v.push(Peer::new(id::QUEUE_STRUCT, LONG, ours::queue_struct));
        #[cfg(feature = "ipc-channel")]
        v.push(Peer::new(id::IPC_CHANNEL_STRUCT, SHORT, crates::ipc_struct));
        return v;
    }
    v.push(Peer::new(id::RAW_QUEUE, LONG, move || {
        ours::raw_queue(len, p)
    }));
    v.push(Peer::new(id::QUEUE_VEC, LONG, move || {
        ours::queue_vec(len, p)
    }));
    v.push(Peer::new(id::BYTE_QUEUE_BLOCKING, LONG, move || {
        ours::byte_queue(len, p, true)
    }));
    v.push(Peer::new(id::BYTE_QUEUE_SPIN, LONG, move || {
        ours::byte_queue(len, p, false)
    }));
    if p == 1 {
        v.push(Peer::new(id::SPSC_FLOOR, LONG, move || {
            crate::spsc::stream(len, CAPACITY)
        }));
    }
    v.push(Peer::new(id::PIPE, SHORT, move || {
        kernel::pipe(len, p, false)
    }));
    v.push(Peer::new(id::PIPE_BATCHED, SHORT, move || {
        kernel::pipe(len, p, true)
    }));
    v.push(Peer::new(id::SOCKETPAIR, SHORT, move || {
        kernel::socketpair(len, p)
    }));
    #[cfg(feature = "ipc-channel")]
    {
        v.push(Peer::new(id::IPC_CHANNEL_BYTES, SHORT, move || {
            crates::ipc_bytes(len, p)
        }));
        v.push(Peer::new(id::IPC_CHANNEL_VEC, SHORT, move || {
            crates::ipc_vec(len, p)
        }));
    }
    #[cfg(feature = "interprocess")]
    if p == 1 {
        v.push(Peer::new(id::INTERPROCESS, SHORT, move || {
            crates::local_socket(len)
        }));
    }
    #[cfg(feature = "iceoryx2")]
    v.push(Peer::new(id::ICEORYX2, LONG, move || {
        crate::iceoryx::sustained(len, p, CAPACITY)
    }));
    v
}

/// Offsets in the control page: the gate, the messages per producer of the next run, and the
/// count of producers whose sending end is made.
const GATE_AT: usize = 0;
const COUNT_AT: usize = 64;
const READY_AT: usize = 128;

/// Forked producers sending through a [`Tx`] each, and the bench's [`Rx`].
#[derive(Debug)]
pub struct Stream<R: Rx> {
    ctl: SharedMem,
    rx: R,
    children: Vec<Child>,
    /// The last sequence number received from each producer.
    last: Vec<u64>,
}

impl<R: Rx> Stream<R> {
    /// Forks `producers` processes, each making its sender with `make_tx(index)` (after the
    /// fork, so transports that must not cross a fork can be made there), waits until they
    /// are ready and checks a short run.
    ///
    /// # Errors
    ///
    /// Those of `mmap` and `fork`.
    pub fn spawn<T: Tx>(make_tx: impl Fn(u32) -> T, rx: R, producers: u32) -> io::Result<Self> {
        let ctl = SharedMem::new(PAGE)?;
        let mut children = Vec::new();
        for index in 0..producers {
            let gate: &Gate = ctl.at(GATE_AT);
            let count: &AtomicU64 = ctl.at(COUNT_AT);
            let ready: &AtomicU32 = ctl.at(READY_AT);
            let make_tx = &make_tx;
            children.push(Child::spawn(move || {
                let mut tx = make_tx(index);
                // Release: pairs with the parent's Acquire load.
                ready.fetch_add(1, Release);
                let mut seq = 0u64;
                let mut seen = 0u32;
                while gate.wait(&mut seen) {
                    // Relaxed: written before the gate opened, whose Acquire made it visible.
                    let n = count.load(Relaxed);
                    // The user's loop: one send per message, nothing else.
                    for _ in 0..n {
                        seq += 1;
                        tx.send(stamp(index, seq));
                    }
                }
                0
            })?);
        }
        let mut rx = rx;
        rx.connect(producers);
        let mut backoff = Backoff::new(Policy::SPIN_THEN_YIELD);
        // Acquire: pairs with each producer's Release increment.
        while ctl.at::<AtomicU32>(READY_AT).load(Acquire) < producers {
            backoff.snooze();
        }
        let mut s = Stream {
            ctl,
            rx,
            children,
            last: vec![0; producers as usize],
        };
        s.run(CHECK * u64::from(producers));
        Ok(s)
    }
}

impl<R: Rx> Run for Stream<R> {
    #[inline(never)]
    fn run(&mut self, n: u64) -> Duration {
        let producers = self.last.len() as u64;
        assert!(n % producers == 0, "{n} messages for {producers} producers");
        // Relaxed: published to the producers by the gate's Release in `open()`.
        self.ctl
            .at::<AtomicU64>(COUNT_AT)
            .store(n / producers, Relaxed);
        let start = Instant::now();
        self.ctl.at::<Gate>(GATE_AT).open();
        // The user's loop: one receive per message, and the check.
        for _ in 0..n {
            let s = self.rx.recv();
            let p = (s >> SEQ_BITS) as usize;
            let last = self
                .last
                .get_mut(p)
                .unwrap_or_else(|| panic!("message from unknown producer {p}"));
            *last += 1;
            assert_eq!(
                s & ((1 << SEQ_BITS) - 1),
                *last,
                "lost, duplicated or reordered message of producer {p}"
            );
        }
        start.elapsed()
    }
}

impl<R: Rx> Drop for Stream<R> {
    fn drop(&mut self) {
        self.ctl.at::<Gate>(GATE_AT).stop();
        for child in self.children.drain(..) {
            let r = child.join();
            if !std::thread::panicking() {
                r.expect("producer process");
            }
        }
    }
}

/// A boxed [`Stream`] of `producers` sending through `make_tx(index)`, received by `rx`.
///
/// # Errors
///
/// Those of [`Stream::spawn`].
pub fn boxed<T: Tx, R: Rx + 'static>(
    make_tx: impl Fn(u32) -> T,
    rx: R,
    producers: u32,
) -> io::Result<Box<dyn Run>> {
    Ok(Box::new(Stream::spawn(make_tx, rx, producers)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_torn_messages_are_caught() {
        let mut m = vec![0u8; 64];
        stamp_bytes(&mut m, stamp(1, 42));
        assert_eq!(read_stamp(&m, 64), (1 << SEQ_BITS) | 42);
        m[60] ^= 1;
        assert!(std::panic::catch_unwind(|| read_stamp(&m, 64)).is_err());
    }

    #[test]
    fn every_peer_streams_every_scenario() {
        for scenario in Scenario::ALL {
            for peer in peers(scenario) {
                let mut run = (peer.make)().unwrap_or_else(|e| panic!("{}: {e}", peer.name));
                let n = 2 * u64::from(scenario.producers()) * CAPACITY as u64;
                assert!(run.run(n) > Duration::ZERO, "{}", peer.name);
            }
        }
    }
}
