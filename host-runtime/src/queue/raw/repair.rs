//! Crash repair of a queue: [`RawQueue::repair_dead`] and the repairs made on behalf of calls
//! (a blocked call's stall check, a failing call's rate-limited look for the dead, a
//! registration that found the table full), each within [`REPAIR_BUDGET`]; and what a repair
//! does about the dead participant's blob chunks and sleepers ([`LeaseRepair`]). The
//! participant protocol itself is in `shared/member.rs` and ipc-core; the crate's `LAYOUT.md`
//! (*Participants and repair*, *A process killed at any instruction*) has the argument.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use ipc_core::{ParticipantId, RepairHooks, SlotReader};

use super::RawQueue;
use crate::queue::blob::{Class, Lease};
use crate::queue::layout::word;
use crate::shared::member::{Claimer, Verdicts};
use crate::wait::{notify_all, Deadline};

/// The most sleepers a repair takes out of one wait word for one dead participant: far more
/// threads than one process ever has asleep on one queue. The ledger count is shared memory,
/// which a broken process may fill with any number (`u32::MAX` made one repair take 40 s);
/// sleepers left counted beyond this only cost wake system calls for nobody, never a lost
/// wake-up.
const MAX_LEDGER_SLEEPERS: u32 = 1024;

/// How long a repair made on behalf of a call (a blocked call every [`STALL_CHECK`], a failing
/// `*_nowait`/`*_timeout` call, a registration that found the table full) keeps taking new
/// participant entries. One entry's repair is bounded by the layout (a scan of the ring's
/// slots, of the class's leases, and [`MAX_LEDGER_SLEEPERS`] per wait word), so such a repair
/// ends within this plus one entry's work, whatever the participant table holds, and a
/// blocked call spends at most a tenth of its time repairing.
///
/// [`STALL_CHECK`]: crate::wait::word::STALL_CHECK
const REPAIR_BUDGET: Duration = Duration::from_millis(20);

/// What a blocked or failed call waited for, which says what "stuck" looks like for it.
#[derive(Clone, Copy)]
pub(super) enum Waiting {
    /// A get: a message.
    Message,
    /// A put: room in the ring.
    Room,
    /// A long put: a free chunk.
    Chunk,
}

/// Crash repair: see `member.rs` and the crate's `LAYOUT.md`.
impl RawQueue {
    /// Repairs what dead processes left half-done in this queue, now: each message a dead
    /// producer was putting is skipped (counted in [`QueueStats::lost_in_put`]), each message
    /// a dead consumer was taking is released (counted in [`QueueStats::lost_in_get`]; a long
    /// message's blob chunk is freed), and their registrations are freed. Returns how many
    /// dead processes were repaired.
    ///
    /// A process is dead when the kernel says it can no longer run: it exited or was killed
    /// (a zombie not yet reaped counts; a process whose main thread ended while others run
    /// does not), or its pid now belongs to a process that started later. A stopped (`SIGSTOP`) or slow process is never repaired: the others wait for it
    /// as for any live one.
    ///
    /// Calls blocked on the queue do this by themselves when they have waited
    /// 200 ms while the queue looks stuck (a get sees messages it cannot reach, a put sees
    /// room it cannot reach), and so do failing `*_nowait` and `*_timeout` calls, at most
    /// every 200 ms per process, each for at most about 20 ms (then the next one goes on where
    /// it stopped); call it to resume at once after a known death, e.g. after joining a
    /// killed process. It goes through the whole participant table, whose size the queue's
    /// settings fix (`max_processes`), whatever another process wrote into it.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{Process, RawQueue};
    ///
    /// let q = RawQueue::new(4)?;
    /// let tx = q.clone();
    /// let p = Process::new(move || tx.put(b"hi").unwrap());
    /// p.start()?;
    /// p.join()?;
    /// // The child registered when it put, and exited without a word: its entry is freed.
    /// assert_eq!(q.repair_dead(), 1);
    /// assert_eq!(q.get()?, b"hi");
    /// assert_eq!(q.stats().lost_in_put, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`QueueStats::lost_in_put`]: super::QueueStats::lost_in_put
    /// [`QueueStats::lost_in_get`]: super::QueueStats::lost_in_get
    pub fn repair_dead(&self) -> usize {
        self.repair_through(&self.ring_and_id().0, None)
    }

