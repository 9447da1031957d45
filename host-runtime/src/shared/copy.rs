//! [`PrivateCopy`]: bytes copied out of a region into memory of this process alone, aligned as
//! a queue region (`ipc_core::REGION_ALIGN`), so that ipc-core's checked views (`ByteQueue`)
//! can read a snapshot of a region that no process writes, and that reading it writes nothing
//! shared (the inspection of `crate::inspect`).

// Unsafe here: viewing a vector of aligned byte blocks as one byte slice.
#![allow(unsafe_code)]

use ipc_core::REGION_ALIGN;

use super::region::AtomicsOnly;

/// `REGION_ALIGN` bytes, aligned to `REGION_ALIGN`: no padding, any bits valid.
#[derive(Clone, Copy)]
#[repr(C, align(128))]
struct Block([u8; REGION_ALIGN]);

const _: () = assert!(core::mem::size_of::<Block>() == REGION_ALIGN);
const _: () = assert!(core::mem::align_of::<Block>() == REGION_ALIGN);

/// A zeroed, `REGION_ALIGN`-aligned buffer of `len` bytes owned by this process.
pub(crate) struct PrivateCopy {
    blocks: Vec<Block>,
    len: usize,
}

impl PrivateCopy {
    /// `len` zero bytes; `None` if the memory cannot be had (never an abort).
    pub(crate) fn zeroed(len: usize) -> Option<PrivateCopy> {
        let count = len.div_ceil(REGION_ALIGN);
        let mut blocks = Vec::new();
        blocks.try_reserve_exact(count).ok()?;
        blocks.resize(count, Block([0; REGION_ALIGN]));
        Some(PrivateCopy { blocks, len })
    }

    /// The bytes, aligned to `REGION_ALIGN`.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `blocks` holds `count * REGION_ALIGN >= len` initialised bytes (a `Block` is
        // a byte array with no padding, size and alignment asserted above), borrowed mutably
        // with `self` for the slice's lifetime; `u8` has alignment 1.
        unsafe { core::slice::from_raw_parts_mut(self.blocks.as_mut_ptr().cast::<u8>(), self.len) }
    }

    /// `count` values of `T` at byte `offset`, or `None` if they do not lie in the copy or
    /// `offset` is not aligned for `T`.
    pub(crate) fn atomics<T: AtomicsOnly>(&self, offset: usize, count: usize) -> Option<&[T]> {
        let len = count.checked_mul(core::mem::size_of::<T>())?;
        if offset.checked_add(len)? > self.len || offset % core::mem::align_of::<T>() != 0 {
            return None;
        }
        // SAFETY: in bounds (checked above) of the `len` initialised bytes of `blocks`, whose
        // start is aligned to `REGION_ALIGN` (128, a multiple of `T`'s alignment, at most 8:
        // `AtomicsOnly`), so `offset` (checked) is aligned for `T`; every bit pattern is a valid
        // `T` (`AtomicsOnly`), changed only through atomics behind `&T`; the borrow of `self`
        // keeps the memory alive and unmoved.
        Some(unsafe {
            core::slice::from_raw_parts(
                self.blocks.as_ptr().cast::<u8>().add(offset).cast::<T>(),
                count,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_zeroed() {
        for len in [0, 1, 127, 128, 129, 5000] {
            let mut copy = PrivateCopy::zeroed(len).unwrap();
            let bytes = copy.as_mut_slice();
            assert_eq!(bytes.len(), len);
            assert_eq!(bytes.as_ptr() as usize % REGION_ALIGN, 0);
            assert!(bytes.iter().all(|&b| b == 0));
        }
    }
}
