//! [`ByteQueue`]: a bounded MPMC queue of byte messages laid out in caller-given memory.
//!
//! The layout (`LAYOUT.md`) uses offsets only, so processes that map one region at
//! different addresses share one queue.
// Raw memory: the region's header, table and slots are laid over caller-given bytes.
#![allow(unsafe_code)]

use core::marker::PhantomData;
use core::mem::{align_of, offset_of, size_of};
use core::ptr::NonNull;
use core::{fmt, slice};

use crate::error::{AttachError, InitError, LayoutError, PopError, PushError};
use crate::pad::CachePadded;
use crate::participant::{Entry, Table, ENTRY_SIZE};
use crate::payload::{Payload, SlotReader, SlotWriter};
use crate::region::REGION_ALIGN;
use crate::ring::{Claimed, Ring, SlotWords, Stop};
use crate::sync::{AtomicU32, AtomicWord, Ordering::*};
use crate::wait::WaitWord;
use crate::word::{
    Geometry, SlotWord, State, Word, ANONYMOUS, MAX_CAPACITY, MAX_MESSAGE_LEN, MAX_PARTICIPANTS,
};

#[cfg(word64)]
mod repair;
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

/// The shape of a [`ByteQueue`]: what [`ByteQueue::memory_size`] and
/// [`ByteQueue::init`] take.
///
/// # Examples
///
/// ```
/// use ipc_core::{ByteQueue, Config};
///
/// let config = Config::new(1024, 64).participants(16);
/// let bytes = ByteQueue::memory_size(config).unwrap();
/// assert_eq!(bytes, 640 + 16 * 32 + 1024 * 80);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// The most messages the queue holds.
    pub capacity: usize,
    /// The longest message, in bytes.
    pub max_message_len: usize,
    /// Entries in the participant table: how many processes may register for crash
    /// repair ([`ByteQueue::register`]). 0 (the default) = anonymous use only.
    ///
    #[doc = word64_link!("`ByteQueue::register`" => "ByteQueue::register")]
    pub participants: usize,
}

impl Config {
    /// `capacity` messages of up to `max_message_len` bytes, no participant table.
    pub const fn new(capacity: usize, max_message_len: usize) -> Self {
        Self {
            capacity,
            max_message_len,
            participants: 0,
        }
    }

    /// The same, with a table for `participants` registered processes.
    pub const fn participants(self, participants: usize) -> Self {
        Self {
            participants,
            ..self
        }
    }

    /// Where the slots start.
    const fn slots_offset(&self) -> usize {
        HEADER_SIZE + self.participants * ENTRY_SIZE
    }
}

/// What [`ByteQueue::init_raw`] may assume about the region's bytes past the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Contents {
    /// Any bytes: `init_raw` writes every participant entry and slot word, touching the
    /// first bytes of each slot. [`ByteQueue::init`] always uses this.
    Any,
    /// Every byte past the header (offset 640 on) is zero, as in a fresh anonymous or
    /// `memfd` mapping: zero entries are free and zero slot words empty, so `init_raw`
    /// writes the header only and slot pages are committed as the queue first uses them.
    ///
    /// A promise about correctness, not soundness: a region wrongly said to be zeroed
    /// behaves as one another process scribbled on (typed errors, garbled messages).
    Zeroed,
}

impl<'a> ByteQueue<'a> {
    /// Bytes a region needs for a queue shaped by `config`: a 640-byte header, 32 bytes per
    /// participant entry, then per slot 16 bytes and the longest message rounded up to 8.
    ///
    /// # Errors
    ///
    /// [`LayoutError`] if the capacity is 0 or above [`MAX_CAPACITY`], the length above
    /// [`MAX_MESSAGE_LEN`], the participants above [`MAX_PARTICIPANTS`], or the total would
    /// overflow.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ByteQueue, Config};
    ///
    /// assert_eq!(ByteQueue::memory_size(Config::new(1024, 64)), Ok(640 + 1024 * 80));
    /// let shared = Config::new(1024, 64).participants(16);
    /// assert_eq!(ByteQueue::memory_size(shared), Ok(640 + 16 * 32 + 1024 * 80));
    /// ```
    pub const fn memory_size(config: Config) -> Result<usize, LayoutError> {
        let Config {
            capacity,
            max_message_len,
            participants,
        } = config;
        if capacity == 0 {
            return Err(LayoutError::ZeroCapacity);
        }
        if capacity > MAX_CAPACITY {
            return Err(LayoutError::CapacityTooLarge { capacity });
        }
        if max_message_len > MAX_MESSAGE_LEN {
            return Err(LayoutError::MessageTooLarge { max_message_len });
        }
        if participants > MAX_PARTICIPANTS {
            return Err(LayoutError::TooManyParticipants { participants });
        }
        match capacity.checked_mul(slot_stride(max_message_len)) {
            Some(slots) => match slots.checked_add(config.slots_offset()) {
                Some(total) if total as u128 <= Word::MAX as u128 => Ok(total),
                _ => Err(LayoutError::TooLarge),
            },
            None => Err(LayoutError::TooLarge),
        }
    }

