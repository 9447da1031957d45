//! The errors of [`crate::sync`]: one type per way of waiting, each with only what that call
//! can return; a lock taken over from a dead holder is an `Err` that carries the guard.

use std::fmt;

/// Why [`Lock::lock`](super::Lock::lock) (or `RLock`'s) returned no plain guard.
#[non_exhaustive]
pub enum LockError<G> {
    /// The lock's holder died holding it: the caller holds it now (`G` is its guard) and
    /// should repair what the lock protects (POSIX's `EOWNERDEAD`).
    OwnerDied(G),
    /// The calling thread holds this (non-recursive) lock already: waiting would never end.
    WouldDeadlock,
    /// A recursive lock held `u32::MAX` times already.
    Overflow,
    /// The lock word kept changing (only a process that scribbles on it does that).
    Corrupt,
}

/// Why [`Lock::try_lock`](super::Lock::try_lock) (or `RLock`'s) returned no plain guard.
#[non_exhaustive]
pub enum TryLockError<G> {
    /// Another thread or process holds the lock (or the calling thread, for a `Lock`).
    WouldBlock,
    /// See [`LockError::OwnerDied`].
    OwnerDied(G),
    /// See [`LockError::Overflow`].
    Overflow,
    /// See [`LockError::Corrupt`].
    Corrupt,
}

/// Why [`Lock::lock_timeout`](super::Lock::lock_timeout) (or `RLock`'s) returned no plain
/// guard.
#[non_exhaustive]
pub enum LockTimeoutError<G> {
    /// The lock stayed held by a live holder (possibly a stopped one) for the whole timeout.
    Timeout,
    /// See [`LockError::OwnerDied`].
    OwnerDied(G),
    /// See [`LockError::Overflow`].
    Overflow,
    /// See [`LockError::Corrupt`].
    Corrupt,
}

/// What Python's `acquire` can't say with a `bool`: see [`Lock::acquire`](super::Lock::acquire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AcquireError {
    /// The caller **holds** the lock now, taken over from a holder that died (POSIX's
    /// `EOWNERDEAD`): repair the protected state, then `release` as usual.
    OwnerDied,
    /// See [`LockError::WouldDeadlock`].
    WouldDeadlock,
    /// See [`LockError::Overflow`].
    Overflow,
    /// See [`LockError::Corrupt`].
    Corrupt,
}

/// Why `release` let nothing go (Python raises `ValueError` or `AssertionError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The lock is not held.
    NotHeld,
    /// Another thread holds it (thread id).
    NotOwner(u32),
    /// See [`LockError::Corrupt`].
    Corrupt,
}

macro_rules! guard_error {
    ($name:ident { $($variant:ident => $text:literal),* }) => {
        impl<G> $name<G> {
            /// The guard, if the lock was taken (over from a dead holder).
            pub fn into_guard(self) -> Option<G> {
                match self {
                    Self::OwnerDied(g) => Some(g),
                    _ => None,
                }
            }
        }

        impl<G> fmt::Debug for $name<G> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    Self::OwnerDied(_) => f.write_str("OwnerDied(..)"),
                    $(Self::$variant => f.write_str(stringify!($variant)),)*
                }
            }
        }

        impl<G> fmt::Display for $name<G> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    Self::OwnerDied(_) => {
                        f.write_str("the lock's holder died; the lock is taken over (repair what it protects)")
                    }
                    $(Self::$variant => f.write_str($text),)*
                }
            }
        }

        impl<G> std::error::Error for $name<G> {}
    };
}

guard_error!(LockError {
    WouldDeadlock => "the calling thread already holds this lock",
    Overflow => "recursive lock held too many times",
    Corrupt => "the lock word kept changing (corrupt shared memory)"
});
guard_error!(TryLockError {
    WouldBlock => "the lock is held",
    Overflow => "recursive lock held too many times",
    Corrupt => "the lock word kept changing (corrupt shared memory)"
});
guard_error!(LockTimeoutError {
    Timeout => "timed out waiting for the lock",
    Overflow => "recursive lock held too many times",
    Corrupt => "the lock word kept changing (corrupt shared memory)"
});

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OwnerDied => {
                "the lock's holder died; the lock is taken over (repair what it protects)"
            }
            Self::WouldDeadlock => "the calling thread already holds this lock",
            Self::Overflow => "recursive lock held too many times",
            Self::Corrupt => "the lock word kept changing (corrupt shared memory)",
        })
    }
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotHeld => f.write_str("release of an unlocked lock"),
            Self::NotOwner(tid) => write!(f, "release of a lock held by thread {tid}"),
            Self::Corrupt => f.write_str("the lock word kept changing (corrupt shared memory)"),
        }
    }
}

impl std::error::Error for AcquireError {}
impl std::error::Error for ReleaseError {}

impl From<ipc_core::UnlockError> for ReleaseError {
    fn from(e: ipc_core::UnlockError) -> Self {
        match e {
            ipc_core::UnlockError::NotHeld => Self::NotHeld,
            ipc_core::UnlockError::NotOwner(o) => Self::NotOwner(o),
            _ => Self::Corrupt,
        }
    }
}
