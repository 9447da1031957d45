//! Mutexes and condition variables that ignore poisoning.
//!
//! Every lock of this crate guards state that its critical sections leave consistent, and no
//! user code (callback, task) runs under one: a panic while one is held leaves nothing half
//! done, so the next locker takes the state as it is instead of panicking too.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Locks `m`, ignoring poisoning.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `cond.wait(guard)` (`timeout: None`) or `cond.wait_timeout(guard, timeout)`, ignoring
/// poisoning. A wake-up, a spurious one or a timeout: the caller looks again.
pub(crate) fn wait<'a, T>(
    cond: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Option<Duration>,
) -> MutexGuard<'a, T> {
    match timeout {
        None => cond.wait(guard).unwrap_or_else(PoisonError::into_inner),
        Some(t) => {
            cond.wait_timeout(guard, t)
                .unwrap_or_else(PoisonError::into_inner)
                .0
        }
    }
}
