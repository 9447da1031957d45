//! `pthread_atfork(3)`: a counter of forks, so that per-process state copied into a child can
//! tell it is stale.

// Unsafe here: `pthread_atfork(3)` (FFI).
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Once;

/// Bumped in every child that glibc's `fork` makes, once [`fork_generation`] has been called.
static FORKS: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

extern "C" fn count_fork_in_child() {
    // Async-signal-safe: one atomic add, in the child's only thread.
    FORKS.fetch_add(1, Relaxed);
}

/// A number that differs between this process and every child forked from it after the first
/// call (in the child, it is the parent's plus one): state tagged with it, copied into a child
/// by `fork`, reads as someone else's there.
///
/// The first call registers a `pthread_atfork(3)` child handler, so only forks made after it
/// count, and only through libc's `fork` (as [`fork`](super::fork) and
/// [`Process`](crate::Process) do): a child made by a raw `clone` system call keeps its
/// parent's generation.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::{fork_generation, fork_run, waitpid, WaitOptions, WaitStatus};
///
/// let mine = fork_generation();
/// let child = fork_run(move || i32::from(fork_generation() != mine))?;
/// assert_eq!(waitpid(child, WaitOptions::BLOCK)?, Some(WaitStatus::Exited(1)));
/// assert_eq!(fork_generation(), mine);
/// # Ok::<(), std::io::Error>(())
/// ```
#[inline]
pub fn fork_generation() -> u64 {
    INSTALL.call_once(|| {
        // SAFETY: `count_fork_in_child` is a plain function that lives for the whole program
        // and is async-signal-safe, as a child handler must be; the other handlers are absent.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(count_fork_in_child)) };
        // ENOMEM is the only documented failure; without the handler, children could not
        // tell inherited state from their own.
        assert_eq!(rc, 0, "pthread_atfork failed");
    });
    FORKS.load(Relaxed)
}

/// [`fork_generation`] without making sure the handler is registered: one relaxed load, for
/// hot paths that compare it with a tag made from a [`fork_generation`] call (which
/// registered the handler before any fork that could copy the tag).
#[inline(always)]
pub(crate) fn fork_generation_unchecked() -> u64 {
    FORKS.load(Relaxed)
}

/// `pthread_atfork(3)`: registers `prepare` (run in the forking thread before each `fork`),
/// `parent` (in the parent after it) and `child` (in the child's only thread after it).
///
/// The handlers are plain Rust functions; what they may do is the caller's business, as for
/// any handler: `child` runs in a process whose other threads are gone (so it must not wait for
/// a lock that another thread of the parent held), and should do little more than atomic
/// operations and async-signal-safe system calls.
///
/// # Panics
///
/// If `pthread_atfork` fails (`ENOMEM`, its only documented failure).
pub(crate) fn register_fork_handlers(
    prepare: extern "C" fn(),
    parent: extern "C" fn(),
    child: extern "C" fn(),
) {
    // SAFETY: the three are plain functions that live for the whole program; calling them is
    // safe Rust, whatever they do.
    let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    assert_eq!(rc, 0, "pthread_atfork failed");
}
