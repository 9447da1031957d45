//! [`Queue<T>`]: Python's `multiprocessing.Queue` over shared memory, and [`RawQueue`] for byte
//! messages.
//!
//! ```
//! use host_runtime::{Process, Queue};
//!
//! let q = Queue::<String>::new(0)?; // 0: no bound, as Python's default
//! let tx = q.clone();
//! let p = Process::new(move || {
//!     for word in ["hello", "from", "a", "child"] {
//!         tx.put(word.to_string()).unwrap();
//!     }
//! });
//! p.start()?;
//! let words: Vec<String> = (0..4).map(|_| q.get()).collect::<Result<_, _>>()?;
//! assert_eq!(words.join(" "), "hello from a child");
//! p.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How it works
//!
//! A queue is one shared region (see `LAYOUT.md` of this crate): a header, a **ring** (an
//! [`ipc_core::ByteQueue`], lock-free MPMC) and a **blob pool**. Items are encoded with
//! [postcard]. An encoded message up to the inline size (111 bytes by default) is copied
//! straight into a ring slot; a longer one is written into a chunk of the blob pool, and the
//! ring slot carries a small descriptor (size class, chunk index, length, lease) instead.
//! Each chunk has a lease word in the region that says who holds it (free, a process outside
//! the ring, or the ring), moved by compare-and-swap, so taking and returning a chunk is
//! lock-free too. A consumer copies a long message out and frees its chunk while it still
//! holds the ring slot, which it releases last.
//!
//! The region is a `MAP_SHARED` mapping made when the queue is: handles are `Clone` (an
//! [`Arc`](std::sync::Arc) in the process), and a child forked afterwards (by
//! [`Process`](crate::Process)) inherits the mapping, so a cloned handle moved into the
//! process's closure just works. Named queues ([`Builder::create_named`],
//! [`Queue::open_named`]) connect processes that are not related.
//!
//! # Blocking
//!
//! `put`/`get` wait as long as needed, `put_timeout`/`get_timeout` at most a given time
//! (monotonic clock; never shorter, and late only by the scheduler's wake-up latency), and
//! `put_nowait`/`get_nowait` not at all; all are thin shells over one loop. It tries, spins a
//! few microseconds (`spin_loop`), yields the CPU a few times (`sched_yield`: on a busy
//! machine this lets the peer run instead of paying for a sleep and a wake), then sleeps in
//! the kernel on a shared futex: the `seq` word
//! of ipc-core's [`WaitWord`](ipc_core::WaitWord) `not_full`/`not_empty` (or a size class's
//! own word for "no free chunk"), under its protocol (register, re-check, sleep while `seq`
//! is unchanged, unregister), so a wake-up can't be lost. A blocked call uses no CPU. After a
//! put (get) the caller bumps the other word and makes the `futex_wake` system call only when
//! somebody is registered as waiting. Signals (`EINTR`) never end a wait early. A call that
//! has just woken a sleeper spins longer in its next wait (50 µs from the wake-up): the woken
//! peer needs about that long to run again, and a request/reply pair would otherwise put
//! both sides to sleep in turn, message after message.
//!
//! # Speed
//!
//! [`RawQueue`] moves bytes and nothing else: a 64-byte message costs about 35 ns between a
//! producer and a consumer process, 10–13× a pipe (`BENCHMARKS.md` at the repository's root).
//! [`Queue<T>`] adds postcard's encoding, and the allocations of `T` (the caller's on `put`,
//! the decoded item's on `get`), and decodes from a private copy of the message (for a short
//! one, on the stack; for a long one, a per-thread buffer reused from get to get: never from
//! shared memory, which another process could rewrite).
//!
//! **Byte payloads.** A `Queue<Vec<u8>>` or `Queue<String>` moves its bytes as one block each
//! way: serde would hand them to postcard one at a time (`Serialize for Vec<u8>` is a sequence
//! of `u8`s), so the queue recognises these two item types and writes postcard's varint
//! length and the bytes itself: the same message, byte for byte, as postcard's (a named queue
//! and a binary without this path agree). A long one is copied out of shared memory straight
//! into the `Vec`/`String` it becomes. Integer items (`u64`, `u32`, `usize`, `i64`, `i32`)
//! are written and read as postcard's varint directly, and strings inside other types are
//! checked as UTF-8 a word at a time when they are ASCII. A put+get in one thread
//! (`put(v.clone())` + `get()`, callgrind): 64 bytes, about 1,020 instructions (2,550 through
//! serde; `Queue<u64>`: 610; `Queue<(u64, f64, String)>`: 1,300); 1 KiB, about 2,700
//! (47,000). Of these, the two allocations and frees of the item are about 280. Bytes
//! *inside* your own types (a field `pixels: Vec<u8>`) still go through serde one at a time;
//! one line on the field, `#[serde(with = "serde_bytes")]` (the `serde_bytes` crate), moves
//! them as a block, on the same wire (postcard writes the same length and bytes), so only the
//! speed changes: a struct with 1 KiB of bytes in a field, about 29,300 instructions per
//! put+get without the line, 3,750 with it. The pool does the same for its arguments and
//! results (and its chunks of them).
//!
//! **Reusing the item.** [`Queue::get_into`] decodes into a value the caller keeps: a
//! `Vec<u8>` or `String` (alone, in a tuple, or in a type whose `Deserialize` decodes in
//! place) keeps its allocation, so a consumer loop allocates nothing once the value has grown:
//! 64 bytes, about 790 instructions per put+get; the tuple above, about 1,010.
//!
//! # What a stalled or killed process does to the others
//!
//! As for [`ipc_core::ByteQueue`]: a producer stopped between claiming and publishing a slot
//! holds up consumers at that slot (FIFO order), a consumer stopped between claiming and
//! releasing one holds up the producer that comes round to it a lap later; others go on. A
//! stopped (`SIGSTOP`) process is waited for, never overruled: when it continues, it finishes
//! its call as if nothing happened.
//!
//! A process *killed* inside a put or get is repaired, without anyone's help: each process
//! registers in the queue's participant table when it creates or opens a named queue, or else
//! on its first put or get, so every slot it claims records who claimed it. A call that has
//! been blocked for 200 ms while the queue looks stuck (or a failing `*_nowait`/`*_timeout`
//! call, at most every 200 ms per process) asks the kernel whether the registered processes
//! still live (`/proc/PID/stat`: gone, zombie with no thread left running, or a pid reused by
//! a younger process = dead) and repairs what the dead left: a put it was making is skipped,
//! a message it was taking is released, and both are counted
//! ([`QueueStats`]: `lost_in_put`, `lost_in_get`). [`RawQueue::repair_dead`] does it at once.
//! So the others resume within a few hundred milliseconds of a death, and only the one message
//! the dead process was handing over is lost.
//!
//! The liveness test assumes the processes sharing a queue run as one user in one pid
//! namespace, as named queues (mode 0600, refused if another user owns them) and forked
//! children do: it reads `/proc/PID/stat` and `/proc/PID/status` of the namespace the caller
//! runs in. A process registered from another pid namespace (recorded with its namespace) or
//! whose `/proc` entry cannot be read (`hidepid`) is never judged dead: a crash of it is not
//! repaired, and a named queue it used is never reclaimed.
//!
//! The same holds for *long* messages: the blob chunk a dead process held (taken for a put,
//! or being copied out by a get) is freed by its repair, found by its lease word, so no chunk
//! leaks; a long get is committed, like a short one, only when its ring slot is released,
//! after the copy. A process killed asleep in a blocking call is taken out of the wait
//! word's count of sleepers by the same repair (the queue's wait ledger says how many were
//! its), so no call pays a wake-up for it afterwards. `LAYOUT.md` of this crate goes through every step of a put and a get.
//!
//! A parent's death wakes nobody: a non-daemon child blocked in a get sleeps on (in the
//! kernel, using no CPU) until a message comes from any process that still has the queue, as
//! Python's non-daemon children outlive their parent. To make children go with their parent,
//! start them as daemons (`Builder::daemon`, `PR_SET_PDEATHSIG`), or wait with `get_timeout`
//! and check `sys::getppid`.
//!
//! # Closing, draining, and the other queue types
//!
//! [`Queue::close`] says this process puts (and gets) no more: its later calls return a
//! `Closed` error. It is per process, as Python's: a put has written its item into shared
//! memory when it returns (there is no feeder thread), so nothing needs flushing, and Python's
//! `join_thread()`/`cancel_join_thread()` have nothing to do here and do not exist.
//! [`Queue::try_iter`] drains what is there now. [`SimpleQueue`] is Python's `SimpleQueue`
//! (`put`, `get`, `empty`, `close`); [`JoinableQueue`] is Python's `JoinableQueue`
//! (`task_done`, `join`), whose `join` also reports the items that consumers held when they
//! died, where Python's would wait for ever.
//!
//! # Named queues: space and cleaning up
//!
//! A named queue ([`Builder::create_named`]) is a file of `/dev/shm` (a `tmpfs`, in memory)
//! whose whole size is reserved when it is made, so a `/dev/shm` too small is an error then
//! ([`ShmError::OutOfSpace`](crate::ShmError::OutOfSpace)), never a `SIGBUS` in a later put.
//! Named defaults are smaller than anonymous ones (about 13 MiB; [`Builder`], *Memory*, says
//! how to size a queue). The file outlives every process that uses it: it stays until
//! [`Queue::unlink_named`] removes its name, and its memory until the last process that mapped
//! it lets go.
//!
//! * A program that owns a queue's name unlinks it when it is done (processes that opened the
//!   queue keep using it; new ones can no longer open it).
//! * After a crash, the region stays in `/dev/shm`, and `create_named` of the name fails with
//!   `ShmError::AlreadyExists`. Create with
//!   [`Builder::reclaim_stale`]`(true)` instead: the stale region is replaced if its creator
//!   and every process registered in it are dead, and refused with [`QueueError::InUse`]
//!   (naming a live pid) otherwise. Every process that creates or opens a named queue
//!   registers in it at once, so a live user is never overlooked; one that could not register
//!   (the table of [`Builder::max_processes`] entries was full) counts as alive too.
//! * By hand: `ls -l /dev/shm` lists the regions; [`Queue::unlink_named`] (or `rm
//!   /dev/shm/NAME`) removes one, also from under live processes, which then go on alone in
//!   a region nobody else can reach: use it only when you know the users are gone.
//!
//! A process forked by a raw `clone` system call (not libc's `fork`, as [`Process`](crate::Process)
//! uses) must not use a queue it inherited: it would claim under its parent's registration.

