//! Round trips between the bench process and a forked echo process: one 64-byte message there
//! and back, over each transport.
//!
//! Every peer is made by a function in [`peers`]; the criterion group `xproc_roundtrip_64B`
//! (mean and median per round trip) and the report's latency loop (median and p99 of single
//! round trips, [`crate::latency`]) both use that list. Each [`RoundTrip::round_trip`] checks
//! that the message that came back is the one sent.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};

use host_runtime::sys::futex::{futex_wait, futex_wake};
use host_runtime::wait::{Backoff, Policy};

use crate::blocking;
use crate::child::Child;
use crate::ids::xproc_roundtrip as id;
use crate::msg::{message, seq_of, MSG_LEN, STOP};
use crate::shm::{OwnedQueue, SharedMem, PAGE};

/// One side of a ping-pong with a forked echo process.
pub trait RoundTrip {
    /// Sends the next message and waits until the echo brings it back.
    ///
    /// # Panics
    ///
    /// If what comes back is not what was sent, or the transport fails.
    fn round_trip(&mut self);
}

/// A round-trip peer: its name in the criterion group and the report, and how to make one.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// The benchmark id (function name) in the `xproc_roundtrip_64B` group.
    pub name: &'static str,
    /// Forks the echo process and connects to it.
    pub make: fn() -> io::Result<Box<dyn RoundTrip>>,
}

/// Every round-trip peer of this build, ipc's first.
pub fn peers() -> Vec<Peer> {
    #[allow(unused_mut)]
    let mut v = vec![
        Peer {
            name: id::BYTE_QUEUE_SPIN,
            make: || Ok(Box::new(Echo::spawn(ByteQueueLink::pair(false)?)?)),
        },
        Peer {
            name: id::BYTE_QUEUE_BLOCKING,
            make: || Ok(Box::new(Echo::spawn(ByteQueueLink::pair(true)?)?)),
        },
        Peer {
            name: id::RAW_QUEUE,
            make: || {
                Ok(Box::new(Echo::spawn(
                    crate::host_queue::RawQueueLink::pair()?,
                )?))
            },
        },
        Peer {
            name: id::QUEUE_VEC,
            make: || {
                Ok(Box::new(Echo::spawn(crate::host_queue::TypedQueueLink::<
                    Vec<u8>,
                >::pair()?)?))
            },
        },
        Peer {
            name: id::FLOOR,
            make: || Ok(Box::new(SpinPingPong::spawn()?)),
        },
        Peer {
            name: id::MAILBOX_FLOOR,
            make: || Ok(Box::new(SpinMailbox::spawn()?)),
        },
        Peer {
            name: "shm futex ping-pong",
            make: || Ok(Box::new(FutexPingPong::spawn()?)),
        },
        Peer {
            name: "pipe",
            make: || Ok(Box::new(Echo::spawn(FileLink::pipes()?)?)),
        },
        Peer {
            name: "unix socketpair",
            make: || Ok(Box::new(Echo::spawn(FileLink::socketpair()?)?)),
        },
        Peer {
            name: "posix mq",
            make: || Ok(Box::new(Echo::spawn(MqLink::pair(2)?)?)),
        },
    ];
    #[cfg(feature = "iceoryx2")]
    v.push(Peer {
        name: id::ICEORYX2,
        make: || Ok(Box::new(crate::iceoryx::PingPong::spawn()?)),
    });
    v
}

/// One end of a two-way message transport.
pub trait Link {
    /// Sends one message, waiting for room if needed.
    fn send(&mut self, m: &[u8; MSG_LEN]);
    /// Receives one message, waiting for it.
    fn recv(&mut self, m: &mut [u8; MSG_LEN]);
}

/// A ping-pong over a [`Link`] with a forked process that echoes every message.
#[derive(Debug)]
pub struct Echo<L: Link> {
    link: L,
    child: Option<Child>,
    seq: u64,
}

