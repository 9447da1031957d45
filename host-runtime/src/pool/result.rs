//! Where results land in the parent: [`AsyncResult`] for one task, [`Imap`] for the chunks of
//! `map`/`imap`/`imap_unordered`; both are [`Sink`]s the result thread delivers to.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::error::TaskError;
use super::message::{decode_parts, decode_parts_seq};
use crate::encoding::payload;
use crate::lock::{self, lock};
use crate::wait::{Backoff, Deadline, Policy};

/// What the result thread hands a sink for one task.
pub(super) enum Outcome<'a> {
    /// The postcard-encoded value.
    Value(&'a [u8]),
    /// A long value's encoding in two private copies: `head` followed by the tail, which the
    /// result thread read into an allocation of its own so that a byte payload (`Vec<u8>`,
    /// `String`) can become the value as it is (see [`decode_split`]).
    Split(&'a [u8], Vec<u8>),
    /// How the task failed.
    Error(TaskError),
}

/// The receiving end of a task's result, held by the pool until the result is delivered.
pub(super) trait Sink: Send + Sync {
    /// Delivers the outcome of the task with `tag` (the chunk index for map sinks). Called
    /// once per task, on the result thread (or the thread ending the pool), never with the
    /// pool's lock held.
    ///
    /// Returns whether a thread waits for it: the caller must then call
    /// [`wake`](Self::wake) — after the other results of its batch, so that the waiter finds
    /// them ready too instead of sleeping again at once.
    fn deliver(&self, tag: u32, outcome: Outcome<'_>) -> bool;

    /// Wakes the threads waiting for this sink.
    fn wake(&self);
}

/// Waits on `cond` until `done(state)` or `deadline`; returns the guard and whether `done`.
///
/// Before it sleeps on `cond`, it backs off with [`Policy::POOL_RESULT`] (yields to the
/// result thread, which delivers results of short tasks in batches microseconds apart).
fn wait_for<'a, S>(
    mutex: &'a Mutex<S>,
    cond: &Condvar,
    mut guard: MutexGuard<'a, S>,
    deadline: Deadline,
    waiters: impl Fn(&mut S) -> &mut usize,
    done: impl Fn(&S) -> bool,
) -> (MutexGuard<'a, S>, bool) {
    let mut backoff = Backoff::with_deadline(Policy::POOL_RESULT, deadline);
    while !done(&guard) && !backoff.is_completed() {
        drop(guard);
        backoff.snooze();
        guard = lock(mutex);
    }
    while !done(&guard) {
        let timeout = match deadline.remaining() {
            None => None,
            Some(left) if !left.is_zero() => Some(left),
            Some(_) => return (guard, false),
        };
        *waiters(&mut guard) += 1;
        guard = lock::wait(cond, guard, timeout);
        *waiters(&mut guard) -= 1;
    }
    (guard, true)
}

/// Decodes a value, or a [`TaskError::Decode`] (also if a `Deserialize` impl panics: this
/// runs on the pool's result thread, which must go on).
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, TaskError> {
    guarded(|| payload::from_bytes(bytes))
}

/// Runs a decode; its error, or its panic, as a [`TaskError::Decode`].
fn guarded<T>(decode: impl FnOnce() -> Result<T, postcard::Error>) -> Result<T, TaskError> {
    panic::catch_unwind(AssertUnwindSafe(decode))
        .map_err(|p| {
            TaskError::Decode(format!(
                "decoding the result panicked: {}",
                panic_message(&*p)
            ))
        })?
        .map_err(|e| TaskError::Decode(format!("the result: {e}")))
}

/// Decodes a `T` from the encoding `head` followed by `tail` (an [`Outcome::Split`]): a byte
/// payload is the tail, unchanged (see [`decode_parts`]).
fn decode_split<T: DeserializeOwned>(head: &[u8], tail: Vec<u8>) -> Result<T, TaskError> {
    guarded(|| decode_parts(head, tail))
}

/// [`decode_split`] of a chunk's results, a sequence of `R`.
fn decode_split_seq<R: DeserializeOwned>(head: &[u8], tail: Vec<u8>) -> Result<Vec<R>, TaskError> {
    guarded(|| decode_parts_seq(head, tail))
}

/// The message of a panic payload.
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_string())
}

