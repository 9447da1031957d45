//! The raw-bytes channel: [`ByteSender`] and [`ByteReceiver`], for callers that have bytes
//! already (no encoding; a receive can reuse a buffer).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::chan::{Chan, RECEIVERS, SENDERS};
use super::channel_state;
use super::error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use crate::queue::QueueError;
use crate::wait::Deadline;

/// A channel of at most `cap` byte messages (`cap == 0`: rendezvous), as
/// [`channel`](super::channel) without the encoding.
///
/// # Errors
///
/// [`QueueError`] if the shared memory cannot be made.
///
/// # Examples
///
/// ```
/// let (tx, rx) = host_runtime::channel::bytes(4)?;
/// tx.send(b"raw")?;
/// let mut buf = Vec::new();
/// assert_eq!(rx.recv_into(&mut buf)?, 3);
/// assert_eq!(buf, b"raw");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bytes(cap: usize) -> Result<(ByteSender, ByteReceiver), QueueError> {
    byte_pair(Some(cap))
}

/// [`bytes`] without a bound in practice (see the module docs, *Capacity*).
///
/// # Errors
///
/// [`QueueError`] if the shared memory cannot be made.
///
/// # Examples
///
/// ```
/// let (tx, rx) = host_runtime::channel::bytes_unbounded()?;
/// tx.send(vec![0u8; 1 << 20])?; // long messages go through the blob pool
/// assert_eq!(rx.recv()?.len(), 1 << 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bytes_unbounded() -> Result<(ByteSender, ByteReceiver), QueueError> {
    byte_pair(None)
}

pub(crate) fn byte_pair(capacity: Option<usize>) -> Result<(ByteSender, ByteReceiver), QueueError> {
    let chan = Arc::new(Chan::new(capacity)?);
    Ok((ByteSender { chan: chan.clone() }, ByteReceiver { chan }))
}

/// The sending side of a [`bytes`] channel (see [`Sender`](super::Sender)).
///
/// # Examples
///
/// ```
/// let (tx, rx) = host_runtime::channel::bytes(1)?;
/// drop(rx);
/// assert!(tx.send(b"x").unwrap_err().is_disconnected());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ByteSender {
    chan: Arc<Chan>,
}

/// The receiving side of a [`bytes`] channel (see [`Receiver`](super::Receiver)).
///
/// # Examples
///
/// ```
/// let (tx, rx) = host_runtime::channel::bytes(1)?;
/// tx.send(b"x")?;
/// drop(tx);
/// assert_eq!(rx.recv()?, b"x");
/// assert!(rx.recv().unwrap_err().is_disconnected());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ByteReceiver {
    chan: Arc<Chan>,
}

impl Clone for ByteSender {
    fn clone(&self) -> Self {
        self.chan.acquire(SENDERS);
        ByteSender {
            chan: self.chan.clone(),
        }
    }
}

impl Drop for ByteSender {
    fn drop(&mut self) {
        self.chan.release(SENDERS);
    }
}

impl Clone for ByteReceiver {
    fn clone(&self) -> Self {
        self.chan.acquire(RECEIVERS);
        ByteReceiver {
            chan: self.chan.clone(),
        }
    }
}

impl Drop for ByteReceiver {
    fn drop(&mut self) {
        self.chan.release(RECEIVERS);
    }
}

impl fmt::Debug for ByteSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteSender")
            .field("len", &self.chan.len())
            .field("capacity", &self.chan.capacity())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ByteReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteReceiver")
            .field("len", &self.chan.len())
            .field("capacity", &self.chan.capacity())
            .finish_non_exhaustive()
    }
}

impl ByteSender {
    /// Sends `msg`, waiting for room as long as needed (see [`Sender::send`](super::Sender::send)).
    ///
    /// # Errors
    ///
    /// [`SendError::Disconnected`], [`SendError::TooLarge`], [`SendError::Corrupt`]; the
    /// message is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = host_runtime::channel::bytes(1)?;
    /// tx.send(vec![1, 2, 3])?;
    /// assert_eq!(rx.recv()?, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send<B: AsRef<[u8]>>(&self, msg: B) -> Result<(), SendError<B>> {
        self.chan
            .send_bytes(msg.as_ref(), Deadline::Never)
            .map_err(|fail| SendError::from_fail(fail, msg))
    }

    /// Sends `msg` if there is room now.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`], [`TrySendError::Disconnected`]; as [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = host_runtime::channel::bytes(1)?;
    /// tx.try_send(b"a")?;
    /// assert!(tx.try_send(b"b").unwrap_err().is_full());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_send<B: AsRef<[u8]>>(&self, msg: B) -> Result<(), TrySendError<B>> {
        self.chan
            .send_bytes(msg.as_ref(), Deadline::NoWait)
            .map_err(|fail| TrySendError::from_fail(fail, msg))
    }

    /// Sends `msg`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`], [`SendTimeoutError::Disconnected`]; as
    /// [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (tx, _rx) = host_runtime::channel::bytes(1)?;
    /// tx.send(b"a")?;
    /// assert!(tx.send_timeout(b"b", Duration::from_millis(5)).unwrap_err().is_timeout());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_timeout<B: AsRef<[u8]>>(
        &self,
        msg: B,
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<B>> {
        self.chan
            .send_bytes(msg.as_ref(), Deadline::after(timeout))
            .map_err(|fail| SendTimeoutError::from_fail(fail, msg))
    }

    /// Sends the encoding of `item` (the pipes' typed send, without a copy).
    pub(crate) fn send_item<T: serde::Serialize + ?Sized>(
        &self,
        item: &T,
        deadline: Deadline,
    ) -> Result<(), super::error::SendFail> {
        self.chan.send_item(item, deadline)
    }

    /// Sends `bytes` (the pipes' byte send).
    pub(crate) fn send_bytes_fail(
        &self,
        bytes: &[u8],
        deadline: Deadline,
    ) -> Result<(), super::error::SendFail> {
        self.chan.send_bytes(bytes, deadline)
    }

    /// Looks for dead receivers now; returns how many dead processes were repaired.
    pub(crate) fn check_dead(&self) -> usize {
        self.chan.repair_dead()
    }

    /// The longest message the channel takes.
    pub fn max_message_size(&self) -> usize {
        self.chan.queue.max_message_size()
    }

    channel_state!();
}

