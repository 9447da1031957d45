//! Read-only inspection of named regions, for tools such as `ipcctl`: what a queue region holds
//! (its shape, depth, participants and whether they live, who sleeps in it, losses, blob chunk
//! use), what a named pool's status region says of its workers ([`inspect_region`]), and the
//! removal of a stale region.
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

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ipc_core::pool::{PoolTables, TaskSlot, WorkerSlot, WorkerState};
use ipc_core::{ByteQueue, ParticipantState};

use crate::liveness::{self, Verdict};
use crate::pool::tables as pool_layout;
use crate::queue::layout::{self, word, Params, HEADER_LEN, LEASES_AT};
use crate::shared::copy::PrivateCopy;
use crate::sys::shm::{flock, geteuid, FlockOp};
use crate::sys::Pid;

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

/// One entry of the ring's participant table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParticipantSnapshot {
    /// Its participant id (the entry's index + 1), which its claims and leases carry.
    pub id: u16,
    /// The process: the participant, or while `repairing`, its repairer (whose identity is
    /// not recorded).
    pub process: RecordedProcess,
    /// The entry is being repaired (its participant died); `process` is the repairer.
    pub repairing: bool,
    /// Its calls asleep in a get, waiting for a message (the wait ledger).
    pub blocked_in_get: u32,
    /// Its calls asleep in a put, waiting for room in the ring or for a free blob chunk.
    pub blocked_in_put: u32,
}

/// One blob size class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassSnapshot {
    /// Bytes per chunk.
    pub chunk_size: usize,
    /// Chunks in the class.
    pub total: usize,
    /// Chunks leased now (being written, holding a message, being read).
    pub in_use: usize,
    /// Chunks ever leased (the high-water mark, at most `total`): memory committed.
    pub touched: usize,
    /// Long puts asleep until a chunk of this class is freed.
    pub waiters: u32,
}

/// Everything [`inspect_file`] reads from one named queue region: a snapshot, copied without
/// any lock while the queue may be in use.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueSnapshot {
    /// The region's size in bytes.
    pub region_len: usize,
    /// The most messages the ring holds.
    pub capacity: usize,
    /// Messages in the ring (counting puts claimed and not yet published, and abandoned ones
    /// not yet skipped).
    pub depth: usize,
    /// The longest message carried inline in a ring slot.
    pub inline_max: usize,
    /// The longest message accepted at all.
    pub max_message_size: usize,
    /// The item type's fingerprint (`LAYOUT.md`, *Item type*); 0: made untyped (raw bytes).
    pub item_type: u64,
    /// Entries in the participant table (`max_processes`).
    pub max_processes: usize,
    /// The process that made the queue.
    pub creator: RecordedProcess,
    /// Processes using it that found the participant table full (their liveness is unknown).
    pub unregistered: u64,
    /// The participant table's registered entries (and those being repaired).
    pub participants: Vec<ParticipantSnapshot>,
    /// Gets asleep waiting for a message.
    pub getters: u32,
    /// Puts asleep waiting for room (in the ring, or a blob chunk).
    pub putters: u32,
    /// Puts cut short after taking a place in the ring (their process died).
    pub lost_in_put: u64,
    /// Messages taken by a get that never returned them (its process died).
    pub lost_in_get: u64,
    /// Dead processes found registered and repaired.
    pub dead_processes: u64,
    /// The blob size classes, chunk sizes ascending.
    pub classes: Vec<ClassSnapshot>,
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

impl QueueSnapshot {
    /// Asks the kernel whether the creator and each participant live (reads `/proc`; writes
    /// nothing). [`inspect_file`] does this already.
    pub fn judge(&mut self) {
        let creator = &mut self.creator;
        creator.liveness = Liveness::of(liveness::judge(pid_word(creator.pid), creator.identity));
        for p in &mut self.participants {
            // A repairer's identity is not recorded (0: judged by its pid alone).
            p.process.liveness =
                Liveness::of(liveness::judge(pid_word(p.process.pid), p.process.identity));
        }
    }

