//! Raw writes that take no Rust lock, and flushing C's stdio.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

use super::{cvt, retry_on_intr};

/// `write(fd, buf, len)` until all of `buf` is written; see `write(2)`.
///
/// Unlike `std::io::stderr().write_all`, this takes no lock of Rust's standard library, so it
/// can't deadlock in the child of a multi-threaded parent whose other thread held the
/// `stderr` lock at the fork. `EINTR` is retried.
///
/// # Errors
///
/// Those of `write(2)`, e.g. `EPIPE`, `EBADF`; `WriteZero` if `write` returned 0.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::write_all;
/// use std::io::Read;
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
///
/// let (a, mut b) = UnixStream::pair()?;
/// write_all(a.as_fd(), b"hello")?;
/// let mut buf = [0u8; 5];
/// b.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"hello");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = retry_on_intr(|| {
            // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the whole call.
            let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n.unsigned_abs())
            }
        })?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    Ok(())
}

/// `fflush(NULL)`: writes out the buffers of every open C `FILE` stream; see `fflush(3)`.
///
/// Called before a fork, it leaves no buffered C output (from a C library's `printf`) for the
/// child to inherit and write a second time.
///
/// # Errors
///
/// The error of the last stream that failed to flush.
///
/// # Examples
///
/// ```
/// host_runtime::sys::flush_c_stdio()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn flush_c_stdio() -> io::Result<()> {
    // SAFETY: a null stream asks `fflush` to flush all open output streams; it reads no
    // memory of ours. glibc locks each stream, so other threads' stdio calls are safe.
    let ret = unsafe { libc::fflush(ptr::null_mut()) };
    // `fflush` returns `EOF` (-1) and sets `errno` on failure.
    cvt(ret).map(drop)
}
