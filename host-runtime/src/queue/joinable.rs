//! [`JoinableQueue`]: Python's `multiprocessing.JoinableQueue` (a [`Queue`] plus `task_done`
//! and `join`), whose `join` reports the items that died with a consumer instead of waiting
//! for them for ever.
//!
//! The counts and what "lost" means are in the docs of [`JoinableQueue`].

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::Arc;
use std::time::Duration;

use ipc_core::WaitWord;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{
    Builder, GetError, GetNowaitError, GetTimeoutError, PutError, PutNowaitError, PutTimeoutError,
    Queue, QueueError, DEFAULT_MAX_PROCESSES,
};
use crate::ledger::Ledger;
use crate::shared::region::{Part, SharedBytes, View};
use crate::shm::SharedRegion;
use crate::sys::fork_generation;
use crate::wait::{block_on, notify_all, Deadline, Wait};

/// The ledger kind: items a process got and has not marked done.
const HELD: usize = 0;

/// Offsets in the counting region.
const UNFINISHED: usize = 0;
const FOREIGN: usize = 8;
const ALL_DONE: usize = 16;
const STATE_LEN: usize = 24;

/// Compare-and-swap attempts on a shared counter before giving up: other processes' honest
/// changes each let one attempt fail, so only a process that keeps rewriting the word (a
/// broken one) makes a call run out of them.
const MAX_ATTEMPTS: u32 = 1 << 16;

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
/// - `all_done`: a [`WaitWord`] that `join` sleeps on (shared futex); whoever takes U down to
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

/// The shared counts (type docs) and this process's view of them.
struct Counts {
    /// `unfinished`, `foreign`, `all_done` (the offsets above).
    bytes: SharedBytes,
    ledger: Ledger,
    /// Serialises this process's changes of its `HELD` count with the look at it that decides
    /// whether a `task_done` is its own or foreign (threads of one process share the count,
    /// and the ledger's changes of a kind not inherited are not atomic as a whole).
    held: HeldLock,
    _region: SharedRegion,
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

/// A process-local lock that a fork cannot leave locked for ever: its word holds the fork
/// generation + 1 of the process whose thread holds it (0: free), so a child, whose other
/// threads are gone, takes over a lock copied from its parent. Held for a few atomic operations
/// (and, once per process, the ledger's registration); waiters spin briefly, then yield.
struct HeldLock(AtomicU64);

struct HeldGuard<'a>(&'a AtomicU64);

impl HeldLock {
    fn lock(&self) -> HeldGuard<'_> {
        let mine = fork_generation() + 1;
        let mut spins = 0u32;
        loop {
            let seen = self.0.load(Relaxed);
            // Free, or held by a thread of the parent this process was forked from (it does
            // not exist here). Acquire: pairs with the Release of the last unlock.
            if seen != mine
                && self
                    .0
                    .compare_exchange(seen, mine, Acquire, Relaxed)
                    .is_ok()
            {
                return HeldGuard(&self.0);
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire of the next lock.
        self.0.store(0, Release);
    }
}

impl Counts {
    fn new() -> Result<Counts, QueueError> {
        let region = SharedRegion::new(STATE_LEN)?;
        let View::Bytes(bytes) = region.claim(Part::Bytes {
            offset: 0,
            len: STATE_LEN,
        })?
        else {
            unreachable!("a bytes part gives a bytes view")
        };
        // Kind HELD, not inherited by fork.
        let ledger = Ledger::new(1, 0, DEFAULT_MAX_PROCESSES)?;
        Ok(Counts {
            bytes,
            ledger,
            held: HeldLock(AtomicU64::new(0)),
            _region: region,
        })
    }

    fn unfinished(&self) -> &AtomicU64 {
        self.bytes.u64_at(UNFINISHED)
    }

    fn foreign(&self) -> &AtomicU64 {
        self.bytes.u64_at(FOREIGN)
    }

    fn all_done(&self) -> &WaitWord {
        &self.bytes.atomics::<WaitWord>(ALL_DONE, 1)[0]
    }

    /// The items counted lost (type docs: `E = L − F`, not below 0).
    fn lost(&self) -> u64 {
        let foreign = self.foreign().load(Relaxed);
        self.ledger.lost(HELD).saturating_sub(foreign)
    }

    /// Takes one from `unfinished` unless it is at most `floor` (then `TooManyCalls`), and wakes
    /// the joiners if it reached the lost count. A CAS loop, capped at [`MAX_ATTEMPTS`].
    fn finish_one(&self, floor: impl Fn() -> u64) -> Result<(), TaskDoneError> {
        let unfinished = self.unfinished();
        let mut seen = unfinished.load(Relaxed);
        for _ in 0..MAX_ATTEMPTS {
            if seen <= floor() {
                return Err(TaskDoneError::TooManyCalls);
            }
            // Release: pairs with the Acquire load in `join`; the work done on the item comes
            // before the joiner's return (RMWs continue the release sequence).
            match unfinished.compare_exchange_weak(seen, seen - 1, Release, Relaxed) {
                Ok(_) => {
                    if seen - 1 <= self.lost() {
                        notify_all(self.all_done());
                    }
                    return Ok(());
                }
                Err(now) => seen = now,
            }
        }
        Err(TaskDoneError::Corrupt)
    }

    /// This process took an item (inside the ring claim of its get).
    fn took(&self) {
        let _held = self.held.lock();
        self.ledger.add(HELD, 1);
    }

