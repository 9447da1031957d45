//! Crash repair of a [`ByteQueue`]: registering participants ([`ByteQueue::register`],
//! [`Registered`]), listing them, and repairing the claims of the dead
//! ([`ByteQueue::repair`], [`RepairHooks`], [`Repaired`]). `LAYOUT.md`, *Crash repair*, has
//! the protocol.
// Unsafe: `repair` and `as_participant` rest on their caller's proof of a death or an id.
#![allow(unsafe_code)]

use core::fmt;

use super::ByteQueue;
use crate::error::{PopError, PushError, RegisterError, RepairError};
use crate::participant::{Participant, ParticipantId};
use crate::payload::{SlotReader, SlotWriter};
use crate::sync::Ordering::Relaxed;
use crate::word::{Word, ANONYMOUS};

/// Crash repair: registering participants, listing them, repairing the dead.
impl<'a> ByteQueue<'a> {
    /// Registers process `pid` as a participant and returns the one handle whose claims
    /// record its id, so that they can be repaired if it dies ([`repair`](Self::repair)).
    /// `identity` is the host's, to tell this process from a later one with the same pid
    /// (e.g. its start time); ipc-core only stores it.
    ///
    /// A participant is a unit that dies as a whole: a process. Its threads may share
    /// the returned handle (by reference: it is neither `Copy` nor `Clone`, so no stale
    /// copy can claim under the id once [`Registered::deregister`] gives it back).
    ///
    /// # Errors
    ///
    /// [`RegisterError::TableFull`] if every entry is taken (or the queue has none).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ByteQueue, Config, Region};
    ///
    /// let mut region = Box::new(Region::<4096>::new());
    /// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16).participants(2))?;
    /// let me = queue.register(std::process::id(), 0)?;
    /// me.try_push(b"mine")?;
    /// assert_eq!(queue.participants().count(), 1);
    /// me.deregister();
    /// assert_eq!(queue.participants().count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register(&self, pid: u32, identity: u64) -> Result<Registered<'a>, RegisterError> {
        let id = self
            .table
            .register(pid, identity)
            .ok_or(RegisterError::TableFull)?;
        Ok(Registered { queue: *self, id })
    }

    /// The handle of participant `id` again, for a host that keeps the id rather than the
    /// handle (e.g. one registration per process, looked up on every call).
    ///
    /// # Safety
    ///
    /// `id` was returned (through [`Registered::participant`]) by a
    /// [`register`](Self::register) of the calling process on this queue, and has not been
    /// deregistered or repaired since, nor will it be while the handle returned is used.
    /// Claims made under another process's id would be repaired when that process dies,
    /// while this one still writes the slot.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ByteQueue, Config, Region};
    ///
    /// let mut region = Box::new(Region::<4096>::new());
    /// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16).participants(2))?;
    /// let id = queue.register(std::process::id(), 0)?.participant();
    /// // SAFETY: this process registered `id` just above and never gives it up.
    /// let me = unsafe { queue.as_participant(id) };
    /// assert_eq!(me.participant(), id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub unsafe fn as_participant(&self, id: ParticipantId) -> Registered<'a> {
        Registered { queue: *self, id }
    }

    /// Snapshots of the registered participants (and those being repaired).
    pub fn participants(&self) -> impl Iterator<Item = Participant> + 'a {
        let table = self.table;
        table.ids().filter_map(move |id| table.get(id))
    }

    /// Repairs the claims of the participant `dead` (a snapshot from
    /// [`participants`](Self::participants)): each message it was writing is marked
    /// abandoned (consumers skip it), each message it was reading is taken over, handed
    /// to `salvage` (its bytes are intact, unless a process broke the protocol; the queue
    /// counts it lost, and the caller decides whether it was delivered), then freed. Then
    /// its entry is freed. Returns what was repaired; the queue's [`stats`](Self::stats)
    /// count it too.
    ///
    /// Slots taken over are claimed anonymously: if this repairer dies mid-repair, they
    /// stay claimed. [`Registered::repair`] records the repairer's id instead.
    ///
    /// Exactly one repairer wins a given snapshot. If `dead` is in state
    /// [`Repairing`](crate::ParticipantState::Repairing), its repairer (`dead.pid`)
    /// died mid-repair and this call takes over; repairs are idempotent.
    ///
    /// [`repair_with`](Self::repair_with) is the same with every hook a host may need.
    ///
    /// # Errors
    ///
    /// [`RepairError::Changed`] if the entry no longer holds the snapshot (repaired,
    /// deregistered, or taken by another repairer).
    ///
    /// # Safety
    ///
    /// The process in `dead` (the participant, or for a `Repairing` snapshot, its
    /// repairer) can no longer run: it was reaped, or the kernel reports its pid gone
    /// and `identity` rules out reuse. A live one could still write a slot this hands
    /// to another process.
    pub unsafe fn repair(
        &self,
        dead: &Participant,
        repairer_pid: u32,
        salvage: impl FnMut(&SlotReader<'_>),
    ) -> Result<Repaired, RepairError> {
        // SAFETY: the caller's guarantee, passed on unchanged.
        unsafe { self.repair_as(ANONYMOUS, dead, repairer_pid, &mut Salvage(salvage)) }
    }

    /// [`repair`](Self::repair), telling `hooks` about every slot repaired and letting
    /// it clean up what the dead participant held outside the queue before its id can
    /// be reused:
    ///
    /// 1. for each slot it was writing, [`RepairHooks::abandoned`] with the payload, just
    ///    before the slot is marked abandoned;
    /// 2. for each slot it was reading, [`RepairHooks::salvage`] with the message, after
    ///    the repairer took the claim over and before it releases the slot;
    /// 3. [`RepairHooks::before_release`], after the scan and while the dead
    ///    participant's entry is still held by this repair (so no new process has its
    ///    id yet); then the entry is freed.
    ///
    /// If the repairer dies part-way, a take-over repair calls the hooks again for what
    /// was left (and `before_release` again): their effects must be idempotent.
    ///
    /// # Errors
    ///
    /// As [`repair`](Self::repair); no hook is called then.
    ///
    /// # Safety
    ///
    /// As [`repair`](Self::repair).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::{ByteQueue, Config, Region, RepairHooks, SlotReader};
    ///
    /// #[derive(Default)]
    /// struct Log { abandoned: usize, released: bool }
    /// impl RepairHooks for Log {
    ///     fn abandoned(&mut self, _payload: &SlotReader<'_>) { self.abandoned += 1 }
    ///     fn before_release(&mut self) { self.released = true }
    /// }
    ///
    /// let mut region = Box::new(Region::<4096>::new());
    /// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16).participants(2))?;
    /// let me = queue.register(std::process::id(), 0)?;
    /// me.try_push(b"done")?;
    /// drop(me); // keeps the registration: as if this process had died
    /// let entry = queue.participants().next().unwrap();
    /// let mut log = Log::default();
    /// // SAFETY: (for the example) the handle of `entry` is gone; nothing claims under it.
    /// let repaired = unsafe { queue.repair_with(&entry, std::process::id(), &mut log) }?;
    /// assert_eq!((repaired.lost_in_push, log.abandoned, log.released), (0, 0, true));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn repair_with(
        &self,
        dead: &Participant,
        repairer_pid: u32,
        hooks: &mut impl RepairHooks,
    ) -> Result<Repaired, RepairError> {
        // SAFETY: the caller's guarantee, passed on unchanged.
        unsafe { self.repair_as(ANONYMOUS, dead, repairer_pid, hooks) }
    }

    /// [`repair_with`](Self::repair_with), taking slots over as `me`.
    ///
    /// # Safety
    ///
    /// As [`repair`](Self::repair).
    unsafe fn repair_as(
        &self,
        me: Word,
        dead: &Participant,
        repairer_pid: u32,
        hooks: &mut impl RepairHooks,
    ) -> Result<Repaired, RepairError> {
        if !self.table.begin_repair(dead, repairer_pid) {
            return Err(RepairError::Changed);
        }
        crate::crash::crash_point!("repair.started");
        let slots = self.slots;
        let max = self.max_message_len;
        // The payload of a slot claimed by the dead participant, if its length field is
        // in bounds (`index` < capacity: the repair scan passes only such indices).
        let payload = |index: usize| {
            // SAFETY: index < capacity (from the repair scan).
            let len = unsafe { slots.len_field(index) }.load(Relaxed) as usize;
            // SAFETY: index < capacity; len ≤ max_message_len, checked here. Nobody that
            // keeps the protocol writes the bytes while the slot is WRITING by the dead
            // participant (only that claimer writes a payload) or READING (consumers never
            // write one); others can only garble them (atomic copies).
            (len <= max).then(|| SlotReader::new(unsafe { slots.payload(index, len) }))
        };
        // Two closures need `hooks`: a cell hands it to one at a time.
        let hooks = core::cell::RefCell::new(hooks);
        let (pushes, pops) = self.ring().repair(
            dead.id.owner(),
            me,
            |claimed| {
                if let Some(message) = payload(claimed.index) {
                    hooks.borrow_mut().abandoned(&message);
                }
            },
            |claimed| {
                if let Some(message) = payload(claimed.index) {
                    hooks.borrow_mut().salvage(&message);
                }
            },
        );
        let meta = &self.header.meta;
        meta.lost_in_push.fetch_add(pushes, Relaxed);
        meta.lost_in_pop.fetch_add(pops, Relaxed);
        hooks.into_inner().before_release();
        crate::crash::crash_point!("repair.swept");
        self.table.end_repair(dead, repairer_pid);
        Ok(Repaired {
            lost_in_push: pushes,
            lost_in_pop: pops,
        })
    }
}

