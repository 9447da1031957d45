//! What every primitive of [`crate::sync`] shares: a shared page of lock words, who "I" am to a
//! lock (thread id and stamp, per thread, per fork), and the blocking acquire loop.

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering::*};
use std::sync::Arc;
use std::time::Duration;

use ipc_core::{Acquired, Holder, LockOwner, LockWord, TryLockError, UnlockError, Unlocked};

use crate::liveness::{self, Verdict};
use crate::shared::region::{Mapping, SharedBytes};
use crate::sys::futex::{futex_wait, futex_wake};
use crate::sys::{fork_generation, fork_generation_unchecked, gettid};
use crate::wait::{Blocked, Deadline, Stall};

/// How often a process that waits for a lock asks the kernel whether the holder is still
/// alive (and the least time between two such checks after failed `try_lock` calls of one
/// handle in one process).
pub const DEATH_CHECK: Duration = Duration::from_millis(200);

/// Spins (each a few `spin_loop` hints) before a waiter sleeps.
const SPINS: u32 = 64;

/// Sleeps in a row that did not start (the word had moved) before [`Sleeper`] naps.
const QUICK_LIMIT: u32 = 16;
const FIRST_NAP: Duration = Duration::from_micros(20);
const LONGEST_NAP: Duration = Duration::from_millis(10);

/// One waiter's futex sleeps, guarded against a word that keeps changing (only a process that
/// scribbles on it, or a storm of honest changes, does that): after [`QUICK_LIMIT`] sleeps in a
/// row that returned at once, each further one is preceded by a plain sleep of 20 µs, doubling
/// to 10 ms, so no waiter burns a CPU. A sleep that starts resets it.
pub(crate) struct Sleeper {
    quick: u32,
    nap: Duration,
    /// Made at the first sleep: a pool worker shows `blocked` until the wait ends.
    blocked: Option<Blocked>,
}

impl Sleeper {
    pub(crate) fn new() -> Sleeper {
        Sleeper {
            quick: 0,
            nap: FIRST_NAP,
            blocked: None,
        }
    }

    /// `futex_wait(word, expected, timeout)` (at least 1 µs), after a nap if due.
    pub(crate) fn sleep(&mut self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        self.blocked.get_or_insert_with(Blocked::enter);
        self.nap_if_due(timeout);
        let timeout = timeout.map(|t| t.max(Duration::from_micros(1)));
        match futex_wait(word, expected, timeout) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.quick += 1,
            _ => {
                self.quick = 0;
                self.nap = FIRST_NAP;
            }
        }
    }

    /// A sleep that could not even be prepared (the word moved before it): counts as quick.
    pub(crate) fn missed(&mut self, timeout: Option<Duration>) {
        self.quick += 1;
        self.nap_if_due(timeout);
    }

    fn nap_if_due(&mut self, timeout: Option<Duration>) {
        if self.quick >= QUICK_LIMIT {
            std::thread::sleep(timeout.map_or(self.nap, |t| t.min(self.nap)));
            self.nap = (self.nap * 2).min(LONGEST_NAP);
        }
    }
}

/// The shared memory of one primitive: `words` 8-byte words in a page of its own.
pub(crate) struct Shared {
    bytes: SharedBytes,
    /// Rate limit of the death checks of failed `try_lock`s (process-local).
    pub(crate) stall: Stall,
}

impl Shared {
    /// A new anonymous shared page (inherited by children forked after this), zeroed.
    pub(crate) fn anonymous(len: usize) -> io::Result<Arc<Shared>> {
        // Installs the atfork handler that `me()` relies on (see there).
        let _ = fork_generation();
        let mapping = Arc::new(Mapping::anonymous(len.max(64))?);
        let bytes = Mapping::claim_bytes(&mapping, 0, len.max(64))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Arc::new(Shared {
            bytes,
            stall: Stall::new(),
        }))
    }

    /// The lock word at byte `offset` (a multiple of 8).
    #[inline]
    pub(crate) fn lock_word(&self, offset: usize) -> &LockWord {
        &self.bytes.atomics::<LockWord>(offset, 1)[0]
    }

    /// The bytes, for the primitives that keep more than lock words.
    pub(crate) fn bytes(&self) -> &SharedBytes {
        &self.bytes
    }
}

/// The first word of a named primitive's object: stored last (Release) by its creator.
const MAGIC: u64 = u64::from_le_bytes(*b"hrsync\x00\x01");
/// Bytes before a named primitive's page: `magic, kind, parameter, page length` (`u64`s).
const HEADER: usize = 64;

/// Which primitive a named object holds (header word 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Kind {
    Lock = 1,
    RLock = 2,
    Event = 3,
    Semaphore = 4,
    BoundedSemaphore = 5,
    Barrier = 6,
    Condition = 7,
    Value = 8,
    Array = 9,
}

