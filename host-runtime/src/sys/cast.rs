//! Type-checked casts from a generic type to one of a few concrete ones: what specialization
//! would give the encoding (`crate::encoding`), which moves the bytes of a `Vec<u8>` or a
//! `String` in one copy where serde would move them one at a time.
//!
//! The check is [`typeid::of`], the [`TypeId`] of a type with its lifetimes erased (`T` of a
//! `Queue<T>` need not be `'static`). Erasing lifetimes is why the targets are sealed to
//! [`LifetimeFree`] types: a type whose erased id equals that of a type with no lifetime at
//! all has none either, so it *is* that type and the cast changes nothing but the static type.

// Unsafe here: the casts, each after its `TypeId` check.
#![allow(unsafe_code)]

use std::any::TypeId;
use std::mem::ManuallyDrop;

mod sealed {
    pub trait Sealed {}
}

/// A type with no lifetime parameter anywhere in it: the only targets of the casts.
///
/// Sealed: implemented here for `u8`, a few other integers, `String`, and `Vec`s and slices of
/// them.
pub(crate) trait LifetimeFree: sealed::Sealed + 'static {}

macro_rules! lifetime_free {
    ($($t:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl LifetimeFree for $t {}
    )*};
}

lifetime_free!(
    u8,
    u32,
    u64,
    usize,
    i32,
    i64,
    String,
    Vec<u8>,
    Vec<String>,
    Vec<Vec<u8>>,
    [u8],
    [String],
    [Vec<u8>]
);

impl sealed::Sealed for postcard::Error {}
impl LifetimeFree for postcard::Error {}

/// Whether `T` is `U`.
#[inline(always)]
pub(crate) fn is<T: ?Sized, U: ?Sized + LifetimeFree>() -> bool {
    typeid::of::<T>() == TypeId::of::<U>()
}

/// `value` as a `&U`, if `T` is `U`.
#[inline(always)]
pub(crate) fn cast_ref<T: ?Sized, U: ?Sized + LifetimeFree>(value: &T) -> Option<&U> {
    if !is::<T, U>() {
        return None;
    }
    // SAFETY: `T` is `U`: their `TypeId`s with lifetimes erased are equal (checked above), and
    // `U` has no lifetime to erase (`LifetimeFree`), so neither has `T`. `&T` and `&U` are then
    // the same type (same size, same pointer metadata), with the same lifetime.
    Some(unsafe { std::mem::transmute_copy::<&T, &U>(&value) })
}

/// `value` as a `&mut U`, if `T` is `U`.
#[inline(always)]
pub(crate) fn cast_mut<T: ?Sized, U: ?Sized + LifetimeFree>(value: &mut T) -> Option<&mut U> {
    if !is::<T, U>() {
        return None;
    }
    // SAFETY: as in `cast_ref`: `T` is `U`, so `&mut T` and `&mut U` are the same type, with the
    // same lifetime; the exclusive borrow moves from `value` to the result.
    Some(unsafe { std::mem::transmute_copy::<&mut T, &mut U>(&value) })
}

/// `value` as a `T`, if `T` is `U`; `value` back otherwise.
#[inline(always)]
pub(crate) fn cast_owned<U: LifetimeFree, T>(value: U) -> Result<T, U> {
    if !is::<T, U>() {
        return Err(value);
    }
    let value = ManuallyDrop::new(value);
    // SAFETY: `T` is `U` (as in `cast_ref`), so the bytes of `value` are a valid `T`; the
    // original is never dropped (`ManuallyDrop`), so the value is moved, not duplicated.
    Ok(unsafe { std::mem::transmute_copy::<U, T>(&value) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_only_the_same_type() {
        let v = vec![1u8, 2, 3];
        assert_eq!(cast_ref::<Vec<u8>, Vec<u8>>(&v), Some(&v));
        assert_eq!(cast_ref::<Vec<u8>, String>(&v), None);
        let s: &[u8] = &v;
        assert_eq!(cast_ref::<[u8], [u8]>(s), Some(s));
        assert_eq!(cast_ref::<Vec<i8>, Vec<u8>>(&vec![1i8]), None);
        let mut w = v.clone();
        cast_mut::<Vec<u8>, Vec<u8>>(&mut w).unwrap().push(4);
        assert_eq!(w, [1, 2, 3, 4]);
        assert!(cast_mut::<Vec<u8>, String>(&mut w).is_none());
        // A borrowing type is never a lifetime-free one.
        let borrowed: &[u8] = &v;
        assert_eq!(cast_ref::<&[u8], [u8]>(&borrowed), None);
        assert_eq!(
            cast_owned::<String, String>("a".into()),
            Ok("a".to_string())
        );
        assert_eq!(
            cast_owned::<String, Vec<u8>>("a".into()),
            Err("a".to_string())
        );
    }
}
