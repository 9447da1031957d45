//! iceoryx2 0.10 publish-subscribe as a peer (cargo feature `iceoryx2`), after the example in
//! `../shared/peers/iceoryx2-pingpong`: `ipc::Service`, a 64-byte `[u8; 64]` payload sent with
//! `send_copy`, received by polling `receive()` with the common [`Backoff`].
//!
//! Each process makes its own node after the fork (the parent's side is made before it, and
//! the child never touches the copy it inherits).

use std::io;
use std::sync::atomic::{AtomicU32, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use host_runtime::wait::{Backoff, Policy};
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory;

use crate::child::Child;
use crate::msg::{message, seq_of, MSG_LEN, STOP};
use crate::roundtrip::RoundTrip;
use crate::shm::{SharedMem, PAGE};
use crate::stream::{Batch, Receiver, Sender, Stream};
use crate::sustained;

type Msg = [u8; MSG_LEN];

fn err(e: impl std::fmt::Debug) -> io::Error {
    io::Error::other(format!("iceoryx2: {e:?}"))
}

/// A unique service name prefix for one peer instance.
fn names() -> (String, String) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let tag = format!(
        "ipc-bench/{}/{}",
        std::process::id(),
        NEXT.fetch_add(1, Relaxed)
    );
    (format!("{tag}/ping"), format!("{tag}/pong"))
}

/// One process's node, services and ports: it subscribes to `rx` and publishes on `tx`; the
/// payload is `[u8; N]`.
pub struct Side<const N: usize = MSG_LEN> {
    // Ports first: dropped before the services and the node they belong to.
    publisher: Option<Publisher<ipc::Service, [u8; N], ()>>,
    subscriber: Option<Subscriber<ipc::Service, [u8; N], ()>>,
    _services: Vec<PortFactory<ipc::Service, [u8; N], ()>>,
    _node: Node<ipc::Service>,
}

impl<const N: usize> std::fmt::Debug for Side<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("iceoryx2::Side")
    }
}

impl<const N: usize> Side<N> {
    /// Opens (or creates) the services named `rx` and `tx` with room for `cap` samples per
    /// subscriber and up to `publishers` publishers, no overflow (a full subscriber makes the
    /// publisher retry), and makes a subscriber on `rx` and a publisher on `tx` (either may be
    /// `None`).
    ///
    /// # Errors
    ///
    /// Any iceoryx2 error.
    pub fn new(
        rx: Option<&str>,
        tx: Option<&str>,
        cap: usize,
        publishers: usize,
    ) -> io::Result<Side<N>> {
        let node = NodeBuilder::new().create::<ipc::Service>().map_err(err)?;
        let open = |name: &str| -> io::Result<PortFactory<ipc::Service, [u8; N], ()>> {
            let name: ServiceName = name.try_into().map_err(err)?;
            node.service_builder(&name)
                .publish_subscribe::<[u8; N]>()
                .enable_safe_overflow(false)
                .subscriber_max_buffer_size(cap)
                .max_publishers(publishers)
                .max_subscribers(1)
                .history_size(0)
                .open_or_create()
                .map_err(err)
        };
        let mut services = Vec::new();
        let mut subscriber = None;
        let mut publisher = None;
        if let Some(rx) = rx {
            let s = open(rx)?;
            subscriber = Some(
                s.subscriber_builder()
                    .buffer_size(cap)
                    .create()
                    .map_err(err)?,
            );
            services.push(s);
        }
        if let Some(tx) = tx {
            let s = open(tx)?;
            publisher = Some(
                s.publisher_builder()
                    .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                    .create()
                    .map_err(err)?,
            );
            services.push(s);
        }
        Ok(Side {
            publisher,
            subscriber,
            _services: services,
            _node: node,
        })
    }

    /// Sends a copy of `m`.
    ///
    /// # Panics
    ///
    /// On an iceoryx2 error, or without a publisher.
    #[inline]
    pub fn send(&self, m: &[u8; N]) {
        self.publisher
            .as_ref()
            .expect("publisher")
            .send_copy(*m)
            .expect("iceoryx2 send");
    }

