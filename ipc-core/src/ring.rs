//! The ring protocol shared by [`crate::Queue`] and [`crate::ByteQueue`]: claiming,
//! publishing and releasing positions. It knows slot *words* only; payloads are the
//! caller's business, done between a claim and its publish/release.
//!
//! The protocol is described in `LAYOUT.md`. The facts the code relies on:
//!
//! 1. A position is claimed only by a CAS from the exact word `FREE(lap)` (push) or
//!    `FULL(lap)` (pop); laps grow, so each such word exists once and at most one CAS
//!    wins it.
//! 2. Hints (`head`, `tail`) are moved on by the claimer's plain store or a helper's
//!    CAS; every position below any value a hint ever held was claimed. A stale or
//!    regressed hint therefore only meets slots that say "help me on".
//! 3. For a hint `x` read just before the slot word, `lap(word) - lap(x)` lies in
//!    `-1..=3`; outside `-1..=MAX_LAPS_AHEAD` (re-checked against a fresh hint) the
//!    memory is corrupt. This needs the hints to carry happens-before: every write of a
//!    hint or claim word is a Release and every read an Acquire, so a thread that reads
//!    hint `x` has seen every claim below `x`, and one that reads a slot word of a later
//!    lap has seen the hints that lap needed. With relaxed hints a stale slot word could
//!    look a lap too old (Miri's weak-memory emulation found this). On x86 these orders
//!    cost nothing; elsewhere they are plain acquire loads and release stores.
//!
//! Every loop is capped, whatever the shared words say (`LAYOUT.md`, *Hostile memory*):
//! a claim gives up as `Blocked` after [`Ring::claim_budget`] turns; the repair scan and
//! `len`'s walks visit each slot at most once.
// `SlotWords::word` hands out a slot word by index: its callers check the index.
#![allow(unsafe_code)]

use crate::sync::{AtomicWord, Ordering::*};
#[cfg(word64)]
use crate::word::ANONYMOUS;
use crate::word::{Geometry, SignedWord, SlotWord, State, Word, MAX_LAPS_AHEAD};

/// Access to the slot words of a ring.
pub(crate) trait SlotWords {
    /// The word of slot `index`.
    ///
    /// # Safety
    ///
    /// `index` < the ring's capacity.
    unsafe fn word(&self, index: usize) -> &AtomicWord;
}

/// A position this thread has claimed, to be published or released.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Claimed {
    pub(crate) index: usize,
    lap: Word,
}

/// Why a claim did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop<E> {
    /// Push: the slot at `tail` still holds the previous lap. Pop: nothing published at `head`.
    Blocked,
    /// The shared words are impossible; nothing was changed.
    Corrupt,
    /// The caller's check refused the message; nothing was changed.
    Refused(E),
}

/// One ring: its hints, its slot words and its geometry.
pub(crate) struct Ring<'a, S> {
    pub(crate) head: &'a AtomicWord,
    pub(crate) tail: &'a AtomicWord,
    pub(crate) slots: &'a S,
    pub(crate) geometry: Geometry,
}

