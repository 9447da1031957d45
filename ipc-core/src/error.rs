//! Error types, one per operation. None allocates; all implement `core::error::Error`.

use core::fmt;

/// Why a capacity / message-length pair has no layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutError {
    /// The capacity is 0.
    ZeroCapacity,
    /// The capacity is above [`crate::MAX_CAPACITY`].
    CapacityTooLarge {
        /// The capacity asked for.
        capacity: usize,
    },
    /// The maximum message length is above [`crate::MAX_MESSAGE_LEN`].
    MessageTooLarge {
        /// The length asked for.
        max_message_len: usize,
    },
    /// The region would not fit in the address space.
    TooLarge,
    /// More participants than [`crate::MAX_PARTICIPANTS`] (0 on targets without 64-bit
    /// atomics).
    TooManyParticipants {
        /// The number asked for.
        participants: usize,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroCapacity => f.write_str("queue capacity is 0"),
            Self::CapacityTooLarge { capacity } => {
                write!(
                    f,
                    "queue capacity {capacity} is above the maximum {}",
                    crate::MAX_CAPACITY
                )
            }
            Self::MessageTooLarge { max_message_len } => write!(
                f,
                "maximum message length {max_message_len} is above the limit {}",
                crate::MAX_MESSAGE_LEN
            ),
            Self::TooLarge => f.write_str("queue region would not fit in the address space"),
            Self::TooManyParticipants { participants } => write!(
                f,
                "{participants} participants asked for, at most {} supported",
                crate::MAX_PARTICIPANTS
            ),
        }
    }
}

impl core::error::Error for LayoutError {}

/// Why [`crate::ByteQueue::init`] refused a region. The region is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitError {
    /// The capacity or message length is unusable.
    Layout(LayoutError),
    /// The region is shorter than [`crate::ByteQueue::memory_size`].
    RegionTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// The region does not start at a multiple of [`crate::REGION_ALIGN`].
    Misaligned,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Layout(e) => e.fmt(f),
            Self::RegionTooSmall { needed, got } => {
                write!(
                    f,
                    "queue region too small: {needed} bytes needed, {got} given"
                )
            }
            Self::Misaligned => write!(
                f,
                "queue region is not aligned to {} bytes",
                crate::REGION_ALIGN
            ),
        }
    }
}

impl core::error::Error for InitError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Layout(e) => Some(e),
            _ => None,
        }
    }
}

impl From<LayoutError> for InitError {
    fn from(e: LayoutError) -> Self {
        Self::Layout(e)
    }
}

/// Why [`crate::ByteQueue::attach`] refused a region. Nothing was written to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachError {
    /// The region is shorter than its header says, or than any header.
    RegionTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// The region does not start at a multiple of [`crate::REGION_ALIGN`].
    Misaligned,
    /// No queue was initialised here (or its `init` has not finished).
    BadMagic,
    /// A queue of another format version.
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// A queue made by a build with another word width (64- vs 32-bit atomics).
    WordSizeMismatch {
        /// The width found, in bits.
        found: u32,
    },
    /// The recorded capacity or message length is unusable.
    BadGeometry(LayoutError),
    /// The recorded offsets or sizes disagree with the capacity and message length.
    BadLayout,
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RegionTooSmall { needed, got } => {
                write!(
                    f,
                    "queue region too small: {needed} bytes needed, {got} given"
                )
            }
            Self::Misaligned => write!(
                f,
                "queue region is not aligned to {} bytes",
                crate::REGION_ALIGN
            ),
            Self::BadMagic => f.write_str("no initialised queue in this region (bad magic)"),
            Self::UnsupportedVersion { found } => {
                write!(f, "unsupported queue format version {found}")
            }
            Self::WordSizeMismatch { found } => {
                write!(
                    f,
                    "queue made with {found}-bit words, this build uses {}",
                    crate::Word::BITS
                )
            }
            Self::BadGeometry(e) => write!(f, "corrupt queue header: {e}"),
            Self::BadLayout => f.write_str("corrupt queue header: offsets or sizes disagree"),
        }
    }
}

impl core::error::Error for AttachError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::BadGeometry(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a push did not happen. The queue is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError {
    /// The queue holds `capacity` messages (or a slot a lap behind is still being read).
    Full,
    /// The message is longer than the queue's maximum.
    TooLarge {
        /// The message's length.
        len: usize,
        /// The queue's maximum message length.
        max: usize,
    },
    /// The shared memory holds an impossible state (written by a foreign or broken process).
    Corrupt,
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("queue is full"),
            Self::TooLarge { len, max } => {
                write!(
                    f,
                    "message of {len} bytes is longer than the queue's maximum of {max}"
                )
            }
            Self::Corrupt => f.write_str("queue memory is corrupt"),
        }
    }
}

impl core::error::Error for PushError {}

/// Why a pop did not happen. The queue is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PopError {
    /// No message is ready at the front: the queue is empty, or the front message's
    /// producer has not finished writing it.
    Empty,
    /// The front message does not fit the buffer given; it stays in the queue.
    BufferTooSmall {
        /// The message's length.
        needed: usize,
    },
    /// The shared memory holds an impossible state (written by a foreign or broken process).
    Corrupt,
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("queue is empty"),
            Self::BufferTooSmall { needed } => {
                write!(f, "buffer too small for the next message ({needed} bytes)")
            }
            Self::Corrupt => f.write_str("queue memory is corrupt"),
        }
    }
}

impl core::error::Error for PopError {}

/// Why [`crate::ByteQueue::register`] refused. Nothing changed.
///
#[doc = word64_link!("`crate::ByteQueue::register`" => "crate::ByteQueue::register")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// Every participant entry is taken (or the queue was made without a table).
    TableFull,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TableFull => f.write_str("the queue's participant table is full"),
        }
    }
}

impl core::error::Error for RegisterError {}

/// Why [`crate::ByteQueue::repair`] did nothing.
///
#[doc = word64_link!("`crate::ByteQueue::repair`" => "crate::ByteQueue::repair")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RepairError {
    /// The participant's entry no longer holds the snapshot given: it was repaired,
    /// deregistered, or another repairer took it.
    Changed,
}

impl fmt::Display for RepairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Changed => {
                f.write_str("participant entry changed since the snapshot (already repaired?)")
            }
        }
    }
}

impl core::error::Error for RepairError {}
