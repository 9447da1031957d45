//! Who a process is: Python's names (`MainProcess`, `Process-2:1`) and `_identity` paths, the
//! per-process counter that numbers [`Process`] values, and [`current_process`].

use std::fmt::Write as _;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use super::lock;
use crate::sys::{self, Pid};

#[cfg(doc)]
use super::Process;

/// The name [`current_process`] reports in the original process.
const MAIN_NAME: &str = "MainProcess";

/// Python's `_process_counter`: numbers the `Process` values made in this process, from 1.
/// Reset to 0 in each child. Relaxed: only uniqueness matters, which the RMW gives.
static COUNTER: AtomicU64 = AtomicU64::new(0);
/// Set in a child right after the fork, before the closure runs (same thread; threads it spawns
/// later see it through `thread::spawn`'s happens-before), so Relaxed suffices. Read by the
/// panic hook.
static IN_CHILD: AtomicBool = AtomicBool::new(false);
/// Who this process is; locked across every fork (see the module docs). Written once per
/// process, by the child right after its fork (the main process keeps `me: None`).
static IDENTITY: Mutex<Identity> = Mutex::new(Identity {
    me: None,
    parent: None,
});

/// The identity [`current_process`] reports.
pub(super) struct Identity {
    /// `None` in the main process: [`MAIN_NAME`].
    me: Option<Me>,
    /// The process that started this one; `None` in the main process.
    parent: Option<Parent>,
}

/// The process that started this one, as it was at the fork.
struct Parent {
    pid: Pid,
    /// Its identity (`None`: it was the main process).
    me: Option<Me>,
}

/// The identity of a process started by a [`Process`]. Set in the child from fields of the
/// `Process` that need no allocation (a copied `&'static` slice and a number), so that
/// starting allocates nothing in the parent nor in the child; the name and the full path are
/// made on first use.
struct Me {
    /// The `parent_path` of the `Process` that started this process (see [`own_path`]).
    parent_path: &'static [u64],
    /// Its number (see [`next_number`]).
    number: u64,
    /// Given to [`Builder::name`](super::Builder::name), or the default name, made on first
    /// use.
    name: Option<Arc<str>>,
    /// `parent_path` followed by `number`: Python's `_identity` of this process, made (and
    /// leaked, once per process) when this process first builds a `Process`.
    path: Option<&'static [u64]>,
}

impl Me {
    /// This process's name, made on first use.
    fn name(&mut self) -> Arc<str> {
        let (parent_path, number) = (self.parent_path, self.number);
        Arc::clone(
            self.name
                .get_or_insert_with(|| default_name(parent_path, number).into()),
        )
    }
}

/// The next number of this process's counter, for a new [`Process`].
pub(super) fn next_number() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed) + 1
}

/// Python's default name of the process numbered `number` by the process whose `_identity` is
/// `parent_path`: `Process-2:1` for `[2]` and `1`.
pub(super) fn default_name(parent_path: &[u64], number: u64) -> String {
    let mut name = String::from("Process-");
    for n in parent_path {
        // Writing to a `String` can't fail.
        let _ = write!(name, "{n}:");
    }
    let _ = write!(name, "{number}");
    name
}

/// Python's `_identity` of the calling process (empty in the main process): the
/// `parent_path` of the processes it builds.
pub(super) fn own_path() -> &'static [u64] {
    // Set before the closure runs in a child; never set in the main process (see IN_CHILD).
    if !in_child() {
        return &[];
    }
    let mut identity = lock(&IDENTITY);
    match &mut identity.me {
        None => &[],
        Some(me) => me.path.get_or_insert_with(|| {
            let mut path = me.parent_path.to_vec();
            path.push(me.number);
            // Once per process, and needed as long as any `Process` made here lives.
            Vec::leak(path)
        }),
    }
}

/// Whether this process was started by a [`Process`] (set before its closure runs).
pub(super) fn in_child() -> bool {
    IN_CHILD.load(Ordering::Relaxed)
}

/// Locks the identity, to hold it across a fork (see the module docs).
pub(super) fn lock_identity() -> MutexGuard<'static, Identity> {
    lock(&IDENTITY)
}

/// In a child, right after the fork: makes it the process numbered `number` by the process
/// whose `_identity` is `parent_path`, named `name` (`None`: the default name), and releases
/// the identity lock held across the fork. Allocates nothing.
pub(super) fn enter_child(
    mut identity: MutexGuard<'_, Identity>,
    parent: Pid,
    parent_path: &'static [u64],
    number: u64,
    name: Option<Arc<str>>,
) {
    IN_CHILD.store(true, Ordering::Relaxed);
    COUNTER.store(0, Ordering::Relaxed);
    let me = Me {
        parent_path,
        number,
        name,
        path: None,
    };
    // The parent's identity becomes the parent's (moved, not copied: nothing allocated).
    let parent_me = identity.me.replace(me);
    let old = identity.parent.replace(Parent {
        pid: parent,
        me: parent_me,
    });
    // The grandparent (in a nested child) is left alone: dropping it would only write to
    // pages this process does not otherwise touch.
    std::mem::forget(old);
}

