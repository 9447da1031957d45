//! [`StartMethod`]: how a child process is started (Python's start methods), the program-wide
//! choice ([`set_start_method`]) and the warning when a program forks while other threads run.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};

/// How a child process is started: Python's `multiprocessing` start methods.
///
/// Chosen once per program with [`set_start_method`] (default [`Fork`](StartMethod::Fork)),
/// or per process with [`Builder::start_method`](super::Builder::start_method) (Python's
/// `get_context(method)`).
///
/// | method | the child | runs | safe with other threads running |
/// |---|---|---|---|
/// | `Fork` | a copy of the parent (`fork(2)`) | a closure, or a `fn` with arguments | no: locks held by other threads stay held in the child |
/// | `Spawn` | the program started anew (`execve("/proc/self/exe")`) | a `fn` with serde arguments ([`Builder::run`](super::Builder::run)) | yes |
/// | `Forkserver` | a fork of a server process that re-executed the program once | a `fn` with serde arguments | yes |
///
/// # Examples
///
/// ```
/// use host_runtime::process::{self, StartMethod};
///
/// assert_eq!(process::get_start_method(), StartMethod::Fork); // unless set
/// assert_eq!("spawn".parse::<StartMethod>(), Ok(StartMethod::Spawn));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StartMethod {
    /// `fork(2)`: the child is a copy of the parent and runs a closure; the fastest, and the
    /// default. Unsafe to combine with threads: see [Forking a multi-threaded
    /// parent](super#forking-a-multi-threaded-parent).
    Fork,
    /// A single-threaded server process, started once by re-executing the program, forks each
    /// child on request (over a Unix socket; arguments up to 32 KiB in the request, longer
    /// ones and the result file as `SCM_RIGHTS` descriptors) and runs a `fn` item with serde
    /// arguments there, as
    /// [`Spawn`](StartMethod::Spawn) does; the child is nonetheless this process's own (the
    /// server makes it with `clone(CLONE_PARENT)`). Cheaper than a spawn (no `execve` per
    /// child), as safe with threads (the server never ran the program's threads). Needs
    /// [`init`](super::init) as `Spawn` does. A daemon
    /// ([`Builder::daemon`](super::Builder::daemon)) dies with the process that started it
    /// (a thread of its own watches it), not with the starting thread.
    Forkserver,
    /// The child re-executes the program (`/proc/self/exe`) and runs a `fn` item with serde
    /// arguments: nothing of the parent's memory (nor its held locks) reaches it. Needs
    /// [`init`](super::init) at the start of `main` (see [`init`](super::init)).
    Spawn,
}

impl StartMethod {
    /// Python's name: `"fork"`, `"forkserver"`, `"spawn"`.
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Forkserver => "forkserver",
            StartMethod::Spawn => "spawn",
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            StartMethod::Fork => 1,
            StartMethod::Forkserver => 2,
            StartMethod::Spawn => 3,
        }
    }

    fn from_u8(v: u8) -> Option<StartMethod> {
        match v {
            1 => Some(StartMethod::Fork),
            2 => Some(StartMethod::Forkserver),
            3 => Some(StartMethod::Spawn),
            _ => None,
        }
    }

    /// The methods that work today ([`set_start_method`] accepts them): all three.
    pub fn is_available(self) -> bool {
        true
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for StartMethod {
    type Err = StartMethodError;

    /// Parses Python's names (`"fork"`, `"forkserver"`, `"spawn"`).
    fn from_str(s: &str) -> Result<StartMethod, StartMethodError> {
        match s {
            "fork" => Ok(StartMethod::Fork),
            "forkserver" => Ok(StartMethod::Forkserver),
            "spawn" => Ok(StartMethod::Spawn),
            _ => Err(StartMethodError::Unknown),
        }
    }
}

/// Why [`set_start_method`] (or parsing a [`StartMethod`]) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartMethodError {
    /// The start method was already set (Python's `RuntimeError: context has already been
    /// set`); it is left as it was. [`set_start_method_forced`] replaces it.
    AlreadySet {
        /// The method in force.
        current: StartMethod,
    },
    /// This method is not available on this system or build; nothing changed. (Every method
    /// is available today; kept for methods that may not be.)
    Unavailable(StartMethod),
    /// Not one of Python's names.
    Unknown,
}

impl fmt::Display for StartMethodError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartMethodError::AlreadySet { current } => {
                write!(f, "the start method has already been set (to {current})")
            }
            StartMethodError::Unavailable(m) => write!(f, "start method {m} is not available"),
            StartMethodError::Unknown => {
                f.write_str("unknown start method (expected fork, forkserver or spawn)")
            }
        }
    }
}

impl std::error::Error for StartMethodError {}

/// The program-wide method: 0 = not set (fork), else `StartMethod::to_u8`.
static METHOD: AtomicU8 = AtomicU8::new(0);

