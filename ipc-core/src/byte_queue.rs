//! [`ByteQueue`]: a bounded MPMC queue of byte messages laid out in caller-given memory.
//!
//! The layout (`LAYOUT.md`) uses offsets only, so processes that map one region at
//! different addresses share one queue.
// Raw memory: the region's header, table and slots are laid over caller-given bytes.
#![allow(unsafe_code)]

use core::fmt;
use core::marker::PhantomData;
use core::mem::{align_of, offset_of, size_of};
use core::ptr::NonNull;

use crate::error::{PopError, PushError};
use crate::pad::CachePadded;
use crate::participant::{Table, ENTRY_SIZE};
use crate::payload::{Payload, SlotReader, SlotWriter};
use crate::region::REGION_ALIGN;
use crate::ring::{Claimed, Ring, SlotWords, Stop};
use crate::sync::{AtomicU32, AtomicWord, Ordering::*};
use crate::wait::WaitWord;
use crate::word::{Geometry, Word, ANONYMOUS, MAX_MESSAGE_LEN};

mod batch;
mod init;
#[cfg(word64)]
mod repair;
pub use init::{Config, Contents};
#[cfg(word64)]
pub use repair::{Registered, RepairHooks, Repaired};

/// `"ICPQ"` read as a little-endian `u32`.
const MAGIC: u32 = 0x5150_4349;
const VERSION: u32 = 1;
/// Bytes before a slot's payload: the slot word (8 bytes reserved) and the length.
const SLOT_HEADER: usize = 16;
const SLOT_ALIGN: usize = 8;
const LEN_OFFSET: usize = 8;
const HEADER_SIZE: usize = size_of::<Header>();

/// Written once by `init` (before the magic) and only read afterwards, except the loss
/// counters. Atomics throughout: another process may write the region at any time,
/// and reading it must never be a data race.
#[repr(C)]
struct Meta {
    magic: AtomicU32,
    version: AtomicU32,
    word_bits: AtomicU32,
    capacity: AtomicU32,
    max_message_len: AtomicU32,
    slot_stride: AtomicU32,
    slots_offset: AtomicU32,
    /// Offset of the participant table (HEADER_SIZE; its length may be 0).
    participants_offset: AtomicU32,
    region_len: AtomicWord,
    lost_in_push: AtomicWord,
    lost_in_pop: AtomicWord,
    /// Entries in the participant table.
    participants: AtomicU32,
}

#[repr(C)]
struct Header {
    meta: CachePadded<Meta>,
    tail: CachePadded<AtomicWord>,
    head: CachePadded<AtomicWord>,
    not_empty: CachePadded<WaitWord>,
    not_full: CachePadded<WaitWord>,
}

// The format other processes rely on (LAYOUT.md).
const _: () = {
    assert!(size_of::<Meta>() <= 128);
    assert!(HEADER_SIZE == 640);
    assert!(align_of::<Header>() == REGION_ALIGN);
    assert!(offset_of!(Header, tail) == 128);
    assert!(offset_of!(Header, head) == 256);
    assert!(offset_of!(Header, not_empty) == 384);
    assert!(offset_of!(Header, not_full) == 512);
    assert!(offset_of!(Meta, magic) == 0);
    assert!(offset_of!(Meta, region_len) == 32);
    assert!(offset_of!(Meta, participants) == 32 + 3 * size_of::<AtomicWord>());
    assert!(HEADER_SIZE % ENTRY_SIZE == 0 && ENTRY_SIZE % SLOT_ALIGN == 0);
    assert!(size_of::<WaitWord>() == 8);
    assert!(size_of::<AtomicWord>() <= LEN_OFFSET);
    assert!(align_of::<AtomicWord>() <= SLOT_ALIGN);
    assert!(HEADER_SIZE % SLOT_ALIGN == 0);
    // Payloads are copied in whole `Word`s (`payload.rs`): each starts Word-aligned, and
    // its room in the slot (stride - SLOT_HEADER) is a multiple of the Word size, so the
    // word holding a message's last byte lies in its slot.
    assert!(SLOT_HEADER % SLOT_ALIGN == 0);
    assert!(SLOT_ALIGN % size_of::<AtomicWord>() == 0);
    assert!(slot_stride(0) == SLOT_HEADER);
    assert!(slot_stride(1) - SLOT_HEADER == SLOT_ALIGN);
    assert!(slot_stride(MAX_MESSAGE_LEN) - SLOT_HEADER == MAX_MESSAGE_LEN);
};
static_assertions::assert_eq_size!(AtomicWord, Word);

