//! [`Value<T>`] and [`Array<T>`]: Python's `multiprocessing.Value` and `Array` for
//! plain-old-data `T` ([`bytemuck::Pod`]), with an optional [`RLock`].
//!
//! The bytes live in shared memory that other processes write, so they are never lent out as
//! `&T` or `&[T]` (a reference into bytes that change under it is a data race, and a check on
//! it could see another value than the use): every access is a copy with relaxed atomic loads
//! and stores (`get`/`set`, `read_into`/`write_from`), or goes through atomics
//! ([`Value::words`], [`Array::words`]). Any bytes are a valid `T` (`Pod`), so a torn copy (an
//! access without the lock racing a write) is a garbled value, never an invalid one.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::size_of;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use bytemuck::Pod;

use super::lock::{RLock, RLockGuard};
use super::raw::Shared;

/// The guard of an optional lock, for one access; a lock error (only a process that scribbles
/// on the lock word causes one) lets the access go on unlocked: it is a copy, safe either way.
fn hold(lock: Option<&RLock>) -> Option<RLockGuard<'_>> {
    let lock = lock?;
    match lock.lock() {
        Ok(guard) => Some(guard),
        Err(e) => e.into_guard(),
    }
}

/// Bytes for `n` values of `T`, rounded up to whole 8-byte words.
fn bytes_len<T>(n: usize) -> io::Result<usize> {
    n.checked_mul(size_of::<T>())
        .and_then(|len| len.checked_next_multiple_of(8))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "array too large"))
}

/// Python's `multiprocessing.Value`: one `T` in anonymous shared memory (shared with children
/// forked after it is made), by default with an [`RLock`] that `get`, `set` and `update` take.
///
/// `get`, `set` and `update` take the lock over from a dead holder without saying so (the value
/// may then be half-updated, as the dead process left it); to be told, and repair, take
/// [`get_lock`](Self::get_lock)`().lock()` yourself and match `LockError::OwnerDied`, as the
/// example in `examples/sync_tour.rs` does.
///
/// # Examples
///
/// A counter that processes increment under its lock:
///
/// ```
/// use host_runtime::sync::Value;
/// use host_runtime::Process;
///
/// let counter = Value::new(0u64)?;
/// let children: Vec<_> = (0..4)
///     .map(|_| {
///         let c = counter.clone();
///         let p = Process::new(move || {
///             for _ in 0..100 {
///                 c.update(|n| n + 1);
///             }
///         });
///         p.start().map(|()| p)
///     })
///     .collect::<Result<_, _>>()?;
/// for p in &children {
///     p.join()?;
/// }
/// assert_eq!(counter.get(), 400);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Value<T: Pod> {
    shared: Arc<Shared>,
    lock: Option<RLock>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Pod> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value {
            shared: self.shared.clone(),
            lock: self.lock.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value")
            .field("value", &self.get())
            .field("locked", &self.lock.is_some())
            .finish()
    }
}

impl<T: Pod> Value<T> {
    /// A value with a lock (Python's `Value(typecode, value)`, `lock=True`).
    ///
    /// # Errors
    ///
    /// The `mmap` of its pages failed.
    pub fn new(value: T) -> io::Result<Value<T>> {
        Self::build(value, Some(RLock::new()?))
    }

    /// A value without a lock (Python's `lock=False`): each `get`/`set` is one copy, and a
    /// `get` racing a `set` may see a mix of both (a valid `T`).
    ///
    /// # Errors
    ///
    /// The `mmap` of its page failed.
    pub fn new_unlocked(value: T) -> io::Result<Value<T>> {
        Self::build(value, None)
    }

    fn build(value: T, lock: Option<RLock>) -> io::Result<Value<T>> {
        let v = Value {
            shared: Shared::anonymous(bytes_len::<T>(1)?)?,
            lock,
            _t: PhantomData,
        };
        v.shared.bytes().write(0, bytemuck::bytes_of(&value));
        Ok(v)
    }

    /// Python's `get_lock()`: the lock, if it has one; hold it across several accesses to make
    /// them one step for the other processes.
    pub fn get_lock(&self) -> Option<&RLock> {
        self.lock.as_ref()
    }

    /// A copy of the value (Python's `.value`), taken under the lock if there is one.
    pub fn get(&self) -> T {
        let _g = hold(self.lock.as_ref());
        let mut value = T::zeroed();
        self.shared
            .bytes()
            .read(0, bytemuck::bytes_of_mut(&mut value));
        value
    }

    /// Stores `value` (Python's `.value = value`), under the lock if there is one.
    pub fn set(&self, value: T) {
        let _g = hold(self.lock.as_ref());
        self.shared.bytes().write(0, bytemuck::bytes_of(&value));
    }

    /// Replaces the value with `f(value)` under the lock (without one, another process's
    /// `set` may come between the copy and the store); returns the new value.
    pub fn update(&self, f: impl FnOnce(T) -> T) -> T {
        let _g = hold(self.lock.as_ref());
        let new = f(self.get());
        self.set(new);
        new
    }