impl<S: SlotWords> Ring<'_, S> {
    /// Claims the position at the tail for a producer `owner`.
    #[inline(always)]
    pub(crate) fn claim_push(&self, owner: Word) -> Result<Claimed, Stop<()>> {
        let geo = self.geometry;
        let mut tail = self.tail.load(Acquire);
        for _ in 0..self.claim_budget() {
            let index = geo.index(tail);
            if index >= geo.capacity() {
                return Err(Stop::Corrupt);
            }
            // SAFETY: index < capacity, checked just above.
            let slot = unsafe { self.slots.word(index) };
            // Acquire: pairs with the Release in `release()`; the last consumer's reads
            // of this slot happen before our writes to it.
            let word = slot.load(Acquire);
            let lap = geo.lap(tail);
            // The common case, tested first: the slot is free for this lap.
            if word == SlotWord::pack(lap, State::Free, 0) {
                let claim = SlotWord::pack(lap, State::Writing, owner);
                // AcqRel: Acquire as for the load above; Release so that whoever reads our
                // claim word also sees every hint value we saw (fact 3 needs it).
                if slot
                    .compare_exchange_weak(word, claim, AcqRel, Relaxed)
                    .is_ok()
                {
                    crate::crash::crash_point!("push.claimed");
                    // Only the claimer stores; see fact 2 for why a late store (a hint
                    // moving back) is harmless.
                    // Release: pairs with the Acquire loads of the hint (fact 3).
                    self.tail.store(geo.next(tail), Release);
                    return Ok(Claimed { index, lap });
                }
                tail = self.tail.load(Acquire);
                continue;
            }
            tail = match (geo.lap_distance(word, lap), SlotWord::state(word)) {
                (_, None) => return Err(Stop::Corrupt),
                // Taken (same lap) or long done (a later lap): help the hint on.
                (0, Some(State::Writing | State::Full | State::Reading | State::Abandoned)) => {
                    self.help(self.tail, tail)
                }
                (1..=MAX_LAPS_AHEAD, _) => self.help(self.tail, tail),
                // The previous lap is still in the slot: full.
                (-1, Some(State::Writing | State::Full | State::Reading | State::Abandoned)) => {
                    return Err(Stop::Blocked)
                }
                (d, _) if d > MAX_LAPS_AHEAD => self.recheck(self.tail, tail)?,
                // FREE of this lap with an owner set, FREE of an earlier lap, or two
                // laps behind: impossible.
                _ => return Err(Stop::Corrupt),
            };
        }
        // Out of turns: a peer keeps changing the words under us (or an absurd run of lost
        // races). Nothing was changed; the caller may try again.
        Err(Stop::Blocked)
    }

    /// Claims the message at the head for a consumer `owner`. `check` sees the slot
    /// index before the claim and may refuse it (nothing changes then).
    #[inline(always)]
    pub(crate) fn claim_pop<E>(
        &self,
        owner: Word,
        mut check: impl FnMut(usize) -> Result<(), E>,
    ) -> Result<Claimed, Stop<E>> {
        let geo = self.geometry;
        let mut head = self.head.load(Acquire);
        for _ in 0..self.claim_budget() {
            let index = geo.index(head);
            if index >= geo.capacity() {
                return Err(Stop::Corrupt);
            }
            // SAFETY: index < capacity, checked just above.
            let slot = unsafe { self.slots.word(index) };
            // Acquire: pairs with the Release in `publish()`; the payload is visible.
            let word = slot.load(Acquire);
            let lap = geo.lap(head);
            // The common case, tested first: a message of this lap is published.
            if word == SlotWord::pack(lap, State::Full, 0) {
                check(index).map_err(Stop::Refused)?;
                let claim = SlotWord::pack(lap, State::Reading, owner);
                // AcqRel: Acquire as for the load above; Release so that whoever reads our
                // claim word also sees every hint value we saw (fact 3 needs it).
                if slot
                    .compare_exchange_weak(word, claim, AcqRel, Relaxed)
                    .is_ok()
                {
                    crate::crash::crash_point!("pop.claimed");
                    // Release: pairs with the Acquire loads of the hint (fact 3).
                    self.head.store(geo.next(head), Release);
                    return Ok(Claimed { index, lap });
                }
                head = self.head.load(Acquire);
                continue;
            }
            head = match (geo.lap_distance(word, lap), SlotWord::state(word)) {
                (_, None) => return Err(Stop::Corrupt),
                // Not yet published (free, or a producer still writing): empty.
                (0, Some(State::Free | State::Writing)) => return Err(Stop::Blocked),
                // An abandoned push: free its slot for the next lap (one CAS wins), move on.
                (0, Some(State::Abandoned)) => {
                    let free = SlotWord::pack(geo.next_lap(lap), State::Free, 0);
                    // AcqRel: acquires the abandoner's Release and passes it on to the
                    // next producer, whose payload writes come after the abandoner's.
                    let _ = slot.compare_exchange(word, free, AcqRel, Relaxed);
                    self.help(self.head, head)
                }
                // Being read (same lap) or consumed long ago (a later lap): help on.
                (0, Some(State::Reading)) => self.help(self.head, head),
                (1..=MAX_LAPS_AHEAD, _) => self.help(self.head, head),
                // A consumer of the previous lap still reads; nothing was pushed here.
                (-1, Some(State::Reading)) => return Err(Stop::Blocked),
                (d, _) if d > MAX_LAPS_AHEAD => self.recheck(self.head, head)?,
                // FULL of this lap with an owner set, or other impossible words.
                _ => return Err(Stop::Corrupt),
            };
        }
        // Out of turns, as in `claim_push`.
        Err(Stop::Blocked)
    }

    /// For a consumer about to sleep until the queue is not empty, after it registered as
    /// a waiter ([`WaitWord::prepare_wait`](crate::WaitWord::prepare_wait)) and found it
    /// empty: marks the slot at the head with a value-preserving RMW, so that the producer
    /// whose claim takes that slot sees the registration without a fence of its own (see
    /// [`WaitWord::notify_marked`](crate::WaitWord::notify_marked)). Returns whether the
    /// mark took: the slot was FREE for the head's lap, so its claim is still to come.
    /// `false` (a push is being written there, or the hint moved on): the producer may
    /// have missed the registration; the caller must not sleep without a timeout.
    pub(crate) fn mark_empty_wait(&self) -> bool {
        let geo = self.geometry;
        let head = self.head.load(Acquire);
        let index = geo.index(head);
        if index >= geo.capacity() {
            return false;
        }
        // SAFETY: index < capacity, checked just above.
        let slot = unsafe { self.slots.word(index) };
        let free = SlotWord::pack(geo.lap(head), State::Free, 0);
        // AcqRel: Release pairs with the Acquire of the claim CAS in `claim_push()`, which
        // reads this value (or a later mark: RMWs continue the release sequence), so the
        // waiter's registration, made before, happens before the claimer's look at it. The
        // slot keeps its value, so the claim CAS still succeeds.
        slot.compare_exchange(free, free, AcqRel, Relaxed).is_ok()
    }

    /// Makes a claimed push visible to consumers.
    #[inline]
    pub(crate) fn publish(&self, claimed: Claimed) {
        // SAFETY: a `Claimed` index was bounds-checked by the claim that made it.
        let slot = unsafe { self.slots.word(claimed.index) };
        // Release: pairs with the Acquire load in `claim_pop()`; publishes the payload.
        slot.store(SlotWord::pack(claimed.lap, State::Full, 0), Release);
    }

    /// Hands a slot claimed by a pop to the next lap's producer.
    #[inline]
    pub(crate) fn release(&self, claimed: Claimed) {
        let next = SlotWord::pack(self.geometry.next_lap(claimed.lap), State::Free, 0);
        // SAFETY: a `Claimed` index was bounds-checked by the claim that made it.
        let slot = unsafe { self.slots.word(claimed.index) };
        // Release: pairs with the Acquire load in `claim_push()`; our reads of the
        // payload are done before the next producer writes it.
        slot.store(next, Release);
    }

    /// Gives up a claimed push: its position stays in the ring, marked abandoned, until
    /// the next consumer passes and frees it.
    #[cold]
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn abandon(&self, claimed: Claimed) {
        // SAFETY: a `Claimed` index was bounds-checked by the claim that made it.
        let slot = unsafe { self.slots.word(claimed.index) };
        // Release: pairs with the AcqRel CAS in `claim_pop()` that frees the slot.
        slot.store(SlotWord::pack(claimed.lap, State::Abandoned, 0), Release);
    }

    /// Repairs every claim `owner` holds, for an owner that can no longer act: each
    /// slot it was writing is first handed to `abandon` (while it still says WRITING by
    /// the dead owner, so nobody else touches its payload), then becomes ABANDONED
    /// (consumers skip it); each slot it was reading is taken over by `me` and handed to
    /// `salvage` (its payload is intact: consumers never write it), then released. Each
    /// change is a CAS on the exact word seen, so concurrent repairers never repair a
    /// slot twice. Returns the numbers of (pushes, pops) repaired.
    #[cfg(word64)]
    #[cfg_attr(all(loom, not(test)), allow(dead_code))]
    pub(crate) fn repair(
        &self,
        owner: Word,
        me: Word,
        mut abandon: impl FnMut(Claimed),
        mut salvage: impl FnMut(Claimed),
    ) -> (u64, u64) {
        let (mut pushes, mut pops) = (0, 0);
        // While the tail is in its first lap, slots are first claimed in index order (fact 2:
        // a claim at index i needs the tail at i, so every index below was claimed first), and
        // a claimed slot never holds the all-zero word again (its lap has moved on, or its
        // state is not FREE). So the first all-zero slot ends the slots ever used: the scan
        // stops there and never touches (and, in a lazily committed mapping, never commits)
        // the rest. Once the tail has wrapped, every slot was used and all are scanned.
        let first_lap = self.geometry.stamp_lap(self.tail.load(Acquire)) == 0;
        for index in 0..self.geometry.capacity() {
            // SAFETY: index < capacity.
            let slot = unsafe { self.slots.word(index) };
            // Acquire: pairs with the owner's last stores to the slot.
            let word = slot.load(Acquire);
            if first_lap && word == SlotWord::pack(0, State::Free, ANONYMOUS) {
                break;
            }
            if owner == ANONYMOUS || SlotWord::owner(word) != owner {
                continue;
            }
            let lap = SlotWord::lap(word);
            match SlotWord::state(word) {
                Some(State::Writing) => {
                    // Before the CAS: once ABANDONED, a consumer may pass and free the slot
                    // and a producer rewrite the payload while `abandon` reads it. A
                    // repairer that dies here leaves the slot WRITING: the take-over calls
                    // `abandon` again (the host's handling must be idempotent).
                    abandon(Claimed { index, lap });
                    let abandoned = SlotWord::pack(lap, State::Abandoned, 0);
                    // AcqRel: as `abandon()`'s Release, and acquires the owner's writes.
                    if slot
                        .compare_exchange(word, abandoned, AcqRel, Relaxed)
                        .is_ok()
                    {
                        pushes += 1;
                        crate::crash::crash_point!("repair.abandoned");
                    }
                }
                Some(State::Reading) => {
                    let taken = SlotWord::pack(lap, State::Reading, me);
                    // AcqRel: acquires the payload published before the dead owner's
                    // claim; releases our take-over like any claim.
                    if slot.compare_exchange(word, taken, AcqRel, Relaxed).is_ok() {
                        crate::crash::crash_point!("repair.taken");
                        let claimed = Claimed { index, lap };
                        salvage(claimed);
                        self.release(claimed);
                        pops += 1;
                    }
                }
                _ => {}
            }
        }
        (pushes, pops)
    }

    /// Claimed positions not yet claimed by a consumer: pushed (or being pushed)
    /// messages not yet taken. A snapshot, exact when the queue is quiescent.
    ///
    /// The hints may lag the truth (a claimer's late store moves a hint back), so each
    /// is first walked forward past positions its slot words show as taken: at most a
    /// capacity's worth of steps, usually none.
    pub(crate) fn len(&self) -> usize {
        // Tail first: a pop between the two reads can only shrink the result.
        let tail = self.frontier(self.tail.load(Relaxed), |distance, state| {
            distance > 0 || (distance == 0 && state != Some(State::Free))
        });
        let head = self.frontier(self.head.load(Relaxed), |distance, state| {
            distance > 0 || (distance == 0 && state == Some(State::Reading))
        });
        self.geometry.distance(head, tail)
    }

    /// Walks `stamp` forward while `taken(lap distance, state)` holds for its slot.
    fn frontier(&self, mut stamp: Word, taken: impl Fn(SignedWord, Option<State>) -> bool) -> Word {
        let geo = self.geometry;
        for _ in 0..geo.capacity() {
            let index = geo.index(stamp);
            if index >= geo.capacity() {
                break;
            }
            // SAFETY: index < capacity, checked just above.
            let word = unsafe { self.slots.word(index) }.load(Relaxed);
            if !taken(
                geo.lap_distance(word, geo.lap(stamp)),
                SlotWord::state(word),
            ) {
                break;
            }
            stamp = geo.next(stamp);
        }
        stamp
    }

    /// How many turns a claim takes at most before it gives up as `Blocked`. A turn is a
    /// lost claim CAS (another claimer won that position) or one step of helping a hint on.
    /// With well-behaved participants a hint lags at most a lap behind the truth (a
    /// claimer's late store moves it back, never further than the capacity), so a claim
    /// that walks a full lap, twice over, and then still loses 64 races in a row is under
    /// a contention no real workload makes: the cap only ends the loops a process writing
    /// the region could keep going forever.
    #[inline(always)]
    pub(crate) fn claim_budget(&self) -> usize {
        2 * self.geometry.capacity() + 64
    }

    /// Moves `hint` from `seen` to the next position unless someone already moved it;
    /// returns the hint's value to continue from.
    #[inline]
    fn help(&self, hint: &AtomicWord, seen: Word) -> Word {
        let next = self.geometry.next(seen);
        // AcqRel/Acquire: helpers pass on the happens-before chain that fact 3 needs, and
        // a failed CAS's value is the hint we continue from.
        match hint.compare_exchange(seen, next, AcqRel, Acquire) {
            Ok(_) => next,
            Err(now) => now,
        }
    }

    /// A slot claims to be impossibly far ahead of `seen`: either our hint was stale
    /// (it has moved since) or the memory is corrupt (fact 3).
    #[cold]
    fn recheck<E>(&self, hint: &AtomicWord, seen: Word) -> Result<Word, Stop<E>> {
        let now = hint.load(Acquire);
        if now == seen {
            Err(Stop::Corrupt)
        } else {
            Ok(now)
        }
    }
}
