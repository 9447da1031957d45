//! A nesting limit for decoding messages another process wrote.
//!
//! postcard's decoder recurses once per level of nesting and has no limit of its own. An item
//! type that nests without bound (a recursive `enum List { Cons(u32, Box<List>), Nil }`, an
//! `Option<Box<Self>>` field) decoded from a long hostile message of nested `Some`s would recurse
//! once per byte and overflow the stack: an abort, which the hostile-memory rules rule out.
//! [`take_from_bytes`] runs postcard's decoder behind [`Limited`], a serde adapter that counts the
//! levels it passes (options, sequences, tuples, structs, maps, enums, newtypes) and refuses the
//! message past [`MAX_DEPTH`] with a decode error. serde_json does the same with its own
//! recursion limit, of the same size.
//!
//! The adapter wraps each serde role in turn (deserializer, visitor, seed, and the accessors a
//! visitor is given) and forwards every call; only the visitor's nested entries count a level.
//! Everything is generic and inlined: a value that does not nest costs nothing extra.
//!
//! One call is not only forwarded: a string is asked of postcard as a byte string (the same
//! wire: a varint length and the bytes) and checked as UTF-8 here, by `crate::sys::text`, which
//! is quicker than postcard's `core::str::from_utf8` for the short, unaligned ASCII strings of
//! typical messages; the values and errors are postcard's.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use crate::sys::cast::cast_owned;
use crate::sys::text;

/// Levels of nesting a decoded message may have (serde_json's limit): deeper is an `Invalid`
/// decode error, never a stack overflow.
pub(crate) const MAX_DEPTH: usize = 128;

/// Decodes one `T` from the front of `bytes` with postcard, at most [`MAX_DEPTH`] levels deep,
/// and returns it with the bytes after it (as `postcard::take_from_bytes`).
pub(crate) fn take_from_bytes<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, &[u8]), postcard::Error> {
    let mut decoder = postcard::Deserializer::from_bytes(bytes);
    let value = T::deserialize(Limited::new(&mut decoder, MAX_DEPTH))?;
    Ok((value, decoder.finalize()?))
}

/// Decodes one `T` from the front of `bytes` into `place` with postcard, at most [`MAX_DEPTH`]
/// levels deep, reusing what `place` owns where the type's `Deserialize` can
/// (`deserialize_in_place`: e.g. a `String`'s or a `Vec`'s allocation); returns the bytes after
/// it. On an error, `place` holds a valid value, possibly partly overwritten.
pub(crate) fn take_into<'a, T: DeserializeOwned>(
    bytes: &'a [u8],
    place: &mut T,
) -> Result<&'a [u8], postcard::Error> {
    let mut decoder = postcard::Deserializer::from_bytes(bytes);
    T::deserialize_in_place(Limited::new(&mut decoder, MAX_DEPTH), place)?;
    decoder.finalize()
}

/// Decodes a `T` from the front of `bytes`, ignoring what follows (as `postcard::from_bytes`),
/// at most [`MAX_DEPTH`] levels deep.
pub(crate) fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    take_from_bytes(bytes).map(|(value, _)| value)
}

/// One serde role (`inner`) with the levels of nesting still allowed below it.
#[derive(Clone, Copy)]
pub(crate) struct Limited<T> {
    inner: T,
    depth: usize,
}

impl<T> Limited<T> {
    fn new(inner: T, depth: usize) -> Limited<T> {
        Limited { inner, depth }
    }

    /// The same depth for another role at this level.
    fn wrap<U>(&self, inner: U) -> Limited<U> {
        Limited::new(inner, self.depth)
    }

    /// One level down: the depth left for what `inner` nests, or the error past the limit.
    fn descend<U, E: de::Error>(&self, inner: U) -> Result<Limited<U>, E> {
        match self.depth.checked_sub(1) {
            Some(depth) => Ok(Limited::new(inner, depth)),
            None => Err(E::custom(format_args!(
                "nested more than {MAX_DEPTH} levels deep"
            ))),
        }
    }
}