/// Why a named primitive could not be made or opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum NamedError {
    /// The shared-memory object: see [`ShmError`](crate::ShmError).
    Shm(crate::ShmError),
    /// The object holds no initialised primitive (its creator has not finished, or it is
    /// something else).
    NotInitialised,
    /// The object holds another kind of primitive (its kind number).
    WrongKind(u64),
    /// The object's parameters (size, bound, parties) are out of range for its kind.
    BadParameters,
    /// A named [`Value<T>`](super::Value) or [`Array<T>`](super::Array) opened with a `T`
    /// of another size than it was made with.
    WrongItemSize {
        /// `size_of::<T>()` of the opener's `T`.
        expected: usize,
        /// The size recorded in the object.
        found: u64,
    },
}

impl std::fmt::Display for NamedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Shm(e) => write!(f, "{e}"),
            Self::NotInitialised => f.write_str("the named object holds no initialised primitive"),
            Self::WrongKind(k) => write!(f, "the named object holds another primitive (kind {k})"),
            Self::BadParameters => f.write_str("the named object's parameters are out of range"),
            Self::WrongItemSize { expected, found } => write!(
                f,
                "the named object holds items of {found} bytes, not {expected}"
            ),
        }
    }
}

impl std::error::Error for NamedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Shm(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::ShmError> for NamedError {
    fn from(e: crate::ShmError) -> Self {
        Self::Shm(e)
    }
}

impl Shared {
    /// A new named object `name` (see [`SharedRegion::create_named`](crate::SharedRegion)):
    /// the header, then a zeroed page of `len` bytes that `init` fills, then the magic.
    pub(crate) fn create_named(
        name: &str,
        kind: Kind,
        parameter: u64,
        len: usize,
        init: impl FnOnce(&SharedBytes),
    ) -> Result<Arc<Shared>, NamedError> {
        let _ = fork_generation();
        let len = len.max(64);
        let region = crate::SharedRegion::create_named(name, HEADER + len)?;
        let claim = |offset, len| {
            region
                .claim_bytes(offset, len)
                .map_err(|_| NamedError::BadParameters)
        };
        let header = claim(0, HEADER)?;
        let bytes = claim(HEADER, len)?;
        header.u64_at(8).store(kind as u64, Relaxed);
        header.u64_at(16).store(parameter, Relaxed);
        header.u64_at(24).store(len as u64, Relaxed);
        init(&bytes);
        // Release: pairs with `open_named`'s Acquire; the header and `init`'s stores come first.
        header.u64_at(0).store(MAGIC, Release);
        Ok(Arc::new(Shared {
            bytes,
            stall: Stall::new(),
        }))
    }

    /// Opens the named object `name` holding a `kind` with a page of `len` bytes; returns it
    /// and its parameter (read once; the caller checks it).
    pub(crate) fn open_named(
        name: &str,
        kind: Kind,
        len: usize,
    ) -> Result<(Arc<Shared>, u64), NamedError> {
        Self::open_named_with(name, kind, |_| Ok(len))
    }

    /// As [`open_named`](Self::open_named), for a kind whose page length follows from its
    /// parameter: `page_len(parameter)` (called once, with the parameter read once) says
    /// how long the page must be, or why the object cannot be opened.
    pub(crate) fn open_named_with(
        name: &str,
        kind: Kind,
        page_len: impl FnOnce(u64) -> Result<usize, NamedError>,
    ) -> Result<(Arc<Shared>, u64), NamedError> {
        let _ = fork_generation();
        let region = crate::SharedRegion::open_named(name)?;
        let claim = |offset, len| {
            region
                .claim_bytes(offset, len)
                .map_err(|_| NamedError::BadParameters)
        };
        let header = claim(0, HEADER)?;
        // Acquire: pairs with the creator's Release store of the magic.
        if header.u64_at(0).load(Acquire) != MAGIC {
            return Err(NamedError::NotInitialised);
        }
        let found = header.u64_at(8).load(Relaxed);
        if found != kind as u64 {
            return Err(NamedError::WrongKind(found));
        }
        let parameter = header.u64_at(16).load(Relaxed);
        let len = page_len(parameter)?.max(64);
        if header.u64_at(24).load(Relaxed) != len as u64 || region.len() != HEADER + len {
            return Err(NamedError::BadParameters);
        }
        Ok((
            Arc::new(Shared {
                bytes: claim(HEADER, len)?,
                stall: Stall::new(),
            }),
            parameter,
        ))
    }
}

thread_local! {
    /// This thread's owner value (`id << 32 | stamp`, 0 = none yet) and the fork generation it
    /// was made in (a forked child's thread has another id: it makes its own).
    static ME: Cell<(u64, u64)> = const { Cell::new((u64::MAX, 0)) };
}

/// The calling thread as a lock owner: its thread id and the low 32 bits of its start time
/// (0 = none, if `/proc` cannot tell).
#[inline]
pub(crate) fn me() -> LockOwner {
    // Unchecked: every primitive's constructor called `fork_generation()` (`Shared::anonymous`),
    // so its atfork handler was in place before any fork that could copy a lock (and this
    // thread's cache) into a child.
    let generation = fork_generation_unchecked();
    let (g, packed) = ME.with(Cell::get);
    if g == generation {
        if let Some(owner) = LockOwner::new((packed >> 32) as u32, packed as u32) {
            return owner;
        }
    }
    me_slow(generation)
}

#[cold]
fn me_slow(generation: u64) -> LockOwner {
    let tid = gettid().as_raw() as u32;
    let stamp = liveness::thread_stamp(tid).unwrap_or(0);
    let owner = LockOwner::new(tid, stamp).expect("thread ids are below 2^31");
    ME.with(|me| me.set((generation, (u64::from(tid) << 32) | u64::from(stamp))));
    owner
}

/// How an acquire that took the lock went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Got {
    /// It was free, or the caller's (recursive).
    Clean,
    /// Taken over from a dead holder.
    OwnerDied,
}

