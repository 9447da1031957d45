//! host-runtime's queues between processes as peers: [`RawQueue`] (byte messages) and
//! [`Queue<Vec<u8>>`](Queue) or `Queue<ByteBuf>` (postcard-encoded items), used with their
//! blocking `put`/`get`.

use std::hint::black_box;
use std::io;

use host_runtime::{Process, Queue, RawQueue};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_bytes::ByteBuf;

use crate::msg::MSG_LEN;
use crate::roundtrip::{Link, RoundTrip};
use crate::stream::{Receiver, Sender};

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// One end of a pair of [`RawQueue`]s (or of one, for a stream).
#[derive(Clone)]
pub struct RawQueueLink {
    tx: RawQueue,
    rx: RawQueue,
    buf: Vec<u8>,
}

impl std::fmt::Debug for RawQueueLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawQueueLink")
    }
}

impl RawQueueLink {
    /// Two queues of capacity 16, one per direction: (parent's end, child's end).
    ///
    /// # Errors
    ///
    /// If a queue can't be made.
    pub fn pair() -> io::Result<(Self, Self)> {
        let a = RawQueue::new(16).map_err(io_err)?;
        let b = RawQueue::new(16).map_err(io_err)?;
        let end = |tx: &RawQueue, rx: &RawQueue| RawQueueLink {
            tx: tx.clone(),
            rx: rx.clone(),
            buf: Vec::with_capacity(MSG_LEN),
        };
        Ok((end(&a, &b), end(&b, &a)))
    }

    /// One queue of capacity `cap`: (producer's end, consumer's end).
    ///
    /// # Errors
    ///
    /// If the queue can't be made.
    pub fn ends(cap: usize) -> io::Result<(Self, Self)> {
        let q = RawQueue::new(cap).map_err(io_err)?;
        let end = || RawQueueLink {
            tx: q.clone(),
            rx: q.clone(),
            buf: Vec::with_capacity(MSG_LEN),
        };
        Ok((end(), end()))
    }

    #[inline]
    fn put(&mut self, m: &[u8; MSG_LEN]) {
        self.tx.put(&m[..]).map_err(|e| e.to_string()).expect("put");
    }

    #[inline]
    fn get(&mut self, m: &mut [u8; MSG_LEN]) {
        let n = self.rx.get_into(&mut self.buf).expect("get");
        assert_eq!(n, MSG_LEN);
        m.copy_from_slice(&self.buf[..MSG_LEN]);
    }
}

impl Link for RawQueueLink {
    fn send(&mut self, m: &[u8; MSG_LEN]) {
        self.put(m);
    }
    fn recv(&mut self, m: &mut [u8; MSG_LEN]) {
        self.get(m);
    }
}

impl Sender for RawQueueLink {
    fn send(&mut self, m: &[u8; MSG_LEN]) {
        self.put(m);
    }
}

impl Receiver for RawQueueLink {
    fn recv(&mut self, m: &mut [u8; MSG_LEN]) {
        self.get(m);
    }
}

/// An item type of a typed queue peer: made from a bench message and read back as bytes.
pub trait Item: Serialize + DeserializeOwned {
    /// The item carrying `m`.
    fn from_message(m: &[u8; MSG_LEN]) -> Self;
    /// The bytes it carries.
    fn bytes(&self) -> &[u8];
}

/// serde encodes a `Vec<u8>` as a sequence, byte by byte.
impl Item for Vec<u8> {
    fn from_message(m: &[u8; MSG_LEN]) -> Self {
        m.to_vec()
    }
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// serde_bytes' `ByteBuf` encodes as one byte string (the same postcard bytes as a `Vec<u8>`).
impl Item for ByteBuf {
    fn from_message(m: &[u8; MSG_LEN]) -> Self {
        ByteBuf::from(m.to_vec())
    }
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// One end of a pair of typed [`Queue<T>`](Queue)s (or of one, for a stream): each message is
/// a 64-byte `T` (a `Vec<u8>` or a `ByteBuf`), allocated and encoded with postcard on `put`,
/// decoded and allocated on `get`.
pub struct TypedQueueLink<T: Item = Vec<u8>> {
    tx: Queue<T>,
    rx: Queue<T>,
}

impl<T: Item> Clone for TypedQueueLink<T> {
    fn clone(&self) -> Self {
        TypedQueueLink {
            tx: self.tx.clone(),
            rx: self.rx.clone(),
        }
    }
}

impl<T: Item> std::fmt::Debug for TypedQueueLink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TypedQueueLink")
    }
}

