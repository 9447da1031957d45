//! [`pipe`]: Python's `multiprocessing.Pipe` over shared memory: two [`Connection`]s, each
//! a byte channel in each direction it may use (not a socket: no system call per message).
//!
//! As in Python: `pipe(true)` (duplex) gives two ends that both send and receive;
//! `pipe(false)` gives a receive-only end first and a send-only end second. A receive on an
//! end whose peer is closed, dropped or dead, once the messages sent before are taken, is
//! [`PipeError::Eof`] (Python's `EOFError`); a send to such a peer is
//! [`PipeError::BrokenPipe`]. A child forked while a `Connection` is alive holds that end too
//! (as it would hold a Python `Connection`'s descriptor): the peer sees end-of-file once every
//! process holding the end closed it, dropped it or died (a death is found within the repair
//! interval, 200 ms, by a blocked or polling receiver). A send finds a dead peer when it
//! must wait (the pipe is full) or after a receive on its end saw end-of-file; until then a
//! send to a dead peer's pipe with room succeeds, and the message is lost with the peer.
//!
//! **Ends a child inherits.** Python's documentation asks a child to close the ends it does
//! not use, or its peer never sees end-of-file. Here a child holds every `Connection` alive in
//! its parent at the fork, including those it cannot reach (its parent's local variables): they
//! count until it exits. So a child that waits for end-of-file on `b` while it inherited `a`,
//! `b`'s peer, waits for ever: end such a protocol with a message, or make the pipe after
//! starting the processes that must not hold it. An end moved into a [`Process`]'s closure is
//! the child's only: `start` drops the parent's copy.
//!
//! Each direction holds [`PIPE_CAPACITY`] messages; a send to a full one waits, as a write to
//! a full OS pipe does.
//!
//! [`Process`]: crate::Process
//!
//! # Examples
//!
//! ```
//! use host_runtime::pipe::{pipe, PipeError};
//! use host_runtime::Process;
//!
//! let (parent, child) = pipe(true)?;
//! let p = Process::new(move || {
//!     let n: u64 = child.recv().unwrap();
//!     child.send(&(n * 2)).unwrap();
//! });
//! p.start()?;
//! parent.send(&21u64)?;
//! assert_eq!(parent.recv::<u64>()?, 42);
//! // The child exited: its end is gone.
//! assert!(matches!(parent.recv::<u64>(), Err(PipeError::Eof)));
//! p.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::channel::{byte_pair, ByteReceiver, ByteSender, RecvFail, SendFail};
use crate::encoding::{DecodeError, EncodeError};
use crate::queue::QueueError;
use crate::wait::Deadline;

/// Messages each direction of a pipe holds before a send waits.
pub const PIPE_CAPACITY: usize = 128;

/// Makes a pipe: two connected [`Connection`]s (Python: `multiprocessing.Pipe(duplex)`).
/// With `duplex == false`, the first end only receives and the second only sends.
///
/// # Errors
///
/// [`QueueError`] if the shared memory cannot be made.
///
/// # Examples
///
/// ```
/// use host_runtime::pipe::{pipe, PipeError};
///
/// let (reader, writer) = pipe(false)?;
/// writer.send_bytes(b"one way")?;
/// assert_eq!(reader.recv_bytes()?, b"one way");
/// assert!(matches!(reader.send_bytes(b"back"), Err(PipeError::NotWritable)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pipe(duplex: bool) -> Result<(Connection, Connection), QueueError> {
    let (a_tx, a_rx) = byte_pair(Some(PIPE_CAPACITY))?;
    if !duplex {
        return Ok((
            Connection {
                tx: None,
                rx: Some(a_rx),
                readable: true,
                writable: false,
            },
            Connection {
                tx: Some(a_tx),
                rx: None,
                readable: false,
                writable: true,
            },
        ));
    }
    let (b_tx, b_rx) = byte_pair(Some(PIPE_CAPACITY))?;
    Ok((
        Connection {
            tx: Some(a_tx),
            rx: Some(b_rx),
            readable: true,
            writable: true,
        },
        Connection {
            tx: Some(b_tx),
            rx: Some(a_rx),
            readable: true,
            writable: true,
        },
    ))
}

/// One end of a [`pipe`] (Python: `multiprocessing.connection.Connection`).
///
/// # Examples
///
/// ```
/// let (a, b) = host_runtime::pipe::pipe(true)?;
/// a.send(&vec!["x".to_string()])?;
/// assert!(b.poll(Some(std::time::Duration::ZERO))?);
/// assert_eq!(b.recv::<Vec<String>>()?, ["x"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Connection {
    tx: Option<ByteSender>,
    rx: Option<ByteReceiver>,
    readable: bool,
    writable: bool,
}

