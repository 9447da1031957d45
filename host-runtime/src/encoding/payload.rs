//! Byte payloads in one copy: the encoding of a `Vec<u8>` or a `String` (and of a sequence of
//! them, a pool's chunk) written and read as blocks, on the same wire as postcard's.
//!
//! Serde hands postcard a `Vec<u8>` one byte at a time (`Serialize for Vec<u8>` is a sequence
//! of `u8`s, and its `Deserialize` pushes them back one by one): about 18 instructions a byte
//! for an encode and a decode. On the wire it is postcard's varint length and the bytes, as a
//! `String` is, and as `serde_bytes` would write it; so writing the length and copying the
//! bytes here gives byte-for-byte the same message, and a message written by one path reads
//! with the other. Which types take this path is decided by their [`TypeId`](std::any::TypeId)
//! ([`crate::sys::cast`]); every other type goes through postcard.
//!
//! Errors are postcard's own, for the same faults (a length that runs past the end is
//! `DeserializeUnexpectedEnd`, a bad varint `DeserializeBadVarint`, a `String` that is not
//! UTF-8 `DeserializeBadUtf8`), so callers can't tell the paths apart.

use postcard::Error;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::int::is_int;
use crate::sys::cast::{cast_mut, cast_owned, cast_ref, is};
use crate::sys::text;

/// The most bytes of a varint of a `usize` (a `u64`'s).
pub(crate) const VARINT_MAX: usize = 10;

/// A length as postcard's varint (LEB128: 7 bits a byte, low first, high bit = more).
#[derive(Clone, Copy)]
pub(crate) struct Varint {
    bytes: [u8; VARINT_MAX],
    len: u8,
}

impl Varint {
    #[inline]
    pub(crate) fn new(n: usize) -> Varint {
        // Lossless: `usize` is at most 64 bits on every target this crate builds for.
        Varint::of_u64(n as u64)
    }

    /// A `u64` as postcard's varint (what `serialize_u64` writes).
    #[inline]
    pub(crate) fn of_u64(n: u64) -> Varint {
        let mut bytes = [0; VARINT_MAX];
        if n < 0x80 {
            bytes[0] = n as u8;
            return Varint { bytes, len: 1 };
        }
        if n < 0x4000 {
            bytes[0] = n as u8 | 0x80;
            bytes[1] = (n >> 7) as u8;
            return Varint { bytes, len: 2 };
        }
        // Every 7-bit group with the high bit set (no branch per byte), then the last one's
        // cleared: the varint has as many bytes as 7-bit groups hold the value's bits.
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = (n >> (7 * i)) as u8 | 0x80;
        }
        let len = (u64::BITS - n.leading_zeros()).div_ceil(7) as usize;
        bytes[len - 1] &= 0x7f;
        Varint {
            bytes,
            len: len as u8,
        }
    }

    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// Reads a varint length from the start of `bytes`: the length and the varint's size. As
/// postcard's: `DeserializeUnexpectedEnd` if `bytes` ends inside it, `DeserializeBadVarint` if
/// it is longer than a `u64`'s or overflows one.
#[inline(always)]
pub(crate) fn read_varint(bytes: &[u8]) -> Result<(usize, usize), Error> {
    let (n, at) = super::int::read_uvarint(bytes, 64)?;
    let n = usize::try_from(n).map_err(|_| Error::DeserializeBadVarint)?;
    Ok((n, at))
}

/// The bytes of `item` if its type is a byte payload: `Vec<u8>`, `String` or `[u8]`.
#[inline(always)]
pub(crate) fn as_payload<T: ?Sized>(item: &T) -> Option<&[u8]> {
    if let Some(v) = cast_ref::<T, Vec<u8>>(item) {
        Some(v)
    } else if let Some(s) = cast_ref::<T, String>(item) {
        Some(s.as_bytes())
    } else {
        cast_ref::<T, [u8]>(item)
    }
}

/// Whether a `T` is decoded as a byte payload ([`from_payload`]).
#[inline(always)]
pub(crate) fn is_payload<T>() -> bool {
    is::<T, Vec<u8>>() || is::<T, String>()
}

