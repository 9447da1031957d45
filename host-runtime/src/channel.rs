//! Channels between processes, with crossbeam-channel's API: [`channel`] (bounded, or a
//! rendezvous with capacity 0) and [`unbounded`] make a ([`Sender`], [`Receiver`]) pair over
//! shared memory; [`bytes`] makes the raw-bytes pair ([`ByteSender`], [`ByteReceiver`]).
//!
//! Both ends are `Clone`, and a process forked while holding a handle holds it too. What a
//! channel adds to a [`Queue`](crate::Queue) is **disconnection**:
//!
//! - When every `Sender`, in every process, was dropped or died with its process, a receive on
//!   the empty channel returns `Disconnected` (messages sent before are still received first).
//!   A drop is seen at once (blocked receivers are woken); a death within the repair interval
//!   (a blocked receiver looks for dead processes every 200 ms; a polling one at most every
//!   200 ms per process).
//! - When every `Receiver` is gone, a send returns `Disconnected(msg)`, and a blocked sender
//!   wakes.
//!
//! Handles are counted per handle in a crash-aware ledger (`ledger.rs`): a handle a child
//! inherits through fork counts from the fork until the child drops it or exits, even if the
//! child never uses the channel. Every child counts, whatever it was forked for (a [`Pool`](crate::Pool)'s
//! workers too, and a child of `Command` with a `pre_exec` hook until the program it runs
//! exits): drop the handles you mean to end a channel with before forking others, or move
//! them into the one [`Process`](crate::Process) that should hold them (`start` drops the
//! parent's copy of its closure). Children made without libc's `fork` (a raw `clone`,
//! `posix_spawn`, `vfork`) are not counted: they must not use inherited handles. More than 128 processes holding handles at once: the ones
//! beyond count without an entry, and if one of those dies holding a handle, its side never
//! reads as disconnected again (never falsely disconnected, but never disconnected).
//!
//! **Capacity.** `channel(n)` holds `n` messages; [`unbounded`] holds 2^20
//! ([`UNBOUNDED_CAPACITY`](crate::queue::UNBOUNDED_CAPACITY)): the rings are fixed-size and
//! live in shared memory, so "unbounded" is a ring too large to fill in practice, reserved as
//! address space and committed as it is first touched (a channel that never holds more than a
//! few messages uses a few pages). A send on a full unbounded channel waits, as a bounded one.
//!
//! **Rendezvous** (`channel(0)`): `send` returns once a receiver took the message.
//! `try_send` succeeds only while a receiver is blocked in a receive. Unlike crossbeam's, a
//! message offered by `send_timeout` whose deadline passes before a receiver took it stays
//! offered (it is the next one received) and the call returns `Ok`: a message in shared memory
//! cannot be taken back safely.
//!
//! # Examples
//!
//! A child sends, drops its sender and exits; the parent's `for` loop ends there:
//!
//! ```
//! use host_runtime::{channel, Process};
//!
//! let (tx, rx) = channel::channel::<u32>(4)?;
//! let p = Process::new(move || {
//!     for i in 0..3 {
//!         tx.send(i).unwrap();
//!     }
//! });
//! p.start()?; // drops this process's copy of the closure, and so of `tx`
//! assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]);
//! p.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bytes;
mod chan;
mod error;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::queue::QueueError;
use crate::wait::Deadline;
pub(crate) use chan::Chan;
use chan::{RECEIVERS, SENDERS};

pub(crate) use bytes::byte_pair;
pub use bytes::{bytes, bytes_unbounded, ByteReceiver, ByteSender};
pub use error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
pub(crate) use error::{RecvFail, SendFail};

/// A channel of at most `cap` messages of type `T`; `cap == 0` makes a rendezvous channel,
/// whose `send` returns once a receiver took the message.
///
/// # Errors
///
/// [`QueueError`] if the shared memory cannot be made.
///
/// # Examples
///
/// ```
/// let (tx, rx) = host_runtime::channel::channel::<String>(2)?;
/// tx.send("hi".to_string())?;
/// assert_eq!(rx.recv()?, "hi");
/// drop(tx);
/// assert!(rx.recv().unwrap_err().is_disconnected());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn channel<T: Serialize + DeserializeOwned>(
    cap: usize,
) -> Result<(Sender<T>, Receiver<T>), QueueError> {
    pair(Some(cap))
}