impl ByteReceiver {
    /// Receives a message, waiting as long as needed.
    ///
    /// # Errors
    ///
    /// [`RecvError::Disconnected`] once the channel is empty and every sender is gone;
    /// [`RecvError::Corrupt`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = host_runtime::channel::bytes(1)?;
    /// tx.send(b"hi")?;
    /// assert_eq!(rx.recv()?, b"hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(&self) -> Result<Vec<u8>, RecvError> {
        let mut buf = Vec::new();
        self.recv_into(&mut buf)?;
        Ok(buf)
    }

    /// Receives a message into `buf` (replacing its contents, reusing its allocation) and
    /// returns its length, waiting as long as needed.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); `buf` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = host_runtime::channel::bytes(1)?;
    /// let mut buf = Vec::with_capacity(64);
    /// tx.send(b"abc")?;
    /// assert_eq!(rx.recv_into(&mut buf)?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_into(&self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.chan
            .recv_into(buf, Deadline::Never)
            .map_err(RecvError::from_fail)
    }

    /// Receives a message if there is one now.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`], [`TryRecvError::Disconnected`], [`TryRecvError::Corrupt`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = host_runtime::channel::bytes(1)?;
    /// assert!(rx.try_recv().unwrap_err().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv(&self) -> Result<Vec<u8>, TryRecvError> {
        let mut buf = Vec::new();
        self.try_recv_into(&mut buf)?;
        Ok(buf)
    }

    /// [`recv_into`](Self::recv_into) without waiting.
    ///
    /// # Errors
    ///
    /// As [`try_recv`](Self::try_recv); `buf` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = host_runtime::channel::bytes(1)?;
    /// tx.send(b"z")?;
    /// let mut buf = Vec::new();
    /// assert_eq!(rx.try_recv_into(&mut buf)?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv_into(&self, buf: &mut Vec<u8>) -> Result<usize, TryRecvError> {
        self.chan
            .recv_into(buf, Deadline::NoWait)
            .map_err(TryRecvError::from_fail)
    }

    /// Receives a message, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`], [`RecvTimeoutError::Disconnected`],
    /// [`RecvTimeoutError::Corrupt`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (_tx, rx) = host_runtime::channel::bytes(1)?;
    /// assert!(rx.recv_timeout(Duration::from_millis(5)).unwrap_err().is_timeout());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Vec<u8>, RecvTimeoutError> {
        let mut buf = Vec::new();
        self.recv_into_timeout(&mut buf, timeout)?;
        Ok(buf)
    }

    /// [`recv_into`](Self::recv_into), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Self::recv_timeout); `buf` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (tx, rx) = host_runtime::channel::bytes(1)?;
    /// tx.send(b"ok")?;
    /// let mut buf = Vec::new();
    /// assert_eq!(rx.recv_into_timeout(&mut buf, Duration::from_secs(1))?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_into_timeout(
        &self,
        buf: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<usize, RecvTimeoutError> {
        self.chan
            .recv_into(buf, Deadline::after(timeout))
            .map_err(RecvTimeoutError::from_fail)
    }

    /// A blocking iterator over the messages; it ends when the channel is disconnected (or on
    /// corruption, which [`recv`](Self::recv) reports).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = host_runtime::channel::bytes(2)?;
    /// tx.send(b"a")?;
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [b"a".to_vec()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        std::iter::from_fn(|| self.recv().ok())
    }

    /// An iterator over the messages there now; it never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = host_runtime::channel::bytes(2)?;
    /// tx.send(b"a")?;
    /// assert_eq!(rx.try_iter().count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_iter(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        std::iter::from_fn(|| self.try_recv().ok())
    }

    channel_state!();

    /// Receives an item of type `T` (the pipes' typed receive).
    pub(crate) fn recv_item<T: serde::de::DeserializeOwned>(
        &self,
        deadline: Deadline,
    ) -> Result<T, super::error::RecvFail> {
        self.chan.recv_item(deadline)
    }

    /// Receives bytes into `buf` (the pipes' byte receive).
    pub(crate) fn recv_into_fail(
        &self,
        buf: &mut Vec<u8>,
        deadline: Deadline,
    ) -> Result<usize, super::error::RecvFail> {
        self.chan.recv_into(buf, deadline)
    }

    /// Waits until a receive would not block (a message, or every sender gone), at most
    /// `timeout` (`None`: as long as needed); returns whether it would not.
    pub(crate) fn wait_ready(&self, timeout: Option<Duration>) -> bool {
        self.chan.wait_recv_ready(Deadline::within(timeout))
    }

    /// Whether a receive would not block now (a message, or disconnection).
    pub(crate) fn is_ready(&self) -> bool {
        self.chan.recv_ready()
    }

    /// The channel, for [`wait`](crate::wait()) (see `Chan::recv_waits`).
    pub(crate) fn chan(&self) -> &Chan {
        &self.chan
    }
}