    /// `Ok` if nobody can use the region any more: its creator and every participant are
    /// [`Liveness::Dead`] (unknown and not judged count as alive), and no process is counted
    /// as unregistered. The test of [`Builder::reclaim_stale`](crate::queue::Builder::reclaim_stale).
    ///
    /// # Errors
    ///
    /// The first reason found to keep it.
    pub fn stale(&self) -> Result<(), Keep> {
        let c = self.creator;
        if c.liveness != Liveness::Dead {
            return Err(Keep::Creator {
                pid: c.pid,
                liveness: c.liveness,
            });
        }
        if self.unregistered != 0 {
            return Err(Keep::Unregistered(self.unregistered));
        }
        for p in &self.participants {
            if p.process.liveness != Liveness::Dead {
                return Err(Keep::Participant {
                    pid: p.process.pid,
                    liveness: p.process.liveness,
                });
            }
        }
        Ok(())
    }

    /// Participants per liveness: `(alive, dead, unknown or not judged)`.
    pub fn liveness_counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for p in &self.participants {
            match p.process.liveness {
                Liveness::Alive => counts.0 += 1,
                Liveness::Dead => counts.1 += 1,
                _ => counts.2 += 1,
            }
        }
        counts
    }
}

/// Reads `len` bytes at `offset` of a region.
trait Source {
    /// The region's size, taken once.
    fn len(&self) -> usize;
    /// Fills `buf` from `offset`; an error if the region is shorter.
    fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), InspectError>;
}

impl Source for &[u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), InspectError> {
        let part = offset
            .checked_add(buf.len())
            .and_then(|end| self.get(offset..end))
            .ok_or(InspectError::Io(io::ErrorKind::UnexpectedEof.into()))?;
        buf.copy_from_slice(part);
        Ok(())
    }
}

struct FileSource<'a> {
    file: &'a File,
    len: usize,
}

impl Source for FileSource<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), InspectError> {
        let offset =
            u64::try_from(offset).map_err(|_| InspectError::TooLarge { needed: offset })?;
        // `pread` until full; a file shrunk meanwhile gives `UnexpectedEof`.
        Ok(self.file.read_exact_at(buf, offset)?)
    }
}

/// A little-endian `u64` at `at` of `bytes` (0 past the end: the callers' offsets are checked).
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// A little-endian `u32` at `at` of `bytes` (0 past the end).
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// Wait words in the ledger's rows: the ring's `not_empty`, then `not_full`, then each class's
/// `freed` (`queue/raw.rs`).
const NOT_EMPTY: usize = 0;

/// Whether the first 16 bytes (magic and version) say a queue region of this format: what
/// `ipcctl list` asks before reading more.
pub fn is_ours(header: &[u8]) -> bool {
    u64_at(header, 0) == layout::MAGIC && u64_at(header, 8) == layout::VERSION
}