    /// Receives a message if one is there.
    ///
    /// # Panics
    ///
    /// On an iceoryx2 error, or without a subscriber.
    #[inline]
    pub fn try_recv(&self, m: &mut [u8; N]) -> bool {
        match self
            .subscriber
            .as_ref()
            .expect("subscriber")
            .receive()
            .expect("iceoryx2 receive")
        {
            Some(s) => {
                m.copy_from_slice(&*s);
                true
            }
            None => false,
        }
    }

    /// Polls for a message with [`Backoff`].
    #[inline]
    pub fn recv(&self, m: &mut [u8; N]) {
        let mut backoff = Backoff::new(Policy::SPIN_THEN_YIELD);
        while !self.try_recv(m) {
            backoff.snooze();
        }
    }
}

/// Round trips over two pub/sub services with a forked echo process.
#[derive(Debug)]
pub struct PingPong {
    side: Side,
    child: Option<Child>,
    seq: u64,
}

/// The handshake message that the echo process returns until the parent sees it.
const HELLO: u64 = STOP - 1;

impl PingPong {
    /// Forks the echo process, waits until it answers, and checks one round trip.
    ///
    /// # Errors
    ///
    /// Any iceoryx2 error, or those of `fork`.
    pub fn spawn() -> io::Result<PingPong> {
        let (ping, pong) = names();
        let side = Side::new(Some(&pong), Some(&ping), 2, 1)?;
        let child = Child::spawn(|| {
            let Ok(side) = Side::new(Some(&ping), Some(&pong), 2, 1) else {
                return 2;
            };
            let mut m = [0u8; MSG_LEN];
            loop {
                side.recv(&mut m);
                if seq_of(&m) == STOP {
                    return 0;
                }
                side.send(&m);
            }
        })?;
        // The child's subscriber may not exist yet: say hello until it answers.
        let mut m = [0u8; MSG_LEN];
        'hello: loop {
            side.send(&message(HELLO));
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(10) {
                if side.try_recv(&mut m) && seq_of(&m) == HELLO {
                    break 'hello;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
        while side.try_recv(&mut m) {}
        let mut p = PingPong {
            side,
            child: Some(child),
            seq: 0,
        };
        p.round_trip();
        Ok(p)
    }
}

impl RoundTrip for PingPong {
    #[inline]
    fn round_trip(&mut self) {
        self.seq += 1;
        let mut m = message(self.seq);
        self.side.send(&m);
        self.side.recv(&mut m);
        assert_eq!(seq_of(&m), self.seq, "echo returned another message");
    }
}

impl Drop for PingPong {
    fn drop(&mut self) {
        self.side.send(&message(STOP));
        if let Some(child) = self.child.take() {
            let r = child.join();
            if !std::thread::panicking() {
                r.expect("iceoryx2 echo process");
            }
        }
    }
}

struct Tx(Side);

impl Sender for Tx {
    #[inline]
    fn send(&mut self, m: &Msg) {
        self.0.send(m);
    }
}

/// The subscriber, and a shared word its `connect` sets once it has heard the publisher.
struct Rx(Side, Arc<SharedMem>);

impl std::fmt::Debug for Rx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("iceoryx2::Rx")
    }
}

impl Receiver for Rx {
    #[inline]
    fn recv(&mut self, m: &mut Msg) {
        self.0.recv(m);
    }

    /// Waits for the producer's hellos, acknowledges, lets the last ones arrive and drops them.
    fn connect(&mut self) {
        let mut m = [0u8; MSG_LEN];
        loop {
            self.0.recv(&mut m);
            if seq_of(&m) == HELLO {
                break;
            }
        }
        // Release: pairs with the producer's Acquire load.
        self.1.at::<AtomicU32>(0).store(1, Release);
        std::thread::sleep(Duration::from_millis(20));
        while self.0.try_recv(&mut m) {
            assert_eq!(seq_of(&m), HELLO);
        }
    }
}

