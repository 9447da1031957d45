//! Cache-line padding.

use core::ops::Deref;

/// Pads and aligns `T` to 128 bytes: two 64-byte lines, because x86's spatial
/// prefetcher pulls lines in pairs (crossbeam's `CachePadded` does the same).
#[derive(Debug, Default)]
#[repr(C, align(128))]
pub struct CachePadded<T>(T);

impl<T> CachePadded<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        Self(value)
    }
}

impl<T> Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}
