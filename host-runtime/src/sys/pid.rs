//! [`Pid`]: the crate's one type for a process (or thread) id.

use std::fmt;
use std::num::NonZeroI32;

/// A process id: a positive `pid_t`. The one pid type of this crate: every call that returns
/// or takes a pid ([`Process::pid`](crate::Process::pid),
/// [`current_process`](crate::current_process), [`Pool::workers`](crate::Pool::workers),
/// [`inspect`](crate::inspect), [`kill`](super::kill), …) uses it.
///
/// Unlike a raw `pid_t`, a `Pid` can't be `0` or negative, so passing one to
/// [`kill`](super::kill) or [`waitpid`](super::waitpid) can never address a process group or
/// "any child" by accident. Linux thread ids ([`gettid`](super::gettid)) share the pid space
/// and are `Pid`s too (the main thread's id is its process's pid).
///
/// In shared memory a pid is a raw `u32` word (ipc-core's tables); a word that is 0 or above
/// `i32::MAX`, as a buggy or hostile process may write, reads as no pid (`None`), never as an
/// invalid `Pid`. Serialized (in a [`Queue`](crate::Queue) item) it is an `i32`; decoding a value
/// that is not positive is an error.
///
/// # Examples
///
/// ```
/// use host_runtime::Pid;
///
/// let me = Pid::this();
/// assert_eq!(me.as_raw() as u32, std::process::id());
/// assert_eq!(Pid::from_raw(me.as_raw()), Some(me));
/// assert_eq!(Pid::from_raw(0), None);
/// assert_eq!(Pid::from_raw(-1), None);
/// assert_eq!(me.to_string(), std::process::id().to_string());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(NonZeroI32);

impl Pid {
    /// Wraps a raw `pid_t`; `None` unless it is positive.
    pub const fn from_raw(raw: libc::pid_t) -> Option<Pid> {
        if raw > 0 {
            // `NonZeroI32::new` is const; `raw > 0` makes it `Some`.
            match NonZeroI32::new(raw) {
                Some(nz) => Some(Pid(nz)),
                None => None,
            }
        } else {
            None
        }
    }

    /// The raw `pid_t`, always positive.
    pub const fn as_raw(self) -> libc::pid_t {
        self.0.get()
    }

    /// The calling process's pid ([`getpid`](super::getpid)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(host_runtime::Pid::this(), host_runtime::current_process().pid());
    /// ```
    pub fn this() -> Pid {
        super::getpid()
    }

    /// Reads a pid word of shared memory (ipc-core's tables store `u32`s): `None` for 0 (no pid
    /// recorded) and for a word above `i32::MAX`, which no process has.
    pub(crate) const fn from_word(word: u32) -> Option<Pid> {
        if word > i32::MAX as u32 {
            None
        } else {
            Pid::from_raw(word as i32)
        }
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl serde::Serialize for Pid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i32(self.as_raw())
    }
}

impl<'de> serde::Deserialize<'de> for Pid {
    /// An `i32`; an error (not a `Pid`) unless it is positive.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Pid, D::Error> {
        let raw = i32::deserialize(deserializer)?;
        Pid::from_raw(raw).ok_or_else(|| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Signed(i64::from(raw)),
                &"a positive process id",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Pid;

    #[test]
    fn a_word_outside_the_pid_range_is_no_pid() {
        assert_eq!(Pid::from_word(0), None);
        assert_eq!(Pid::from_word(i32::MAX as u32 + 1), None);
        assert_eq!(Pid::from_word(u32::MAX), None);
        assert_eq!(Pid::from_word(1).map(Pid::as_raw), Some(1));
        assert_eq!(
            Pid::from_word(i32::MAX as u32).map(Pid::as_raw),
            Some(i32::MAX)
        );
    }

    #[test]
    fn serialized_as_an_i32_and_decoded_only_if_positive() {
        let me = Pid::this();
        let bytes = postcard::to_stdvec(&me).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&me.as_raw()).unwrap());
        assert_eq!(postcard::from_bytes::<Pid>(&bytes).unwrap(), me);
        for bad in [0i32, -1, i32::MIN] {
            let bytes = postcard::to_stdvec(&bad).unwrap();
            assert!(
                postcard::from_bytes::<Pid>(&bytes).is_err(),
                "{bad} decoded"
            );
        }
    }
}