/// A `Word` as `u64` (a no-op where `Word` is `u64`).
#[allow(clippy::unnecessary_cast)]
const fn widen(word: Word) -> u64 {
    word as u64
}

const fn slot_stride(max_message_len: usize) -> usize {
    (SLOT_HEADER + max_message_len).next_multiple_of(SLOT_ALIGN)
}

/// The slots of a validated region.
#[derive(Clone, Copy)]
struct SlotArray {
    /// First slot; `capacity * stride` bytes from here lie inside the region.
    base: NonNull<u8>,
    stride: usize,
}

impl SlotArray {
    /// # Safety
    ///
    /// `index` < the queue's capacity.
    #[inline(always)]
    unsafe fn slot(&self, index: usize) -> *mut u8 {
        // SAFETY: index < capacity and `capacity * stride` bytes from `base` lie in the
        // region (validated by init/attach), so the offset stays inside it.
        unsafe { self.base.as_ptr().add(index * self.stride) }
    }

    /// # Safety
    ///
    /// `index` < the queue's capacity.
    #[inline(always)]
    unsafe fn len_field(&self, index: usize) -> &AtomicU32 {
        // SAFETY: the slot lies in the region (caller's index < capacity); LEN_OFFSET is
        // 4-aligned within an 8-aligned slot, and any bits are a valid AtomicU32.
        unsafe { &*self.slot(index).add(LEN_OFFSET).cast::<AtomicU32>() }
    }

    /// The first `len` payload bytes of slot `index`.
    ///
    /// # Safety
    ///
    /// `index` < the queue's capacity and `len` ≤ its `max_message_len`.
    #[inline(always)]
    unsafe fn payload(&self, index: usize, len: usize) -> Payload {
        // SAFETY: the slot lies in the region (caller's index < capacity); its payload
        // starts SLOT_HEADER (a multiple of 8) bytes into an 8-aligned slot and has
        // `stride - SLOT_HEADER` bytes of room, a multiple of 8 that is ≥ max_message_len
        // ≥ len, so `len` rounded up to a Word lies in the slot (asserted above).
        unsafe {
            let start = NonNull::new_unchecked(self.slot(index).add(SLOT_HEADER));
            Payload::new(start, len)
        }
    }
}

impl SlotWords for SlotArray {
    #[inline(always)]
    unsafe fn word(&self, index: usize) -> &AtomicWord {
        // SAFETY: the slot lies in the region (caller's index < capacity); slots are
        // 8-aligned (REGION_ALIGN, HEADER_SIZE and the stride are multiples of 8), and
        // any bits are a valid atomic integer.
        unsafe { &*self.slot(index).cast::<AtomicWord>() }
    }
}

/// A bounded multi-producer multi-consumer queue of byte messages in a memory region
/// the caller provides: a `static` buffer, a `Vec`, or memory shared between processes.
///
/// Each message is up to `max_message_len` bytes; the queue holds up to `capacity`
/// of them. Push and pop are lock-free (one compare-and-swap each when uncontended)
/// and never call the OS; see [`WaitWord`] for sleeping on it.
///
/// A `ByteQueue` is an anonymous view of its region, cheap to copy and `Send + Sync`: its
/// claims record no owner. A process that wants its claims repaired if it dies registers
/// ([`register`]) and claims through the one [`Registered`] handle it gets.
///
#[doc = word64_link!("`register`" => "Self::register")]
#[doc = word64_link!("`Registered`" => "Registered")]
///
/// # Memory other processes write
///
/// A region attached with [`attach_raw`](Self::attach_raw) may be written by processes
/// that break the protocol. Whatever they write, this API answers with a typed error
/// ([`PushError::Corrupt`], [`PopError::Corrupt`], or `Full`/`Empty`) or garbled message
/// bytes; payloads are only ever copied with atomic word accesses ([`SlotReader`],
/// [`SlotWriter`]), never lent out as `&[u8]`, and every loop is capped (`LAYOUT.md`,
/// *Hostile memory*).
///
/// # What a stalled or killed participant does to the others
///
/// A producer suspended between its claim and its publish does not stop other
/// producers; consumers see "empty" at its message until it publishes (FIFO order
/// puts that message next), and producers see "full" one lap later. A consumer
/// suspended between claim and release stops nobody but the producer that comes
/// round to its slot one lap later. A participant *killed* in those windows leaves its
/// slot claimed; each claim records its owner (see `LAYOUT.md`) so that the crash
/// repair of the host runtime can free it, counting the loss in [`QueueStats`].
///
/// # Examples
///
/// ```
/// use ipc_core::{ByteQueue, Config, PopError, Region};
///
/// static mut MEMORY: Region<4096> = Region::new();
/// // SAFETY: MEMORY is used by this example only, once.
/// let region = unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) };
/// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(8, 64))?;
///
/// queue.try_push(b"hello")?;
/// let mut buf = [0u8; 64];
/// let len = queue.try_pop(&mut buf)?;
/// assert_eq!(&buf[..len], b"hello");
/// assert_eq!(queue.try_pop(&mut buf), Err(PopError::Empty));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct ByteQueue<'a> {
    header: &'a Header,
    table: Table<'a>,
    slots: SlotArray,
    geometry: Geometry,
    max_message_len: usize,
    _region: PhantomData<&'a [AtomicU32]>,
}