impl<L: Link> Echo<L> {
    /// Forks the echo process with the child's end, keeps the parent's; checks one round trip.
    ///
    /// # Errors
    ///
    /// Those of `fork`.
    pub fn spawn((parent, child): (L, L)) -> io::Result<Self> {
        let child = Child::spawn(move || {
            let mut link = child;
            let mut buf = [0u8; MSG_LEN];
            loop {
                link.recv(&mut buf);
                if seq_of(&buf) == STOP {
                    return 0;
                }
                link.send(&buf);
            }
        })?;
        let mut echo = Echo {
            link: parent,
            child: Some(child),
            seq: 0,
        };
        echo.round_trip();
        Ok(echo)
    }
}

impl<L: Link> RoundTrip for Echo<L> {
    #[inline]
    fn round_trip(&mut self) {
        self.seq += 1;
        let mut m = message(self.seq);
        self.link.send(&m);
        self.link.recv(&mut m);
        assert_eq!(seq_of(&m), self.seq, "echo returned another message");
    }
}

impl<L: Link> Drop for Echo<L> {
    fn drop(&mut self) {
        self.link.send(&message(STOP));
        if let Some(child) = self.child.take() {
            let r = child.join();
            if !std::thread::panicking() {
                r.expect("echo process");
            }
        }
    }
}

/// Two ipc-core [`ByteQueue`](ipc_core::ByteQueue)s in one shared mapping, one per direction;
/// the child attaches them with `attach_raw`.
#[derive(Debug)]
pub struct ByteQueueLink {
    tx: OwnedQueue,
    rx: OwnedQueue,
    blocking: bool,
    buf: [u8; MSG_LEN],
}

impl ByteQueueLink {
    /// Capacity of each direction (one message is ever in flight).
    const CAP: usize = 16;

    /// Both ends: spinning on `try_push`/`try_pop`, or blocking on the queue's wait words.
    ///
    /// # Errors
    ///
    /// Those of `mmap`.
    pub fn pair(blocking: bool) -> io::Result<(Self, Self)> {
        let len = ipc_core::ByteQueue::memory_size(ipc_core::Config::new(Self::CAP, MSG_LEN))
            .expect("layout");
        let stride = crate::shm::page_round(len);
        let mem = SharedMem::for_queues(2 * stride)?;
        let there = OwnedQueue::init(&mem, 0, Self::CAP, MSG_LEN);
        let back = OwnedQueue::init(&mem, stride, Self::CAP, MSG_LEN);
        let child = ByteQueueLink {
            tx: back.clone(),
            rx: there.clone(),
            blocking,
            buf: [0; MSG_LEN],
        };
        let parent = ByteQueueLink {
            tx: there,
            rx: back,
            blocking,
            buf: [0; MSG_LEN],
        };
        Ok((parent, child))
    }
}

impl Link for ByteQueueLink {
    #[inline]
    fn send(&mut self, m: &[u8; MSG_LEN]) {
        if self.blocking {
            blocking::push(self.tx.get(), m);
        } else {
            blocking::spin_push(self.tx.get(), m);
        }
    }

    #[inline]
    fn recv(&mut self, m: &mut [u8; MSG_LEN]) {
        let n = if self.blocking {
            blocking::pop(self.rx.get(), &mut self.buf)
        } else {
            blocking::spin_pop(self.rx.get(), &mut self.buf)
        };
        assert_eq!(n, MSG_LEN);
        m.copy_from_slice(&self.buf);
    }
}

/// Byte-stream file descriptors (a pipe pair or a Unix socket), one message = 64 bytes written
/// with one `write` and read with `read_exact`.
#[derive(Debug)]
pub struct FileLink {
    rx: File,
    tx: File,
}

impl FileLink {
    /// Two pipes, one per direction.
    ///
    /// # Errors
    ///
    /// Those of `pipe2`.
    pub fn pipes() -> io::Result<(Self, Self)> {
        let (a_r, a_w) = pipe()?;
        let (b_r, b_w) = pipe()?;
        Ok((FileLink { rx: b_r, tx: a_w }, FileLink { rx: a_r, tx: b_w }))
    }