/// A success callback.
type OnSuccess<R> = Box<dyn FnOnce(&R) + Send + 'static>;
/// An error callback.
type OnError = Box<dyn FnOnce(&TaskError) + Send + 'static>;

/// Python's `callback` and `error_callback` of `apply_async`: run in this process, on the
/// pool's result thread, with the value or the error, before the [`AsyncResult`] reads as
/// ready.
///
/// Keep them short: while one runs, no other result is delivered. Don't wait in a callback for
/// another task's result: it would wait for the thread it runs on, for ever (as in Python). A
/// callback that panics is caught (its message goes to stderr through the panic hook) and the
/// result is still stored.
///
/// # Examples
///
/// ```
/// use host_runtime::pool::{Callbacks, Pool};
/// use std::sync::mpsc;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let pool = Pool::new(2)?;
/// let (tx, rx) = mpsc::channel();
/// let r = pool.apply_async_with(
///     square,
///     7,
///     Callbacks::new().on_success(move |v: &u64| tx.send(*v).unwrap()),
/// )?;
/// assert_eq!(r.get()?, 49);
/// assert_eq!(rx.try_recv()?, 49, "the callback ran before the result was ready");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Callbacks<R> {
    on_success: Option<OnSuccess<R>>,
    on_error: Option<OnError>,
}

impl<R> Callbacks<R> {
    /// No callbacks.
    pub fn new() -> Callbacks<R> {
        Callbacks {
            on_success: None,
            on_error: None,
        }
    }

    /// Calls `f` with the value if the task succeeds (Python's `callback`).
    pub fn on_success(mut self, f: impl FnOnce(&R) + Send + 'static) -> Callbacks<R> {
        self.on_success = Some(Box::new(f));
        self
    }

    /// Calls `f` with the error if the task fails (Python's `error_callback`).
    pub fn on_error(mut self, f: impl FnOnce(&TaskError) + Send + 'static) -> Callbacks<R> {
        self.on_error = Some(Box::new(f));
        self
    }

    fn is_empty(&self) -> bool {
        self.on_success.is_none() && self.on_error.is_none()
    }

    fn run(self, result: &Result<R, TaskError>) {
        // A panic in a callback must not take the result thread down.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| match result {
            Ok(v) => {
                if let Some(f) = self.on_success {
                    f(v)
                }
            }
            Err(e) => {
                if let Some(f) = self.on_error {
                    f(e)
                }
            }
        }));
    }
}

impl<R> Default for Callbacks<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> fmt::Debug for Callbacks<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("on_success", &self.on_success.is_some())
            .field("on_error", &self.on_error.is_some())
            .finish()
    }
}

/// Where one task's result waits.
enum Slot<R> {
    Pending,
    Value(R),
    Error(TaskError),
    /// The value was taken by a `get`.
    Taken,
}

struct CellState<R> {
    slot: Slot<R>,
    /// Threads blocked in `wait`/`get`: notify only if there are any.
    waiters: usize,
}

/// The shared part of an [`AsyncResult`].
pub(super) struct Cell<R> {
    state: Mutex<CellState<R>>,
    ready: Condvar,
    /// `None` when no callback was given (no lock to take then).
    callbacks: Option<Mutex<Option<Callbacks<R>>>>,
}

impl<R> Cell<R> {
    pub(super) fn new(callbacks: Callbacks<R>) -> Cell<R> {
        Cell {
            state: Mutex::new(CellState {
                slot: Slot::Pending,
                waiters: 0,
            }),
            ready: Condvar::new(),
            callbacks: (!callbacks.is_empty()).then(|| Mutex::new(Some(callbacks))),
        }
    }
}

impl<R: DeserializeOwned + Send> Sink for Cell<R> {
    fn deliver(&self, _tag: u32, outcome: Outcome<'_>) -> bool {
        let result = match outcome {
            Outcome::Value(bytes) => decode::<R>(bytes),
            Outcome::Split(head, tail) => decode_split::<R>(head, tail),
            Outcome::Error(e) => Err(e),
        };
        if let Some(callbacks) = self.callbacks.as_ref().and_then(|c| lock(c).take()) {
            callbacks.run(&result);
        }
        let mut state = lock(&self.state);
        if !matches!(state.slot, Slot::Pending) {
            return false; // delivered before: keep the first
        }
        state.slot = match result {
            Ok(v) => Slot::Value(v),
            Err(e) => Slot::Error(e),
        };
        state.waiters > 0
    }

