//! The thin, typed OS layer: where this crate makes its system calls and `libc` calls.
//!
//! In the manner of [rustix](https://docs.rs/rustix): each wrapper does one system call (or one
//! libc call), takes typed arguments ([`Pid`], [`Signal`], `&AtomicU32`, [`BorrowedFd`]) instead of
//! raw integers and pointers wherever a type can prove validity, and reports failures as
//! [`std::io::Error`]. Each wrapper's documentation opens with the C call it wraps and names its
//! man page.
//!
//! `EINTR` is retried in exactly one place, [`retry_on_intr`]; wrappers of calls that are
//! restarted this way say so. Wrappers of calls that take a timeout ([`poll_readable`],
//! [`futex::futex_wait`]) return `EINTR` to the caller instead, who knows its deadline and
//! recomputes the remaining time (typically by wrapping the call in [`retry_on_intr`]).
//!
//! This layer knows no queue: it imports nothing from ipc-core nor from the rest of the crate.
//! The views of shared memory that safe code uses, and the participant protocol, are one
//! layer up, in [`shared`](crate::shared).
//!
//! [`BorrowedFd`]: std::os::fd::BorrowedFd

mod atfork;
pub(crate) mod cast;
mod cpu;
mod exec;
pub(crate) mod fncall;
pub mod futex;
mod io;
mod pid;
mod pidfd;
mod poll;
mod process;
pub mod shm;
pub(crate) mod text;

use std::io as stdio;
use std::time::Duration;

pub use atfork::fork_generation;
pub(crate) use atfork::{fork_generation_unchecked, register_fork_handlers};
pub(crate) use cpu::monotonic_ns;
pub use cpu::{cpus_allowed, cpus_online, process_cpu_time, thread_cpu_time};
pub(crate) use exec::{
    dup_inherited, prepare_entries, set_cloexec_raw, ExeId, ExecEntry, SiblingForker, ZstCall,
};
pub use exec::{
    fork_sibling, recv_with_fds, send_with_fds, seqpacket_pair, spawn_exec, ExecReady, MAX_FDS,
};
pub use io::{flush_c_stdio, memfd_create, pipe, write_all};
pub use pid::Pid;
pub use pidfd::{pidfd_open, pidfd_send_signal};
pub use poll::{poll_any_readable, poll_readable};
pub use process::{
    exit_immediately, fork, fork_run, getpid, getppid, gettid, has_exited, kill,
    kill_process_group, open_files_limit, set_interrupting_noop_handler, set_parent_death_signal,
    wait_exited_nowait, waitpid, Fork, Signal, WaitOptions, WaitStatus,
};

/// Calls `f` until it returns anything but an [`Interrupted`](stdio::ErrorKind::Interrupted)
/// error (`EINTR`).
///
/// This is the one place of the crate where `EINTR` is retried. To retry a call with a timeout
/// without extending the total wait, recompute the remaining time inside `f`.
///
/// # Errors
///
/// Whatever error other than `EINTR` `f` returns.
///
/// # Examples
///
/// ```
/// use std::io;
/// use host_runtime::sys::retry_on_intr;
///
/// let mut calls = 0;
/// let n = retry_on_intr(|| {
///     calls += 1;
///     if calls < 3 {
///         Err(io::Error::from(io::ErrorKind::Interrupted))
///     } else {
///         Ok(42)
///     }
/// })?;
/// assert_eq!((n, calls), (42, 3));
/// # Ok::<(), io::Error>(())
/// ```
pub fn retry_on_intr<T>(mut f: impl FnMut() -> stdio::Result<T>) -> stdio::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == stdio::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Turns the `-1`-and-`errno` convention of libc into an [`io::Result`](stdio::Result).
fn cvt(ret: libc::c_int) -> stdio::Result<libc::c_int> {
    if ret == -1 {
        Err(stdio::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// [`cvt`] for `syscall(2)`, which returns a `c_long`.
fn cvt_long(ret: libc::c_long) -> stdio::Result<libc::c_long> {
    if ret == -1 {
        Err(stdio::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Converts a relative timeout into a `timespec`, saturating at `time_t::MAX` seconds.
fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        // Always < 1_000_000_000, so it fits any `c_long`.
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}