/// Only the `salvage` hook, for [`ByteQueue::repair`].
struct Salvage<F>(F);

impl<F: FnMut(&SlotReader<'_>)> RepairHooks for Salvage<F> {
    fn salvage(&mut self, message: &SlotReader<'_>) {
        (self.0)(message);
    }
}

/// A registered participant of a [`ByteQueue`]: the one handle whose claims record its
/// id, so that a repair finds them if its process dies. Made by [`ByteQueue::register`]
/// (or, for a host that keeps the id, [`ByteQueue::as_participant`]).
///
/// It is neither `Copy` nor `Clone`: threads share it by reference, and once
/// [`deregister`](Self::deregister) has given the id back (to be handed to another
/// process by a later `register`), no handle that could still claim under it is left.
/// Dropping it keeps the registration (the id stays this process's until its death is
/// repaired), as a killed process would.
///
/// # Examples
///
/// ```
/// use ipc_core::{ByteQueue, Config, Region};
///
/// let mut region = Box::new(Region::<4096>::new());
/// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16).participants(2))?;
/// let me = queue.register(std::process::id(), 0)?;
/// me.try_push(b"claimed as me")?;
/// let mut buf = [0; 16];
/// assert_eq!(me.try_pop(&mut buf)?, 13);
/// assert_eq!(me.queue().len(), 0);
/// let anonymous: ByteQueue<'_> = me.deregister();
/// assert_eq!(anonymous.participants().count(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A handle can't be used after `deregister` (it was moved into it):
///
/// ```compile_fail,E0382
/// # use ipc_core::{ByteQueue, Config, Region};
/// # let mut region = Box::new(Region::<4096>::new());
/// # let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16).participants(2)).unwrap();
/// let me = queue.register(std::process::id(), 0).unwrap();
/// me.deregister();
/// me.try_push(b"stale"); // error[E0382]: borrow of moved value: `me`
/// ```
///
/// nor copied to keep one back:
///
/// ```compile_fail,E0382
/// # use ipc_core::{ByteQueue, Config, Region};
/// # let mut region = Box::new(Region::<4096>::new());
/// # let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16).participants(2)).unwrap();
/// let me = queue.register(std::process::id(), 0).unwrap();
/// let copy = me; // a move, not a copy
/// me.deregister(); // error[E0382]: use of moved value: `me`
/// copy.try_push(b"stale");
/// ```
///
/// ```compile_fail,E0599
/// # use ipc_core::{ByteQueue, Config, Region};
/// # let mut region = Box::new(Region::<4096>::new());
/// # let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16).participants(2)).unwrap();
/// let me = queue.register(std::process::id(), 0).unwrap();
/// let copy = me.clone(); // error[E0599]: no method named `clone`
/// ```
pub struct Registered<'a> {
    pub(super) queue: ByteQueue<'a>,
    pub(super) id: ParticipantId,
}

