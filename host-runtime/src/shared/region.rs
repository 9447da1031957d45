//! [`Mapping`]: an owned shared mapping, cut by [`split`] into disjoint, typed views that safe
//! code can use: [`SharedQueue`] (an `ipc_core::ByteQueue`) and [`SharedBytes`] (bytes copied in
//! and out with atomic accesses).
//!
//! This is where the safety argument for memory shared between processes lives:
//!
//! - **Lifetime.** Every view holds an `Arc<Mapping>`; the mapping is unmapped when the last
//!   view and the last `Arc` in this process are gone. Other processes have their own mappings.
//! - **Disjointness.** [`Mapping::claim`] refuses a part that overlaps one claimed before, so a
//!   byte of the mapping is reached through one kind of view only: the memory of a `ByteQueue` only through `ByteQueue`s (its
//!   contract), the rest only through [`SharedBytes`].
//! - **No data races in this process.** [`SharedBytes`] reads and writes with relaxed atomic
//!   loads and stores (8 bytes at a time where aligned), never with plain accesses, so two
//!   threads that touch the same bytes at once see stale or torn bytes, never undefined
//!   behaviour. What a broken or hostile *other* process writes is just bytes to us: every
//!   reader validates what it reads.
//! - **Zeroed memory.** A part may be initialised as a new queue only in a mapping known to be
//!   all zero (a new anonymous mapping, a shared memory object this process just created), as
//!   `ByteQueue::init_raw` with `Contents::Zeroed` assumes; since claimed parts never overlap, no
//!   view wrote it before.

// Unsafe here: typed views of raw shared memory, and `Send`/`Sync` for them.
#![allow(unsafe_code)]

use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use ipc_core::{AttachError, ByteQueue, Config, Contents, InitError, REGION_ALIGN};

use crate::lock::lock;

use crate::sys::shm::{mmap_shared_anonymous, mmap_shared_fd, munmap};

/// A `MAP_SHARED` mapping owned by this value: unmapped (in this process) on drop.
///
/// Make one with [`Mapping::anonymous`] (or, for a named region, [`SharedRegion`]), wrap it in
/// an [`Arc`] and cut it into views with [`Mapping::claim`] or [`split`]. The mapping is never moved; a child forked while it exists
/// inherits it at the same address.
///
/// [`SharedRegion`]: crate::shm::SharedRegion
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// The bytes were all zero when mapped (a new object): queues may be initialised in it.
    zeroed: bool,
    /// The parts claimed so far, as `start..end` byte ranges (see [`Mapping::claim`]).
    claimed: Mutex<Vec<(usize, usize)>>,
}

// SAFETY: a `Mapping` is an address range owned by this value; it holds no thread-bound state,
// and every access to the memory goes through views that use atomics or `ByteQueue`.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` gives access to no memory by itself.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// A new zeroed anonymous shared mapping of `len` bytes
    /// ([`mmap_shared_anonymous`]: `MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE`), shared with
    /// children forked afterwards. Pages are committed when first touched.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `len` is 0, `ENOMEM` if the address space is exhausted.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = host_runtime::shared::region::Mapping::anonymous(1 << 20)?;
    /// assert_eq!(m.len(), 1 << 20);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn anonymous(len: usize) -> io::Result<Mapping> {
        let ptr = mmap_shared_anonymous(len)?;
        Ok(Mapping {
            ptr,
            len,
            zeroed: true,
            claimed: Mutex::new(Vec::new()),
        })
    }

    /// Maps the first `len` bytes of `fd` ([`mmap_shared_fd`]). Pass `zeroed = true` only for
    /// an object this process just created and sized (its bytes read as zero and nobody wrote
    /// them): only then may [`split`] initialise queues in it.
    ///
    /// Private to the crate: [`Mapping::claim`] trusts `zeroed` (it lets `ByteQueue::init_raw`
    /// with `Contents::Zeroed` run on the memory), so a caller passing `true` for an object with
    /// other bytes in it would make new queues start out garbled. Named regions are made with
    /// [`SharedRegion`], which passes `true` only for the object it just created.
    ///
    /// # Errors
    ///
    /// As [`mmap_shared_fd`].
    ///
    /// [`SharedRegion`]: crate::shm::SharedRegion
    pub(crate) fn from_fd(fd: BorrowedFd<'_>, len: usize, zeroed: bool) -> io::Result<Mapping> {
        let ptr = mmap_shared_fd(fd, len)?;
        Ok(Mapping {
            ptr,
            len,
            zeroed,
            claimed: Mutex::new(Vec::new()),
        })
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the length is 0 (never: a mapping has at least one byte).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address of the first byte in this process (for diagnostics).
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in the constructor, and no view
        // exists any more: each holds an `Arc<Mapping>`, and this is the last owner.
        let _ = unsafe { munmap(self.ptr, self.len) };
    }
}

