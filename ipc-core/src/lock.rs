//! [`LockWord`]: a lock with an owner, which a host can sleep on and recover when the owner
//! dies (the model of POSIX robust mutexes), plain or recursive.
//!
//! Layout (16 bytes, `#[repr(C)]`, all-zero = free):
//!
//! ```text
//! state    u32  WAITERS (bit 31) | owner (bits 0..31; 0 = free)   the futex word
//! depth    u32  how many times the owner holds it (recursive use); only the owner writes it
//! stamp    u64  owner (high 32) | the owner's 32-bit stamp (low 32); 0 = none recorded
//! ```
//!
//! **Owner.** A [`LockOwner`] is a nonzero 31-bit number that names who holds the lock, e.g. a
//! Linux thread id (below 2^22), a core number, a task id; and a 32-bit *stamp* that tells it
//! from an earlier holder of the same number (a host uses a thread's start time, so a reused
//! thread id does not pass for the dead thread that held the lock). The acquire CAS writes the
//! owner into `state` itself: there is no moment when the lock is held and does not say by whom.
//! The stamp is stored just after, tagged with the owner, and cleared before the lock is let go.
//!
//! **Waiting.** A waiter sets `WAITERS` ([`LockWord::mark_waiting`]) and sleeps while `state`
//! holds the value it set (a futex on [`LockWord::futex`]); [`LockWord::unlock`] clears the
//! word and says whether to wake one sleeper. On bare metal, [`LockWord::lock_spin`] spins.
//!
//! **A dead owner.** The lock itself never judges anybody. A host that learns (from the kernel)
//! that the holder seen in a [`Holder`] snapshot can never run again calls
//! [`LockWord::take_over`]: one CAS from exactly the word seen to its own, and the caller is told
//! (as `EOWNERDEAD`) so that it can repair what the lock protects. A stale snapshot fails the
//! CAS: a lock that was let go, or taken by someone else, since the snapshot is never taken
//! over.
//!
//! **Hostile memory.** Any bits are a valid `LockWord`; each call reads a word once, checks it
//! and CASes from exactly what it read; every retry loop is capped ([`MAX_LOCK_RETRIES`]). A
//! process that writes the word can make calls fail or wait, or two callers hold the lock at
//! once (it guards nothing of ipc-core's: whatever it protects must be reached through atomics
//! or copies if writers can be hostile), nothing else.

use core::fmt;
use core::num::NonZeroU32;

use crate::sync::{AtomicU32, AtomicWord, Ordering::*};
use crate::word::Word;

/// `state` bit set by a waiter that will sleep: the next unlock must wake one.
const WAITERS: u32 = 1 << 31;
/// The owner field of `state`.
const OWNER_MASK: u32 = !WAITERS;

/// The most turns a call retries a CAS that another party keeps making fail; honest
/// contention needs a few (the waiters bit is set at most once per sleep).
pub const MAX_LOCK_RETRIES: u32 = 64;

/// Who holds (or wants) a lock: a nonzero 31-bit id and a 32-bit stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LockOwner {
    id: NonZeroU32,
    stamp: u32,
}

impl LockOwner {
    /// The owner `id` with `stamp` (0: none, the host cannot tell this owner from an earlier
    /// one with its id), or `None` if `id` is 0 or has bit 31 set.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::LockOwner;
    ///
    /// assert_eq!(LockOwner::new(7, 0).map(LockOwner::id), Some(7));
    /// assert!(LockOwner::new(0, 0).is_none());
    /// assert!(LockOwner::new(1 << 31, 0).is_none());
    /// ```
    pub const fn new(id: u32, stamp: u32) -> Option<Self> {
        if id & WAITERS != 0 {
            return None;
        }
        match NonZeroU32::new(id) {
            Some(id) => Some(Self { id, stamp }),
            None => None,
        }
    }

    /// The id.
    pub const fn id(self) -> u32 {
        self.id.get()
    }

    /// The stamp.
    pub const fn stamp(self) -> u32 {
        self.stamp
    }

    #[cfg_attr(not(word64), allow(dead_code))]
    const fn tagged(self) -> Word {
        pack_stamp(self.id.get(), self.stamp)
    }
}

