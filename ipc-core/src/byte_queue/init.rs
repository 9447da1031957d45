//! Making and opening a [`ByteQueue`]: its shape ([`Config`]), the region's size
//! ([`ByteQueue::memory_size`]), [`ByteQueue::init`] and [`ByteQueue::attach`] over raw or
//! borrowed memory. The header is validated once, here, into the handle.
// Raw memory: the header, table and slots are laid over caller-given bytes.
#![allow(unsafe_code)]

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::slice;

use super::{slot_stride, ByteQueue, Header, SlotArray, HEADER_SIZE, MAGIC, VERSION};
use crate::error::{AttachError, InitError, LayoutError};
use crate::participant::{Entry, Table, ENTRY_SIZE};
use crate::region::REGION_ALIGN;
use crate::ring::SlotWords;
use crate::sync::Ordering::*;
use crate::word::{
    Geometry, SlotWord, State, Word, ANONYMOUS, MAX_CAPACITY, MAX_MESSAGE_LEN, MAX_PARTICIPANTS,
};

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
}
