//! [`SharedBytes`]: plain bytes in a part of a [`Mapping`](super::Mapping), read and written
//! with atomic accesses, and the [`AtomicsOnly`] types that may be laid over them.

// Unsafe here: atomics laid over raw shared memory, and `Send`/`Sync` for the view.
#![allow(unsafe_code)]

use std::fmt;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

use ipc_core::try_bulk_copy;

use super::Mapping;
/// Plain bytes in a part of a [`Mapping`], keeping the mapping alive, read and written with
/// relaxed atomic accesses.
///
/// Concurrent writers of the same bytes leave a mix of both; readers see some mix of old and
/// new bytes. Order these accesses with something else (a queue's Release/Acquire, as the
/// queue's blob pool does).
///
/// Two kinds of access, by size (Rust's memory model does not allow atomic accesses of
/// different sizes to the same bytes to race, within a process):
///
/// - **Whole words.** The typed copies ([`get`](Self::get), [`set`](Self::set),
///   [`read_into`](Self::read_into), [`write_from`](Self::write_from)) access every byte in a
///   whole 8-byte word of the view only as part of an `AtomicU64` access of that word, at any
///   offset and length: a load of each word they overlap, a store of each word they fill, one
///   atomic read-modify-write of a word they fill in part. So they may race with each other
///   and with [`u64_at`](Self::u64_at) and `atomics::<AtomicU64>` views of the same bytes;
///   the bytes after the view's last whole word (if its length is not a multiple of 8) are
///   accessed as bytes by all of them. `Value` and `Array` (`crate::sync`) use only these.
/// - **Byte copies** ([`read`](Self::read), [`write`](Self::write),
///   [`read_append`](Self::read_append)), for messages: on x86-64 one `rep movsb` (a byte
///   loop under 32 bytes), at `memcpy`'s speed, which the language sees as relaxed atomic byte
///   accesses ([`ipc_core::try_bulk_copy`]), so they may race with each other whatever their offsets
///   and lengths (a process that breaks a queue's protocol can make two of our threads copy
///   one chunk at once: garbled bytes, not undefined behaviour). Elsewhere, and under Miri,
///   they are the typed copies' whole-word accesses. They may tear anywhere.
///
/// Within one process, don't race a byte copy with a typed copy or an
/// [`atomics`](Self::atomics) view of the same bytes, nor views of different sizes with each
/// other (the queue and pool protocols keep messages' bytes to byte copies and their control
/// words to views). Between processes, which the model does not see, any mix only garbles
/// bytes.
#[derive(Clone)]
pub struct SharedBytes {
    /// First byte; `len` bytes from here lie in the mapping; 8-aligned.
    pub(super) ptr: NonNull<u8>,
    pub(super) len: usize,
    pub(super) _mapping: Arc<Mapping>,
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

    /// Whether the length is 0 (never: [`split`](super::split) refuses empty parts).
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

    /// Copies `src` to `offset..offset + src.len()` with relaxed atomic stores: of bytes on
    /// x86-64 (one `rep movsb`, or a byte loop under 32 bytes); elsewhere (and under Miri) of
    /// whole words as the typed copies make them (see [`SharedBytes`]).
    ///
    /// # Panics
    ///
    /// If the range is out of bounds.
    pub fn write(&self, offset: usize, src: &[u8]) {
        self.check(offset, src.len());
        if src.len() < SHORT_COPY && BYTE_COPIES {
            for (i, &b) in src.iter().enumerate() {
                self.byte(offset + i).store(b, Relaxed);
            }
            return;
        }
        // SAFETY: the range is in the view (checked), so in the mapping.
        let dst = unsafe { self.ptr.as_ptr().add(offset) };
        // SAFETY: `dst..dst + len` lies in the mapping, which `self` keeps mapped; every
        // access of this process to the view's bytes is atomic (this type's rule), and the
        // byte copies' are all of one size, bytes (racing a typed copy or a view is the caveat
        // the type's docs state); `src`, borrowed, is not written meanwhile; a private slice
        // and shared memory never overlap.
        if !unsafe { try_bulk_copy(src.as_ptr(), dst, src.len()) } {
            self.write_words(offset, src);
        }
    }

    /// Copies `offset..offset + dst.len()` into `dst` with relaxed atomic loads, as
    /// [`write`](Self::write) stores.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds.
    pub fn read(&self, offset: usize, dst: &mut [u8]) {
        self.check(offset, dst.len());
        if dst.len() < SHORT_COPY && BYTE_COPIES {
            for (i, b) in dst.iter_mut().enumerate() {
                *b = self.byte(offset + i).load(Relaxed);
            }
            return;
        }
        // SAFETY: the range is in the view (checked), so in the mapping.
        let src = unsafe { self.ptr.as_ptr().add(offset) };
        // SAFETY: as in `write`, the other way round: `dst`, borrowed mutably, is ours alone.
        if !unsafe { try_bulk_copy(src, dst.as_mut_ptr(), dst.len()) } {
            self.read_words(offset, dst);
        }
    }
}