/// One part of a [`split`]: a byte range of the mapping and how to view it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// A new, empty `ByteQueue` made with `ByteQueue::init_raw` and `Contents::Zeroed` (the
    /// mapping must have been zeroed).
    NewQueue {
        /// Start, a multiple of [`REGION_ALIGN`].
        offset: usize,
        /// Length in bytes.
        len: usize,
        /// Capacity, longest message and participant table.
        config: Config,
    },
    /// An existing `ByteQueue`, validated by `ByteQueue::attach_raw`.
    Queue {
        /// Start, a multiple of [`REGION_ALIGN`].
        offset: usize,
        /// Length in bytes.
        len: usize,
    },
    /// Plain bytes, read and written with atomic accesses ([`SharedBytes`]).
    Bytes {
        /// Start, a multiple of 8.
        offset: usize,
        /// Length in bytes.
        len: usize,
    },
}

impl Part {
    fn range(&self) -> (usize, usize) {
        match *self {
            Part::NewQueue { offset, len, .. }
            | Part::Queue { offset, len }
            | Part::Bytes { offset, len } => (offset, len),
        }
    }

    fn align(&self) -> usize {
        match self {
            Part::NewQueue { .. } | Part::Queue { .. } => REGION_ALIGN,
            Part::Bytes { .. } => 8,
        }
    }
}

/// A view made by [`split`], in the order of the parts.
#[derive(Clone, Debug)]
pub enum View {
    /// From [`Part::NewQueue`] or [`Part::Queue`].
    Queue(SharedQueue),
    /// From [`Part::Bytes`].
    Bytes(SharedBytes),
}

/// Why [`split`] refused; `part` is the index of the offending part (see [`ClaimError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SplitError {
    /// The part is empty or reaches past the end of the mapping.
    OutOfBounds {
        /// Index of the part.
        part: usize,
    },
    /// The part's offset is not aligned (queues: [`REGION_ALIGN`], bytes: 8).
    Misaligned {
        /// Index of the part.
        part: usize,
    },
    /// The part overlaps one claimed before.
    Overlap {
        /// Index of the part.
        part: usize,
    },
    /// A [`Part::NewQueue`] in a mapping not known to be zeroed.
    NotZeroed {
        /// Index of the part.
        part: usize,
    },
    /// `ByteQueue::init_raw` refused the part.
    Init {
        /// Index of the part.
        part: usize,
        /// Why.
        error: InitError,
    },
    /// `ByteQueue::attach_raw` refused the part.
    Attach {
        /// Index of the part.
        part: usize,
        /// Why.
        error: AttachError,
    },
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfBounds { part } => write!(f, "part {part} is empty or out of bounds"),
            Self::Misaligned { part } => write!(f, "part {part} is misaligned"),
            Self::Overlap { part } => write!(f, "part {part} overlaps another part"),
            Self::NotZeroed { part } => write!(
                f,
                "part {part}: cannot initialise a queue in a mapping not known to be zeroed"
            ),
            Self::Init { part, error } => write!(f, "part {part}: {error}"),
            Self::Attach { part, error } => write!(f, "part {part}: {error}"),
        }
    }
}

