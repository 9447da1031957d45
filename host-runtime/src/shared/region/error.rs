//! Why [`split`](super::split)(super::split) or [`Mapping::claim`](super::Mapping::claim)(super::Mapping::claim) refused a part.

use std::fmt;

use ipc_core::{AttachError, InitError};
/// Why [`split`](super::split) refused; `part` is the index of the offending part (see [`ClaimError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SplitError {
    /// The part is empty or reaches past the end of the mapping.
    OutOfBounds {
        /// Index of the part.
        part: usize,
    },
    /// The part's offset is not aligned (queues: [`REGION_ALIGN`](ipc_core::REGION_ALIGN), bytes: 8).
    Misaligned {
        /// Index of the part.
        part: usize,
    },
    /// The part overlaps one claimed before.
    Overlap {
        /// Index of the part.
        part: usize,
    },
    /// A [`Part::NewQueue`](super::Part::NewQueue) in a mapping not known to be zeroed.
    NotZeroed {
        /// Index of the part.
        part: usize,
    },
    /// `ByteQueue::init_raw` refused the part.
    Init {
        /// Index of the part.
        part: usize,
        /// Why.
        error: InitError,
    },
    /// `ByteQueue::attach_raw` refused the part.
    Attach {
        /// Index of the part.
        part: usize,
        /// Why.
        error: AttachError,
    },
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfBounds { part } => write!(f, "part {part} is empty or out of bounds"),
            Self::Misaligned { part } => write!(f, "part {part} is misaligned"),
            Self::Overlap { part } => write!(f, "part {part} overlaps another part"),
            Self::NotZeroed { part } => write!(
                f,
                "part {part}: cannot initialise a queue in a mapping not known to be zeroed"
            ),
            Self::Init { part, error } => write!(f, "part {part}: {error}"),
            Self::Attach { part, error } => write!(f, "part {part}: {error}"),
        }
    }
}

impl std::error::Error for SplitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Init { error, .. } => Some(error),
            Self::Attach { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Why [`Mapping::claim`](super::Mapping::claim) refused a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimError {
    /// The part is empty or reaches past the end of the mapping.
    OutOfBounds,
    /// The part's offset is not aligned (queues: [`REGION_ALIGN`](ipc_core::REGION_ALIGN), bytes: 8).
    Misaligned,
    /// The part overlaps one claimed before.
    Overlap,
    /// A [`Part::NewQueue`](super::Part::NewQueue) in a mapping not known to be zeroed.
    NotZeroed,
    /// `ByteQueue::init_raw` refused the part.
    Init(InitError),
    /// `ByteQueue::attach_raw` refused the part.
    Attach(AttachError),
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfBounds => f.write_str("part is empty or out of the mapping's bounds"),
            Self::Misaligned => f.write_str("part is misaligned"),
            Self::Overlap => f.write_str("part overlaps a part claimed before"),
            Self::NotZeroed => {
                f.write_str("cannot initialise a queue in a mapping not known to be zeroed")
            }
            Self::Init(e) => e.fmt(f),
            Self::Attach(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ClaimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Init(e) => Some(e),
            Self::Attach(e) => Some(e),
            _ => None,
        }
    }
}