// All `unsafe` code lives in `crate::sys`.
#![forbid(unsafe_code)]

mod blob;
mod builder;
mod codec;
mod error;
mod iter;
#[cfg(target_has_atomic = "64")]
mod joinable;
pub(crate) mod layout;
mod raw;
mod reclaim;
mod simple;

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use crate::encoding::{DecodeError, DecodeErrorKind, EncodeError};
use crate::wait::Deadline;
pub use builder::{
    Builder, DEFAULT_CLASSES, DEFAULT_INLINE_MAX, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_PROCESSES,
    MAX_INLINE, NAMED_DEFAULT_CLASSES, NAMED_UNBOUNDED_CAPACITY, UNBOUNDED_CAPACITY,
};
pub(crate) use codec::{decode_message, put_item};
pub use error::{
    GetError, GetNowaitError, GetTimeoutError, PutError, PutNowaitError, PutTimeoutError,
    QueueError, RawGetError, RawGetNowaitError, RawGetTimeoutError, RawPutError, RawPutNowaitError,
    RawPutTimeoutError,
};
use layout::item_type;
use raw::{get_never_waits, put_never_waits};
pub use raw::{Batch, BatchIter, PutManyError, QueueStats, RawQueue, SizeClassStats, Waiters};
pub(crate) use raw::{GetFail, Hooks, Message, Parts, PutFail};

// Python's other queue types, and the draining iterators.
pub use iter::{RawTryIter, TryIter};
#[cfg(target_has_atomic = "64")]
pub use joinable::{JoinError, JoinTimeoutError, JoinableQueue, JoinableTryIter, TaskDoneError};
pub use simple::SimpleQueue;

/// A multi-producer, multi-consumer FIFO queue between processes, with the API of Python's
/// `multiprocessing.Queue`; items of any serde type, encoded with postcard.
///
/// See the [module docs](self) for how it works, blocking, and what a crashed process does.
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
    raw: RawQueue,
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