impl SharedBytes {
    /// Appends `offset..offset + len` to `dst` with relaxed atomic loads, writing each new byte
    /// of `dst` once (no zero-fill first: for a long message read into a fresh allocation,
    /// e.g. the value it decodes to).
    ///
    /// # Panics
    ///
    /// If the range is out of bounds (then `dst` is unchanged).
    pub fn read_append(&self, offset: usize, len: usize, dst: &mut Vec<u8>) {
        self.check(offset, len);
        dst.reserve(len);
        let spare = &mut dst.spare_capacity_mut()[..len];
        // SAFETY: `offset..offset + len` lies in the view (checked above), so the address is
        // in the mapping.
        let src = unsafe { self.ptr.as_ptr().add(offset) };
        if len < SHORT_COPY && BYTE_COPIES {
            for (i, b) in spare.iter_mut().enumerate() {
                b.write(self.byte(offset + i).load(Relaxed));
            }
        } else {
            // SAFETY: as in `read`: shared bytes in the mapping, accessed only atomically by
            // this process; the `len` spare bytes are `dst`'s own (writable though
            // uninitialised), and private memory never overlaps the mapping.
            if !unsafe { try_bulk_copy(src, spare.as_mut_ptr().cast(), len) } {
                self.read_words_uninit(offset, spare);
            }
        }
        // SAFETY: `reserve` made room for `len` more bytes, and one of the three copies above
        // wrote every one of `spare[..len]`, the `len` bytes after the old length.
        unsafe { dst.set_len(dst.len() + len) };
    }
}

/// Whether the byte copies are bytes (`rep movsb`, and byte loops when short): where
/// `try_bulk_copy` copies. Elsewhere they are the typed copies' whole words.
const BYTE_COPIES: bool = cfg!(all(target_arch = "x86_64", not(miri), not(loom)));

