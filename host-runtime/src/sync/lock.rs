//! [`Lock`] and [`RLock`]: Python's `multiprocessing.Lock` and `RLock`, with guards, recovered
//! when their holder dies.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use ipc_core::{LockOwner, LockWord};

use super::error::{AcquireError, LockError, LockTimeoutError, ReleaseError, TryLockError};
use super::raw::{self, Fail, Got, Kind, NamedError, Shared};
use crate::sys::Pid;
use crate::wait::Deadline;

/// Turns the outcome of [`raw::acquire`] into a guard or one call's error.
macro_rules! outcome {
    ($result:expr, $guard:expr, $err:ident, busy => $busy:ident) => {
        match $result {
            Ok(Got::Clean) => Ok($guard),
            Ok(Got::OwnerDied) => Err($err::OwnerDied($guard)),
            Err(Fail::Busy) => Err($err::$busy),
            Err(Fail::Overflow) => Err($err::Overflow),
            Err(Fail::Corrupt | Fail::Deadlock) => Err($err::Corrupt),
        }
    };
}

macro_rules! define_lock {
    (
        $(#[$doc:meta])*
        $name:ident, $guard:ident, recursive: $recursive:literal, python: $python:literal,
        kind: $kind:expr
    ) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            shared: Arc<Shared>,
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("holder", &self.holder())
                    .finish()
            }
        }

        impl $name {
            /// A new, free lock in anonymous shared memory, shared with the children forked
            #[doc = concat!("after this (e.g. a clone moved into a [`Process`](crate::Process)), as Python's `", $python, "()`.")]
            ///
            /// # Errors
            ///
            /// The `mmap` of its page failed.
            pub fn new() -> io::Result<$name> {
                Ok($name {
                    shared: Shared::anonymous(64)?,
                })
            }

            /// A new, free lock in the named shared-memory object `name` (`/dev/shm/NAME`,
            /// mode 0600; see [`SharedRegion::create_named`](crate::SharedRegion::create_named)),
            /// which unrelated processes of the user open with
            /// [`open_named`](Self::open_named); it stays until
            /// [`SharedRegion::unlink_named`](crate::SharedRegion::unlink_named).
            ///
            /// # Errors
            ///
            /// [`NamedError::Shm`] (e.g. `AlreadyExists`).
            pub fn create_named(name: &str) -> Result<$name, NamedError> {
                Ok($name {
                    shared: Shared::create_named(name, $kind, 0, 64, |_| {})?,
                })
            }

            #[doc = concat!("Opens the named lock `name` made by [`create_named`](Self::create_named) (of an `", stringify!($name), "`).")]
            ///
            /// # Errors
            ///
            /// [`NamedError::Shm`] (e.g. `NotFound`), [`NamedError::NotInitialised`],
            /// [`NamedError::WrongKind`] (another primitive), [`NamedError::BadParameters`].
            pub fn open_named(name: &str) -> Result<$name, NamedError> {
                Ok($name {
                    shared: Shared::open_named(name, $kind, 64)?.0,
                })
            }

            #[inline]
            pub(super) fn word(&self) -> &LockWord {
                self.shared.lock_word(0)
            }

            #[inline]
            pub(super) fn get(&self, deadline: Deadline, me: LockOwner) -> Result<Got, Fail> {
                raw::acquire(self.word(), &self.shared.stall, $recursive, deadline, me)
            }

            #[inline]
            fn guard(&self, me: LockOwner) -> $guard<'_> {
                $guard {
                    lock: self,
                    me,
                    _not_send: PhantomData,
                }
            }

            /// Takes the lock, waiting as long as it takes (a holder that dies is found out
            #[doc = concat!("within [`DEATH_CHECK`](super::DEATH_CHECK)); the guard lets it go when dropped.")]
            ///
            /// # Errors
            ///
            /// [`LockError::OwnerDied`] with the guard if its holder had died;
            /// [`LockError::WouldDeadlock`] if the calling thread holds this `Lock` already
            /// (never for an `RLock`); [`LockError::Overflow`] (`RLock` only),
            /// [`LockError::Corrupt`].
            #[inline]
            pub fn lock(&self) -> Result<$guard<'_>, LockError<$guard<'_>>> {
                let me = raw::me();
                match self.get(Deadline::Never, me) {
                    Err(Fail::Deadlock) => Err(LockError::WouldDeadlock),
                    r => outcome!(r, self.guard(me), LockError, busy => Corrupt),
                }
            }

            /// Takes the lock if nobody else holds it, without waiting.
            ///
            /// # Errors
            ///
            /// [`TryLockError::WouldBlock`] if it is held by a live holder;
            /// [`TryLockError::OwnerDied`] with the guard if its holder had died (judged at
            #[doc = concat!("most every [`DEATH_CHECK`](super::DEATH_CHECK) per handle and process: until then, `WouldBlock`);")]
            /// [`TryLockError::Overflow`], [`TryLockError::Corrupt`].
            #[inline]
            pub fn try_lock(&self) -> Result<$guard<'_>, TryLockError<$guard<'_>>> {
                let me = raw::me();
                outcome!(self.get(Deadline::NoWait, me), self.guard(me), TryLockError, busy => WouldBlock)
            }

            /// Takes the lock, waiting at most `timeout`.
            ///
            /// # Errors
            ///
            /// [`LockTimeoutError::Timeout`] if a live holder (a stopped one too) held it
            /// throughout; the others as for [`lock`](Self::lock).
            pub fn lock_timeout(
                &self,
                timeout: Duration,
            ) -> Result<$guard<'_>, LockTimeoutError<$guard<'_>>> {
                let me = raw::me();
                outcome!(self.get(Deadline::after(timeout), me), self.guard(me), LockTimeoutError, busy => Timeout)
            }

            #[doc = concat!("Python's `", $python, ".acquire(block, timeout)`: takes the lock, waiting (if `block`) at most")]
            /// `timeout` (`None`: as long as it takes). Returns whether it took it. `timeout`
            /// is ignored when `block` is false, as in Python's `multiprocessing`. Pair it
            /// with [`release`](Self::release).
            ///
            /// # Errors
            ///
            /// [`AcquireError::OwnerDied`]: the caller **holds** the lock, taken over from a
            /// holder that died; [`AcquireError::WouldDeadlock`] for a blocking acquire
            /// without timeout of a `Lock` the calling thread holds;
            /// [`AcquireError::Overflow`] (`RLock`), [`AcquireError::Corrupt`].
            pub fn acquire(&self, block: bool, timeout: Option<Duration>) -> Result<bool, AcquireError> {
                let deadline = if block { Deadline::within(timeout) } else { Deadline::NoWait };
                match self.get(deadline, raw::me()) {
                    Ok(Got::Clean) => Ok(true),
                    Ok(Got::OwnerDied) => Err(AcquireError::OwnerDied),
                    Err(Fail::Busy) => Ok(false),
                    Err(Fail::Deadlock) => Err(AcquireError::WouldDeadlock),
                    Err(Fail::Overflow) => Err(AcquireError::Overflow),
                    Err(Fail::Corrupt) => Err(AcquireError::Corrupt),
                }
            }

            #[doc = concat!("Python's `", $python, ".release()`: lets go of a hold taken with [`acquire`](Self::acquire).")]
            ///
            /// # Errors
            ///
            /// [`ReleaseError::NotHeld`] if the lock is free, [`ReleaseError::NotOwner`] if
            /// another thread holds it (Python's `Lock` lets any thread release; ours, like
            /// its `RLock`, only the holder), with no change; [`ReleaseError::Corrupt`].
            #[inline]
            pub fn release(&self) -> Result<(), ReleaseError> {
                raw::release(self.word(), $recursive, raw::me()).map_err(ReleaseError::from)
            }

            /// The thread id of the holder, if the lock is held (a snapshot). `None` also for
            /// a holder word that names no thread (garbled by a broken process).
            pub fn holder(&self) -> Option<Pid> {
                self.word().holder().and_then(|h| Pid::from_word(h.owner()))
            }
        }

        #[doc = concat!("A hold of a [`", stringify!($name), "`]: dropping it lets the lock go. Not `Send`: the")]
        /// lock records the thread that holds it.
        #[must_use = "dropping the guard lets the lock go at once"]
        pub struct $guard<'a> {
            lock: &'a $name,
            /// The holder: the thread that made the guard (it is not `Send`).
            me: LockOwner,
            _not_send: PhantomData<*const ()>,
        }

        impl fmt::Debug for $guard<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($guard)).finish_non_exhaustive()
            }
        }

        impl Drop for $guard<'_> {
            #[inline]
            fn drop(&mut self) {
                // NotOwner/NotHeld: someone scribbled on the word, or took the lock over
                // wrongly; there is nothing of ours left to let go.
                let _ = raw::release(self.lock.word(), $recursive, self.me);
            }
        }
    };
}

