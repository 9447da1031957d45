//! [`PoolError`]: why a pool-table operation was refused.

use core::fmt;

/// Why a pool-table operation was refused. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// Every task slot is in use.
    NoFreeTask,
    /// Every worker slot is in use (none free or dead).
    NoFreeWorker,
    /// The handle or worker id names an earlier (or a forged) incarnation of its slot,
    /// or an index outside the table.
    Stale,
    /// The task or worker is not in a state this transition starts from.
    WrongState,
    /// The slot's word changed under every one of [`MAX_CAS_RETRIES`](super::MAX_CAS_RETRIES) tries: some process
    /// writes it without pause (only a broken or hostile one would, for a slot this call may
    /// change). Nothing changed; the caller may try again.
    Contended,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoFreeTask => "no free task slot",
            Self::NoFreeWorker => "no free worker slot",
            Self::Stale => "stale task handle or worker id",
            Self::WrongState => "task or worker not in the state this operation starts from",
            Self::Contended => "task or worker slot kept changing under the operation",
        })
    }
}

impl core::error::Error for PoolError {}
