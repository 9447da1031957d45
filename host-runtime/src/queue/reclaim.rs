//! Reclaiming a **stale** named queue: one whose creator and every participant are dead, left in
//! `/dev/shm` by a crashed program ([`Builder::reclaim_stale`](super::Builder::reclaim_stale)).
//!
//! # The protocol
//!
//! Every step that matters happens under `flock` on the region's file, which the kernel releases
//! when its holder dies:
//!
//! * **Create** takes the lock exclusively right after `O_EXCL` made the object, and holds it
//!   until the header (with the creator's pid and identity, words 36–37) and its magic are
//!   written and the creator is registered in the ring.
//! * **Open** takes it shared, validates the queue, checks that the name still names the file
//!   it opened (same device and inode), and registers in the participant table (or, if the
//!   table is full, counts itself in the header's `UNREGISTERED` word, 38) before letting go.
//!   A lock it cannot get (a create or reclaim in progress) is an error, as opening a queue
//!   being made was before; a name that names another file now (the queue was reclaimed
//!   between its `shm_open` and its lock) makes it open again, once.
//! * **Reclaim**, when the exclusive create found the name taken: opens the object, takes the
//!   lock exclusively without waiting (refused if anyone holds it: a creator, an opener, another
//!   reclaimer), checks that the name still names that file (else starts over, once), validates
//!   the queue (what is not a valid queue of this version is never reclaimed), then judges:
//!   the creator, every `Alive` participant entry (and the repairer of every `Repairing` one)
//!   must be dead by [`liveness::judge`] (an unknown verdict counts as alive), and
//!   `UNREGISTERED` must be 0. Only then, still holding the lock, it unlinks the name, and
//!   makes the new queue by the exclusive create.
//!
//! # Races
//!
//! * **Two reclaimers.** They serialise on the old file's lock (the second gets `WouldBlock`:
//!   refused with [`QueueError::InUse`], or it locks after the first let go and finds that the
//!   name names the first one's new file, or none). A name is only unlinked under the lock of
//!   the file it names, after checking it names it, so no reclaimer removes a queue it did not
//!   judge. If both get to the exclusive create, one wins; the other finds a live creator.
//! * **An opener during a reclaim.** If the opener locked first, it registers before the
//!   reclaimer can judge, which then finds it alive. If the reclaimer locked first, the opener
//!   fails to lock (an error, "try again") or, once the lock is free, finds that the name no
//!   longer names its file and opens the new queue.
//! * **A creator killed while making the queue** leaves a region without magic: never
//!   reclaimed (its creator is not recorded), to be removed by hand (`unlink_named`).
//! * **Processes that do not open by name**: a child forked from a participant registers on its
//!   first call; if every registered process is dead and such a child has not used the queue
//!   yet, the queue may be reclaimed, and the child goes on with the old region alone.
//!
//! The judgement trusts the words of the region: a same-user process that writes them can make
//! a live queue look stale (as it can unlink it); only a dead process's region is meant to be
//! reclaimed, and no memory safety rests on the verdict.

use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering::Relaxed;

use ipc_core::ParticipantState;

use super::error::QueueError;
use super::layout::{word, Params};
use super::raw::RawQueue;
use crate::liveness::{self, Verdict};
use crate::shm::{SharedRegion, ShmError, UnlockOnDrop};
use crate::sys::shm::{flock, FlockOp};
use crate::sys::Pid;

/// Why a region is kept, or `Ok` if it may be reclaimed.
fn judge_stale(queue: &RawQueue) -> Result<(), QueueError> {
    // A pid word that is no pid (0, above `i32::MAX`) is judged as it is, but not named.
    let in_use = |pid: Option<u32>, reason: &'static str| {
        let pid = pid.and_then(Pid::from_word);
        Err(QueueError::InUse { pid, reason })
    };
    let header = queue.header();
    let pid = header.u64_at(8 * word::CREATOR_PID).load(Relaxed);
    let identity = header.u64_at(8 * word::CREATOR_IDENTITY).load(Relaxed);
    let Ok(pid) = u32::try_from(pid) else {
        return in_use(None, "its creator is not recorded");
    };
    if liveness::judge(pid, identity) != Verdict::Dead {
        return in_use(Some(pid), "its creator is alive (or its liveness unknown)");
    }
    if header.u64_at(8 * word::UNREGISTERED).load(Relaxed) != 0 {
        return in_use(
            None,
            "a process uses it that could not register (participant table full)",
        );
    }
    // At most `participants` entries (checked against the header by `attach`).
    for p in queue.participants() {
        let verdict = match p.state {
            ParticipantState::Alive => liveness::judge(p.pid, p.identity),
            // `pid` is the repairer's; its identity is not recorded.
            ParticipantState::Repairing => liveness::judge(p.pid, 0),
            _ => continue,
        };
        if verdict != Verdict::Dead {
            return in_use(
                Some(p.pid),
                "a participant is alive (or its liveness unknown)",
            );
        }
    }
    Ok(())
}

/// Takes the name from the stale region it names, if it is stale: `Ok(true)` if the name is
/// free now (removed here, or gone already), `Ok(false)` if it names another file than the one
/// opened (start over).
fn reclaim(name: &str) -> Result<bool, QueueError> {
    let (region, file) = match SharedRegion::open_named_file(name) {
        Ok(opened) => opened,
        Err(ShmError::NotFound(_)) => return Ok(true),
        // Empty: being made (it is locked then, but we could not lock before mapping), or its
        // creator died before sizing it: never reclaimed.
        Err(ShmError::SizeMismatch { .. }) => {
            return Err(QueueError::InUse {
                pid: None,
                reason: "the region is empty: being made, or its creator died making it",
            })
        }
        Err(e) => return Err(e.into()),
    };
    match flock(file.as_fd(), FlockOp::TryExclusiveLock) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            return Err(QueueError::InUse {
                pid: None,
                reason: "the queue is being made, opened or reclaimed",
            })
        }
        Err(e) => return Err(ShmError::Os(e).into()),
    }
    // The mapping holds the lock too: let go explicitly (after the unlink), on every way out.
    let _unlock = UnlockOnDrop(&file);
    if !SharedRegion::names(name, &file)? {
        return Ok(false);
    }
    let queue = RawQueue::attach(region).map_err(|_| QueueError::InUse {
        pid: None,
        reason: "the region is not a valid queue of this version (or its creator died making it)",
    })?;
    judge_stale(&queue)?;
    // Still locked: whoever locks the old file next finds the name gone or another's.
    match SharedRegion::unlink_named(name) {
        Ok(()) | Err(ShmError::NotFound(_)) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

impl RawQueue {
    /// [`RawQueue::create`] of a named queue, reclaiming a stale region of that name first
    /// (see the module docs).
    pub(crate) fn create_or_reclaim(params: &Params, name: &str) -> Result<RawQueue, QueueError> {
        // Create, reclaim, create: a create that loses again to another process finds that
        // one alive (its creator) on the second reclaim.
        let mut reclaims = 0;
        loop {
            match RawQueue::create(params, Some(name)) {
                Err(QueueError::Shm(ShmError::AlreadyExists(taken))) => {
                    if reclaims == 2 {
                        return Err(ShmError::AlreadyExists(taken).into());
                    }
                    reclaims += 1;
                    reclaim(name)?;
                }
                made => return made,
            }
        }
    }
}