/// A forked producer publishing batches to the bench's subscriber, `cap` samples of buffer.
///
/// The producer says hello until the subscriber acknowledges (through a shared word), so no
/// batch starts before the connection is established both ways.
///
/// # Errors
///
/// Any iceoryx2 error, or those of `mmap` and `fork`.
pub fn stream(cap: usize, n: u64) -> io::Result<Box<dyn Batch>> {
    let (topic, _) = names();
    let ack = Arc::new(SharedMem::new(PAGE)?);
    let rx = Rx(Side::new(Some(&topic), None, cap, 1)?, Arc::clone(&ack));
    let make_tx = move || {
        let tx = Tx(Side::new(None, Some(&topic), cap, 1).expect("iceoryx2 publisher"));
        // Acquire: pairs with the subscriber's Release store.
        while ack.at::<AtomicU32>(0).load(Acquire) == 0 {
            tx.0.send(&message(HELLO));
            std::thread::sleep(Duration::from_millis(1));
        }
        tx
    };
    Ok(Box::new(Stream::spawn(make_tx, rx, n)?))
}

/// The least hello stamp of a sustained stream: above every message's stamp.
const HELLO_BASE: u64 = u64::MAX - (1 << 16);

/// The stamp of producer `index`'s hello in a sustained stream.
fn hello(index: u32) -> u64 {
    HELLO_BASE + u64::from(index)
}

/// A sustained stream's publisher: `[u8; N]` messages, stamped at both ends.
struct SustainedTx<const N: usize>(Side<N>, [u8; N]);

impl<const N: usize> sustained::Tx for SustainedTx<N> {
    #[inline]
    fn send(&mut self, stamp: u64) {
        sustained::stamp_bytes(&mut self.1, stamp);
        self.0.send(&self.1);
    }
}

/// A sustained stream's subscriber; the shared word its `connect` sets once it has heard every
/// producer.
struct SustainedRx<const N: usize>(Side<N>, [u8; N], Arc<SharedMem>);

impl<const N: usize> sustained::Rx for SustainedRx<N> {
    #[inline]
    fn recv(&mut self) -> u64 {
        loop {
            self.0.recv(&mut self.1);
            let s = sustained::read_stamp(&self.1, N);
            // A producer's last hellos may still arrive after the acknowledgement.
            if s < HELLO_BASE {
                return s;
            }
        }
    }

    /// Waits for a hello from every producer, then acknowledges.
    fn connect(&mut self, producers: u32) {
        let mut heard = vec![false; producers as usize];
        while heard.contains(&false) {
            self.0.recv(&mut self.1);
            let s = sustained::read_stamp(&self.1, N);
            if let Some(h) = (0..producers).position(|i| hello(i) == s) {
                heard[h] = true;
            }
        }
        // Release: pairs with the producers' Acquire loads.
        self.2.at::<AtomicU32>(0).store(1, Release);
    }
}

/// A sustained stream over one publish-subscribe service: `len`-byte messages (64 or 1,024)
/// from `producers` processes, each with its own publisher, `cap` samples of subscriber buffer.
///
/// # Errors
///
/// Any iceoryx2 error, those of `mmap` and `fork`, or `Unsupported` for another `len`.
pub fn sustained(len: usize, producers: u32, cap: usize) -> io::Result<Box<dyn sustained::Run>> {
    match len {
        64 => sustained_n::<64>(producers, cap),
        1024 => sustained_n::<1024>(producers, cap),
        _ => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("no iceoryx2 payload type of {len} bytes"),
        )),
    }
}

fn sustained_n<const N: usize>(producers: u32, cap: usize) -> io::Result<Box<dyn sustained::Run>> {
    let (topic, _) = names();
    let ack = Arc::new(SharedMem::new(PAGE)?);
    let publishers = producers as usize;
    let rx = SustainedRx(
        Side::<N>::new(Some(&topic), None, cap, publishers)?,
        [0xA5; N],
        Arc::clone(&ack),
    );
    let make_tx = |index| {
        let side = Side::<N>::new(None, Some(&topic), cap, publishers).expect("iceoryx2 publisher");
        let mut m = [0xA5; N];
        sustained::stamp_bytes(&mut m, hello(index));
        // Acquire: pairs with the subscriber's Release store.
        while ack.at::<AtomicU32>(0).load(Acquire) == 0 {
            side.send(&m);
            std::thread::sleep(Duration::from_millis(1));
        }
        SustainedTx(side, [0xA5; N])
    };
    sustained::boxed(make_tx, rx, producers)
}
