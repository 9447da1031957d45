//! ipc's queues in sustained streams, each used as a user's first loop would use it:
//! `RawQueue::put(&m)` / `get_into(&mut buf)`, `Queue<Vec<u8>>::put(v.clone())` / `get()`,
//! `Queue<(u64, f64, String)>::put(..)` / `get()`, and ipc-core's `ByteQueue` in shared memory
//! (blocking or spinning, [`crate::blocking`]).

use std::io;

use host_runtime::{Queue, RawQueue};

use super::{
    boxed, ByteRx, ByteTx, BytesRx, BytesTx, Run, Rx, Small, Tx, CAPACITY, SMALL_FLOAT, SMALL_TEXT,
};
use crate::blocking;
use crate::shm::{page_round, OwnedQueue, SharedMem};

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// A [`RawQueue`] with the buffer `get_into` reuses.
struct Raw(RawQueue, Vec<u8>);

impl ByteTx for Raw {
    #[inline]
    fn send_bytes(&mut self, m: &[u8]) {
        if let Err(e) = self.0.put(m) {
            panic!("put: {e}");
        }
    }
}

impl ByteRx for Raw {
    #[inline]
    fn recv_bytes(&mut self) -> &[u8] {
        self.0.get_into(&mut self.1).expect("get_into");
        &self.1
    }
}

/// `RawQueue::new(1024)`, `len`-byte messages from `producers` processes.
///
/// # Errors
///
/// If the queue can't be made, or those of `fork`.
pub fn raw_queue(len: usize, producers: u32) -> io::Result<Box<dyn Run>> {
    let q = RawQueue::new(CAPACITY).map_err(io_err)?;
    let rx = BytesRx::new(Raw(q.clone(), Vec::with_capacity(len)), len);
    boxed(
        |_| BytesTx::new(Raw(q.clone(), Vec::new()), len),
        rx,
        producers,
    )
}

/// A `Queue<Vec<u8>>`, and the last vector received (dropped when the next one comes, as in
/// a user's loop).
struct TypedVec(Queue<Vec<u8>>, Vec<u8>);

impl ByteTx for TypedVec {
    #[inline]
    fn send_bytes(&mut self, m: &[u8]) {
        // `put(v.clone())`: a new vector per message, as the API takes ownership.
        if let Err(e) = self.0.put(m.to_vec()) {
            panic!("put: {e}");
        }
    }
}

impl ByteRx for TypedVec {
    #[inline]
    fn recv_bytes(&mut self) -> &[u8] {
        self.1 = self.0.get().expect("get");
        &self.1
    }
}

/// `Queue::<Vec<u8>>::new(1024)`, `len`-byte vectors from `producers` processes.
///
/// # Errors
///
/// If the queue can't be made, or those of `fork`.
pub fn queue_vec(len: usize, producers: u32) -> io::Result<Box<dyn Run>> {
    let q = Queue::<Vec<u8>>::new(CAPACITY).map_err(io_err)?;
    let rx = BytesRx::new(TypedVec(q.clone(), Vec::new()), len);
    boxed(
        |_| BytesTx::new(TypedVec(q.clone(), Vec::new()), len),
        rx,
        producers,
    )
}

/// A `Queue<(u64, f64, String)>`: the stamp, [`SMALL_FLOAT`] and a clone of [`SMALL_TEXT`].
struct TypedSmall(Queue<Small>, String);

impl Tx for TypedSmall {
    #[inline]
    fn send(&mut self, stamp: u64) {
        if let Err(e) = self.0.put((stamp, SMALL_FLOAT, self.1.clone())) {
            panic!("put: {e}");
        }
    }
}

impl Rx for TypedSmall {
    #[inline]
    fn recv(&mut self) -> u64 {
        let (stamp, x, text) = self.0.get().expect("get");
        check_small(x, &text);
        stamp
    }
}

/// Checks the float and the string of a received [`Small`].
///
/// # Panics
///
/// If either is not what every producer sends.
#[inline]
pub fn check_small(x: f64, text: &str) {
    assert!(x == SMALL_FLOAT && text == SMALL_TEXT, "garbled struct");
}

/// `Queue::<(u64, f64, String)>::new(1024)`, one producer.
///
/// # Errors
///
/// If the queue can't be made, or those of `fork`.
pub fn queue_struct() -> io::Result<Box<dyn Run>> {
    let q = Queue::<Small>::new(CAPACITY).map_err(io_err)?;
    let rx = TypedSmall(q.clone(), String::new());
    boxed(|_| TypedSmall(q.clone(), SMALL_TEXT.to_string()), rx, 1)
}

/// An ipc-core `ByteQueue` in a shared mapping, with the receive buffer.
struct Ring {
    q: OwnedQueue,
    blocking: bool,
    buf: Vec<u8>,
}

impl ByteTx for Ring {
    #[inline]
    fn send_bytes(&mut self, m: &[u8]) {
        if self.blocking {
            blocking::push(self.q.get(), m);
        } else {
            blocking::spin_push(self.q.get(), m);
        }
    }
}

impl ByteRx for Ring {
    #[inline]
    fn recv_bytes(&mut self) -> &[u8] {
        let n = if self.blocking {
            blocking::pop(self.q.get(), &mut self.buf)
        } else {
            blocking::spin_pop(self.q.get(), &mut self.buf)
        };
        &self.buf[..n]
    }
}

/// An ipc-core `ByteQueue` of 1,024 slots of `len` bytes in shared memory, blocking or
/// spinning, `len`-byte messages from `producers` processes.
///
/// # Errors
///
/// Those of `mmap` and `fork`.
pub fn byte_queue(len: usize, producers: u32, blocking: bool) -> io::Result<Box<dyn Run>> {
    let config = ipc_core::Config::new(CAPACITY, len);
    let size = ipc_core::ByteQueue::memory_size(config).map_err(io_err)?;
    let mem = SharedMem::for_queues(page_round(size))?;
    let q = OwnedQueue::init(&mem, 0, CAPACITY, len);
    let end = |q: OwnedQueue| Ring {
        q,
        blocking,
        buf: vec![0; len],
    };
    let rx = BytesRx::new(end(q.clone()), len);
    boxed(|_| BytesTx::new(end(q.clone()), len), rx, producers)
}
