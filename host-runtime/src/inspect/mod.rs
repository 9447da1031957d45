//! Read-only inspection of named regions, for tools such as `ipcctl`: what a queue region holds
//! (its shape, depth, participants and whether they live, who sleeps in it, losses, blob chunk
//! use; `queue.rs`), what a named pool's status region says of its workers (state, since when,
//! task) and tasks (pending, running, done, failed; `pool.rs`; both through
//! [`inspect_region`]), and the removal of a stale region (`remove.rs`).
//!
//! # Reading never changes a region
//!
//! [`inspect_file`] opens the region's file read-only and copies the parts it needs (the
//! header, the ring, the wait ledger, the lease tables; never the blob chunks) with `pread`
//! into memory of this process alone. It maps nothing, takes no lock, and never registers as
//! a participant: the queue's users cannot tell it looked. The copy is then read through the
//! same checked views as the library: the header parsed into locals and its layout computed
//! and checked by the queue's own code (`Params`, `Layout`), the ring through
//! `ipc_core::ByteQueue::attach` over the private copy. Since nothing is mapped, a process that
//! shrinks the file makes a read fail ([`InspectError::Io`]), never a `SIGBUS`.
//!
//! # Hostile bytes
//!
//! A region's bytes may be anything. Each value is read once from the copy, checked, then
//! used; counts are capped by the layout (the participant table's size, a class's chunk count,
//! both checked against the file's size); the whole read is capped at [`MAX_READ`] bytes. The
//! result is a typed error or a [`QueueSnapshot`] whose numbers may be wrong (a snapshot of
//! words that change while they are copied, or garbage a broken process wrote), never a panic.
//! [`inspect_bytes`] does the same over bytes in memory (the fuzz target `inspect`).
//!
//! # Removing a stale region
//!
//! [`remove_if_stale`] follows the reclaim protocol of
//! [`Builder::reclaim_stale`](crate::queue::Builder::reclaim_stale) (`queue/reclaim.rs`): an
//! exclusive `flock` on the file, taken without waiting (refused while anyone creates, opens or
//! reclaims it), a check that the name still names that file, then the judgement (creator and
//! every participant dead, nobody counted as unregistered), and the unlink, still under the
//! lock.
//!
//! # Examples
//!
//! ```
//! use host_runtime::{inspect, queue::Builder};
//!
//! let name = format!("doc-inspect-{}", std::process::id());
//! let q = Builder::new().maxsize(8).create_named_raw(&name)?;
//! q.put(b"one")?;
//! q.put(b"two")?;
//! let snap = inspect::inspect_named(&name)?;
//! assert_eq!((snap.capacity, snap.depth), (8, 2));
//! assert_eq!(snap.participants.len(), 1); // this process, which made it
//! assert_eq!(snap.participants[0].process.liveness, inspect::Liveness::Alive);
//! host_runtime::RawQueue::unlink_named(&name)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod pool;
mod queue;
mod remove;
mod source;

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::liveness::Verdict;
use crate::pool::tables as pool_layout;
use crate::sys::shm::geteuid;
use crate::sys::Pid;

use pool::pool_snapshot;
pub use pool::{PoolSnapshot, TaskCounts, WorkerSnapshot};
use queue::snapshot;
pub use queue::{
    inspect_bytes, inspect_file, inspect_named, is_ours, ClassSnapshot, ParticipantSnapshot,
    QueueSnapshot,
};
pub use remove::{remove_if_stale, RemoveError};
use source::{FileSource, Source};

/// Where named regions live: `shm_open(3)` names are the files of this directory.
pub const SHM_DIR: &str = "/dev/shm";

/// The most bytes one inspection reads from a region (the ring, ledger and lease tables; the
/// blob chunks are never read). A larger queue is refused with [`InspectError::TooLarge`].
pub const MAX_READ: usize = 256 << 20;

