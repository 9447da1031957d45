//! [`Event`]: Python's `multiprocessing.Event`.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use ipc_core::EventWord;

use super::raw::{Kind, NamedError, Shared, Sleeper};
use crate::sys::futex::futex_wake;
use crate::wait::Deadline;

/// Python's `multiprocessing.Event`: a flag that processes wait for, in anonymous shared
/// memory (shared with children forked after it is made).
///
/// One 32-bit word, `ipc_core::EventWord`: `generation (31) | set (1)`; waiters sleep on it
/// (futex). No process holds anything, so a process that dies leaves nothing to repair. A process that scribbles on the
/// word can make waits return early or late (as `set`/`clear` calls would); each change it makes
/// costs a waiter one look, no more.
///
/// # Examples
///
/// ```
/// use host_runtime::sync::Event;
/// use host_runtime::Process;
/// use std::time::Duration;
///
/// let event = Event::new()?;
/// assert!(!event.wait(Some(Duration::from_millis(1))));
/// let e = event.clone();
/// let p = Process::new(move || e.set());
/// p.start()?;
/// assert!(event.wait(None));
/// assert!(event.is_set());
/// event.clear();
/// assert!(!event.is_set());
/// p.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Event {
    shared: Arc<Shared>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

impl Event {
    /// A new event, not set.
    ///
    /// # Errors
    ///
    /// The `mmap` of its page failed.
    pub fn new() -> io::Result<Event> {
        Ok(Event {
            shared: Shared::anonymous(64)?,
        })
    }

    /// A new event in the named shared-memory object `name` (see
    /// [`Lock::create_named`](super::Lock::create_named)).
    ///
    /// # Errors
    ///
    /// [`NamedError::Shm`] (e.g. `AlreadyExists`).
    pub fn create_named(name: &str) -> Result<Event, NamedError> {
        Ok(Event {
            shared: Shared::create_named(name, Kind::Event, 0, 64, |_| {})?,
        })
    }

    /// Opens the named event `name`.
    ///
    /// # Errors
    ///
    /// As [`Lock::open_named`](super::Lock::open_named).
    pub fn open_named(name: &str) -> Result<Event, NamedError> {
        Ok(Event {
            shared: Shared::open_named(name, Kind::Event, 64)?.0,
        })
    }

    fn word(&self) -> &EventWord {
        &self.shared.bytes().atomics::<EventWord>(0, 1)[0]
    }

    /// Whether the event is set.
    pub fn is_set(&self) -> bool {
        self.word().is_set()
    }

    /// Sets the event and wakes every waiter.
    pub fn set(&self) {
        if self.word().set() {
            let _ = futex_wake(self.word().futex(), u32::MAX);
        }
    }

    /// Clears the event.
    pub fn clear(&self) {
        self.word().clear();
    }

    /// Waits until the event is set, at most `timeout` (`None`: as long as it takes). Returns
    /// `true` if it was set (or set while waiting, even if cleared since), `false` on timeout.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = Deadline::within(timeout);
        let word = self.word();
        let wait = word.begin_wait();
        let mut sleeper = Sleeper::new();
        loop {
            let seen = match word.poll(&wait) {
                Ok(()) => return true,
                Err(seen) => seen,
            };
            if deadline.has_passed() {
                return false;
            }
            sleeper.sleep(word.futex(), seen, deadline.remaining());
        }
    }
}