    /// The value's bytes as atomic words (rounded up to whole words), for lock-free use: e.g.
    /// `fetch_add` on a `Value<u64>`. Don't mix with `get`/`set` while another thread or
    /// process uses these (racing atomic accesses of different sizes are not allowed by
    /// Rust's memory model when `T`'s size is not a multiple of 8).
    pub fn words(&self) -> &[AtomicU64] {
        let len = bytes_len::<T>(1).unwrap_or(0);
        self.shared.bytes().atomics::<AtomicU64>(0, len / 8)
    }
}

/// Python's `IndexError`: an index or range past the end of an [`Array`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IndexError {
    /// The end of the range asked for.
    pub end: usize,
    /// The array's length.
    pub len: usize,
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "array index {} out of range for length {}",
            self.end, self.len
        )
    }
}

impl std::error::Error for IndexError {}

/// Python's `multiprocessing.Array`: `len` values of `T` in anonymous shared memory (shared
/// with children forked after it is made), by default with an [`RLock`] that every access
/// takes.
///
/// # Examples
///
/// ```
/// use host_runtime::sync::Array;
///
/// let a = Array::new(&[1.0f64, 2.0, 3.0])?;
/// a.set(1, 20.0)?;
/// let mut out = [0.0; 3];
/// a.read_into(0, &mut out)?;
/// assert_eq!(out, [1.0, 20.0, 3.0]);
/// assert!(a.get(3).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Array<T: Pod> {
    shared: Arc<Shared>,
    len: usize,
    lock: Option<RLock>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Pod> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            shared: self.shared.clone(),
            len: self.len,
            lock: self.lock.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Pod> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array")
            .field("len", &self.len)
            .field("locked", &self.lock.is_some())
            .finish()
    }
}

impl<T: Pod> Array<T> {
    /// An array holding a copy of `values`, with a lock (Python's `Array(typecode, values)`).
    ///
    /// # Errors
    ///
    /// The `mmap` failed, or the size overflows.
    pub fn new(values: &[T]) -> io::Result<Array<T>> {
        Self::build(values, Some(RLock::new()?))
    }

    /// As [`new`](Self::new), without a lock (Python's `lock=False`).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn new_unlocked(values: &[T]) -> io::Result<Array<T>> {
        Self::build(values, None)
    }

    fn build(values: &[T], lock: Option<RLock>) -> io::Result<Array<T>> {
        let a = Array {
            shared: Shared::anonymous(bytes_len::<T>(values.len())?)?,
            len: values.len(),
            lock,
            _t: PhantomData,
        };
        a.shared.bytes().write(0, bytemuck::cast_slice(values));
        Ok(a)
    }

    /// The number of values (this handle's, never read from shared memory).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no value.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The lock, if it has one.
    pub fn get_lock(&self) -> Option<&RLock> {
        self.lock.as_ref()
    }

    fn range(&self, start: usize, n: usize) -> Result<usize, IndexError> {
        match start.checked_add(n) {
            Some(end) if end <= self.len => Ok(start * size_of::<T>()),
            _ => Err(IndexError {
                end: start.saturating_add(n),
                len: self.len,
            }),
        }
    }

    /// A copy of value `index`.
    ///
    /// # Errors
    ///
    /// [`IndexError`] past the end.
    pub fn get(&self, index: usize) -> Result<T, IndexError> {
        let mut value = T::zeroed();
        self.read_into(index, std::slice::from_mut(&mut value))?;
        Ok(value)
    }

    /// Stores `value` at `index`.
    ///
    /// # Errors
    ///
    /// [`IndexError`] past the end, with no change.
    pub fn set(&self, index: usize, value: T) -> Result<(), IndexError> {
        self.write_from(index, std::slice::from_ref(&value))
    }

    /// Copies values `start..start + dst.len()` into `dst`, under the lock if there is one.
    ///
    /// # Errors
    ///
    /// [`IndexError`] if the range goes past the end, with `dst` untouched.
    pub fn read_into(&self, start: usize, dst: &mut [T]) -> Result<(), IndexError> {
        let offset = self.range(start, dst.len())?;
        let _g = hold(self.lock.as_ref());
        self.shared
            .bytes()
            .read(offset, bytemuck::cast_slice_mut(dst));
        Ok(())
    }

    /// Stores `src` at values `start..start + src.len()`, under the lock if there is one.
    ///
    /// # Errors
    ///
    /// [`IndexError`] if the range goes past the end, with no change.
    pub fn write_from(&self, start: usize, src: &[T]) -> Result<(), IndexError> {
        let offset = self.range(start, src.len())?;
        let _g = hold(self.lock.as_ref());
        self.shared.bytes().write(offset, bytemuck::cast_slice(src));
        Ok(())
    }

    /// A copy of every value.
    pub fn to_vec(&self) -> Vec<T> {
        let mut out = vec![T::zeroed(); self.len];
        let _ = self.read_into(0, &mut out);
        out
    }

    /// The array's bytes as atomic words (rounded up to whole words), for lock-free use (an
    /// `Array<u64>`'s values are its words). The caveat of [`Value::words`] applies.
    pub fn words(&self) -> &[AtomicU64] {
        let len = bytes_len::<T>(self.len).unwrap_or(0);
        self.shared.bytes().atomics::<AtomicU64>(0, len / 8)
    }
}
