//! [`Queue<T>`]: the typed queue, whose items (of any serde type) are encoded with postcard
//! into the messages of a [`RawQueue`]; the [module docs](crate::queue) say how it works.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::builder::Builder;
#[cfg(doc)]
use super::builder::UNBOUNDED_CAPACITY;
use super::codec;
use super::error::{
    GetError, GetNowaitError, GetTimeoutError, PutError, PutNowaitError, PutTimeoutError,
    QueueError,
};
use super::layout::item_type;
use super::raw::{
    get_never_waits, put_never_waits, PutFail, QueueStats, RawQueue, SizeClassStats, Waiters,
};
use crate::wait::Deadline;

/// A multi-producer, multi-consumer FIFO queue between processes, with the API of Python's
/// `multiprocessing.Queue`; items of any serde type, encoded with postcard.
///
/// See the [module docs](crate::queue) for how it works, blocking, and what a crashed process
/// does.
///
/// # Examples
///
/// ```
/// use host_runtime::{PutNowaitError, PutTimeoutError, Queue};
/// use std::time::Duration;
///
/// let q = Queue::<(u32, String)>::new(3)?;
/// for i in 0..3 {
///     q.put((i, format!("item {i}")))?;
/// }
/// assert!(q.full());
/// assert!(matches!(q.put_nowait((3, "late".into())), Err(PutNowaitError::Full(_))));
/// assert!(matches!(
///     q.put_timeout((3, "late".into()), Duration::from_millis(10)),
///     Err(PutTimeoutError::Timeout(_))
/// ));
/// assert_eq!(q.get()?, (0, "item 0".to_string()));
/// assert_eq!(q.qsize(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Queue<T> {
    // `pub(super)`: `JoinableQueue` checks it directly.
    pub(super) raw: RawQueue,
    _items: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            raw: self.raw.clone(),
            _items: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.raw.qsize())
            .field("capacity", &self.raw.capacity())
            .field("max_message_size", &self.raw.max_message_size())
            .field("name", &self.raw.name())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue holding up to `maxsize` items; `maxsize == 0` means no bound, as in Python (the
    /// queue then holds [`UNBOUNDED_CAPACITY`] items, over a million, before `put` blocks).
    /// Other limits are the [`Builder`] defaults: messages up to 4 MiB encoded.
    ///
    /// Memory is reserved as address space and committed as it is first used.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<u32>::new(3)?;
    /// assert_eq!(q.capacity(), 3);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn new(maxsize: usize) -> Result<Queue<T>, QueueError> {
        Builder::typed().maxsize(maxsize).build()
    }

    /// A [`Builder`] to set the limits (capacity, message sizes, blob pool) before making a
    /// queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<String>::builder().maxsize(10).max_message_size(1 << 20).build()?;
    /// assert_eq!(q.max_message_size(), 1 << 20);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn builder() -> Builder<T> {
        Builder::typed()
    }

    /// The untyped queue underneath (for [`wait`](crate::wait())).
    pub(crate) fn raw(&self) -> &RawQueue {
        &self.raw
    }

    pub(crate) fn from_raw(raw: RawQueue) -> Queue<T> {
        Queue {
            raw,
            _items: PhantomData,
        }
    }

    /// `raw` as a `Queue<T>` if it was made for `T` (its header's item type), else
    /// [`QueueError::WrongItemType`]: for queues opened from outside (a name, a descriptor).
    pub(crate) fn of_item_type(raw: RawQueue) -> Result<Queue<T>, QueueError> {
        let expected = item_type::<T>();
        let found = raw.item_type();
        if found != expected {
            return Err(QueueError::WrongItemType {
                type_name: core::any::type_name::<T>(),
                expected,
                found,
            });
        }
        Ok(Queue::from_raw(raw))
    }

    /// Opens the named queue `name` made with [`Builder::create_named`] by a process of this
    /// user, for items of type `T`: the queue must have been made for `T` (its header records
    /// a fingerprint of the type's name and the encoding; see `LAYOUT.md`, *Item type*, for
    /// when two binaries agree).
    ///
    /// # Errors
    ///
    /// [`QueueError::WrongItemType`] if the queue was made for another type (or untyped, by
    /// [`Builder::create_named_raw`]); as [`RawQueue::open_named`] otherwise: wrong owner,
    /// mode or size, not a queue, a queue that fails validation.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{Queue, QueueError};
    ///
    /// assert!(matches!(Queue::<u8>::open_named("doc-no-such-queue"), Err(QueueError::Shm(_))));
    ///
    /// # let _ = Queue::<u64>::unlink_named("doc-typed-open");
    /// let q = Queue::<u64>::builder().maxsize(2).create_named("doc-typed-open")?;
    /// let err = Queue::<u8>::open_named("doc-typed-open").unwrap_err();
    /// assert!(matches!(err, QueueError::WrongItemType { type_name: "u8", .. }));
    /// assert!(Queue::<u64>::open_named("doc-typed-open").is_ok());
    /// Queue::<u64>::unlink_named("doc-typed-open")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_named(name: &str) -> Result<Queue<T>, QueueError> {
        Queue::of_item_type(RawQueue::open_named(name)?)
    }

    /// Removes the name of a named queue; see [`RawQueue::unlink_named`].
    ///
    /// # Errors
    ///
    /// [`QueueError::Shm`] if there is no such name.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{Queue, QueueError};
    ///
    /// assert!(matches!(Queue::<u8>::unlink_named("doc-never-made-q"), Err(QueueError::Shm(_))));
    /// ```
    pub fn unlink_named(name: &str) -> Result<(), QueueError> {
        RawQueue::unlink_named(name)
    }

    /// Puts `item` at the back, waiting as long as needed for room (Python: `put(item)`).
    ///
    /// # Errors
    ///
    /// [`PutError::TooLarge`] if its encoding is longer than the maximum message size,
    /// [`PutError::Encode`] if it can't be encoded, [`PutError::Corrupt`]. The item is handed
    /// back; the queue is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<Vec<u32>>::new(0)?;
    /// q.put(vec![1, 2, 3])?;
    /// assert_eq!(q.get()?, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_until(item, Deadline::Never, put_never_waits)
    }

    /// Puts `item`, waiting at most `timeout` for room (Python: `put(item, timeout=t)`).
    ///
    /// # Errors
    ///
    /// [`PutTimeoutError::Timeout`] if there was no room for `timeout` (never sooner); as
    /// [`put`](Self::put) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{PutTimeoutError, Queue};
    /// use std::time::{Duration, Instant};
    ///
    /// let q = Queue::<u8>::new(1)?;
    /// q.put(1)?;
    /// let t = Instant::now();
    /// let err = q.put_timeout(2, Duration::from_millis(20)).unwrap_err();
    /// assert!(matches!(err, PutTimeoutError::Timeout(2)));
    /// assert!(t.elapsed() >= Duration::from_millis(20));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
        self.put_until(item, Deadline::after(timeout), PutTimeoutError::waited)
    }

    /// Puts `item` if there is room now (Python: `put_nowait(item)`).
    ///
    /// # Errors
    ///
    /// [`PutNowaitError::Full`]; as [`put`](Self::put) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{PutNowaitError, Queue};
    ///
    /// let q = Queue::<u8>::new(1)?;
    /// q.put_nowait(1)?;
    /// assert!(matches!(q.put_nowait(2), Err(PutNowaitError::Full(2))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), PutNowaitError<T>> {
        self.put_until(item, Deadline::NoWait, PutNowaitError::waited)
    }

    fn put_until<E: From<PutError<T>>>(
        &self,
        item: T,
        deadline: Deadline,
        waited: fn(T) -> E,
    ) -> Result<(), E> {
        if self.raw.is_closed() {
            return Err(PutError::Closed(item).into());
        }
        self.put_encoded(&item, deadline)
            .map_err(|fail| fail.with(item, waited))
    }

    /// Puts a copy of `*item`, waiting as long as needed for room: [`put`](Self::put) for a value
    /// the caller keeps (Python's `put` never takes the object either). The queue holds only
    /// the item's encoding, so a loop that sends the same buffer again, or a value it still
    /// needs, does not clone it first: for a 64-byte `Vec<u8>` that spares an allocation, a
    /// copy and a free per message (`benches/benches/typed.rs`).
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put), with `()` where those hand the item back.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<Vec<u8>>::new(0)?;
    /// let mut frame = vec![0u8; 64];
    /// for i in 0..3 {
    ///     frame[0] = i;
    ///     q.put_ref(&frame)?; // no `frame.clone()`
    /// }
    /// assert_eq!(q.get()?[0], 0);
    /// assert_eq!(q.get()?[0], 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_ref(&self, item: &T) -> Result<(), PutError<()>> {
        self.put_ref_until(item, Deadline::Never, put_never_waits)
    }

    /// [`put_ref`](Self::put_ref), waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// As [`put_timeout`](Self::put_timeout), with `()` where those hand the item back.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{PutTimeoutError, Queue};
    /// use std::time::Duration;
    ///
    /// let q = Queue::<String>::new(1)?;
    /// let s = String::from("kept");
    /// q.put_ref(&s)?;
    /// let err = q.put_ref_timeout(&s, Duration::from_millis(5)).unwrap_err();
    /// assert!(matches!(err, PutTimeoutError::Timeout(())));
    /// assert_eq!(s, "kept");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_ref_timeout(&self, item: &T, timeout: Duration) -> Result<(), PutTimeoutError<()>> {
        self.put_ref_until(item, Deadline::after(timeout), PutTimeoutError::waited)
    }

    /// [`put_ref`](Self::put_ref) if there is room now.
    ///
    /// # Errors
    ///
    /// As [`put_nowait`](Self::put_nowait), with `()` where those hand the item back.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{PutNowaitError, Queue};
    ///
    /// let q = Queue::<u64>::new(1)?;
    /// q.put_ref_nowait(&7)?;
    /// assert!(matches!(q.put_ref_nowait(&8), Err(PutNowaitError::Full(()))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_ref_nowait(&self, item: &T) -> Result<(), PutNowaitError<()>> {
        self.put_ref_until(item, Deadline::NoWait, PutNowaitError::waited)
    }

    fn put_ref_until<E: From<PutError<()>>>(
        &self,
        item: &T,
        deadline: Deadline,
        waited: fn(()) -> E,
    ) -> Result<(), E> {
        if self.raw.is_closed() {
            return Err(PutError::Closed(()).into());
        }
        self.put_encoded(item, deadline)
            .map_err(|fail| fail.with((), waited))
    }

    /// Encodes `item` into the queue, by the shortest way its length allows.
    #[inline]
    fn put_encoded(&self, item: &T, deadline: Deadline) -> Result<(), PutFail> {
        codec::put_item(&self.raw, item, deadline, &codec::Plain)
    }

    /// Takes the item at the front, waiting as long as needed for one (Python: `get()`).
    ///
    /// # Errors
    ///
    /// [`GetError::Decode`] if the message is not a `T` (it is dropped), [`GetError::Corrupt`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<String>::new(2)?;
    /// q.put("a".into())?;
    /// assert_eq!(q.get()?, "a");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.get_until(Deadline::Never, get_never_waits)
    }

    /// Takes the item at the front, waiting at most `timeout` for one (Python:
    /// `get(timeout=t)`).
    ///
    /// # Errors
    ///
    /// [`GetTimeoutError::Timeout`] if the queue stayed empty for `timeout` (never sooner); as
    /// [`get`](Self::get) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{GetTimeoutError, Queue};
    /// use std::time::Duration;
    ///
    /// let q = Queue::<u8>::new(2)?;
    /// assert!(matches!(q.get_timeout(Duration::from_millis(5)), Err(GetTimeoutError::Timeout)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        self.get_until(Deadline::after(timeout), GetTimeoutError::waited)
    }

    /// Takes the item at the front if there is one now (Python: `get_nowait()`).
    ///
    /// # Errors
    ///
    /// [`GetNowaitError::Empty`]; as [`get`](Self::get) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{GetNowaitError, Queue};
    ///
    /// let q = Queue::<u8>::new(2)?;
    /// assert!(matches!(q.get_nowait(), Err(GetNowaitError::Empty)));
    /// q.put(9)?;
    /// assert_eq!(q.get_nowait()?, 9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_nowait(&self) -> Result<T, GetNowaitError> {
        self.get_until(Deadline::NoWait, GetNowaitError::waited)
    }

    /// Takes the item at the front into `item`, waiting as long as needed for one: the form of
    /// [`get`](Self::get) that reuses what `item` owns. A `Vec<u8>` or `String` item (alone,
    /// or inside a tuple, or a field of a type whose `Deserialize` decodes in place) keeps its
    /// allocation when the new one fits, so a loop that gets into one value allocates nothing
    /// once it has grown; an integer is simply overwritten. Other types are decoded as by
    /// [`get`](Self::get) and assigned.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get). After a [`GetError::Decode`], `item` holds a valid value but an
    /// unspecified one (the old one, emptied, or partly overwritten); after any other error
    /// it is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<(u64, String)>::new(4)?;
    /// q.put((1, "one".into()))?;
    /// q.put((2, "two".into()))?;
    /// let mut item = (0, String::with_capacity(64));
    /// q.get_into(&mut item)?;
    /// assert_eq!(item, (1, "one".to_string()));
    /// q.get_into(&mut item)?;
    /// assert_eq!(item, (2, "two".to_string()));
    /// assert!(item.1.capacity() >= 64); // the same allocation
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_into(&self, item: &mut T) -> Result<(), GetError> {
        self.get_into_until(item, Deadline::Never, get_never_waits)
    }

    /// [`get_into`](Self::get_into), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](Self::get_timeout); `item` is unchanged after a
    /// [`Timeout`](GetTimeoutError::Timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{GetTimeoutError, Queue};
    /// use std::time::Duration;
    ///
    /// let q = Queue::<Vec<u8>>::new(2)?;
    /// let mut item = b"old".to_vec();
    /// let err = q.get_into_timeout(&mut item, Duration::from_millis(5)).unwrap_err();
    /// assert!(matches!(err, GetTimeoutError::Timeout));
    /// assert_eq!(item, b"old");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_into_timeout(&self, item: &mut T, timeout: Duration) -> Result<(), GetTimeoutError> {
        self.get_into_until(item, Deadline::after(timeout), GetTimeoutError::waited)
    }

    /// [`get_into`](Self::get_into) without waiting.
    ///
    /// # Errors
    ///
    /// As [`get_nowait`](Self::get_nowait); `item` is unchanged after
    /// [`Empty`](GetNowaitError::Empty).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{GetNowaitError, Queue};
    ///
    /// let q = Queue::<String>::new(2)?;
    /// let mut item = String::new();
    /// assert!(matches!(q.get_into_nowait(&mut item), Err(GetNowaitError::Empty)));
    /// q.put("now".into())?;
    /// q.get_into_nowait(&mut item)?;
    /// assert_eq!(item, "now");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_into_nowait(&self, item: &mut T) -> Result<(), GetNowaitError> {
        self.get_into_until(item, Deadline::NoWait, GetNowaitError::waited)
    }

    #[inline]
    fn get_into_until<E: From<GetError>>(
        &self,
        item: &mut T,
        deadline: Deadline,
        waited: fn() -> E,
    ) -> Result<(), E> {
        if self.raw.is_closed() {
            return Err(GetError::Closed.into());
        }
        self.raw
            .get_with(deadline, |message| {
                codec::decode_message_into(message, item)
            })
            .map_err(|fail| fail.with(waited))?
            .map_err(|e| GetError::Decode(e).into())
    }

    fn get_until<E: From<GetError>>(&self, deadline: Deadline, waited: fn() -> E) -> Result<T, E> {
        self.get_taking(deadline, waited, || {})
    }

    /// [`get_until`](Self::get_until), calling `taken` inside the ring claim of the message,
    /// before it is decoded: once it ran, the message is this process's (delivered, or lost
    /// with it if it dies before the get commits: `QueueStats::lost_in_get`).
    #[inline]
    pub(crate) fn get_taking<E: From<GetError>>(
        &self,
        deadline: Deadline,
        waited: fn() -> E,
        taken: impl FnOnce(),
    ) -> Result<T, E> {
        if self.raw.is_closed() {
            return Err(GetError::Closed.into());
        }
        self.raw
            .get_with(deadline, |message| {
                taken();
                codec::decode_message::<T>(message)
            })
            .map_err(|fail| fail.with(waited))?
            .map_err(|e| GetError::Decode(e).into())
    }

    /// Says that this process will put no more items, and take none either (Python:
    /// `close()`): afterwards, this process's puts return `Closed` (handing the item back) and
    /// its gets `Closed`. Closing twice is fine.
    ///
    /// Per process and queue object: every clone of this handle in this process is closed;
    /// other processes, a child forked afterwards (as Python's `_after_fork` reopens the
    /// queue) and a handle got from another [`open_named`](Self::open_named) call are not.
    /// Python's `join_thread()` and `cancel_join_thread()` have no counterpart: there is no
    /// feeder thread, a put has written its item into shared memory when it returns, so there
    /// is nothing to flush or to give up. See [`RawQueue::close`].
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{GetError, PutError, Queue};
    ///
    /// let q = Queue::<String>::new(0)?;
    /// q.close();
    /// assert!(matches!(q.put("foo".into()), Err(PutError::Closed(item)) if item == "foo"));
    /// assert!(matches!(q.get(), Err(GetError::Closed)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "join_thread")]
    #[doc(alias = "cancel_join_thread")]
    pub fn close(&self) {
        self.raw.close();
    }

    /// The number of items in the queue (Python: `qsize()`); a snapshot, only a hint while
    /// other processes use the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<u8>::new(3)?;
    /// q.put(1)?;
    /// q.put(2)?;
    /// assert_eq!(q.qsize(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn qsize(&self) -> usize {
        self.raw.qsize()
    }

    /// Whether the queue is empty (Python: `empty()`); a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<u8>::new(3)?;
    /// assert!(q.empty());
    /// q.put(1)?;
    /// assert!(!q.empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn empty(&self) -> bool {
        self.raw.empty()
    }

    /// Whether the queue is full (Python: `full()`); a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<u8>::new(1)?;
    /// assert!(!q.full());
    /// q.put(1)?;
    /// assert!(q.full());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn full(&self) -> bool {
        self.raw.full()
    }

    /// The most items the queue holds: `maxsize`, or [`UNBOUNDED_CAPACITY`].
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{queue::UNBOUNDED_CAPACITY, Queue};
    ///
    /// assert_eq!(Queue::<u8>::new(5)?.capacity(), 5);
    /// assert_eq!(Queue::<u8>::new(0)?.capacity(), UNBOUNDED_CAPACITY);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.raw.capacity()
    }

    /// The longest encoded item the queue takes, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<String>::new(2)?;
    /// assert_eq!(q.max_message_size(), host_runtime::queue::DEFAULT_MAX_MESSAGE_SIZE);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn max_message_size(&self) -> usize {
        self.raw.max_message_size()
    }

    /// The name of a named queue (with its leading `/`); `None` for an anonymous one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(host_runtime::Queue::<u8>::new(2)?.name(), None);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.raw.name()
    }

    /// How many calls are blocked on this queue now; see [`RawQueue::waiters`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<u8>::new(2)?;
    /// assert_eq!(q.waiters().getters, 0);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn waiters(&self) -> Waiters {
        self.raw.waiters()
    }

    /// Loss and crash counters, shared by every process using the queue; see
    /// [`RawQueue::stats`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<u32>::new(2)?;
    /// assert_eq!(q.stats().lost_in_get, 0);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn stats(&self) -> QueueStats {
        self.raw.stats()
    }

    /// Repairs what dead processes left half-done, now; see [`RawQueue::repair_dead`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<u32>::new(2)?;
    /// assert_eq!(q.repair_dead(), 0); // nobody died
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn repair_dead(&self) -> usize {
        self.raw.repair_dead()
    }

    /// Free blob chunks per size class; see [`RawQueue::pool_stats`].
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::queue::SizeClassStats;
    ///
    /// let q = host_runtime::Queue::<Vec<u8>>::builder().maxsize(2).size_class(8192, 2).build()?;
    /// let class = |free| [SizeClassStats { chunk_size: 8192, free, total: 2 }];
    /// q.put(vec![0; 5000])?;
    /// assert_eq!(q.pool_stats(), class(1));
    /// q.get()?;
    /// assert_eq!(q.pool_stats(), class(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pool_stats(&self) -> Vec<SizeClassStats> {
        self.raw.pool_stats()
    }
}