/// The `T` (a byte payload type: `Vec<u8>` or `String`) whose bytes are `bytes`.
///
/// # Panics
///
/// If `T` is not a byte payload type ([`is_payload`]).
#[inline]
pub(crate) fn from_payload<T>(bytes: Vec<u8>) -> Result<T, Error> {
    let bytes = match cast_owned::<Vec<u8>, T>(bytes) {
        Ok(v) => return Ok(v),
        Err(bytes) => bytes,
    };
    let text = text::utf8_string(bytes).map_err(|_| Error::DeserializeBadUtf8)?;
    match cast_owned::<String, T>(text) {
        Ok(v) => Ok(v),
        Err(_) => unreachable!("from_payload of a type that is not a byte payload"),
    }
}

/// The length of the encoding of `payload`.
#[inline]
pub(crate) fn encoded_len(payload: &[u8]) -> usize {
    Varint::new(payload.len()).as_bytes().len() + payload.len()
}

/// The items of `value` if it is a sequence of byte payloads: `[Vec<u8>]`, `Vec<Vec<u8>>`,
/// `[String]` or `Vec<String>` (a pool's chunk of arguments or results).
enum Seq<'a> {
    Bytes(&'a [Vec<u8>]),
    Text(&'a [String]),
}

#[inline(always)]
fn as_seq<T: ?Sized>(value: &T) -> Option<Seq<'_>> {
    if let Some(v) = cast_ref::<T, [Vec<u8>]>(value) {
        Some(Seq::Bytes(v))
    } else if let Some(v) = cast_ref::<T, Vec<Vec<u8>>>(value) {
        Some(Seq::Bytes(v))
    } else if let Some(v) = cast_ref::<T, [String]>(value) {
        Some(Seq::Text(v))
    } else {
        cast_ref::<T, Vec<String>>(value).map(|v| Seq::Text(v))
    }
}

/// Appends the encoding of `value` to `out`: an integer as its varint, a byte payload or a
/// sequence of them as blocks, anything else through postcard. On an error, `out` may hold
/// part of it.
pub(crate) fn encode_to_vec<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if let Some(varint) = super::int::as_varint(value) {
        out.extend_from_slice(varint.as_bytes());
        return Ok(());
    }
    if let Some(bytes) = as_payload(value) {
        out.reserve(encoded_len(bytes));
        out.extend_from_slice(Varint::new(bytes.len()).as_bytes());
        out.extend_from_slice(bytes);
        return Ok(());
    }
    let push = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend_from_slice(Varint::new(bytes.len()).as_bytes());
        out.extend_from_slice(bytes);
    };
    match as_seq(value) {
        Some(Seq::Bytes(items)) => {
            out.reserve(VARINT_MAX + items.iter().map(|v| encoded_len(v)).sum::<usize>());
            out.extend_from_slice(Varint::new(items.len()).as_bytes());
            items.iter().for_each(|v| push(out, v));
            Ok(())
        }
        Some(Seq::Text(items)) => {
            out.reserve(
                VARINT_MAX
                    + items
                        .iter()
                        .map(|s| encoded_len(s.as_bytes()))
                        .sum::<usize>(),
            );
            out.extend_from_slice(Varint::new(items.len()).as_bytes());
            items.iter().for_each(|s| push(out, s.as_bytes()));
            Ok(())
        }
        None => postcard::serialize_with_flavor(value, Append(out)),
    }
}

/// A postcard output that appends to a `Vec` it borrows.
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline(always)]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    #[inline(always)]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Splits one byte payload off the front of `bytes`: its bytes and the rest.
#[inline]
fn take_bytes(bytes: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let (n, at) = read_varint(bytes)?;
    let rest = &bytes[at..];
    if rest.len() < n {
        return Err(Error::DeserializeUnexpectedEnd);
    }
    Ok(rest.split_at(n))
}

/// Splits a sequence of byte payloads off the front of `bytes`, each made an item by `item`
/// in turn (so the first fault found is postcard's too): the items and the rest.
fn take_seq<I>(
    bytes: &[u8],
    item: impl Fn(&[u8]) -> Result<I, Error>,
) -> Result<(Vec<I>, &[u8]), Error> {
    let (count, at) = read_varint(bytes)?;
    let mut rest = &bytes[at..];
    // Each item takes at least a byte: a count from a garbled message allocates no more than
    // the message is long.
    let mut items = Vec::with_capacity(count.min(rest.len()));
    for _ in 0..count {
        let (payload, after) = take_bytes(rest)?;
        items.push(item(payload)?);
        rest = after;
    }
    Ok((items, rest))
}

