//! The one place that picks the atomics: `core`'s, or loom's under `--cfg loom`.
//!
//! Code that must be model-checked takes its atomics and `UnsafeCell` from here.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicU32, Ordering};

#[cfg(all(not(loom), not(word64)))]
pub(crate) use core::sync::atomic::AtomicU32 as AtomicWord;
#[cfg(all(not(loom), word64))]
pub(crate) use core::sync::atomic::AtomicU64 as AtomicWord;
#[cfg(all(loom, not(word64)))]
pub(crate) use loom::sync::atomic::AtomicU32 as AtomicWord;
#[cfg(all(loom, word64))]
pub(crate) use loom::sync::atomic::AtomicU64 as AtomicWord;

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `core::cell::UnsafeCell` with loom's closure-based access API.
#[cfg(not(loom))]
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Declares `fn`s that are `const` except under loom, whose atomics have no `const`
/// constructors: one body, not two.
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis fn $name:ident() -> $ret:ty $body:block) => {
        #[cfg(not(loom))]
        $(#[$attr])*
        $vis const fn $name() -> $ret $body

        #[cfg(loom)]
        $(#[$attr])*
        $vis fn $name() -> $ret $body
    };
}
pub(crate) use const_fn;