    /// `task_done`: one of this process's items if it holds any, else a foreign one.
    fn task_done(&self) -> Result<(), TaskDoneError> {
        let own = {
            let _held = self.held.lock();
            let own = self.ledger.held(HELD) > 0;
            // Before `unfinished` (type docs): a death in between leaves the item counted
            // neither held nor done, so a loss may go unreported but a live item is never
            // written off.
            if own {
                self.ledger.sub(HELD, 1);
            } else {
                self.foreign().fetch_add(1, Relaxed);
            }
            own
        };
        let done = self.finish_one(|| self.lost());
        if done.is_err() {
            // Nothing was done: undo.
            if own {
                self.took();
            } else {
                // One RMW, no loop on a shared word (it wraps only if a broken process wrote
                // it: then `lost` saturates).
                self.foreign().fetch_sub(1, Relaxed);
            }
        }
        done
    }

    /// A put that failed after counting its item: takes it back.
    fn unput(&self) {
        let _ = self.finish_one(|| 0);
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

/// Why a [`task_done`](JoinableQueue::task_done) changed nothing.
///
/// # Examples
///
/// ```
/// use host_runtime::{JoinableQueue, TaskDoneError};
///
/// let q = JoinableQueue::<u8>::new(0)?;
/// let err = q.task_done().unwrap_err();
/// assert!(matches!(err, TaskDoneError::TooManyCalls));
/// assert_eq!(err.to_string(), "task_done() called too many times");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskDoneError {
    /// No item is unfinished (other than the lost ones): more `task_done` calls than items
    /// put (Python's `ValueError`).
    TooManyCalls,
    /// The shared count kept changing under the call (only a broken process makes it).
    Corrupt,
}

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyCalls => f.write_str("task_done() called too many times"),
            Self::Corrupt => f.write_str("the unfinished count kept changing (corrupt)"),
        }
    }
}

impl std::error::Error for TaskDoneError {}

/// Why a [`join`](JoinableQueue::join) returned without every item done.
///
/// # Examples
///
/// ```
/// use host_runtime::queue::JoinError;
///
/// let err = JoinError::ConsumerDied { lost: 3 };
/// assert_eq!(err.to_string(), "3 items were lost with consumers that died holding them");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// Every item not done was held by a consumer when it died: `lost` of them. They stay
    /// unfinished, so later joins report them too, until `task_done` is called for them (by
    /// a process that holds no item: see [`JoinableQueue`], *Lost items*).
    ConsumerDied {
        /// How many items are lost.
        lost: u64,
    },
}

/// Why a [`join_timeout`](JoinableQueue::join_timeout) returned without every item done.
///
/// # Examples
///
/// ```
/// use host_runtime::queue::{JoinError, JoinTimeoutError};
///
/// let err = JoinTimeoutError::from(JoinError::ConsumerDied { lost: 1 });
/// assert!(matches!(err, JoinTimeoutError::ConsumerDied { lost: 1 }));
/// assert_eq!(JoinTimeoutError::Timeout.to_string(), "timed out waiting for the tasks to be done");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinTimeoutError {
    /// Items were still unfinished (and not lost) when the timeout passed.
    Timeout,
    /// As [`JoinError::ConsumerDied`].
    ConsumerDied {
        /// How many items are lost.
        lost: u64,
    },
}

impl From<JoinError> for JoinTimeoutError {
    fn from(e: JoinError) -> Self {
        match e {
            JoinError::ConsumerDied { lost } => Self::ConsumerDied { lost },
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConsumerDied { lost } => write!(
                f,
                "{lost} items were lost with consumers that died holding them"
            ),
        }
    }
}

impl fmt::Display for JoinTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out waiting for the tasks to be done"),
            Self::ConsumerDied { lost } => JoinError::ConsumerDied { lost: *lost }.fmt(f),
        }
    }
}

impl std::error::Error for JoinError {}

impl std::error::Error for JoinTimeoutError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_that_is_not_an_item_counts_done() {
        let q = JoinableQueue::<bool>::new(0).unwrap();
        // A counted put of bytes that are no `bool`, as a broken producer would make.
        q.counted(|| q.queue.raw.put([2]).map_err(drop)).unwrap();
        assert_eq!(q.unfinished_tasks(), 1);
        assert!(matches!(q.get_nowait(), Err(GetNowaitError::Decode(_))));
        assert_eq!(q.unfinished_tasks(), 0);
        assert_eq!(q.counts.ledger.held(HELD), 0);
        q.join().unwrap();
    }

    #[test]
    fn garbage_counts_cannot_panic_nor_hang_a_timed_join() {
        let q = JoinableQueue::<u8>::new(4).unwrap();
        let c = &q.counts;
        for garbage in [u64::MAX, u64::MAX - 1, 1 << 63, 0, 1] {
            c.unfinished().store(garbage, Relaxed);
            c.foreign().store(garbage.rotate_left(7), Relaxed);
            let _ = q.put(1);
            let _ = q.get_nowait();
            let _ = q.task_done();
            let _ = q.task_done();
            let _ = q.join_timeout(Duration::ZERO);
            let _ = q.unfinished_tasks();
            let _ = format!("{q:?}");
        }
        // An honest state again: everything works.
        c.unfinished().store(0, Relaxed);
        c.foreign().store(0, Relaxed);
        q.try_iter().for_each(drop);
        q.put(3).unwrap();
        assert_eq!(q.get().unwrap(), 3);
        q.task_done().unwrap();
        assert_eq!(q.join_timeout(Duration::ZERO), Ok(()));
    }

    #[test]
    fn a_lock_copied_by_fork_is_taken_over() {
        let lock = HeldLock(AtomicU64::new(0));
        // As a parent's thread would have left it: held under another generation.
        lock.0.store(fork_generation() + 7, Relaxed);
        drop(lock.lock());
        assert_eq!(lock.0.load(Relaxed), 0);
    }
}