#[cfg(word64)]
const fn pack_stamp(owner: u32, stamp: u32) -> Word {
    ((owner as Word) << 32) | stamp as Word
}
/// 32-bit words have no room for the stamp: none is kept.
#[cfg(not(word64))]
const fn pack_stamp(_owner: u32, _stamp: u32) -> Word {
    0
}

/// A snapshot of a held lock: who holds it, and the exact word seen, from which
/// [`LockWord::take_over`] CASes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    word: u32,
    stamp_word: Word,
}

impl Holder {
    /// The holder's id.
    pub const fn owner(&self) -> u32 {
        self.word & OWNER_MASK
    }

    /// The holder's stamp, if it recorded one (a stamp of 0, none, or another owner's record:
    /// `None`; on targets without 64-bit atomics, always `None`).
    pub fn stamp(&self) -> Option<u32> {
        #[cfg(word64)]
        if self.stamp_word as u32 != 0 && (self.stamp_word >> 32) as u32 == self.owner() {
            return Some(self.stamp_word as u32);
        }
        None
    }

    /// Whether someone said it would sleep on this holder's release.
    pub const fn has_waiters(&self) -> bool {
        self.word & WAITERS != 0
    }

    /// The value of the futex word in this snapshot.
    pub const fn word(&self) -> u32 {
        self.word
    }
}

/// How an acquire went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Acquired {
    /// The lock was free: taken.
    Free,
    /// The caller already held it (recursive acquire): its depth went up by one.
    Again,
}

/// Why [`LockWord::try_lock`] did not take the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryLockError {
    /// Someone holds it (possibly the caller, for a non-recursive acquire).
    Held(Holder),
    /// The word kept changing for [`MAX_LOCK_RETRIES`] tries (only a hostile writer does that).
    Contended,
    /// The recursion depth would overflow `u32`.
    TooDeep,
}

/// Why [`LockWord::unlock`] let nothing go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnlockError {
    /// The lock is free.
    NotHeld,
    /// Someone else holds it (its id).
    NotOwner(u32),
    /// The word kept changing for [`MAX_LOCK_RETRIES`] tries (only a hostile writer does that).
    Contended,
}

/// How an unlock went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unlocked {
    /// The lock is free now; `wake`: a waiter said it sleeps, wake one (futex) after this.
    Released {
        /// Whether the host must wake one sleeper.
        wake: bool,
    },
    /// A recursive hold ended; the caller still holds the lock this many more times.
    StillHeld(u32),
}

/// Why [`LockWord::take_over`] did not take the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TakeOverError {
    /// The lock changed since the snapshot (released, taken, or another took it over).
    Changed,
}

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Held(h) => write!(f, "lock held by {}", h.owner()),
            Self::Contended => f.write_str("lock word kept changing"),
            Self::TooDeep => f.write_str("recursive lock depth overflow"),
        }
    }
}

impl fmt::Display for UnlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotHeld => f.write_str("release of a lock that is not held"),
            Self::NotOwner(o) => write!(f, "release of a lock held by {o}"),
            Self::Contended => f.write_str("lock word kept changing"),
        }
    }
}

impl fmt::Display for TakeOverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the lock changed since it was seen")
    }
}

impl core::error::Error for TryLockError {}
impl core::error::Error for UnlockError {}
impl core::error::Error for TakeOverError {}

