//! [`RawQueue`]: the queue of byte messages that [`Queue`](super::Queue) encodes into; the ring,
//! the blob pool and the blocking calls.

use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use ipc_core::crash;
use ipc_core::{ByteQueue, ParticipantId, PopError, PushError, RepairHooks, SlotReader, WaitWord};

use super::blob::{Class, Descriptor, Lease, LeaseGuard, NONCE_MASK};
use super::error::{
    GetError, GetNowaitError, GetTimeoutError, PutError, PutNowaitError, PutTimeoutError,
    QueueError,
};
use super::layout::{word, ClassLayout, Layout, Params, DESCRIPTOR_LEN, HEADER_LEN};
use crate::encoding::EncodeError;
use crate::shared::member::{Claimer, Member, Verdicts};
use crate::shared::region::{Part, SharedBytes, SharedQueue, View};
use crate::shm::{SharedRegion, ShmError, UnlockOnDrop};
use crate::sys::fork_generation;
use crate::sys::shm::{flock, FlockOp};
use crate::wait::{block_on, block_on_marked, notify, notify_all, wake_one, Deadline, Stall, Wait};

/// A multi-producer, multi-consumer queue of byte messages in memory shared between processes:
/// [`Queue`](super::Queue) without the encoding, for callers that have bytes already.
///
/// Same semantics, limits and layout as [`Queue`](super::Queue) (which is a `RawQueue` plus
/// postcard): `put`/`get` block, `*_timeout` wait at most a given time, `*_nowait` don't wait.
/// A failed put hands the message back. Clones share the queue; so do children forked after it
/// was made.
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

/// What a blocking call of a channel adds to the queue's (crate-private; see
/// `crate::channel`): a way to stop waiting (the other side is gone), a periodic check while
/// blocked, and a hook inside a put's ring claim. The queues themselves use [`NoHooks`].
pub(crate) trait Hooks {
    /// Whether [`in_put_claim`](Self::in_put_claim) must run (a put takes the claim-with-closure
    /// path then, instead of the fused push-and-notify).
    const IN_PUT_CLAIM: bool = false;
    /// Asked after each attempt that found the ring empty (a get) or full, or no free chunk (a
    /// put): `true` ends the call with `Stopped`.
    fn stopped(&self) -> bool {
        false
    }
    /// Runs with the call's own stall check (every `STALL_CHECK` while it sleeps).
    fn on_stall(&self) {}
    /// Runs inside the ring claim of a put, after the message (or descriptor) was written.
    fn in_put_claim(&self) {}
}

/// The queues' hooks: none.
pub(crate) struct NoHooks;

impl Hooks for NoHooks {}

/// Why an internal put failed, before the item is put back into the error.
#[derive(Debug)]
pub(crate) enum PutFail {
    /// The deadline passed (at once for a call that does not wait) with no room.
    Waited,
    /// [`Hooks::stopped`] said so (only for callers with hooks; the queues' map it as `Waited`).
    Stopped,
    TooLarge {
        len: usize,
        max: usize,
    },
    Encode(EncodeError),
    Corrupt,
}

impl PutFail {
    /// The public error, carrying `item`; `waited` makes the one for [`PutFail::Waited`].
    pub(crate) fn with<T, E: From<PutError<T>>>(self, item: T, waited: fn(T) -> E) -> E {
        match self {
            PutFail::Waited | PutFail::Stopped => waited(item),
            PutFail::TooLarge { len, max } => PutError::TooLarge { item, len, max }.into(),
            PutFail::Encode(error) => PutError::Encode { item, error }.into(),
            PutFail::Corrupt => PutError::Corrupt(item).into(),
        }
    }
}

/// Why an internal get failed.
#[derive(Debug)]
pub(crate) enum GetFail {
    /// The deadline passed (at once for a call that does not wait) with no message.
    Waited,
    /// [`Hooks::stopped`] said so (only for callers with hooks; the queues' map it as `Waited`).
    Stopped,
    Corrupt,
}

impl GetFail {
    /// The public error; `waited` makes the one for [`GetFail::Waited`].
    pub(crate) fn with<E: From<GetError>>(self, waited: fn() -> E) -> E {
        match self {
            GetFail::Waited | GetFail::Stopped => waited(),
            GetFail::Corrupt => GetError::Corrupt.into(),
        }
    }
}

/// The `waited` of a put without deadline, which waits until it succeeds or fails otherwise.
pub(crate) fn put_never_waits<T>(_: T) -> PutError<T> {
    unreachable!("a put without deadline waits until there is room")
}

/// The `waited` of a get without deadline, which waits until it succeeds or fails otherwise.
pub(crate) fn get_never_waits() -> GetError {
    unreachable!("a get without deadline waits until there is a message")
}

/// Where a taken message is, for the reader given to [`RawQueue::get_with`].
pub(crate) enum Message<'a> {
    /// In the claimed ring slot, in memory other processes may write: copy it out (once)
    /// and work on the copy.
    Inline(&'a SlotReader<'a>),
    /// In a blob chunk: the class's chunk array, the offset and the length.
    Blob(&'a SharedBytes, usize, usize),
}