impl<'a> Registered<'a> {
    /// This handle's participant id.
    #[inline]
    pub fn participant(&self) -> ParticipantId {
        self.id
    }

    /// The queue, as an anonymous view: its state, wait words and participant table.
    #[inline]
    pub fn queue(&self) -> &ByteQueue<'a> {
        &self.queue
    }

    /// [`ByteQueue::try_push`], claiming as this participant.
    ///
    /// # Errors
    ///
    /// As [`ByteQueue::try_push`].
    #[inline]
    pub fn try_push(&self, message: &[u8]) -> Result<(), PushError> {
        self.queue.push_as(self.id.owner(), message)
    }

    /// [`ByteQueue::try_push_with`], claiming as this participant.
    ///
    /// # Errors
    ///
    /// As [`ByteQueue::try_push`].
    #[inline]
    pub fn try_push_with(
        &self,
        len: usize,
        fill: impl FnOnce(&mut SlotWriter<'_>),
    ) -> Result<(), PushError> {
        self.queue.push_with_as(self.id.owner(), len, fill)
    }

    /// [`ByteQueue::try_push_notify`], claiming as this participant.
    ///
    /// # Errors
    ///
    /// As [`ByteQueue::try_push`].
    #[inline]
    pub fn try_push_notify(&self, message: &[u8]) -> Result<bool, PushError> {
        self.queue.push_as(self.id.owner(), message)?;
        Ok(self.queue.header.not_empty.notify_marked())
    }

    /// [`ByteQueue::try_pop`], claiming as this participant.
    ///
    /// # Errors
    ///
    /// As [`ByteQueue::try_pop`].
    #[inline]
    pub fn try_pop(&self, buf: &mut [u8]) -> Result<usize, PopError> {
        self.queue.pop_as(self.id.owner(), buf)
    }

    /// [`ByteQueue::try_pop_with`], claiming as this participant.
    ///
    /// # Errors
    ///
    /// As [`ByteQueue::try_pop_with`].
    #[inline]
    pub fn try_pop_with<R>(&self, read: impl FnOnce(&SlotReader<'_>) -> R) -> Result<R, PopError> {
        self.queue.pop_with_as(self.id.owner(), usize::MAX, read)
    }

    /// [`ByteQueue::repair`], taking the dead participant's slots over as this one, so
    /// that they are repaired in turn if this process dies mid-repair.
    ///
    /// # Errors
    ///
    /// As [`ByteQueue::repair`].
    ///
    /// # Safety
    ///
    /// As [`ByteQueue::repair`].
    pub unsafe fn repair(
        &self,
        dead: &Participant,
        repairer_pid: u32,
        salvage: impl FnMut(&SlotReader<'_>),
    ) -> Result<Repaired, RepairError> {
        // SAFETY: the caller's guarantee, passed on unchanged.
        unsafe {
            self.queue
                .repair_as(self.id.owner(), dead, repairer_pid, &mut Salvage(salvage))
        }
    }

    /// [`ByteQueue::repair_with`], taking the dead participant's slots over as this one.
    ///
    /// # Errors
    ///
    /// As [`ByteQueue::repair`].
    ///
    /// # Safety
    ///
    /// As [`ByteQueue::repair`].
    pub unsafe fn repair_with(
        &self,
        dead: &Participant,
        repairer_pid: u32,
        hooks: &mut impl RepairHooks,
    ) -> Result<Repaired, RepairError> {
        // SAFETY: the caller's guarantee, passed on unchanged.
        unsafe {
            self.queue
                .repair_as(self.id.owner(), dead, repairer_pid, hooks)
        }
    }

    /// Gives the registration back, and returns the anonymous view. Holds no claim (no
    /// operation of this handle can be running: it takes the handle by value).
    pub fn deregister(self) -> ByteQueue<'a> {
        self.queue.table.deregister(self.id);
        self.queue
    }
}

impl fmt::Debug for Registered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registered")
            .field("participant", &self.id)
            .field("queue", &self.queue)
            .finish()
    }
}

