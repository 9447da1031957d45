//! Process file descriptors (Linux ≥ 5.3): a handle on one process that stays valid, and keeps
//! naming that process, after its pid has been reaped and reused.

// Unsafe here: the `pidfd_open(2)` and `pidfd_send_signal(2)` system calls.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;

use super::{cvt_long, Pid, Signal};

/// `pidfd_open(pid, 0)`: a file descriptor referring to the process `pid`; see
/// `pidfd_open(2)` (Linux ≥ 5.3, called through `syscall(SYS_pidfd_open, …)`).
///
/// The descriptor is close-on-exec. It becomes readable ([`poll_readable`]) when the process
/// exits, and signals sent through it ([`pidfd_send_signal`]) reach that process or nobody,
/// never a later process that reuses the pid.
///
/// Open it while `pid` can't have been reaped yet (e.g. for our own child, before we wait for
/// it): a pid that was already reaped may name another process by now.
///
/// [`poll_readable`]: super::poll_readable
///
/// # Errors
///
/// `ENOSYS` on kernels before 5.3 (or `EPERM` where a seccomp filter forbids the call),
/// `ESRCH` if no such process exists, `EMFILE`/`ENFILE` if out of descriptors.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::{fork_run, pidfd_open, poll_readable, waitpid, WaitOptions};
/// use std::os::fd::AsFd;
///
/// let pid = fork_run(|| 0)?;
/// let pidfd = pidfd_open(pid)?;
/// assert!(poll_readable(pidfd.as_fd(), None)?); // blocks until the child has exited
/// waitpid(pid, WaitOptions::BLOCK)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: `pidfd_open` takes two integers and reads no memory of ours.
    let fd =
        cvt_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0 as libc::c_uint) })?;
    let fd = libc::c_int::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: on success `pidfd_open` returns a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`: sends `sig` to the process `pidfd` refers to; see
/// `pidfd_send_signal(2)` (Linux ≥ 5.1).
///
/// # Errors
///
/// `ESRCH` if the process has been reaped (a zombie can still be signalled, to no effect),
/// `EPERM` if we may not signal it, `EBADF` if `pidfd` is not a pidfd.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::{fork_run, pidfd_open, pidfd_send_signal, waitpid};
/// use host_runtime::sys::{Signal, WaitOptions, WaitStatus};
/// use std::io::Read;
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
///
/// let (a, b) = UnixStream::pair()?;
/// let pid = fork_run(move || {
///     let mut b = b;
///     let _ = b.read(&mut [0u8]); // blocks until killed
///     0
/// })?;
/// let pidfd = pidfd_open(pid)?;
/// pidfd_send_signal(pidfd.as_fd(), Signal::TERM)?;
/// assert_eq!(waitpid(pid, WaitOptions::BLOCK)?, Some(WaitStatus::Signaled(Signal::TERM)));
/// // Reaped: the pidfd now refers to nobody, and the signal reaches nobody.
/// let err = pidfd_send_signal(pidfd.as_fd(), Signal::TERM).unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
/// # drop(a);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: Signal) -> io::Result<()> {
    // SAFETY: a null `siginfo_t` pointer is allowed (the kernel fills in a default one);
    // the other arguments are integers.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig.as_raw(),
            ptr::null::<libc::siginfo_t>(),
            0 as libc::c_uint,
        )
    })
    .map(drop)
}