/// Claims a class's chunk array and lease table in `region`.
fn claim_class(
    region: &SharedRegion,
    layout: &ClassLayout,
    index: usize,
    header: &SharedBytes,
) -> Result<Class, QueueError> {
    let control = bytes_view(region.claim(Part::Bytes {
        offset: layout.leases.0,
        len: layout.leases.1,
    })?);
    let chunks = bytes_view(region.claim(Part::Bytes {
        offset: layout.chunks.0,
        len: layout.chunks.1,
    })?);
    Ok(Class::new(
        layout.chunk_size,
        layout.count,
        control,
        chunks,
        header,
        8 * (word::FRESH + index),
    ))
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

    /// Opens the named queue `name` made by
    /// [`Builder::create_named_raw`](super::Builder::create_named_raw) or
    /// [`Builder::create_named`](super::Builder::create_named) in any process of this user.
    ///
    /// Checks the shared memory object's owner (our effective uid), mode (no group or other
    /// access) and size (what its header calls for), then validates the header and every
    /// queue inside through `ipc_core::ByteQueue::attach_raw`, and registers this process in
    /// the queue's participant table at once (so that
    /// [`Builder::reclaim_stale`](super::Builder::reclaim_stale) elsewhere sees it as a user
    /// while it lives; if the table is full, it is counted as a user that could not register,
    /// until its last handle is dropped).
    ///
    /// Any queue opens as a `RawQueue`, whatever item type it was made for: its messages are
    /// bytes (a typed queue's are postcard encodings of its items), and bytes are never an
    /// invalid value. [`Queue::open_named`](super::Queue::open_named) is the one that checks
    /// the type.
    ///
    /// # Errors
    ///
    /// [`QueueError::Shm`] (not found, wrong owner, mode or size), [`QueueError::BadHeader`]
    /// (no queue, or one that contradicts itself, or a queue being made or reclaimed by
    /// another process at this instant: try again), [`QueueError::Claim`] (a queue inside
    /// fails validation).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{QueueError, RawQueue};
    ///
    /// let err = RawQueue::open_named("doc-raw-no-such-queue").unwrap_err();
    /// assert!(matches!(err, QueueError::Shm(_)));
    /// ```
    pub fn open_named(name: &str) -> Result<RawQueue, QueueError> {
        // Twice at most: a queue reclaimed (replaced) while we opened it is opened again.
        let mut tries = 0;
        loop {
            tries += 1;
            let (region, file) = SharedRegion::open_named_file(name)?;
            // Shared: no reclaim can decide about this region until we registered in it (a
            // reclaim holds the lock exclusively while it judges and unlinks; so does the
            // creator until the queue is made).
            match flock(file.as_fd(), FlockOp::TrySharedLock) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(QueueError::BadHeader(
                        "the queue is being made or reclaimed; try again",
                    ))
                }
                Err(e) => return Err(ShmError::Os(e).into()),
            }
            // The mapping holds the lock too: let go explicitly, on every way out.
            let _unlock = UnlockOnDrop(&file);
            let queue = RawQueue::attach(region)?;
            if !SharedRegion::names(name, &file)? {
                // Reclaimed before we locked: the name is another region's now (or none's).
                if tries < 2 {
                    continue;
                }
                return Err(QueueError::BadHeader(
                    "the queue was replaced while being opened; try again",
                ));
            }
            // Registered at once (under the lock), so a reclaim sees us as a participant.
            queue.ring_and_id();
            return Ok(queue);
        }
    }

    /// Validates a named region that holds a queue and makes a handle of it, without
    /// registering this process.
    pub(crate) fn attach(region: SharedRegion) -> Result<RawQueue, QueueError> {
        if region.len() < HEADER_LEN {
            return Err(ShmError::SizeMismatch {
                expected: HEADER_LEN,
                found: region.len(),
            }
            .into());
        }
        let header = bytes_view(region.claim(Part::Bytes {
            offset: 0,
            len: HEADER_LEN,
        })?);
        let (params, region_len) = Params::read_header(&header)?;
        let layout = params
            .layout()
            .map_err(|_| QueueError::BadHeader("the recorded parameters are invalid"))?;
        if layout.region_len != region_len {
            return Err(QueueError::BadHeader(
                "the recorded region length disagrees with the parameters",
            ));
        }
        if region.len() != region_len {
            return Err(ShmError::SizeMismatch {
                expected: region_len,
                found: region.len(),
            }
            .into());
        }
        let ring = queue_view(region.claim(Part::Queue {
            offset: layout.ring.0,
            len: layout.ring.1,
        })?);
        if ring.get().capacity() != params.capacity
            || ring.get().max_message_len() != params.inline_max + 1
        {
            return Err(QueueError::BadHeader("the ring disagrees with the header"));
        }
        let mut classes = Vec::with_capacity(layout.classes.len());
        for (index, c) in layout.classes.iter().enumerate() {
            // Any lease bits are valid: no check (a lease a broken process wrote is at worst
            // never taken, or refused as `Corrupt` by a get).
            classes.push(claim_class(&region, c, index, &header)?);
        }
        RawQueue::from_parts(ring, &params, &layout, classes, header, region)
    }

    /// Makes a queue in a new region (named if `name` is given).
    pub(crate) fn create(params: &Params, name: Option<&str>) -> Result<RawQueue, QueueError> {
        let layout = params.layout()?;
        // A named region's file holds an exclusive lock until the queue is made (dropped at
        // the end of this function): openers and reclaimers back off until then.
        let (region, file) = match name {
            None => (SharedRegion::new(layout.region_len)?, None),
            Some(name) => {
                let (region, file) = SharedRegion::create_named_file(name, layout.region_len)?;
                (region, Some(file))
            }
        };
        // Unlocked when this function returns, made or not (the mapping holds the lock too).
        let _unlock = file.as_ref().map(UnlockOnDrop);
        let made = (|| {
            let header = bytes_view(region.claim(Part::Bytes {
                offset: 0,
                len: HEADER_LEN,
            })?);
            let ring = queue_view(region.claim(Part::NewQueue {
                offset: layout.ring.0,
                len: layout.ring.1,
                config: params.ring_config(),
            })?);
            let mut classes = Vec::with_capacity(layout.classes.len());
            for (index, c) in layout.classes.iter().enumerate() {
                // The mapping is zeroed: every lease is FREE, the wait word has no waiters.
                classes.push(claim_class(&region, c, index, &header)?);
            }
            // Last: the magic, stored with Release, makes it all visible to `open_named`.
            let queue =
                RawQueue::from_parts(ring, params, &layout, classes, header, region.clone())?;
            if name.is_some() {
                // The creator registers at once, like every opener of a named queue.
                queue.ring_and_id();
            }
            params.write_header(&queue.inner.header, layout.region_len);
            Ok(queue)
        })();
        if made.is_err() {
            if let Some(name) = region.name() {
                let _ = SharedRegion::unlink_named(name);
            }
        }
        made
    }

    fn from_parts(
        ring: SharedQueue,
        params: &Params,
        layout: &Layout,
        classes: Vec<Class>,
        header: SharedBytes,
        region: SharedRegion,
    ) -> Result<RawQueue, QueueError> {
        // Any counts are valid bits: a broken process's at worst make wake calls for nobody.
        let ledger = bytes_view(region.claim(Part::Bytes {
            offset: layout.ledger.0,
            len: layout.ledger.1,
        })?);
        Ok(RawQueue {
            inner: Arc::new(Inner {
                ring: Member::new(ring),
                inline_max: params.inline_max,
                max_message_size: params.max_message_size,
                classes: classes.into_boxed_slice(),
                header,
                ledger,
                wait_words: params.wait_words(),
                item_type: params.item_type,
                stall: Stall::new(),
                unregistered: AtomicU64::new(0),
                closed: AtomicU64::new(0),
                region,
            }),
        })
    }

    /// Removes the name of a named queue ([`SharedRegion::unlink_named`]); processes that
    /// opened it keep using it.
    ///
    /// # Errors
    ///
    /// [`QueueError::Shm`] if there is no such name.
    ///
    /// # Examples
    ///
    /// ```
    /// # let _ = host_runtime::RawQueue::unlink_named("doc-raw-unlink");
    /// let q = host_runtime::queue::Builder::new().maxsize(2).create_named_raw("doc-raw-unlink")?;
    /// host_runtime::RawQueue::unlink_named("doc-raw-unlink")?;
    /// q.put(b"still works")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unlink_named(name: &str) -> Result<(), QueueError> {
        Ok(SharedRegion::unlink_named(name)?)
    }

    /// The ring, for reading its state.
    #[inline(always)]
    fn ring_view(&self) -> &ByteQueue<'_> {
        self.inner.ring.view()
    }

    /// The ring's wait words, `(not_empty, not_full)`: for a channel's waiters that sleep on
    /// them with other words (`futex_waitv`).
    pub(crate) fn wait_words(&self) -> (&WaitWord, &WaitWord) {
        let ring = self.ring_view();
        (ring.not_empty(), ring.not_full())
    }

    /// Waits until the ring holds a message (or one is being put) or `hooks.stopped()`, at
    /// most until `deadline`, without taking it: a channel's `poll`. Returns whether it did.
    pub(crate) fn wait_not_empty<H: Hooks>(&self, deadline: Deadline, hooks: &H) -> bool {
        let (ring, me) = self.ring_and_id();
        block_on_marked(
            self.wait(ring.queue().not_empty(), me, NOT_EMPTY),
            deadline,
            || (!ring.queue().is_empty() || hooks.stopped()).then_some(()),
            || ring.queue().mark_empty_wait(),
            || {
                self.repair_if_stuck(Waiting::Message);
                hooks.on_stall();
            },
        )
        .is_some()
    }

    /// `ByteQueue::mark_empty_wait`: what a waiter on [`wait_words`](Self::wait_words)`.0`
    /// (a channel's, or [`wait`](crate::wait()) after [`get_wait`](Self::get_wait)'s
    /// `prepare`) must call after `prepare_wait` and a look that found the ring empty, before it sleeps;
    /// a put's fence-free wake-up sees only marked waiters. `false`: the mark failed (a put is
    /// under way where it looked): sleep briefly only.
    pub(crate) fn mark_empty_wait(&self) -> bool {
        self.ring_view().mark_empty_wait()
    }

    /// Wakes every call blocked on this queue, to look again (a channel's other side is
    /// gone).
    pub(crate) fn wake_all(&self) {
        let ring = self.ring_view();
        notify_all(ring.not_empty());
        notify_all(ring.not_full());
        for class in self.inner.classes.iter() {
            notify_all(class.freed());
        }
    }

    /// Puts `message`, waiting as long as needed for room.
    ///
    /// # Errors
    ///
    /// [`PutError::TooLarge`] if it is longer than [`max_message_size`](Self::max_message_size);
    /// [`PutError::Corrupt`]. The message is handed back.
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
    pub fn put<B: AsRef<[u8]>>(&self, message: B) -> Result<(), PutError<B>> {
        self.put_until(message, Deadline::Never, put_never_waits)
    }

    /// Puts `message`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`PutTimeoutError::Timeout`] if the queue stayed full for `timeout` (never sooner); as
    /// [`put`](Self::put) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{PutTimeoutError, RawQueue};
    /// use std::time::Duration;
    ///
    /// let q = RawQueue::new(1)?;
    /// q.put_timeout(b"a", Duration::from_millis(10))?;
    /// let err = q.put_timeout(b"b", Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(err, PutTimeoutError::Timeout(b"b")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_timeout<B: AsRef<[u8]>>(
        &self,
        message: B,
        timeout: Duration,
    ) -> Result<(), PutTimeoutError<B>> {
        self.put_until(message, Deadline::after(timeout), PutTimeoutError::waited)
    }

    /// Puts `message` if there is room now.
    ///
    /// # Errors
    ///
    /// [`PutNowaitError::Full`]; as [`put`](Self::put) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{PutNowaitError, RawQueue};
    ///
    /// let q = RawQueue::new(1)?;
    /// q.put_nowait(b"a")?;
    /// assert!(matches!(q.put_nowait(b"b"), Err(PutNowaitError::Full(b"b"))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_nowait<B: AsRef<[u8]>>(&self, message: B) -> Result<(), PutNowaitError<B>> {
        self.put_until(message, Deadline::NoWait, PutNowaitError::waited)
    }

    fn put_until<B: AsRef<[u8]>, E: From<PutError<B>>>(
        &self,
        message: B,
        deadline: Deadline,
        waited: fn(B) -> E,
    ) -> Result<(), E> {
        if self.is_closed() {
            return Err(PutError::Closed(message).into());
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
        result.map_err(|fail| fail.with(message, waited))
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
    /// use host_runtime::{GetError, PutError, RawQueue};
    ///
    /// let q = RawQueue::new(4)?;
    /// q.put(b"before")?;
    /// let other = q.clone();
    /// q.close();
    /// assert!(matches!(other.put(b"after"), Err(PutError::Closed(b"after"))));
    /// assert!(matches!(q.get(), Err(GetError::Closed)));
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

    /// Puts `bytes` (at most [`inline_max`](Self::inline_max) long) into a ring slot.
    #[inline]
    pub(crate) fn put_inline(&self, bytes: &[u8], deadline: Deadline) -> Result<(), PutFail> {
        self.put_inline_with(bytes, deadline, &NoHooks)
    }

    /// [`put_inline`](Self::put_inline) with a channel's [`Hooks`].
    #[inline]
    pub(crate) fn put_inline_with<H: Hooks>(
        &self,
        bytes: &[u8],
        deadline: Deadline,
        hooks: &H,
    ) -> Result<(), PutFail> {
        debug_assert!(bytes.len() <= self.inner.inline_max);
        let max = self.inner.max_message_size;
        if bytes.len() > max {
            return Err(PutFail::TooLarge {
                len: bytes.len(),
                max,
            });
        }
        let (ring, me) = self.ring_and_id();
        let pushed = block_on(
            self.wait(ring.queue().not_full(), me, NOT_FULL),
            deadline,
            // Fence-free wake: every get marks before it sleeps (`block_on_marked` in `get_with`).
            || {
                let pushed = if H::IN_PUT_CLAIM {
                    // `None`: wake with the full `notify` below.
                    ring.try_push_with(bytes.len(), |slot| {
                        slot.write(bytes);
                        hooks.in_put_claim();
                    })
                    .map(|()| None)
                } else {
                    ring.try_push_notify(bytes).map(Some)
                };
                match pushed {
                    Ok(wake) => Some(Ok(wake)),
                    Err(PushError::Full) if hooks.stopped() => Some(Err(PutFail::Stopped)),
                    Err(PushError::Full) => None,
                    Err(_) => Some(Err(PutFail::Corrupt)),
                }
            },
            || {
                self.repair_if_stuck(Waiting::Room);
                hooks.on_stall();
            },
        );
        match pushed {
            Some(Ok(Some(wake))) => {
                if wake && wake_one(ring.queue().not_empty()) {
                    self.look_for_dead();
                }
                Ok(())
            }
            Some(Ok(None)) => {
                self.notify(ring.queue().not_empty());
                Ok(())
            }
            Some(Err(fail)) => Err(fail),
            None => Err(self.after_failure(Waiting::Room, PutFail::Waited)),
        }
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

    /// The ledger counter of participant `id` for wait word number `slot` (`NOT_EMPTY`,
    /// `NOT_FULL`, `FREED + class`); `None` for an anonymous process.
    fn ledger(&self, id: u16, slot: usize) -> Option<&AtomicU32> {
        let row = usize::from(id).checked_sub(1)?;
        let at = 4 * (row * self.inner.wait_words + slot);
        Some(&self.inner.ledger.atomics::<AtomicU32>(at, 1)[0])
    }

    /// How participant `id` sleeps on `word` (wait word number `slot`).
    fn wait<'q>(&'q self, word: &'q WaitWord, id: u16, slot: usize) -> Wait<'q> {
        Wait {
            word,
            ledger: self.ledger(id, slot),
        }
    }

    /// [`notify`](crate::wait::notify), and if it woke nobody although the word counted
    /// sleepers, a look for dead ones (at most every 200 ms per process): a process killed
    /// asleep would otherwise cost every later call a wake system call until some repair.
    #[inline]
    fn notify(&self, word: &WaitWord) {
        if notify(word) {
            self.look_for_dead();
        }
    }

    /// A rate-limited [`repair_dead`](Self::repair_dead), for suspicions that are usually
    /// false (a wake-up that found nobody asleep, a call that failed while the queue looked
    /// stuck): at most every 200 ms per process, unless the last look found someone.
    #[cold]
    fn look_for_dead(&self) {
        if self.inner.stall.due() && self.repair_within(REPAIR_BUDGET) > 0 {
            self.inner.stall.reset();
        }
    }

    /// For [`wait`](crate::wait()): how this process sleeps until a get may succeed (the ring's
    /// `not_empty` word and this process's ledger counter for it), as [`get_with`] does.
    ///
    /// [`get_with`]: Self::get_with
    pub(crate) fn get_wait(&self) -> Wait<'_> {
        let (_, me) = self.ring_and_id();
        self.wait(self.ring_view().not_empty(), me, NOT_EMPTY)
    }

    /// For [`wait`](crate::wait()): its stall check, as a blocked get's.
    pub(crate) fn get_stalled(&self) {
        self.repair_if_stuck(Waiting::Message);
    }

    /// Puts a message of `len` bytes (longer than the inline size) through the blob pool:
    /// takes the free chunk of lowest index in the smallest class that holds it (waiting for
    /// one like for room), lets `fill` write it at the given offset of the class's chunk array
    /// (returning the length written, at most `len`), then pushes a descriptor. On any
    /// failure the chunk is freed again.
    ///
    /// Crash safety (see `LAYOUT.md`, *Blob chunks: leases*): the lease says `HELD(me, n)`
    /// from the take until, inside the ring claim, the descriptor is written and the lease
    /// moved to `RING(me, n)`; so if this process dies, its repair finds the chunk either by
    /// its lease (`HELD`) or by the abandoned descriptor (`RING(me, n)`, slot not published).
    pub(crate) fn put_blob(
        &self,
        len: usize,
        deadline: Deadline,
        fill: impl FnOnce(&SharedBytes, usize) -> Result<usize, postcard::Error>,
    ) -> Result<(), PutFail> {
        self.put_blob_with(len, deadline, &NoHooks, fill)
    }

    /// [`put_blob`](Self::put_blob) with a channel's [`Hooks`].
    pub(crate) fn put_blob_with<H: Hooks>(
        &self,
        len: usize,
        deadline: Deadline,
        hooks: &H,
        fill: impl FnOnce(&SharedBytes, usize) -> Result<usize, postcard::Error>,
    ) -> Result<(), PutFail> {
        let max = self.inner.max_message_size;
        let Some((class_index, class)) = (len <= max)
            .then(|| {
                self.inner
                    .classes
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.chunk_size >= len)
            })
            .flatten()
        else {
            return Err(PutFail::TooLarge { len, max });
        };
        // Registered first: the lease records our id.
        let (ring, me) = self.ring_and_id();
        let nonce = self.next_nonce();
        let held = Lease::held(me, nonce);
        let Some(index) = block_on(
            self.wait(class.freed(), me, FREED + class_index),
            deadline,
            || match class.try_take(held) {
                Some(index) => Some(Some(index)),
                None if hooks.stopped() => Some(None),
                None => None,
            },
            || {
                self.repair_if_stuck(Waiting::Chunk);
                hooks.on_stall();
            },
        ) else {
            let fail = PutFail::Waited;
            return Err(self.after_failure(Waiting::Chunk, fail));
        };
        let Some(index) = index else {
            return Err(PutFail::Stopped);
        };
        crash::point("blob.taken");
        let mut guard = LeaseGuard {
            class,
            index,
            held,
            armed: true,
        };
        let written = fill(&class.chunks, class.offset(index))
            .map_err(|e| PutFail::Encode(EncodeError::new(e)))?;
        if written > len {
            return Err(PutFail::Encode(EncodeError::new(
                postcard::Error::SerializeBufferFull,
            )));
        }
        crash::point("blob.written");
        let descriptor = Descriptor {
            class: class_index as u32,
            index,
            len: written as u32,
            lease: Lease::ring(me, nonce),
        };
        let descriptor_len = self.inner.inline_max + 1;
        let mut marked = false;
        let pushed = block_on(
            self.wait(ring.queue().not_full(), me, NOT_FULL),
            deadline,
            || match ring.try_push_with(descriptor_len, |slot| {
                // Inside the claim: the descriptor first, then the lease that says so.
                slot.write(&descriptor.encode());
                crash::point("blob.described");
                // We hold the lease (HELD by us): ours to move.
                marked = class.hand_over(index, held, descriptor.lease);
                crash::point("blob.ringed");
                hooks.in_put_claim();
            }) {
                Ok(()) => Some(Ok(())),
                Err(PushError::Full) if hooks.stopped() => Some(Err(PutFail::Stopped)),
                Err(PushError::Full) => None,
                Err(_) => Some(Err(PutFail::Corrupt)),
            },
            || {
                self.repair_if_stuck(Waiting::Room);
                hooks.on_stall();
            },
        );
        match pushed {
            Some(Ok(())) => {
                // The descriptor in the ring holds the chunk now (or, if our lease was
                // overwritten by a broken process, a get will refuse it as corrupt).
                guard.armed = false;
                self.notify(ring.queue().not_empty());
                if marked {
                    Ok(())
                } else {
                    Err(PutFail::Corrupt)
                }
            }
            Some(Err(fail)) => Err(fail),
            None => Err(self.after_failure(Waiting::Room, PutFail::Waited)),
        }
    }

    /// A nonce for a long put's lease: unique over the region's life (modulo 2^49).
    fn next_nonce(&self) -> u64 {
        // Relaxed: only uniqueness matters, which the RMW gives.
        self.inner
            .header
            .u64_at(8 * word::NONCE)
            .fetch_add(1, Relaxed)
            & NONCE_MASK
    }

    /// Takes the front message and hands it to `read`: an inline one as a [`SlotReader`] over
    /// the ring slot (`read` copies it out, with atomic loads, and works on the copy), a long
    /// one in its blob chunk (read with atomic loads too). Either way `read` runs inside the ring claim, so
    /// the get is committed only by the release of the ring slot, after the chunk is free
    /// again: a consumer that dies before has its message counted in `lost_in_get` by the
    /// repair, which also frees the chunk.
    #[inline]
    pub(crate) fn get_with<R>(
        &self,
        deadline: Deadline,
        read: impl FnOnce(Message<'_>) -> R,
    ) -> Result<R, GetFail> {
        self.get_with_hooks(deadline, &NoHooks, read)
    }

    /// [`get_with`](Self::get_with) with a channel's [`Hooks`] (`in_put_claim` is not used).
    #[inline]
    pub(crate) fn get_with_hooks<R, H: Hooks>(
        &self,
        deadline: Deadline,
        hooks: &H,
        read: impl FnOnce(Message<'_>) -> R,
    ) -> Result<R, GetFail> {
        let (ring, me) = self.ring_and_id();
        let descriptor_len = self.inner.inline_max + 1;
        let mut read = Some(read);
        let mut long = false;
        let popped = block_on_marked(
            self.wait(ring.queue().not_empty(), me, NOT_EMPTY),
            deadline,
            || match ring.try_pop_with(|m| {
                let Some(read) = read.take() else {
                    unreachable!("a successful pop ends the attempts")
                };
                if m.len() == descriptor_len {
                    long = true;
                    self.read_blob(&self.descriptor_bytes(m), me, read)
                } else if m.len() > self.inner.max_message_size {
                    // Only a broken process puts one (`put_inline` refuses it).
                    Err(GetFail::Corrupt)
                } else {
                    Ok(read(Message::Inline(m)))
                }
            }) {
                Ok(result) => Some(Ok(result)),
                Err(PopError::Empty) if hooks.stopped() => Some(Err(GetFail::Stopped)),
                Err(PopError::Empty) => None,
                Err(_) => Some(Err(GetFail::Corrupt)),
            },
            || ring.queue().mark_empty_wait(),
            || {
                self.repair_if_stuck(Waiting::Message);
                hooks.on_stall();
            },
        );
        match popped {
            Some(Ok(result)) => {
                // The slot was released, whatever the descriptor said.
                self.notify(ring.queue().not_full());
                // A freed chunk's wake-up that found nobody: as in `notify`.
                if long && self.inner.classes.iter().any(Class::woke_nobody) {
                    self.look_for_dead();
                }
                result
            }
            Some(Err(e)) => Err(e),
            None => Err(self.after_failure(Waiting::Message, GetFail::Waited)),
        }
    }

    /// The long-message half of a get, inside the ring claim of the descriptor `m`: leases
    /// the chunk from the ring (`RING(p, n) → HELD(me, n)`), hands it to `read`, frees it.
    /// A descriptor that names no chunk, or whose chunk's lease is not the one it names, is
    /// `Corrupt`, and then nothing is changed (the message is dropped with the ring slot).
    #[inline]
    fn read_blob<R>(
        &self,
        m: &Option<[u8; DESCRIPTOR_LEN]>,
        me: u16,
        read: impl FnOnce(Message<'_>) -> R,
    ) -> Result<R, GetFail> {
        let (class, d) = self.blob(m).ok_or(GetFail::Corrupt)?;
        let held = Lease::held(me, d.lease.nonce());
        // Ours to move: we hold the claim of the one ring slot that names this lease.
        if !d.lease.is_ring() || !class.hand_over(d.index, d.lease, held) {
            return Err(GetFail::Corrupt);
        }
        crash::point("blob.leased");
        // Frees the chunk when dropped: after `read`, or if it panics.
        let guard = LeaseGuard {
            class,
            index: d.index,
            held,
            armed: true,
        };
        let result = read(Message::Blob(
            &class.chunks,
            class.offset(d.index),
            d.len as usize,
        ));
        crash::point("blob.read");
        drop(guard);
        crash::point("blob.freed");
        Ok(result)
    }

    /// A private copy of the descriptor in the ring message `m`, if it has a descriptor's
    /// length: what [`blob`](Self::blob) decodes (never the slot itself, which other
    /// processes may rewrite while it is read).
    fn descriptor_bytes(&self, m: &SlotReader<'_>) -> Option<[u8; DESCRIPTOR_LEN]> {
        let mut bytes = [0; DESCRIPTOR_LEN];
        (m.len() == self.inner.inline_max + 1 && m.read(&mut bytes) == DESCRIPTOR_LEN)
            .then_some(bytes)
    }

    /// The class and descriptor a ring message's descriptor bytes name, if they name a chunk
    /// (class, index and length in range).
    fn blob(&self, m: &Option<[u8; DESCRIPTOR_LEN]>) -> Option<(&Class, Descriptor)> {
        let d = Descriptor::decode(m.as_ref()?);
        let class = self
            .inner
            .classes
            .get(d.class as usize)
            .filter(|c| (d.index as usize) < c.count && d.len as usize <= c.chunk_size)?;
        Some((class, d))
    }

    /// Takes the front message, waiting as long as needed for one.
    ///
    /// # Errors
    ///
    /// [`GetError::Corrupt`] only.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::RawQueue::new(2)?;
    /// q.put(b"x")?;
    /// assert_eq!(q.get()?, b"x");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<Vec<u8>, GetError> {
        self.get_vec(Deadline::Never, get_never_waits)
    }

    /// Takes the front message, waiting at most `timeout` for one.
    ///
    /// # Errors
    ///
    /// [`GetTimeoutError::Timeout`] if the queue stayed empty for `timeout` (never sooner);
    /// [`GetTimeoutError::Corrupt`].
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{GetTimeoutError, RawQueue};
    /// use std::time::Duration;
    ///
    /// let q = RawQueue::new(2)?;
    /// assert!(matches!(q.get_timeout(Duration::from_millis(5)), Err(GetTimeoutError::Timeout)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<Vec<u8>, GetTimeoutError> {
        self.get_vec(Deadline::after(timeout), GetTimeoutError::waited)
    }

    /// Takes the front message if there is one now.
    ///
    /// # Errors
    ///
    /// [`GetNowaitError::Empty`]; [`GetNowaitError::Corrupt`].
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{GetNowaitError, RawQueue};
    ///
    /// let q = RawQueue::new(2)?;
    /// assert!(matches!(q.get_nowait(), Err(GetNowaitError::Empty)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_nowait(&self) -> Result<Vec<u8>, GetNowaitError> {
        self.get_vec(Deadline::NoWait, GetNowaitError::waited)
    }

    fn get_vec<E: From<GetError>>(
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
    pub fn get_into(&self, buf: &mut Vec<u8>) -> Result<usize, GetError> {
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
    /// use host_runtime::{GetTimeoutError, RawQueue};
    /// use std::time::Duration;
    ///
    /// let q = RawQueue::new(2)?;
    /// let mut buf = b"old".to_vec();
    /// let err = q.get_into_timeout(&mut buf, Duration::from_millis(5)).unwrap_err();
    /// assert!(matches!(err, GetTimeoutError::Timeout));
    /// assert_eq!(buf, b"old");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_into_timeout(
        &self,
        buf: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<usize, GetTimeoutError> {
        self.get_into_until(buf, Deadline::after(timeout), GetTimeoutError::waited)
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
    pub fn get_into_nowait(&self, buf: &mut Vec<u8>) -> Result<usize, GetNowaitError> {
        self.get_into_until(buf, Deadline::NoWait, GetNowaitError::waited)
    }

    #[inline]
    fn get_into_until<E: From<GetError>>(
        &self,
        buf: &mut Vec<u8>,
        deadline: Deadline,
        waited: fn() -> E,
    ) -> Result<usize, E> {
        if self.is_closed() {
            return Err(GetError::Closed.into());
        }
        self.get_with(deadline, |message| match message {
            Message::Inline(m) => {
                // The private copy: straight from the slot into `buf`, with atomic loads,
                // over every byte of `buf[..len]` (no need to zero what is there).
                let len = m.len();
                if buf.len() < len {
                    buf.resize(len, 0);
                }
                buf.truncate(len);
                m.read(buf)
            }
            Message::Blob(chunks, offset, len) => {
                buf.clear();
                buf.resize(len, 0);
                chunks.read(offset, buf);
                len
            }
        })
        .map_err(|fail| fail.with(waited))
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

/// The most sleepers a repair takes out of one wait word for one dead participant: far more
/// threads than one process ever has asleep on one queue. The ledger count is shared memory,
/// which a broken process may fill with any number (`u32::MAX` made one repair take 40 s);
/// sleepers left counted beyond this only cost wake system calls for nobody, never a lost
/// wake-up.
const MAX_LEDGER_SLEEPERS: u32 = 1024;

/// How long a repair made on behalf of a call (a blocked call every [`STALL_CHECK`], a failing
/// `*_nowait`/`*_timeout` call, a registration that found the table full) keeps taking new
/// participant entries. One entry's repair is bounded by the layout (a scan of the ring's
/// slots, of the class's leases, and [`MAX_LEDGER_SLEEPERS`] per wait word), so such a repair
/// ends within this plus one entry's work, whatever the participant table holds, and a
/// blocked call spends at most a tenth of its time repairing.
///
/// [`STALL_CHECK`]: crate::wait::word::STALL_CHECK
const REPAIR_BUDGET: Duration = Duration::from_millis(20);

/// Wait word numbers, for the wait ledger: the ring's two words, then each class's `freed`.
const NOT_EMPTY: usize = 0;
const NOT_FULL: usize = 1;
const FREED: usize = 2;

/// What a blocked or failed call waited for, which says what "stuck" looks like for it.
#[derive(Clone, Copy)]
enum Waiting {
    /// A get: a message.
    Message,
    /// A put: room in the ring.
    Room,
    /// A long put: a free chunk.
    Chunk,
}

/// Crash repair: see `member.rs` and the crate's `LAYOUT.md`.
impl RawQueue {
    /// Repairs what dead processes left half-done in this queue, now: each message a dead
    /// producer was putting is skipped (counted in [`QueueStats::lost_in_put`]), each message
    /// a dead consumer was taking is released (counted in [`QueueStats::lost_in_get`]; a long
    /// message's blob chunk is freed), and their registrations are freed. Returns how many
    /// dead processes were repaired.
    ///
    /// A process is dead when the kernel says it can no longer run: it exited or was killed
    /// (a zombie not yet reaped counts; a process whose main thread ended while others run
    /// does not), or its pid now belongs to a process that started later. A stopped (`SIGSTOP`) or slow process is never repaired: the others wait for it
    /// as for any live one.
    ///
    /// Calls blocked on the queue do this by themselves when they have waited
    /// 200 ms while the queue looks stuck (a get sees messages it cannot reach, a put sees
    /// room it cannot reach), and so do failing `*_nowait` and `*_timeout` calls, at most
    /// every 200 ms per process, each for at most about 20 ms (then the next one goes on where
    /// it stopped); call it to resume at once after a known death, e.g. after joining a
    /// killed process. It goes through the whole participant table, whose size the queue's
    /// settings fix (`max_processes`), whatever another process wrote into it.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{Process, RawQueue};
    ///
    /// let q = RawQueue::new(4)?;
    /// let tx = q.clone();
    /// let p = Process::new(move || tx.put(b"hi").unwrap());
    /// p.start()?;
    /// p.join()?;
    /// // The child registered when it put, and exited without a word: its entry is freed.
    /// assert_eq!(q.repair_dead(), 1);
    /// assert_eq!(q.get()?, b"hi");
    /// assert_eq!(q.stats().lost_in_put, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn repair_dead(&self) -> usize {
        self.repair_through(&self.ring_and_id().0, None)
    }

    /// [`repair_dead`](Self::repair_dead) on behalf of a call (blocked, failing, or
    /// registering): it takes no new participant entry once `budget` has passed (see
    /// [`REPAIR_BUDGET`]); the next one of this process goes on from there.
    fn repair_within(&self, budget: Duration) -> usize {
        self.repair_through(&self.ring_and_id().0, Some(budget))
    }

    /// [`repair_dead`](Self::repair_dead) through the anonymous ring handle: for a process
    /// whose own registration found the table full (it is registering, so its claimer is not
    /// ready).
    fn sweep_anonymously(&self) {
        self.repair_through(&Claimer::Anonymous(self.ring_view()), Some(REPAIR_BUDGET));
    }

    fn repair_through(&self, ring: &Claimer<'_>, budget: Option<Duration>) -> usize {
        let mut verdicts = Verdicts::default();
        let until = Deadline::within(budget);
        let dead = self.inner.ring.repair_dead(
            ring,
            &mut verdicts,
            |id| LeaseRepair {
                queue: self,
                dead: id,
            },
            || until.has_passed(),
        );
        if dead > 0 {
            let repairs = self.inner.header.u64_at(8 * word::REPAIRS);
            repairs.fetch_add(dead, Relaxed);
            // Anyone may be unblocked now: wake them all to look again.
            let ring = self.ring_view();
            notify_all(ring.not_empty());
            notify_all(ring.not_full());
            for class in self.inner.classes.iter() {
                notify_all(class.freed());
            }
        }
        dead as usize
    }

    /// `on_stall` of the blocking calls: repairs if the queue looks stuck for `waiting`.
    fn repair_if_stuck(&self, waiting: Waiting) {
        if self.looks_stuck(waiting) {
            self.repair_within(REPAIR_BUDGET);
        }
    }

    /// Whether what `waiting` waits for looks held up by someone (dead or alive).
    fn looks_stuck(&self, waiting: Waiting) -> bool {
        let ring = self.ring_view();
        match waiting {
            // Messages (or a claimed put) that no get can reach: a put in progress at the head.
            Waiting::Message => !ring.is_empty(),
            // Room that no put can reach: a get in progress where the tail must go next.
            Waiting::Room => !ring.is_full(),
            // Every chunk is leased, maybe to a dead process: only a look at the processes
            // tells (chunks are held outside the ring, where no state says "stuck").
            Waiting::Chunk => true,
        }
    }

    /// Passes `error` on, after a dead-participant check if one is due (see [`Stall`]).
    #[cold]
    fn after_failure<E>(&self, waiting: Waiting, error: E) -> E {
        if self.looks_stuck(waiting) {
            self.look_for_dead();
        }
        error
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

/// What a repair of the dead participant `dead` does about blob chunks (`LAYOUT.md`, *Blob
/// chunks: leases*, has the case-by-case argument). Every move is a CAS from exactly the lease
/// seen to `FREE`, so a repeated (taken-over) repair changes nothing more.
struct LeaseRepair<'q> {
    queue: &'q RawQueue,
    dead: ParticipantId,
}

impl RepairHooks for LeaseRepair<'_> {
    /// `dead` was taking this message (the ring counts it lost): its chunk is still
    /// `RING(p, n)` (not yet leased), or `HELD(dead, n)` (being copied out); anything else
    /// means `dead` had freed it already, and it may be someone else's now: left alone.
    fn salvage(&mut self, message: &SlotReader<'_>) {
        if let Some((class, d)) = self.queue.blob(&self.queue.descriptor_bytes(message)) {
            let _ = class.free_if(d.index, d.lease)
                || class.free_if(d.index, Lease::held(self.dead.get(), d.lease.nonce()));
        }
    }

    /// `dead` was writing this ring slot (abandoned now; the payload may be stale or torn):
    /// if it names a lease that is exactly `RING(dead, n)`, `dead` died between marking its
    /// chunk and publishing; nonces are unique per put, and a published `RING(dead, n)` lies
    /// in exactly one FULL slot, so no stale or torn payload matches another put's lease.
    fn abandoned(&mut self, payload: &SlotReader<'_>) {
        if let Some((class, d)) = self.queue.blob(&self.queue.descriptor_bytes(payload)) {
            if d.lease.is_ring() && d.lease.owner() == self.dead.get() {
                class.free_if(d.index, d.lease);
            }
        }
    }

    /// Every chunk still `HELD(dead, _)` was taken by `dead` outside the ring: as a producer
    /// before its descriptor was marked, or as a consumer mid-copy (whose message the ring
    /// repair counted). `dead`'s ring entry is still held, so no new process has its id.
    fn before_release(&mut self) {
        for class in self.queue.inner.classes.iter() {
            class.sweep(self.dead.get());
        }
        // Its sleepers, still counted in the wait words (see `wait::Wait`).
        let ring = self.queue.ring_view();
        let classes = self.queue.inner.classes.iter().map(Class::freed);
        let words = [ring.not_empty(), ring.not_full()]
            .into_iter()
            .chain(classes);
        for (slot, word) in words.enumerate() {
            if let Some(count) = self.queue.ledger(self.dead.get(), slot) {
                // Both numbers come from shared memory: read once each, and capped, so a
                // forged count costs at most `MAX_LEDGER_SLEEPERS` decrements, and never
                // takes the word's count below zero (see `MAX_LEDGER_SLEEPERS`).
                let sleepers = count.swap(0, Relaxed).min(word.waiters());
                for _ in 0..sleepers.min(MAX_LEDGER_SLEEPERS) {
                    word.finish_wait();
                }
            }
        }
    }
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

fn queue_view(view: View) -> SharedQueue {
    match view {
        View::Queue(q) => q,
        View::Bytes(_) => unreachable!("a queue part gives a queue view"),
    }
}

fn bytes_view(view: View) -> SharedBytes {
    match view {
        View::Bytes(b) => b,
        View::Queue(_) => unreachable!("a bytes part gives a bytes view"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid no process has: above the largest `pid_max` Linux allows (2^22).
    const NO_SUCH_PID: u32 = 1 << 30;

    /// A participant entry of a process that never ran, as another process could write one.
    fn forge_dead(q: &RawQueue) -> u16 {
        let handle = q.ring_view().register(NO_SUCH_PID, 0).unwrap();
        handle.participant().get()
    }

    #[test]
    fn a_forged_ledger_count_is_capped() {
        let q = RawQueue::builder().maxsize(4).build_raw().unwrap();
        let fake = forge_dead(&q);
        let (not_empty, not_full) = (q.ring_view().not_empty(), q.ring_view().not_full());
        // The dead one's ledger claims u32::MAX sleepers on both words (one repair took 40 s
        // on such a number); the words count 3000 and 5.
        for _ in 0..3000 {
            not_empty.prepare_wait();
        }
        for _ in 0..5 {
            not_full.prepare_wait();
        }
        q.ledger(fake, NOT_EMPTY).unwrap().store(u32::MAX, Relaxed);
        q.ledger(fake, NOT_FULL).unwrap().store(u32::MAX, Relaxed);
        assert_eq!(q.repair_dead(), 1);
        // At most MAX_LEDGER_SLEEPERS taken out, and never more than the word counts.
        assert_eq!(not_empty.waiters(), 3000 - MAX_LEDGER_SLEEPERS);
        assert_eq!(not_full.waiters(), 0);
        assert_eq!(q.ledger(fake, NOT_EMPTY).unwrap().load(Relaxed), 0);
    }

    #[test]
    fn a_repair_out_of_time_resumes_where_it_stopped() {
        let q = RawQueue::builder().maxsize(4).build_raw().unwrap();
        q.put(b"registers this process first").unwrap();
        let fake = forge_dead(&q);
        let ring = q.ring_and_id().0;
        // A repair that is out of time after every entry: it judges this (live) process's
        // entry and stops; the next one starts at the dead entry instead of judging the live
        // one again (which, with a table of slow entries, would never reach it).
        let repair = || {
            q.inner.ring.repair_dead(
                &ring,
                &mut Verdicts::default(),
                |id| LeaseRepair {
                    queue: &q,
                    dead: id,
                },
                || true,
            )
        };
        assert_eq!(repair(), 0);
        assert!(q.ring_view().participants().any(|p| p.id.get() == fake));
        assert_eq!(repair(), 1);
        assert!(!q.ring_view().participants().any(|p| p.id.get() == fake));
    }
}