/// Forwards `deserialize_*` calls, handing the visitor over wrapped.
macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        #[inline]
        fn $method<V: Visitor<'de>>(self $(, $arg: $ty)*, visitor: V) -> Result<V::Value, D::Error> {
            let visitor = self.wrap(visitor);
            self.inner.$method($($arg,)* visitor)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Limited<D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any(); deserialize_bool(); deserialize_i8(); deserialize_i16();
        deserialize_i32(); deserialize_i64(); deserialize_i128(); deserialize_u8();
        deserialize_u16(); deserialize_u32(); deserialize_u64(); deserialize_u128();
        deserialize_f32(); deserialize_f64(); deserialize_char();
        deserialize_bytes(); deserialize_byte_buf(); deserialize_option();
        deserialize_unit(); deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str); deserialize_seq();
        deserialize_tuple(len: usize); deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier(); deserialize_ignored_any();
    }

    /// A string is postcard's byte string (its varint length and its bytes) checked as UTF-8:
    /// taken as bytes, checked by [`text::utf8`] (fast for ASCII), then handed to the visitor
    /// as postcard hands it (`visit_borrowed_str`).
    #[inline]
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let visitor = Text {
            inner: self.wrap(visitor),
            owned: false,
        };
        self.inner.deserialize_bytes(visitor)
    }

    /// As [`deserialize_str`](Self::deserialize_str), handed over as postcard hands it
    /// (`visit_str`).
    #[inline]
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let visitor = Text {
            inner: self.wrap(visitor),
            owned: true,
        };
        self.inner.deserialize_bytes(visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// The visitor of a string, given the string's bytes (the adapter asks postcard for a byte
/// string, which is the same wire): checks them as UTF-8, then hands `inner` the `str` by the
/// call postcard's `deserialize_string` (`owned`) or `deserialize_str` makes. Not UTF-8:
/// postcard's own error, `DeserializeBadUtf8`.
///
/// This is sound for postcard, the only format [`Limited`] wraps: its strings and byte
/// strings are both a varint length and the bytes, and nothing else.
struct Text<V> {
    inner: V,
    owned: bool,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Text<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    #[inline]
    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        let s = text::utf8(v).ok_or_else(bad_utf8)?;
        if self.owned {
            self.inner.visit_str(s)
        } else {
            self.inner.visit_borrowed_str(s)
        }
    }

    #[inline]
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<V::Value, E> {
        self.inner.visit_str(text::utf8(v).ok_or_else(bad_utf8)?)
    }
}

/// postcard's error for a string that is not UTF-8, as the error type `E` (postcard's own, in
/// every decode [`Limited`] runs; a custom error of another decoder's type otherwise).
fn bad_utf8<E: de::Error>() -> E {
    cast_owned::<postcard::Error, E>(postcard::Error::DeserializeBadUtf8)
        .unwrap_or_else(|_| E::custom("a string is not UTF-8"))
}