impl std::error::Error for SplitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Init { error, .. } => Some(error),
            Self::Attach { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Claims each part of `parts` in turn with [`Mapping::claim`]; returns the views in order.
///
/// # Errors
///
/// The first [`SplitError`]; parts claimed before it stay claimed.
///
/// # Examples
///
/// ```
/// use host_runtime::shared::region::{split, Mapping, Part, View};
/// use std::sync::Arc;
///
/// let mapping = Arc::new(Mapping::anonymous(1 << 16)?);
/// let views = split(&mapping, &[
///     Part::Bytes { offset: 0, len: 128 },
///     Part::NewQueue { offset: 128, len: 4096, config: ipc_core::Config::new(8, 32) },
/// ])?;
/// let (View::Bytes(bytes), View::Queue(queue)) = (&views[0], &views[1]) else { unreachable!() };
/// bytes.write(0, b"header");
/// queue.get().try_push(b"hello")?;
/// assert_eq!(queue.get().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn split(mapping: &Arc<Mapping>, parts: &[Part]) -> Result<Vec<View>, SplitError> {
    parts
        .iter()
        .enumerate()
        .map(|(index, part)| {
            Mapping::claim(mapping, *part).map_err(|e| match e {
                ClaimError::OutOfBounds => SplitError::OutOfBounds { part: index },
                ClaimError::Misaligned => SplitError::Misaligned { part: index },
                ClaimError::Overlap => SplitError::Overlap { part: index },
                ClaimError::NotZeroed => SplitError::NotZeroed { part: index },
                ClaimError::Init(error) => SplitError::Init { part: index, error },
                ClaimError::Attach(error) => SplitError::Attach { part: index, error },
            })
        })
        .collect()
}

/// Why [`Mapping::claim`] refused a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimError {
    /// The part is empty or reaches past the end of the mapping.
    OutOfBounds,
    /// The part's offset is not aligned (queues: [`REGION_ALIGN`], bytes: 8).
    Misaligned,
    /// The part overlaps one claimed before.
    Overlap,
    /// A [`Part::NewQueue`] in a mapping not known to be zeroed.
    NotZeroed,
    /// `ByteQueue::init_raw` refused the part.
    Init(InitError),
    /// `ByteQueue::attach_raw` refused the part.
    Attach(AttachError),
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfBounds => f.write_str("part is empty or out of the mapping's bounds"),
            Self::Misaligned => f.write_str("part is misaligned"),
            Self::Overlap => f.write_str("part overlaps a part claimed before"),
            Self::NotZeroed => {
                f.write_str("cannot initialise a queue in a mapping not known to be zeroed")
            }
            Self::Init(e) => e.fmt(f),
            Self::Attach(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ClaimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Init(e) => Some(e),
            Self::Attach(e) => Some(e),
            _ => None,
        }
    }
}

