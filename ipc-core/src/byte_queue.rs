//! [`ByteQueue`]: a bounded MPMC queue of byte messages laid out in caller-given memory.
//!
//! The layout (`LAYOUT.md`) uses offsets only, so processes that map one region at
//! different addresses share one queue.

use core::marker::PhantomData;
use core::mem::{align_of, offset_of, size_of};
use core::ptr::NonNull;
use core::{fmt, slice};

use crate::error::{AttachError, InitError, LayoutError, PopError, PushError};
use crate::pad::CachePadded;
use crate::region::REGION_ALIGN;
use crate::ring::{Claimed, Ring, SlotWords, Stop};
use crate::sync::{AtomicU32, AtomicWord, Ordering::*};
use crate::wait::WaitWord;
use crate::word::{Geometry, SlotWord, State, Word, ANONYMOUS, MAX_CAPACITY, MAX_MESSAGE_LEN};

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
    /// Offset of the participant table of the crash-safety work; 0 = none (version 1).
    owner_table: AtomicU32,
    region_len: AtomicWord,
    lost_in_push: AtomicWord,
    lost_in_pop: AtomicWord,
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
    assert!(size_of::<WaitWord>() == 8);
    assert!(size_of::<AtomicWord>() <= LEN_OFFSET);
    assert!(align_of::<AtomicWord>() <= SLOT_ALIGN);
    assert!(HEADER_SIZE % SLOT_ALIGN == 0);
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

    /// # Safety
    ///
    /// `index` < the queue's capacity.
    #[inline(always)]
    unsafe fn payload(&self, index: usize) -> *mut u8 {
        // SAFETY: the slot lies in the region (caller's index < capacity) and its
        // stride covers SLOT_HEADER + max_message_len bytes.
        unsafe { self.slot(index).add(SLOT_HEADER) }
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
/// A `ByteQueue` is a view of its region, cheap to copy and `Send + Sync`.
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
/// use ipc_core::{ByteQueue, PopError, Region};
///
/// static mut MEMORY: Region<4096> = Region::new();
/// // SAFETY: MEMORY is used by this example only, once.
/// let region = unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) };
/// let queue = ByteQueue::init(region.as_mut_slice(), 8, 64)?;
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
    slots: SlotArray,
    geometry: Geometry,
    max_message_len: usize,
    _region: PhantomData<&'a [AtomicU32]>,
}

// SAFETY: all shared state is reached through atomics, or (payload bytes) by the one
// thread that holds the slot's claim; the view itself holds no thread-bound state.
unsafe impl Send for ByteQueue<'_> {}
// SAFETY: as above.
unsafe impl Sync for ByteQueue<'_> {}