    /// Makes an empty queue shaped by `config` in `region`, which it borrows for as long as
    /// the queue is used.
    ///
    /// # Errors
    ///
    /// [`InitError`] if the layout is impossible, or the region too small or not aligned
    /// to [`REGION_ALIGN`]; the region is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ipc_core::{ByteQueue, Config, Region};
    /// let mut region = Box::new(Region::<{ 640 + 4 * 24 }>::new());
    /// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 8)).unwrap();
    /// assert_eq!(queue.capacity(), 4);
    /// ```
    pub fn init(region: &'a mut [u8], config: Config) -> Result<Self, InitError> {
        let len = region.len();
        // SAFETY: the exclusive borrow makes `region` valid, initialised and ours alone
        // for 'a.
        unsafe { Self::init_raw(NonNull::from(region).cast(), len, config, Contents::Any) }
    }

    /// [`init`](Self::init) over raw memory, e.g. a shared mapping.
    ///
    /// With [`Contents::Any`] it writes the header, every participant entry and every slot
    /// word (touching each slot's first bytes); with [`Contents::Zeroed`], for a region
    /// known to be all zero, the header only (see [`Contents`]).
    ///
    /// # Errors
    ///
    /// As [`init`](Self::init).
    ///
    /// # Safety
    ///
    /// * `region` is valid for reads and writes of `len` initialised bytes for `'a`;
    /// * for `'a`, this process accesses the region only through `ByteQueue`s (and
    ///   atomics); other processes may write it in any way: that can garble messages or
    ///   make calls fail, never more (`LAYOUT.md`, *Hostile memory*);
    /// * no other `ByteQueue` uses the region while `init_raw` runs.
    ///
    /// `contents` is not part of this contract: a region wrongly said to be zeroed is only
    /// as bad as one that another process scribbled on.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::ptr::NonNull;
    /// use ipc_core::{ByteQueue, Config, Contents, Region};
    ///
    /// let mut region = Box::new(Region::<4096>::new()); // `Region::new()` is all zero
    /// let len = region.as_mut_slice().len();
    /// let ptr = NonNull::from(region.as_mut_slice()).cast::<u8>();
    /// // SAFETY: `region` outlives the queue and is used through it only.
    /// let queue = unsafe { ByteQueue::init_raw(ptr, len, Config::new(4, 16), Contents::Zeroed) }?;
    /// queue.try_push(b"hi")?;
    /// assert_eq!(queue.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn init_raw(
        region: NonNull<u8>,
        len: usize,
        config: Config,
        contents: Contents,
    ) -> Result<Self, InitError> {
        // SAFETY: forwarded from our caller.
        let queue = unsafe { Self::write_header(region, len, config)? };
        match contents {
            // Zero entries are free, zero slot words FREE(0): nothing to write.
            Contents::Zeroed => {}
            Contents::Any => {
                for entry in queue.table.entries {
                    entry.reset();
                }
                for index in 0..config.capacity {
                    // SAFETY: index < capacity.
                    unsafe { queue.slots.word(index) }
                        .store(SlotWord::pack(0, State::Free, ANONYMOUS), Relaxed);
                }
            }
        }
        Ok(queue.finish_init())
    }

    /// Checks the arguments, then writes every header field but the magic.
    ///
    /// # Safety
    ///
    /// As [`init_raw`](Self::init_raw).
    unsafe fn write_header(
        region: NonNull<u8>,
        len: usize,
        config: Config,
    ) -> Result<Self, InitError> {
        let needed = Self::memory_size(config)?;
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
        let stride = slot_stride(config.max_message_len);
        // Relaxed: nobody may read these before the magic, stored with Release last.
        meta.magic.store(0, Relaxed);
        meta.version.store(VERSION, Relaxed);
        meta.word_bits.store(Word::BITS, Relaxed);
        meta.capacity.store(config.capacity as u32, Relaxed);
        meta.max_message_len
            .store(config.max_message_len as u32, Relaxed);
        meta.slot_stride.store(stride as u32, Relaxed);
        meta.slots_offset
            .store(config.slots_offset() as u32, Relaxed);
        meta.participants_offset.store(HEADER_SIZE as u32, Relaxed);
        meta.participants.store(config.participants as u32, Relaxed);
        meta.region_len.store(needed as Word, Relaxed);
        meta.lost_in_push.store(0, Relaxed);
        meta.lost_in_pop.store(0, Relaxed);
        header.tail.store(0, Relaxed);
        header.head.store(0, Relaxed);
        header.not_empty.reset();
        header.not_full.reset();
        // SAFETY: the table and the slots lie in the region (len ≥ needed).
        Ok(unsafe { Self::from_parts(header, region, config) })
    }

    fn finish_init(self) -> Self {
        // Release: pairs with the Acquire load in `attach_raw()`; the header and slot
        // words written before are visible to whoever sees the magic.
        self.header.meta.magic.store(MAGIC, Release);
        self
    }

    /// # Safety
    ///
    /// `region` holds `memory_size(config)` valid bytes for 'a, and `config` passed
    /// `memory_size`.
    unsafe fn from_parts(header: &'a Header, region: NonNull<u8>, config: Config) -> Self {
        let geometry = match Geometry::new(config.capacity) {
            Some(geometry) => geometry,
            None => unreachable!(),
        };
        // SAFETY: the table (participants × ENTRY_SIZE bytes at HEADER_SIZE, 8-aligned)
        // lies in the region (caller); an Entry is atomics only, valid for any bits.
        let entries = unsafe {
            slice::from_raw_parts(
                region.add(HEADER_SIZE).cast::<Entry>().as_ptr(),
                config.participants,
            )
        };
        // SAFETY: the slots (capacity × stride bytes at slots_offset) lie in the region.
        let base = unsafe { region.add(config.slots_offset()) };
        Self {
            header,
            table: Table { entries },
            slots: SlotArray {
                base,
                stride: slot_stride(config.max_message_len),
            },
            geometry,
            max_message_len: config.max_message_len,
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
    /// # use ipc_core::{AttachError, ByteQueue, Config, Region};
    /// let mut region = Box::new(Region::<4096>::new());
    /// assert_eq!(ByteQueue::attach(region.as_mut_slice()).err(), Some(AttachError::BadMagic));
    /// ByteQueue::init(region.as_mut_slice(), Config::new(4, 16)).unwrap().try_push(b"kept").unwrap();
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
    /// * for `'a`, this process accesses the region only through `ByteQueue`s (and
    ///   atomics); other processes may write it in any way: that can garble messages or
    ///   make calls fail, never more (`LAYOUT.md`, *Hostile memory*).
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
        let config = Config {
            capacity: meta.capacity.load(Relaxed) as usize,
            max_message_len: meta.max_message_len.load(Relaxed) as usize,
            participants: meta.participants.load(Relaxed) as usize,
        };
        let needed = Self::memory_size(config).map_err(AttachError::BadGeometry)?;
        if meta.slot_stride.load(Relaxed) as usize != slot_stride(config.max_message_len)
            || meta.slots_offset.load(Relaxed) as usize != config.slots_offset()
            || meta.participants_offset.load(Relaxed) as usize != HEADER_SIZE
            || meta.region_len.load(Relaxed) as u128 != needed as u128
        {
            return Err(AttachError::BadLayout);
        }
        if len < needed {
            return Err(AttachError::RegionTooSmall { needed, got: len });
        }
        // SAFETY: the region holds `needed` bytes (checked above) for 'a (caller), and
        // `config` passed `memory_size`.
        Ok(unsafe { Self::from_parts(header, region, config) })
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