/// A channel without a bound in practice: 2^20 messages (see the module docs, *Capacity*).
///
/// # Errors
///
/// [`QueueError`] if the shared memory cannot be made.
///
/// # Examples
///
/// ```
/// let (tx, rx) = host_runtime::channel::unbounded::<u64>()?;
/// for i in 0..1000 {
///     tx.send(i)?;
/// }
/// assert_eq!(rx.len(), 1000);
/// assert_eq!(rx.capacity(), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn unbounded<T: Serialize + DeserializeOwned>() -> Result<(Sender<T>, Receiver<T>), QueueError>
{
    pair(None)
}

fn pair<T>(capacity: Option<usize>) -> Result<(Sender<T>, Receiver<T>), QueueError> {
    let chan = Arc::new(Chan::new(capacity)?);
    Ok((
        Sender {
            chan: chan.clone(),
            _item: PhantomData,
        },
        Receiver {
            chan,
            _item: PhantomData,
        },
    ))
}

/// The sending side of a [`channel`]. Clones, and copies in forked children, are senders
/// too; the channel disconnects when the last one, anywhere, is gone.
///
/// # Examples
///
/// ```
/// use host_runtime::channel::{channel, TrySendError};
///
/// let (tx, rx) = channel::<u8>(1)?;
/// tx.try_send(1)?;
/// assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
/// drop(rx);
/// assert!(matches!(tx.send(3), Err(host_runtime::channel::SendError::Disconnected(3))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Sender<T> {
    chan: Arc<Chan>,
    _item: PhantomData<fn(T)>,
}

/// The receiving side of a [`channel`]. Clones, and copies in forked children, are receivers
/// too (each message goes to one of them); senders see the channel disconnected when the last
/// one, anywhere, is gone.
///
/// # Examples
///
/// ```
/// use host_runtime::channel::{channel, TryRecvError};
///
/// let (tx, rx) = channel::<u8>(4)?;
/// assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
/// tx.send(5)?;
/// drop(tx);
/// assert_eq!(rx.try_recv()?, 5);
/// assert!(matches!(rx.try_recv(), Err(TryRecvError::Disconnected)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Receiver<T> {
    chan: Arc<Chan>,
    _item: PhantomData<fn() -> T>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.acquire(SENDERS);
        Sender {
            chan: self.chan.clone(),
            _item: PhantomData,
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.release(SENDERS);
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.acquire(RECEIVERS);
        Receiver {
            chan: self.chan.clone(),
            _item: PhantomData,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.release(RECEIVERS);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.chan.len())
            .field("capacity", &self.chan.capacity())
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.chan.len())
            .field("capacity", &self.chan.capacity())
            .finish_non_exhaustive()
    }
}

/// What both sides report about the channel.
macro_rules! channel_state {
    () => {
        /// The number of messages in the channel (a snapshot; 0 for a rendezvous channel).
        pub fn len(&self) -> usize {
            self.chan.len()
        }

        /// Whether the channel is empty (a snapshot; always for a rendezvous channel).
        pub fn is_empty(&self) -> bool {
            self.chan.is_empty()
        }

        /// Whether the channel is full (a snapshot; always for a rendezvous channel).
        pub fn is_full(&self) -> bool {
            self.chan.is_full()
        }

        /// The channel's capacity: `Some(0)` for a rendezvous channel, `None` for an
        /// [`unbounded`](crate::channel::unbounded) one.
        pub fn capacity(&self) -> Option<usize> {
            self.chan.capacity()
        }
    };
}
pub(crate) use channel_state;

