//! [`RawQueue`]: the queue of byte messages that [`Queue`](super::Queue) encodes into. This file
//! holds the type, its process-local state and its public calls (the blocking, timed and
//! non-blocking puts and gets, `close`, the snapshots); the protocols behind them are in the
//! submodules:
//!
//! * `open`: making a queue's region, opening a named one, and claiming its parts;
//! * `put`: the inline put and the long-message (blob) put, with their internal error;
//! * `get`: the get that takes a message from a ring slot or a blob chunk, with its internal
//!   error and the reader's view of the message;
//! * `repair`: crash repair of dead participants (leases, sleepers) and the stall checks that
//!   trigger it;
//! * `batch`: the batch calls (`put_many`, `get_many`) and the [`Batch`] a `get_many` fills;
//! * `waiting`: the wait ledger, the [`Hooks`] a channel adds to a blocking call, and the
//!   helpers for waiters outside the queue (channels, [`wait`](crate::wait())).
//!
//! The lease types of the blob pool are in `queue/blob.rs`.

mod batch;
mod get;
mod open;
mod put;
mod repair;
mod waiting;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use ipc_core::ByteQueue;

use super::blob::Class;
use super::error::{
    QueueError, RawGetError, RawGetNowaitError, RawGetTimeoutError, RawPutError, RawPutNowaitError,
    RawPutTimeoutError,
};
use super::layout::word;
use crate::shared::member::{Claimer, Member};
use crate::shared::region::SharedBytes;
use crate::shm::SharedRegion;
use crate::sys::fork_generation;
use crate::wait::{Deadline, Stall};

pub use batch::{Batch, BatchIter, PutManyError};
pub(crate) use get::{get_never_waits, GetFail, Message};
pub(crate) use put::{put_never_waits, Parts, PutFail};
pub(crate) use waiting::Hooks;

/// A multi-producer, multi-consumer queue of byte messages in memory shared between processes:
/// [`Queue`](super::Queue) without the encoding, for callers that have bytes already.
///
/// Same semantics, limits and layout as [`Queue`](super::Queue) (which is a `RawQueue` plus
/// postcard): `put`/`get` block, `*_timeout` wait at most a given time, `*_nowait` don't wait.
/// A failed put hands the message back. Clones share the queue; so do children forked after it
/// was made. For streams, [`put_many`](Self::put_many) and [`get_many`](Self::get_many) move
/// several messages per call, with one wait and one wake-up for the batch.
///
/// # Examples
///
/// ```
/// use host_runtime::{Process, RawQueue};
///
/// let q = RawQueue::new(4)?;
/// let tx = q.clone();
/// let p = Process::new(move || tx.put(b"from the child").unwrap());
/// p.start()?;
/// assert_eq!(q.get()?, b"from the child");
/// p.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RawQueue {
    inner: Arc<Inner>,
}

struct Inner {
    ring: Member,
    /// Longest inline message; a ring message of `inline_max + 1` bytes is a descriptor.
    inline_max: usize,
    max_message_size: usize,
    /// Chunk sizes ascending.
    classes: Box<[Class]>,
    /// The region's header, holding the repair count.
    header: SharedBytes,
    /// The wait ledger (see [`Wait`]): a row of [`Params::wait_words`] `u32`s per participant.
    ///
    /// [`Wait`]: crate::wait::Wait
    /// [`Params::wait_words`]: super::layout::Params::wait_words
    ledger: SharedBytes,
    wait_words: usize,
    /// The item type the header records (`layout::item_type`; 0: untyped), read once.
    item_type: u64,
    /// When this process last looked for dead participants after a failed call (see
    /// [`RawQueue::after_failure`]).
    stall: Stall,
    /// The fork generation + 1 of this process if it counted itself in the header's
    /// `UNREGISTERED` word (it found the participant table full), else 0: the last drop in
    /// that process takes it out again.
    unregistered: AtomicU64,
    /// The fork generation + 1 of this process if it closed the queue ([`RawQueue::close`]),
    /// else 0: a child forked afterwards sees another generation, so the queue is open there.
    closed: AtomicU64,
    region: SharedRegion,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A process forked from one that counted itself inherited the tag of another
        // generation: it was not counted (it registers, or counts itself, on its first call).
        if self.unregistered.load(Relaxed) == fork_generation() + 1 {
            let word = self.header.u64_at(8 * word::UNREGISTERED);
            // Never below 0, whatever another process wrote there.
            let _ = word.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
        }
    }
}