/// A lock with an owner, recoverable when the owner dies: see the module docs of
/// `ipc_core::lock` (in this type's source) and `LAYOUT.md`.
///
/// `#[repr(C)]`, atomics only, valid for any bits, all-zero = free: it can be laid over
/// shared memory or put in a `static`.
///
/// # Examples
///
/// A spin lock in a `static`, as on a bare-metal board:
///
/// ```
/// use ipc_core::{LockOwner, LockWord, Unlocked};
///
/// static LOCK: LockWord = LockWord::new();
/// let core0 = LockOwner::new(1, 0).unwrap();
/// LOCK.lock_spin(core0, false).unwrap();
/// assert_eq!(LOCK.holder().map(|h| h.owner()), Some(1));
/// assert_eq!(LOCK.unlock(core0, false), Ok(Unlocked::Released { wake: false }));
/// assert!(LOCK.holder().is_none());
/// ```
///
/// Recovering from a dead holder (the host proves the death):
///
/// ```
/// use ipc_core::{LockOwner, LockWord, TryLockError};
///
/// let lock = LockWord::new();
/// let (a, b) = (LockOwner::new(10, 1).unwrap(), LockOwner::new(20, 2).unwrap());
/// lock.try_lock(a, false, false).unwrap();
/// // `a` dies. `b` finds the lock held, and the host judges holder 10 dead:
/// let Err(TryLockError::Held(seen)) = lock.try_lock(b, false, false) else { panic!() };
/// assert_eq!((seen.owner(), seen.stamp()), (10, Some(1)));
/// lock.take_over(seen, b).unwrap(); // b holds it now, and repairs what it protects
/// assert_eq!(lock.holder().unwrap().owner(), 20);
/// ```
#[derive(Debug)]
#[repr(C)]
pub struct LockWord {
    /// `WAITERS (bit 31) | owner (31 bits)`; 0 = free. The futex word.
    state: AtomicU32,
    /// Holds by the owner (1 when held once); written by the owner only.
    depth: AtomicU32,
    /// `owner (32) | stamp (32)` on 64-bit targets (unused on others); 0 = none recorded.
    stamp: AtomicWord,
}

#[cfg(all(word64, not(loom)))]
const _: () = assert!(core::mem::size_of::<LockWord>() == 16);

impl Default for LockWord {
    fn default() -> Self {
        Self::new()
    }
}

impl LockWord {
    crate::sync::const_fn! {
        /// A free lock.
        pub fn new() -> Self {
            Self { state: AtomicU32::new(0), depth: AtomicU32::new(0), stamp: AtomicWord::new(0) }
        }
    }

    /// The 32-bit word a host sleeps on (a futex, shared if the lock is): it changes whenever
    /// the lock is let go, taken over, or a waiter marks it.
    pub fn futex(&self) -> &AtomicU32 {
        &self.state
    }

    /// Takes the lock if it is free (or, with `recursive`, already the caller's).
    ///
    /// `contended`: the caller slept waiting for this lock; it takes it with the waiters bit set
    /// (others may sleep too: its unlock will wake one), as in Drepper's "Futexes are tricky".
    ///
    /// # Errors
    ///
    /// [`TryLockError::Held`] with a snapshot of the holder (also when the caller holds it and
    /// `recursive` is false: a plain lock deadlocks on itself, as Python's does);
    /// [`TryLockError::TooDeep`] for a recursive depth past `u32::MAX`;
    /// [`TryLockError::Contended`] if the word kept changing.
    #[inline]
    pub fn try_lock(
        &self,
        me: LockOwner,
        recursive: bool,
        contended: bool,
    ) -> Result<Acquired, TryLockError> {
        // First a CAS from "free, no waiters" without a load: a failed CAS says what is there.
        let mut seen = 0;
        for _ in 0..MAX_LOCK_RETRIES {
            let owner = seen & OWNER_MASK;
            if owner != 0 {
                if recursive && owner == me.id() {
                    // Only the owner writes `depth`: a plain read-modify-write of its own count.
                    let depth = self.depth.load(Relaxed);
                    let Some(next) = depth.max(1).checked_add(1) else {
                        return Err(TryLockError::TooDeep);
                    };
                    self.depth.store(next, Relaxed);
                    return Ok(Acquired::Again);
                }
                return Err(TryLockError::Held(self.snapshot(seen)));
            }
            let want = me.id() | (seen & WAITERS) | if contended { WAITERS } else { 0 };
            // Acquire: pairs with the Release in `unlock()`; what the last holder did under
            // the lock is visible. Release: a judge that reads our word (Acquire in
            // `holder()`) sees the stamp cleared before it (see `unlock`, `take_over`).
            match self.state.compare_exchange(seen, want, AcqRel, Relaxed) {
                Ok(_) => {
                    crate::crash::crash_point!("lock.claimed");
                    self.depth.store(1, Relaxed);
                    self.stamp.store(me.tagged(), Relaxed);
                    crate::crash::crash_point!("lock.stamped");
                    return Ok(Acquired::Free);
                }
                Err(now) => seen = now,
            }
        }
        Err(TryLockError::Contended)
    }