    /// [`repair_dead`](Self::repair_dead) on behalf of a call (blocked, failing, or
    /// registering): it takes no new participant entry once `budget` has passed (see
    /// [`REPAIR_BUDGET`]); the next one of this process goes on from there.
    fn repair_within(&self, budget: Duration) -> usize {
        self.repair_through(&self.ring_and_id().0, Some(budget))
    }

    /// [`repair_dead`](Self::repair_dead) through the anonymous ring handle: for a process
    /// whose own registration found the table full (it is registering, so its claimer is not
    /// ready).
    pub(super) fn sweep_anonymously(&self) {
        self.repair_through(&Claimer::anonymous(self.ring_view()), Some(REPAIR_BUDGET));
    }

    fn repair_through(&self, ring: &Claimer<'_>, budget: Option<Duration>) -> usize {
        let mut verdicts = Verdicts::default();
        let until = Deadline::within(budget);
        let dead = self.inner.ring.repair_dead(
            ring,
            &mut verdicts,
            |id| LeaseRepair {
                queue: self,
                dead: id,
            },
            || until.has_passed(),
        );
        if dead > 0 {
            let repairs = self.inner.header.u64_at(8 * word::REPAIRS);
            repairs.fetch_add(dead, Relaxed);
            // Anyone may be unblocked now: wake them all to look again.
            let ring = self.ring_view();
            notify_all(ring.not_empty());
            notify_all(ring.not_full());
            for class in self.inner.classes.iter() {
                notify_all(class.freed());
            }
        }
        dead as usize
    }

    /// `on_stall` of the blocking calls: repairs if the queue looks stuck for `waiting`.
    pub(super) fn repair_if_stuck(&self, waiting: Waiting) {
        if self.looks_stuck(waiting) {
            self.repair_within(REPAIR_BUDGET);
        }
    }

    /// Whether what `waiting` waits for looks held up by someone (dead or alive).
    fn looks_stuck(&self, waiting: Waiting) -> bool {
        let ring = self.ring_view();
        match waiting {
            // Messages (or a claimed put) that no get can reach: a put in progress at the head.
            Waiting::Message => !ring.is_empty(),
            // Room that no put can reach: a get in progress where the tail must go next.
            Waiting::Room => !ring.is_full(),
            // Every chunk is leased, maybe to a dead process: only a look at the processes
            // tells (chunks are held outside the ring, where no state says "stuck").
            Waiting::Chunk => true,
        }
    }

    /// Passes `error` on, after a dead-participant check if one is due (see [`Stall`](crate::wait::Stall)).
    #[cold]
    pub(super) fn after_failure<E>(&self, waiting: Waiting, error: E) -> E {
        if self.looks_stuck(waiting) {
            self.look_for_dead();
        }
        error
    }

    /// A rate-limited [`repair_dead`](Self::repair_dead), for suspicions that are usually
    /// false (a wake-up that found nobody asleep, a call that failed while the queue looked
    /// stuck): at most every 200 ms per process, unless the last look found someone.
    #[cold]
    pub(super) fn look_for_dead(&self) {
        if self.inner.stall.due() && self.repair_within(REPAIR_BUDGET) > 0 {
            self.inner.stall.reset();
        }
    }
}

/// What a repair of the dead participant `dead` does about blob chunks (`LAYOUT.md`, *Blob
/// chunks: leases*, has the case-by-case argument). Every move is a CAS from exactly the lease
/// seen to `FREE`, so a repeated (taken-over) repair changes nothing more.
struct LeaseRepair<'q> {
    queue: &'q RawQueue,
    dead: ParticipantId,
}