define_lock! {
    /// Python's `multiprocessing.Lock`: a non-recursive lock shared by processes (and their
    /// threads), recovered when its holder dies (see the [module docs](super)).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::sync::{Lock, TryLockError};
    ///
    /// let lock = Lock::new()?;
    /// // A guard error borrows the lock (it may carry the guard): unwrap it or match it.
    /// let guard = lock.lock().unwrap();
    /// assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
    /// drop(guard);
    /// assert!(lock.acquire(false, None)?); // Python's acquire(False)
    /// lock.release()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Lock, LockGuard, recursive: false, python: "Lock", kind: Kind::Lock
}

define_lock! {
    /// Python's `multiprocessing.RLock`: a recursive lock (its holder may take it again; it is
    /// free once each hold is let go), recovered when its holder dies (see the
    /// [module docs](super)).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::sync::RLock;
    ///
    /// let lock = RLock::new()?;
    /// let outer = lock.lock().unwrap();
    /// let inner = lock.lock().unwrap();
    /// drop(inner);
    /// assert!(lock.holder().is_some());
    /// drop(outer);
    /// assert!(lock.holder().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    RLock, RLockGuard, recursive: true, python: "RLock", kind: Kind::RLock
}

impl RLock {
    /// The lock whose word is at 0 of `shared`'s page (a page that holds more: a named
    /// `Condition`'s, `Value`'s or `Array`'s).
    pub(super) fn from_shared(shared: Arc<Shared>) -> RLock {
        RLock { shared }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::error::LockTimeoutError;
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

    /// Whatever another process writes into the word: a holder id that names no thread is
    /// taken over (told), one that names a live thread is waited for (with a timeout), and a
    /// word that keeps changing makes a timed wait end at its deadline, not spin for ever.
    #[test]
    fn scribbled_words() {
        let lock = Lock::new().unwrap();
        // No thread has this id (above any pid_max): dead.
        lock.word().futex().store(0x7fff_fff0, Relaxed);
        assert!(matches!(lock.lock(), Err(LockError::OwnerDied(_))));
        assert!(lock.holder().is_none());
        // Our own process's id (the test harness's main thread lives): alive.
        lock.word()
            .futex()
            .store(std::process::id() | 1 << 31, Relaxed);
        assert!(matches!(
            lock.lock_timeout(Duration::from_millis(50)),
            Err(LockTimeoutError::Timeout)
        ));
        // A writer that flips the word between two live holders as fast as it can.
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let (a, b) = (std::process::id(), std::process::id() | 1 << 31);
                while !stop.load(Relaxed) {
                    lock.word().futex().store(a, Relaxed);
                    lock.word().futex().store(b, Relaxed);
                }
            });
            let r = lock.lock_timeout(Duration::from_millis(300));
            stop.store(true, Relaxed);
            assert!(matches!(r, Err(LockTimeoutError::Timeout)));
        });
        lock.word().futex().store(0, Relaxed);
        drop(lock.lock().unwrap());
    }
}
