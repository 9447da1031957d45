//! A named queue region: [`QueueSnapshot`] and its reader.

use std::fs::{self, File};
use std::path::Path;

use ipc_core::{ByteQueue, ParticipantState};

use super::source::{u32_at, u64_at, FileSource, Source};
use super::{
    named_path, open_checked, InspectError, Keep, Liveness, RecordedProcess, MAX_READ, SHM_DIR,
};
use crate::liveness;
use crate::queue::layout::{self, word, Params, HEADER_LEN, LEASES_AT};
use crate::shared::copy::PrivateCopy;
use crate::sys::Pid;

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

impl QueueSnapshot {
    /// Asks the kernel whether the creator and each participant live (reads `/proc`; writes
    /// nothing). [`inspect_file`] does this already.
    pub fn judge(&mut self) {
        let creator = &mut self.creator;
        creator.liveness = Liveness::of(liveness::judge(
            super::pid_word(creator.pid),
            creator.identity,
        ));
        for p in &mut self.participants {
            // A repairer's identity is not recorded (0: judged by its pid alone).
            p.process.liveness = Liveness::of(liveness::judge(
                super::pid_word(p.process.pid),
                p.process.identity,
            ));
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

/// Wait words in the ledger's rows: the ring's `not_empty`, then `not_full`, then each class's
/// `freed` (`queue/raw.rs`).
const NOT_EMPTY: usize = 0;

/// Whether the first 16 bytes (magic and version) say a queue region of this format: what
/// `ipcctl list` asks before reading more.
pub fn is_ours(header: &[u8]) -> bool {
    u64_at(header, 0) == layout::MAGIC && u64_at(header, 8) == layout::VERSION
}

pub(super) fn snapshot(source: &dyn Source) -> Result<QueueSnapshot, InspectError> {
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
