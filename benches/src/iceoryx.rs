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

/// One process's node, services and ports: it subscribes to `rx` and publishes on `tx`.
pub struct Side {
    // Ports first: dropped before the services and the node they belong to.
    publisher: Option<Publisher<ipc::Service, Msg, ()>>,
    subscriber: Option<Subscriber<ipc::Service, Msg, ()>>,
    _services: Vec<PortFactory<ipc::Service, Msg, ()>>,
    _node: Node<ipc::Service>,
}

impl std::fmt::Debug for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("iceoryx2::Side")
    }
}

impl Side {
    /// Opens (or creates) the services named `rx` and `tx` with room for `cap` samples per
    /// subscriber, no overflow (a full subscriber makes the publisher retry), and makes a
    /// subscriber on `rx` and a publisher on `tx` (either may be `None`).
    ///
    /// # Errors
    ///
    /// Any iceoryx2 error.
    pub fn new(rx: Option<&str>, tx: Option<&str>, cap: usize) -> io::Result<Side> {
        let node = NodeBuilder::new().create::<ipc::Service>().map_err(err)?;
        let open = |name: &str| -> io::Result<PortFactory<ipc::Service, Msg, ()>> {
            let name: ServiceName = name.try_into().map_err(err)?;
            node.service_builder(&name)
                .publish_subscribe::<Msg>()
                .enable_safe_overflow(false)
                .subscriber_max_buffer_size(cap)
                .max_publishers(1)
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
    pub fn send(&self, m: &Msg) {
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
    pub fn try_recv(&self, m: &mut Msg) -> bool {
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
    pub fn recv(&self, m: &mut Msg) {
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
        let side = Side::new(Some(&pong), Some(&ping), 2)?;
        let child = Child::spawn(|| {
            let Ok(side) = Side::new(Some(&ping), Some(&pong), 2) else {
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
    let rx = Rx(Side::new(Some(&topic), None, cap)?, Arc::clone(&ack));
    let make_tx = move || {
        let tx = Tx(Side::new(None, Some(&topic), cap).expect("iceoryx2 publisher"));
        // Acquire: pairs with the subscriber's Release store.
        while ack.at::<AtomicU32>(0).load(Acquire) == 0 {
            tx.0.send(&message(HELLO));
            std::thread::sleep(Duration::from_millis(1));
        }
        tx
    };
    Ok(Box::new(Stream::spawn(make_tx, rx, n)?))
}