impl Mapping {
    /// Claims `part` of the mapping and returns its view.
    ///
    /// Checks that the part lies inside the mapping, is aligned, overlaps no part claimed
    /// before (in this process, from this `Mapping`), and for a [`Part::NewQueue`] that the
    /// mapping was zeroed when made; then initialises or attaches the queue. A claimed range
    /// stays claimed until the mapping is dropped, even if its view is dropped or the queue
    /// could not be made.
    ///
    /// Claim parts before forking: a child forked while another thread claims may find the
    /// mapping's lock held forever.
    ///
    /// # Errors
    ///
    /// [`ClaimError`]; nothing was claimed or written unless it is `Init`/`Attach`.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::shared::region::{ClaimError, Mapping, Part, View};
    /// use std::sync::Arc;
    ///
    /// let mapping = Arc::new(Mapping::anonymous(4096)?);
    /// let View::Bytes(b) = Mapping::claim(&mapping, Part::Bytes { offset: 0, len: 64 })? else {
    ///     unreachable!()
    /// };
    /// b.u64_at(8).store(5, std::sync::atomic::Ordering::Relaxed);
    /// let again = Mapping::claim(&mapping, Part::Bytes { offset: 56, len: 8 });
    /// assert_eq!(again.unwrap_err(), ClaimError::Overlap);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn claim(mapping: &Arc<Mapping>, part: Part) -> Result<View, ClaimError> {
        let ptr = Mapping::claim_range(mapping, &part)?;
        let (_, len) = part.range();
        Ok(match part {
            Part::NewQueue { config, .. } => {
                // SAFETY: `ptr..ptr+len` lies in the mapping, which lives as long as the
                // `Arc<Mapping>` stored next to the queue (the queue's `'static` never escapes:
                // `SharedQueue::get` shortens it to a borrow of the view). The range overlaps
                // no other claimed part (checked by `claim_range`, under the lock), so only
                // this part's `ByteQueue`s access it, and none exists yet while this init runs.
                // The mapping was zeroed when made (checked by `claim_range`) and only views
                // write it, none of which covers this range: its bytes are still zero.
                let queue = unsafe { ByteQueue::init_raw(ptr, len, config, Contents::Zeroed) }
                    .map_err(ClaimError::Init)?;
                View::Queue(SharedQueue {
                    queue,
                    _mapping: Arc::clone(mapping),
                })
            }
            Part::Queue { .. } => {
                // SAFETY: as for `NewQueue`: in the mapping, kept alive by the stored `Arc`,
                // disjoint from other claimed parts so accessed only through `ByteQueue`s.
                let queue =
                    unsafe { ByteQueue::attach_raw(ptr, len) }.map_err(ClaimError::Attach)?;
                View::Queue(SharedQueue {
                    queue,
                    _mapping: Arc::clone(mapping),
                })
            }
            Part::Bytes { .. } => View::Bytes(SharedBytes {
                ptr,
                len,
                _mapping: Arc::clone(mapping),
            }),
        })
    }

    /// Claims `len` bytes at `offset` as plain bytes: [`Mapping::claim`] of a [`Part::Bytes`],
    /// returning its view as a [`SharedBytes`].
    ///
    /// # Errors
    ///
    /// [`ClaimError::OutOfBounds`], [`ClaimError::Misaligned`] (`offset` not a multiple of
    /// 8), [`ClaimError::Overlap`]; nothing was claimed then.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::shared::region::Mapping;
    /// use std::sync::Arc;
    ///
    /// let mapping = Arc::new(Mapping::anonymous(4096)?);
    /// let words = Mapping::claim_bytes(&mapping, 0, 64)?;
    /// words.write(8, b"shared");
    /// assert_eq!(words.len(), 64);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn claim_bytes(
        mapping: &Arc<Mapping>,
        offset: usize,
        len: usize,
    ) -> Result<SharedBytes, ClaimError> {
        let ptr = Mapping::claim_range(mapping, &Part::Bytes { offset, len })?;
        Ok(SharedBytes {
            ptr,
            len,
            _mapping: Arc::clone(mapping),
        })
    }

    /// The checks of [`Mapping::claim`]: `part` lies in the mapping, is aligned, is a new
    /// queue only in a zeroed mapping, and overlaps no part claimed before; then records it as
    /// claimed and returns the address of its first byte.
    fn claim_range(mapping: &Arc<Mapping>, part: &Part) -> Result<NonNull<u8>, ClaimError> {
        let (offset, len) = part.range();
        let end = match offset.checked_add(len) {
            Some(end) if len > 0 && end <= mapping.len => end,
            _ => return Err(ClaimError::OutOfBounds),
        };
        if offset % part.align() != 0 {
            return Err(ClaimError::Misaligned);
        }
        if !mapping.zeroed && matches!(part, Part::NewQueue { .. }) {
            return Err(ClaimError::NotZeroed);
        }
        {
            let mut claimed = lock(&mapping.claimed);
            if claimed.iter().any(|&(s, e)| offset < e && s < end) {
                return Err(ClaimError::Overlap);
            }
            claimed.push((offset, end));
        }
        // SAFETY: offset + len <= mapping.len (checked above), so the pointer stays inside the
        // mapping.
        Ok(unsafe { mapping.ptr.add(offset) })
    }
}

/// A `ByteQueue` in a part of a [`Mapping`], keeping the mapping alive.
#[derive(Clone)]
pub struct SharedQueue {
    /// Valid as long as `_mapping` is; never handed out with the `'static` lifetime.
    queue: ByteQueue<'static>,
    _mapping: Arc<Mapping>,
}

impl SharedQueue {
    /// The queue, borrowed for as long as this view.
    #[inline(always)]
    pub fn get(&self) -> &ByteQueue<'_> {
        &self.queue
    }
}

impl fmt::Debug for SharedQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.queue.fmt(f)
    }
}

/// Plain bytes in a part of a [`Mapping`], keeping the mapping alive, read and written with
/// relaxed atomic accesses.
///
/// Concurrent writers of the same bytes leave a mix of both (no tearing below 8-byte aligned
/// words, in this process); readers see some mix of old and new bytes. Order these accesses
/// with something else (a queue's Release/Acquire, as the queue's blob pool does).
#[derive(Clone)]
pub struct SharedBytes {
    /// First byte; `len` bytes from here lie in the mapping; 8-aligned.
    ptr: NonNull<u8>,
    len: usize,
    _mapping: Arc<Mapping>,
}

// SAFETY: every access to the bytes is atomic; the pointer is kept valid by the `Arc`.
unsafe impl Send for SharedBytes {}
// SAFETY: as above.
unsafe impl Sync for SharedBytes {}