/// Decodes one `T` from the front of `bytes` and returns it with the bytes after it (as
/// `postcard::take_from_bytes`): integers as their varint (`super::int`), byte payloads and
/// sequences of them as blocks, anything else through postcard.
#[inline(always)]
pub(crate) fn take_from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, &[u8]), Error> {
    if let Some(taken) = super::int::take_int::<T>(bytes) {
        return taken;
    }
    if is_payload::<T>() {
        let (payload, rest) = take_bytes(bytes)?;
        return Ok((from_payload(payload.to_vec())?, rest));
    }
    if is::<T, Vec<Vec<u8>>>() {
        let (items, rest) = take_seq(bytes, |b| Ok(b.to_vec()))?;
        match cast_owned::<Vec<Vec<u8>>, T>(items) {
            Ok(seq) => return Ok((seq, rest)),
            Err(_) => unreachable!("checked: T is Vec<Vec<u8>>"),
        }
    }
    if is::<T, Vec<String>>() {
        let (items, rest) = take_seq(bytes, |b| {
            String::from_utf8(b.to_vec()).map_err(|_| Error::DeserializeBadUtf8)
        })?;
        match cast_owned::<Vec<String>, T>(items) {
            Ok(seq) => return Ok((seq, rest)),
            Err(_) => unreachable!("checked: T is Vec<String>"),
        }
    }
    super::depth::take_from_bytes(bytes)
}

/// [`take_from_bytes`] into `place`, reusing what it owns where it can: a byte payload's
/// allocation, and whatever `T`'s `deserialize_in_place` reuses; returns the bytes after the
/// item. The same values and errors as [`take_from_bytes`]; on an error, `place` holds a valid
/// value, possibly partly overwritten.
#[inline]
pub(crate) fn take_into<'a, T: DeserializeOwned>(
    bytes: &'a [u8],
    place: &mut T,
) -> Result<&'a [u8], Error> {
    if let Some(v) = cast_mut::<T, Vec<u8>>(place) {
        let (payload, rest) = take_bytes(bytes)?;
        v.clear();
        v.extend_from_slice(payload);
        return Ok(rest);
    }
    if let Some(s) = cast_mut::<T, String>(place) {
        let (payload, rest) = take_bytes(bytes)?;
        let text = text::utf8(payload).ok_or(Error::DeserializeBadUtf8)?;
        s.clear();
        s.push_str(text);
        return Ok(rest);
    }
    if is_int::<T>() || is::<T, Vec<Vec<u8>>>() || is::<T, Vec<String>>() {
        let (value, rest) = take_from_bytes(bytes)?;
        *place = value;
        return Ok(rest);
    }
    super::depth::take_into(bytes, place)
}

