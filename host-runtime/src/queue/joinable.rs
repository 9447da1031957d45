//! [`JoinableQueue`]: Python's `multiprocessing.JoinableQueue` (a [`Queue`] plus `task_done`
//! and `join`), whose `join` reports the items that died with a consumer instead of waiting
//! for them for ever.
//!
//! The counts and what "lost" means are in the docs of [`JoinableQueue`].

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{
    Builder, GetError, GetNowaitError, GetTimeoutError, PutError, PutNowaitError, PutTimeoutError,
    Queue, QueueError,
};
use crate::wait::{block_on, Deadline, Wait};

mod counts;
mod error;

use counts::{Counts, HELD};
pub use error::{JoinError, JoinTimeoutError, TaskDoneError};

/// Python's `multiprocessing.JoinableQueue`: a [`Queue`] whose consumers call
/// [`task_done`](Self::task_done) for each item they finish, so that a producer can
/// [`join`](Self::join) until every item put has been done, across processes.
///
/// Crash-aware where Python's is not: if a consumer dies holding items it never marked done,
/// `join` returns [`JoinError::ConsumerDied`] with how many were lost (within about 200 ms of
/// the death, the queues' stall check), once every other item is done, instead of waiting for
/// ever. *Counting* and *Lost items* below define the counts, and when a loss goes unreported.
///
/// Anonymous only: it is shared with the children forked after it was made (clones share it
/// too), not by name.
///
/// # Counting
///
/// Shared by every process (a region of its own, beside the queue's):
///
/// - `unfinished` (U): items put and not yet done, Python's count: a put adds one *before* its
///   item can be seen (so no `task_done` for it can come first), a failed put takes it back,
///   each `task_done` takes one (refused when none is left but lost ones: Python's
///   `ValueError`).
/// - `foreign` (F): `task_done` calls made by a process that held no item (it finished an item
///   another process got).
/// - `all_done`: a [`WaitWord`](ipc_core::WaitWord) that `join` sleeps on (shared futex); whoever takes U down to
///   the lost count (below; 0 while nobody died) wakes every joiner.
///
/// And per process, in a crash-aware ledger of per-process counters (kind `HELD`, not inherited by fork: a child
/// holds none of the items its parent took): the items it *holds*, got and not yet done by
/// itself. A get counts its item inside the ring claim, before the get commits, so a consumer
/// killed at any point after the claim has it counted (the queue counts such a message in
/// `lost_in_get`); a `task_done` takes one from the caller's holdings if it has any (else it
/// counts in F), before it takes one from U.
///
/// # Lost items
///
/// A consumer that dies holding items never calls `task_done` for them. `join` repairs the
/// ledger every 200 ms while it waits (the queues' stall check): a dead process's holdings move
/// to the ledger's lost count L, once. The items counted **lost** are `E = L − F` (not below 0):
/// the held items of dead consumers, less the `task_done` calls that other processes made for
/// items they did not get (which may have been the dead ones', handed over before the death).
/// `join` returns when `U ≤ E`: `Ok` if `U` is 0, else `ConsumerDied { lost: U }` — every item
/// not done then is one a dead consumer held. The lost items stay unfinished (nobody will do
/// them), so every later `join` reports them too, until a process that holds no item calls
/// `task_done` once for each (Python's count: that is how a program acknowledges the loss);
/// Python's `join` would wait for ever instead.
///
/// E is exact when each item is marked done by the process that got it (Python's documented
/// pattern). When items are got in one process and marked done in another, F is set against
/// every dead consumer's holdings, so E can only come out too *small*, never too large: a loss
/// may then go unreported and `join` waits, as Python's would, but an item still being worked
/// on is never written off. Also unreported (`join` then waits, as Python's): a process killed
/// inside a `put` between the count and the publish, or inside `task_done` between its two
/// counts, or inside a get between the ring claim and its count (a few instructions each); a
/// consumer that found the ledger's table full (`DEFAULT_MAX_PROCESSES` entries of live
/// processes) holds items uncounted.
///
/// # Examples
///
/// CPython's `test_task_done`: four workers, ten items, `join`, then one `None` per worker.
///
/// ```
/// use host_runtime::{JoinableQueue, Process};
///
/// let q = JoinableQueue::<Option<u32>>::new(0)?;
/// let workers: Vec<Process> = (0..4)
///     .map(|_| {
///         let q = q.clone();
///         Process::new(move || {
///             while let Some(_item) = q.get().unwrap() {
///                 q.task_done().unwrap();
///             }
///         })
///     })
///     .collect();
/// for p in &workers {
///     p.start()?;
/// }
/// for i in 0..10 {
///     q.put(Some(i))?;
/// }
/// q.join()?; // every item got and done
/// for _ in &workers {
///     q.put(None)?;
/// }
/// for p in &workers {
///     assert_eq!(p.join()?, 0);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
    counts: Arc<Counts>,
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue {
            queue: self.queue.clone(),
            counts: Arc::clone(&self.counts),
        }
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.queue)
            .field("unfinished", &self.counts.unfinished().load(Relaxed))
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// A queue holding up to `maxsize` items (0: no bound), as [`Queue::new`], with nothing
    /// unfinished (Python: `JoinableQueue(maxsize)`).
    ///
    /// # Errors
    ///
    /// As [`Queue::new`]; [`QueueError::Shm`] if the counting regions cannot be mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::JoinableQueue::<u32>::new(10)?;
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// q.join()?; // nothing to wait for
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(maxsize: usize) -> Result<JoinableQueue<T>, QueueError> {
        JoinableQueue::with_builder(&Queue::builder().maxsize(maxsize))
    }

    /// A queue with the settings of `builder` (capacity, message sizes, blob pool), made
    /// anonymous ([`Builder::build`]).
    ///
    /// # Errors
    ///
    /// As [`Builder::build`]; [`QueueError::Shm`] if the counting regions cannot be mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{JoinableQueue, Queue};
    ///
    /// let q = JoinableQueue::<String>::with_builder(&Queue::builder().maxsize(4).max_message_size(1024))?;
    /// assert_eq!(q.capacity(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_builder(builder: &Builder<T>) -> Result<JoinableQueue<T>, QueueError> {
        Ok(JoinableQueue {
            queue: builder.build()?,
            counts: Arc::new(Counts::new()?),
        })
    }

    /// Counts one more unfinished item, then runs `put`; takes the count back if it fails.
    fn counted<E>(&self, put: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
        // Relaxed: the put publishes the item (Release) after this, so a consumer's
        // `task_done` for it comes after this in the counter's order.
        self.counts.unfinished().fetch_add(1, Relaxed);
        let result = put();
        if result.is_err() {
            self.counts.unput();
        }
        result
    }

    /// Puts `item`, waiting as long as needed for room, and counts it unfinished until a
    /// [`task_done`](Self::task_done) (Python: `put(obj)`).
    ///
    /// # Errors
    ///
    /// As [`Queue::put`]; [`PutError::Closed`] after [`close`](Self::close). The item is
    /// handed back and not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::JoinableQueue::<u8>::new(0)?;
    /// q.put(1)?;
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        if self.queue.raw.is_closed() {
            return Err(PutError::Closed(item));
        }
        self.counted(|| self.queue.put(item))
    }

    /// [`put`](Self::put), waiting at most `timeout` for room (Python: `put(obj, timeout=t)`).
    ///
    /// # Errors
    ///
    /// As [`Queue::put_timeout`]; the item is handed back and not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{JoinableQueue, PutTimeoutError};
    /// use std::time::Duration;
    ///
    /// let q = JoinableQueue::<u8>::new(1)?;
    /// q.put(1)?;
    /// let err = q.put_timeout(2, Duration::from_millis(5)).unwrap_err();
    /// assert!(matches!(err, PutTimeoutError::Timeout(2)));
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
        if self.queue.raw.is_closed() {
            return Err(PutTimeoutError::Closed(item));
        }
        self.counted(|| self.queue.put_timeout(item, timeout))
    }

    /// [`put`](Self::put) if there is room now (Python: `put_nowait(obj)`).
    ///
    /// # Errors
    ///
    /// As [`Queue::put_nowait`]; the item is handed back and not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{JoinableQueue, PutNowaitError};
    ///
    /// let q = JoinableQueue::<u8>::new(1)?;
    /// q.put_nowait(1)?;
    /// assert!(matches!(q.put_nowait(2), Err(PutNowaitError::Full(2))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), PutNowaitError<T>> {
        if self.queue.raw.is_closed() {
            return Err(PutNowaitError::Closed(item));
        }
        self.counted(|| self.queue.put_nowait(item))
    }

    /// [`put`](Self::put) of a copy of `*item`, which the caller keeps ([`Queue::put_ref`]).
    ///
    /// # Errors
    ///
    /// As [`Queue::put_ref`]; [`PutError::Closed`] after [`close`](Self::close). Nothing is
    /// counted.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::JoinableQueue::<String>::new(0)?;
    /// let job = String::from("resize photo 7");
    /// q.put_ref(&job)?;
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// assert_eq!(q.get()?, job);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_ref(&self, item: &T) -> Result<(), PutError<()>> {
        if self.queue.raw.is_closed() {
            return Err(PutError::Closed(()));
        }
        self.counted(|| self.queue.put_ref(item))
    }

    /// [`put_ref`](Self::put_ref), waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// As [`Queue::put_ref_timeout`]; nothing is counted.
    pub fn put_ref_timeout(&self, item: &T, timeout: Duration) -> Result<(), PutTimeoutError<()>> {
        if self.queue.raw.is_closed() {
            return Err(PutTimeoutError::Closed(()));
        }
        self.counted(|| self.queue.put_ref_timeout(item, timeout))
    }

    /// [`put_ref`](Self::put_ref) if there is room now.
    ///
    /// # Errors
    ///
    /// As [`Queue::put_ref_nowait`]; nothing is counted.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{JoinableQueue, PutNowaitError};
    ///
    /// let q = JoinableQueue::<u8>::new(1)?;
    /// q.put_ref_nowait(&1)?;
    /// assert!(matches!(q.put_ref_nowait(&2), Err(PutNowaitError::Full(()))));
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_ref_nowait(&self, item: &T) -> Result<(), PutNowaitError<()>> {
        if self.queue.raw.is_closed() {
            return Err(PutNowaitError::Closed(()));
        }
        self.counted(|| self.queue.put_ref_nowait(item))
    }

    /// Gets through `get` (a [`Queue::get_taking`] call), counting the item as held by this
    /// process from inside the ring claim. A message taken but not returned (not a `T`, or a
    /// `Deserialize` that panicked) counts as done: nobody has an item to call `task_done` for.
    fn held_get<R, E>(&self, get: impl FnOnce(&dyn Fn()) -> Result<R, E>) -> Result<R, E> {
        /// Marks the taken item done unless disarmed: on an error after the take, or a panic.
        struct Taken<'a> {
            counts: &'a Counts,
            armed: Cell<bool>,
        }
        impl Drop for Taken<'_> {
            fn drop(&mut self) {
                if self.armed.get() {
                    let _ = self.counts.task_done();
                }
            }
        }
        let taken = Taken {
            counts: &self.counts,
            armed: Cell::new(false),
        };
        let result = get(&|| {
            self.counts.took();
            taken.armed.set(true);
        });
        if result.is_ok() {
            taken.armed.set(false);
        }
        result
    }

    /// Takes the item at the front, waiting as long as needed (Python: `get()`); this process
    /// holds it until it calls [`task_done`](Self::task_done).
    ///
    /// # Errors
    ///
    /// As [`Queue::get`]; a message that is not a `T` is dropped and counted done.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::JoinableQueue::<String>::new(0)?;
    /// q.put("job".into())?;
    /// assert_eq!(q.get()?, "job");
    /// q.task_done()?;
    /// q.join()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.held_get(|taken| {
            self.queue
                .get_taking(Deadline::Never, super::get_never_waits, taken)
        })
    }

    /// [`get`](Self::get), waiting at most `timeout` (Python: `get(timeout=t)`).
    ///
    /// # Errors
    ///
    /// As [`Queue::get_timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{GetTimeoutError, JoinableQueue};
    /// use std::time::Duration;
    ///
    /// let q = JoinableQueue::<u8>::new(0)?;
    /// assert!(matches!(q.get_timeout(Duration::from_millis(5)), Err(GetTimeoutError::Timeout)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        self.held_get(|taken| {
            self.queue
                .get_taking(Deadline::after(timeout), GetTimeoutError::waited, taken)
        })
    }

    /// [`get`](Self::get) if there is an item now (Python: `get_nowait()`).
    ///
    /// # Errors
    ///
    /// As [`Queue::get_nowait`].
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{GetNowaitError, JoinableQueue};
    ///
    /// let q = JoinableQueue::<u8>::new(0)?;
    /// assert!(matches!(q.get_nowait(), Err(GetNowaitError::Empty)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_nowait(&self) -> Result<T, GetNowaitError> {
        self.held_get(|taken| {
            self.queue
                .get_taking(Deadline::NoWait, GetNowaitError::waited, taken)
        })
    }

    /// Says that one item got from the queue is done (Python: `task_done()`): takes one from
    /// the unfinished count, waking the joiners when nothing (but the lost items) is left.
    /// Any process may call it, for any item; the process that got the item is the one that
    /// should (see *Lost items* in the [type's docs](JoinableQueue): an item marked done
    /// elsewhere makes a later loss harder to see).
    ///
    /// Not refused after [`close`](Self::close), as in Python.
    ///
    /// # Errors
    ///
    /// [`TaskDoneError::TooManyCalls`] (Python's `ValueError('task_done() called too many
    /// times')`) if no item is unfinished, other than the lost ones; nothing changes then.
    /// [`TaskDoneError::Corrupt`] if the shared count kept changing under it (only a broken
    /// process makes it).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{JoinableQueue, TaskDoneError};
    ///
    /// let q = JoinableQueue::<u8>::new(0)?;
    /// q.put(1)?;
    /// q.get()?;
    /// q.task_done()?;
    /// assert!(matches!(q.task_done(), Err(TaskDoneError::TooManyCalls)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.counts.task_done()
    }

    /// Waits until every item put has been marked done (Python: `join()`), sleeping on a shared
    /// futex woken by the `task_done` that finishes the last one.
    ///
    /// # Errors
    ///
    /// [`JoinError::ConsumerDied`] once the only items not done are ones that consumers held
    /// when they died (see *Lost items* in the [type's docs](JoinableQueue)); it says how many. Found by a look at the consumers every
    /// 200 ms while it waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{JoinableQueue, Process};
    ///
    /// let q = JoinableQueue::<u32>::new(0)?;
    /// for i in 0..3 {
    ///     q.put(i)?;
    /// }
    /// let worker = q.clone();
    /// let p = Process::new(move || {
    ///     for _ in 0..3 {
    ///         worker.get().unwrap();
    ///         worker.task_done().unwrap();
    ///     }
    /// });
    /// p.start()?;
    /// q.join()?;
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// p.join()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join(&self) -> Result<(), JoinError> {
        match self.join_until(Deadline::Never) {
            Some(result) => result,
            None => unreachable!("a join without deadline waits until it is done"),
        }
    }

    /// [`join`](Self::join), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`JoinTimeoutError::Timeout`] if items were still unfinished after `timeout` (never
    /// sooner); [`JoinTimeoutError::ConsumerDied`] as [`join`](Self::join).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{queue::JoinTimeoutError, JoinableQueue};
    /// use std::time::Duration;
    ///
    /// let q = JoinableQueue::<u8>::new(0)?;
    /// q.put(1)?;
    /// let err = q.join_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(err, JoinTimeoutError::Timeout));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), JoinTimeoutError> {
        match self.join_until(Deadline::after(timeout)) {
            Some(result) => result.map_err(JoinTimeoutError::from),
            None => Err(JoinTimeoutError::Timeout),
        }
    }

    /// The one join loop: `None` if `deadline` passed first.
    fn join_until(&self, deadline: Deadline) -> Option<Result<(), JoinError>> {
        let counts = &*self.counts;
        let wait = Wait {
            word: counts.all_done(),
            ledger: None,
        };
        block_on(
            wait,
            deadline,
            || {
                // Acquire: pairs with the Release of the last `task_done`; what the workers
                // did before it happens before our return.
                let left = counts.unfinished().load(Acquire);
                match left {
                    0 => Some(Ok(())),
                    // Every item left is a lost one.
                    left if left <= counts.lost() => {
                        Some(Err(JoinError::ConsumerDied { lost: left }))
                    }
                    _ => None,
                }
            },
            // Every 200 ms asleep: did a consumer die holding items? (Nobody notifies a
            // death.) A repair that found one makes the next attempt see it.
            // Only while some process holds items: nobody else can die holding one.
            || {
                if counts.ledger.total(HELD) > 0 {
                    counts.ledger.repair_dead();
                }
            },
        )
    }

    /// The number of items put and not yet marked done, from every process (a snapshot;
    /// Python keeps it in a private semaphore). Lost items stay in it.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::JoinableQueue::<u8>::new(0)?;
    /// q.put(1)?;
    /// q.put(2)?;
    /// q.get()?;
    /// q.task_done()?;
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unfinished_tasks(&self) -> u64 {
        self.counts.unfinished().load(Relaxed)
    }

    /// Says that this process will put and get no more; see [`Queue::close`]. `task_done` and
    /// `join` still work, as in Python.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{GetError, JoinableQueue, PutError};
    ///
    /// let q = JoinableQueue::<u8>::new(0)?;
    /// q.close();
    /// assert!(matches!(q.put(1), Err(PutError::Closed(1))));
    /// assert!(matches!(q.get(), Err(GetError::Closed)));
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// q.join()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        self.queue.close();
    }

    /// Takes the items that are there now, without waiting; as [`Queue::try_iter`]. Each item
    /// yielded is held by this process until it calls [`task_done`](Self::task_done).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::JoinableQueue::<u8>::new(0)?;
    /// q.put(1)?;
    /// q.put(2)?;
    /// for item in q.try_iter() {
    ///     item?;
    ///     q.task_done()?;
    /// }
    /// q.join()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_iter(&self) -> JoinableTryIter<'_, T> {
        JoinableTryIter {
            queue: self,
            done: false,
        }
    }

    /// The number of items in the queue now (Python: `qsize()`); a snapshot. Items got and not
    /// yet done are not in it: see [`unfinished_tasks`](Self::unfinished_tasks).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::JoinableQueue::<u8>::new(0)?;
    /// q.put(1)?;
    /// assert_eq!(q.qsize(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn qsize(&self) -> usize {
        self.queue.qsize()
    }

    /// Whether the queue is empty (Python: `empty()`); a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(host_runtime::JoinableQueue::<u8>::new(0)?.empty());
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn empty(&self) -> bool {
        self.queue.empty()
    }

    /// Whether the queue is full (Python: `full()`); a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::JoinableQueue::<u8>::new(1)?;
    /// q.put(1)?;
    /// assert!(q.full());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn full(&self) -> bool {
        self.queue.full()
    }

    /// The most items the queue holds; see [`Queue::capacity`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(host_runtime::JoinableQueue::<u8>::new(3)?.capacity(), 3);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }
}

/// The iterator of [`JoinableQueue::try_iter`]: as [`TryIter`](super::TryIter), each item held by this process
/// until its `task_done`.
pub struct JoinableTryIter<'a, T> {
    queue: &'a JoinableQueue<T>,
    done: bool,
}

impl<T: Serialize + DeserializeOwned> Iterator for JoinableTryIter<'_, T> {
    type Item = Result<T, GetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        super::iter::step(self.queue.get_nowait(), &mut self.done)
    }
}

impl<T: Serialize + DeserializeOwned> std::iter::FusedIterator for JoinableTryIter<'_, T> {}

impl<T> fmt::Debug for JoinableTryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableTryIter")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