    /// Says that the caller will sleep until the holder `seen` lets go: sets the waiters bit
    /// if `seen` still holds. Returns the value to sleep on (sleep while the futex word holds
    /// it), or `None` if the lock changed (try again).
    pub fn mark_waiting(&self, seen: Holder) -> Option<u32> {
        if seen.word & WAITERS != 0 {
            return Some(seen.word);
        }
        let marked = seen.word | WAITERS;
        // Relaxed: the sleep's futex compare and the unlock's swap are on this one word.
        match self
            .state
            .compare_exchange(seen.word, marked, Relaxed, Relaxed)
        {
            Ok(_) => Some(marked),
            Err(now) if now == marked => Some(marked),
            Err(_) => None,
        }
    }

    /// Takes the lock, spinning while it is held (bare metal: threads or cores that do not
    /// die). Returns what [`try_lock`](Self::try_lock) returned when it took it.
    ///
    /// # Errors
    ///
    /// [`TryLockError::TooDeep`] and [`TryLockError::Contended`] as for `try_lock`; never
    /// `Held` (it waits instead, as long as it takes).
    pub fn lock_spin(&self, me: LockOwner, recursive: bool) -> Result<Acquired, TryLockError> {
        loop {
            match self.try_lock(me, recursive, false) {
                Err(TryLockError::Held(_)) => {
                    while self.state.load(Relaxed) & OWNER_MASK != 0 {
                        core::hint::spin_loop();
                    }
                }
                other => return other,
            }
        }
    }

    /// Lets go of one hold of the caller's. Returns whether to wake a sleeper
    /// ([`Unlocked::Released`]), or the holds left for a recursive hold
    /// ([`Unlocked::StillHeld`]).
    ///
    /// With `recursive` false the lock is let go whatever the depth.
    ///
    /// # Errors
    ///
    /// [`UnlockError::NotHeld`] (free), [`UnlockError::NotOwner`] (someone else's), with no
    /// change; [`UnlockError::Contended`] if the word kept changing.
    #[inline]
    pub fn unlock(&self, me: LockOwner, recursive: bool) -> Result<Unlocked, UnlockError> {
        let mut seen = self.state.load(Relaxed);
        match seen & OWNER_MASK {
            0 => return Err(UnlockError::NotHeld),
            o if o != me.id() => return Err(UnlockError::NotOwner(o)),
            _ => {}
        }
        if recursive {
            let depth = self.depth.load(Relaxed);
            if depth > 1 {
                self.depth.store(depth - 1, Relaxed);
                return Ok(Unlocked::StillHeld(depth - 1));
            }
        }
        // (`depth` is left as it is: it means something only while the lock is held, and the
        // next acquire sets it.)
        // Before the Release below: whoever sees the lock free or taken by another sees no
        // stamp of ours that could be paired with the next holder's id.
        self.stamp.store(0, Relaxed);
        crate::crash::crash_point!("unlock.unstamped");
        for _ in 0..MAX_LOCK_RETRIES {
            // Release: pairs with the Acquire of the next `try_lock` or `take_over`.
            match self.state.compare_exchange(seen, 0, Release, Relaxed) {
                Ok(_) => {
                    return Ok(Unlocked::Released {
                        wake: seen & WAITERS != 0,
                    })
                }
                // Only the waiters bit may change under its owner.
                Err(now) if now & OWNER_MASK == me.id() => seen = now,
                Err(now) => {
                    return Err(match now & OWNER_MASK {
                        0 => UnlockError::NotHeld,
                        o => UnlockError::NotOwner(o),
                    })
                }
            }
        }
        Err(UnlockError::Contended)
    }

