//! Futexes shared between processes: wait until a 32-bit word in (shared) memory changes, or
//! until any of several words does ([`futex_waitv`]).
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

// Unsafe here: the `futex(2)` and `futex_waitv(2)` system calls.
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

/// The most words one [`futex_waitv`] call takes (the kernel's `FUTEX_WAITV_MAX`).
pub const FUTEX_WAITV_MAX: usize = 128;

/// One word of a [`futex_waitv`] call: sleep while `word` holds `expected`.
///
/// `shared` must match how the word is woken: [`futex_wake`] uses the shared operation, so a
/// word woken by it is `shared: true` (the default, [`FutexWait::new`]), wherever it lives. A
/// private waiter and a shared waker of the same word do not meet (the kernel keys them
/// differently).
#[derive(Clone, Copy, Debug)]
pub struct FutexWait<'a> {
    word: &'a AtomicU32,
    expected: u32,
    shared: bool,
}

impl<'a> FutexWait<'a> {
    /// Sleep while `word` holds `expected`, woken by [`futex_wake`] (shared).
    pub fn new(word: &'a AtomicU32, expected: u32) -> FutexWait<'a> {
        FutexWait {
            word,
            expected,
            shared: true,
        }
    }

    /// The same, for a word whose wakers use the private operation (`FUTEX_PRIVATE_FLAG`):
    /// only threads of this process can wake it.
    pub fn private(word: &'a AtomicU32, expected: u32) -> FutexWait<'a> {
        FutexWait {
            word,
            expected,
            shared: false,
        }
    }

    /// The word.
    pub fn word(&self) -> &'a AtomicU32 {
        self.word
    }

    /// The value the sleep expects the word to hold.
    pub fn expected(&self) -> u32 {
        self.expected
    }
}

/// `struct futex_waitv` of `<linux/futex.h>` (not in the `libc` crate for glibc targets).
#[repr(C)]
#[derive(Clone, Copy)]
struct RawFutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

const _: () = assert!(std::mem::size_of::<RawFutexWaitv>() == 24);

/// `FUTEX2_SIZE_U32`: the words are 32 bits.
const FUTEX2_SIZE_U32: u32 = 0x02;
/// `FUTEX2_PRIVATE`, the same bit as `FUTEX_PRIVATE_FLAG`.
const FUTEX2_PRIVATE: u32 = 128;

/// `futex_waitv(waiters, n, 0, &abs_timeout, CLOCK_MONOTONIC)`: sleeps until any of the
/// `waits` is woken (by [`futex_wake`] on its word) or `timeout` (relative) passes, provided
/// every word still holds its expected value when the kernel looks; see `futex_waitv(2)`
/// (Linux ≥ 5.16; the kernel's `Documentation/userspace-api/futex2.rst`).
///
/// Returns the index in `waits` of a word that was woken. As with [`futex_wait`], re-read the
/// words and decide again after every return:
///
/// - `Ok(i)`: `waits[i]`'s word was woken (others may have been too), or spuriously.
/// - `Err` with [`WouldBlock`](io::ErrorKind::WouldBlock) (`EAGAIN`): some word did not hold
///   its expected value; no sleep.
/// - `Err` with [`TimedOut`](io::ErrorKind::TimedOut) (`ETIMEDOUT`): `timeout` passed.
/// - `Err` with [`Interrupted`](io::ErrorKind::Interrupted) (`EINTR`): a signal handler ran.
///
/// The timeout is turned into an absolute time on `CLOCK_MONOTONIC` (the clock of
/// `std::time::Instant`) right before the call.
///
/// # Errors
///
/// The three above; `ENOSYS` on kernels before 5.16 (or where a seccomp filter forbids the
/// call: the caller must then wait another way); `EINVAL` if `waits` is empty or holds more
/// than [`FUTEX_WAITV_MAX`] words (checked here, before the call).
///
/// # Examples
///
/// ```
/// use host_runtime::sys::futex::{futex_wake, futex_waitv, FutexWait};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
///
/// let (a, b) = (AtomicU32::new(0), AtomicU32::new(0));
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         b.store(1, Ordering::Release);
///         futex_wake(&b, 1).unwrap();
///     });
///     // Sleeps on both words until `b` moves (or at once if it already has).
///     while b.load(Ordering::Acquire) == 0 {
///         let waits = [FutexWait::new(&a, 0), FutexWait::new(&b, 0)];
///         match futex_waitv(&waits, Some(Duration::from_secs(60))) {
///             Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => std::thread::yield_now(),
///             _ => {}
///         }
///     }
/// });
/// ```
pub fn futex_waitv(waits: &[FutexWait<'_>], timeout: Option<Duration>) -> io::Result<usize> {
    if waits.is_empty() || waits.len() > FUTEX_WAITV_MAX {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut raw = [RawFutexWaitv {
        val: 0,
        uaddr: 0,
        flags: 0,
        reserved: 0,
    }; FUTEX_WAITV_MAX];
    for (r, w) in raw.iter_mut().zip(waits) {
        *r = RawFutexWaitv {
            val: u64::from(w.expected),
            uaddr: w.word.as_ptr() as usize as u64,
            flags: FUTEX2_SIZE_U32 | if w.shared { 0 } else { FUTEX2_PRIVATE },
            reserved: 0,
        };
    }
    let abs = match timeout {
        None => None,
        Some(t) => {
            let mut now = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `now` is a valid, writable `timespec` for the duration of the call.
            super::cvt(unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) })?;
            let t = timespec(t);
            let mut sec = now.tv_sec.saturating_add(t.tv_sec);
            let mut nsec = now.tv_nsec + t.tv_nsec; // both < 1e9: no overflow
            if nsec >= 1_000_000_000 {
                nsec -= 1_000_000_000;
                sec = sec.saturating_add(1);
            }
            Some(libc::timespec {
                tv_sec: sec,
                tv_nsec: nsec,
            })
        }
    };
    let ts_ptr = abs
        .as_ref()
        .map_or(ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: `raw[..waits.len()]` is a valid array of `struct futex_waitv` (layout asserted
    // above) for the whole call; each `uaddr` is the address of a valid, aligned `u32` borrowed
    // from an `&AtomicU32` in `waits`, which outlives the call, and the kernel only reads it
    // atomically. `ts_ptr` is null or points to `abs`, which outlives the call. The count is
    // 1..=128, checked above; `flags` must be 0.
    let woken = cvt_long(unsafe {
        libc::syscall(
            libc::SYS_futex_waitv,
            raw.as_ptr(),
            waits.len() as libc::c_uint,
            0 as libc::c_uint,
            ts_ptr,
            libc::CLOCK_MONOTONIC,
        )
    })?;
    usize::try_from(woken).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

#[cfg(test)]
mod tests {
    use super::{futex_wait, futex_waitv, futex_wake, FutexWait, FUTEX_WAITV_MAX};
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

    #[test]
    fn waitv_checks_its_count_returns_on_mismatch_and_timeout_and_names_the_woken_word() {
        let (a, b) = (AtomicU32::new(0), AtomicU32::new(5));
        let einval = Some(libc::EINVAL);
        assert_eq!(futex_waitv(&[], None).unwrap_err().raw_os_error(), einval);
        let many = vec![FutexWait::new(&a, 0); FUTEX_WAITV_MAX + 1];
        assert_eq!(futex_waitv(&many, None).unwrap_err().raw_os_error(), einval);
        let both = [FutexWait::new(&a, 0), FutexWait::new(&b, 5)];
        let timeout = std::time::Duration::from_millis(20);
        let t = std::time::Instant::now();
        match futex_waitv(&both, Some(timeout)) {
            // A kernel before 5.16: nothing more to test here (`wait` falls back).
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return,
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut),
            Ok(i) => panic!("woken ({i}) with nobody waking"),
        }
        assert!(t.elapsed() >= timeout);
        let stale = [FutexWait::new(&a, 0), FutexWait::new(&b, 4)];
        let e = futex_waitv(&stale, None).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);

        watchdog(30, || {
            let (a, b) = (AtomicU32::new(0), AtomicU32::new(5));
            std::thread::scope(|s| {
                s.spawn(|| {
                    // Release: pairs with the Acquire load below.
                    b.store(6, Ordering::Release);
                    futex_wake(&b, 1).unwrap();
                });
                let both = [FutexWait::new(&a, 0), FutexWait::new(&b, 5)];
                while b.load(Ordering::Acquire) == 5 {
                    match futex_waitv(&both, None) {
                        Ok(i) => assert_eq!(i, 1, "only b is woken"),
                        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
                    }
                }
            });
        });
    }
}
