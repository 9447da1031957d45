//! [`active_children`]: this process's started, unreaped children (Python's
//! `multiprocessing.active_children()`), and the word [`wait`](crate::wait()) sleeps on for
//! their exits.
//!
//! Every [`Process`] (and so every [`JoinHandle`](super::JoinHandle)) registers its child here
//! when it starts, and takes it out when it reaps the child or is dropped. The registry holds
//! pids and names, not the handles, so [`active_children`] returns descriptions
//! ([`ActiveChild`]), not `Process` values (Python returns the objects, which its registry
//! keeps alive).
//!
//! # Reaping, and why `active_children` does not
//!
//! Python's `active_children()` joins the finished children it finds. Here a child's exit
//! status belongs to its `Process`: only the handle's own state lock may reap it (a `waitpid`
//! from the registry would leave the handle's `join` with [`ProcessError::Lost`], and with the
//! waiter-thread strategy its `kill` could then reach a reused pid). So `active_children`
//! asks the kernel without reaping (`waitid(WEXITED | WNOWAIT | WNOHANG)`), drops the finished
//! ones from its list, and leaves them zombies until their handles reap them (any `join`,
//! `exitcode`, `is_alive`, or the drop). With the waiter-thread strategy (no pidfds) they are
//! reaped at once anyway.

use std::sync::{Arc, Mutex, MutexGuard};

use ipc_core::WaitWord;

use super::identity::default_name;
use super::lock;
use crate::sys::{self, Pid};

#[cfg(doc)]
use super::{Process, ProcessError};

/// One started child of this process.
pub(super) struct Entry {
    pid: Pid,
    /// The process that started it: entries inherited through a fork belong to the parent
    /// and are dropped by the child's first look.
    owner: Pid,
    name: Option<Arc<str>>,
    parent_path: &'static [u64],
    number: u64,
    daemon: bool,
}

/// This process's started children, in start order. Locked across every fork (see
/// [`lock_children`]).
static CHILDREN: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// Bumped (and woken) whenever this process learns that a child exited: a reap, or the pidfd
/// watcher of [`wait`](crate::wait()). Process-private memory; woken with the shared futex
/// operation like every word of the crate.
static CHILD_EXITS: WaitWord = WaitWord::new();

/// The word that moves when a child of this process has exited (see [`CHILD_EXITS`]).
pub(crate) fn child_exits() -> &'static WaitWord {
    &CHILD_EXITS
}

/// Wakes every [`wait`](crate::wait()) that sleeps on a child's exit.
pub(crate) fn notify_child_exit() {
    crate::wait::notify_all(&CHILD_EXITS);
}

/// Locks the registry, to hold it across a fork: a thread of the parent holding it at that
/// instant would leave it locked for ever in the child.
pub(super) fn lock_children() -> MutexGuard<'static, Vec<Entry>> {
    lock(&CHILDREN)
}

/// Records the child `pid` that `owner` (the caller) has just started.
pub(super) fn register(
    pid: Pid,
    owner: Pid,
    name: Option<Arc<str>>,
    parent_path: &'static [u64],
    number: u64,
    daemon: bool,
) {
    let mut children = lock(&CHILDREN);
    // Entries inherited from a parent are never ours: drop them while we are here.
    children.retain(|e| e.owner == owner);
    children.push(Entry {
        pid,
        owner,
        name,
        parent_path,
        number,
        daemon,
    });
}

/// Takes the child `pid` out of the registry (it was reaped, or its handle dropped). The
/// oldest entry of that pid is the one: a later one can only be a child started after this one
/// was reaped, that reused its pid.
pub(super) fn forget(pid: Pid) {
    let me = sys::getpid();
    let mut children = lock(&CHILDREN);
    if let Some(i) = children.iter().position(|e| e.pid == pid && e.owner == me) {
        children.remove(i);
    }
}

/// A live child of this process, as [`active_children`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveChild {
    pid: Pid,
    name: String,
    daemon: bool,
}

impl ActiveChild {
    /// The child's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Its name: given to [`Builder::name`](super::Builder::name), or `Process-N`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it is a daemon.
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }
}

/// The children this process started (with [`Process`] or
/// [`JoinHandle`](super::JoinHandle)) that have not exited, in start order: Python's
/// `multiprocessing.active_children()`.
///
/// Finished children leave the list, but unlike Python this does not reap them: a child's
/// exit status belongs to its handle, and only the handle's own state lock may reap it (a
/// `waitpid` from here would leave its `join` with [`ProcessError::Lost`], and without pidfds
/// its `kill` could reach a reused pid). So this asks the kernel without reaping
/// (`waitid(WEXITED | WNOWAIT | WNOHANG)`), and a finished child stays a zombie until its
/// handle reaps it (any `join`, `exitcode`, `is_alive`, or the drop; without pidfds, its
/// waiter thread at once). A child whose handle was dropped is not listed (it is reaped in the
/// background when it exits). One `waitid` system call per listed child.
///
/// # Examples
///
/// ```
/// use host_runtime::process::{active_children, Builder};
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// let (mut tx, mut rx) = UnixStream::pair()?;
/// let p = Builder::new().name("sleeper").spawn(move || {
///     let _ = rx.read(&mut [0u8]); // until the parent writes a byte
/// })?;
/// assert!(active_children().iter().any(|c| c.name() == "sleeper"));
/// tx.write_all(b"x")?;
/// p.join()?;
/// assert!(active_children().iter().all(|c| c.pid() != p.pid().unwrap()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn active_children() -> Vec<ActiveChild> {
    let me = sys::getpid();
    let mut children = lock(&CHILDREN);
    // `has_exited` is `Ok(false)` only for an unreaped child still running; `ECHILD` for one
    // reaped behind the registry's back.
    children.retain(|e| e.owner == me && matches!(sys::has_exited(e.pid), Ok(false)));
    children
        .iter()
        .map(|e| ActiveChild {
            pid: e.pid,
            name: match &e.name {
                Some(name) => name.to_string(),
                None => default_name(e.parent_path, e.number),
            },
            daemon: e.daemon,
        })
        .collect()
}
