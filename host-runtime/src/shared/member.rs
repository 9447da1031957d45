//! A process's membership in one shared `ByteQueue` (a queue's ring): registered in the
//! queue's participant table on its first claim, once per process, so that every claim it
//! makes records its id and can be repaired if it dies; and the repair of members found dead.
//!
//! **Once per process, not per handle.** Handles are cloned across threads and inherited by
//! forked children. The registration lives in one word of the shared `Inner` of the handles,
//! tagged with [`fork_generation`]: a child that inherited its parent's word sees another
//! generation there and registers itself, so no claim of the child ever carries its parent's
//! id (a repair after the parent's death would otherwise take a slot the child still writes).
//!
//! **Death.** [`Member::repair_dead`] repairs the entries of processes that [`liveness`] judges
//! dead — reaped, zombie, or pid reused — never of a slow or stopped one, which is what makes
//! `ipc_core::ByteQueue::repair` sound here.

// Unsafe here: `ByteQueue::as_participant` and `repair_with`, whose contracts this module keeps.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::atomic::{
    AtomicU16, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};

use ipc_core::{
    ByteQueue, Participant, ParticipantId, ParticipantState, PopError, PushError, Registered,
    RepairHooks, SlotReader, SlotWriter,
};

use super::region::SharedQueue;
use crate::liveness::{self, Verdict};
use crate::sys::{fork_generation, fork_generation_unchecked};

/// `me` word: `generation + 1 (46) | DONE | BUSY | id (16)`; 0 = no registration yet.
const ID_MASK: u64 = 0xffff;
const BUSY: u64 = 1 << 16;
const DONE: u64 = 1 << 17;
const GEN_SHIFT: u32 = 18;

/// One shared `ByteQueue` and this process's registration in it.
pub(crate) struct Member {
    queue: SharedQueue,
    /// This process's registration: see the module docs and [`tag`].
    me: AtomicU64,
    /// Where the next [`repair_dead`](Self::repair_dead) starts (a participant id number):
    /// where the last one ran out of time, so that a table full of entries that take long
    /// to judge cannot keep a dead one at its end from ever being repaired.
    cursor: AtomicU16,
    /// The participant handle of the registration in `me` (`None`: anonymous), kept so that
    /// each call borrows it instead of making (copying) one. Written only by `register`, by
    /// the one thread that holds `me` BUSY, before its Release store of the DONE word; read
    /// only by [`handle`](Self::handle), after an Acquire load of a DONE word of the reader's
    /// own fork generation. Never handed out with the `'static` lifetime: the queue it views
    /// lives in `queue`'s mapping, which lives as long as `self`.
    handle: UnsafeCell<Option<Registered<'static>>>,
}

// SAFETY: the only field that is not `Sync` is `handle`, whose writes and reads are ordered by
// `me` (see there): a write happens only while `me` holds no DONE word of the writer's fork
// generation, so no thread of that process can hold a reference from `handle` then (one got
// in the parent before a fork belongs to a thread that does not exist in the child; the
// forking thread holds none, since no queue call forks); each read follows the Acquire load
// of the DONE word stored after the write.
unsafe impl Sync for Member {}

/// Verdicts already reached during one sweep: a process in several tables is judged once.
#[derive(Default)]
pub(crate) struct Verdicts(HashMap<(u32, u64), Verdict>);

impl Verdicts {
    fn judge(&mut self, pid: u32, identity: u64) -> Verdict {
        *self
            .0
            .entry((pid, identity))
            .or_insert_with(|| liveness::judge(pid, identity))
    }
}

impl Member {
    pub(crate) fn new(queue: SharedQueue) -> Member {
        Member {
            queue,
            me: AtomicU64::new(0),
            cursor: AtomicU16::new(0),
            handle: UnsafeCell::new(None),
        }
    }