    /// A snapshot of the holder, or `None` if the lock is free.
    #[inline]
    pub fn holder(&self) -> Option<Holder> {
        // Acquire: pairs with the holder's acquire CAS (Release part); the stamp read after
        // it is the holder's own or newer, never an earlier holder's (cleared before).
        let word = self.state.load(Acquire);
        (word & OWNER_MASK != 0).then(|| self.snapshot(word))
    }

    fn snapshot(&self, word: u32) -> Holder {
        Holder {
            word,
            stamp_word: self.stamp.load(Relaxed),
        }
    }

    /// Takes the lock from the holder of snapshot `dead`, who the caller knows can never run
    /// again (a host: the kernel says so). One CAS from exactly the word seen; the lock's
    /// depth becomes 1, the waiters bit is kept. The caller holds the lock and should repair
    /// what it protects (POSIX's `EOWNERDEAD`).
    ///
    /// The lock cannot tell a live holder from a dead one: a caller that takes it from a live
    /// one breaks mutual exclusion (nothing else; the lock guards no memory of its own).
    ///
    /// # Errors
    ///
    /// [`TakeOverError::Changed`] if the lock, or its stamp, changed since the snapshot.
    pub fn take_over(&self, dead: Holder, me: LockOwner) -> Result<(), TakeOverError> {
        // First the stamp: a concurrent taker of the same snapshot (who could hold now with
        // the same id, a reused one) cleared it, and then we fail here; and once cleared, no
        // judge pairs the dead holder's stamp with the new holder's id.
        if dead.stamp_word != 0 {
            self.stamp
                .compare_exchange(dead.stamp_word, 0, Relaxed, Relaxed)
                .map_err(|_| TakeOverError::Changed)?;
        }
        let want = me.id() | (dead.word & WAITERS);
        // Acquire: the dead holder's stores are visible (its death, learned through the
        // kernel, came after them anyway). Release: pairs with `holder()`'s Acquire.
        self.state
            .compare_exchange(dead.word, want, AcqRel, Relaxed)
            .map_err(|_| TakeOverError::Changed)?;
        crate::crash::crash_point!("lock.taken_over");
        self.depth.store(1, Relaxed);
        self.stamp.store(me.tagged(), Relaxed);
        Ok(())
    }