    fn wake(&self) {
        self.ready.notify_all();
    }
}

/// The result of [`Pool::apply_async`](super::Pool::apply_async): Python's `AsyncResult`.
///
/// The first successful [`get`](Self::get) moves the value out; later calls return
/// [`TaskError::Taken`]. An error stays and is returned by every `get`.
///
/// Dropping it does not cancel the task: it runs, and its result is discarded.
///
/// # Examples
///
/// ```
/// use host_runtime::pool::{Pool, TaskError};
/// use std::time::Duration;
///
/// fn add((a, b): (i64, i64)) -> i64 {
///     a + b
/// }
///
/// let pool = Pool::new(2)?;
/// let r = pool.apply_async(add, (40, 2))?;
/// r.wait();
/// assert!(r.ready());
/// assert_eq!(r.successful(), Some(true));
/// assert_eq!(r.get_timeout(Duration::from_secs(1))?, 42);
/// assert_eq!(r.get(), Err(TaskError::Taken));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AsyncResult<R> {
    cell: Arc<Cell<R>>,
    /// The pool's process: waiting elsewhere would never end.
    owner: u32,
}

impl<R> fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .field("successful", &self.successful())
            .finish()
    }
}

impl<R> AsyncResult<R> {
    pub(super) fn new(cell: Arc<Cell<R>>, owner: u32) -> AsyncResult<R> {
        AsyncResult { cell, owner }
    }

    /// Whether the task has finished (its callbacks have run), successfully or not.
    pub fn ready(&self) -> bool {
        !matches!(lock(&self.cell.state).slot, Slot::Pending)
    }

    /// `Some(true)` if the task returned a value, `Some(false)` if it failed, `None` while it
    /// is not [`ready`](Self::ready) (where Python raises `ValueError`).
    pub fn successful(&self) -> Option<bool> {
        match lock(&self.cell.state).slot {
            Slot::Pending => None,
            Slot::Value(_) | Slot::Taken => Some(true),
            Slot::Error(_) => Some(false),
        }
    }

    /// Waits until the task has finished. Returns at once in a process other than the pool's
    /// (a forked child), where the result would never come.
    pub fn wait(&self) {
        drop(self.wait_until(Deadline::Never));
    }

    /// Waits at most `timeout` for the task to finish; returns whether it did.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Deadline::after(timeout)).1
    }

    /// Waits for the task to finish and returns its value, moving it out.
    ///
    /// # Errors
    ///
    /// The [`TaskError`] the task ended with (every call returns it again);
    /// [`TaskError::Taken`] if an earlier call took the value; [`TaskError::NotOwner`] in a
    /// process other than the pool's.
    pub fn get(&self) -> Result<R, TaskError> {
        let (guard, done) = self.wait_until(Deadline::Never);
        self.take(guard, done)
    }

    /// Waits at most `timeout` for the task to finish and returns its value, moving it out.
    ///
    /// # Errors
    ///
    /// [`TaskError::Timeout`] if the task had not finished after `timeout` (never sooner; it
    /// goes on running, and a later `get` can still have its value); otherwise as
    /// [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<R, TaskError> {
        let (guard, done) = self.wait_until(Deadline::after(timeout));
        self.take(guard, done)
    }

    fn wait_until(&self, deadline: Deadline) -> (MutexGuard<'_, CellState<R>>, bool) {
        let guard = lock(&self.cell.state);
        if !matches!(guard.slot, Slot::Pending) {
            return (guard, true);
        }
        if std::process::id() != self.owner {
            return (guard, false);
        }
        wait_for(
            &self.cell.state,
            &self.cell.ready,
            guard,
            deadline,
            |s| &mut s.waiters,
            |s| !matches!(s.slot, Slot::Pending),
        )
    }

    fn take(&self, mut guard: MutexGuard<'_, CellState<R>>, done: bool) -> Result<R, TaskError> {
        if !done {
            return Err(if std::process::id() != self.owner {
                TaskError::NotOwner
            } else {
                TaskError::Timeout
            });
        }
        match std::mem::replace(&mut guard.slot, Slot::Taken) {
            Slot::Value(v) => Ok(v),
            Slot::Error(e) => {
                guard.slot = Slot::Error(e.clone());
                Err(e)
            }
            Slot::Taken => Err(TaskError::Taken),
            Slot::Pending => unreachable!("`done` means not pending"),
        }
    }
}