    /// The queue, anonymous: for reading its state (length, waiters, stats) and waiting.
    #[inline(always)]
    pub(crate) fn view(&self) -> &ByteQueue<'_> {
        self.queue.get()
    }

    /// The queue as this process's participant, to claim through, and its participant id as a
    /// number (0 if it claims anonymously: what the host records as the holder of things
    /// outside this `ByteQueue`, e.g. blob chunk leases, so that its repair finds them).
    /// Registers on the first call in each process. `on_full` runs if the table is full,
    /// before one more try (a sweep of dead members frees entries); if it is still full,
    /// claims are anonymous (they work, but a death during one cannot be repaired), and
    /// `on_anonymous` runs, once per process.
    #[inline(always)]
    pub(crate) fn claimer(
        &self,
        on_full: impl FnOnce(),
        on_anonymous: impl FnOnce(),
    ) -> (Claimer<'_>, u16) {
        // Unchecked: a DONE word was stored by `register`, whose `tag()` registered the fork
        // handler first, so every fork since then has moved this process's generation on.
        let tag = fork_generation_unchecked() + 1;
        let mut me = self.me.load(Acquire);
        if me >> GEN_SHIFT != tag || me & DONE == 0 {
            me = self.register(on_full, on_anonymous);
        }
        (self.handle(me), (me & ID_MASK) as u16)
    }

    /// This process's participant id here, if it registered.
    pub(crate) fn id(&self) -> Option<ParticipantId> {
        let me = self.me.load(Acquire);
        (me >> GEN_SHIFT == tag() && me & DONE != 0)
            .then(|| ParticipantId::new((me & ID_MASK) as u16))
            .flatten()
    }

    /// The claimer of the registration in the DONE word `me`, of this process's generation
    /// (loaded with Acquire).
    #[inline(always)]
    fn handle(&self, me: u64) -> Claimer<'_> {
        debug_assert!(me & DONE != 0 && me >> GEN_SHIFT == fork_generation_unchecked() + 1);
        // SAFETY: `me` is a DONE word of this process's generation, loaded with Acquire: the
        // write of `handle` by `register` happened before it, and none comes while this
        // process runs with this generation (see `handle`'s field doc).
        let member = unsafe { &*self.handle.get() }.as_ref();
        Claimer {
            queue: self.queue.get(),
            member,
        }
    }

    /// Registers this process (or waits for another of its threads to), and returns the
    /// DONE word of its registration.
    #[cold]
    fn register(&self, on_full: impl FnOnce(), on_anonymous: impl FnOnce()) -> u64 {
        let tag = tag();
        let mut on_full = Some(on_full);
        loop {
            let seen = self.me.load(Acquire);
            if seen >> GEN_SHIFT == tag {
                if seen & DONE != 0 {
                    return seen;
                }
                // Another thread of this process is registering.
                std::thread::yield_now();
                continue;
            }
            // Ours now, or a word inherited from the process we were forked from (another
            // generation, whatever its flags: that process's registration is not ours).
            let busy = (tag << GEN_SHIFT) | BUSY;
            if self
                .me
                .compare_exchange(seen, busy, AcqRel, Acquire)
                .is_err()
            {
                continue;
            }
            let queue = self.queue.get();
            let (pid, identity) = (std::process::id(), own_identity());
            let mut registered = queue.register(pid, identity);
            if registered.is_err() {
                if let Some(sweep) = on_full.take() {
                    sweep();
                }
                registered = queue.register(pid, identity);
            }
            // The registration stays this process's until `Drop` deregisters it.
            let id = registered
                .as_ref()
                .map_or(0, |handle| u64::from(handle.participant().get()));
            let registered = registered.ok().map(|h| {
                // SAFETY: (the lifetime) the handle views the queue in `self.queue`'s
                // mapping, which lives as long as `self`; it is handed out only borrowed from
                // `self` (`handle`). It is `register`'s, whose id this process holds until
                // `Drop`.
                unsafe { std::mem::transmute::<Registered<'_>, Registered<'static>>(h) }
            });
            // SAFETY: we hold `me` BUSY for this generation: no other thread of this process
            // writes or reads `handle` now, and threads of the process we were forked from
            // do not exist here (see `handle`'s field doc).
            unsafe { *self.handle.get() = registered };
            if id == 0 {
                on_anonymous();
            }
            let done = (tag << GEN_SHIFT) | DONE | id;
            // Release: pairs with the Acquire loads above and in `claimer`.
            self.me.store(done, Release);
            return done;
        }
    }

    /// Repairs every member that `verdicts` judge dead (a `Repairing` entry: if its repairer
    /// is dead), through `repairer` (this process's claimer, so that a slot it takes over is
    /// repairable in turn), with the [`RepairHooks`] that `hooks` makes for the dead member's
    /// id (see `ipc_core::ByteQueue::repair_with`). Returns how many members were repaired.
    ///
    /// `out_of_time` is asked before each entry after the first: once it says so, the sweep
    /// stops there, and the next sweep of this process starts at that entry. The entries come
    /// from shared memory, which another process may fill with fakes that each cost a look
    /// at `/proc` (and, if judged dead, a repair: a scan of the ring, the leases and the wait
    /// ledger, each bounded by the queue's layout); this is what bounds a sweep made on behalf
    /// of a call with a deadline.
    pub(crate) fn repair_dead<H: RepairHooks>(
        &self,
        repairer: &Claimer<'_>,
        verdicts: &mut Verdicts,
        mut hooks: impl FnMut(ParticipantId) -> H,
        mut out_of_time: impl FnMut() -> bool,
    ) -> u64 {
        let me = std::process::id();
        // At most the table's size (checked when the queue was attached): one snapshot each.
        let entries: Vec<Participant> = self.view().participants().collect();
        let start = self.cursor.load(Relaxed);
        let split = entries.partition_point(|p| p.id.get() < start);
        let (before, after) = entries.split_at(split);
        let mut repaired = 0;
        for (n, dead) in after.iter().chain(before).enumerate() {
            if n > 0 && out_of_time() {
                self.cursor.store(dead.id.get(), Relaxed);
                return repaired;
            }
            let verdict = match dead.state {
                ParticipantState::Alive => verdicts.judge(dead.pid, dead.identity),
                // `pid` is the repairer's; its identity is not recorded.
                ParticipantState::Repairing => verdicts.judge(dead.pid, 0),
                _ => Verdict::Unknown,
            };
            if verdict != Verdict::Dead {
                continue;
            }
            // SAFETY: the kernel reports the process in `dead` gone, a zombie, or its pid now
            // held by a process that started at another time (`liveness::judge`): it can no
            // longer run, so it makes no more stores to the queue.
            if unsafe { repairer.repair_with(dead, me, &mut hooks(dead.id)) }.is_ok() {
                repaired += 1;
            }
        }
        repaired
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        // The last handle of this process is gone, so no claim of ours is open. A word of
        // another generation is the registration of the process we were forked from.
        if let Some(id) = self.id() {
            // SAFETY: `id` is this process's registration (see `handle`), and no other handle
            // of it is left: each `Claimer` borrows `self`.
            unsafe { self.queue.get().as_participant(id) }.deregister();
        }
    }
}

