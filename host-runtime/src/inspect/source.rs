//! Where an inspection reads from: a file (`pread`) or bytes in memory, and the little-endian
//! readers of a private copy.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::InspectError;

/// Reads `len` bytes at `offset` of a region.
pub(super) trait Source {
    /// The region's size, taken once.
    fn len(&self) -> usize;
    /// Fills `buf` from `offset`; an error if the region is shorter.
    fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), InspectError>;
}

impl Source for &[u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), InspectError> {
        let part = offset
            .checked_add(buf.len())
            .and_then(|end| self.get(offset..end))
            .ok_or(InspectError::Io(io::ErrorKind::UnexpectedEof.into()))?;
        buf.copy_from_slice(part);
        Ok(())
    }
}

/// A region file, read with `pread`.
pub(super) struct FileSource<'a> {
    /// The file, opened read-only.
    pub(super) file: &'a File,
    /// Its size, taken once.
    pub(super) len: usize,
}

impl Source for FileSource<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), InspectError> {
        let offset =
            u64::try_from(offset).map_err(|_| InspectError::TooLarge { needed: offset })?;
        // `pread` until full; a file shrunk meanwhile gives `UnexpectedEof`.
        Ok(self.file.read_exact_at(buf, offset)?)
    }
}

/// A little-endian `u64` at `at` of `bytes` (0 past the end: the callers' offsets are checked).
pub(super) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// A little-endian `u32` at `at` of `bytes` (0 past the end).
pub(super) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}
