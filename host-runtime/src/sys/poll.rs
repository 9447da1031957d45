//! Waiting for file descriptors to become readable, with a timeout.

// Unsafe here: `ppoll(2)` (FFI).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;
use std::time::Duration;

use super::{cvt, timespec};

/// `ppoll(&{fd, POLLIN}, 1, timeout, NULL)`: waits until `fd` is readable or `timeout` has
/// passed (`None`: no timeout); see `ppoll(2)`.
///
/// Returns `true` if `fd` is readable (or reports an error or hang-up, which a read would
/// return at once), `false` on timeout. `ppoll` takes a `timespec`, so the timeout has
/// nanosecond resolution and is never rounded down to milliseconds; the kernel may sleep longer,
/// never shorter.
///
/// `EINTR` is not retried: the caller knows its deadline and must recompute the remaining time,
/// e.g. `retry_on_intr(|| poll_readable(fd, deadline.remaining()))`.
///
/// # Errors
///
/// `EINTR` if a signal handler ran; `ENOMEM`.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::poll_readable;
/// use std::io::Write;
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// let (mut a, b) = UnixStream::pair()?;
/// assert!(!poll_readable(b.as_fd(), Some(Duration::from_millis(1)))?);
/// a.write_all(b"x")?;
/// assert!(poll_readable(b.as_fd(), None)?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn poll_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    ppoll_in(&mut [pollfd_in(fd)], timeout)
}

/// `ppoll(fds, n, timeout, NULL)` with `POLLIN` on each: waits until at least one of `fds` is
/// readable or `timeout` has passed (`None`: no timeout); see `ppoll(2)`.
///
/// As [`poll_readable`], for several descriptors: `true` if any is readable (or reports an error
/// or hang-up), `false` on timeout. `EINTR` is not retried.
///
/// # Errors
///
/// `EINTR` if a signal handler ran; `ENOMEM`; `EINVAL` if there are more than `RLIMIT_NOFILE`
/// descriptors.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::poll_any_readable;
/// use std::io::Write;
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
///
/// let (a1, b1) = UnixStream::pair()?;
/// let (mut a2, b2) = UnixStream::pair()?;
/// a2.write_all(b"x")?;
/// assert!(poll_any_readable(&[b1.as_fd(), b2.as_fd()], None)?);
/// # drop(a1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn poll_any_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> io::Result<bool> {
    let mut pfds: Vec<libc::pollfd> = fds.iter().copied().map(pollfd_in).collect();
    ppoll_in(&mut pfds, timeout)
}

/// A `pollfd` asking whether `fd` is readable.
fn pollfd_in(fd: BorrowedFd<'_>) -> libc::pollfd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }
}

/// The `ppoll` call behind both wrappers: `true` if any descriptor is ready.
fn ppoll_in(pfds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<bool> {
    let nfds = libc::nfds_t::try_from(pfds.len())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let ts = timeout.map(timespec);
    let ts_ptr = ts
        .as_ref()
        .map_or(ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: `pfds` is `nfds` valid, writable `pollfd`s; `ts_ptr` is null or points to `ts`,
    // which outlives the call; a null signal mask means "don't change it". The descriptors are
    // only numbers to the kernel: a closed one is reported as `POLLNVAL`, not accessed.
    let n = cvt(unsafe { libc::ppoll(pfds.as_mut_ptr(), nfds, ts_ptr, ptr::null()) })?;
    Ok(n > 0)
}