impl RepairHooks for LeaseRepair<'_> {
    /// `dead` was taking this message (the ring counts it lost): its chunk is still
    /// `RING(p, n)` (not yet leased), or `HELD(dead, n)` (being copied out); anything else
    /// means `dead` had freed it already, and it may be someone else's now: left alone.
    fn salvage(&mut self, message: &SlotReader<'_>) {
        if let Some((class, d)) = self.queue.blob(&self.queue.descriptor_bytes(message)) {
            let _ = class.free_if(d.index, d.lease)
                || class.free_if(d.index, Lease::held(self.dead.get(), d.lease.nonce()));
        }
    }

    /// `dead` was writing this ring slot (abandoned now; the payload may be stale or torn):
    /// if it names a lease that is exactly `RING(dead, n)`, `dead` died between marking its
    /// chunk and publishing; nonces are unique per put, and a published `RING(dead, n)` lies
    /// in exactly one FULL slot, so no stale or torn payload matches another put's lease.
    fn abandoned(&mut self, payload: &SlotReader<'_>) {
        if let Some((class, d)) = self.queue.blob(&self.queue.descriptor_bytes(payload)) {
            if d.lease.is_ring() && d.lease.owner() == self.dead.get() {
                class.free_if(d.index, d.lease);
            }
        }
    }

    /// Every chunk still `HELD(dead, _)` was taken by `dead` outside the ring: as a producer
    /// before its descriptor was marked, or as a consumer mid-copy (whose message the ring
    /// repair counted). `dead`'s ring entry is still held, so no new process has its id.
    fn before_release(&mut self) {
        for class in self.queue.inner.classes.iter() {
            class.sweep(self.dead.get());
        }
        // Its sleepers, still counted in the wait words (see `wait::Wait`).
        let ring = self.queue.ring_view();
        let classes = self.queue.inner.classes.iter().map(Class::freed);
        let words = [ring.not_empty(), ring.not_full()]
            .into_iter()
            .chain(classes);
        for (slot, word) in words.enumerate() {
            if let Some(count) = self.queue.ledger(self.dead.get(), slot) {
                // Both numbers come from shared memory: read once each, and capped, so a
                // forged count costs at most `MAX_LEDGER_SLEEPERS` decrements, and never
                // takes the word's count below zero (see `MAX_LEDGER_SLEEPERS`).
                let sleepers = count.swap(0, Relaxed).min(word.waiters());
                for _ in 0..sleepers.min(MAX_LEDGER_SLEEPERS) {
                    word.finish_wait();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::raw::waiting::{NOT_EMPTY, NOT_FULL};

    /// A pid no process has: above the largest `pid_max` Linux allows (2^22).
    const NO_SUCH_PID: u32 = 1 << 30;

    /// A participant entry of a process that never ran, as another process could write one.
    fn forge_dead(q: &RawQueue) -> u16 {
        let handle = q.ring_view().register(NO_SUCH_PID, 0).unwrap();
        handle.participant().get()
    }

    #[test]
    fn a_forged_ledger_count_is_capped() {
        let q = RawQueue::builder().maxsize(4).build_raw().unwrap();
        let fake = forge_dead(&q);
        let (not_empty, not_full) = (q.ring_view().not_empty(), q.ring_view().not_full());
        // The dead one's ledger claims u32::MAX sleepers on both words (one repair took 40 s
        // on such a number); the words count 3000 and 5.
        for _ in 0..3000 {
            not_empty.prepare_wait();
        }
        for _ in 0..5 {
            not_full.prepare_wait();
        }
        q.ledger(fake, NOT_EMPTY).unwrap().store(u32::MAX, Relaxed);
        q.ledger(fake, NOT_FULL).unwrap().store(u32::MAX, Relaxed);
        assert_eq!(q.repair_dead(), 1);
        // At most MAX_LEDGER_SLEEPERS taken out, and never more than the word counts.
        assert_eq!(not_empty.waiters(), 3000 - MAX_LEDGER_SLEEPERS);
        assert_eq!(not_full.waiters(), 0);
        assert_eq!(q.ledger(fake, NOT_EMPTY).unwrap().load(Relaxed), 0);
    }

    #[test]
    fn a_repair_out_of_time_resumes_where_it_stopped() {
        let q = RawQueue::builder().maxsize(4).build_raw().unwrap();
        q.put(b"registers this process first").unwrap();
        let fake = forge_dead(&q);
        let ring = q.ring_and_id().0;
        // A repair that is out of time after every entry: it judges this (live) process's
        // entry and stops; the next one starts at the dead entry instead of judging the live
        // one again (which, with a table of slow entries, would never reach it).
        let repair = || {
            q.inner.ring.repair_dead(
                &ring,
                &mut Verdicts::default(),
                |id| LeaseRepair {
                    queue: &q,
                    dead: id,
                },
                || true,
            )
        };
        assert_eq!(repair(), 0);
        assert!(q.ring_view().participants().any(|p| p.id.get() == fake));
        assert_eq!(repair(), 1);
        assert!(!q.ring_view().participants().any(|p| p.id.get() == fake));
    }
}