/// Sets the program's start method, once (Python's `multiprocessing.set_start_method`): every
/// [`Process`](super::Process), [`JoinHandle`](super::JoinHandle) and
/// [`Builder::run`](super::Builder::run) without a method of its own uses it.
///
/// A `Process` made from a closure can only be forked: under `Spawn` its start fails with
/// [`ProcessError::NeedsFork`](super::ProcessError::NeedsFork) unless its builder asks for
/// [`StartMethod::Fork`]. A [`Pool`](crate::Pool) starts its workers with this method too,
/// unless its builder names one ([`pool::Builder::start_method`](crate::pool::Builder::start_method)).
///
/// # Errors
///
/// - [`StartMethodError::AlreadySet`] if it was set before (by any thread), even to the same
///   method; nothing changes.
/// - [`StartMethodError::Unavailable`] for a method that is not available (none today).
///
/// # Examples
///
/// ```
/// use host_runtime::process::{self, StartMethod, StartMethodError};
///
/// process::set_start_method(StartMethod::Spawn)?;
/// assert_eq!(process::get_start_method(), StartMethod::Spawn);
/// assert_eq!(
///     process::set_start_method(StartMethod::Fork),
///     Err(StartMethodError::AlreadySet { current: StartMethod::Spawn })
/// );
/// process::set_start_method_forced(StartMethod::Fork)?; // Python's force=True
/// # Ok::<(), StartMethodError>(())
/// ```
pub fn set_start_method(method: StartMethod) -> Result<(), StartMethodError> {
    if !method.is_available() {
        return Err(StartMethodError::Unavailable(method));
    }
    // Relaxed: the word is the whole state; nothing else is published with it.
    match METHOD.compare_exchange(0, method.to_u8(), Relaxed, Relaxed) {
        Ok(_) => Ok(()),
        Err(old) => Err(StartMethodError::AlreadySet {
            current: StartMethod::from_u8(old).unwrap_or(StartMethod::Fork),
        }),
    }
}

/// Sets the program's start method even if it was set before (Python's
/// `set_start_method(method, force=True)`).
///
/// # Errors
///
/// [`StartMethodError::Unavailable`] for a method that is not available (none today); nothing
/// changes.
pub fn set_start_method_forced(method: StartMethod) -> Result<(), StartMethodError> {
    if !method.is_available() {
        return Err(StartMethodError::Unavailable(method));
    }
    METHOD.store(method.to_u8(), Relaxed);
    Ok(())
}

/// The program's start method: the one set by [`set_start_method`], else
/// [`StartMethod::Fork`] (Python's `get_start_method()`).
pub fn get_start_method() -> StartMethod {
    StartMethod::from_u8(METHOD.load(Relaxed)).unwrap_or(StartMethod::Fork)
}

/// Whether the fork warning may still be given: cleared by [`set_fork_warning`]`(false)` and
/// once it has been given.
static WARN: AtomicBool = AtomicBool::new(true);

/// Turns the warning given when this program forks while other threads run on or off
/// (default: on).
///
/// The first time a [`Process`](super::Process) (or a pool worker) is forked while the program
/// has more than one thread, a warning goes to stderr, once per program, as Python 3.12 does
/// (`DeprecationWarning: This process is multi-threaded, use of fork() may lead to
/// deadlocks in the child`). Until it has been given, each fork counts the threads with one
/// `statx` of `/proc/self/task` (about 3 µs, under 1% of a start and join); once given, or
/// turned off, nothing is asked.
///
/// The way out, named in the warning: start with [`StartMethod::Spawn`] (a `fn` item and
/// [`Builder::run`](super::Builder::run)), or, if the child touches no lock another thread may
/// hold, turn the warning off.
///
/// # Examples
///
/// ```
/// host_runtime::process::set_fork_warning(false); // this program knows its forks are safe
/// ```
pub fn set_fork_warning(enabled: bool) {
    WARN.store(enabled, Relaxed);
}

/// Called before each fork: warns once if other threads run.
pub(super) fn warn_if_threaded() {
    if !WARN.load(Relaxed) {
        return;
    }
    let Some(threads) = thread_count() else {
        return;
    };
    if threads > 1 && WARN.swap(false, Relaxed) {
        use std::io::Write;
        // Before the fork, with the stderr lock free (`start` takes it after this).
        let _ = writeln!(
            std::io::stderr(),
            "host-runtime: warning: process {} has {threads} threads and forks: a lock another \
             thread holds at this moment stays locked in the forked copy, which deadlocks if it \
             takes it. Use StartMethod::Spawn (process::Builder::start_method, \
             process::set_start_method) with a fn item, or silence this with \
             process::set_fork_warning(false).",
            std::process::id()
        );
    }
}

/// The number of threads of this process; `None` if it can't be read.
///
/// One `statx` of `/proc/self/task`: procfs gives that directory a link count of 2 plus the
/// number of threads (`proc_task_getattr`), about 3 µs, where reading field 20
/// (`num_threads`) of `/proc/self/stat` (`open`, `read`, `close`, and the kernel formatting
/// fifty fields) takes about 12 µs; the latter is the fallback if the count looks wrong.
pub(super) fn thread_count() -> Option<usize> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(m) = std::fs::metadata("/proc/self/task") {
        if let Some(n) = m.nlink().checked_sub(2).filter(|&n| n >= 1) {
            return usize::try_from(n).ok();
        }
    }
    let stat = std::fs::read("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or parentheses: the
    // fields after the last ')' are fixed. Field 3 is the first of them; field 20 the 18th.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    rest.split_ascii_whitespace().nth(17)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in [
            StartMethod::Fork,
            StartMethod::Forkserver,
            StartMethod::Spawn,
        ] {
            assert_eq!(m.name().parse::<StartMethod>(), Ok(m));
            assert_eq!(StartMethod::from_u8(m.to_u8()), Some(m));
        }
        assert_eq!(
            "thread".parse::<StartMethod>(),
            Err(StartMethodError::Unknown)
        );
    }

    #[test]
    fn thread_count_sees_a_new_thread() {
        let before = thread_count().unwrap();
        assert!(before >= 1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            ready_tx.send(()).unwrap();
            let _ = rx.recv();
        });
        ready_rx.recv().unwrap();
        // Other tests' threads come and go; ours is there for sure.
        assert!(thread_count().unwrap() >= 2);
        drop(tx);
        t.join().unwrap();
    }
}
