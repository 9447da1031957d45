//! [`Value<T>`] and [`Array<T>`]: Python's `multiprocessing.Value` and `Array` for
//! plain-old-data `T` ([`bytemuck::Pod`]), with an optional [`RLock`].
//!
//! The bytes live in shared memory that other processes write, so safe code never gets them
//! lent out as `&T` or `&[T]` (a reference into bytes that change under it is a data race, and
//! a check on it could see another value than the use): every safe access is a copy with
//! relaxed atomic loads and stores of whole 8-byte words (`get`/`set`, `read_into`/`write_from`,
//! and a read-modify-write where a value fills a word in part, so that neighbours sharing it
//! keep their bytes), or goes through the same words as atomics ([`Value::words`],
//! [`Array::words`]): one access size for every byte, as Rust's memory model asks of racing
//! atomics. The zero-copy slices for the numpy-style use,
//! [`Array::as_slice`] and [`Array::as_mut_slice`], are `unsafe`: their caller promises that
//! nobody writes (or, for the `mut` one, touches) the array while the slice lives. Any bytes are a valid `T` (`Pod`), so a torn copy (an
//! access without the lock racing a write) is a garbled value, never an invalid one.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::size_of;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use bytemuck::Pod;

use super::lock::{RLock, RLockGuard};
use super::raw::{Kind, NamedError, Shared};

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

/// Where the values start in a named object's page: its `RLock`'s word is at 0 (used if the
/// object was made with a lock).
const NAMED_DATA: usize = 64;

/// What a named `Value`'s or `Array`'s header parameter records: `locked (1) << 63 | item
/// size (23) << 40 | len (40)`.
#[derive(Clone, Copy)]
struct Params {
    locked: bool,
    size: usize,
    len: usize,
}

const LEN_BITS: u32 = 40;
const SIZE_BITS: u32 = 23;
const _: () = assert!(LEN_BITS + SIZE_BITS == 63, "every bit has a meaning");

impl Params {
    fn of<T>(len: usize, locked: bool) -> Result<Params, NamedError> {
        if size_of::<T>() >> SIZE_BITS != 0 || len >> LEN_BITS != 0 {
            return Err(NamedError::BadParameters);
        }
        Ok(Params {
            locked,
            size: size_of::<T>(),
            len,
        })
    }

    fn encode(self) -> u64 {
        (u64::from(self.locked) << 63) | ((self.size as u64) << LEN_BITS) | self.len as u64
    }

    /// The parameter (read once by the caller), checked against `T`.
    fn decode<T>(parameter: u64) -> Result<Params, NamedError> {
        let size = (parameter >> LEN_BITS) & ((1 << SIZE_BITS) - 1);
        if size != size_of::<T>() as u64 {
            return Err(NamedError::WrongItemSize {
                expected: size_of::<T>(),
                found: size,
            });
        }
        Ok(Params {
            locked: parameter >> 63 != 0,
            size: size_of::<T>(),
            len: usize::try_from(parameter & ((1 << LEN_BITS) - 1))
                .map_err(|_| NamedError::BadParameters)?,
        })
    }

    /// The page: the lock word, then the values.
    fn page_len<T>(self) -> Result<usize, NamedError> {
        bytes_len::<T>(self.len)
            .ok()
            .and_then(|n| n.checked_add(NAMED_DATA))
            .ok_or(NamedError::BadParameters)
    }
}

/// A named object holding `values`: returns the page and the lock (if `locked`).
fn create_named<T: Pod>(
    name: &str,
    kind: Kind,
    values: &[T],
    locked: bool,
) -> Result<(Arc<Shared>, Option<RLock>), NamedError> {
    let params = Params::of::<T>(values.len(), locked)?;
    let shared = Shared::create_named(name, kind, params.encode(), params.page_len::<T>()?, |b| {
        b.write_from(NAMED_DATA, values)
    })?;
    let lock = locked.then(|| RLock::from_shared(shared.clone()));
    Ok((shared, lock))
}

