//! The participant table of a shared [`crate::ByteQueue`]: who may hold a claim, so
//! that the claims of one who died can be found and repaired.
//!
//! A participant is a process (or any unit that dies as a whole). It registers once,
//! getting an id; every claim it makes records that id in the slot word, in the same
//! CAS that makes the claim. When a host *knows* the participant is dead (it reaped
//! the process, or the kernel says the pid is gone), it repairs: each slot the dead
//! one was writing becomes ABANDONED, each slot it was reading is taken over and
//! released, and the losses are counted.
//!
//! Entry word (64 bits): `pid (32) | generation (30) | state (2)`. The pid is in the
//! word so that registration is one CAS: there is no moment when an entry is taken but
//! does not say by whom.

use core::fmt;
use core::num::NonZeroU16;

use crate::sync::{AtomicWord, Ordering::*};
use crate::word::Word;

/// Bytes one participant entry takes in the region.
pub(crate) const ENTRY_SIZE: usize = 32;

#[cfg(word64)]
const FREE: Word = 0;
#[cfg(word64)]
const ALIVE: Word = 1;
#[cfg(word64)]
const REPAIRING: Word = 2;
#[cfg(word64)]
const STATE_MASK: Word = 0b11;

/// One entry: `#[repr(C)]` atomics, valid for any bits, all-zero = free.
#[repr(C)]
pub(crate) struct Entry {
    word: AtomicWord,
    /// Opaque to ipc-core: what the host uses, with the pid, to tell this process from
    /// a later one that reuses its pid (e.g. its start time). 0 = not yet recorded.
    identity: AtomicWord,
    _reserved: [AtomicWord; 2],
}

const _: () = assert!(core::mem::size_of::<Entry>() <= ENTRY_SIZE);

impl Entry {
    /// Back to free (for a region being initialised: nobody may be using it).
    pub(crate) fn reset(&self) {
        self.word.store(0, Relaxed);
        self.identity.store(0, Relaxed);
    }
}

/// A participant's id: what its claims record in slot words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(NonZeroU16);

impl ParticipantId {
    /// The id numbered `n`, if `n` is in `1..=MAX_PARTICIPANTS`: for a host that stores
    /// an id as a number (see [`crate::ByteQueue::as_participant`]).
    ///
    #[doc = word64_link!("`crate::ByteQueue::as_participant`" => "crate::ByteQueue::as_participant")]
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ParticipantId;
    ///
    /// assert_eq!(ParticipantId::new(3).map(ParticipantId::get), Some(3));
    /// assert_eq!(ParticipantId::new(0), None);
    /// ```
    pub const fn new(n: u16) -> Option<Self> {
        if n as usize > crate::MAX_PARTICIPANTS {
            return None;
        }
        match NonZeroU16::new(n) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }

    /// The id as a number, `1..=MAX_PARTICIPANTS`.
    pub const fn get(self) -> u16 {
        self.0.get()
    }

    #[cfg(word64)]
    pub(crate) const fn owner(self) -> Word {
        self.0.get() as Word
    }

    #[cfg(word64)]
    const fn index(self) -> usize {
        self.0.get() as usize - 1
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "participant {}", self.0)
    }
}

/// Whether an entry's participant is registered, or being repaired after its death.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParticipantState {
    /// Registered; `pid` is the participant's.
    Alive,
    /// Being repaired; `pid` is the *repairer's*. If the repairer died too, another may
    /// take over by repairing this snapshot.
    Repairing,
}

/// A snapshot of one participant entry, as [`crate::ByteQueue::participants`] lists it.
///
#[doc = word64_link!("`crate::ByteQueue::participants`" => "crate::ByteQueue::participants")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Participant {
    /// Its id.
    pub id: ParticipantId,
    /// The process id in the entry (see [`ParticipantState`] for whose).
    pub pid: u32,
    /// The identity the participant registered with (0 if not yet recorded).
    pub identity: u64,
    /// Its state.
    pub state: ParticipantState,
    /// The exact entry word seen: a repair starts only if the entry still holds it.
    word: Word,
}

