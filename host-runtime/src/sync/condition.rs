//! [`Condition`]: Python's `multiprocessing.Condition`, over an [`RLock`].

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_core::Unlocked;

use super::error::{AcquireError, LockError, ReleaseError};
use super::lock::{RLock, RLockGuard};
use super::raw::{self, Fail, Got, Kind, NamedError, Shared, Sleeper};
use crate::sys::futex::futex_wake;
use crate::wait::Deadline;

/// Why [`Condition::wait`] (or `notify`) did not do its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConditionError {
    /// The calling thread does not hold the condition's lock (Python's `RuntimeError:
    /// cannot wait on un-acquired lock`). Nothing changed.
    NotOwner,
    /// While re-taking the lock after the wait, its holder was found dead: the caller
    /// **holds** the lock (with its former depth) and should repair what it protects.
    OwnerDied,
    /// The lock word kept changing (only a process that scribbles on it does that).
    Corrupt,
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotOwner => "cannot wait on or notify an un-acquired lock",
            Self::OwnerDied => {
                "the lock's holder died; the lock is taken over (repair what it protects)"
            }
            Self::Corrupt => "the lock word kept changing (corrupt shared memory)",
        })
    }
}

impl std::error::Error for ConditionError {}

/// Python's `multiprocessing.Condition`: a recursive lock and a notification word, in
/// anonymous shared memory (shared with children forked after it is made), or in a named
/// object ([`create_named`](Self::create_named), [`open_named`](Self::open_named)).
///
/// `wait` lets go of the lock (whatever its depth), sleeps on a futex until a `notify` (or the
/// timeout), and takes the lock back at the same depth. A holder that dies while a waiter
/// re-takes the lock is handled as for [`RLock`]: the waiter takes it over and gets
/// [`ConditionError::OwnerDied`]. A waiter may also wake without a notify for it (a `notify(1)`
/// that came before several waiters fell asleep wakes them all): use
/// [`wait_for`](Self::wait_for) with the predicate.
///
/// # Examples
///
/// ```
/// use host_runtime::sync::Condition;
/// use host_runtime::Process;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// let cond = Condition::new()?;
/// let (c, ready) = (cond.clone(), cond.clone());
/// let p = Process::new(move || {
///     let _g = c.lock().unwrap();
///     c.flag().store(1, Ordering::Relaxed);
///     c.notify_all().unwrap();
/// });
/// p.start()?;
/// let _g = ready.lock().unwrap();
/// assert!(ready.wait_for(|| ready.flag().load(Ordering::Relaxed) == 1, None)?);
/// drop(_g);
/// p.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Condition {
    lock: RLock,
    shared: Arc<Shared>,
    /// Where `seq` and the flag start in `shared`'s page: 0 in a page of their own, [`NAMED`]
    /// after the lock word in a named object's.
    base: usize,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .finish_non_exhaustive()
    }
}

/// Page layout from `base`: `seq` (the futex word) at 0, a user flag at 8 (see
/// [`Condition::flag`]). A named condition's page holds its `RLock`'s word at 0 and these at
/// [`NAMED`].
const SEQ: usize = 0;
const FLAG: usize = 8;
const NAMED: usize = 64;
const NAMED_PAGE: usize = NAMED + 64;

impl Condition {
    /// A condition with a new [`RLock`] (Python's `Condition()`).
    ///
    /// # Errors
    ///
    /// The `mmap` of its pages failed.
    pub fn new() -> io::Result<Condition> {
        Self::with_lock(RLock::new()?)
    }

    /// A condition over `lock` (Python's `Condition(lock)`).
    ///
    /// # Errors
    ///
    /// The `mmap` of its page failed.
    pub fn with_lock(lock: RLock) -> io::Result<Condition> {
        Ok(Condition {
            lock,
            shared: Shared::anonymous(64)?,
            base: 0,
        })
    }