/// Opens a named object of `kind` holding `T`s: the page, the lock (if made with one) and
/// the number of values, each from the header's parameter, read once.
fn open_named<T: Pod>(
    name: &str,
    kind: Kind,
) -> Result<(Arc<Shared>, Option<RLock>, usize), NamedError> {
    let (shared, parameter) = Shared::open_named_with(name, kind, |parameter| {
        Params::decode::<T>(parameter)?.page_len::<T>()
    })?;
    let params = Params::decode::<T>(parameter)?;
    let lock = params.locked.then(|| RLock::from_shared(shared.clone()));
    Ok((shared, lock, params.len))
}

/// Python's `multiprocessing.Value`: one `T` in anonymous shared memory (shared with children
/// forked after it is made) or in a named object ([`create_named`](Self::create_named)), by
/// default with an [`RLock`] that `get`, `set` and `update` take.
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
    /// Where the value starts in `shared`'s page (0, or [`NAMED_DATA`] in a named object).
    base: usize,
    lock: Option<RLock>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Pod> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value {
            shared: self.shared.clone(),
            base: self.base,
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
            base: 0,
            lock,
            _t: PhantomData,
        };
        v.shared.bytes().set(0, value);
        Ok(v)
    }

    /// A value with a lock in the named shared-memory object `name` (one object for both;
    /// see [`Lock::create_named`](super::Lock::create_named)), which unrelated processes open
    /// with [`open_named`](Self::open_named).
    ///
    /// # Errors
    ///
    /// [`NamedError::Shm`] (e.g. `AlreadyExists`); [`NamedError::BadParameters`] if `T` is
    /// larger than 8 MiB.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::sync::Value;
    ///
    /// let name = format!("hr-doc-value-{}", std::process::id());
    /// let v = Value::create_named(&name, 5u64)?;
    /// let other = Value::<u64>::open_named(&name)?; // as another process would
    /// other.update(|n| n + 1);
    /// assert_eq!(v.get(), 6);
    /// assert!(Value::<u32>::open_named(&name).is_err(), "another size of item");
    /// host_runtime::SharedRegion::unlink_named(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_named(name: &str, value: T) -> Result<Value<T>, NamedError> {
        Self::create_named_as(name, value, true)
    }

    /// As [`create_named`](Self::create_named), without a lock.
    ///
    /// # Errors
    ///
    /// As [`create_named`](Self::create_named).
    pub fn create_named_unlocked(name: &str, value: T) -> Result<Value<T>, NamedError> {
        Self::create_named_as(name, value, false)
    }

    fn create_named_as(name: &str, value: T, locked: bool) -> Result<Value<T>, NamedError> {
        let (shared, lock) = create_named(name, Kind::Value, std::slice::from_ref(&value), locked)?;
        Ok(Value {
            shared,
            base: NAMED_DATA,
            lock,
            _t: PhantomData,
        })
    }

    /// Opens the named value `name` made by [`create_named`](Self::create_named) or
    /// [`create_named_unlocked`](Self::create_named_unlocked) (with a lock if it was made
    /// with one).
    ///
    /// # Errors
    ///
    /// As [`Lock::open_named`](super::Lock::open_named); [`NamedError::WrongItemSize`] if it
    /// holds a type of another size than `T`.
    pub fn open_named(name: &str) -> Result<Value<T>, NamedError> {
        let (shared, lock, len) = open_named::<T>(name, Kind::Value)?;
        if len != 1 {
            return Err(NamedError::BadParameters);
        }
        Ok(Value {
            shared,
            base: NAMED_DATA,
            lock,
            _t: PhantomData,
        })
    }

    /// Python's `get_lock()`: the lock, if it has one; hold it across several accesses to make
    /// them one step for the other processes.
    pub fn get_lock(&self) -> Option<&RLock> {
        self.lock.as_ref()
    }

    /// A copy of the value (Python's `.value`), taken under the lock if there is one.
    pub fn get(&self) -> T {
        let _g = hold(self.lock.as_ref());
        self.shared.bytes().get(self.base)
    }

    /// Stores `value` (Python's `.value = value`), under the lock if there is one.
    pub fn set(&self, value: T) {
        let _g = hold(self.lock.as_ref());
        self.shared.bytes().set(self.base, value);
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
    /// `fetch_add` on a `Value<u64>`. They may race with `get`, `set` and `update`, which
    /// access the value only as whole `AtomicU64` words too (a `set` of a `T` that fills a word
    /// in part changes only its own bytes of it, with one atomic read-modify-write); without
    /// the lock, a racing `set` and `fetch_add` leave some mix, as any racing writers do.
    pub fn words(&self) -> &[AtomicU64] {
        let len = bytes_len::<T>(1).unwrap_or(0);
        self.shared.bytes().atomics::<AtomicU64>(self.base, len / 8)
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
/// with children forked after it is made) or in a named object
/// ([`create_named`](Self::create_named)), by default with an [`RLock`] that every access
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
    /// Where the values start in `shared`'s page (0, or [`NAMED_DATA`] in a named object).
    base: usize,
    len: usize,
    lock: Option<RLock>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Pod> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            shared: self.shared.clone(),
            base: self.base,
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
            base: 0,
            len: values.len(),
            lock,
            _t: PhantomData,
        };
        a.shared.bytes().write_from(0, values);
        Ok(a)
    }

    /// An array holding a copy of `values`, with a lock, in the named shared-memory object
    /// `name` (one object for both; see [`Lock::create_named`](super::Lock::create_named)),
    /// which unrelated processes open with [`open_named`](Self::open_named).
    ///
    /// # Errors
    ///
    /// [`NamedError::Shm`] (e.g. `AlreadyExists`); [`NamedError::BadParameters`] if `T` is
    /// larger than 8 MiB or `values` longer than 2^40.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::sync::Array;
    ///
    /// let name = format!("hr-doc-array-{}", std::process::id());
    /// let a = Array::create_named(&name, &[1u32, 2, 3])?;
    /// let other = Array::<u32>::open_named(&name)?; // as another process would
    /// assert_eq!(other.len(), 3, "the length comes from the object");
    /// other.set(2, 30)?;
    /// assert_eq!(a.to_vec(), [1, 2, 30]);
    /// host_runtime::SharedRegion::unlink_named(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_named(name: &str, values: &[T]) -> Result<Array<T>, NamedError> {
        Self::create_named_as(name, values, true)
    }

    /// As [`create_named`](Self::create_named), without a lock.
    ///
    /// # Errors
    ///
    /// As [`create_named`](Self::create_named).
    pub fn create_named_unlocked(name: &str, values: &[T]) -> Result<Array<T>, NamedError> {
        Self::create_named_as(name, values, false)
    }

    fn create_named_as(name: &str, values: &[T], locked: bool) -> Result<Array<T>, NamedError> {
        let (shared, lock) = create_named(name, Kind::Array, values, locked)?;
        Ok(Array {
            shared,
            base: NAMED_DATA,
            len: values.len(),
            lock,
            _t: PhantomData,
        })
    }

    /// Opens the named array `name` made by [`create_named`](Self::create_named) or
    /// [`create_named_unlocked`](Self::create_named_unlocked): its length, and whether it has
    /// a lock, come from the object (read once, checked against its size).
    ///
    /// # Errors
    ///
    /// As [`Lock::open_named`](super::Lock::open_named); [`NamedError::WrongItemSize`] if it
    /// holds a type of another size than `T`.
    pub fn open_named(name: &str) -> Result<Array<T>, NamedError> {
        let (shared, lock, len) = open_named::<T>(name, Kind::Array)?;
        Ok(Array {
            shared,
            base: NAMED_DATA,
            len,
            lock,
            _t: PhantomData,
        })
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
            Some(end) if end <= self.len => Ok(self.base + start * size_of::<T>()),
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
        self.shared.bytes().read_into(offset, dst);
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
        self.shared.bytes().write_from(offset, src);
        Ok(())
    }

    /// A copy of every value.
    pub fn to_vec(&self) -> Vec<T> {
        let mut out = vec![T::zeroed(); self.len];
        let _ = self.read_into(0, &mut out);
        out
    }

    /// The values, lent out without a copy (numpy's `np.frombuffer(arr.get_obj())`): for
    /// reading a large array that is no longer being written. Holding the lock
    /// ([`get_lock`](Self::get_lock)) across the slice's life is how the contract is usually
    /// kept, when every writer takes it.
    ///
    /// # Safety
    ///
    /// As [`SharedBytes::as_slice`](crate::shared::region::SharedBytes::as_slice): while the
    /// slice lives, no thread of this or any other process writes the array (by `set`,
    /// `write_from`, [`words`](Self::words), [`as_mut_slice`](Self::as_mut_slice) or any other
    /// way, through any handle or mapping of it).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::sync::Array;
    ///
    /// let a = Array::new(&[1.0f64, 2.0, 3.0])?;
    /// let lock = a.get_lock().expect("made with a lock");
    /// let guard = lock.lock().unwrap();
    /// // SAFETY: every writer of `a` (here: this process only) writes under its lock, held.
    /// let values = unsafe { a.as_slice() };
    /// assert_eq!(values.iter().sum::<f64>(), 6.0);
    /// drop(guard);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(unsafe_code)] // Forwards the contract of `SharedBytes::as_slice` (in `shared/`).
    pub unsafe fn as_slice(&self) -> &[T] {
        // SAFETY: the caller keeps `SharedBytes::as_slice`'s contract (this fn's `# Safety`);
        // `base..base + len * size_of::<T>()` is the array's part of the page (made so).
        unsafe { self.shared.bytes().as_slice(self.base, self.len) }
    }

    /// The values, lent out mutably without a copy: for filling or transforming a large array
    /// in place.
    ///
    /// # Safety
    ///
    /// As [`SharedBytes::as_mut_slice`](crate::shared::region::SharedBytes::as_mut_slice):
    /// while the slice lives, nothing else in this or any other process reads or writes the
    /// array (no `get`, `read_into`, `words`, `as_slice`, no second `as_mut_slice`, through
    /// any handle or mapping of it).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::sync::Array;
    ///
    /// let a = Array::new_unlocked(&[0u32; 1000])?;
    /// // SAFETY: `a` is not shared with any other thread or process yet.
    /// let values = unsafe { a.as_mut_slice() };
    /// values.iter_mut().enumerate().for_each(|(i, v)| *v = i as u32);
    /// assert_eq!(a.get(999), Ok(999));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(unsafe_code)] // Forwards the contract of `SharedBytes::as_mut_slice` (in `shared/`).
    #[allow(clippy::mut_from_ref)] // Exclusivity is the caller's contract (# Safety).
    pub unsafe fn as_mut_slice(&self) -> &mut [T] {
        // SAFETY: the caller keeps `SharedBytes::as_mut_slice`'s contract (this fn's
        // `# Safety`); the range is the array's part of the page.
        unsafe { self.shared.bytes().as_mut_slice(self.base, self.len) }
    }

    /// The array's bytes as atomic words (rounded up to whole words), for lock-free use (an
    /// `Array<u64>`'s values are its words). As for [`Value::words`], they may race with the
    /// copies (`get`, `set`, `read_into`, `write_from`), which access whole words too.
    pub fn words(&self) -> &[AtomicU64] {
        let len = bytes_len::<T>(self.len).unwrap_or(0);
        self.shared.bytes().atomics::<AtomicU64>(self.base, len / 8)
    }
}