/// Why an acquire did not take the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fail {
    /// The deadline passed (or `NoWait`) with the lock held by a live holder.
    Busy,
    /// The caller holds this non-recursive lock and would wait for ever.
    Deadlock,
    /// A recursive depth past `u32::MAX`.
    Overflow,
    /// The lock word kept changing (a hostile writer).
    Corrupt,
}

/// Whether the holder in `h` is the calling thread (same id and, if both have one, stamp).
fn is_me(h: &Holder, me: LockOwner) -> bool {
    h.owner() == me.id() && h.stamp().is_none_or(|s| me.stamp() == 0 || s == me.stamp())
}

/// Judges the holder of snapshot `h` and, if the kernel says it can never run again, takes
/// the lock over. `true` if the caller holds it now.
pub(crate) fn take_if_dead(word: &LockWord, h: Holder, me: LockOwner) -> bool {
    liveness::judge_thread(h.owner(), h.stamp()) == Verdict::Dead && word.take_over(h, me).is_ok()
}

/// Acquires `word` for the calling thread, waiting until `deadline`: spin a little, then sleep
/// on the futex (at most [`DEATH_CHECK`] at a time), judging the holder every
/// [`DEATH_CHECK`].
#[inline]
pub(crate) fn acquire(
    word: &LockWord,
    stall: &Stall,
    recursive: bool,
    deadline: Deadline,
    me: LockOwner,
) -> Result<Got, Fail> {
    // Fast path: one CAS.
    match word.try_lock(me, recursive, false) {
        Ok(Acquired::Free | Acquired::Again) => Ok(Got::Clean),
        Err(held) => acquire_slow(word, stall, recursive, deadline, me, held),
    }
}

#[cold]
fn acquire_slow(
    word: &LockWord,
    stall: &Stall,
    recursive: bool,
    deadline: Deadline,
    me: LockOwner,
    mut held: TryLockError,
) -> Result<Got, Fail> {
    let mut contended = false;
    let mut spins = 0;
    let mut sleeper = Sleeper::new();
    // The first death check of a blocking wait is due at once if the handle's is; then every
    // DEATH_CHECK, whatever the `try_lock`s of other threads do to `stall`.
    let mut next_check = if stall.due() {
        None
    } else {
        Some(std::time::Instant::now() + DEATH_CHECK)
    };
    loop {
        let h = match held {
            TryLockError::Held(h) => h,
            TryLockError::TooDeep => return Err(Fail::Overflow),
            _ => return Err(Fail::Corrupt),
        };
        let check_now = next_check.is_none_or(|at| std::time::Instant::now() >= at);
        if check_now {
            next_check = Some(std::time::Instant::now() + DEATH_CHECK);
            if !is_me(&h, me) && take_if_dead(word, h, me) {
                stall.reset();
                return Ok(Got::OwnerDied);
            }
        }
        if deadline.has_passed() {
            return Err(Fail::Busy);
        }
        if !recursive && is_me(&h, me) && deadline == Deadline::Never {
            return Err(Fail::Deadlock);
        }
        if spins < SPINS {
            spins += 1;
            for _ in 0..16 {
                std::hint::spin_loop();
            }
        } else {
            let mut wait = DEATH_CHECK;
            if let Some(left) = deadline.remaining() {
                wait = wait.min(left);
            }
            if let Some(at) = next_check {
                wait = wait.min(at.saturating_duration_since(std::time::Instant::now()));
            }
            match word.mark_waiting(h) {
                // Woken, timed out, interrupted or the word changed: look again in every case.
                Some(value) => sleeper.sleep(word.futex(), value, Some(wait)),
                None => sleeper.missed(Some(wait)),
            }
            contended = true;
        }
        held = match word.try_lock(me, recursive, contended) {
            Ok(_) => return Ok(Got::Clean),
            Err(e) => e,
        };
    }
}

/// Lets go of one hold of `me`'s (the calling thread); wakes a sleeper if one said it sleeps.
#[inline]
pub(crate) fn release(word: &LockWord, recursive: bool, me: LockOwner) -> Result<(), UnlockError> {
    match word.unlock(me, recursive)? {
        Unlocked::Released { wake: true } => {
            // A wake for a sleeper: EFAULT/EINVAL are ruled out by the reference.
            let _ = futex_wake(word.futex(), 1);
        }
        Unlocked::Released { wake: false } | Unlocked::StillHeld(_) => {}
    }
    Ok(())
}