/// The queue as this process claims through it: as its registered participant, or
/// anonymously if it could not register.
///
/// Two references: the participant handle is borrowed from the [`Member`] that keeps it, not
/// copied (a handle holds its own copy of the queue's view, some 170 bytes, which each call
/// would otherwise copy and carry through its wait loop).
#[derive(Clone, Copy)]
pub(crate) struct Claimer<'q> {
    queue: &'q ByteQueue<'q>,
    /// This process's registration; `None`: claims record no owner (the participant table
    /// was full).
    member: Option<&'q Registered<'q>>,
}

impl<'q> Claimer<'q> {
    /// Claims that record no owner: always sound (a death during one cannot be repaired).
    #[inline(always)]
    pub(crate) fn anonymous(queue: &'q ByteQueue<'q>) -> Claimer<'q> {
        Claimer {
            queue,
            member: None,
        }
    }

    /// The participant handle, if this process is registered.
    #[inline(always)]
    fn member(&self) -> Option<&'q Registered<'q>> {
        self.member
    }

    /// The anonymous view: state, wait words, participant table.
    #[inline(always)]
    pub(crate) fn queue(&self) -> &'q ByteQueue<'q> {
        self.queue
    }

    /// `try_push_notify` as this process.
    #[inline(always)]
    pub(crate) fn try_push_notify(&self, message: &[u8]) -> Result<bool, PushError> {
        match self.member() {
            Some(member) => member.try_push_notify(message),
            None => cold(|| self.queue.try_push_notify(message)),
        }
    }

    /// `try_push_with` as this process.
    #[inline(always)]
    pub(crate) fn try_push_with(
        &self,
        len: usize,
        fill: impl FnOnce(&mut SlotWriter<'_>),
    ) -> Result<(), PushError> {
        match self.member() {
            Some(member) => member.try_push_with(len, fill),
            None => cold(|| self.queue.try_push_with(len, fill)),
        }
    }

    /// `try_pop_with` as this process.
    #[inline(always)]
    pub(crate) fn try_pop_with<R>(
        &self,
        read: impl FnOnce(&SlotReader<'_>) -> R,
    ) -> Result<R, PopError> {
        match self.member() {
            Some(member) => member.try_pop_with(read),
            None => cold(|| self.queue.try_pop_with(read)),
        }
    }

    /// `try_push_many_notify` as this process.
    #[inline(always)]
    pub(crate) fn try_push_many_notify<M: AsRef<[u8]>>(
        &self,
        messages: &[M],
    ) -> Result<(usize, bool), PushError> {
        match self.member() {
            Some(member) => member.try_push_many_notify(messages),
            None => self.queue.try_push_many_notify(messages),
        }
    }

    /// `try_pop_many` as this process.
    #[inline(always)]
    pub(crate) fn try_pop_many(
        &self,
        max: usize,
        room: usize,
        read: impl FnMut(usize, &SlotReader<'_>),
    ) -> Result<usize, PopError> {
        match self.member() {
            Some(member) => member.try_pop_many(max, room, read),
            None => self.queue.try_pop_many(max, room, read),
        }
    }

    /// `repair_with` as this process (slots taken over record its id, if it has one).
    ///
    /// # Safety
    ///
    /// As `ipc_core::ByteQueue::repair`: the process in `dead` can no longer run.
    unsafe fn repair_with(
        &self,
        dead: &ipc_core::Participant,
        repairer_pid: u32,
        hooks: &mut impl RepairHooks,
    ) -> Result<ipc_core::Repaired, ipc_core::RepairError> {
        // SAFETY: the caller's guarantee, passed on.
        unsafe {
            match self.member() {
                Some(member) => member.repair_with(dead, repairer_pid, hooks),
                None => self.queue.repair_with(dead, repairer_pid, hooks),
            }
        }
    }
}

/// Runs `f` out of line: the anonymous arms of [`Claimer`] (a full participant table) stay
/// off the hot path of a registered process, so it inlines one copy of each operation.
#[cold]
#[inline(never)]
fn cold<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// This process's tag for words that must not be taken for its own after a fork: its fork
/// generation plus one (never 0, the value of a word nobody wrote).
#[inline(always)]
fn tag() -> u64 {
    fork_generation() + 1
}

/// This process's identity for the participant tables, computed once per process.
fn own_identity() -> u64 {
    // (tag, identity); a race computes it twice, with the same result.
    static CACHED: (AtomicU64, AtomicU64) = (AtomicU64::new(0), AtomicU64::new(0));
    let tag = tag();
    if CACHED.0.load(Acquire) == tag {
        return CACHED.1.load(Relaxed);
    }
    let identity = liveness::own_identity();
    CACHED.1.store(identity, Relaxed);
    CACHED.0.store(tag, Release);
    identity
}