/// Calls blocked on a queue, from [`RawQueue::waiters`] or [`Queue::waiters`](super::Queue::waiters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Waiters {
    /// Gets sleeping until a message arrives.
    pub getters: u32,
    /// Puts sleeping until there is room (or a free blob chunk).
    pub putters: u32,
}

impl RawQueue {
    /// A queue holding up to `maxsize` messages (0: no bound, see
    /// [`UNBOUNDED_CAPACITY`](super::UNBOUNDED_CAPACITY)), with the default limits of
    /// [`Builder`](super::Builder).
    ///
    /// # Errors
    ///
    /// As [`Builder::build_raw`](super::Builder::build_raw).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::RawQueue::new(0)?;
    /// assert_eq!(q.capacity(), host_runtime::queue::UNBOUNDED_CAPACITY);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn new(maxsize: usize) -> Result<RawQueue, QueueError> {
        super::Builder::new().maxsize(maxsize).build_raw()
    }

    /// A [`Builder`](super::Builder) to set the limits before making a queue with
    /// [`build_raw`](super::Builder::build_raw).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::RawQueue::builder().maxsize(4).max_message_size(8192).build_raw()?;
    /// assert_eq!(q.max_message_size(), 8192);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn builder() -> super::Builder {
        super::Builder::new()
    }

    /// The ring, for reading its state.
    #[inline(always)]
    fn ring_view(&self) -> &ByteQueue<'_> {
        self.inner.ring.view()
    }

    /// Puts `message`, waiting as long as needed for room.
    ///
    /// # Errors
    ///
    /// [`RawPutError::TooLarge`] if it is longer than [`max_message_size`](Self::max_message_size);
    /// [`RawPutError::Corrupt`]; [`RawPutError::Closed`] if this process [closed](Self::close) the
    /// queue. The message is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::RawQueue::new(2)?;
    /// q.put(b"one")?;
    /// q.put(vec![2u8; 1 << 20])?; // long messages go through the blob pool
    /// assert_eq!(q.qsize(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put<B: AsRef<[u8]>>(&self, message: B) -> Result<(), RawPutError<B>> {
        self.put_until(message, Deadline::Never, put_never_waits)
    }

    /// Puts `message`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`RawPutTimeoutError::Timeout`] if the queue stayed full for `timeout` (never sooner); as
    /// [`put`](Self::put) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{RawPutTimeoutError, RawQueue};
    /// use std::time::Duration;
    ///
    /// let q = RawQueue::new(1)?;
    /// q.put_timeout(b"a", Duration::from_millis(10))?;
    /// let err = q.put_timeout(b"b", Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(err, RawPutTimeoutError::Timeout(b"b")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_timeout<B: AsRef<[u8]>>(
        &self,
        message: B,
        timeout: Duration,
    ) -> Result<(), RawPutTimeoutError<B>> {
        self.put_until(
            message,
            Deadline::after(timeout),
            RawPutTimeoutError::waited,
        )
    }

    /// Puts `message` if there is room now.
    ///
    /// # Errors
    ///
    /// [`RawPutNowaitError::Full`]; as [`put`](Self::put) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{RawPutNowaitError, RawQueue};
    ///
    /// let q = RawQueue::new(1)?;
    /// q.put_nowait(b"a")?;
    /// assert!(matches!(q.put_nowait(b"b"), Err(RawPutNowaitError::Full(b"b"))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_nowait<B: AsRef<[u8]>>(&self, message: B) -> Result<(), RawPutNowaitError<B>> {
        self.put_until(message, Deadline::NoWait, RawPutNowaitError::waited)
    }

    fn put_until<B: AsRef<[u8]>, E: From<RawPutError<B>>>(
        &self,
        message: B,
        deadline: Deadline,
        waited: fn(B) -> E,
    ) -> Result<(), E> {
        if self.is_closed() {
            return Err(RawPutError::Closed(message).into());
        }
        let bytes = message.as_ref();
        let result = if bytes.len() <= self.inner.inline_max {
            self.put_inline(bytes, deadline)
        } else {
            self.put_blob(bytes.len(), deadline, |chunks, offset| {
                chunks.write(offset, bytes);
                Ok(bytes.len())
            })
        };
        result.map_err(|fail| fail.with_raw(message, waited))
    }

    /// Says that this process will put no more messages, and take none either (Python:
    /// `Queue.close()`): afterwards, this process's puts return `Closed` (handing the message
    /// back) and its gets return `Closed`, whatever is in the queue. Closing twice is fine.
    ///
    /// **Per process, per queue object.** The mark is in the handle's process-local state,
    /// which every clone of the handle shares: in this process, every clone is closed (as
    /// every reference to one Python `Queue` object is). Other processes are not affected, nor
    /// a child forked afterwards (it starts with the queue open, as Python's `_after_fork`
    /// reopens it), nor a handle of the same named queue got from another
    /// [`open_named`](Self::open_named) call (another object). Nothing in shared memory
    /// changes: messages put before stay in the queue for the others.
    ///
    /// **No feeder thread.** Python's `Queue` hands items to a background thread that writes
    /// them into a pipe, so `close()` also lets that thread finish, `join_thread()` waits for
    /// it to flush, and `cancel_join_thread()` lets the process exit without waiting (and maybe
    /// lose what is buffered). Here a put writes the message into shared memory before it
    /// returns: there is nothing buffered, nothing to flush, nothing lost at exit; so there is
    /// no `join_thread` nor `cancel_join_thread`, and `close` only stops this process's calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{RawGetError, RawPutError, RawQueue};
    ///
    /// let q = RawQueue::new(4)?;
    /// q.put(b"before")?;
    /// let other = q.clone();
    /// q.close();
    /// assert!(matches!(other.put(b"after"), Err(RawPutError::Closed(b"after"))));
    /// assert!(matches!(q.get(), Err(RawGetError::Closed)));
    /// assert_eq!(q.qsize(), 1); // still there, for other processes
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "join_thread")]
    #[doc(alias = "cancel_join_thread")]
    pub fn close(&self) {
        self.inner.closed.store(fork_generation() + 1, Relaxed);
    }

    /// Whether this process closed the queue (see [`close`](Self::close)).
    #[inline(always)]
    pub(crate) fn is_closed(&self) -> bool {
        // One relaxed load while open (0). A tag is stored by `close`, whose
        // `fork_generation()` registered the fork handler before any fork could copy it.
        let closed = self.inner.closed.load(Relaxed);
        closed != 0 && closed == crate::sys::fork_generation_unchecked() + 1
    }

    /// The item type's fingerprint the header recorded when this handle opened it (0:
    /// untyped).
    pub(crate) fn item_type(&self) -> u64 {
        self.inner.item_type
    }

    /// The longest message carried inline in a ring slot.
    pub(crate) fn inline_max(&self) -> usize {
        self.inner.inline_max
    }

    /// The ring as this process's participant, and its participant id as a number (0:
    /// anonymous), which blob leases and the wait ledger record.
    #[inline(always)]
    fn ring_and_id(&self) -> (Claimer<'_>, u16) {
        self.inner
            .ring
            .claimer(|| self.sweep_anonymously(), || self.count_unregistered())
    }

    /// This process found the participant table full (once per process): it is counted in the
    /// header's `UNREGISTERED` word until its last handle is dropped, so that a reclaim of a
    /// named queue counts it as alive (see [`Builder::reclaim_stale`](super::Builder::reclaim_stale)).
    #[cold]
    fn count_unregistered(&self) {
        let tag = fork_generation() + 1;
        if self.inner.unregistered.swap(tag, Relaxed) != tag {
            let word = self.inner.header.u64_at(8 * word::UNREGISTERED);
            word.fetch_add(1, Relaxed);
        }
    }

    /// The region's header (for a reclaim's look at the creator and the unregistered count).
    pub(crate) fn header(&self) -> &SharedBytes {
        &self.inner.header
    }

    /// The participants registered in the ring now (a snapshot; for a reclaim).
    pub(crate) fn participants(&self) -> impl Iterator<Item = ipc_core::Participant> + '_ {
        self.ring_view().participants()
    }

    /// Takes the front message, waiting as long as needed for one.
    ///
    /// # Errors
    ///
    /// [`RawGetError::Corrupt`]; [`RawGetError::Closed`] if this process [closed](Self::close) the
    /// queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::RawQueue::new(2)?;
    /// q.put(b"x")?;
    /// assert_eq!(q.get()?, b"x");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<Vec<u8>, RawGetError> {
        self.get_vec(Deadline::Never, get_never_waits)
    }

    /// Takes the front message, waiting at most `timeout` for one.
    ///
    /// # Errors
    ///
    /// [`RawGetTimeoutError::Timeout`] if the queue stayed empty for `timeout` (never sooner); as
    /// [`get`](Self::get) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{RawGetTimeoutError, RawQueue};
    /// use std::time::Duration;
    ///
    /// let q = RawQueue::new(2)?;
    /// assert!(matches!(q.get_timeout(Duration::from_millis(5)), Err(RawGetTimeoutError::Timeout)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<Vec<u8>, RawGetTimeoutError> {
        self.get_vec(Deadline::after(timeout), RawGetTimeoutError::waited)
    }

    /// Takes the front message if there is one now.
    ///
    /// # Errors
    ///
    /// [`RawGetNowaitError::Empty`]; as [`get`](Self::get) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{RawGetNowaitError, RawQueue};
    ///
    /// let q = RawQueue::new(2)?;
    /// assert!(matches!(q.get_nowait(), Err(RawGetNowaitError::Empty)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_nowait(&self) -> Result<Vec<u8>, RawGetNowaitError> {
        self.get_vec(Deadline::NoWait, RawGetNowaitError::waited)
    }

    fn get_vec<E: From<RawGetError>>(
        &self,
        deadline: Deadline,
        waited: fn() -> E,
    ) -> Result<Vec<u8>, E> {
        let mut buf = Vec::new();
        self.get_into_until(&mut buf, deadline, waited)?;
        Ok(buf)
    }

    /// Takes the front message into `buf` (replacing its contents, reusing its allocation) and
    /// returns its length, waiting as long as needed: the allocation-free form of
    /// [`get`](Self::get).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::RawQueue::new(2)?;
    /// let mut buf = Vec::with_capacity(64);
    /// q.put(b"hello")?;
    /// assert_eq!(q.get_into(&mut buf)?, 5);
    /// assert_eq!(buf, b"hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_into(&self, buf: &mut Vec<u8>) -> Result<usize, RawGetError> {
        self.get_into_until(buf, Deadline::Never, get_never_waits)
    }

    /// [`get_into`](Self::get_into), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](Self::get_timeout); `buf` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{RawGetTimeoutError, RawQueue};
    /// use std::time::Duration;
    ///
    /// let q = RawQueue::new(2)?;
    /// let mut buf = b"old".to_vec();
    /// let err = q.get_into_timeout(&mut buf, Duration::from_millis(5)).unwrap_err();
    /// assert!(matches!(err, RawGetTimeoutError::Timeout));
    /// assert_eq!(buf, b"old");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_into_timeout(
        &self,
        buf: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<usize, RawGetTimeoutError> {
        self.get_into_until(buf, Deadline::after(timeout), RawGetTimeoutError::waited)
    }

    /// [`get_into`](Self::get_into) without waiting.
    ///
    /// # Errors
    ///
    /// As [`get_nowait`](Self::get_nowait); `buf` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::RawQueue::new(2)?;
    /// let mut buf = Vec::new();
    /// assert!(q.get_into_nowait(&mut buf).is_err());
    /// q.put(b"now")?;
    /// assert_eq!(q.get_into_nowait(&mut buf)?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_into_nowait(&self, buf: &mut Vec<u8>) -> Result<usize, RawGetNowaitError> {
        self.get_into_until(buf, Deadline::NoWait, RawGetNowaitError::waited)
    }

    #[inline]
    fn get_into_until<E: From<RawGetError>>(
        &self,
        buf: &mut Vec<u8>,
        deadline: Deadline,
        waited: fn() -> E,
    ) -> Result<usize, E> {
        if self.is_closed() {
            return Err(RawGetError::Closed.into());
        }
        self.get_with(deadline, |message| match message {
            Message::Inline(m) => {
                // The private copy: straight from the slot into `buf`, with atomic loads,
                // over every byte of `buf[..len]` (no need to zero what is there).
                m.read(fit(buf, m.len()))
            }
            Message::Blob(chunks, offset, len) => {
                // As above: a buffer reused for messages of one size is never zeroed again.
                chunks.read(offset, fit(buf, len));
                len
            }
        })
        .map_err(|fail| fail.with_raw(waited))
    }

    /// The number of messages in the queue (a snapshot; like Python's, only a hint under
    /// concurrent use). Counts messages being put or taken at this instant.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::RawQueue::new(4)?;
    /// q.put(b"a")?;
    /// assert_eq!(q.qsize(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn qsize(&self) -> usize {
        self.ring_view().len()
    }

    /// Whether [`qsize`](Self::qsize) is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(host_runtime::RawQueue::new(4)?.empty());
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn empty(&self) -> bool {
        self.ring_view().is_empty()
    }

    /// Whether [`qsize`](Self::qsize) is the capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::RawQueue::new(1)?;
    /// q.put(b"a")?;
    /// assert!(q.full());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn full(&self) -> bool {
        self.ring_view().is_full()
    }

    /// The most messages the queue holds: `maxsize`, or
    /// [`UNBOUNDED_CAPACITY`](super::UNBOUNDED_CAPACITY) for `maxsize == 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(host_runtime::RawQueue::new(3)?.capacity(), 3);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.ring_view().capacity()
    }

    /// The longest message the queue takes, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::RawQueue::builder().max_message_size(1000).build_raw()?;
    /// assert_eq!(q.max_message_size(), 1000);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn max_message_size(&self) -> usize {
        self.inner.max_message_size
    }

    /// The name of a named queue (with its leading `/`); `None` for an anonymous one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(host_runtime::RawQueue::new(2)?.name(), None);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.inner.region.name()
    }

    /// How many calls are blocked (registered as sleeping) on this queue now, from all
    /// processes: a snapshot, for monitoring and tests.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::RawQueue::new(2)?;
    /// assert_eq!(q.waiters(), host_runtime::queue::Waiters { getters: 0, putters: 0 });
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn waiters(&self) -> Waiters {
        let ring = self.ring_view();
        // Counts from shared memory: saturating, whatever they hold.
        let pool =
            (self.inner.classes.iter()).fold(0u32, |n, c| n.saturating_add(c.freed().waiters()));
        Waiters {
            getters: ring.not_empty().waiters(),
            putters: ring.not_full().waiters().saturating_add(pool),
        }
    }

    /// Blob chunks per size class that are free now, one [`SizeClassStats`] per class in the
    /// order of the builder's [`size_class`](super::Builder::size_class) calls (a snapshot; for
    /// monitoring and tests: every chunk comes back once its message is taken).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::queue::SizeClassStats;
    ///
    /// let q = host_runtime::RawQueue::builder().maxsize(4).size_class(4096, 3).build_raw()?;
    /// q.put(vec![1u8; 3000])?;
    /// assert_eq!(q.pool_stats(), [SizeClassStats { chunk_size: 4096, free: 2, total: 3 }]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pool_stats(&self) -> Vec<SizeClassStats> {
        self.inner
            .classes
            .iter()
            .map(|c| SizeClassStats {
                chunk_size: c.chunk_size,
                free: c.free_count(),
                total: c.count,
            })
            .collect()
    }

    /// Loss and crash counters, shared by every process using the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::RawQueue::new(4)?;
    /// assert_eq!(q.stats(), host_runtime::queue::QueueStats::default());
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn stats(&self) -> QueueStats {
        let ring = self.ring_view().stats();
        QueueStats {
            lost_in_put: ring.lost_in_push,
            lost_in_get: ring.lost_in_pop,
            dead_processes: self.inner.header.u64_at(8 * word::REPAIRS).load(Relaxed),
        }
    }
}