/// Why a [`Connection`] call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PipeError {
    /// Nothing left to receive and the other end is closed, dropped, or its process died
    /// (Python: `EOFError`).
    Eof,
    /// The other end can no longer receive: closed, dropped, or its process died (Python:
    /// `BrokenPipeError`).
    BrokenPipe,
    /// This end was closed (Python: `OSError("handle is closed")`).
    Closed,
    /// A receive (or poll) on the send-only end of a simplex pipe (Python:
    /// `OSError("connection is write-only")`).
    NotReadable,
    /// A send on the receive-only end of a simplex pipe (Python:
    /// `OSError("connection is read-only")`).
    NotWritable,
    /// The message is longer than the pipe takes.
    TooLarge {
        /// Its (encoded) length.
        len: usize,
        /// The pipe's limit.
        max: usize,
    },
    /// The object could not be encoded.
    Encode(EncodeError),
    /// The message received is not the type asked for (it is dropped).
    Decode(DecodeError),
    /// The pipe's shared memory holds something no honest process wrote.
    Corrupt,
}

impl fmt::Display for PipeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipeError::Eof => f.write_str("end of file: the other end is closed"),
            PipeError::BrokenPipe => f.write_str("broken pipe: the other end is closed"),
            PipeError::Closed => f.write_str("the connection is closed"),
            PipeError::NotReadable => f.write_str("the connection is write-only"),
            PipeError::NotWritable => f.write_str("the connection is read-only"),
            PipeError::TooLarge { len, max } => {
                write!(f, "message of {len} bytes is longer than the pipe's {max}")
            }
            PipeError::Encode(e) => write!(f, "cannot encode the object: {e}"),
            PipeError::Decode(e) => write!(f, "cannot decode the message: {e}"),
            PipeError::Corrupt => f.write_str("the pipe's shared memory is corrupt"),
        }
    }
}

impl std::error::Error for PipeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PipeError::Encode(e) => Some(e),
            PipeError::Decode(e) => Some(e),
            _ => None,
        }
    }
}

fn send_error(fail: SendFail) -> PipeError {
    match fail {
        // A send without deadline does not time out; a full pipe waits.
        SendFail::Waited | SendFail::Disconnected => PipeError::BrokenPipe,
        SendFail::TooLarge { len, max } => PipeError::TooLarge { len, max },
        SendFail::Encode(e) => PipeError::Encode(e),
        SendFail::Corrupt => PipeError::Corrupt,
    }
}

fn recv_error_only(fail: RecvFail) -> PipeError {
    match fail {
        RecvFail::Waited | RecvFail::Disconnected => PipeError::Eof,
        RecvFail::Decode(e) => PipeError::Decode(e),
        RecvFail::Corrupt => PipeError::Corrupt,
    }
}

impl Connection {
    /// A receive's error; at end-of-file, the peer is gone (closed or dead): a look for the
    /// dead in the other direction too, so that sends see it at once.
    fn recv_error(&self, fail: RecvFail) -> PipeError {
        let error = recv_error_only(fail);
        if matches!(error, PipeError::Eof) {
            if let Some(tx) = &self.tx {
                tx.check_dead();
            }
        }
        error
    }

    fn sender(&self) -> Result<&ByteSender, PipeError> {
        match &self.tx {
            Some(tx) => Ok(tx),
            None if self.writable => Err(PipeError::Closed),
            None => Err(PipeError::NotWritable),
        }
    }

    fn receiver(&self) -> Result<&ByteReceiver, PipeError> {
        match &self.rx {
            Some(rx) => Ok(rx),
            None if self.readable => Err(PipeError::Closed),
            None => Err(PipeError::NotReadable),
        }
    }

    fn is_closed(&self) -> bool {
        self.tx.is_none() && self.rx.is_none()
    }