    /// One `AF_UNIX` `SOCK_STREAM` socket pair (`socketpair(2)`, through
    /// [`UnixStream::pair`]).
    ///
    /// # Errors
    ///
    /// Those of `socketpair`.
    pub fn socketpair() -> io::Result<(Self, Self)> {
        let (a, b) = UnixStream::pair()?;
        let a = File::from(OwnedFd::from(a));
        let b = File::from(OwnedFd::from(b));
        Ok((
            FileLink {
                rx: a.try_clone()?,
                tx: a,
            },
            FileLink {
                rx: b.try_clone()?,
                tx: b,
            },
        ))
    }
}

impl Link for FileLink {
    #[inline]
    fn send(&mut self, m: &[u8; MSG_LEN]) {
        self.tx.write_all(m).expect("write");
    }

    #[inline]
    fn recv(&mut self, m: &mut [u8; MSG_LEN]) {
        self.rx.read_exact(m).expect("read");
    }
}

/// `pipe2(O_CLOEXEC)`: (read end, write end).
///
/// # Errors
///
/// Those of `pipe2`.
pub fn pipe() -> io::Result<(File, File)> {
    let (r, w) = host_runtime::sys::pipe()?;
    Ok((File::from(r), File::from(w)))
}

/// A POSIX message queue descriptor (`mq_open(3)`), closed on drop.
#[derive(Debug)]
pub struct Mq {
    mqd: libc::mqd_t,
}

// The POSIX message queue peer calls `mq_*(3)`, which host-runtime does not wrap.
#[allow(unsafe_code)]
impl Mq {
    /// Creates a queue for `maxmsg` messages of `msgsize` bytes, opens it twice (one
    /// descriptor per side) and unlinks its name: the queue lives while a descriptor does.
    ///
    /// `maxmsg` is clamped to `/proc/sys/fs/mqueue/msg_max` (10 by default), the most an
    /// unprivileged user may ask for.
    ///
    /// # Errors
    ///
    /// Those of `mq_open`.
    pub fn pair(maxmsg: usize, msgsize: usize) -> io::Result<(Mq, Mq)> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "/ipc-bench-{}-{}\0",
            std::process::id(),
            NEXT.fetch_add(1, Relaxed)
        );
        // SAFETY: `mq_attr` is a plain C struct; all-zero is a valid value.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        attr.mq_maxmsg = maxmsg.min(mq_msg_max()) as libc::c_long;
        attr.mq_msgsize = msgsize as libc::c_long;
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
        // SAFETY: `name` is NUL-terminated and lives through the call; `attr` is a valid
        // `mq_attr` read by the call; mode is passed as the variadic `mode_t` argument.
        let a = unsafe {
            libc::mq_open(
                name.as_ptr().cast(),
                flags,
                0o600 as libc::mode_t,
                &attr as *const libc::mq_attr,
            )
        };
        if a == -1 {
            return Err(io::Error::last_os_error());
        }
        let a = Mq { mqd: a };
        // SAFETY: as above; no creation flags, so no variadic arguments are read.
        let b = unsafe { libc::mq_open(name.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC) };
        // SAFETY: `name` is NUL-terminated.
        unsafe { libc::mq_unlink(name.as_ptr().cast()) };
        if b == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok((a, Mq { mqd: b }))
    }

    /// The capacity the queue really got.
    pub fn maxmsg(&self) -> usize {
        // SAFETY: as in `pair`.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        // SAFETY: `self.mqd` is an open descriptor; `attr` is writable.
        if unsafe { libc::mq_getattr(self.mqd, &mut attr) } == -1 {
            return 0;
        }
        attr.mq_maxmsg as usize
    }

    /// `mq_send`, retried on `EINTR`.
    ///
    /// # Panics
    ///
    /// On any other error.
    #[inline]
    pub fn send(&self, m: &[u8]) {
        loop {
            // SAFETY: `m` is readable for `m.len()` bytes; `self.mqd` is open.
            let r = unsafe { libc::mq_send(self.mqd, m.as_ptr().cast(), m.len(), 0) };
            if r == 0 {
                return;
            }
            let e = io::Error::last_os_error();
            assert_eq!(e.kind(), io::ErrorKind::Interrupted, "mq_send: {e}");
        }
    }

    /// `mq_receive` into `buf` (at least the queue's message size), retried on `EINTR`;
    /// returns the message's length.
    ///
    /// # Panics
    ///
    /// On any other error.
    #[inline]
    pub fn recv(&self, buf: &mut [u8]) -> usize {
        loop {
            // SAFETY: `buf` is writable for `buf.len()` bytes; `self.mqd` is open; the
            // priority pointer may be null.
            let r = unsafe {
                libc::mq_receive(
                    self.mqd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    std::ptr::null_mut(),
                )
            };
            if r >= 0 {
                return r as usize;
            }
            let e = io::Error::last_os_error();
            assert_eq!(e.kind(), io::ErrorKind::Interrupted, "mq_receive: {e}");
        }
    }
}

