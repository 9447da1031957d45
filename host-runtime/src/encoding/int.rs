//! Integers in one step: an item that is a `u64`, `u32`, `usize`, `i64` or `i32` written and
//! read as postcard's varint directly, on the same wire as postcard's.
//!
//! Through serde, a `Queue<u64>` put hands the number to postcard's `Serializer` (a varint into
//! a scratch array, then copied out through the output flavor) and a get takes it back through
//! its `Deserializer` one byte at a time, each with its own end check: about 150 instructions a
//! put+get for a varint of 7 bytes. postcard writes these types as an LEB128 varint (the
//! signed ones zigzag-mapped first: `(n << 1) ^ (n >> 63)`), which is what [`Varint`] writes;
//! so a message written by one path reads with the other. Which types take this path is
//! decided by their [`TypeId`](std::any::TypeId) ([`crate::sys::cast`]).
//!
//! Errors are postcard's own, for the same faults: a message that ends inside the varint is
//! `DeserializeUnexpectedEnd`; a varint longer than the type's (10 bytes for 64 bits, 5 for
//! 32) or whose last byte holds bits past the type's width is `DeserializeBadVarint`.

use postcard::Error;

use super::payload::Varint;
use crate::sys::cast::{cast_owned, cast_ref, is, LifetimeFree};

/// The varint of `item` if its type is one of this module's integers.
#[inline(always)]
pub(crate) fn as_varint<T: ?Sized>(item: &T) -> Option<Varint> {
    if let Some(&n) = cast_ref::<T, u64>(item) {
        Some(Varint::of_u64(n))
    } else if let Some(&n) = cast_ref::<T, u32>(item) {
        Some(Varint::of_u64(n.into()))
    } else if let Some(&n) = cast_ref::<T, usize>(item) {
        Some(Varint::new(n))
    } else if let Some(&n) = cast_ref::<T, i64>(item) {
        Some(Varint::of_u64(((n << 1) ^ (n >> 63)) as u64))
    } else {
        cast_ref::<T, i32>(item).map(|&n| Varint::of_u64(u64::from(((n << 1) ^ (n >> 31)) as u32)))
    }
}

/// Whether a `T` is one of this module's integers (decoded by [`take_int`]).
#[inline(always)]
pub(crate) fn is_int<T>() -> bool {
    is::<T, u64>() || is::<T, u32>() || is::<T, usize>() || is::<T, i64>() || is::<T, i32>()
}

/// Decodes one `T` from the front of `bytes` if `T` is one of this module's integers, and
/// returns it with the bytes after it (as `postcard::take_from_bytes`); `None` for any other
/// type.
#[inline(always)]
pub(crate) fn take_int<T>(bytes: &[u8]) -> Option<Result<(T, &[u8]), Error>> {
    if !is_int::<T>() {
        return None;
    }
    let value = |bits| {
        let (n, at) = read_uvarint(bytes, bits)?;
        Ok((n, &bytes[at..]))
    };
    Some(if is::<T, u64>() {
        value(64).map(|(n, rest)| (same::<u64, T>(n), rest))
    } else if is::<T, u32>() {
        // At most 32 bits: `read_uvarint` checked the last byte.
        value(32).map(|(n, rest)| (same::<u32, T>(n as u32), rest))
    } else if is::<T, usize>() {
        // serde reads a `usize` as a `u64`, and refuses one that does not fit.
        value(64).and_then(|(n, rest)| {
            let n = usize::try_from(n).map_err(|_| Error::SerdeDeCustom)?;
            Ok((same::<usize, T>(n), rest))
        })
    } else if is::<T, i64>() {
        value(64).map(|(n, rest)| {
            let n = ((n >> 1) as i64) ^ -((n & 1) as i64);
            (same::<i64, T>(n), rest)
        })
    } else {
        value(32).map(|(n, rest)| {
            let n = n as u32;
            let n = ((n >> 1) as i32) ^ -((n & 1) as i32);
            (same::<i32, T>(n), rest)
        })
    })
}