    /// Sends `obj` (serde, postcard-encoded), waiting while the pipe is full.
    ///
    /// # Errors
    ///
    /// [`PipeError::BrokenPipe`], [`PipeError::Closed`], [`PipeError::NotWritable`],
    /// [`PipeError::TooLarge`], [`PipeError::Encode`], [`PipeError::Corrupt`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = host_runtime::pipe::pipe(true)?;
    /// a.send(&(1u8, "two"))?;
    /// assert_eq!(b.recv::<(u8, String)>()?, (1, "two".to_string()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send<T: Serialize + ?Sized>(&self, obj: &T) -> Result<(), PipeError> {
        self.check_open()?;
        self.sender()?
            .send_item(obj, Deadline::Never)
            .map_err(send_error)
    }

    /// Receives an object of type `T`, waiting as long as needed.
    ///
    /// # Errors
    ///
    /// [`PipeError::Eof`] once nothing is left and the other end is gone;
    /// [`PipeError::Decode`], [`PipeError::Closed`], [`PipeError::NotReadable`],
    /// [`PipeError::Corrupt`].
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::pipe::{pipe, PipeError};
    ///
    /// let (a, b) = pipe(true)?;
    /// a.send(&7i32)?;
    /// drop(a);
    /// assert_eq!(b.recv::<i32>()?, 7);
    /// assert!(matches!(b.recv::<i32>(), Err(PipeError::Eof)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T, PipeError> {
        self.check_open()?;
        self.receiver()?
            .recv_item(Deadline::Never)
            .map_err(|fail| self.recv_error(fail))
    }

    /// Sends `buf` as one message, waiting while the pipe is full.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), without `Encode`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = host_runtime::pipe::pipe(true)?;
    /// a.send_bytes(&[1, 2, 3])?;
    /// assert_eq!(b.recv_bytes()?, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_bytes(&self, buf: &[u8]) -> Result<(), PipeError> {
        self.check_open()?;
        self.sender()?
            .send_bytes_fail(buf, Deadline::Never)
            .map_err(send_error)
    }

    /// Receives one message's bytes, waiting as long as needed.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv), without `Decode`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = host_runtime::pipe::pipe(true)?;
    /// b.send_bytes(b"back")?;
    /// assert_eq!(a.recv_bytes()?, b"back");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_bytes(&self) -> Result<Vec<u8>, PipeError> {
        let mut buf = Vec::new();
        self.recv_bytes_into(&mut buf)?;
        Ok(buf)
    }

    /// Receives one message's bytes into `buf` (replacing its contents, reusing its
    /// allocation; so never too short, unlike Python's `BufferTooShort`) and returns the
    /// length, waiting as long as needed.
    ///
    /// # Errors
    ///
    /// As [`recv_bytes`](Self::recv_bytes); `buf` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = host_runtime::pipe::pipe(true)?;
    /// let mut buf = Vec::with_capacity(64);
    /// a.send_bytes(b"12345")?;
    /// assert_eq!(b.recv_bytes_into(&mut buf)?, 5);
    /// assert_eq!(buf, b"12345");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_bytes_into(&self, buf: &mut Vec<u8>) -> Result<usize, PipeError> {
        self.check_open()?;
        self.receiver()?
            .recv_into_fail(buf, Deadline::Never)
            .map_err(|fail| self.recv_error(fail))
    }

    /// Whether a receive would not block: a message is there, or end-of-file (Python:
    /// `poll(timeout)`). Waits up to `timeout` for one (`None`: as long as needed;
    /// `Some(Duration::ZERO)`: not at all, Python's default).
    ///
    /// # Errors
    ///
    /// [`PipeError::Closed`], [`PipeError::NotReadable`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (a, b) = host_runtime::pipe::pipe(true)?;
    /// assert!(!b.poll(Some(Duration::from_millis(5)))?);
    /// a.send(&())?;
    /// assert!(b.poll(None)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool, PipeError> {
        self.check_open()?;
        let rx = self.receiver()?;
        Ok(rx.is_ready() || rx.wait_ready(timeout))
    }

    /// Closes this end (Python: `close()`): the peer's receives see end-of-file once the
    /// messages sent are taken, its sends [`PipeError::BrokenPipe`]. Later calls on this end
    /// return [`PipeError::Closed`]. Dropping the end does the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::pipe::{pipe, PipeError};
    ///
    /// let (mut a, b) = pipe(true)?;
    /// a.close();
    /// assert!(a.closed());
    /// assert!(matches!(a.send(&1u8), Err(PipeError::Closed)));
    /// assert!(matches!(b.recv::<u8>(), Err(PipeError::Eof)));
    /// assert!(matches!(b.send(&1u8), Err(PipeError::BrokenPipe)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&mut self) {
        self.tx = None;
        self.rx = None;
    }

    /// Whether [`close`](Self::close) was called (Python: `closed`).
    pub fn closed(&self) -> bool {
        self.is_closed()
    }

    /// Whether this end can receive (Python: `readable`).
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether this end can send (Python: `writable`).
    pub fn writable(&self) -> bool {
        self.writable
    }

    fn check_open(&self) -> Result<(), PipeError> {
        if self.is_closed() {
            Err(PipeError::Closed)
        } else {
            Ok(())
        }
    }

    /// For [`wait`](crate::wait()): this end's receiver, or why a receive fails at once
    /// ([`PipeError::Closed`] or [`PipeError::NotReadable`]).
    pub(crate) fn wait_receiver(&self) -> Result<&ByteReceiver, PipeError> {
        self.receiver()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .field("closed", &self.is_closed())
            .finish()
    }
}