/// Loss and crash counters of a queue, from [`RawQueue::stats`] or
/// [`Queue::stats`](super::Queue::stats): the same for every process using it.
///
/// The counters are named after this crate's operations, `put` and `get` (Python's); they are
/// the ring's [`ipc_core::QueueStats`], named after its `push` and `pop`: `lost_in_put` is its
/// `lost_in_push`, `lost_in_get` its `lost_in_pop`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Messages whose put was cut short after it had taken a place in the queue: its process
    /// died (the place was then repaired and skipped). The ring's `lost_in_push`.
    pub lost_in_put: u64,
    /// Messages taken by a get that never returned them: its process died (or, in
    /// [`Queue`](super::Queue), a `Deserialize` implementation panicked). The ring's
    /// `lost_in_pop`.
    pub lost_in_get: u64,
    /// Processes found dead while registered in the queue, whose claims were repaired.
    pub dead_processes: u64,
}

/// The blob chunks of one size class, from [`RawQueue::pool_stats`] or
/// [`Queue::pool_stats`](super::Queue::pool_stats): a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeClassStats {
    /// Bytes per chunk: the longest message (encoded) a chunk of this class holds.
    pub chunk_size: usize,
    /// Chunks free now (neither leased by a put nor holding a message).
    pub free: usize,
    /// Chunks in the class, as given to [`Builder::size_class`](super::Builder::size_class).
    pub total: usize,
}

impl fmt::Debug for RawQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawQueue")
            .field("qsize", &self.qsize())
            .field("capacity", &self.capacity())
            .field("max_message_size", &self.max_message_size())
            .field("name", &self.name())
            .finish()
    }
}

/// `buf` made exactly `len` bytes long, for a copy that overwrites all of them: grown with
/// zeros only past its current length, so a buffer reused for messages of one size is never
/// zeroed again.
#[inline]
fn fit(buf: &mut Vec<u8>, len: usize) -> &mut [u8] {
    if buf.len() < len {
        buf.resize(len, 0);
    }
    buf.truncate(len);
    buf
}