/// Why a region could not be inspected (or removed).
#[derive(Debug)]
#[non_exhaustive]
pub enum InspectError {
    /// Reading the file failed (it vanished, or shrank while read).
    Io(io::Error),
    /// Not a regular file (a directory, a FIFO, a symbolic link…): never read.
    NotRegularFile,
    /// The file belongs to another user: not ours, never read.
    NotOwner {
        /// Its owner.
        owner: u32,
        /// Our effective uid.
        expected: u32,
    },
    /// No queue of ours: the magic is not `hrqueue\x01` (or the file is shorter than a
    /// header, or is still being made).
    NotOurs,
    /// Our magic, another version of the format.
    UnsupportedVersion {
        /// The version word found.
        found: u64,
    },
    /// Our magic and version, but the header contradicts itself or the file.
    BadHeader(&'static str),
    /// The file's size is not what its header calls for.
    SizeMismatch {
        /// Bytes the header calls for.
        expected: usize,
        /// Bytes the file has.
        found: usize,
    },
    /// The parts to read exceed [`MAX_READ`] bytes.
    TooLarge {
        /// Bytes the parts would take.
        needed: usize,
    },
    /// No memory for the private copy.
    OutOfMemory,
}

impl fmt::Display for InspectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InspectError::Io(e) => write!(f, "cannot read the region: {e}"),
            InspectError::NotRegularFile => f.write_str("not a regular file"),
            InspectError::NotOwner { owner, expected } => {
                write!(f, "owned by uid {owner}, not by us ({expected})")
            }
            InspectError::NotOurs => f.write_str("not a queue region (bad magic)"),
            InspectError::UnsupportedVersion { found } => {
                write!(f, "a queue region of another format version ({found})")
            }
            InspectError::BadHeader(why) => write!(f, "a broken queue header: {why}"),
            InspectError::SizeMismatch { expected, found } => write!(
                f,
                "the header calls for {expected} bytes, the file has {found}"
            ),
            InspectError::TooLarge { needed } => {
                write!(f, "{needed} bytes to read, more than {MAX_READ}")
            }
            InspectError::OutOfMemory => f.write_str("no memory for a copy of the region"),
        }
    }
}

impl std::error::Error for InspectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InspectError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for InspectError {
    fn from(e: io::Error) -> Self {
        InspectError::Io(e)
    }
}

/// Whether a recorded process can still run, as the kernel says (`/proc`; see
/// [`Builder::reclaim_stale`](crate::queue::Builder::reclaim_stale)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Liveness {
    /// It may run (a stopped or slow process is alive).
    Alive,
    /// It can never run again: exited, killed (a zombie too), or its pid reused.
    Dead,
    /// Cannot tell (another pid namespace, an unreadable `/proc`, no pid recorded): counted as
    /// alive.
    Unknown,
    /// Not asked ([`inspect_bytes`]; see [`QueueSnapshot::judge`]).
    NotJudged,
}

impl Liveness {
    fn of(verdict: Verdict) -> Liveness {
        match verdict {
            Verdict::Alive => Liveness::Alive,
            Verdict::Dead => Liveness::Dead,
            Verdict::Unknown => Liveness::Unknown,
        }
    }

    /// A short lowercase name: `alive`, `dead`, `unknown`, `not judged`.
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::Alive => "alive",
            Liveness::Dead => "dead",
            Liveness::Unknown => "unknown",
            Liveness::NotJudged => "not judged",
        }
    }
}

/// The pid word the liveness judge takes (0: none, judged unknown).
fn pid_word(pid: Option<Pid>) -> u32 {
    pid.map_or(0, |p| p.as_raw().unsigned_abs())
}

/// A process recorded in a region: its creator, or a participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordedProcess {
    /// Its pid (`None` if none is recorded, or the word is no pid).
    pub pid: Option<Pid>,
    /// Its identity (start time under the pid namespace; 0: unknown).
    pub identity: u64,
    /// Whether it lives.
    pub liveness: Liveness,
}