impl<T: Serialize> Sender<T> {
    /// Sends `msg`, waiting for room as long as needed (a rendezvous channel: until a receiver
    /// took it).
    ///
    /// # Errors
    ///
    /// [`SendError::Disconnected`] if every receiver is gone (also while waiting);
    /// [`SendError::TooLarge`], [`SendError::Encode`], [`SendError::Corrupt`]. The message is
    /// handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = host_runtime::channel::channel(1)?;
    /// tx.send([1u8, 2])?;
    /// assert_eq!(rx.recv()?, [1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        self.chan
            .send_item(&msg, Deadline::Never)
            .map_err(|fail| SendError::from_fail(fail, msg))
    }

    /// Sends `msg` if there is room now (a rendezvous channel: if a receiver waits).
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`], [`TrySendError::Disconnected`]; as [`send`](Self::send)
    /// otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::channel::{channel, TrySendError};
    ///
    /// let (tx, _rx) = channel::<u8>(0)?;
    /// assert!(matches!(tx.try_send(1), Err(TrySendError::Full(1))), "nobody waits");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        self.chan
            .send_item(&msg, Deadline::NoWait)
            .map_err(|fail| TrySendError::from_fail(fail, msg))
    }

    /// Sends `msg`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`] if the channel stayed full for `timeout`;
    /// [`SendTimeoutError::Disconnected`]; as [`send`](Self::send) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::channel::{channel, SendTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (tx, _rx) = channel::<u8>(1)?;
    /// tx.send(1)?;
    /// let err = tx.send_timeout(2, Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(err, SendTimeoutError::Timeout(2)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.chan
            .send_item(&msg, Deadline::after(timeout))
            .map_err(|fail| SendTimeoutError::from_fail(fail, msg))
    }

    channel_state!();
}

impl<T: DeserializeOwned> Receiver<T> {
    /// Receives a message, waiting as long as needed.
    ///
    /// # Errors
    ///
    /// [`RecvError::Disconnected`] once the channel is empty and every sender is gone;
    /// [`RecvError::Decode`] (the message is dropped), [`RecvError::Corrupt`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = host_runtime::channel::channel::<i64>(1)?;
    /// std::thread::spawn(move || tx.send(-1).unwrap());
    /// assert_eq!(rx.recv()?, -1);
    /// assert!(rx.recv().unwrap_err().is_disconnected());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan
            .recv_item(Deadline::Never)
            .map_err(RecvError::from_fail)
    }

    /// Receives a message if there is one now.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`], [`TryRecvError::Disconnected`]; as [`recv`](Self::recv)
    /// otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = host_runtime::channel::channel::<u8>(1)?;
    /// assert!(rx.try_recv().unwrap_err().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan
            .recv_item(Deadline::NoWait)
            .map_err(TryRecvError::from_fail)
    }

    /// Receives a message, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`], [`RecvTimeoutError::Disconnected`]; as
    /// [`recv`](Self::recv) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (_tx, rx) = host_runtime::channel::channel::<u8>(1)?;
    /// assert!(rx.recv_timeout(Duration::from_millis(5)).unwrap_err().is_timeout());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.chan
            .recv_item(Deadline::after(timeout))
            .map_err(RecvTimeoutError::from_fail)
    }

    /// A blocking iterator over the messages; it ends when the channel is disconnected (or on
    /// a decode or corruption error, which it does not report: use [`recv`](Self::recv) to
    /// see those).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = host_runtime::channel::channel::<u8>(3)?;
    /// for i in 0..3 {
    ///     tx.send(i)?;
    /// }
    /// drop(tx);
    /// assert_eq!(rx.iter().sum::<u8>(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the messages there now; it never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = host_runtime::channel::channel::<u8>(3)?;
    /// tx.send(1)?;
    /// tx.send(2)?;
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    channel_state!();

    /// The channel, for [`wait`](crate::wait()) (see `Chan::recv_waits`).
    pub(crate) fn chan(&self) -> &Chan {
        &self.chan
    }
}

/// The blocking iterator of [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T: DeserializeOwned> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// The non-blocking iterator of [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T: DeserializeOwned> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<'a, T: DeserializeOwned> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