/// This process's name if it is a child, for its panic message; `None` in the main process,
/// or when a thread of the child holds the identity lock (`try_lock`: waiting could block).
pub(super) fn try_child_name() -> Option<Arc<str>> {
    match IDENTITY.try_lock() {
        Ok(mut identity) => identity.me.as_mut().map(Me::name),
        Err(TryLockError::Poisoned(p)) => p.into_inner().me.as_mut().map(Me::name),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// The process the caller runs in, as [`current_process`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentProcess {
    name: Option<Arc<str>>,
    pid: Pid,
}

impl CurrentProcess {
    /// `"MainProcess"` in the original process; in a child, the name of its [`Process`].
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(MAIN_NAME)
    }

    /// The caller's pid (`getpid()`).
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Whether this is the original process, not one started by a [`Process`].
    pub fn is_main(&self) -> bool {
        self.name.is_none()
    }
}

/// The process the caller runs in: `MainProcess` and its pid in the original process, the
/// [`Process`]'s name and the child's pid in a child. Python's
/// `multiprocessing.current_process()`.
///
/// # Examples
///
/// ```
/// use host_runtime::{current_process, process::Builder};
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// assert_eq!(current_process().name(), "MainProcess");
/// assert_eq!(current_process().pid(), host_runtime::Pid::this());
///
/// let (mut rx, tx) = UnixStream::pair()?;
/// let p = Builder::new().name("worker").spawn(move || {
///     let mut tx = tx;
///     tx.write_all(current_process().name().as_bytes()).unwrap();
/// })?;
/// p.join()?;
/// let mut name = String::new();
/// rx.read_to_string(&mut name)?;
/// assert_eq!(name, "worker");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn current_process() -> CurrentProcess {
    CurrentProcess {
        name: lock(&IDENTITY).me.as_mut().map(Me::name),
        pid: sys::getpid(),
    }
}

/// The process that started the calling one, as [`parent_process`] reports it: Python's
/// `multiprocessing.parent_process()` (for the fork start method).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentProcess {
    name: Option<Arc<str>>,
    pid: Pid,
}

impl ParentProcess {
    /// Its name as it was when it started this process: `"MainProcess"`, or the name of the
    /// [`Process`] it was.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(MAIN_NAME)
    }

    /// Its pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Whether it still runs: this process's parent pid (`getppid()`) is still its pid. When a
    /// parent dies, the kernel hands its children to another process (init, or the nearest
    /// subreaper), so `getppid()` changes then, and a reuse of the dead parent's pid by
    /// another process can't make this `true` again. Works without being the parent's parent,
    /// and costs one system call.
    ///
    /// (A parent that exited but was not reaped yet, a zombie, counts as dead: its children
    /// are handed over at its exit.)
    pub fn is_alive(&self) -> bool {
        sys::getppid() == Some(self.pid)
    }

    /// A pidfd on the parent (`pidfd_open(2)`), readable once it has exited: Python's
    /// `parent_process().sentinel`, for `poll` next to other descriptors.
    ///
    /// The parent is not our child, so its pid could be reused once it is gone; the pidfd is
    /// opened first and then [`is_alive`](Self::is_alive) checked, so a descriptor returned
    /// names the parent, never a later process with its pid.
    ///
    /// # Errors
    ///
    /// `ESRCH` if the parent has already exited; those of [`sys::pidfd_open`] (`ENOSYS` before
    /// Linux 5.3, `EMFILE`).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{process, process::parent_process, sys};
    /// use std::os::fd::AsFd;
    /// use std::time::Duration;
    ///
    /// let h = process::start(|| {
    ///     let fd = parent_process().unwrap().sentinel().unwrap();
    ///     // The parent waits in `join` meanwhile: not readable.
    ///     sys::poll_readable(fd.as_fd(), Some(Duration::ZERO)).unwrap()
    /// })?;
    /// assert!(!h.join()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sentinel(&self) -> io::Result<OwnedFd> {
        let pidfd = sys::pidfd_open(self.pid)?;
        if !self.is_alive() {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(pidfd)
    }
}

/// The process that started this one (with [`Process`]): its name and pid; `None` in the main
/// process. Python's `multiprocessing.parent_process()`.
///
/// # Examples
///
/// ```
/// use host_runtime::process::{self, parent_process};
///
/// assert!(parent_process().is_none());
/// let h = process::start(|| {
///     let parent = parent_process().expect("started by a Process");
///     (parent.name().to_string(), parent.pid(), parent.is_alive())
/// })?;
/// let (name, pid, alive) = h.join()?;
/// assert_eq!(name, "MainProcess");
/// assert_eq!(pid, host_runtime::Pid::this());
/// assert!(alive);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parent_process() -> Option<ParentProcess> {
    if !in_child() {
        return None;
    }
    let mut identity = lock(&IDENTITY);
    let parent = identity.parent.as_mut()?;
    Some(ParentProcess {
        name: parent.me.as_mut().map(Me::name),
        pid: parent.pid,
    })
}