fn snapshot(source: &dyn Source) -> Result<QueueSnapshot, InspectError> {
    let file_len = source.len();
    if file_len < HEADER_LEN {
        return Err(InspectError::NotOurs);
    }
    // The header, once, into a private copy: every word below comes from it.
    let mut header = [0u8; HEADER_LEN];
    source.read_at(0, &mut header)?;
    let w = |index: usize| u64_at(&header, 8 * index);
    if w(word::MAGIC) != layout::MAGIC {
        return Err(InspectError::NotOurs);
    }
    let version = w(word::VERSION);
    if version != layout::VERSION {
        return Err(InspectError::UnsupportedVersion { found: version });
    }
    let (params, region_len) = Params::from_header_words(w)
        .map_err(|_| InspectError::BadHeader("unreadable parameters"))?;
    let layout = params
        .layout()
        .map_err(|_| InspectError::BadHeader("the recorded parameters are invalid"))?;
    if layout.region_len != region_len {
        return Err(InspectError::BadHeader(
            "the recorded region length disagrees with the parameters",
        ));
    }
    if file_len != region_len {
        return Err(InspectError::SizeMismatch {
            expected: region_len,
            found: file_len,
        });
    }
    // What is read: the ring and the ledger (adjacent), and each lease table.
    let (ring_at, ring_len) = layout.ring;
    let (ledger_at, ledger_len) = layout.ledger;
    let needed = layout
        .classes
        .iter()
        .try_fold(ring_len.saturating_add(ledger_len), |n, c| {
            n.checked_add(c.leases.1)
        })
        .unwrap_or(usize::MAX);
    if needed > MAX_READ {
        return Err(InspectError::TooLarge { needed });
    }
    let mut ring_copy = PrivateCopy::zeroed(ring_len).ok_or(InspectError::OutOfMemory)?;
    source.read_at(ring_at, ring_copy.as_mut_slice())?;
    let mut ledger = vec![0u8; ledger_len];
    source.read_at(ledger_at, &mut ledger)?;
    let ring = ByteQueue::attach(ring_copy.as_mut_slice())
        .map_err(|_| InspectError::BadHeader("the ring fails validation"))?;
    if ring.capacity() != params.capacity || ring.max_message_len() != params.inline_max + 1 {
        return Err(InspectError::BadHeader(
            "the ring disagrees with the header",
        ));
    }

    let wait_words = params.wait_words();
    // Row `id - 1` of the ledger, word `slot` (0 if out of the table: `id` is at most the
    // table's size, checked by `attach`, but a garbled entry costs nothing here).
    let ledger_count = |id: u16, slot: usize| {
        usize::from(id)
            .checked_sub(1)
            .map_or(0, |row| u32_at(&ledger, 4 * (row * wait_words + slot)))
    };
    // At most `participants` entries (the table's size, validated by `attach`).
    let participants = ring
        .participants()
        .map(|p| {
            let id = p.id.get();
            let put_sleepers =
                (1..wait_words).fold(0u32, |n, slot| n.saturating_add(ledger_count(id, slot)));
            ParticipantSnapshot {
                id,
                process: RecordedProcess {
                    pid: Pid::from_word(p.pid),
                    identity: if p.state == ParticipantState::Alive {
                        p.identity
                    } else {
                        0
                    },
                    liveness: Liveness::NotJudged,
                },
                repairing: p.state != ParticipantState::Alive,
                blocked_in_get: ledger_count(id, NOT_EMPTY),
                blocked_in_put: put_sleepers,
            }
        })
        .collect();

    let mut classes = Vec::with_capacity(layout.classes.len());
    let mut pool_waiters = 0u32;
    for (k, c) in layout.classes.iter().enumerate() {
        let mut table = vec![0u8; c.leases.1];
        source.read_at(c.leases.0, &mut table)?;
        // The class's `freed` WaitWord: `seq: u32`, then `waiters: u32`.
        let waiters = u32_at(&table, 4);
        pool_waiters = pool_waiters.saturating_add(waiters);
        let touched = usize::try_from(w(word::FRESH + k))
            .unwrap_or(usize::MAX)
            .min(c.count);
        let in_use = (0..touched)
            .filter(|i| u64_at(&table, LEASES_AT + 8 * i) != 0)
            .count();
        classes.push(ClassSnapshot {
            chunk_size: c.chunk_size,
            total: c.count,
            in_use,
            touched,
            waiters,
        });
    }
    let stats = ring.stats();
    let creator_pid = u32::try_from(w(word::CREATOR_PID)).map_or(None, Pid::from_word);
    Ok(QueueSnapshot {
        region_len,
        capacity: params.capacity,
        depth: ring.len(),
        inline_max: params.inline_max,
        max_message_size: params.max_message_size,
        item_type: params.item_type,
        max_processes: params.participants,
        creator: RecordedProcess {
            pid: creator_pid,
            identity: w(word::CREATOR_IDENTITY),
            liveness: Liveness::NotJudged,
        },
        unregistered: w(word::UNREGISTERED),
        participants,
        getters: ring.not_empty().waiters(),
        putters: ring.not_full().waiters().saturating_add(pool_waiters),
        lost_in_put: stats.lost_in_push,
        lost_in_get: stats.lost_in_pop,
        dead_processes: w(word::REPAIRS),
        classes,
    })
}

/// One worker slot of a named pool ([`pool::Builder::name`](crate::pool::Builder::name)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// The slot's index.
    pub index: usize,
    /// Its state: `new`, `ready` (waiting for a task), `running` (a task's code), `blocked`
    /// (its task sleeps in one of our blocking calls: a get, a put, a lock, `wait`, sending
    /// its result), `dead`.
    pub state: &'static str,
    /// Its process (0: not recorded yet). Its identity is not recorded: judged by pid alone.
    pub process: RecordedProcess,
    /// Tasks it finished (done or failed).
    pub tasks_done: u64,
    /// The task slot it runs, if any (an index within the task table).
    pub task: Option<usize>,
}

/// Everything [`inspect_region`] reads from a named pool's status region.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolSnapshot {
    /// The region's size in bytes.
    pub region_len: usize,
    /// The process that made the pool.
    pub creator: RecordedProcess,
    /// Task slots in the table.
    pub task_slots: usize,
    /// The worker slots in use.
    pub workers: Vec<WorkerSnapshot>,
}