#[allow(unsafe_code)] // `mq_close(3)`.
impl Drop for Mq {
    fn drop(&mut self) {
        // SAFETY: `self.mqd` is open and owned by this value.
        unsafe { libc::mq_close(self.mqd) };
    }
}

/// `/proc/sys/fs/mqueue/msg_max`: the largest `mq_maxmsg` an unprivileged process may ask for
/// (10 if unreadable).
pub fn mq_msg_max() -> usize {
    std::fs::read_to_string("/proc/sys/fs/mqueue/msg_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(10)
}

/// Two POSIX message queues, one per direction.
#[derive(Debug)]
pub struct MqLink {
    tx: Mq,
    rx: Mq,
}

impl MqLink {
    /// Both ends, each queue with room for `maxmsg` messages of 64 bytes.
    ///
    /// # Errors
    ///
    /// Those of `mq_open`.
    pub fn pair(maxmsg: usize) -> io::Result<(Self, Self)> {
        let (a1, a2) = Mq::pair(maxmsg, MSG_LEN)?;
        let (b1, b2) = Mq::pair(maxmsg, MSG_LEN)?;
        Ok((MqLink { tx: a1, rx: b1 }, MqLink { tx: b2, rx: a2 }))
    }
}

impl Link for MqLink {
    #[inline]
    fn send(&mut self, m: &[u8; MSG_LEN]) {
        self.tx.send(m);
    }

    #[inline]
    fn recv(&mut self, m: &mut [u8; MSG_LEN]) {
        assert_eq!(self.rx.recv(m), MSG_LEN);
    }
}

/// The floor: one 64-bit word in shared memory, the parent writes an odd value, the child
/// answers with the next even one; both spin ([`Policy::FLAT_SPIN_THEN_YIELD`]). No payload, no queue.
#[derive(Debug)]
pub struct SpinPingPong {
    mem: SharedMem,
    child: Option<Child>,
    n: u64,
}

impl SpinPingPong {
    /// Forks the answering process and checks one round trip.
    ///
    /// # Errors
    ///
    /// Those of `mmap` and `fork`.
    pub fn spawn() -> io::Result<Self> {
        let mem = SharedMem::new(PAGE)?;
        let word: &AtomicU64 = mem.at(0);
        let child = Child::spawn(|| {
            let mut expect = 1u64;
            loop {
                let mut backoff = Backoff::new(Policy::FLAT_SPIN_THEN_YIELD);
                loop {
                    // Acquire: pairs with the parent's Release store.
                    let v = word.load(Acquire);
                    if v == STOP {
                        return 0;
                    }
                    if v == expect {
                        break;
                    }
                    backoff.snooze();
                }
                // Release: pairs with the parent's Acquire load.
                word.store(expect + 1, Release);
                expect += 2;
            }
        })?;
        let mut p = SpinPingPong {
            mem,
            child: Some(child),
            n: 0,
        };
        p.round_trip();
        Ok(p)
    }
}

impl RoundTrip for SpinPingPong {
    #[inline]
    fn round_trip(&mut self) {
        let word: &AtomicU64 = self.mem.at(0);
        let ping = 2 * self.n + 1;
        self.n += 1;
        // Release: pairs with the child's Acquire load.
        word.store(ping, Release);
        let mut backoff = Backoff::new(Policy::FLAT_SPIN_THEN_YIELD);
        // Acquire: pairs with the child's Release store.
        while word.load(Acquire) != ping + 1 {
            backoff.snooze();
        }
    }
}

impl Drop for SpinPingPong {
    fn drop(&mut self) {
        // Release: the child sees STOP and exits.
        self.mem.at::<AtomicU64>(0).store(STOP, Release);
        if let Some(child) = self.child.take() {
            let r = child.join();
            if !std::thread::panicking() {
                r.expect("ping-pong process");
            }
        }
    }
}

/// The floor for a 64-byte message: one mailbox per direction, each a sequence word and the
/// 64-byte message after it (72 bytes: two cache lines, as any 64-byte message with a word
/// that says it is there). The sender writes the message, then the word; the receiver spins
/// on the word, then copies the message out. One message is ever in flight, so a mailbox is
/// never rewritten before it was read; no claims, no queue.
///
/// [`SpinPingPong`] moves one word, one cache line; every queue moves at least this.
#[derive(Debug)]
pub struct SpinMailbox {
    mem: SharedMem,
    child: Option<Child>,
    n: u64,
}

/// A mailbox: its word at byte 0, the message in the 8 words after it.
struct Mailbox<'a> {
    seq: &'a AtomicU64,
    message: &'a [AtomicU64; MSG_LEN / 8],
}