    /// How many times the holder holds the lock (a snapshot; only meaningful to the holder).
    pub fn depth(&self) -> u32 {
        self.depth.load(Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn owner(id: u32) -> LockOwner {
        LockOwner::new(id, id * 3).unwrap()
    }

    #[test]
    fn plain_lock_and_unlock() {
        let l = LockWord::new();
        let (a, b) = (owner(1), owner(2));
        assert_eq!(l.try_lock(a, false, false), Ok(Acquired::Free));
        let Err(TryLockError::Held(h)) = l.try_lock(b, false, false) else {
            panic!("taken twice")
        };
        assert_eq!(h.owner(), 1);
        // A plain lock does not re-enter.
        assert!(matches!(
            l.try_lock(a, false, false),
            Err(TryLockError::Held(_))
        ));
        assert_eq!(l.unlock(b, false), Err(UnlockError::NotOwner(1)));
        assert_eq!(l.unlock(a, false), Ok(Unlocked::Released { wake: false }));
        assert_eq!(l.unlock(a, false), Err(UnlockError::NotHeld));
        assert!(l.holder().is_none());
        assert_eq!(l.try_lock(b, false, false), Ok(Acquired::Free));
    }

    #[test]
    fn waiters_bit_asks_for_a_wake() {
        let l = LockWord::new();
        let (a, b) = (owner(1), owner(2));
        l.try_lock(a, false, false).unwrap();
        let Err(TryLockError::Held(h)) = l.try_lock(b, false, false) else {
            panic!()
        };
        let v = l.mark_waiting(h).unwrap();
        assert_eq!(l.futex().load(Relaxed), v);
        assert!(l.holder().unwrap().has_waiters());
        assert_eq!(l.unlock(a, false), Ok(Unlocked::Released { wake: true }));
        // The woken waiter takes it contended: its unlock wakes the next.
        l.try_lock(b, false, true).unwrap();
        assert_eq!(l.unlock(b, false), Ok(Unlocked::Released { wake: true }));
        // A stale snapshot does not mark.
        assert_eq!(l.mark_waiting(h), None);
    }

    #[test]
    fn recursive_depth() {
        let l = LockWord::new();
        let a = owner(5);
        assert_eq!(l.try_lock(a, true, false), Ok(Acquired::Free));
        assert_eq!(l.try_lock(a, true, false), Ok(Acquired::Again));
        assert_eq!(l.depth(), 2);
        assert_eq!(l.unlock(a, true), Ok(Unlocked::StillHeld(1)));
        assert_eq!(l.unlock(a, true), Ok(Unlocked::Released { wake: false }));
        // Overflow is an error, not a wrap.
        l.try_lock(a, true, false).unwrap();
        l.depth.store(u32::MAX, Relaxed);
        assert_eq!(l.try_lock(a, true, false), Err(TryLockError::TooDeep));
    }

    #[cfg(word64)]
    #[test]
    fn take_over_only_from_the_snapshot() {
        let l = LockWord::new();
        let (a, b, c) = (owner(1), owner(2), owner(3));
        l.try_lock(a, true, false).unwrap();
        l.try_lock(a, true, false).unwrap();
        let h = l.holder().unwrap();
        assert_eq!(h.stamp(), Some(3));
        l.take_over(h, b).unwrap();
        assert_eq!(l.depth(), 1);
        assert_eq!(l.holder().unwrap().owner(), 2);
        assert_eq!(l.holder().unwrap().stamp(), Some(6));
        // A second taker of the same snapshot fails, with no change.
        assert_eq!(l.take_over(h, c), Err(TakeOverError::Changed));
        assert_eq!(l.holder().unwrap().owner(), 2);
        // A stale snapshot after release and re-acquire by the same id fails too (the stamp).
        l.unlock(b, true).unwrap();
        // Id 1 again, but another thread of that number (another stamp): its word equals the
        // snapshot's, its stamp does not.
        let reused = LockOwner::new(1, 99).unwrap();
        l.try_lock(reused, false, false).unwrap();
        assert_eq!(l.holder().unwrap().word(), h.word());
        assert_eq!(l.take_over(h, c), Err(TakeOverError::Changed));
        assert_eq!(l.holder().unwrap().stamp(), Some(99));
    }

    #[test]
    fn any_bits_are_handled() {
        let a = owner(1);
        for word in [u32::MAX, WAITERS, 1, 7 | WAITERS, OWNER_MASK] {
            let l = LockWord::new();
            l.state.store(word, Relaxed);
            l.depth.store(u32::MAX, Relaxed);
            l.stamp.store(Word::MAX, Relaxed);
            let _ = l.try_lock(a, true, false);
            let _ = l.try_lock(a, false, true);
            let _ = l.unlock(a, true);
            let _ = l.unlock(a, false);
            if let Some(h) = l.holder() {
                let _ = (h.stamp(), l.mark_waiting(h), l.take_over(h, a));
            }
        }
        // Free with a stray waiters bit: taken, the bit kept (a wake for nobody at worst).
        let l = LockWord::new();
        l.state.store(WAITERS, Relaxed);
        assert_eq!(l.try_lock(a, false, false), Ok(Acquired::Free));
        assert_eq!(l.unlock(a, false), Ok(Unlocked::Released { wake: true }));
    }

    #[test]
    fn threads_exclude_each_other() {
        extern crate std;
        use std::sync::atomic::AtomicU64;
        let l = LockWord::new();
        let counter = AtomicU64::new(0);
        let n = if cfg!(miri) { 50 } else { 10_000 };
        std::thread::scope(|s| {
            for t in 1..=3 {
                let (l, counter) = (&l, &counter);
                s.spawn(move || {
                    let me = owner(t);
                    for _ in 0..n {
                        l.lock_spin(me, false).unwrap();
                        // A non-atomic increment through two relaxed ops: lost updates
                        // would show a broken lock.
                        let v = counter.load(Relaxed);
                        counter.store(v + 1, Relaxed);
                        l.unlock(me, false).unwrap();
                    }
                });
            }
        });
        assert_eq!(counter.load(Relaxed), 3 * n);
    }
}
