//! Text from bytes without std's byte-at-a-time walk for short, unaligned ASCII strings.
//!
//! `core::str::from_utf8` checks ASCII a word at a time only from an aligned address on, and
//! only in blocks of two words: the string in a decoded message (which starts wherever the
//! encoding puts it) is checked a byte at a time, ~7 instructions a byte. `[u8]::is_ascii` reads
//! unaligned words; ASCII is valid UTF-8, so a string that passes it is made a `str` unchecked.

// Unsafe here: the unchecked conversions, each after its ASCII check.
#![allow(unsafe_code)]

/// `bytes` as a `str` if they are valid UTF-8 (as `core::str::from_utf8`, faster for ASCII).
#[inline]
pub(crate) fn utf8(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        // SAFETY: every byte is below 0x80 (checked just above): ASCII, which is valid UTF-8.
        Some(unsafe { core::str::from_utf8_unchecked(bytes) })
    } else {
        core::str::from_utf8(bytes).ok()
    }
}

/// `bytes` as a `String` if they are valid UTF-8 (as `String::from_utf8`, faster for ASCII),
/// else `bytes` back.
#[inline]
pub(crate) fn utf8_string(bytes: Vec<u8>) -> Result<String, Vec<u8>> {
    if bytes.is_ascii() {
        // SAFETY: every byte is below 0x80 (checked just above): ASCII, which is valid UTF-8.
        Ok(unsafe { String::from_utf8_unchecked(bytes) })
    } else {
        String::from_utf8(bytes).map_err(|e| e.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_std_decides() {
        let cases: [&[u8]; 8] = [
            b"",
            b"sixteen chars!!!",
            "é and ü".as_bytes(),
            b"\x7f\x00abc",
            b"\x80",
            b"abc\xff",
            b"\xe2\x82",
            &[b'a'; 100],
        ];
        for bytes in cases {
            assert_eq!(utf8(bytes), core::str::from_utf8(bytes).ok(), "{bytes:x?}");
            // At every alignment.
            for start in 0..bytes.len() {
                let b = &bytes[start..];
                assert_eq!(utf8(b), core::str::from_utf8(b).ok(), "{b:x?}");
                assert_eq!(
                    utf8_string(b.to_vec()),
                    String::from_utf8(b.to_vec()).map_err(|e| e.into_bytes()),
                    "{b:x?}"
                );
            }
        }
    }
}