impl<'a> Mailbox<'a> {
    /// The mailbox at byte `offset` (a multiple of 128) of `mem`.
    fn at(mem: &'a SharedMem, offset: usize) -> Self {
        Mailbox {
            seq: mem.at(offset),
            message: mem.words(offset + 8),
        }
    }

    fn send(&self, seq: u64, m: &[u8; MSG_LEN]) {
        for (word, bytes) in self.message.iter().zip(m.chunks_exact(8)) {
            word.store(
                u64::from_le_bytes(bytes.try_into().expect("8 bytes")),
                Relaxed,
            );
        }
        // Release: the message is visible to whoever acquires this value.
        self.seq.store(seq, Release);
    }

    /// Waits for `seq` (or [`STOP`]: returns `false`), then copies the message into `m`.
    fn recv(&self, seq: u64, m: &mut [u8; MSG_LEN]) -> bool {
        let mut backoff = Backoff::new(Policy::FLAT_SPIN_THEN_YIELD);
        loop {
            // Acquire: pairs with the sender's Release store.
            match self.seq.load(Acquire) {
                STOP => return false,
                v if v == seq => break,
                _ => backoff.snooze(),
            }
        }
        for (word, bytes) in self.message.iter().zip(m.chunks_exact_mut(8)) {
            bytes.copy_from_slice(&word.load(Relaxed).to_le_bytes());
        }
        true
    }
}

impl SpinMailbox {
    /// Where the parent's and the child's mailboxes start: 128-byte aligned, so each message
    /// takes exactly two cache lines, and far apart.
    const THERE: usize = 0;
    const BACK: usize = 1024;