    /// A new condition, with its own [`RLock`], in the named shared-memory object `name`
    /// (one object for both; see [`Lock::create_named`](super::Lock::create_named)), which
    /// unrelated processes open with [`open_named`](Self::open_named).
    ///
    /// # Errors
    ///
    /// [`NamedError::Shm`] (e.g. `AlreadyExists`).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::sync::Condition;
    /// use std::sync::atomic::Ordering;
    /// use std::time::Duration;
    ///
    /// let name = format!("hr-doc-cond-{}", std::process::id());
    /// let cond = Condition::create_named(&name)?;
    /// let other = Condition::open_named(&name)?; // as another process would
    /// cond.flag().store(7, Ordering::Relaxed);
    /// assert_eq!(other.flag().load(Ordering::Relaxed), 7);
    /// // One lock for both: held through `other`, so `cond` may wait (and time out).
    /// let g = other.lock().unwrap();
    /// assert!(!cond.wait(Some(Duration::from_millis(1)))?);
    /// drop(g);
    /// host_runtime::SharedRegion::unlink_named(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_named(name: &str) -> Result<Condition, NamedError> {
        let shared = Shared::create_named(name, Kind::Condition, 0, NAMED_PAGE, |_| {})?;
        Ok(Self::named(shared))
    }

    /// Opens the named condition `name` made by [`create_named`](Self::create_named).
    ///
    /// # Errors
    ///
    /// As [`Lock::open_named`](super::Lock::open_named).
    pub fn open_named(name: &str) -> Result<Condition, NamedError> {
        let (shared, _) = Shared::open_named(name, Kind::Condition, NAMED_PAGE)?;
        Ok(Self::named(shared))
    }

    fn named(shared: Arc<Shared>) -> Condition {
        Condition {
            lock: RLock::from_shared(shared.clone()),
            shared,
            base: NAMED,
        }
    }

    fn seq(&self) -> &AtomicU32 {
        &self.shared.bytes().atomics::<AtomicU32>(self.base + SEQ, 1)[0]
    }

    /// A shared 32-bit word that goes with the condition, for small states a predicate tests
    /// (as in the example); any use is the caller's.
    pub fn flag(&self) -> &AtomicU32 {
        &self
            .shared
            .bytes()
            .atomics::<AtomicU32>(self.base + FLAG, 1)[0]
    }

    /// The condition's lock.
    pub fn lock_handle(&self) -> &RLock {
        &self.lock
    }

    /// Takes the condition's lock: see [`RLock::lock`].
    ///
    /// # Errors
    ///
    /// As [`RLock::lock`].
    pub fn lock(&self) -> Result<RLockGuard<'_>, LockError<RLockGuard<'_>>> {
        self.lock.lock()
    }

    /// Python's `acquire(block, timeout)`: see [`RLock::acquire`].
    ///
    /// # Errors
    ///
    /// As [`RLock::acquire`].
    pub fn acquire(&self, block: bool, timeout: Option<Duration>) -> Result<bool, AcquireError> {
        self.lock.acquire(block, timeout)
    }

    /// Python's `release()`: see [`RLock::release`].
    ///
    /// # Errors
    ///
    /// As [`RLock::release`].
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.lock.release()
    }

    /// Whether the calling thread holds the lock.
    fn held_by_me(&self) -> bool {
        let me = raw::me();
        self.lock
            .word()
            .holder()
            .is_some_and(|h| h.owner() == me.id())
    }

    /// Python's `wait(timeout)`: lets go of the lock, waits for a notify (at most `timeout`;
    /// `None`: as long as it takes), takes the lock back. Returns `false` if the timeout ran
    /// out, `true` otherwise (possibly without a notify meant for this waiter: see the type's
    /// docs).
    ///
    /// # Errors
    ///
    /// [`ConditionError::NotOwner`] if the calling thread does not hold the lock;
    /// [`ConditionError::OwnerDied`] (the caller holds the lock again);
    /// [`ConditionError::Corrupt`].
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool, ConditionError> {
        if !self.held_by_me() {
            return Err(ConditionError::NotOwner);
        }
        let word = self.lock.word();
        let depth = word.depth().max(1);
        // Acquire: pairs with `notify`'s Release. Read while we hold the lock: a notify that
        // comes after we let go moves it, and our sleep below does not start.
        let seen = self.seq().load(Acquire);
        // Every hold at once (`recursive: false`); a lock waiter is woken if one sleeps.
        if let Unlocked::Released { wake: true } = word
            .unlock(raw::me(), false)
            .map_err(|_| ConditionError::Corrupt)?
        {
            let _ = futex_wake(word.futex(), 1);
        }
        let deadline = Deadline::within(timeout);
        let mut sleeper = Sleeper::new();
        let notified = loop {
            if self.seq().load(Acquire) != seen {
                break true;
            }
            if deadline.has_passed() {
                break false;
            }
            sleeper.sleep(self.seq(), seen, deadline.remaining());
        };
        // Take the lock back, at the same depth.
        let got = self.lock.get(Deadline::Never, raw::me());
        let died = match got {
            Ok(Got::Clean) => false,
            Ok(Got::OwnerDied) => true,
            Err(Fail::Overflow | Fail::Corrupt | Fail::Busy | Fail::Deadlock) => {
                return Err(ConditionError::Corrupt)
            }
        };
        for _ in 1..depth {
            if word.try_lock(raw::me(), true, false).is_err() {
                return Err(ConditionError::Corrupt);
            }
        }
        if died {
            return Err(ConditionError::OwnerDied);
        }
        Ok(notified)
    }

    /// Python's `wait_for(predicate, timeout)`: waits until `predicate()` is true, at most
    /// `timeout`; returns the predicate's last value. The lock must be held.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool, ConditionError> {
        let end = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if predicate() {
                return Ok(true);
            }
            let left = match end {
                Some(end) => {
                    let left = end.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(predicate());
                    }
                    Some(left)
                }
                None => None,
            };
            self.wait(left)?;
        }
    }

    /// Python's `notify(n)`: wakes up to `n` waiters. The lock must be held.
    ///
    /// # Errors
    ///
    /// [`ConditionError::NotOwner`] if the calling thread does not hold the lock.
    pub fn notify(&self, n: u32) -> Result<(), ConditionError> {
        if !self.held_by_me() {
            return Err(ConditionError::NotOwner);
        }
        // Release: pairs with the waiter's Acquire; what we did under the lock is visible.
        self.seq().fetch_add(1, Release);
        let _ = futex_wake(self.seq(), n);
        Ok(())
    }

    /// Python's `notify_all()`: wakes every waiter. The lock must be held.
    ///
    /// # Errors
    ///
    /// [`ConditionError::NotOwner`] if the calling thread does not hold the lock.
    pub fn notify_all(&self) -> Result<(), ConditionError> {
        self.notify(u32::MAX)
    }
}
