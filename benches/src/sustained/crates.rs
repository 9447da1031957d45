//! The crates a Rust user would pick to move messages between processes, in sustained streams
//! (each with its cargo feature, which the report turns on and CI's quick pass leaves out):
//!
//! - servo's `ipc-channel` (feature `ipc-channel`): `bytes_channel()` for byte messages
//!   (`send(&m)`, `recv()` returning a `Vec<u8>`), and typed `channel::<T>()` for `Vec<u8>` and
//!   the small struct (serde, as ours). Made in the bench process before the fork; each
//!   producer uses its inherited sender.
//! - `interprocess`'s local sockets (feature `interprocess`): a `Listener` on a name in Linux's
//!   abstract namespace, the producer's `Stream::connect`, `write_all` and `read_exact` of one
//!   message each. One connection is one byte stream, so it has one producer.

#[cfg(feature = "ipc-channel")]
pub use self::ipc::{ipc_bytes, ipc_struct, ipc_vec};
#[cfg(feature = "interprocess")]
pub use self::local::local_socket;

#[cfg(feature = "ipc-channel")]
mod ipc {
    use std::io;

    use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcReceiver, IpcSender};

    use super::super::ours::check_small;
    use super::super::{
        boxed, ByteRx, ByteTx, BytesRx, BytesTx, Run, Rx, Small, Tx, SMALL_FLOAT, SMALL_TEXT,
    };

    /// The sending end of a `bytes_channel`.
    struct BytesSend(IpcBytesSender);

    impl ByteTx for BytesSend {
        #[inline]
        fn send_bytes(&mut self, m: &[u8]) {
            self.0.send(m).expect("ipc-channel send");
        }
    }

    /// The receiving end of a `bytes_channel`, and the last message (a new `Vec` each).
    struct BytesRecv(IpcBytesReceiver, Vec<u8>);

    impl ByteRx for BytesRecv {
        #[inline]
        fn recv_bytes(&mut self) -> &[u8] {
            self.1 = self.0.recv().expect("ipc-channel recv");
            &self.1
        }
    }

    /// `ipc::bytes_channel()`, `len`-byte messages from `producers` processes.
    ///
    /// # Errors
    ///
    /// Those of the channel's `socketpair`, or of `fork`.
    pub fn ipc_bytes(len: usize, producers: u32) -> io::Result<Box<dyn Run>> {
        let (tx, rx) = ipc::bytes_channel()?;
        boxed(
            |_| BytesTx::new(BytesSend(tx.clone()), len),
            BytesRx::new(BytesRecv(rx, Vec::new()), len),
            producers,
        )
    }

    /// The ends of an `IpcSender<Vec<u8>>`, and the last message received.
    struct VecSend(IpcSender<Vec<u8>>);

    impl ByteTx for VecSend {
        #[inline]
        fn send_bytes(&mut self, m: &[u8]) {
            // `send(v.clone())`, as with our typed queue.
            self.0.send(m.to_vec()).expect("ipc-channel send");
        }
    }

    struct VecRecv(IpcReceiver<Vec<u8>>, Vec<u8>);

    impl ByteRx for VecRecv {
        #[inline]
        fn recv_bytes(&mut self) -> &[u8] {
            self.1 = self.0.recv().expect("ipc-channel recv");
            &self.1
        }
    }

    /// `ipc::channel::<Vec<u8>>()`, `len`-byte vectors from `producers` processes.
    ///
    /// # Errors
    ///
    /// Those of the channel's `socketpair`, or of `fork`.
    pub fn ipc_vec(len: usize, producers: u32) -> io::Result<Box<dyn Run>> {
        let (tx, rx) = ipc::channel::<Vec<u8>>()?;
        boxed(
            |_| BytesTx::new(VecSend(tx.clone()), len),
            BytesRx::new(VecRecv(rx, Vec::new()), len),
            producers,
        )
    }

    /// The sending end of an `IpcSender<(u64, f64, String)>` and the string it clones.
    struct SmallSend(IpcSender<Small>, String);

    impl Tx for SmallSend {
        #[inline]
        fn send(&mut self, stamp: u64) {
            self.0
                .send((stamp, SMALL_FLOAT, self.1.clone()))
                .expect("ipc-channel send");
        }
    }

    struct SmallRecv(IpcReceiver<Small>);

    impl Rx for SmallRecv {
        #[inline]
        fn recv(&mut self) -> u64 {
            let (stamp, x, text) = self.0.recv().expect("ipc-channel recv");
            check_small(x, &text);
            stamp
        }
    }

    /// `ipc::channel::<(u64, f64, String)>()`, one producer.
    ///
    /// # Errors
    ///
    /// Those of the channel's `socketpair`, or of `fork`.
    pub fn ipc_struct() -> io::Result<Box<dyn Run>> {
        let (tx, rx) = ipc::channel::<Small>()?;
        boxed(
            |_| SmallSend(tx.clone(), SMALL_TEXT.to_string()),
            SmallRecv(rx),
            1,
        )
    }
}

#[cfg(feature = "interprocess")]
mod local {
    use std::io::{self, Read, Write};
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

    use interprocess::local_socket::{
        prelude::*, GenericNamespaced, Listener, ListenerOptions, Stream,
    };

    use super::super::{boxed, ByteRx, ByteTx, BytesRx, BytesTx, Run};

    /// The producer's connected stream.
    struct Send(Stream);

    impl ByteTx for Send {
        #[inline]
        fn send_bytes(&mut self, m: &[u8]) {
            self.0.write_all(m).expect("local socket write");
        }
    }

    /// The listener until the producer connects, then the accepted stream and a buffer.
    struct Recv {
        listener: Listener,
        stream: Option<Stream>,
        buf: Vec<u8>,
    }

    impl ByteRx for Recv {
        #[inline]
        fn recv_bytes(&mut self) -> &[u8] {
            let s = self.stream.as_mut().expect("connected");
            s.read_exact(&mut self.buf).expect("local socket read");
            &self.buf
        }

        fn connect(&mut self, _producers: u32) {
            self.stream = Some(self.listener.accept().expect("accept"));
        }
    }

    /// A local socket (abstract namespace), `len`-byte messages from one producer.
    ///
    /// # Errors
    ///
    /// Those of the listener's `socket`/`bind`/`listen`, or of `fork`.
    pub fn local_socket(len: usize) -> io::Result<Box<dyn Run>> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "ipc-bench-{}-{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Relaxed)
        );
        let listener = ListenerOptions::new()
            .name(name.as_str().to_ns_name::<GenericNamespaced>()?)
            .create_sync()?;
        let make_tx = |_| {
            let ns = name
                .as_str()
                .to_ns_name::<GenericNamespaced>()
                .expect("name");
            BytesTx::new(Send(Stream::connect(ns).expect("connect")), len)
        };
        let rx = Recv {
            listener,
            stream: None,
            buf: vec![0; len],
        };
        boxed(make_tx, BytesRx::new(rx, len), 1)
    }
}