impl PoolSnapshot {
    /// Tasks being run now (by running or blocked workers), and tasks finished by the
    /// workers (those of workers replaced since are not counted).
    pub fn task_counts(&self) -> (usize, u64) {
        let running = self.workers.iter().filter(|w| w.task.is_some()).count();
        let done = self
            .workers
            .iter()
            .fold(0u64, |n, w| n.saturating_add(w.tasks_done));
        (running, done)
    }

    /// Asks the kernel whether the creator and each worker live (reads `/proc`).
    pub fn judge(&mut self) {
        let c = &mut self.creator;
        c.liveness = Liveness::of(liveness::judge(pid_word(c.pid), c.identity));
        for w in &mut self.workers {
            w.process.liveness = if w.state == "dead" {
                Liveness::Dead
            } else {
                Liveness::of(liveness::judge(pid_word(w.process.pid), 0))
            };
        }
    }

    /// `Ok` if nobody can use the pool's region: its creator and every worker are dead.
    ///
    /// # Errors
    ///
    /// The first reason found to keep it.
    pub fn stale(&self) -> Result<(), Keep> {
        let c = self.creator;
        if c.liveness != Liveness::Dead {
            return Err(Keep::Creator {
                pid: c.pid,
                liveness: c.liveness,
            });
        }
        for w in &self.workers {
            if w.process.liveness != Liveness::Dead {
                return Err(Keep::Participant {
                    pid: w.process.pid,
                    liveness: w.process.liveness,
                });
            }
        }
        Ok(())
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

fn pool_snapshot(source: &dyn Source) -> Result<PoolSnapshot, InspectError> {
    use pool_layout::word;
    let file_len = source.len();
    if file_len < pool_layout::HEADER_LEN {
        return Err(InspectError::NotOurs);
    }
    let mut header = [0u8; pool_layout::HEADER_LEN];
    source.read_at(0, &mut header)?;
    let w = |index: usize| u64_at(&header, 8 * index);
    if w(word::MAGIC) != pool_layout::MAGIC {
        return Err(InspectError::NotOurs);
    }
    let version = w(word::VERSION);
    if version != pool_layout::VERSION {
        return Err(InspectError::UnsupportedVersion { found: version });
    }
    let r = |index: usize| usize::try_from(w(index)).unwrap_or(usize::MAX);
    let (workers, tasks) = (r(word::WORKERS), r(word::TASKS));
    if workers == 0
        || workers > ipc_core::pool::MAX_WORKERS
        || tasks == 0
        || tasks > ipc_core::pool::MAX_TASKS
    {
        return Err(InspectError::BadHeader("worker or task count out of range"));
    }
    let tasks_at = pool_layout::tasks_at(workers);
    if r(word::TASKS_AT) != tasks_at {
        return Err(InspectError::BadHeader(
            "the task table is not where it belongs",
        ));
    }
    let len = tasks
        .checked_mul(core::mem::size_of::<TaskSlot>())
        .and_then(|n| n.checked_add(tasks_at))
        .ok_or(InspectError::BadHeader("the tables do not fit in memory"))?;
    let region_len = len.saturating_add(pool_layout::HEADER_LEN);
    if r(word::REGION_LEN) != region_len {
        return Err(InspectError::BadHeader(
            "the recorded region length disagrees with the tables",
        ));
    }
    if file_len != region_len {
        return Err(InspectError::SizeMismatch {
            expected: region_len,
            found: file_len,
        });
    }
    if len > MAX_READ {
        return Err(InspectError::TooLarge { needed: len });
    }
    let mut copy = PrivateCopy::zeroed(len).ok_or(InspectError::OutOfMemory)?;
    source.read_at(pool_layout::HEADER_LEN, copy.as_mut_slice())?;
    let broken = || InspectError::BadHeader("the tables fail validation");
    let worker_slots = copy
        .atomics::<WorkerSlot>(pool_layout::WORKERS_AT, workers)
        .ok_or_else(broken)?;
    let task_slots = copy
        .atomics::<TaskSlot>(tasks_at, tasks)
        .ok_or_else(broken)?;
    let tables = PoolTables::new(worker_slots, task_slots).map_err(|_| broken())?;
    let workers = (0..workers)
        .filter_map(|index| {
            let info = tables.worker(index)?;
            let state = match info.state {
                WorkerState::New => "new",
                WorkerState::Ready => "ready",
                WorkerState::Running => "running",
                WorkerState::Blocked => "blocked",
                WorkerState::Dead => "dead",
                _ => "unknown",
            };
            Some(WorkerSnapshot {
                index,
                state,
                process: RecordedProcess {
                    pid: info.pid.and_then(Pid::from_word),
                    identity: 0,
                    liveness: Liveness::NotJudged,
                },
                tasks_done: info.tasks_done,
                // Informational in the slot, never checked by a transition: garbage there
                // (an index outside the table) is not shown.
                task: info.task.map(|t| t.index()).filter(|&t| t < tasks),
            })
        })
        .collect();
    Ok(PoolSnapshot {
        region_len,
        creator: RecordedProcess {
            pid: u32::try_from(w(word::CREATOR_PID)).map_or(None, Pid::from_word),
            identity: w(word::CREATOR_IDENTITY),
            liveness: Liveness::NotJudged,
        },
        task_slots: tasks,
        workers,
    })
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

fn region_of(file: &File, meta: &fs::Metadata) -> Result<RegionSnapshot, InspectError> {
    let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
    let mut snap = region_snapshot(&FileSource { file, len })?;
    snap.judge();
    Ok(snap)
}

/// A snapshot of the queue region whose bytes are `bytes` (a whole region: header, ring,
/// ledger, lease tables, chunks), with every liveness [`Liveness::NotJudged`]: nothing but
/// `bytes` is read.
///
/// # Errors
///
/// [`InspectError::NotOurs`], [`InspectError::UnsupportedVersion`],
/// [`InspectError::BadHeader`], [`InspectError::SizeMismatch`] (`bytes` is not as long as the
/// header says), [`InspectError::TooLarge`], [`InspectError::OutOfMemory`].
///
/// # Examples
///
/// ```
/// use host_runtime::inspect::{inspect_bytes, InspectError};
///
/// assert!(matches!(inspect_bytes(&[0u8; 4096]), Err(InspectError::NotOurs)));
/// ```
pub fn inspect_bytes(bytes: &[u8]) -> Result<QueueSnapshot, InspectError> {
    snapshot(&bytes)
}

/// Opens `path` read-only for inspection: no symbolic link followed, no blocking open (a FIFO),
/// a regular file owned by us.
fn open_checked(path: &Path) -> Result<(File, fs::Metadata), InspectError> {
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

fn snapshot_of(file: &File, meta: &fs::Metadata) -> Result<QueueSnapshot, InspectError> {
    let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
    let mut snap = snapshot(&FileSource { file, len })?;
    snap.judge();
    Ok(snap)
}

/// A snapshot of the queue region in the file `path` (any directory: a copy, or `/dev/shm`),
/// with the liveness of its creator and participants judged. Reads only: no mapping, no lock,
/// no registration (see the module docs).
///
/// # Errors
///
/// [`InspectError::Io`] (no such file, unreadable, shrunk while read),
/// [`InspectError::NotRegularFile`], [`InspectError::NotOwner`], and those of
/// [`inspect_bytes`].
pub fn inspect_file(path: &Path) -> Result<QueueSnapshot, InspectError> {
    let (file, meta) = open_checked(path)?;
    snapshot_of(&file, &meta)
}

/// [`inspect_file`] of the named queue `name` (`/dev/shm/NAME`).
///
/// # Errors
///
/// As [`inspect_file`]; a name with a `/` (after an optional leading one) is
/// [`InspectError::NotRegularFile`].
pub fn inspect_named(name: &str) -> Result<QueueSnapshot, InspectError> {
    inspect_file(&named_path(Path::new(SHM_DIR), name)?)
}

/// `dir/NAME` for a region name (a leading `/` is dropped, as `shm_open` does).
fn named_path(dir: &Path, name: &str) -> Result<PathBuf, InspectError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() || bare.contains('/') || bare == "." || bare == ".." {
        return Err(InspectError::NotRegularFile);
    }
    Ok(dir.join(bare))
}

/// Why [`remove_if_stale`] removed nothing.
#[derive(Debug)]
#[non_exhaustive]
pub enum RemoveError {
    /// The region could not be read, or holds no valid queue of ours: never removed.
    Inspect(InspectError),
    /// Someone holds its lock: it is being made, opened or reclaimed.
    Locked,
    /// The name names another file now (replaced while we looked): left alone.
    Replaced,
    /// Someone may still use it.
    InUse(Keep),
    /// The unlink failed.
    Io(io::Error),
}

impl fmt::Display for RemoveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoveError::Inspect(e) => write!(f, "{e}"),
            RemoveError::Locked => f.write_str("being made, opened or reclaimed (locked)"),
            RemoveError::Replaced => f.write_str("the name was replaced while we looked"),
            RemoveError::InUse(keep) => write!(f, "in use: {keep}"),
            RemoveError::Io(e) => write!(f, "cannot remove it: {e}"),
        }
    }
}

