//! Futexes shared between processes: wait until a 32-bit word in (shared) memory changes.
//!
//! Both calls use the *shared* futex operations (`FUTEX_WAIT`, `FUTEX_WAKE`, never with
//! `FUTEX_PRIVATE_FLAG`): the kernel keys the wait queue by the physical page, so a waiter and a
//! waker in different processes meet as long as the word lies in memory both have mapped
//! `MAP_SHARED` (e.g. from [`mmap_shared_anonymous`](super::shm::mmap_shared_anonymous) before
//! a fork). In private memory they still work, between the threads of one process.
//!
//! A futex carries no state of its own: the protocol lives in the word. The waiter passes the
//! value it last saw; the kernel sleeps only if the word still holds it, which closes the race
//! between checking the word and going to sleep. A waker changes the word first, then wakes.

// Unsafe here: the `futex(2)` system call.
#![allow(unsafe_code)]

use std::io;
use std::ptr;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use super::{cvt_long, timespec};

/// `futex(&futex, FUTEX_WAIT, expected, timeout, NULL, 0)`: sleeps while `*futex == expected`,
/// until woken by [`futex_wake`] or `timeout` (relative, `CLOCK_MONOTONIC`) passes; see
/// `futex(2)`.
///
/// It returns in four cases; in all of them, re-read the word and decide again, because a
/// return never proves the word changed:
///
/// - `Ok(())`: woken by [`futex_wake`] — or spuriously.
/// - `Err` with [`WouldBlock`](io::ErrorKind::WouldBlock) (`EAGAIN`): the word did not hold
///   `expected` when the kernel looked; it did not sleep.
/// - `Err` with [`TimedOut`](io::ErrorKind::TimedOut) (`ETIMEDOUT`): `timeout` passed.
/// - `Err` with [`Interrupted`](io::ErrorKind::Interrupted) (`EINTR`): a signal handler ran. Not
///   retried here: the caller recomputes its remaining time.
///
/// # Errors
///
/// The three above; `EINVAL` for an invalid timeout.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::futex::futex_wait;
/// use std::io::ErrorKind;
/// use std::sync::atomic::AtomicU32;
/// use std::time::Duration;
///
/// let word = AtomicU32::new(1);
/// // The word is not 0: no sleep at all.
/// assert_eq!(futex_wait(&word, 0, None).unwrap_err().kind(), ErrorKind::WouldBlock);
/// // The word is 1 and nobody wakes us: the timeout ends the wait.
/// let err = futex_wait(&word, 1, Some(Duration::from_millis(1))).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::TimedOut);
/// ```
pub fn futex_wait(futex: &AtomicU32, expected: u32, timeout: Option<Duration>) -> io::Result<()> {
    let ts = timeout.map(timespec);
    let ts_ptr = ts
        .as_ref()
        .map_or(ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: `futex.as_ptr()` is a valid, aligned `u32` for the whole call (borrowed from an
    // `&AtomicU32`); the kernel only reads it atomically. `ts_ptr` is null or points to `ts`,
    // which outlives the call. `uaddr2` and `val3` are unused by `FUTEX_WAIT`.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_futex,
            futex.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            ptr::null::<u32>(),
            0u32,
        )
    })
    .map(drop)
}

/// `futex(&futex, FUTEX_WAKE, n, NULL, NULL, 0)`: wakes up to `n` threads (of any process)
/// waiting in [`futex_wait`] on `futex`; see `futex(2)`.
///
/// Returns how many were woken. Pass `u32::MAX` to wake all (clamped to `i32::MAX`).
///
/// # Errors
///
/// `EINVAL`/`EFAULT` only for an invalid address, which an `&AtomicU32` rules out.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::futex::{futex_wait, futex_wake};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// let word = AtomicU32::new(0);
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         while word.load(Ordering::Acquire) == 0 {
///             let _ = futex_wait(&word, 0, None);
///         }
///     });
///     word.store(1, Ordering::Release);
///     futex_wake(&word, u32::MAX).unwrap();
/// });
/// // Nobody is waiting any more.
/// assert_eq!(futex_wake(&word, 1)?, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn futex_wake(futex: &AtomicU32, n: u32) -> io::Result<usize> {
    let n = libc::c_int::try_from(n).unwrap_or(libc::c_int::MAX);
    // SAFETY: `futex.as_ptr()` is a valid, aligned `u32` (borrowed from an `&AtomicU32`);
    // `FUTEX_WAKE` reads no other argument as a pointer.
    let woken = cvt_long(unsafe {
        libc::syscall(
            libc::SYS_futex,
            futex.as_ptr(),
            libc::FUTEX_WAKE,
            n,
            ptr::null::<libc::timespec>(),
            ptr::null::<u32>(),
            0u32,
        )
    })?;
    usize::try_from(woken).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

#[cfg(test)]
mod tests {
    use super::{futex_wait, futex_wake};
    use crate::sys::shm::{mmap_shared_anonymous, munmap};
    use crate::sys::{fork_run, waitpid, WaitOptions, WaitStatus};
    use crate::test_util::watchdog;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A parent and a forked child hand a word back and forth through a shared futex.
    #[test]
    fn wakes_across_processes() {
        watchdog(30, || {
            let len = 4096;
            let mem = mmap_shared_anonymous(len).unwrap();
            // SAFETY: page-aligned, zeroed, at least 4 bytes, unmapped only at the end of this
            // closure after the child was reaped and `word` is no longer used.
            let word: &AtomicU32 = unsafe { mem.cast::<AtomicU32>().as_ref() };
            let pid = fork_run(|| {
                // Acquire: pairs with the parent's Release store of 1.
                while word.load(Ordering::Acquire) != 1 {
                    let _ = futex_wait(word, 0, None);
                }
                // Release: pairs with the parent's Acquire load of 2.
                word.store(2, Ordering::Release);
                futex_wake(word, u32::MAX).map_or(1, |_| 0)
            })
            .unwrap();
            word.store(1, Ordering::Release);
            futex_wake(word, u32::MAX).unwrap();
            while word.load(Ordering::Acquire) != 2 {
                let _ = futex_wait(word, 1, None);
            }
            assert_eq!(
                waitpid(pid, WaitOptions::BLOCK).unwrap(),
                Some(WaitStatus::Exited(0))
            );
            // SAFETY: the child is gone and `word` is not used any more.
            unsafe { munmap(mem, len).unwrap() };
        });
    }

    #[test]
    fn wait_returns_on_mismatch_and_timeout() {
        let word = AtomicU32::new(5);
        let e = futex_wait(&word, 4, None).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
        let t = std::time::Instant::now();
        let timeout = std::time::Duration::from_millis(20);
        let e = futex_wait(&word, 5, Some(timeout)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(t.elapsed() >= timeout);
    }
}
