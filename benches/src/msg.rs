//! The messages every bench sends: a sequence number in the first 8 bytes, the rest filler.

/// The message size of the cross-process benches, in bytes.
pub const MSG_LEN: usize = 64;

/// The sequence number that tells an echo or producer process to exit.
pub const STOP: u64 = u64::MAX;

/// A message of `MSG_LEN` bytes carrying `seq`.
///
/// # Examples
///
/// ```
/// let m = benches::msg::message(7);
/// assert_eq!(benches::msg::seq_of(&m), 7);
/// ```
pub fn message(seq: u64) -> [u8; MSG_LEN] {
    let mut m = [0xA5u8; MSG_LEN];
    stamp(&mut m, seq);
    m
}

/// Writes `seq` into the first 8 bytes of `buf` (little-endian).
///
/// # Panics
///
/// If `buf` is shorter than 8 bytes.
#[inline]
pub fn stamp(buf: &mut [u8], seq: u64) {
    buf[..8].copy_from_slice(&seq.to_le_bytes());
}

/// The sequence number in the first 8 bytes of `buf`.
///
/// # Panics
///
/// If `buf` is shorter than 8 bytes.
#[inline]
pub fn seq_of(buf: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[..8]);
    u64::from_le_bytes(b)
}