// SAFETY: all shared state, payload bytes included, is reached through atomics only; the
// view itself holds no thread-bound state.
unsafe impl Send for ByteQueue<'_> {}
// SAFETY: as above.
unsafe impl Sync for ByteQueue<'_> {}

/// Loss counters of a [`ByteQueue`], named after its operations, push and pop (a host
/// reports them under its own verbs: host-runtime's `lost_in_put` and `lost_in_get`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Pushes that claimed a slot and never published: the fill closure of
    /// [`ByteQueue::try_push_with`] panicked, or (with crash repair) the producer died.
    pub lost_in_push: u64,
    /// Messages claimed by a pop that did not finish: the closure of
    /// [`ByteQueue::try_pop_with`] panicked, or (with crash repair) the consumer died.
    pub lost_in_pop: u64,
}

impl<'a> ByteQueue<'a> {
    #[inline(always)]
    fn ring(&self) -> Ring<'_, SlotArray> {
        Ring {
            head: &self.header.head,
            tail: &self.header.tail,
            slots: &self.slots,
            geometry: self.geometry,
        }
    }

    /// Appends a copy of `message`.
    ///
    /// # Errors
    ///
    /// [`PushError::TooLarge`] if it is longer than [`max_message_len`](Self::max_message_len),
    /// [`PushError::Full`], or [`PushError::Corrupt`]. The queue is unchanged then.
    #[inline]
    pub fn try_push(&self, message: &[u8]) -> Result<(), PushError> {
        self.push_as(ANONYMOUS, message)
    }

    /// Appends a message of `len` bytes that `fill` writes in place, through a
    /// [`SlotWriter`] over the claimed slot (no copy through a buffer of yours). The slot
    /// holds stale bytes; `fill` should write all `len` of them.
    ///
    /// If `fill` panics, the slot is given up: consumers skip it, and the loss is
    /// counted in [`QueueStats::lost_in_push`].
    ///
    /// # Errors
    ///
    /// As [`try_push`](Self::try_push); `fill` is not called then.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ipc_core::{ByteQueue, Config, Region};
    /// # let mut region = Box::new(Region::<4096>::new());
    /// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16))?;
    /// queue.try_push_with(4, |slot| {
    ///     slot.write(&7u32.to_le_bytes());
    /// })?;
    /// let n = queue.try_pop_with(|message| {
    ///     let mut bytes = [0; 4];
    ///     message.read(&mut bytes);
    ///     u32::from_le_bytes(bytes)
    /// })?;
    /// assert_eq!(n, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_push_with(
        &self,
        len: usize,
        fill: impl FnOnce(&mut SlotWriter<'_>),
    ) -> Result<(), PushError> {
        self.push_with_as(ANONYMOUS, len, fill)
    }

    /// [`try_push`](Self::try_push), then tells whether a consumer waits: `Ok(true)` means
    /// [`not_empty`](Self::not_empty)'s `seq` was bumped and the host must wake its sleepers.
    /// Saves the fence of [`WaitWord::notify`] (see [`WaitWord::notify_marked`]); correct
    /// only if every consumer that sleeps on `not_empty` calls
    /// [`mark_empty_wait`](Self::mark_empty_wait) first.
    ///
    /// # Errors
    ///
    /// As [`try_push`](Self::try_push).
    ///
    /// # Examples
    ///
    /// ```
    /// # use ipc_core::{ByteQueue, Config, Region};
    /// # let mut region = Box::new(Region::<4096>::new());
    /// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16))?;
    /// let seen = queue.not_empty().prepare_wait();
    /// assert!(queue.try_pop(&mut [0; 16]).is_err() && queue.mark_empty_wait(), "may sleep");
    /// assert_eq!(queue.try_push_notify(b"wake up"), Ok(true), "a consumer waits");
    /// queue.not_empty().finish_wait();
    /// assert_eq!(queue.try_push_notify(b"again"), Ok(false));
    /// # let _ = seen;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_push_notify(&self, message: &[u8]) -> Result<bool, PushError> {
        self.push_as(ANONYMOUS, message)?;
        Ok(self.header.not_empty.notify_marked())
    }

    /// For a consumer about to sleep on [`not_empty`](Self::not_empty), after
    /// [`prepare_wait`](WaitWord::prepare_wait) and a pop that found the queue empty: marks
    /// the head slot so that the push that fills it sees this waiter (see
    /// [`try_push_notify`](Self::try_push_notify)). Returns whether the caller may sleep
    /// until woken; `false` when a push may have missed the registration (one is being
    /// written at the head, or the head moved on): then look again, or sleep with a short
    /// timeout.
    pub fn mark_empty_wait(&self) -> bool {
        self.ring().mark_empty_wait()
    }

    /// Removes the front message into `buf` and returns its length.
    ///
    /// # Errors
    ///
    /// [`PopError::Empty`], [`PopError::BufferTooSmall`] (the message stays at the
    /// front), or [`PopError::Corrupt`].
    #[inline]
    pub fn try_pop(&self, buf: &mut [u8]) -> Result<usize, PopError> {
        self.pop_as(ANONYMOUS, buf)
    }

    /// Removes the front message, handing `read` a [`SlotReader`] over it in the claimed
    /// slot (copy out what you need), and returns what `read` returns.
    ///
    /// If `read` panics, the message is dropped and counted in [`QueueStats::lost_in_pop`].
    ///
    /// # Errors
    ///
    /// [`PopError::Empty`] or [`PopError::Corrupt`]; `read` is not called then.
    #[inline]
    pub fn try_pop_with<R>(&self, read: impl FnOnce(&SlotReader<'_>) -> R) -> Result<R, PopError> {
        self.pop_with_as(ANONYMOUS, usize::MAX, read)
    }

    /// [`try_push`](Self::try_push) with claims recorded as `owner`'s.
    #[inline(always)]
    fn push_as(&self, owner: Word, message: &[u8]) -> Result<(), PushError> {
        self.push_inner(owner, message.len(), |slot| {
            slot.payload().write_prefix(message)
        })
    }

    /// [`try_push_with`](Self::try_push_with) with claims recorded as `owner`'s.
    #[inline(always)]
    fn push_with_as(
        &self,
        owner: Word,
        len: usize,
        fill: impl FnOnce(&mut SlotWriter<'_>),
    ) -> Result<(), PushError> {
        self.push_inner(owner, len, fill)
    }

    #[inline(always)]
    fn push_inner(
        &self,
        owner: Word,
        len: usize,
        fill: impl FnOnce(&mut SlotWriter<'_>),
    ) -> Result<(), PushError> {
        let max = self.max_message_len;
        if len > max {
            return Err(PushError::TooLarge { len, max });
        }
        let ring = self.ring();
        let claimed = ring.claim_push(owner).map_err(|stop| match stop {
            Stop::Blocked => PushError::Full,
            Stop::Corrupt | Stop::Refused(()) => PushError::Corrupt,
        })?;
        let abandon = Abandon {
            queue: self,
            claimed,
            pushing: true,
        };
        // SAFETY: claimed.index < capacity (checked by the claim).
        unsafe { self.slots.len_field(claimed.index) }.store(len as u32, Relaxed);
        // SAFETY: claimed.index < capacity (checked by the claim); len ≤ max_message_len
        // (checked above). The claim makes this thread the slot's only writer until
        // `publish` (among processes that keep the protocol; others can only garble it).
        fill(&mut SlotWriter::new(unsafe {
            self.slots.payload(claimed.index, len)
        }));
        crate::crash::crash_point!("push.filled");
        core::mem::forget(abandon);
        ring.publish(claimed);
        Ok(())
    }

    /// [`try_pop`](Self::try_pop) with claims recorded as `owner`'s.
    #[inline(always)]
    fn pop_as(&self, owner: Word, buf: &mut [u8]) -> Result<usize, PopError> {
        self.pop_inner(owner, buf.len(), |message| {
            let len = message.len();
            message.payload().read_prefix(&mut buf[..len]);
            len
        })
    }

    /// [`try_pop_with`](Self::try_pop_with) with claims recorded as `owner`'s.
    #[inline(always)]
    fn pop_with_as<R>(
        &self,
        owner: Word,
        room: usize,
        read: impl FnOnce(&SlotReader<'_>) -> R,
    ) -> Result<R, PopError> {
        self.pop_inner(owner, room, read)
    }

    #[inline(always)]
    fn pop_inner<R>(
        &self,
        owner: Word,
        room: usize,
        read: impl FnOnce(&SlotReader<'_>) -> R,
    ) -> Result<R, PopError> {
        let max = self.max_message_len;
        let slots = self.slots;
        let mut len = 0;
        let fits = |index: usize| {
            // SAFETY: the ring passes checked indices (< capacity).
            len = unsafe { slots.len_field(index) }.load(Relaxed) as usize;
            if len > max {
                Err(PopError::Corrupt)
            } else if len > room {
                Err(PopError::BufferTooSmall { needed: len })
            } else {
                Ok(())
            }
        };
        let ring = self.ring();
        let claimed = ring.claim_pop(owner, fits).map_err(|stop| match stop {
            Stop::Blocked => PopError::Empty,
            Stop::Corrupt => PopError::Corrupt,
            Stop::Refused(e) => e,
        })?;
        // `len` is the length read just before the winning claim CAS: the producer
        // stored it before publishing the FULL word we claimed, and nobody writes it
        // again before our release. A process breaking that rule can at worst make us
        // hand out stale or garbled bytes: `len` was checked, so we stay inside the slot.
        let release = Abandon {
            queue: self,
            claimed,
            pushing: false,
        };
        // SAFETY: claimed.index < capacity (checked by the claim); len ≤ max_message_len
        // (checked by `fits`). The claim saw FULL (Acquire: the producer's writes are
        // visible).
        let result = read(&SlotReader::new(unsafe {
            slots.payload(claimed.index, len)
        }));
        crate::crash::crash_point!("pop.read");
        core::mem::forget(release);
        ring.release(claimed);
        Ok(result)
    }

    /// The number of positions taken between the consumers and the producers: messages
    /// in the queue, counting pushes claimed but not yet published, and abandoned pushes
    /// until a consumer passes them (they hold their slot till then). A snapshot; exact
    /// when the queue is quiescent.
    pub fn len(&self) -> usize {
        self.ring().len()
    }

    /// Whether [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether [`len`](Self::len) is the capacity.
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// The most messages the queue holds.
    pub fn capacity(&self) -> usize {
        self.geometry.capacity()
    }

    /// The longest message the queue takes, in bytes.
    pub fn max_message_len(&self) -> usize {
        self.max_message_len
    }

    /// Loss counters.
    pub fn stats(&self) -> QueueStats {
        let meta = &self.header.meta;
        QueueStats {
            lost_in_push: widen(meta.lost_in_push.load(Relaxed)),
            lost_in_pop: widen(meta.lost_in_pop.load(Relaxed)),
        }
    }

    /// Changes after each push if someone waits for the queue to become non-empty.
    pub fn not_empty(&self) -> &'a WaitWord {
        &self.header.not_empty
    }

    /// Changes after each pop if someone waits for the queue to become non-full.
    pub fn not_full(&self) -> &'a WaitWord {
        &self.header.not_full
    }
}

impl fmt::Debug for ByteQueue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteQueue")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("max_message_len", &self.max_message_len)
            .finish()
    }
}

/// Gives up a claimed slot if dropped (a panic in a user closure) and counts the loss:
/// a push's position is marked abandoned, a pop's slot goes to the next lap.
struct Abandon<'q, 'a> {
    queue: &'q ByteQueue<'a>,
    claimed: Claimed,
    pushing: bool,
}

impl Drop for Abandon<'_, '_> {
    fn drop(&mut self) {
        let (ring, meta) = (self.queue.ring(), &self.queue.header.meta);
        if self.pushing {
            ring.abandon(self.claimed);
            meta.lost_in_push.fetch_add(1, Relaxed);
        } else {
            ring.release(self.claimed);
            meta.lost_in_pop.fetch_add(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests;
