//! Throughput between processes: a forked producer sends batches of 64-byte messages, the
//! bench process receives them.
//!
//! The producer stays alive for the whole benchmark and waits at a [`Gate`] between batches;
//! [`Batch::run`] opens the gate, receives one batch (checking every sequence number) and
//! returns the time from the start signal to the last message. With the queue's capacity at
//! least the batch ("never fills"), the producer never waits for room; with capacity 2 it runs
//! in lock-step with the consumer.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering::*};
use std::time::{Duration, Instant};

use host_runtime::wait::{Backoff, Policy};

use crate::blocking;
use crate::child::Child;
use crate::gate::Gate;
use crate::ids::xproc_throughput as id;
use crate::msg::{message, seq_of, stamp, MSG_LEN};
use crate::roundtrip::{pipe, Mq};
use crate::shm::{page_round, OwnedQueue, SharedMem, PAGE};

/// The sending end, used in the producer process.
pub trait Sender {
    /// Sends one message, waiting for room if needed.
    fn send(&mut self, m: &[u8; MSG_LEN]);
}

/// The receiving end, used in the bench process.
pub trait Receiver {
    /// Receives one message, waiting for it.
    fn recv(&mut self, m: &mut [u8; MSG_LEN]);

    /// Called once after the fork, before the producer is waited for: a handshake for
    /// transports whose connections form asynchronously (nothing by default).
    fn connect(&mut self) {}
}

/// A producer process and the bench's receiving end.
pub trait Batch {
    /// Lets the producer send one batch and receives it; the time from the start signal to the
    /// last message.
    ///
    /// # Panics
    ///
    /// If a message is lost, duplicated or reordered.
    fn run(&mut self) -> Duration;
    /// Messages per batch.
    fn len(&self) -> u64;
    /// Whether a batch is empty (never).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A throughput peer: its benchmark id and how to make one for a capacity and a batch size.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// The benchmark id (function name).
    pub name: &'static str,
    /// Whether its capacity can be set to 2 messages (pipes and sockets can't).
    pub boundable: bool,
    /// Forks the producer: `(capacity in messages, batch size)`.
    pub make: fn(usize, u64) -> io::Result<Box<dyn Batch>>,
}

/// Every throughput peer of this build, ipc's first.
pub fn peers() -> Vec<Peer> {
    #[allow(unused_mut)]
    let mut v = vec![
        Peer {
            name: id::BYTE_QUEUE_SPIN,
            boundable: true,
            make: |cap, n| {
                let (tx, rx) = ByteQueueEnds::pair(cap, false)?;
                Ok(Box::new(Stream::spawn(move || tx, rx, n)?))
            },
        },
        Peer {
            name: id::BYTE_QUEUE_BLOCKING,
            boundable: true,
            make: |cap, n| {
                let (tx, rx) = ByteQueueEnds::pair(cap, true)?;
                Ok(Box::new(Stream::spawn(move || tx, rx, n)?))
            },
        },
        Peer {
            name: id::RAW_QUEUE,
            boundable: true,
            make: |cap, n| {
                let (tx, rx) = crate::host_queue::RawQueueLink::ends(cap)?;
                Ok(Box::new(Stream::spawn(move || tx, rx, n)?))
            },
        },
        Peer {
            name: id::QUEUE_VEC,
            boundable: true,
            make: |cap, n| {
                let (tx, rx) = crate::host_queue::TypedQueueLink::<Vec<u8>>::ends(cap)?;
                Ok(Box::new(Stream::spawn(move || tx, rx, n)?))
            },
        },
        Peer {
            name: id::QUEUE_BYTEBUF,
            boundable: true,
            make: |cap, n| {
                let (tx, rx) =
                    crate::host_queue::TypedQueueLink::<serde_bytes::ByteBuf>::ends(cap)?;
                Ok(Box::new(Stream::spawn(move || tx, rx, n)?))
            },
        },
        Peer {
            name: id::PIPE,
            boundable: false,
            make: |_, n| {
                let (r, w) = pipe()?;
                grow_pipe(&w, n as usize * MSG_LEN);
                Ok(Box::new(Stream::spawn(
                    move || FileSender(w),
                    FileReceiver(r),
                    n,
                )?))
            },
        },
        Peer {
            name: id::PIPE_BATCHED,
            boundable: false,
            make: |_, n| {
                let (r, w) = pipe()?;
                grow_pipe(&w, n as usize * MSG_LEN);
                let rx = BatchedReceiver::new(r);
                Ok(Box::new(Stream::spawn(move || FileSender(w), rx, n)?))
            },
        },
        Peer {
            name: id::SOCKETPAIR,
            boundable: false,
            make: |_, n| {
                let (a, b) = UnixStream::pair()?;
                let (a, b) = (File::from(OwnedFd::from(a)), File::from(OwnedFd::from(b)));
                Ok(Box::new(Stream::spawn(
                    move || FileSender(a),
                    FileReceiver(b),
                    n,
                )?))
            },
        },
        Peer {
            name: "posix mq",
            boundable: true,
            make: |cap, n| {
                let (a, b) = Mq::pair(cap, MSG_LEN)?;
                Ok(Box::new(Stream::spawn(
                    move || MqSender(a),
                    MqReceiver(b),
                    n,
                )?))
            },
        },
    ];
    #[cfg(feature = "iceoryx2")]
    v.push(Peer {
        name: id::ICEORYX2,
        boundable: true,
        make: |cap, n| crate::iceoryx::stream(cap, n),
    });
    v
}

