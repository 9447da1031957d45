//! The channels' errors: one type per way of waiting, as crossbeam-channel's, plus the
//! failures of shared memory and encoding that the queues report too.

use std::fmt;

use crate::encoding::{DecodeError, EncodeError};

macro_rules! send_error {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[non_exhaustive]
        pub enum $name<T> {
            $($(#[$vdoc])* $variant(T),)*
            /// The encoded message is longer than the channel's `max_message_size`.
            TooLarge {
                /// The message, handed back.
                item: T,
                /// Its encoded length.
                len: usize,
                /// The channel's limit.
                max: usize,
            },
            /// The message could not be encoded (its `Serialize` failed).
            Encode {
                /// The message, handed back.
                item: T,
                /// Why.
                error: EncodeError,
            },
            /// The channel's shared memory holds something no honest process wrote.
            Corrupt(T),
        }

        impl<T> $name<T> {
            /// The message that was not sent.
            pub fn into_inner(self) -> T {
                match self {
                    $($name::$variant(item))|* => item,
                    $name::TooLarge { item, .. }
                    | $name::Encode { item, .. }
                    | $name::Corrupt(item) => item,
                }
            }

            /// Whether the send failed because every receiver is gone.
            pub fn is_disconnected(&self) -> bool {
                matches!(self, $name::Disconnected(_))
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(_) => f.write_str(concat!(stringify!($variant), "(..)")),)*
                    $name::TooLarge { len, max, .. } => f
                        .debug_struct("TooLarge")
                        .field("len", len)
                        .field("max", max)
                        .finish_non_exhaustive(),
                    $name::Encode { error, .. } => f
                        .debug_struct("Encode")
                        .field("error", error)
                        .finish_non_exhaustive(),
                    $name::Corrupt(_) => f.write_str("Corrupt(..)"),
                }
            }
        }

        impl<T> fmt::Display for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(_) => f.write_str($text),)*
                    $name::TooLarge { len, max, .. } => {
                        write!(f, "message of {len} bytes is longer than the channel's {max}")
                    }
                    $name::Encode { error, .. } => write!(f, "cannot encode the message: {error}"),
                    $name::Corrupt(_) => f.write_str("the channel's shared memory is corrupt"),
                }
            }
        }

        impl<T> std::error::Error for $name<T> {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                match self {
                    $name::Encode { error, .. } => Some(error),
                    _ => None,
                }
            }
        }
    };
}

send_error! {
    /// Why [`Sender::send`](super::Sender::send) failed; the message is handed back.
    ///
    /// Unlike crossbeam-channel's `SendError(T)`, an enum: besides disconnection, a message can
    /// be too large for the channel, fail to encode, or meet corrupt shared memory.
    SendError {
        /// Every receiver, in every process, is gone.
        Disconnected => "sending on a disconnected channel",
    }
}

send_error! {
    /// Why [`Sender::try_send`](super::Sender::try_send) failed; the message is handed back.
    TrySendError {
        /// The channel is full (a rendezvous channel: no receiver is waiting).
        Full => "sending on a full channel",
        /// Every receiver, in every process, is gone.
        Disconnected => "sending on a disconnected channel",
    }
}

send_error! {
    /// Why [`Sender::send_timeout`](super::Sender::send_timeout) failed; the message is handed
    /// back.
    SendTimeoutError {
        /// The channel stayed full for the whole timeout.
        Timeout => "timed out waiting on send operation",
        /// Every receiver, in every process, is gone.
        Disconnected => "sending on a disconnected channel",
    }
}

impl<T> TrySendError<T> {
    /// Whether the channel was full.
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }
}

impl<T> SendTimeoutError<T> {
    /// Whether the send timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendTimeoutError::Timeout(_))
    }
}

macro_rules! recv_error {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// The message taken is not a `T` (a typed receiver only); it is dropped.
            Decode(DecodeError),
            /// The channel's shared memory holds something no honest process wrote.
            Corrupt,
        }

        impl $name {
            /// Whether every sender is gone (and the channel is empty).
            pub fn is_disconnected(&self) -> bool {
                matches!(self, $name::Disconnected)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant => f.write_str($text),)*
                    $name::Decode(e) => write!(f, "cannot decode the message: {e}"),
                    $name::Corrupt => f.write_str("the channel's shared memory is corrupt"),
                }
            }
        }

        impl std::error::Error for $name {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                match self {
                    $name::Decode(e) => Some(e),
                    _ => None,
                }
            }
        }
    };
}

recv_error! {
    /// Why [`Receiver::recv`](super::Receiver::recv) failed.
    RecvError {
        /// The channel is empty and every sender, in every process, is gone.
        Disconnected => "receiving on an empty and disconnected channel",
    }
}

recv_error! {
    /// Why [`Receiver::try_recv`](super::Receiver::try_recv) failed.
    TryRecvError {
        /// The channel is empty.
        Empty => "receiving on an empty channel",
        /// The channel is empty and every sender, in every process, is gone.
        Disconnected => "receiving on an empty and disconnected channel",
    }
}

recv_error! {
    /// Why [`Receiver::recv_timeout`](super::Receiver::recv_timeout) failed.
    RecvTimeoutError {
        /// The channel stayed empty for the whole timeout.
        Timeout => "timed out waiting on receive operation",
        /// The channel is empty and every sender, in every process, is gone.
        Disconnected => "receiving on an empty and disconnected channel",
    }
}

impl TryRecvError {
    /// Whether the channel was empty.
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvError::Empty)
    }
}

impl RecvTimeoutError {
    /// Whether the receive timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvTimeoutError::Timeout)
    }
}

/// What a send can fail with, before the message is put back (internal).
pub(crate) enum SendFail {
    /// Deadline passed: `Full` or `Timeout`.
    Waited,
    Disconnected,
    TooLarge {
        len: usize,
        max: usize,
    },
    Encode(EncodeError),
    Corrupt,
}

/// What a receive can fail with (internal).
pub(crate) enum RecvFail {
    /// Deadline passed: `Empty` or `Timeout`.
    Waited,
    Disconnected,
    Decode(DecodeError),
    Corrupt,
}

macro_rules! from_send_fail {
    ($name:ident, $waited:expr) => {
        impl<T> $name<T> {
            pub(crate) fn from_fail(fail: SendFail, item: T) -> Self {
                match fail {
                    SendFail::Waited => $waited(item),
                    SendFail::Disconnected => $name::Disconnected(item),
                    SendFail::TooLarge { len, max } => $name::TooLarge { item, len, max },
                    SendFail::Encode(error) => $name::Encode { item, error },
                    SendFail::Corrupt => $name::Corrupt(item),
                }
            }
        }
    };
}

from_send_fail!(TrySendError, TrySendError::Full);
from_send_fail!(SendTimeoutError, SendTimeoutError::Timeout);
from_send_fail!(SendError, |_| unreachable!(
    "a send without deadline does not time out"
));

macro_rules! from_recv_fail {
    ($name:ident, $waited:expr) => {
        impl $name {
            pub(crate) fn from_fail(fail: RecvFail) -> Self {
                match fail {
                    RecvFail::Waited => $waited,
                    RecvFail::Disconnected => $name::Disconnected,
                    RecvFail::Decode(e) => $name::Decode(e),
                    RecvFail::Corrupt => $name::Corrupt,
                }
            }
        }
    };
}

from_recv_fail!(TryRecvError, TryRecvError::Empty);
from_recv_fail!(RecvTimeoutError, RecvTimeoutError::Timeout);
from_recv_fail!(
    RecvError,
    unreachable!("a receive without deadline does not time out")
);