/// A chunk's values, or its error.
type Chunk<R> = Result<Vec<R>, TaskError>;

/// Where the chunks of one `map`/`imap` call wait.
struct ChunksState<R> {
    /// By chunk index: `None` until delivered, then taken by the iterator.
    chunks: Vec<Option<Chunk<R>>>,
    /// The number of items in each chunk submitted so far.
    lens: Vec<usize>,
    /// Chunks delivered so far.
    delivered: usize,
    /// Chunk indices in the order they were delivered (for `imap_unordered`).
    arrived: VecDeque<u32>,
    waiters: usize,
}

/// The shared part of an [`Imap`]: one sink for all chunks of a call. Chunks are added as
/// they are submitted ([`add`](Self::add)); a chunk's result may arrive before the next one
/// is added.
pub(super) struct Chunks<R> {
    state: Mutex<ChunksState<R>>,
    cond: Condvar,
}

impl<R> Chunks<R> {
    pub(super) fn new() -> Chunks<R> {
        Chunks {
            state: Mutex::new(ChunksState {
                chunks: Vec::new(),
                lens: Vec::new(),
                delivered: 0,
                arrived: VecDeque::new(),
                waiters: 0,
            }),
            cond: Condvar::new(),
        }
    }

    /// Adds a chunk of `len` items (before its task is submitted); returns its index.
    pub(super) fn add(&self, len: usize) -> usize {
        let mut state = lock(&self.state);
        state.chunks.push(None);
        state.lens.push(len);
        state.lens.len() - 1
    }

    /// The number of items in each chunk added so far.
    fn lens(&self) -> Vec<usize> {
        lock(&self.state).lens.clone()
    }

    /// Waits until at least `count` chunks were delivered (each one is, sooner or later: its
    /// value, its error, or `Terminated`), in the pool's process `owner` only (elsewhere the
    /// results never come).
    pub(super) fn wait_delivered(&self, count: usize, owner: u32) {
        if std::process::id() != owner {
            return;
        }
        let guard = lock(&self.state);
        let _ = wait_for(
            &self.state,
            &self.cond,
            guard,
            Deadline::Never,
            |s| &mut s.waiters,
            |s| s.delivered >= count,
        );
    }
}

impl<R: DeserializeOwned + Send> Sink for Chunks<R> {
    fn deliver(&self, tag: u32, outcome: Outcome<'_>) -> bool {
        let index = tag as usize;
        // Decoded before taking the lock: the iterator may be waiting on it.
        let result = match outcome {
            Outcome::Value(bytes) => decode::<Vec<R>>(bytes),
            Outcome::Split(head, tail) => decode_split_seq::<R>(head, tail),
            Outcome::Error(e) => Err(e),
        };
        let mut state = lock(&self.state);
        let Some(&len) = state.lens.get(index) else {
            return false;
        };
        let result = result.and_then(|v| {
            if v.len() == len {
                Ok(v)
            } else {
                Err(TaskError::Decode(format!(
                    "a chunk of {len} items gave {} results",
                    v.len()
                )))
            }
        });
        if state.chunks[index].is_some() {
            return false;
        }
        state.chunks[index] = Some(result);
        state.delivered += 1;
        state.arrived.push_back(tag);
        state.waiters > 0
    }

    fn wake(&self) {
        self.cond.notify_all();
    }
}

