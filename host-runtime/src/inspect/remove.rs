//! [`remove_if_stale`]: the removal of a region nobody can use any more.

use std::fmt;
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{named_path, open_checked, region_of, InspectError, Keep, RegionSnapshot};
use crate::sys::shm::{flock, FlockOp};

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

/// Removes the region `name` (a queue, or a named pool's status region) from `dir`
/// (`/dev/shm`: [`SHM_DIR`](super::SHM_DIR)) if its creator and every participant (or worker)
/// are dead, by the reclaim protocol ([module docs](super)): an exclusive `flock` taken
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