/// Why [`QueueSnapshot::stale`] keeps a region: someone may still use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Keep {
    /// The creator is alive, or its liveness unknown (`pid` `None`: none recorded).
    Creator {
        /// The creator's pid.
        pid: Option<Pid>,
        /// What the kernel says.
        liveness: Liveness,
    },
    /// A participant (or the repairer of a dead one) is alive, or its liveness unknown.
    Participant {
        /// Its pid.
        pid: Option<Pid>,
        /// What the kernel says.
        liveness: Liveness,
    },
    /// Processes use it that could not register: their liveness cannot be told.
    Unregistered(u64),
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keep::Creator { pid, liveness } => {
                let pid = pid.map_or(0, Pid::as_raw);
                write!(f, "its creator (pid {pid}) is {}", liveness.as_str())
            }
            Keep::Participant { pid, liveness } => {
                let pid = pid.map_or(0, Pid::as_raw);
                write!(f, "participant pid {pid} is {}", liveness.as_str())
            }
            Keep::Unregistered(n) => write!(f, "{n} unregistered process(es) may use it"),
        }
    }
}

/// A snapshot of any region of ours.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegionSnapshot {
    /// A named queue.
    Queue(QueueSnapshot),
    /// A named pool's status region.
    Pool(PoolSnapshot),
}

impl RegionSnapshot {
    /// `queue` or `pool`.
    pub fn kind(&self) -> &'static str {
        match self {
            RegionSnapshot::Queue(_) => "queue",
            RegionSnapshot::Pool(_) => "pool",
        }
    }

    /// [`QueueSnapshot::stale`] or [`PoolSnapshot::stale`].
    ///
    /// # Errors
    ///
    /// The first reason found to keep the region.
    pub fn stale(&self) -> Result<(), Keep> {
        match self {
            RegionSnapshot::Queue(q) => q.stale(),
            RegionSnapshot::Pool(p) => p.stale(),
        }
    }

    fn judge(&mut self) {
        match self {
            RegionSnapshot::Queue(q) => q.judge(),
            RegionSnapshot::Pool(p) => p.judge(),
        }
    }
}

/// A queue or a pool: by the magic in the first word.
fn region_snapshot(source: &dyn Source) -> Result<RegionSnapshot, InspectError> {
    let mut magic = [0u8; 8];
    if source.len() < 8 {
        return Err(InspectError::NotOurs);
    }
    source.read_at(0, &mut magic)?;
    if u64::from_le_bytes(magic) == pool_layout::MAGIC {
        pool_snapshot(source).map(RegionSnapshot::Pool)
    } else {
        snapshot(source).map(RegionSnapshot::Queue)
    }
}

/// [`inspect_bytes`] for any region of ours: a queue, or a named pool's status region.
///
/// # Errors
///
/// As [`inspect_bytes`].
pub fn inspect_region_bytes(bytes: &[u8]) -> Result<RegionSnapshot, InspectError> {
    region_snapshot(&bytes)
}

/// [`inspect_file`] for any region of ours: a queue, or a named pool's status region, with the
/// liveness of its processes judged.
///
/// # Errors
///
/// As [`inspect_file`].
pub fn inspect_region(path: &Path) -> Result<RegionSnapshot, InspectError> {
    let (file, meta) = open_checked(path)?;
    region_of(&file, &meta)
}

pub(super) fn region_of(file: &File, meta: &fs::Metadata) -> Result<RegionSnapshot, InspectError> {
    let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
    let mut snap = region_snapshot(&FileSource { file, len })?;
    snap.judge();
    Ok(snap)
}

/// Opens `path` read-only for inspection: no symbolic link followed, no blocking open (a FIFO),
/// a regular file owned by us.
pub(super) fn open_checked(path: &Path) -> Result<(File, fs::Metadata), InspectError> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                InspectError::NotRegularFile
            } else {
                InspectError::Io(e)
            }
        })?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(InspectError::NotRegularFile);
    }
    let expected = geteuid();
    if meta.uid() != expected {
        return Err(InspectError::NotOwner {
            owner: meta.uid(),
            expected,
        });
    }
    Ok((file, meta))
}

/// `dir/NAME` for a region name (a leading `/` is dropped, as `shm_open` does).
pub(super) fn named_path(dir: &Path, name: &str) -> Result<PathBuf, InspectError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() || bare.contains('/') || bare == "." || bare == ".." {
        return Err(InspectError::NotRegularFile);
    }
    Ok(dir.join(bare))
}
