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
//!   loads and stores (8 bytes at a time where aligned; a long copy on x86-64 in one `rep
//!   movsb`, which to the language is such byte copies: `ipc_core::try_bulk_copy`), never with
//!   plain accesses, so two
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
use std::sync::{Arc, Mutex};

use ipc_core::{ByteQueue, Config, Contents, REGION_ALIGN};

use crate::lock::lock;

use crate::sys::shm::{mmap_shared_anonymous, mmap_shared_fd, munmap};

mod bytes;
mod error;

pub use bytes::{AtomicsOnly, SharedBytes};
pub use error::{ClaimError, SplitError};

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A view of the first `len` bytes of a new page.
    fn bytes_view(len: usize) -> SharedBytes {
        let mapping = Arc::new(Mapping::anonymous(4096).unwrap());
        Mapping::claim_bytes(&mapping, 0, len).unwrap()
    }

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
        // Lengths on both sides of 256 bytes, where the ring slots' copies change paths (these
        // take one path at every length: `rep movsb` on x86-64, whole words elsewhere).
        let src: Vec<u8> = (0..4000u32).map(|i| (i * 7 % 251) as u8).collect();
        for offset in 0..17 {
            for len in [0, 1, 7, 8, 9, 63, 200, 255, 256, 257, 1000, 4000] {
                bytes.write(0, &[0xEE; 4096]);
                bytes.write(offset, &src[..len]);
                let mut dst = vec![0xAA; len];
                bytes.read(offset, &mut dst);
                assert_eq!(dst, &src[..len], "offset {offset} len {len}");
                // Nothing around the range was written.
                let mut around = [0; 1];
                if offset > 0 {
                    bytes.read(offset - 1, &mut around);
                    assert_eq!(around, [0xEE], "offset {offset} len {len}");
                }
                bytes.read(offset + len, &mut around);
                assert_eq!(around, [0xEE], "offset {offset} len {len}");
                // `read_append` after what `dst` holds already.
                let mut appended = vec![0x55; 3];
                bytes.read_append(offset, len, &mut appended);
                assert_eq!(appended[..3], [0x55; 3]);
                assert_eq!(appended[3..], src[..len], "offset {offset} len {len}");
            }
        }
    }

    /// The typed copies at every offset and length within three words, in a view whose length
    /// is not a multiple of 8 (its last bytes are reached as bytes): exact, nothing around
    /// written, and each whole word of the view readable as the `AtomicU64` they store.
    #[test]
    fn typed_copies_round_trip_at_any_alignment_by_whole_words() {
        let bytes = &bytes_view(45);
        let src: Vec<u8> = (1..=45u8).collect();
        for offset in 0..45 {
            for len in 0..=(45 - offset).min(24) {
                bytes.write_from(0, &[0xEEu8; 45]);
                bytes.write_from(offset, &src[..len]);
                let mut dst = vec![0xAA; len];
                bytes.read_into(offset, &mut dst);
                assert_eq!(dst, &src[..len], "offset {offset} len {len}");
                let mut all = [0u8; 45];
                bytes.read_into(0, &mut all);
                for (i, &b) in all.iter().enumerate() {
                    let want = if (offset..offset + len).contains(&i) {
                        src[i - offset]
                    } else {
                        0xEE
                    };
                    assert_eq!(b, want, "byte {i} after offset {offset} len {len}");
                }
                for w in 0..5 {
                    let word = bytes
                        .u64_at(8 * w)
                        .load(std::sync::atomic::Ordering::Relaxed);
                    assert_eq!(word.to_ne_bytes(), all[8 * w..8 * w + 8], "word {w}");
                }
            }
        }
        // `get`/`set` at an odd offset across a word boundary and into the last bytes.
        bytes.set(6, 0x0102_0304_u32);
        assert_eq!(bytes.get::<u32>(6), 0x0102_0304);
        bytes.set(41, [9u8, 8, 7, 6]);
        assert_eq!(bytes.get::<[u8; 4]>(41), [9, 8, 7, 6]);
    }

    /// Threads that `set` their own byte of one shared word over and over, the typed way (a
    /// read-modify-write of the word each time), never undo each other's bytes.
    #[test]
    fn partial_word_stores_keep_the_neighbours_bytes() {
        let bytes = &bytes_view(8);
        const ROUNDS: u32 = if cfg!(miri) { 200 } else { 20_000 };
        std::thread::scope(|s| {
            for t in 0..4usize {
                s.spawn(move || {
                    for round in 0..ROUNDS {
                        let mine = (round % 251) as u8 + 1;
                        bytes.set(t, mine);
                        assert_eq!(bytes.get::<u8>(t), mine, "thread {t}'s byte");
                    }
                });
            }
        });
        let last = ((ROUNDS - 1) % 251) as u8 + 1;
        assert_eq!(bytes.get::<[u8; 4]>(0), [last; 4]);
    }

    /// Typed copies of different sizes and offsets racing each other and an `AtomicU64` view of
    /// the same word: allowed, because every one of them accesses it as one whole word (under
    /// Miri, whose race detector rejects racing atomic accesses of different sizes, this is the
    /// check: with byte stores at a partial word's ends it reports undefined behaviour).
    #[test]
    fn typed_copies_may_race_with_word_views() {
        let bytes = &bytes_view(16);
        let rounds: u32 = if cfg!(miri) { 50 } else { 10_000 };
        std::thread::scope(|s| {
            s.spawn(|| {
                for round in 0..rounds {
                    bytes.set(3, round as u8);
                    let _ = bytes.get::<u16>(7);
                }
            });
            s.spawn(|| {
                for round in 0..rounds {
                    bytes.set(4, round);
                    bytes.write_from(9, &[round as u16; 3]);
                }
            });
            s.spawn(|| {
                for _ in 0..rounds {
                    let _ = bytes.u64_at(0).load(std::sync::atomic::Ordering::Relaxed);
                    let _ = bytes
                        .u64_at(8)
                        .fetch_add(0, std::sync::atomic::Ordering::Relaxed);
                }
            });
        });
        assert_eq!(bytes.get::<u8>(3), (rounds - 1) as u8);
        assert_eq!(bytes.get::<u32>(4), rounds - 1);
        assert_eq!(bytes.get::<[u16; 3]>(9), [(rounds - 1) as u16; 3]);
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