/// The iterator of [`Pool::imap`](super::Pool::imap) and
/// [`Pool::imap_unordered`](super::Pool::imap_unordered): Python's `IMapIterator`.
///
/// Yields one `Result` per input item: in input order (`imap`), or chunk by chunk in the order
/// chunks finish (`imap_unordered`; items of one chunk stay together, in order). A chunk that
/// failed yields its error once for each of its items, so the count always matches the input.
///
/// Dropping it early does not cancel the remaining tasks; their results are discarded.
///
/// # Examples
///
/// ```
/// use host_runtime::pool::Pool;
///
/// fn cube(x: i32) -> i32 {
///     x * x * x
/// }
///
/// let pool = Pool::new(2)?;
/// let cubes: Vec<i32> = pool.imap(cube, 0..5, 2)?.collect::<Result<_, _>>()?;
/// assert_eq!(cubes, [0, 1, 8, 27, 64]);
/// let mut any_order: Vec<i32> = pool.imap_unordered(cube, 0..5, 1)?.map(Result::unwrap).collect();
/// any_order.sort();
/// assert_eq!(any_order, [0, 1, 8, 27, 64]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Imap<R> {
    chunks: Arc<Chunks<R>>,
    /// The number of items in each chunk (all of them were added before the iterator was made).
    lens: Vec<usize>,
    ordered: bool,
    /// Chunks handed out so far.
    taken: usize,
    /// The items of the chunk being yielded.
    current: std::vec::IntoIter<R>,
    /// A failed chunk: its error, and how many more times to yield it.
    failed: Option<(TaskError, usize)>,
    /// Items not yet yielded.
    remaining: usize,
    owner: u32,
    _r: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for Imap<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Imap")
            .field("ordered", &self.ordered)
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl<R> Imap<R> {
    pub(super) fn new(chunks: Arc<Chunks<R>>, ordered: bool, owner: u32) -> Imap<R> {
        let lens = chunks.lens();
        let remaining = lens.iter().sum();
        Imap {
            chunks,
            lens,
            ordered,
            taken: 0,
            current: Vec::new().into_iter(),
            failed: None,
            remaining,
            owner,
            _r: PhantomData,
        }
    }

    /// The next item, waiting at most `timeout` for it (Python's `next(timeout)`):
    /// `Some(Err(TaskError::Timeout))` if it did not come in time (the iterator is unchanged
    /// and may be asked again), `None` at the end.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R, TaskError>> {
        self.next_until(Deadline::after(timeout))
    }

    fn next_until(&mut self, deadline: Deadline) -> Option<Result<R, TaskError>> {
        loop {
            if let Some((error, left)) = &mut self.failed {
                if *left > 0 {
                    *left -= 1;
                    self.remaining -= 1;
                    return Some(Err(error.clone()));
                }
                self.failed = None;
            }
            if let Some(v) = self.current.next() {
                self.remaining -= 1;
                return Some(Ok(v));
            }
            if self.taken == self.lens.len() {
                return None;
            }
            match self.take_chunk(deadline) {
                Ok((index, Ok(items))) => {
                    debug_assert_eq!(items.len(), self.lens[index]);
                    self.current = items.into_iter();
                }
                Ok((index, Err(e))) => self.failed = Some((e, self.lens[index])),
                Err(e) => {
                    if e == TaskError::NotOwner {
                        // The results never come here: end the iteration.
                        self.taken = self.lens.len();
                        self.remaining = 0;
                    }
                    return Some(Err(e));
                }
            }
            self.taken += 1;
        }
    }

    /// Waits for the next chunk (the next in order, or the next to arrive) and takes it.
    fn take_chunk(&mut self, deadline: Deadline) -> Result<(usize, Chunk<R>), TaskError> {
        let ordered = self.ordered;
        let want = self.taken;
        let guard = lock(&self.chunks.state);
        let ready = |s: &ChunksState<R>| {
            if ordered {
                s.chunks[want].is_some()
            } else {
                !s.arrived.is_empty()
            }
        };
        let (mut guard, done) = if ready(&guard) {
            (guard, true)
        } else if std::process::id() != self.owner {
            return Err(TaskError::NotOwner);
        } else {
            wait_for(
                &self.chunks.state,
                &self.chunks.cond,
                guard,
                deadline,
                |s| &mut s.waiters,
                ready,
            )
        };
        if !done {
            return Err(TaskError::Timeout);
        }
        let index = if ordered {
            want
        } else {
            guard.arrived.pop_front().map_or(want, |i| i as usize)
        };
        let chunk = guard.chunks[index]
            .take()
            .unwrap_or_else(|| Err(TaskError::Taken));
        // Keep the slot marked as delivered, so a duplicate delivery is ignored.
        guard.chunks[index] = Some(Err(TaskError::Taken));
        Ok((index, chunk))
    }
}

impl<R> Iterator for Imap<R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_until(Deadline::Never)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<R> ExactSizeIterator for Imap<R> {}