/// Byte copies shorter than this are byte loops, not a `rep movsb`, whose start-up costs more
/// than a few byte moves (a message's varint head, 1-10 bytes, is copied on its own): the same
/// size of access, bytes, either way. `Queue<Vec<u8>>` of 1 KiB (`benches/batch.rs`
/// `vec_1KiB`, pinned to one CPU, medians of 3, 3 alternated pairs each): 219-236 ns CPU a
/// message with a word loop under 256 bytes, 242-268 with `rep movsb` at every length, 215-218
/// with byte loops under 32 bytes (against 220-228 in the same holds).
const SHORT_COPY: usize = 32;

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
    #[inline]
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

    /// A copy of the `T` at byte `offset`, read with relaxed atomic loads of whole 8-byte
    /// words (an `AtomicU64` load of each word of the view it overlaps, whatever `T`'s size and
    /// `offset`'s alignment: see [`SharedBytes`]): any
    /// bytes are a valid `T` (`Pod`), so a copy racing a writer is a garbled value, never an
    /// invalid one. `offset` need not be aligned.
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
        self.check(offset, std::mem::size_of::<T>());
        self.read_words(offset, bytemuck::bytes_of_mut(&mut value));
        value
    }

    /// Stores `value` at byte `offset` with relaxed atomic accesses of whole 8-byte words, as
    /// [`get`](Self::get) loads: an `AtomicU64` store for each word the value fills, one atomic
    /// read-modify-write for a word it fills in part (the word's other bytes are left as they
    /// are, even if another thread changes them meanwhile).
    ///
    /// # Panics
    ///
    /// If the value is out of bounds.
    pub fn set<T: bytemuck::Pod>(&self, offset: usize, value: T) {
        self.check(offset, std::mem::size_of::<T>());
        self.write_words(offset, bytemuck::bytes_of(&value));
    }

    /// Copies `dst.len()` values of `T` from byte `offset` into `dst` (as [`get`](Self::get)).
    ///
    /// # Panics
    ///
    /// If the range is out of bounds.
    pub fn read_into<T: bytemuck::Pod>(&self, offset: usize, dst: &mut [T]) {
        let dst = bytemuck::cast_slice_mut(dst);
        self.check(offset, dst.len());
        self.read_words(offset, dst);
    }

    /// Stores the values of `src` from byte `offset` on (as [`set`](Self::set)).
    ///
    /// # Panics
    ///
    /// If the range is out of bounds.
    pub fn write_from<T: bytemuck::Pod>(&self, offset: usize, src: &[T]) {
        let src = bytemuck::cast_slice(src);
        self.check(offset, src.len());
        self.write_words(offset, src);
    }

    /// Copies `offset..offset + dst.len()` (checked by the caller) into `dst` with an
    /// `AtomicU64` load of each whole word of the view it overlaps (bytes of a word outside the
    /// range are read and dropped); the bytes past the view's last whole word, which no 8-byte
    /// access can reach, with `AtomicU8` loads. So the typed copies access each byte with the
    /// size [`u64_at`](Self::u64_at) and `atomics::<AtomicU64>` do (see [`SharedBytes`]).
    fn read_words(&self, offset: usize, dst: &mut [u8]) {
        // SAFETY: `MaybeUninit<u8>` has `u8`'s layout, and `read_words_uninit` writes only
        // initialised bytes into the slice, so `dst` stays initialised.
        let dst = unsafe { &mut *(std::ptr::from_mut(dst) as *mut [MaybeUninit<u8>]) };
        self.read_words_uninit(offset, dst);
    }

    /// [`read_words`](Self::read_words) into bytes that need not be initialised; it writes
    /// every one of them.
    fn read_words_uninit(&self, offset: usize, dst: &mut [MaybeUninit<u8>]) {
        fn put(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
            for (d, &s) in dst.iter_mut().zip(src) {
                d.write(s);
            }
        }
        debug_assert!(offset + dst.len() <= self.len);
        let words_end = self.len & !7;
        let in_words = dst.len().min(words_end.saturating_sub(offset));
        let (mut rest, tail) = dst.split_at_mut(in_words);
        let mut at = offset;
        // A first word the range starts inside of (`at < words_end`: `in_words > 0`).
        let skip = at % 8;
        if skip != 0 && !rest.is_empty() {
            let word = self.word(at - skip).load(Relaxed).to_ne_bytes();
            let n = (8 - skip).min(rest.len());
            let (head, after) = rest.split_at_mut(n);
            put(head, &word[skip..skip + n]);
            rest = after;
            at += n;
        }
        let mut words = rest.chunks_exact_mut(8);
        for w in &mut words {
            put(w, &self.word(at).load(Relaxed).to_ne_bytes());
            at += 8;
        }
        // A last word the range ends inside of (whole: `at + 8 <= words_end`).
        let last = words.into_remainder();
        if !last.is_empty() {
            let n = last.len();
            put(last, &self.word(at).load(Relaxed).to_ne_bytes()[..n]);
            at += n;
        }
        for b in tail {
            b.write(self.byte(at).load(Relaxed));
            at += 1;
        }
    }

    /// Stores `src` at `offset..` (checked by the caller) with `AtomicU64` accesses of whole
    /// words, as [`read_words`](Self::read_words) loads: a store for each word the range fills,
    /// a [`store_part`](Self::store_part) for one it fills in part; `AtomicU8` stores past the
    /// view's last whole word.
    fn write_words(&self, offset: usize, src: &[u8]) {
        debug_assert!(offset + src.len() <= self.len);
        let words_end = self.len & !7;
        let in_words = src.len().min(words_end.saturating_sub(offset));
        let (mut rest, tail) = src.split_at(in_words);
        let mut at = offset;
        let skip = at % 8;
        if skip != 0 && !rest.is_empty() {
            let n = (8 - skip).min(rest.len());
            self.store_part(at - skip, skip, &rest[..n]);
            rest = &rest[n..];
            at += n;
        }
        let mut words = rest.chunks_exact(8);
        for w in &mut words {
            let w: [u8; 8] = w.try_into().unwrap_or([0; 8]);
            self.word(at).store(u64::from_ne_bytes(w), Relaxed);
            at += 8;
        }
        let last = words.remainder();
        if !last.is_empty() {
            self.store_part(at, 0, last);
            at += last.len();
        }
        for &b in tail {
            self.byte(at).store(b, Relaxed);
            at += 1;
        }
    }

    /// Stores `bytes` at bytes `from..from + bytes.len()` (at most 8) of the whole word at
    /// `word_at`, leaving the word's other bytes as they are, with one atomic read-modify-write
    /// and no loop: an XOR that flips exactly the bits of those bytes that differ from what a
    /// load just read. Another thread's change to the word's other bytes in between is kept;
    /// a change to these same bytes (a racing writer) leaves a mix, as racing stores do.
    fn store_part(&self, word_at: usize, from: usize, bytes: &[u8]) {
        let mut new = [0u8; 8];
        new[from..from + bytes.len()].copy_from_slice(bytes);
        let mut mask = [0u8; 8];
        mask[from..from + bytes.len()].fill(0xFF);
        let (new, mask) = (u64::from_ne_bytes(new), u64::from_ne_bytes(mask));
        let word = self.word(word_at);
        let old = word.load(Relaxed);
        word.fetch_xor((old ^ new) & mask, Relaxed);
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