/// `value` as a `T`, which the caller checked is `U`.
#[inline(always)]
fn same<U: LifetimeFree, T>(value: U) -> T {
    match cast_owned::<U, T>(value) {
        Ok(value) => value,
        Err(_) => unreachable!("checked: T is U"),
    }
}

/// Reads postcard's varint of an unsigned integer of `bits` bits (16, 32 or 64) from the start
/// of `bytes`: the value and the varint's size. As postcard's `try_take_varint_u*`: at most
/// `ceil(bits / 7)` bytes; `DeserializeUnexpectedEnd` if `bytes` ends inside it;
/// `DeserializeBadVarint` if it runs longer, or if its last possible byte holds bits past
/// `bits`.
#[inline(always)]
pub(crate) fn read_uvarint(bytes: &[u8], bits: u32) -> Result<(u64, usize), Error> {
    let max = bits.div_ceil(7) as usize;
    let last_max = (1u8 << (bits % 7)) - 1;
    let mut n: u64 = 0;
    for i in 0..max {
        let Some(&b) = bytes.get(i) else {
            return Err(Error::DeserializeUnexpectedEnd);
        };
        n |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i == max - 1 && b > last_max {
                return Err(Error::DeserializeBadVarint);
            }
            return Ok((n, i + 1));
        }
    }
    Err(Error::DeserializeBadVarint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use std::fmt::Debug;

    /// `value` encodes as postcard encodes it, and decodes back.
    fn same_wire<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: T) {
        let theirs = postcard::to_allocvec(&value).unwrap();
        let ours = as_varint(&value).expect("an integer type");
        assert_eq!(ours.as_bytes(), theirs, "{value:?}");
        let (back, rest) = take_int::<T>(&theirs).unwrap().unwrap();
        assert_eq!((back, rest), (value, &[][..]));
    }

    #[test]
    fn same_wire_as_postcard() {
        for n in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX.into(),
            u64::MAX,
        ] {
            same_wire(n);
            same_wire(n as u32);
            same_wire(n as usize);
            same_wire(n as i64);
            same_wire(-(n as i64));
            same_wire(n as i32);
            same_wire(-(n as i32));
        }
        for n in [i64::MIN, i64::MAX] {
            same_wire(n);
        }
        for n in [i32::MIN, i32::MAX] {
            same_wire(n);
        }
        assert!(as_varint(&1u8).is_none() && as_varint(&1i16).is_none());
        assert!(take_int::<u8>(&[1]).is_none() && take_int::<String>(&[0]).is_none());
    }

    /// Decodes `bytes` as a `T` both ways: the same value and rest, or the same error.
    fn same_decode<T: DeserializeOwned + PartialEq + Debug>(bytes: &[u8]) {
        crate::encoding::same_as_postcard(bytes, take_int::<T>(bytes).expect("an integer type"));
    }

    #[test]
    fn random_bytes_decode_as_postcard_decodes_them() {
        // xorshift; bytes biased to continuation bytes and small last bytes, so that varints
        // often run to their full length.
        let mut next = crate::test_util::xorshift(0x2545_f491_4f6c_dd1d);
        let rounds = if cfg!(miri) { 50 } else { 20_000 };
        for _ in 0..rounds {
            let len = (next() % 13) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| match next() % 3 {
                    0 => 0x80 | next() as u8,
                    1 => (next() % 20) as u8,
                    _ => next() as u8,
                })
                .collect();
            same_decode::<u64>(&bytes);
            same_decode::<u32>(&bytes);
            same_decode::<usize>(&bytes);
            same_decode::<i64>(&bytes);
            same_decode::<i32>(&bytes);
        }
    }

    #[test]
    fn garbled_varints_are_postcards_errors() {
        let cases: [&[u8]; 7] = [
            &[],
            &[0x80],
            &[0xff; 10],
            &[0xff; 11],
            &[0xff, 0xff, 0xff, 0xff, 0x10],
            &[0xff, 0xff, 0xff, 0xff, 0x0f, 7],
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02],
        ];
        for bytes in cases {
            same_decode::<u64>(bytes);
            same_decode::<u32>(bytes);
            same_decode::<usize>(bytes);
            same_decode::<i64>(bytes);
            same_decode::<i32>(bytes);
        }
    }
}