impl fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBytes")
            .field("addr", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}

impl SharedBytes {
    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the length is 0 (never: [`split`] refuses empty parts).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Panics unless `offset..offset + len` lies in the view.
    #[inline(always)]
    fn check(&self, offset: usize, len: usize) {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "bytes {offset}..+{len} out of bounds of a {}-byte view",
            self.len
        );
    }

    /// The 8-byte word at `offset`.
    ///
    /// # Panics
    ///
    /// If `offset` is not a multiple of 8 or the word is out of bounds.
    pub fn u64_at(&self, offset: usize) -> &AtomicU64 {
        self.check(offset, 8);
        assert!(offset % 8 == 0, "unaligned word offset {offset}");
        // SAFETY: in bounds (checked), 8-aligned (the view starts 8-aligned, offset % 8 == 0);
        // the memory lives as long as `self` (the `Arc`); any bits are a valid `AtomicU64`.
        unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU64>() }
    }

    /// The byte at `offset`, as an atomic.
    #[inline(always)]
    fn byte(&self, offset: usize) -> &AtomicU8 {
        debug_assert!(offset < self.len);
        // SAFETY: callers pass offsets checked by `check`; `AtomicU8` has alignment 1 and is
        // valid for any bits; the memory lives as long as `self`.
        unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU8>() }
    }

    /// The word at `offset` (a multiple of 8, in bounds), as an atomic.
    #[inline(always)]
    fn word(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset % 8 == 0 && offset + 8 <= self.len);
        // SAFETY: callers pass 8-aligned offsets of words checked by `check`; the view starts
        // 8-aligned; any bits are a valid `AtomicU64`; the memory lives as long as `self`.
        unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU64>() }
    }

    /// Copies `src` to `offset..offset + src.len()` with relaxed atomic stores.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds.
    pub fn write(&self, offset: usize, src: &[u8]) {
        self.check(offset, src.len());
        let head = (8 - offset % 8) % 8;
        let head = head.min(src.len());
        for (i, &b) in src[..head].iter().enumerate() {
            self.byte(offset + i).store(b, Relaxed);
        }
        let mut at = offset + head;
        let mut words = src[head..].chunks_exact(8);
        for w in &mut words {
            let w: [u8; 8] = w.try_into().unwrap_or([0; 8]);
            self.word(at).store(u64::from_ne_bytes(w), Relaxed);
            at += 8;
        }
        for &b in words.remainder() {
            self.byte(at).store(b, Relaxed);
            at += 1;
        }
    }

    /// Copies `offset..offset + dst.len()` into `dst` with relaxed atomic loads.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds.
    pub fn read(&self, offset: usize, dst: &mut [u8]) {
        self.check(offset, dst.len());
        let head = ((8 - offset % 8) % 8).min(dst.len());
        let (head_dst, rest) = dst.split_at_mut(head);
        for (i, b) in head_dst.iter_mut().enumerate() {
            *b = self.byte(offset + i).load(Relaxed);
        }
        let mut at = offset + head;
        let mut words = rest.chunks_exact_mut(8);
        for w in &mut words {
            w.copy_from_slice(&self.word(at).load(Relaxed).to_ne_bytes());
            at += 8;
        }
        for b in words.into_remainder() {
            *b = self.byte(at).load(Relaxed);
            at += 1;
        }
    }
}

/// Types made of nothing but atomics, which [`SharedBytes::atomics`] may lay over shared
/// memory and hand out as shared references.
///
/// # Safety
///
/// Implement only for a type that:
///
/// - is valid for every bit pattern (other processes may write any bytes) and has no padding
///   bytes that could be read;
/// - is changed only through atomic operations on its fields (`Atomic*` fields only: no
///   `Cell`, no other `UnsafeCell`), so concurrent use through `&T` from several threads and
///   processes is free of data races;
/// - holds no pointer or reference (an address means nothing in another process);
/// - is aligned to at most 8 bytes.
pub unsafe trait AtomicsOnly: Sync + Sized {}