/// Decodes a `T` from the front of `bytes`, ignoring what follows (as `postcard::from_bytes`).
#[inline]
pub(crate) fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    take_from_bytes(bytes).map(|(value, _)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Postcard's encoding of `value`, and ours.
    fn both<T: Serialize + ?Sized>(value: &T) -> (Vec<u8>, Vec<u8>) {
        let mut ours = Vec::new();
        encode_to_vec(value, &mut ours).unwrap();
        (postcard::to_allocvec(value).unwrap(), ours)
    }

    #[test]
    fn same_wire_as_postcard() {
        for n in [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
            let v: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let (theirs, ours) = both(&v);
            assert_eq!(theirs, ours, "Vec<u8> of {n}");
            assert_eq!(
                take_from_bytes::<Vec<u8>>(&theirs).unwrap(),
                (v.clone(), &[][..])
            );
            let (theirs, ours) = both(&v[..]);
            assert_eq!(theirs, ours, "[u8] of {n}");
            let s = "é".repeat(n / 2);
            let (theirs, ours) = both(&s);
            assert_eq!(theirs, ours, "String of {}", s.len());
            assert_eq!(take_from_bytes::<String>(&theirs).unwrap().0, s);
        }
        let seq = vec![vec![1u8; 200], vec![], vec![7; 3]];
        let (theirs, ours) = both(&seq);
        assert_eq!(theirs, ours);
        assert_eq!(from_bytes::<Vec<Vec<u8>>>(&ours).unwrap(), seq);
        let (theirs, ours) = both(&seq[..]);
        assert_eq!(theirs, ours);
        let texts = vec!["a".to_string(), "bcd".repeat(50)];
        let (theirs, ours) = both(&texts);
        assert_eq!(theirs, ours);
        assert_eq!(from_bytes::<Vec<String>>(&ours).unwrap(), texts);
        // Other types: postcard's path.
        let (theirs, ours) = both(&(1u64, 2.5f64, "x".to_string()));
        assert_eq!(theirs, ours);
    }

    #[test]
    fn varints_as_postcards() {
        for n in [
            0usize,
            1,
            127,
            128,
            255,
            16_384,
            u32::MAX as usize,
            usize::MAX,
        ] {
            let v = Varint::new(n);
            assert_eq!(v.as_bytes(), postcard::to_allocvec(&(n as u64)).unwrap());
            assert_eq!(read_varint(v.as_bytes()).unwrap(), (n, v.as_bytes().len()));
        }
        // Every length of varint, at both ends.
        for bit in 0..64 {
            for n in [(1u64 << bit) - 1, 1 << bit, (1 << bit) + 1] {
                let v = Varint::of_u64(n);
                assert_eq!(v.as_bytes(), postcard::to_allocvec(&n).unwrap(), "{n}");
            }
        }
        assert_eq!(read_varint(&[]), Err(Error::DeserializeUnexpectedEnd));
        assert_eq!(read_varint(&[0x80]), Err(Error::DeserializeUnexpectedEnd));
        assert_eq!(read_varint(&[0xff; 10]), Err(Error::DeserializeBadVarint));
        assert_eq!(read_varint(&[0xff; 11]), Err(Error::DeserializeBadVarint));
    }

    /// Decodes `bytes` as a `T` both ways: the same value and rest, or the same error.
    fn same_decode<T: DeserializeOwned + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
        crate::encoding::same_as_postcard(bytes, take_from_bytes::<T>(bytes));
    }

    #[test]
    fn random_bytes_decode_as_postcard_decodes_them() {
        // xorshift; lengths and bytes biased to small numbers, so that lengths often fit.
        let mut next = crate::test_util::xorshift(0x9e37_79b9_7f4a_7c15);
        let rounds = if cfg!(miri) { 50 } else { 20_000 };
        for _ in 0..rounds {
            let len = (next() % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| match next() % 4 {
                    0 => (next() % 6) as u8,
                    1 => 0x80 | (next() % 4) as u8,
                    2 => b'a' + (next() % 3) as u8,
                    _ => next() as u8,
                })
                .collect();
            same_decode::<Vec<u8>>(&bytes);
            same_decode::<String>(&bytes);
            same_decode::<Vec<Vec<u8>>>(&bytes);
            same_decode::<Vec<String>>(&bytes);
        }
    }

    #[test]
    fn garbled_payloads_are_postcards_errors() {
        let cases: [&[u8]; 5] = [&[], &[5, 1, 2], &[0xff; 12], &[0x80], &[2, 0xff, 0xfe]];
        for bytes in cases {
            let ours = take_from_bytes::<Vec<u8>>(bytes).map(|(v, r)| (v, r.to_vec()));
            let theirs = postcard::take_from_bytes::<Vec<u8>>(bytes).map(|(v, r)| (v, r.to_vec()));
            assert_eq!(ours, theirs, "Vec<u8> from {bytes:?}");
            let ours = take_from_bytes::<String>(bytes).map(|(v, r)| (v, r.to_vec()));
            let theirs = postcard::take_from_bytes::<String>(bytes).map(|(v, r)| (v, r.to_vec()));
            assert_eq!(ours, theirs, "String from {bytes:?}");
            let ours = from_bytes::<Vec<Vec<u8>>>(bytes);
            let theirs = postcard::from_bytes::<Vec<Vec<u8>>>(bytes);
            assert_eq!(ours, theirs, "Vec<Vec<u8>> from {bytes:?}");
        }
        // A huge count in a short message: refused, without a huge allocation.
        let mut bytes = Varint::new(usize::MAX >> 1).as_bytes().to_vec();
        bytes.push(0);
        assert_eq!(
            from_bytes::<Vec<Vec<u8>>>(&bytes),
            Err(Error::DeserializeUnexpectedEnd)
        );
    }
}
