//! [`Region`]: an aligned byte buffer to put a [`crate::ByteQueue`] in.

/// Alignment a [`crate::ByteQueue`] region must have: 128 bytes, so that the header's
/// hot words (`head`, `tail`) sit on cache-line pairs of their own.
pub const REGION_ALIGN: usize = 128;

/// `N` bytes aligned to [`crate::REGION_ALIGN`], zeroed: a ready home for a
/// [`crate::ByteQueue`] in a `static`, on the stack or in a `Box`.
///
/// # Examples
///
/// ```
/// use ipc_core::{ByteQueue, Config, Region};
///
/// const SIZE: usize = match ByteQueue::memory_size(Config::new(16, 32)) {
///     Ok(size) => size,
///     Err(_) => panic!("bad queue layout"),
/// };
/// let mut region = Region::<SIZE>::new();
/// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(16, 32)).unwrap();
/// assert_eq!(queue.capacity(), 16);
/// ```
#[derive(Debug)]
#[repr(C, align(128))]
pub struct Region<const N: usize>([u8; N]);

const _: () = assert!(core::mem::align_of::<Region<1>>() == crate::REGION_ALIGN);

impl<const N: usize> Region<N> {
    /// A zeroed region.
    pub const fn new() -> Self {
        Self([0; N])
    }

    /// The bytes, to hand to [`crate::ByteQueue::init`] or [`crate::ByteQueue::attach`].
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl<const N: usize> Default for Region<N> {
    fn default() -> Self {
        Self::new()
    }
}