/// Control words shared with the producer: the gate, and a flag it sets once its sender is made.
const READY_AT: usize = 64;

/// A forked producer sending batches through a [`Sender`], and the bench's [`Receiver`].
#[derive(Debug)]
pub struct Stream<R: Receiver> {
    ctl: SharedMem,
    rx: R,
    child: Option<Child>,
    batch: u64,
    seq: u64,
}

impl<R: Receiver> Stream<R> {
    /// Forks the producer, which makes its sender with `make_tx` (after the fork, so transports
    /// that must not cross a fork can be made there), waits until it is ready and checks one
    /// batch.
    ///
    /// # Errors
    ///
    /// Those of `mmap` and `fork`.
    pub fn spawn<S: Sender>(make_tx: impl FnOnce() -> S, rx: R, batch: u64) -> io::Result<Self> {
        let ctl = SharedMem::new(PAGE)?;
        let child = {
            let gate: &Gate = ctl.at(0);
            let ready: &AtomicU32 = ctl.at(READY_AT);
            Child::spawn(move || {
                let mut tx = make_tx();
                // Release: pairs with the parent's Acquire load.
                ready.store(1, Release);
                let mut m = message(0);
                let mut seq = 0u64;
                let mut seen = 0u32;
                while gate.wait(&mut seen) {
                    for _ in 0..batch {
                        seq += 1;
                        stamp(&mut m, seq);
                        tx.send(&m);
                    }
                }
                0
            })?
        };
        let mut rx = rx;
        rx.connect();
        let mut backoff = Backoff::new(Policy::SPIN_THEN_YIELD);
        // Acquire: pairs with the child's Release store.
        while ctl.at::<AtomicU32>(READY_AT).load(Acquire) == 0 {
            backoff.snooze();
        }
        let mut s = Stream {
            ctl,
            rx,
            child: Some(child),
            batch,
            seq: 0,
        };
        s.run();
        Ok(s)
    }
}

impl<R: Receiver> Batch for Stream<R> {
    #[inline(never)]
    fn run(&mut self) -> Duration {
        let mut m = [0u8; MSG_LEN];
        let start = Instant::now();
        self.ctl.at::<Gate>(0).open();
        for _ in 0..self.batch {
            self.rx.recv(&mut m);
            self.seq += 1;
            assert_eq!(
                seq_of(&m),
                self.seq,
                "lost, duplicated or reordered message"
            );
        }
        start.elapsed()
    }

    fn len(&self) -> u64 {
        self.batch
    }
}

impl<R: Receiver> Drop for Stream<R> {
    fn drop(&mut self) {
        self.ctl.at::<Gate>(0).stop();
        if let Some(child) = self.child.take() {
            let r = child.join();
            if !std::thread::panicking() {
                r.expect("producer process");
            }
        }
    }
}

/// One direction of an ipc-core `ByteQueue` in a shared mapping, spinning or blocking.
#[derive(Debug)]
pub struct ByteQueueEnds {
    q: OwnedQueue,
    blocking: bool,
    buf: [u8; MSG_LEN],
}

