//! [`Deadline`]: how long a blocking call may wait, on the monotonic clock.

use std::time::{Duration, Instant};

/// How long a blocking call may wait, on the monotonic clock: the one deadline type behind
/// every `*_timeout` call of the crate (queues, pool results, `Process::join_timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// One attempt, no waiting (`put_nowait`, `get_nowait`).
    NoWait,
    /// Until this instant (`put_timeout`, `get_timeout`, `join_timeout`).
    At(Instant),
    /// For ever (`put`, `get`, `join`).
    Never,
}

impl Deadline {
    /// `timeout` from now; a timeout too far to represent (centuries) waits for ever.
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Instant::now()
            .checked_add(timeout)
            .map_or(Deadline::Never, Deadline::At)
    }

    /// `timeout` from now if there is one, else for ever.
    pub(crate) fn within(timeout: Option<Duration>) -> Deadline {
        timeout.map_or(Deadline::Never, Deadline::after)
    }

    /// Whether a wait ended by this deadline was a non-waiting call (`Full`/`Empty`) rather
    /// than a timeout.
    pub(crate) fn is_nowait(self) -> bool {
        matches!(self, Deadline::NoWait)
    }

    /// Whether the time to wait is over (always for [`NoWait`](Deadline::NoWait), never for
    /// [`Never`](Deadline::Never)). Looks at the clock only for [`At`](Deadline::At).
    pub(crate) fn has_passed(self) -> bool {
        match self {
            Deadline::NoWait => true,
            Deadline::At(at) => Instant::now() >= at,
            Deadline::Never => false,
        }
    }

    /// The time left: `None` for [`Never`](Deadline::Never) (no timeout), zero once passed
    /// (and for [`NoWait`](Deadline::NoWait)).
    pub(crate) fn remaining(self) -> Option<Duration> {
        match self {
            Deadline::NoWait => Some(Duration::ZERO),
            Deadline::At(at) => Some(at.saturating_duration_since(Instant::now())),
            Deadline::Never => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_and_remaining() {
        assert_eq!(Deadline::after(Duration::MAX), Deadline::Never);
        assert_eq!(Deadline::within(None), Deadline::Never);
        assert!(!Deadline::Never.has_passed());
        assert_eq!(Deadline::Never.remaining(), None);
        assert!(Deadline::NoWait.has_passed());
        assert_eq!(Deadline::NoWait.remaining(), Some(Duration::ZERO));
        let d = Deadline::after(Duration::from_secs(3600));
        assert!(!d.has_passed());
        assert!(d.remaining().is_some_and(|r| r > Duration::from_secs(3000)));
        let past = Deadline::At(Instant::now());
        assert!(past.has_passed());
        assert_eq!(past.remaining(), Some(Duration::ZERO));
    }
}