/// Loss counters of a [`ByteQueue`].
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
    /// Bytes a region needs for `capacity` messages of up to `max_message_len` bytes.
    ///
    /// # Errors
    ///
    /// [`LayoutError`] if the capacity is 0 or above [`MAX_CAPACITY`], the length above
    /// [`MAX_MESSAGE_LEN`], or the total would overflow.
    ///
    /// # Examples
    ///
    /// ```
    /// let bytes = ipc_core::ByteQueue::memory_size(1024, 64).unwrap();
    /// assert_eq!(bytes, 640 + 1024 * 80);
    /// ```
    pub const fn memory_size(
        capacity: usize,
        max_message_len: usize,
    ) -> Result<usize, LayoutError> {
        if capacity == 0 {
            return Err(LayoutError::ZeroCapacity);
        }
        if capacity > MAX_CAPACITY {
            return Err(LayoutError::CapacityTooLarge { capacity });
        }
        if max_message_len > MAX_MESSAGE_LEN {
            return Err(LayoutError::MessageTooLarge { max_message_len });
        }
        match capacity.checked_mul(slot_stride(max_message_len)) {
            Some(slots) => match slots.checked_add(HEADER_SIZE) {
                Some(total) if total as u128 <= Word::MAX as u128 => Ok(total),
                _ => Err(LayoutError::TooLarge),
            },
            None => Err(LayoutError::TooLarge),
        }
    }

    /// Makes an empty queue in `region`, which it borrows for as long as the queue is used.
    ///
    /// # Errors
    ///
    /// [`InitError`] if the layout is impossible, or the region too small or not aligned
    /// to [`REGION_ALIGN`]; the region is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ipc_core::{ByteQueue, Region};
    /// let mut region = Box::new(Region::<{ 640 + 4 * 24 }>::new());
    /// let queue = ByteQueue::init(region.as_mut_slice(), 4, 8).unwrap();
    /// assert_eq!(queue.capacity(), 4);
    /// ```
    pub fn init(
        region: &'a mut [u8],
        capacity: usize,
        max_message_len: usize,
    ) -> Result<Self, InitError> {
        let len = region.len();
        // SAFETY: the exclusive borrow makes `region` valid, initialised and ours alone
        // for 'a.
        unsafe { Self::init_raw(NonNull::from(region).cast(), len, capacity, max_message_len) }
    }

    /// [`init`](Self::init) over raw memory, e.g. a shared mapping.
    ///
    /// Writes the header and every slot word (touching each slot's first bytes); see
    /// [`init_zeroed`](Self::init_zeroed) to touch the header only.
    ///
    /// # Errors
    ///
    /// As [`init`](Self::init).
    ///
    /// # Safety
    ///
    /// * `region` is valid for reads and writes of `len` initialised bytes for `'a`;
    /// * for `'a`, the region is accessed only through `ByteQueue`s (in any process);
    /// * no other `ByteQueue` uses the region while `init_raw` runs.
    pub unsafe fn init_raw(
        region: NonNull<u8>,
        len: usize,
        capacity: usize,
        max_message_len: usize,
    ) -> Result<Self, InitError> {
        // SAFETY: forwarded from our caller.
        let queue = unsafe { Self::write_header(region, len, capacity, max_message_len)? };
        for index in 0..capacity {
            // SAFETY: index < capacity.
            unsafe { queue.slots.word(index) }
                .store(SlotWord::pack(0, State::Free, ANONYMOUS), Relaxed);
        }
        Ok(queue.finish_init())
    }

    /// [`init_raw`](Self::init_raw) for a region whose bytes are all zero, such as a
    /// fresh anonymous or `memfd` mapping: writes the header only, so slot pages are
    /// committed as the queue first uses them.
    ///
    /// # Errors
    ///
    /// As [`init`](Self::init).
    ///
    /// # Safety
    ///
    /// As [`init_raw`](Self::init_raw), and every byte of the region past the header
    /// (offset 640 on) is zero.
    pub unsafe fn init_zeroed(
        region: NonNull<u8>,
        len: usize,
        capacity: usize,
        max_message_len: usize,
    ) -> Result<Self, InitError> {
        // SAFETY: forwarded from our caller; a zero slot word is FREE(0).
        Ok(unsafe { Self::write_header(region, len, capacity, max_message_len)? }.finish_init())
    }

    /// Checks the arguments, then writes every header field but the magic.
    ///
    /// # Safety
    ///
    /// As [`init_raw`](Self::init_raw).
    unsafe fn write_header(
        region: NonNull<u8>,
        len: usize,
        capacity: usize,
        max_message_len: usize,
    ) -> Result<Self, InitError> {
        let needed = Self::memory_size(capacity, max_message_len)?;
        if region.as_ptr() as usize % REGION_ALIGN != 0 {
            return Err(InitError::Misaligned);
        }
        if len < needed {
            return Err(InitError::RegionTooSmall { needed, got: len });
        }
        // SAFETY: aligned and long enough (checked above), valid for 'a (caller); a
        // Header is atomics and padding only, valid for any bits.
        let header = unsafe { region.cast::<Header>().as_ref() };
        let meta = &header.meta;
        let stride = slot_stride(max_message_len);
        // Relaxed: nobody may read these before the magic, stored with Release last.
        meta.magic.store(0, Relaxed);
        meta.version.store(VERSION, Relaxed);
        meta.word_bits.store(Word::BITS, Relaxed);
        meta.capacity.store(capacity as u32, Relaxed);
        meta.max_message_len.store(max_message_len as u32, Relaxed);
        meta.slot_stride.store(stride as u32, Relaxed);
        meta.slots_offset.store(HEADER_SIZE as u32, Relaxed);
        meta.owner_table.store(0, Relaxed);
        meta.region_len.store(needed as Word, Relaxed);
        meta.lost_in_push.store(0, Relaxed);
        meta.lost_in_pop.store(0, Relaxed);
        header.tail.store(0, Relaxed);
        header.head.store(0, Relaxed);
        header.not_empty.reset();
        header.not_full.reset();
        // SAFETY: `capacity * stride` bytes from HEADER_SIZE lie in the region (len ≥ needed).
        let base = unsafe { region.add(HEADER_SIZE) };
        Ok(Self::from_parts(
            header,
            SlotArray { base, stride },
            capacity,
            max_message_len,
        ))
    }

    fn finish_init(self) -> Self {
        // Release: pairs with the Acquire load in `attach_raw()`; the header and slot
        // words written before are visible to whoever sees the magic.
        self.header.meta.magic.store(MAGIC, Release);
        self
    }

    fn from_parts(
        header: &'a Header,
        slots: SlotArray,
        capacity: usize,
        max_message_len: usize,
    ) -> Self {
        let geometry = match Geometry::new(capacity) {
            Some(geometry) => geometry,
            None => unreachable!(),
        };
        Self {
            header,
            slots,
            geometry,
            max_message_len,
            _region: PhantomData,
        }
    }

    /// Opens the queue that [`init`](Self::init) made in `region`.
    ///
    /// # Errors
    ///
    /// [`AttachError`] if the region holds no queue, a queue of another format, or a
    /// header that contradicts itself or the region's length. Nothing is written then.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ipc_core::{AttachError, ByteQueue, Region};
    /// let mut region = Box::new(Region::<4096>::new());
    /// assert_eq!(ByteQueue::attach(region.as_mut_slice()).err(), Some(AttachError::BadMagic));
    /// ByteQueue::init(region.as_mut_slice(), 4, 16).unwrap().try_push(b"kept").unwrap();
    ///
    /// let queue = ByteQueue::attach(region.as_mut_slice()).unwrap();
    /// assert_eq!(queue.len(), 1);
    /// ```
    pub fn attach(region: &'a mut [u8]) -> Result<Self, AttachError> {
        let len = region.len();
        // SAFETY: the exclusive borrow makes `region` valid, initialised and ours alone for 'a.
        unsafe { Self::attach_raw(NonNull::from(region).cast(), len) }
    }

    /// [`attach`](Self::attach) over raw memory, e.g. a mapping shared with other processes.
    ///
    /// The header is validated once, into this handle; later changes to it by others
    /// are never read back (but slot words and counters still may be corrupted, and are
    /// checked on every use).
    ///
    /// # Errors
    ///
    /// As [`attach`](Self::attach).
    ///
    /// # Safety
    ///
    /// * `region` is valid for reads and writes of `len` bytes for `'a`;
    /// * for `'a`, the region is accessed only through `ByteQueue`s (in any process).
    pub unsafe fn attach_raw(region: NonNull<u8>, len: usize) -> Result<Self, AttachError> {
        if region.as_ptr() as usize % REGION_ALIGN != 0 {
            return Err(AttachError::Misaligned);
        }
        if len < HEADER_SIZE {
            return Err(AttachError::RegionTooSmall {
                needed: HEADER_SIZE,
                got: len,
            });
        }
        // SAFETY: aligned and long enough (checked above), valid for 'a (caller); a
        // Header is atomics and padding only, valid for any bits.
        let header = unsafe { region.cast::<Header>().as_ref() };
        let meta = &header.meta;
        // Acquire: pairs with the Release store in `finish_init()`.
        if meta.magic.load(Acquire) != MAGIC {
            return Err(AttachError::BadMagic);
        }
        let version = meta.version.load(Relaxed);
        if version != VERSION {
            return Err(AttachError::UnsupportedVersion { found: version });
        }
        let word_bits = meta.word_bits.load(Relaxed);
        if word_bits != Word::BITS {
            return Err(AttachError::WordSizeMismatch { found: word_bits });
        }
        let capacity = meta.capacity.load(Relaxed) as usize;
        let max_message_len = meta.max_message_len.load(Relaxed) as usize;
        let needed =
            Self::memory_size(capacity, max_message_len).map_err(AttachError::BadGeometry)?;
        let stride = slot_stride(max_message_len);
        if meta.slot_stride.load(Relaxed) as usize != stride
            || meta.slots_offset.load(Relaxed) as usize != HEADER_SIZE
            || meta.owner_table.load(Relaxed) != 0
            || meta.region_len.load(Relaxed) as u128 != needed as u128
        {
            return Err(AttachError::BadLayout);
        }
        if len < needed {
            return Err(AttachError::RegionTooSmall { needed, got: len });
        }
        // SAFETY: `capacity * stride` bytes from HEADER_SIZE lie in the region (len ≥ needed).
        let base = unsafe { region.add(HEADER_SIZE) };
        Ok(Self::from_parts(
            header,
            SlotArray { base, stride },
            capacity,
            max_message_len,
        ))
    }

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
        self.try_push_with(message.len(), |slot| copy_bytes(slot, message))
    }

    /// Appends a message of `len` bytes that `fill` writes in place, in the queue's
    /// memory (zero-copy). The slice handed to `fill` holds stale bytes; `fill` should
    /// overwrite all of it.
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
    /// # use ipc_core::{ByteQueue, Region};
    /// # let mut region = Box::new(Region::<4096>::new());
    /// let queue = ByteQueue::init(region.as_mut_slice(), 4, 16)?;
    /// queue.try_push_with(4, |slot| slot.copy_from_slice(&7u32.to_le_bytes()))?;
    /// let n = queue.try_pop_with(|msg| u32::from_le_bytes(msg.try_into().unwrap()))?;
    /// assert_eq!(n, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_push_with(&self, len: usize, fill: impl FnOnce(&mut [u8])) -> Result<(), PushError> {
        let max = self.max_message_len;
        if len > max {
            return Err(PushError::TooLarge { len, max });
        }
        let ring = self.ring();
        let claimed = ring.claim_push(ANONYMOUS).map_err(|stop| match stop {
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
        // SAFETY: the claim makes this thread the slot's only user until `publish`; the
        // payload has room for max_message_len ≥ len bytes inside the region.
        let payload = unsafe { slice::from_raw_parts_mut(self.slots.payload(claimed.index), len) };
        fill(payload);
        core::mem::forget(abandon);
        ring.publish(claimed);
        Ok(())
    }

    /// Removes the front message into `buf` and returns its length.
    ///
    /// # Errors
    ///
    /// [`PopError::Empty`], [`PopError::BufferTooSmall`] (the message stays at the
    /// front), or [`PopError::Corrupt`].
    #[inline]
    pub fn try_pop(&self, buf: &mut [u8]) -> Result<usize, PopError> {
        self.pop_inner(buf.len(), |message| {
            copy_bytes(&mut buf[..message.len()], message);
            message.len()
        })
    }

    /// Removes the front message, handing `read` a view of it in the queue's memory
    /// (zero-copy), and returns what `read` returns.
    ///
    /// If `read` panics, the message is dropped and counted in [`QueueStats::lost_in_pop`].
    ///
    /// # Errors
    ///
    /// [`PopError::Empty`] or [`PopError::Corrupt`]; `read` is not called then.
    #[inline]
    pub fn try_pop_with<R>(&self, read: impl FnOnce(&[u8]) -> R) -> Result<R, PopError> {
        self.pop_inner(usize::MAX, read)
    }

    #[inline(always)]
    fn pop_inner<R>(&self, room: usize, read: impl FnOnce(&[u8]) -> R) -> Result<R, PopError> {
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
        let claimed = ring.claim_pop(ANONYMOUS, fits).map_err(|stop| match stop {
            Stop::Blocked => PopError::Empty,
            Stop::Corrupt => PopError::Corrupt,
            Stop::Refused(e) => e,
        })?;
        // `len` is the length read just before the winning claim CAS: the producer
        // stored it before publishing the FULL word we claimed, and nobody writes it
        // again before our release. A process breaking that rule can at worst make us
        // hand out stale bytes: `len` was checked, so we stay inside the slot.
        let release = Abandon {
            queue: self,
            claimed,
            pushing: false,
        };
        // SAFETY: the claim saw FULL (Acquire: the producer's writes are visible) and
        // makes this thread the slot's only user until `release`; len ≤ max_message_len
        // (checked by `fits`), so the bytes lie in the slot.
        let message = unsafe { slice::from_raw_parts(slots.payload(claimed.index), len) };
        let result = read(message);
        core::mem::forget(release);
        ring.release(claimed);
        Ok(result)
    }

    /// The number of messages in the queue, counting claimed ones not yet published or
    /// released (a snapshot).
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

/// `dst.copy_from_slice(src)`, with messages up to 64 bytes copied inline by a few
/// overlapping loads and stores instead of a call to `memcpy` (a quarter of the cost of
/// a push+pop of a 64-byte message).
#[inline(always)]
fn copy_bytes(dst: &mut [u8], src: &[u8]) {
    let len = src.len();
    assert_eq!(dst.len(), len);
    let (d, s) = (dst.as_mut_ptr(), src.as_ptr());
    // SAFETY: (all branches) `src` and `dst` are distinct slices of `len` bytes (a `&mut`
    // cannot alias a `&`); each access below lies in `0..len` by its branch's bounds,
    // and unaligned reads and writes of plain integers are allowed.
    unsafe {
        if len > 64 {
            core::ptr::copy_nonoverlapping(s, d, len);
        } else if len > 32 {
            let a = s.cast::<[u128; 2]>().read_unaligned();
            let b = s.add(len - 32).cast::<[u128; 2]>().read_unaligned();
            d.cast::<[u128; 2]>().write_unaligned(a);
            d.add(len - 32).cast::<[u128; 2]>().write_unaligned(b);
        } else if len > 16 {
            let a = s.cast::<u128>().read_unaligned();
            let b = s.add(len - 16).cast::<u128>().read_unaligned();
            d.cast::<u128>().write_unaligned(a);
            d.add(len - 16).cast::<u128>().write_unaligned(b);
        } else if len >= 8 {
            let a = s.cast::<u64>().read_unaligned();
            let b = s.add(len - 8).cast::<u64>().read_unaligned();
            d.cast::<u64>().write_unaligned(a);
            d.add(len - 8).cast::<u64>().write_unaligned(b);
        } else {
            for i in 0..len {
                d.add(i).write(s.add(i).read());
            }
        }
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