// SAFETY: an `AtomicU32` is valid for every bit pattern, changed only atomically, no pointer.
unsafe impl AtomicsOnly for std::sync::atomic::AtomicU32 {}
// SAFETY: as for `AtomicU32`; aligned to 8.
unsafe impl AtomicsOnly for AtomicU64 {}
// SAFETY: each is an integer atomic (valid for every bit pattern, changed only atomically, no
// pointer, no padding), aligned to its size, at most 8.
unsafe impl AtomicsOnly for AtomicU8 {}
// SAFETY: as above.
unsafe impl AtomicsOnly for std::sync::atomic::AtomicU16 {}
// SAFETY: as above.
unsafe impl AtomicsOnly for std::sync::atomic::AtomicI8 {}
// SAFETY: as above.
unsafe impl AtomicsOnly for std::sync::atomic::AtomicI16 {}
// SAFETY: as above.
unsafe impl AtomicsOnly for std::sync::atomic::AtomicI32 {}
// SAFETY: as above.
unsafe impl AtomicsOnly for std::sync::atomic::AtomicI64 {}
// SAFETY: `#[repr(C)]` of two `AtomicU32`s (8 bytes, no padding): see `AtomicU32`.
unsafe impl AtomicsOnly for ipc_core::WaitWord {}
// SAFETY: `#[repr(C)]` of one `AtomicU32`: see `AtomicU32`.
unsafe impl AtomicsOnly for ipc_core::EventWord {}
// SAFETY: `#[repr(C)]` of two `AtomicU32`s (8 bytes, no padding): see `AtomicU32`.
unsafe impl AtomicsOnly for ipc_core::SemaphoreWord {}
// SAFETY: `#[repr(C)]` of three `AtomicU32`s (12 bytes, no padding; size asserted in
// ipc-core): see `AtomicU32`.
unsafe impl AtomicsOnly for ipc_core::BarrierWord {}
// SAFETY: `#[repr(C)]` of `AtomicU32, AtomicU32, AtomicU64` (16 bytes, no padding; size
// asserted in ipc-core): see `AtomicU32` and `AtomicU64`.
#[cfg(target_has_atomic = "64")]
unsafe impl AtomicsOnly for ipc_core::LockWord {}
// SAFETY: `#[repr(C)]` of one `AtomicU64` (8 bytes, size asserted in ipc-core): see `AtomicU64`.
#[cfg(target_has_atomic = "64")]
unsafe impl AtomicsOnly for ipc_core::pool::TaskSlot {}
// SAFETY: `#[repr(C)]` of `AtomicU64, AtomicU32, AtomicU32, AtomicU64, AtomicU64` (32 bytes, no
// padding; size and offsets asserted in ipc-core): see `AtomicU32` and `AtomicU64`.
#[cfg(target_has_atomic = "64")]
unsafe impl AtomicsOnly for ipc_core::pool::WorkerSlot {}

impl SharedBytes {
    /// `count` values of `T` laid over bytes `offset..offset + count * size_of::<T>()` of the
    /// view, borrowed for as long as the view: e.g. the slot tables of `ipc_core::pool` in
    /// shared memory. All-zero bytes (a new mapping) read as whatever `T` makes of them.
    ///
    /// The memory is shared with every process that maps it; `T`'s atomics are the only way it
    /// changes in this process (see [`AtomicsOnly`]). Don't also reach those bytes through the
    /// byte-wise [`write`](Self::write) or [`read`](Self::read) while the slice is in use: Rust's
    /// memory model does not allow racing atomic accesses of different sizes to the same bytes
    /// (the same caveat as mixing [`u64_at`](Self::u64_at) with them).
    ///
    /// # Panics
    ///
    /// If the range is out of bounds, or `offset` is not a multiple of `T`'s alignment.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::shared::region::{split, Mapping, Part, View};
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    ///
    /// let mapping = Arc::new(Mapping::anonymous(4096)?);
    /// let views = split(&mapping, &[Part::Bytes { offset: 0, len: 64 }])?;
    /// let View::Bytes(bytes) = &views[0] else { unreachable!() };
    /// let words: &[AtomicU32] = bytes.atomics(8, 4);
    /// words[3].store(7, Ordering::Relaxed);
    /// assert_eq!(bytes.u64_at(16).load(Ordering::Relaxed) >> 32, 7); // little-endian
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn atomics<T: AtomicsOnly>(&self, offset: usize, count: usize) -> &[T] {
        let len = count
            .checked_mul(std::mem::size_of::<T>())
            .expect("slot array length overflows");
        self.check(offset, len);
        let align = std::mem::align_of::<T>();
        assert!(
            align <= 8 && offset % align == 0,
            "offset {offset} is not aligned for {}",
            std::any::type_name::<T>()
        );
        // SAFETY: in bounds (checked by `check`); aligned (the view starts 8-aligned, `T`'s
        // alignment is at most 8 and divides `offset`); every bit pattern is a valid `T` and it
        // is only changed through atomics (`AtomicsOnly`), so shared references from several
        // threads and processes are sound; the memory lives as long as `self` (the `Arc`),
        // which the returned borrow cannot outlive.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(offset).cast::<T>(), count) }
    }