impl std::error::Error for RemoveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RemoveError::Inspect(e) => Some(e),
            RemoveError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<InspectError> for RemoveError {
    fn from(e: InspectError) -> Self {
        RemoveError::Inspect(e)
    }
}

/// Removes the queue region `name` from `dir` (`/dev/shm`: [`SHM_DIR`]) if its creator and every
/// participant are dead, by the reclaim protocol (module docs): an exclusive `flock` taken
/// without waiting, the name checked to still name the file locked, the judgement, and the
/// unlink under the lock. With `dry_run`, judges only: no lock, nothing removed. Returns the
/// snapshot judged.
///
/// # Errors
///
/// [`RemoveError`]: nothing was removed.
pub fn remove_if_stale(
    dir: &Path,
    name: &str,
    dry_run: bool,
) -> Result<RegionSnapshot, RemoveError> {
    let path = named_path(dir, name)?;
    let (file, meta) = open_checked(&path)?;
    if dry_run {
        let snap = region_of(&file, &meta)?;
        snap.stale().map_err(RemoveError::InUse)?;
        return Ok(snap);
    }
    match flock(file.as_fd(), FlockOp::TryExclusiveLock) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(RemoveError::Locked),
        Err(e) => return Err(RemoveError::Io(e)),
    }
    // The lock goes with `file` (nothing is mapped): dropped on every way out.
    let now = fs::symlink_metadata(&path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            RemoveError::Replaced
        } else {
            RemoveError::Io(e)
        }
    })?;
    if now.dev() != meta.dev() || now.ino() != meta.ino() {
        return Err(RemoveError::Replaced);
    }
    let snap = region_of(&file, &meta)?;
    snap.stale().map_err(RemoveError::InUse)?;
    fs::remove_file(&path).map_err(RemoveError::Io)?;
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Builder;

    fn region_bytes(name: &str) -> Vec<u8> {
        fs::read(Path::new(SHM_DIR).join(name)).unwrap()
    }

    #[test]
    fn a_copy_reads_as_the_queue_does() {
        let name = format!("hr-inspect-unit-{}", std::process::id());
        let _ = crate::RawQueue::unlink_named(&name);
        let q = Builder::new()
            .maxsize(6)
            .size_class(4096, 3)
            .create_named_raw(&name)
            .unwrap();
        q.put(b"short").unwrap();
        q.put(vec![7u8; 3000]).unwrap();
        let bytes = region_bytes(&name);
        crate::RawQueue::unlink_named(&name).unwrap();
        let snap = inspect_bytes(&bytes).unwrap();
        assert_eq!((snap.capacity, snap.depth), (6, 2));
        assert_eq!(snap.item_type, 0);
        assert_eq!(snap.creator.pid, Some(Pid::this()));
        assert_eq!(snap.participants.len(), 1);
        assert_eq!(snap.participants[0].process.pid, Some(Pid::this()));
        assert_eq!(snap.classes.len(), 1);
        let c = snap.classes[0];
        assert_eq!(
            (c.chunk_size, c.total, c.in_use, c.touched),
            (4096, 3, 1, 1)
        );
        assert_eq!(
            snap.stale(),
            Err(Keep::Creator {
                pid: Some(Pid::this()),
                liveness: Liveness::NotJudged
            })
        );
        // Every prefix and a corrupted magic: typed errors, no panic.
        for cut in [0, 8, 100, HEADER_LEN, HEADER_LEN + 1, bytes.len() - 1] {
            assert!(inspect_bytes(&bytes[..cut]).is_err(), "{cut}");
        }
        let mut bad = bytes.clone();
        bad[8] = 99;
        assert!(matches!(
            inspect_bytes(&bad),
            Err(InspectError::UnsupportedVersion { found: 99 })
        ));
    }
}