    /// Forks the answering process and checks one round trip.
    ///
    /// # Errors
    ///
    /// Those of `mmap` and `fork`.
    pub fn spawn() -> io::Result<Self> {
        let mem = SharedMem::new(PAGE)?;
        let child = Child::spawn(|| {
            let (there, back) = (
                Mailbox::at(&mem, Self::THERE),
                Mailbox::at(&mem, Self::BACK),
            );
            let mut m = [0u8; MSG_LEN];
            let mut seq = 1;
            while there.recv(seq, &mut m) {
                back.send(seq, &m);
                seq += 1;
            }
            0
        })?;
        let mut p = SpinMailbox {
            mem,
            child: Some(child),
            n: 0,
        };
        p.round_trip();
        Ok(p)
    }
}

impl RoundTrip for SpinMailbox {
    #[inline]
    fn round_trip(&mut self) {
        self.n += 1;
        let mut m = message(self.n);
        Mailbox::at(&self.mem, Self::THERE).send(self.n, &m);
        assert!(Mailbox::at(&self.mem, Self::BACK).recv(self.n, &mut m));
        assert_eq!(seq_of(&m), self.n, "echo returned another message");
    }
}

impl Drop for SpinMailbox {
    fn drop(&mut self) {
        // Release: the child sees STOP and exits.
        Mailbox::at(&self.mem, Self::THERE).seq.store(STOP, Release);
        if let Some(child) = self.child.take() {
            let r = child.join();
            if !std::thread::panicking() {
                r.expect("mailbox process");
            }
        }
    }
}

/// The futex floor, as `../shared/peers/baselines`: one 32-bit word, each side stores its value
/// and `FUTEX_WAKE`s unconditionally, then `FUTEX_WAIT`s (no spinning) until the answer.
#[derive(Debug)]
pub struct FutexPingPong {
    mem: SharedMem,
    child: Option<Child>,
    n: u32,
}

/// The futex ping-pong's stop value (odd, so after 2^31 round trips it would be taken for a
/// ping: far beyond any bench).
const FUTEX_STOP: u32 = u32::MAX;

impl FutexPingPong {
    /// Forks the answering process and checks one round trip.
    ///
    /// # Errors
    ///
    /// Those of `mmap` and `fork`.
    pub fn spawn() -> io::Result<Self> {
        let mem = SharedMem::new(PAGE)?;
        let word: &AtomicU32 = mem.at(0);
        let child = Child::spawn(|| {
            let mut expect = 1u32;
            loop {
                loop {
                    // Acquire: pairs with the parent's Release store.
                    let v = word.load(Acquire);
                    if v == FUTEX_STOP {
                        return 0;
                    }
                    if v == expect {
                        break;
                    }
                    let _ = futex_wait(word, v, None);
                }
                // Release: pairs with the parent's Acquire load.
                word.store(expect.wrapping_add(1), Release);
                let _ = futex_wake(word, 1);
                expect = expect.wrapping_add(2);
            }
        })?;
        let mut p = FutexPingPong {
            mem,
            child: Some(child),
            n: 0,
        };
        p.round_trip();
        Ok(p)
    }
}

impl RoundTrip for FutexPingPong {
    #[inline]
    fn round_trip(&mut self) {
        let word: &AtomicU32 = self.mem.at(0);
        let ping = self.n.wrapping_mul(2).wrapping_add(1);
        self.n = self.n.wrapping_add(1);
        // Release: pairs with the child's Acquire load.
        word.store(ping, Release);
        let _ = futex_wake(word, 1);
        loop {
            // Acquire: pairs with the child's Release store.
            let v = word.load(Acquire);
            if v == ping.wrapping_add(1) {
                return;
            }
            let _ = futex_wait(word, v, None);
        }
    }
}

impl Drop for FutexPingPong {
    fn drop(&mut self) {
        let word: &AtomicU32 = self.mem.at(0);
        // Release: the child sees the stop value and exits.
        word.store(FUTEX_STOP, Release);
        let _ = futex_wake(word, 1);
        if let Some(child) = self.child.take() {
            let r = child.join();
            if !std::thread::panicking() {
                r.expect("ping-pong process");
            }
        }
    }
}