/// The table over a region's entries.
#[derive(Clone, Copy)]
pub(crate) struct Table<'a> {
    pub(crate) entries: &'a [Entry],
}

#[cfg(word64)]
const fn entry_word(pid: u32, generation: Word, state: Word) -> Word {
    ((pid as Word) << 32) | ((generation & ((1 << 30) - 1)) << 2) | state
}

#[cfg(word64)]
const fn generation(word: Word) -> Word {
    (word >> 2) & ((1 << 30) - 1)
}

#[cfg(word64)]
impl Table<'_> {
    /// Takes a free entry for process `pid`: one CAS, `FREE(g) → ALIVE(pid, g + 1)`.
    pub(crate) fn register(&self, pid: u32, identity: u64) -> Option<ParticipantId> {
        for (index, entry) in self.entries.iter().enumerate() {
            let word = entry.word.load(Relaxed);
            if word & STATE_MASK != FREE {
                continue;
            }
            let id = ParticipantId(NonZeroU16::new(index as u16 + 1)?);
            let alive = entry_word(pid, generation(word) + 1, ALIVE);
            // Acquire: pairs with the Release in `end_repair()`/`deregister()`; the
            // previous holder's claims are all gone before ours start.
            if entry
                .word
                .compare_exchange(word, alive, Acquire, Relaxed)
                .is_ok()
            {
                entry.identity.store(identity, Relaxed);
                return Some(id);
            }
        }
        None
    }

    /// Gives up a live entry (its holder holds no claim: it is between operations).
    pub(crate) fn deregister(&self, id: ParticipantId) -> bool {
        let Some(entry) = self.entries.get(id.index()) else {
            return false;
        };
        let word = entry.word.load(Relaxed);
        if word & STATE_MASK != ALIVE {
            return false;
        }
        entry.identity.store(0, Relaxed);
        // Release: our last claims' releases come before the entry's reuse.
        entry
            .word
            .compare_exchange(
                word,
                entry_word(0, generation(word), FREE),
                Release,
                Relaxed,
            )
            .is_ok()
    }

    /// A snapshot of entry `id`, or `None` if it is free or out of range.
    pub(crate) fn get(&self, id: ParticipantId) -> Option<Participant> {
        let entry = self.entries.get(id.index())?;
        let word = entry.word.load(Acquire);
        let state = match word & STATE_MASK {
            ALIVE => ParticipantState::Alive,
            REPAIRING => ParticipantState::Repairing,
            _ => return None,
        };
        Some(Participant {
            id,
            pid: (word >> 32) as u32,
            identity: entry.identity.load(Relaxed),
            state,
            word,
        })
    }

    /// Starts repairing the participant of the snapshot `dead`: one CAS from exactly the
    /// word seen to `REPAIRING(repairer_pid)`. Fails if the entry changed since.
    pub(crate) fn begin_repair(&self, dead: &Participant, repairer_pid: u32) -> bool {
        let Some(entry) = self.entries.get(dead.id.index()) else {
            return false;
        };
        let repairing = entry_word(repairer_pid, generation(dead.word), REPAIRING);
        // Acquire: pairs with the dead participant's last releases (its claims are
        // visible to the scan that follows).
        entry
            .word
            .compare_exchange(dead.word, repairing, Acquire, Relaxed)
            .is_ok()
    }

    /// Frees the entry after a finished repair.
    pub(crate) fn end_repair(&self, dead: &Participant, repairer_pid: u32) {
        let Some(entry) = self.entries.get(dead.id.index()) else {
            return;
        };
        let generation = generation(dead.word);
        entry.identity.store(0, Relaxed);
        let repairing = entry_word(repairer_pid, generation, REPAIRING);
        // Release: pairs with the Acquire in `register()`.
        let _ = entry.word.compare_exchange(
            repairing,
            entry_word(0, generation, FREE),
            Release,
            Relaxed,
        );
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = ParticipantId> {
        (1..=self.entries.len() as u16)
            .filter_map(NonZeroU16::new)
            .map(ParticipantId)
    }
}