impl ByteQueueEnds {
    /// A queue of `cap` 64-byte messages; (producer's end, consumer's end). The producer's end
    /// is attached with `attach_raw`.
    ///
    /// # Errors
    ///
    /// Those of `mmap`.
    pub fn pair(cap: usize, blocking: bool) -> io::Result<(Self, Self)> {
        let len =
            ipc_core::ByteQueue::memory_size(ipc_core::Config::new(cap, MSG_LEN)).expect("layout");
        let mem = SharedMem::for_queues(page_round(len))?;
        let rx = OwnedQueue::init(&mem, 0, cap, MSG_LEN);
        let tx = rx.clone();
        let end = |q| ByteQueueEnds {
            q,
            blocking,
            buf: [0; MSG_LEN],
        };
        Ok((end(tx), end(rx)))
    }
}

impl Sender for ByteQueueEnds {
    #[inline]
    fn send(&mut self, m: &[u8; MSG_LEN]) {
        if self.blocking {
            blocking::push(self.q.get(), m);
        } else {
            blocking::spin_push(self.q.get(), m);
        }
    }
}

impl Receiver for ByteQueueEnds {
    #[inline]
    fn recv(&mut self, m: &mut [u8; MSG_LEN]) {
        let n = if self.blocking {
            blocking::pop(self.q.get(), &mut self.buf)
        } else {
            blocking::spin_pop(self.q.get(), &mut self.buf)
        };
        assert_eq!(n, MSG_LEN);
        m.copy_from_slice(&self.buf);
    }
}

/// Writes each message with one `write(2)`.
#[derive(Debug)]
pub struct FileSender(pub File);

impl Sender for FileSender {
    #[inline]
    fn send(&mut self, m: &[u8; MSG_LEN]) {
        self.0.write_all(m).expect("write");
    }
}

/// Reads each message with `read_exact` (one `read(2)` of 64 bytes, as a message protocol
/// over a pipe does).
#[derive(Debug)]
pub struct FileReceiver(pub File);

impl Receiver for FileReceiver {
    #[inline]
    fn recv(&mut self, m: &mut [u8; MSG_LEN]) {
        self.0.read_exact(m).expect("read");
    }
}

/// Reads up to 64 KiB per `read(2)` and hands out the messages in it: the best case for a
/// byte stream, when the consumer can take whatever has arrived.
#[derive(Debug)]
pub struct BatchedReceiver {
    file: File,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
}

impl BatchedReceiver {
    /// Wraps the read end.
    pub fn new(file: File) -> Self {
        Self {
            file,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            end: 0,
        }
    }
}

impl Receiver for BatchedReceiver {
    #[inline]
    fn recv(&mut self, m: &mut [u8; MSG_LEN]) {
        while self.end - self.pos < MSG_LEN {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            let n = self.file.read(&mut self.buf[self.end..]).expect("read");
            assert!(n > 0, "unexpected end of stream");
            self.end += n;
        }
        m.copy_from_slice(&self.buf[self.pos..self.pos + MSG_LEN]);
        self.pos += MSG_LEN;
    }
}

/// `fcntl(F_SETPIPE_SZ)`: grows the pipe's buffer to at least `bytes` so a batch never fills
/// it; left as is if the system refuses (over `/proc/sys/fs/pipe-max-size`).
#[allow(unsafe_code)] // `fcntl(2)`, which host-runtime does not wrap.
pub fn grow_pipe(f: &File, bytes: usize) {
    let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: `F_SETPIPE_SZ` takes an integer and touches no memory of ours; `f` is open.
    unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETPIPE_SZ, bytes) };
}

/// Sends with `mq_send`.
#[derive(Debug)]
pub struct MqSender(pub Mq);

impl Sender for MqSender {
    #[inline]
    fn send(&mut self, m: &[u8; MSG_LEN]) {
        self.0.send(m);
    }
}

/// Receives with `mq_receive`.
#[derive(Debug)]
pub struct MqReceiver(pub Mq);

impl Receiver for MqReceiver {
    #[inline]
    fn recv(&mut self, m: &mut [u8; MSG_LEN]) {
        assert_eq!(self.0.recv(m), MSG_LEN);
    }
}
