//! Raw writes that take no Rust lock, flushing C's stdio, pipes and memory files.

// Unsafe here: `write(2)`, `fflush(3)`, `pipe2(2)`, `memfd_create(2)` (FFI) and owning the
// descriptors made.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
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

/// `pipe2(fds, O_CLOEXEC)`: a new pipe, `(read end, write end)`; see `pipe(2)`.
///
/// Both ends are close-on-exec. A child forked afterwards inherits both ends (as every
/// descriptor): it sees end-of-file on the read end only once every copy of the write end is
/// closed, its own included.
///
/// # Errors
///
/// `EMFILE`/`ENFILE` if the descriptor limits are reached.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
///
/// let (r, w) = host_runtime::sys::pipe()?;
/// let (mut r, mut w) = (std::fs::File::from(r), std::fs::File::from(w));
/// w.write_all(b"through the pipe")?;
/// drop(w);
/// let mut s = String::new();
/// r.read_to_string(&mut s)?;
/// assert_eq!(s, "through the pipe");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid, writable array of two `c_int`s for the kernel to fill.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: `pipe2` succeeded: both descriptors are new, open, and owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `memfd_create(name, MFD_CLOEXEC)`: an anonymous file that lives in memory, with no name in
/// any directory; see `memfd_create(2)` (Linux ≥ 3.17).
///
/// The file starts empty and grows as it is written; it is freed when its last descriptor is
/// closed. A child forked after it was made shares it (the same open file description, so the
/// same offset: prefer positioned reads and writes, `FileExt::read_exact_at`/`write_all_at`).
/// `name` is only shown in `/proc/PID/fd` (as `memfd:NAME`); it must not contain a NUL byte.
///
/// # Errors
///
/// `InvalidInput` if `name` contains a NUL byte or is longer than 249 bytes; `EMFILE`/`ENFILE`
/// if out of descriptors, `ENOMEM`.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::memfd_create;
/// use std::fs::File;
/// use std::os::unix::fs::FileExt;
///
/// let file = File::from(memfd_create("example")?);
/// file.write_all_at(b"in memory", 0)?;
/// let mut buf = [0u8; 9];
/// file.read_exact_at(&mut buf, 0)?;
/// assert_eq!(&buf, b"in memory");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn memfd_create(name: &str) -> io::Result<OwnedFd> {
    // The kernel refuses names longer than 249 bytes (`MFD_NAME_MAX_LEN`) with `EINVAL`.
    if name.len() > 249 {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let name = std::ffi::CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let fd = cvt(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: `memfd_create` succeeded: the descriptor is new, open, and owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