/// What a host does about a dead participant's claims during
/// [`ByteQueue::repair_with`]: e.g. give back resources that the messages name. Every
/// method does nothing by default.
pub trait RepairHooks {
    /// A message the dead participant had claimed to read. Its bytes are intact unless a
    /// process broke the protocol: copy them out, then check the copy. The queue counts it
    /// lost (`lost_in_pop`); the slot is released after this returns.
    fn salvage(&mut self, message: &SlotReader<'_>) {
        let _ = message;
    }

    /// The payload of a push the dead participant had claimed and not published, read
    /// just before the slot is marked abandoned (`lost_in_push`). It may be stale (what
    /// an earlier message left in the slot), partly written, or torn between the two:
    /// copy it out and validate the copy before acting on it.
    fn abandoned(&mut self, payload: &SlotReader<'_>) {
        let _ = payload;
    }

    /// Every claim of the dead participant is repaired; its id is not yet free for a new
    /// participant: the last moment at which what it holds can be told by its id.
    fn before_release(&mut self) {}
}

/// What one [`ByteQueue::repair`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Repaired {
    /// Pushes the dead participant had claimed and not published: now abandoned.
    pub lost_in_push: u64,
    /// Messages it had claimed and not released: taken over, salvaged and freed.
    pub lost_in_pop: u64,
}