/// Forwards `visit_*` calls that carry a plain value.
macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {$(
        #[inline]
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Limited<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool); visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_i64(i64);
        visit_i128(i128); visit_u8(u8); visit_u16(u16); visit_u32(u32); visit_u64(u64);
        visit_u128(u128); visit_f32(f32); visit_f64(f64); visit_char(char); visit_str(&str);
        visit_borrowed_str(&'de str); visit_string(String); visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]); visit_byte_buf(Vec<u8>);
    }

    #[inline]
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    #[inline]
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    #[inline]
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        let d = self.descend(d)?;
        self.inner.visit_some(d)
    }

    #[inline]
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        let d = self.descend(d)?;
        self.inner.visit_newtype_struct(d)
    }

    #[inline]
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let seq = self.descend(seq)?;
        self.inner.visit_seq(seq)
    }

    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let map = self.descend(map)?;
        self.inner.visit_map(map)
    }

    #[inline]
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        let data = self.descend(data)?;
        self.inner.visit_enum(data)
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Limited<S> {
    type Value = S::Value;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        let d = self.wrap(d);
        self.inner.deserialize(d)
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Limited<A> {
    type Error = A::Error;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let seed = self.wrap(seed);
        self.inner.next_element_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Limited<A> {
    type Error = A::Error;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let seed = self.wrap(seed);
        self.inner.next_key_seed(seed)
    }

    #[inline]
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let seed = self.wrap(seed);
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Limited<A> {
    type Error = A::Error;
    type Variant = Limited<A::Variant>;

    #[inline]
    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let depth = self.depth;
        let (value, variant) = self.inner.variant_seed(Limited::new(seed, depth))?;
        Ok((value, Limited::new(variant, depth)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Limited<A> {
    type Error = A::Error;

    #[inline]
    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    #[inline]
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        let seed = self.wrap(seed);
        self.inner.newtype_variant_seed(seed)
    }

    #[inline]
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let visitor = self.wrap(visitor);
        self.inner.tuple_variant(len, visitor)
    }

    #[inline]
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let visitor = self.wrap(visitor);
        self.inner.struct_variant(fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    /// A type that nests without bound.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum List {
        Cons(u32, Box<List>),
        Nil,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Tree {
        value: u8,
        children: Vec<Tree>,
        next: Option<Box<Tree>>,
    }

    fn list(len: u32) -> List {
        (0..len).fold(List::Nil, |tail, i| List::Cons(i, Box::new(tail)))
    }

    #[test]
    fn values_within_the_limit_decode_as_postcard_decodes_them() {
        let tree = Tree {
            value: 1,
            children: vec![
                Tree {
                    value: 2,
                    children: vec![],
                    next: None,
                },
                Tree {
                    value: 3,
                    children: vec![],
                    next: Some(Box::new(Tree {
                        value: 4,
                        children: vec![],
                        next: None,
                    })),
                },
            ],
            next: None,
        };
        let bytes = postcard::to_allocvec(&tree).unwrap();
        assert_eq!(from_bytes::<Tree>(&bytes).unwrap(), tree);
        // A list of 60 cells nests 120 levels (the enum, then its tuple variant's fields).
        let bytes = postcard::to_allocvec(&list(60)).unwrap();
        assert_eq!(from_bytes::<List>(&bytes).unwrap(), list(60));
        // Every shape serde has, and what follows the item is handed back.
        type Shapes = (
            Option<u8>,
            Vec<String>,
            std::collections::BTreeMap<u8, (bool, char)>,
            (),
        );
        let shapes: Shapes = (Some(7), vec!["é".into()], [(1, (true, 'x'))].into(), ());
        let mut bytes = postcard::to_allocvec(&shapes).unwrap();
        bytes.push(0xAA);
        let (value, rest) = take_from_bytes::<Shapes>(&bytes).unwrap();
        assert_eq!((value, rest), (shapes, &[0xAA][..]));
    }

    /// Decodes `bytes` as a `T` both ways: the same value and rest, or the same error.
    fn same_decode<T: DeserializeOwned + PartialEq + fmt::Debug>(bytes: &[u8]) {
        crate::encoding::same_as_postcard(bytes, take_from_bytes::<T>(bytes));
    }

    #[test]
    fn strings_decode_as_postcard_decodes_them() {
        // Valid strings at every length around the word sizes, at odd offsets, ASCII or not.
        for n in 0..40 {
            let ascii: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let mixed: String = ascii
                .chars()
                .map(|c| if c == 'c' { 'é' } else { c })
                .collect();
            for s in [ascii, mixed] {
                for value in [(1u8, s.clone()), (200u8, s.clone())] {
                    let bytes = postcard::to_allocvec(&value).unwrap();
                    same_decode::<(u8, String)>(&bytes);
                    same_decode::<(u8, Box<str>)>(&bytes);
                    assert_eq!(from_bytes::<(u8, String)>(&bytes).unwrap(), value);
                }
            }
        }
        // Random bytes: lengths that often fit, bytes often ASCII, sometimes not UTF-8.
        let mut next = crate::test_util::xorshift(0x9e37_79b9_7f4a_7c15);
        let rounds = if cfg!(miri) { 50 } else { 20_000 };
        for _ in 0..rounds {
            let len = (next() % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| match next() % 5 {
                    0 => (next() % 12) as u8,
                    1 => 0xc3,
                    2 => 0x80 | (next() % 0x40) as u8,
                    _ => b'a' + (next() % 26) as u8,
                })
                .collect();
            same_decode::<String>(&bytes);
            same_decode::<(u64, String)>(&bytes);
            same_decode::<Option<String>>(&bytes);
            same_decode::<Vec<String>>(&bytes);
        }
        // Not UTF-8: postcard's own error.
        assert_eq!(
            from_bytes::<String>(&[2, b'a', 0xff]),
            Err(postcard::Error::DeserializeBadUtf8)
        );
    }

    #[test]
    fn a_message_nested_past_the_limit_is_an_error_not_a_stack_overflow() {
        // A hostile message: a million nested `Cons(0, ...)` cells (tag 0, then a zero u32).
        let hostile = [0u8, 0].repeat(1 << 20);
        assert!(matches!(
            from_bytes::<List>(&hostile),
            Err(postcard::Error::SerdeDeCustom)
        ));
        // Nested options: `Some(Some(...))` is one byte per level.
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)] // the field is only decoded
        struct Chain(Option<Box<Chain>>);
        let hostile = vec![1u8; 1 << 20];
        assert!(from_bytes::<Chain>(&hostile).is_err());
        // The limit is exact: one level per enum here (tag 0: one level deeper, 1: the end).
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)] // the field is only decoded
        enum Nest {
            Deeper(Box<Nest>),
            End,
        }
        let levels = |n: usize| [vec![0u8; n - 1], vec![1u8]].concat();
        assert!(from_bytes::<Nest>(&levels(MAX_DEPTH)).is_ok());
        assert!(from_bytes::<Nest>(&levels(MAX_DEPTH + 1)).is_err());
    }
}
