//! [`SharedBytes`]: plain bytes in a part of a [`Mapping`](super::Mapping), read and written
//! with atomic accesses, and the [`AtomicsOnly`] types that may be laid over them.

// Unsafe here: atomics laid over raw shared memory, and `Send`/`Sync` for the view.
#![allow(unsafe_code)]

use std::fmt;
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
/// queue's blob pool does). The typed copies ([`get`](Self::get), [`set`](Self::set),
/// [`read_into`](Self::read_into), [`write_from`](Self::write_from)) move every 8-byte
/// aligned word as one `AtomicU64` access, so they do not tear it; the byte copies
/// ([`read`](Self::read), [`write`](Self::write), [`read_append`](Self::read_append)) of 256
/// bytes or more on x86-64 are one `rep movsb` instead, at `memcpy`'s speed, which the
/// language sees as relaxed atomic byte accesses ([`ipc_core::try_bulk_copy`]), and may tear
/// anywhere. Within one process, don't race copies of the same bytes that differ in kind or
/// alignment with each other or with the [`atomics`](Self::atomics) views: Rust's memory
/// model does not allow racing atomic accesses of different sizes (the queue and pool
/// protocols never race on a chunk; between processes, which the model does not see, any mix
/// only garbles bytes).
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

    /// Copies `src` to `offset..offset + src.len()` with relaxed atomic stores (of bytes in one
    /// `rep movsb` for 256 bytes or more on x86-64: see [`SharedBytes`]).
    ///
    /// # Panics
    ///
    /// If the range is out of bounds.
    pub fn write(&self, offset: usize, src: &[u8]) {
        self.check(offset, src.len());
        // SAFETY: the range is in the view (checked), so in the mapping, which `self` keeps
        // mapped; every access of this process to the view's bytes is atomic (this type's
        // rule; racing ones of different sizes are the caveat the type's docs state, as for
        // the word loop's bytes at either end); `src`, borrowed, is not written meanwhile; a
        // private slice and shared memory never overlap.
        if !unsafe { try_bulk_copy(src.as_ptr(), self.ptr.as_ptr().add(offset), src.len()) } {
            self.write_words(offset, src);
        }
    }

    /// [`write`](Self::write) with whole 8-byte atomic stores where the bytes are aligned
    /// (bytes at either end), whatever the length: what the typed stores use, so that a `T`
    /// whose size is a multiple of 8 is stored as the `AtomicU64`s of [`u64_at`](Self::u64_at).
    /// The caller checked the range.
    fn write_words(&self, offset: usize, src: &[u8]) {
        debug_assert!(offset + src.len() <= self.len);
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

    /// Copies `offset..offset + dst.len()` into `dst` with relaxed atomic loads (of bytes in
    /// one `rep movsb` for 256 bytes or more on x86-64: see [`SharedBytes`]).
    ///
    /// # Panics
    ///
    /// If the range is out of bounds.
    pub fn read(&self, offset: usize, dst: &mut [u8]) {
        self.check(offset, dst.len());
        // SAFETY: as in `write`, the other way round: `dst`, borrowed mutably, is ours alone.
        if !unsafe { try_bulk_copy(self.ptr.as_ptr().add(offset), dst.as_mut_ptr(), dst.len()) } {
            self.read_words(offset, dst);
        }
    }

    /// [`read`](Self::read) with whole 8-byte atomic loads where the bytes are aligned, as
    /// [`write_words`](Self::write_words) stores. The caller checked the range.
    fn read_words(&self, offset: usize, dst: &mut [u8]) {
        debug_assert!(offset + dst.len() <= self.len);
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
        // SAFETY: as in `read`: shared bytes in the mapping, accessed only atomically by this
        // process; the `len` spare bytes are `dst`'s own (writable though uninitialised), and
        // private memory never overlaps the mapping.
        if unsafe { try_bulk_copy(src, spare.as_mut_ptr().cast(), len) } {
            // SAFETY: the copy wrote every one of the `len` spare bytes (`reserve` made them).
            unsafe { dst.set_len(dst.len() + len) };
            return;
        }
        let head = ((8 - offset % 8) % 8).min(len);
        let (head_dst, rest) = spare.split_at_mut(head);
        for (i, b) in head_dst.iter_mut().enumerate() {
            b.write(self.byte(offset + i).load(Relaxed));
        }
        let mut at = offset + head;
        let mut words = rest.chunks_exact_mut(8);
        for w in &mut words {
            let word = self.word(at).load(Relaxed).to_ne_bytes();
            for (d, s) in w.iter_mut().zip(word) {
                d.write(s);
            }
            at += 8;
        }
        for b in words.into_remainder() {
            b.write(self.byte(at).load(Relaxed));
            at += 1;
        }
        // SAFETY: `reserve` made room for `len` more bytes, and the loops above wrote every
        // one of `spare[..len]` (the head, the whole words, the remainder), the `len` bytes
        // after the old length.
        unsafe { dst.set_len(dst.len() + len) };
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

    /// A copy of the `T` at byte `offset`, read with relaxed atomic loads (each whole 8-byte
    /// aligned word as one `AtomicU64` load, whatever the size: see [`SharedBytes`]): any
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

    /// Stores `value` at byte `offset` with relaxed atomic stores (each whole 8-byte aligned
    /// word as one `AtomicU64` store, as [`get`](Self::get) loads).
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