impl<T: Item> TypedQueueLink<T> {
    /// Two queues of capacity 16, one per direction: (parent's end, child's end).
    ///
    /// # Errors
    ///
    /// If a queue can't be made.
    pub fn pair() -> io::Result<(Self, Self)> {
        let a = Queue::new(16).map_err(io_err)?;
        let b = Queue::new(16).map_err(io_err)?;
        let end = |tx: &Queue<T>, rx: &Queue<T>| TypedQueueLink {
            tx: tx.clone(),
            rx: rx.clone(),
        };
        Ok((end(&a, &b), end(&b, &a)))
    }

    /// One queue of capacity `cap`: (producer's end, consumer's end).
    ///
    /// # Errors
    ///
    /// If the queue can't be made.
    pub fn ends(cap: usize) -> io::Result<(Self, Self)> {
        let q = Queue::new(cap).map_err(io_err)?;
        let end = || TypedQueueLink {
            tx: q.clone(),
            rx: q.clone(),
        };
        Ok((end(), end()))
    }

    #[inline]
    fn put(&mut self, m: &[u8; MSG_LEN]) {
        self.tx
            .put(T::from_message(m))
            .map_err(|e| e.to_string())
            .expect("put");
    }

    #[inline]
    fn get(&mut self, m: &mut [u8; MSG_LEN]) {
        let v = self.rx.get().expect("get");
        m.copy_from_slice(v.bytes());
    }
}

impl<T: Item> Link for TypedQueueLink<T> {
    fn send(&mut self, m: &[u8; MSG_LEN]) {
        self.put(m);
    }
    fn recv(&mut self, m: &mut [u8; MSG_LEN]) {
        self.get(m);
    }
}

impl<T: Item> Sender for TypedQueueLink<T> {
    fn send(&mut self, m: &[u8; MSG_LEN]) {
        self.put(m);
    }
}

impl<T: Item> Receiver for TypedQueueLink<T> {
    fn recv(&mut self, m: &mut [u8; MSG_LEN]) {
        self.get(m);
    }
}

/// `Queue<u64>` there and back to a forked echo process that answers `n + 1` (and stops at
/// `u64::MAX`): the small-message round trip of issue 17, item 4.
pub struct U64Echo {
    ping: Queue<u64>,
    pong: Queue<u64>,
    echo: Option<Process>,
    n: u64,
}

impl std::fmt::Debug for U64Echo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("U64Echo")
    }
}

impl U64Echo {
    /// Two queues of capacity 16 (`Queue::new(16)`, or with inline maximum `inline`), and
    /// the started echo process; checks one round trip.
    ///
    /// # Errors
    ///
    /// If a queue can't be made or the process can't start.
    pub fn spawn(inline: Option<usize>) -> io::Result<U64Echo> {
        let make = || {
            match inline {
                None => Queue::<u64>::new(16),
                Some(bytes) => Queue::builder().maxsize(16).inline_max(bytes).build(),
            }
            .map_err(io_err)
        };
        let (ping, pong) = (make()?, make()?);
        let (rx, tx) = (ping.clone(), pong.clone());
        let echo = Process::new(move || loop {
            let n = rx.get().expect("get");
            if n == u64::MAX {
                break;
            }
            tx.put(n + 1).expect("put");
        });
        echo.start().map_err(io_err)?;
        let mut e = U64Echo {
            ping,
            pong,
            echo: Some(echo),
            n: 0,
        };
        e.round_trip();
        Ok(e)
    }
}

impl RoundTrip for U64Echo {
    #[inline]
    fn round_trip(&mut self) {
        self.ping.put(black_box(self.n)).expect("put");
        assert_eq!(
            self.pong.get().expect("get"),
            self.n + 1,
            "the echo answers n + 1"
        );
        self.n += 2;
    }
}

impl Drop for U64Echo {
    fn drop(&mut self) {
        self.ping.put(u64::MAX).expect("stop");
        if let Some(echo) = self.echo.take() {
            let r = echo.join();
            if !std::thread::panicking() {
                assert_eq!(r.expect("join"), 0, "echo process");
            }
        }
    }
}

/// The rig of the blocking round trip: two `RawQueue`s of `capacity` and a started echo
/// process that sends back through the second what it gets on the first, until an empty
/// message. Returns `(ping, pong, echo)`.
///
/// # Panics
///
/// If the queues cannot be made or the process cannot start.
pub fn raw_echo(capacity: usize) -> (RawQueue, RawQueue, Process) {
    let ping = RawQueue::new(capacity).expect("queue");
    let pong = RawQueue::new(capacity).expect("queue");
    let (rx, tx) = (ping.clone(), pong.clone());
    let echo = Process::new(move || {
        let mut buf = Vec::with_capacity(MSG_LEN);
        while rx.get_into(&mut buf).expect("get") > 0 {
            tx.put(&buf[..]).expect("put");
        }
    });
    echo.start().expect("start echo");
    (ping, pong, echo)
}