    /// A copy of the `T` at byte `offset`, read with relaxed atomic loads (see
    /// [`read`](Self::read)): any bytes are a valid `T` (`Pod`), so a copy racing a writer
    /// is a garbled value, never an invalid one. `offset` need not be aligned.
    ///
    /// # Panics
    ///
    /// If the value is out of bounds.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::SharedRegion;
    ///
    /// let region = SharedRegion::new(4096)?;
    /// let bytes = region.claim_bytes(0, 64)?;
    /// bytes.set(8, [1.5f64, -2.0]);
    /// assert_eq!(bytes.get::<[f64; 2]>(8), [1.5, -2.0]);
    /// let mut three = [0u16; 3];
    /// bytes.write_from(32, &[7u16, 8, 9]);
    /// bytes.read_into(32, &mut three);
    /// assert_eq!(three, [7, 8, 9]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get<T: bytemuck::Pod>(&self, offset: usize) -> T {
        let mut value = T::zeroed();
        self.read(offset, bytemuck::bytes_of_mut(&mut value));
        value
    }

    /// Stores `value` at byte `offset` with relaxed atomic stores (see [`write`](Self::write)).
    ///
    /// # Panics
    ///
    /// If the value is out of bounds.
    pub fn set<T: bytemuck::Pod>(&self, offset: usize, value: T) {
        self.write(offset, bytemuck::bytes_of(&value));
    }

    /// Copies `dst.len()` values of `T` from byte `offset` into `dst` (as [`get`](Self::get)).
    ///
    /// # Panics
    ///
    /// If the range is out of bounds.
    pub fn read_into<T: bytemuck::Pod>(&self, offset: usize, dst: &mut [T]) {
        self.read(offset, bytemuck::cast_slice_mut(dst));
    }

    /// Stores the values of `src` from byte `offset` on (as [`set`](Self::set)).
    ///
    /// # Panics
    ///
    /// If the range is out of bounds.
    pub fn write_from<T: bytemuck::Pod>(&self, offset: usize, src: &[T]) {
        self.write(offset, bytemuck::cast_slice(src));
    }

    /// Checks that `count` values of `T` at byte `offset` lie in the view and are aligned;
    /// returns their first address.
    fn typed_range<T>(&self, offset: usize, count: usize) -> *mut T {
        let len = count
            .checked_mul(std::mem::size_of::<T>())
            .expect("slice length overflows");
        self.check(offset, len);
        // SAFETY: `offset <= self.len` (checked), so the result is in or one past the view.
        let ptr = unsafe { self.ptr.as_ptr().add(offset) };
        assert!(
            ptr.cast::<T>().is_aligned(),
            "offset {offset} is not aligned for {}",
            std::any::type_name::<T>()
        );
        ptr.cast::<T>()
    }

    /// `count` values of `T` at byte `offset`, lent out without a copy (numpy's view of a
    /// shared buffer): for reading much data that is no longer being written.
    ///
    /// # Safety
    ///
    /// While the returned slice lives:
    ///
    /// - no thread of this or any other process may write these bytes (through any view,
    ///   any mapping of the same memory, or a system call): a write racing a plain read is a
    ///   data race, undefined behaviour; a lock every writer takes, held across the slice's
    ///   life, is one way to ensure it;
    /// - this process must not write them itself (e.g. with [`write`](Self::write)).
    ///
    /// Any bytes are a valid `T` (`Pod`), so what a process wrote before is never an
    /// invalid value; what the contract rules out is a write *during* the borrow.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds, or not aligned for `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::SharedRegion;
    ///
    /// let region = SharedRegion::new(4096)?;
    /// let bytes = region.claim_bytes(0, 4096)?;
    /// bytes.write_from(0, &[1u32, 2, 3, 4]);
    /// // SAFETY: this region was just made and is not shared yet: nobody else writes it.
    /// let values: &[u32] = unsafe { bytes.as_slice(0, 4) };
    /// assert_eq!(values.iter().sum::<u32>(), 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn as_slice<T: bytemuck::Pod>(&self, offset: usize, count: usize) -> &[T] {
        let ptr = self.typed_range::<T>(offset, count);
        // SAFETY: in bounds and aligned (`typed_range`); the memory lives as long as `self`
        // (the `Arc`), which the borrow cannot outlive; any bits are a valid `T` (`Pod`); no
        // write happens while the slice lives (the caller's contract), so reading through it
        // races with nothing.
        unsafe { std::slice::from_raw_parts(ptr, count) }
    }

    /// `count` values of `T` at byte `offset`, lent out mutably without a copy: for filling
    /// or transforming much data in place.
    ///
    /// # Safety
    ///
    /// While the returned slice lives:
    ///
    /// - no thread of this or any other process may read or write these bytes by any other
    ///   means (another slice or view, another mapping of the same memory, a system call):
    ///   the slice is the only access, as `&mut` requires;
    /// - in particular, the caller must not call this (or [`as_slice`](Self::as_slice)) again
    ///   for overlapping bytes until the slice is dropped.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds, or not aligned for `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::SharedRegion;
    ///
    /// let region = SharedRegion::new(4096)?;
    /// let bytes = region.claim_bytes(0, 4096)?;
    /// // SAFETY: this region was just made and is not shared yet: this slice is its only use.
    /// let values: &mut [f32] = unsafe { bytes.as_mut_slice(0, 1024) };
    /// values.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32);
    /// assert_eq!(bytes.get::<f32>(4 * 1023), 1023.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::mut_from_ref)] // Exclusivity is the caller's contract (# Safety).
    pub unsafe fn as_mut_slice<T: bytemuck::Pod>(&self, offset: usize, count: usize) -> &mut [T] {
        let ptr = self.typed_range::<T>(offset, count);
        // SAFETY: in bounds and aligned (`typed_range`); the memory lives as long as `self`,
        // which the borrow cannot outlive; any bits are a valid `T` (`Pod`), and any `T` the
        // caller stores is valid bytes for every reader; no other access happens while the
        // slice lives (the caller's contract), so it is unique as `&mut` requires.
        unsafe { std::slice::from_raw_parts_mut(ptr, count) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_at_any_alignment() {
        let mapping = Arc::new(Mapping::anonymous(4096).unwrap());
        let views = split(
            &mapping,
            &[Part::Bytes {
                offset: 0,
                len: 4096,
            }],
        )
        .unwrap();
        let View::Bytes(bytes) = &views[0] else {
            panic!("bytes view expected")
        };
        let src: Vec<u8> = (0..200u8).collect();
        for offset in 0..17 {
            for len in [0, 1, 7, 8, 9, 63, 200] {
                bytes.write(offset, &src[..len]);
                let mut dst = vec![0xAA; len];
                bytes.read(offset, &mut dst);
                assert_eq!(dst, &src[..len], "offset {offset} len {len}");
            }
        }
    }

    #[test]
    fn split_refuses_bad_parts() {
        let fresh = || Arc::new(Mapping::anonymous(8192).unwrap());
        let bytes = |offset, len| Part::Bytes { offset, len };
        let e = split(&fresh(), &[bytes(0, 8193)]).unwrap_err();
        assert_eq!(e, SplitError::OutOfBounds { part: 0 });
        let e = split(&fresh(), &[bytes(0, 0)]).unwrap_err();
        assert_eq!(e, SplitError::OutOfBounds { part: 0 });
        let e = split(&fresh(), &[bytes(4, 8)]).unwrap_err();
        assert_eq!(e, SplitError::Misaligned { part: 0 });
        let q = |offset, len| Part::Queue { offset, len };
        let e = split(&fresh(), &[bytes(0, 256), q(128, 1024)]).unwrap_err();
        assert_eq!(e, SplitError::Overlap { part: 1 });

        let mapping = fresh();
        let e = split(&mapping, &[q(0, 1024)]).unwrap_err();
        assert!(matches!(e, SplitError::Attach { part: 0, .. }));
        // That claim got past the checks: its range stays claimed.
        let e = split(&mapping, &[bytes(1016, 8)]).unwrap_err();
        assert_eq!(e, SplitError::Overlap { part: 0 });
        assert!(split(&mapping, &[bytes(1024, 8)]).is_ok());
    }
}
