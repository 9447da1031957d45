//! [`Queue`]: a typed, fixed-capacity MPMC queue that needs no allocator and can live in
//! a `static`.

// Values live in `UnsafeCell` slots, moved in and out by the claim holder.
#![allow(unsafe_code)]

use core::fmt;
use core::mem::MaybeUninit;

use crate::pad::CachePadded;
use crate::ring::{Ring, SlotWords, Stop};
use crate::sync::{AtomicWord, UnsafeCell};
use crate::word::{Geometry, ANONYMOUS};

struct Slot<T> {
    word: AtomicWord,
    value: UnsafeCell<MaybeUninit<T>>,
}

impl<T> Slot<T> {
    crate::sync::const_fn! {
        fn new() -> Self {
            Self { word: AtomicWord::new(0), value: UnsafeCell::new(MaybeUninit::uninit()) }
        }
    }
}

impl<T, const N: usize> SlotWords for [Slot<T>; N] {
    #[inline(always)]
    unsafe fn word(&self, index: usize) -> &AtomicWord {
        &self[index].word
    }
}

/// A bounded multi-producer multi-consumer queue of `T`, holding at most `N` items.
///
/// Lock-free on the same terms as crossbeam's `ArrayQueue`, and built on the same ring
/// protocol as [`crate::ByteQueue`] (see `LAYOUT.md`): one compare-and-swap per push or
/// pop, no allocation, usable from threads and interrupt handlers. `new` is a
/// `const fn`, so a queue can be a `static`.
///
/// A thread suspended between claiming a slot and finishing with it never makes others
/// fail on a queue that is not full or empty: other producers and consumers go past
/// it. Consumers do wait (see [`Queue::pop`]) for a message whose producer was
/// suspended mid-push, since FIFO order puts that message next.
///
/// `N` may be any capacity from 1 to [`crate::MAX_CAPACITY`]; a bad `N` fails to compile.
///
/// # Examples
///
/// ```
/// use ipc_core::Queue;
///
/// static EVENTS: Queue<u32, 4> = Queue::new();
///
/// EVENTS.push(1).unwrap();
/// EVENTS.push(2).unwrap();
/// assert_eq!(EVENTS.len(), 2);
/// assert_eq!(EVENTS.pop(), Some(1));
/// assert_eq!(EVENTS.pop(), Some(2));
/// assert_eq!(EVENTS.pop(), None);
/// ```
pub struct Queue<T, const N: usize> {
    head: CachePadded<AtomicWord>,
    tail: CachePadded<AtomicWord>,
    slots: [Slot<T>; N],
}

// SAFETY: a value moves into the queue on one thread and out on another, so `T: Send`
// suffices; the ring protocol gives each slot's value to one thread at a time.
unsafe impl<T: Send, const N: usize> Send for Queue<T, N> {}
// SAFETY: as above; `&Queue` only moves whole values in and out, never shares a `&T`.
unsafe impl<T: Send, const N: usize> Sync for Queue<T, N> {}

impl<T, const N: usize> Queue<T, N> {
    const GEOMETRY: Geometry = match Geometry::new(N) {
        Some(geometry) => geometry,
        None => panic!("Queue capacity N must be in 1..=ipc_core::MAX_CAPACITY"),
    };

    /// An empty queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: ipc_core::Queue<String, 2> = ipc_core::Queue::new();
    /// assert!(q.is_empty());
    /// ```
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        let _ = Self::GEOMETRY; // evaluates the capacity check at compile time
        Self {
            head: CachePadded::new(AtomicWord::new(0)),
            tail: CachePadded::new(AtomicWord::new(0)),
            slots: [const { Slot::new() }; N],
        }
    }

    /// An empty queue (loom build: loom's atomics are not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        let _ = Self::GEOMETRY;
        Self {
            head: CachePadded::new(AtomicWord::new(0)),
            tail: CachePadded::new(AtomicWord::new(0)),
            slots: core::array::from_fn(|_| Slot::new()),
        }
    }

    #[inline(always)]
    fn ring(&self) -> Ring<'_, [Slot<T>; N]> {
        Ring {
            head: &self.head,
            tail: &self.tail,
            slots: &self.slots,
            geometry: Self::GEOMETRY,
        }
    }

    /// Appends `value` at the back.
    ///
    /// # Errors
    ///
    /// Gives `value` back if the queue is full.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = ipc_core::Queue::<u8, 1>::new();
    /// assert_eq!(q.push(1), Ok(()));
    /// assert_eq!(q.push(2), Err(2));
    /// ```
    #[inline]
    pub fn push(&self, value: T) -> Result<(), T> {
        let ring = self.ring();
        match ring.claim_push(ANONYMOUS) {
            Ok(claimed) => {
                self.slots[claimed.index].value.with_mut(|cell| {
                    // SAFETY: the claim CAS made this thread the slot's only user until
                    // `publish`; the slot is empty (FREE), so nothing is overwritten.
                    unsafe { cell.write(MaybeUninit::new(value)) }
                });
                ring.publish(claimed);
                Ok(())
            }
            Err(stop) => {
                // Loom runs in release: check there too.
                if cfg!(any(debug_assertions, loom)) {
                    assert_eq!(stop, Stop::Blocked, "private slot words cannot be corrupt");
                }
                Err(value)
            }
        }
    }

    /// Removes the value at the front.
    ///
    /// Returns `None` if the queue is empty, or if the next value's producer has
    /// claimed its slot but not yet finished writing it (FIFO order puts that value
    /// next).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = ipc_core::Queue::<&str, 2>::new();
    /// q.push("a").unwrap();
    /// assert_eq!(q.pop(), Some("a"));
    /// assert_eq!(q.pop(), None);
    /// ```
    #[inline]
    pub fn pop(&self) -> Option<T> {
        let ring = self.ring();
        let claimed = match ring.claim_pop::<()>(ANONYMOUS, |_| Ok(())) {
            Ok(claimed) => claimed,
            Err(stop) => {
                if cfg!(any(debug_assertions, loom)) {
                    assert_eq!(stop, Stop::Blocked, "private slot words cannot be corrupt");
                }
                return None;
            }
        };
        let value = self.slots[claimed.index].value.with_mut(|cell| {
            // SAFETY: the claim CAS saw FULL, so the producer's write happened before
            // (Acquire) and this thread is the slot's only user until `release`.
            unsafe { cell.read().assume_init() }
        });
        ring.release(claimed);
        Some(value)
    }

    /// For a consumer about to sleep until the queue is not empty, after
    /// [`WaitWord::prepare_wait`](crate::WaitWord::prepare_wait) and a `pop` that found
    /// nothing: whether it may sleep until a producer that calls
    /// [`WaitWord::notify_marked`](crate::WaitWord::notify_marked) after its `push` wakes
    /// it. See [`ByteQueue::mark_empty_wait`](crate::ByteQueue::mark_empty_wait).
    pub fn mark_empty_wait(&self) -> bool {
        self.ring().mark_empty_wait()
    }

    /// The number of values in the queue (a snapshot; may be stale by the time it is read).
    pub fn len(&self) -> usize {
        self.ring().len()
    }

    /// Whether [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether [`len`](Self::len) is `N`.
    pub fn is_full(&self) -> bool {
        self.len() == N
    }

    /// The capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }
}

#[cfg(not(loom))]
impl<T, const N: usize> Default for Queue<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> Drop for Queue<T, N> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

impl<T, const N: usize> fmt::Debug for Queue<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.len())
            .field("capacity", &N)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::word::Word;

    extern crate std;
    use std::{sync::Arc, vec::Vec};

    impl<T, const N: usize> Queue<T, N> {
        /// An empty queue whose head and tail start at `stamp` (wrap-around tests).
        fn starting_at(stamp: Word) -> Self {
            let q = Self::new();
            let geo = Self::GEOMETRY;
            q.head.store(stamp, crate::sync::Ordering::Relaxed);
            q.tail.store(stamp, crate::sync::Ordering::Relaxed);
            for (index, slot) in q.slots.iter().enumerate() {
                let lap = geo.lap(geo.stamp_at_or_after(stamp, index));
                slot.word.store(
                    crate::word::SlotWord::pack(lap, crate::word::State::Free, 0),
                    crate::sync::Ordering::Relaxed,
                );
            }
            q
        }
    }

    #[test]
    fn fifo_and_full_empty() {
        let q = Queue::<u32, 3>::new();
        assert!(q.is_empty());
        for i in 0..3 {
            q.push(i).unwrap();
        }
        assert!(q.is_full());
        assert_eq!(q.push(9), Err(9));
        assert_eq!(q.len(), 3);
        for i in 0..3 {
            assert_eq!(q.pop(), Some(i));
        }
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn many_laps_keep_order() {
        let q = Queue::<usize, 5>::new();
        let mut next_in = 0;
        let mut next_out = 0;
        for round in 0..200 {
            for _ in 0..(round % 5 + 1) {
                if q.push(next_in).is_ok() {
                    next_in += 1;
                }
            }
            for _ in 0..(round % 3 + 1) {
                if let Some(v) = q.pop() {
                    assert_eq!(v, next_out);
                    next_out += 1;
                }
            }
            assert_eq!(q.len(), next_in - next_out);
        }
    }

    #[test]
    fn wraps_the_stamp_counter() {
        for n in [1usize, 2, 3, 4, 7] {
            // Start a few laps before the stamp (and the word's lap field) wraps.
            let start = Word::MAX - 3 * n.next_power_of_two() as Word + 1;
            check_wrap(start, n);
        }
    }

    #[test]
    fn wraps_the_slot_word_lap_field() {
        // On 64-bit targets the word keeps 48 lap bits; stamps wrap much later.
        let lap_field_wrap: Word = 1 << crate::word::WORD_LAP_BITS;
        check_wrap((lap_field_wrap - 2) << 2, 4);
    }

    fn check_wrap(start: Word, n: usize) {
        match n {
            1 => run_wrap::<1>(start),
            2 => run_wrap::<2>(start),
            3 => run_wrap::<3>(start),
            4 => run_wrap::<4>(start),
            7 => run_wrap::<7>(start),
            _ => unreachable!(),
        }
    }

    fn run_wrap<const N: usize>(start: Word) {
        let q = Queue::<u64, N>::starting_at(start);
        let mut pushed = 0u64;
        let mut popped = 0u64;
        for _ in 0..10 * N {
            while q.push(pushed).is_ok() {
                pushed += 1;
            }
            assert_eq!(q.len(), N, "full after wrap");
            assert_eq!(q.pop(), Some(popped));
            popped += 1;
        }
        while let Some(v) = q.pop() {
            assert_eq!(v, popped);
            popped += 1;
        }
        assert_eq!(pushed, popped);
        assert!(pushed as usize >= 10 * N);
    }

    #[test]
    fn drops_what_is_left() {
        let item = Arc::new(());
        {
            let q = Queue::<Arc<()>, 4>::new();
            for _ in 0..3 {
                q.push(item.clone()).unwrap();
            }
            drop(q.pop());
        }
        assert_eq!(Arc::strong_count(&item), 1);
    }

    #[test]
    fn threads_deliver_exactly_once() {
        const PER: usize = if cfg!(miri) { 50 } else { 20_000 };
        let q = Arc::new(Queue::<usize, 8>::new());
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..PER {
                        let mut v = p * PER + i;
                        while let Err(back) = q.push(v) {
                            v = back;
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let taken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let (q, taken) = (q.clone(), taken.clone());
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    let mut last = [None::<usize>; 2];
                    while taken.load(std::sync::atomic::Ordering::Relaxed) < 2 * PER {
                        match q.pop() {
                            Some(v) => {
                                taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let p = v / PER;
                                assert!(last[p].is_none_or(|l| l < v), "per-producer FIFO");
                                last[p] = Some(v);
                                got.push(v);
                            }
                            None => std::thread::yield_now(),
                        }
                    }
                    got
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        let mut all: Vec<usize> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..2 * PER).collect::<Vec<_>>());
    }
}

/// Loom models of crash repair: "a crash" is a thread that stops for good at a point
/// of its operation; once it has stopped (joined: the kernel's word that it is dead),
/// a repairer repairs its claims while the others keep going.
///
/// Run: `RUSTFLAGS="--cfg loom" cargo test -p ipc-core --release --lib crash_model`.
#[cfg(all(test, loom, word64))]
mod crash_model {
    use super::*;
    use crate::word::Word;
    use loom::sync::Arc;
    use loom::thread;

    extern crate std;
    use std::vec::Vec;

    const DEAD: Word = 1;
    const REPAIRER: Word = 2;

    /// Where the doomed participant stops.
    #[derive(Clone, Copy, Debug)]
    enum Crash {
        /// Finishes normally.
        Never,
        /// After its claim, before its publish (push) or release (pop).
        AfterClaim,
    }

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(2);
        builder.check(f);
    }

    /// Pushes `value` as owner `owner`, stopping at `crash`. Whether it claimed a slot,
    /// and whether it published.
    fn push_as(q: &Queue<u32, 2>, owner: Word, value: u32, crash: Crash) -> (bool, bool) {
        let ring = q.ring();
        let Ok(claimed) = ring.claim_push(owner) else {
            return (false, false);
        };
        if let Crash::AfterClaim = crash {
            return (true, false);
        }
        q.slots[claimed.index].value.with_mut(|cell| {
            // SAFETY: our claim; the slot is empty.
            unsafe { cell.write(MaybeUninit::new(value)) }
        });
        ring.publish(claimed);
        (true, true)
    }

    /// Pops as owner `owner`, stopping at `crash`.
    fn pop_as(q: &Queue<u32, 2>, owner: Word, crash: Crash) -> Option<u32> {
        let ring = q.ring();
        let claimed = ring.claim_pop::<()>(owner, |_| Ok(())).ok()?;
        if let Crash::AfterClaim = crash {
            return None;
        }
        // SAFETY: our claim saw FULL; the value is initialised.
        let value = q.slots[claimed.index]
            .value
            .with_mut(|cell| unsafe { cell.read().assume_init() });
        ring.release(claimed);
        Some(value)
    }

    /// A producer dies mid-push while another pushes and a consumer pops; after the
    /// death a repair runs concurrently with them. Then everything drains: the live
    /// producer's message arrives exactly once, the dead one's at most once, and a
    /// message is missing only if the repair counted it.
    fn producer_dies(crash: Crash) {
        model(move || {
            let q = Arc::new(Queue::<u32, 2>::new());
            let doomed = {
                let q = q.clone();
                thread::spawn(move || push_as(&q, DEAD, 1, crash))
            };
            let live = {
                let q = q.clone();
                thread::spawn(move || push_as(&q, 3, 2, Crash::Never))
            };
            let consumer = {
                let q = q.clone();
                thread::spawn(move || pop_as(&q, 4, Crash::Never))
            };
            let (claimed, published) = doomed.join().unwrap();
            let (lost, _) =
                q.ring()
                    .repair(DEAD, REPAIRER, |_| {}, |_| unreachable!("no pop claim"));
            let (_, live_ok) = live.join().unwrap();
            let mut got: Vec<u32> = consumer.join().unwrap().into_iter().collect();
            while let Some(v) = q.pop() {
                got.push(v);
            }
            got.sort_unstable();
            let mut expect = Vec::new();
            if published {
                expect.push(1);
            }
            if live_ok {
                expect.push(2);
            }
            assert_eq!(got, expect, "crash {crash:?}, lost {lost}");
            assert_eq!(
                lost,
                u64::from(claimed && !published),
                "exactly the dead claim is counted"
            );
            assert!(live_ok, "a queue of 2 had room for the live producer");
        });
    }

    #[test]
    fn producer_finishes() {
        producer_dies(Crash::Never);
    }

    #[test]
    fn producer_dies_after_its_claim() {
        producer_dies(Crash::AfterClaim);
    }

    /// A consumer dies mid-pop; the repair takes its message over (salvage) while a
    /// producer and another consumer go on: every message is delivered or salvaged,
    /// exactly once.
    #[test]
    fn consumer_dies_after_its_claim() {
        model(|| {
            let q = Arc::new(Queue::<u32, 2>::new());
            q.push(1).unwrap();
            let doomed = {
                let q = q.clone();
                thread::spawn(move || pop_as(&q, DEAD, Crash::AfterClaim))
            };
            let producer = {
                let q = q.clone();
                thread::spawn(move || q.push(2).is_ok())
            };
            let consumer = {
                let q = q.clone();
                thread::spawn(move || q.pop())
            };
            assert_eq!(doomed.join().unwrap(), None);
            let mut got: Vec<u32> = Vec::new();
            let q2 = q.clone();
            let (_, pops) = q.ring().repair(
                DEAD,
                REPAIRER,
                |_| {},
                |claimed| {
                    // SAFETY: the repair took the slot over; its value was published.
                    got.push(
                        q2.slots[claimed.index]
                            .value
                            .with_mut(|cell| unsafe { cell.read().assume_init() }),
                    );
                },
            );
            let pushed_2 = producer.join().unwrap();
            got.extend(consumer.join().unwrap());
            while let Some(v) = q.pop() {
                got.push(v);
            }
            got.sort_unstable();
            let expect: Vec<u32> = if pushed_2 { [1, 2].into() } else { [1].into() };
            assert_eq!(got, expect, "pops repaired {pops}");
        });
    }

    /// A model of host-runtime's blob leases (`host-runtime/LAYOUT.md`, *Blob chunks:
    /// leases*) over this ring, through the `RepairHooks` steps of
    /// `ByteQueue::repair_with`: two chunks with a lease word each, a ring message that
    /// names a chunk and its `RING` lease. A producer or a consumer stops for good at a
    /// step of a long put or get while others go on; the repair of the dead one (after it
    /// stopped) runs concurrently with them. Then everything drains: every chunk is free
    /// again, and each message is delivered once or counted lost once.
    mod leases {
        use super::*;
        use loom::sync::atomic::{AtomicU64, Ordering::*};

        const FREE: u64 = 0;
        const fn held(owner: Word, nonce: u32) -> u64 {
            (nonce as u64) << 16 | owner << 2 | 1
        }
        const fn ring(owner: Word, nonce: u32) -> u64 {
            (nonce as u64) << 16 | owner << 2 | 2
        }
        /// A ring message: `nonce << 8 | producer << 4 | chunk index`.
        const fn message(index: usize, producer: Word, nonce: u32) -> u32 {
            nonce << 8 | (producer as u32) << 4 | index as u32
        }
        const fn decode(m: u32) -> (usize, u64) {
            let (index, producer, nonce) = ((m & 0xf) as usize, (m >> 4 & 0xf) as Word, m >> 8);
            (index, ring(producer, nonce))
        }

        struct Pool {
            q: Queue<u32, 2>,
            leases: [AtomicU64; 2],
        }

        /// Where a doomed participant stops (`Never`: it finishes).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
        enum Step {
            Taken,
            Claimed,
            Described,
            Marked,
            Never,
        }

        /// A long put as `owner`: whether its message was published.
        fn put(p: &Pool, owner: Word, nonce: u32, stop: Step) -> bool {
            let mine = held(owner, nonce);
            let Some(index) = (0..2).find(|&i| {
                p.leases[i]
                    .compare_exchange(FREE, mine, Acquire, Relaxed)
                    .is_ok()
            }) else {
                return false;
            };
            if stop == Step::Taken {
                return false;
            }
            let ring_ = p.q.ring();
            let Ok(claimed) = ring_.claim_push(owner) else {
                p.leases[index].store(FREE, Release);
                return false;
            };
            if stop == Step::Claimed {
                return false;
            }
            p.q.slots[claimed.index].value.with_mut(|cell| {
                // SAFETY: our claim; the slot is ours to write.
                unsafe { cell.write(MaybeUninit::new(message(index, owner, nonce))) }
            });
            if stop == Step::Described {
                return false;
            }
            // Only we move a lease we hold: a check and a store (the host's `hand_over`).
            assert_eq!(p.leases[index].load(Acquire), mine);
            p.leases[index].store(ring(owner, nonce), Release);
            if stop == Step::Marked {
                return false;
            }
            ring_.publish(claimed);
            true
        }

        /// A long get as `owner`, everything inside the ring claim: the message got.
        fn get(p: &Pool, owner: Word, stop: Step) -> Option<u32> {
            let ring_ = p.q.ring();
            let claimed = ring_.claim_pop::<()>(owner, |_| Ok(())).ok()?;
            // SAFETY: our claim saw FULL: the value was written before the publish.
            let m = p.q.slots[claimed.index]
                .value
                .with_mut(|cell| unsafe { cell.read().assume_init() });
            if stop == Step::Claimed {
                return None;
            }
            let (index, named) = decode(m);
            assert_eq!(p.leases[index].load(Acquire), named, "the lease named");
            p.leases[index].store(held(owner, (named >> 16) as u32), Release);
            if stop == Step::Taken {
                return None;
            }
            p.leases[index].store(FREE, Release);
            if stop == Step::Marked {
                return None;
            }
            ring_.release(claimed);
            Some(m)
        }

        /// The repair of `DEAD` with host-runtime's three hooks.
        fn repair(p: &Pool) -> (u64, u64) {
            let free_if = |index: usize, seen: u64| {
                p.leases[index]
                    .compare_exchange(seen, FREE, AcqRel, Relaxed)
                    .is_ok()
            };
            let payload = |index: usize| {
                // SAFETY: every slot was written before the model starts (no uninit read),
                // and the slot is claimed by the dead participant or taken over by us.
                p.q.slots[index]
                    .value
                    .with_mut(|cell| unsafe { cell.read().assume_init() })
            };
            let lost = p.q.ring().repair(
                DEAD,
                REPAIRER,
                |claimed| {
                    let (index, named) = decode(payload(claimed.index));
                    if named >> 2 & 0x3fff == DEAD {
                        free_if(index, named);
                    }
                },
                |claimed| {
                    let (index, named) = decode(payload(claimed.index));
                    let _ =
                        free_if(index, named) || free_if(index, held(DEAD, (named >> 16) as u32));
                },
            );
            for index in 0..2 {
                let seen = p.leases[index].load(Acquire);
                if seen & 3 == 1 && seen >> 2 & 0x3fff == DEAD {
                    free_if(index, seen);
                }
            }
            lost
        }

        /// A pool whose slots both hold stale messages of finished puts (nonce 0).
        fn pool() -> Arc<Pool> {
            let p = Arc::new(Pool {
                q: Queue::new(),
                leases: [AtomicU64::new(FREE), AtomicU64::new(FREE)],
            });
            for index in 0..2 {
                p.q.push(message(index, DEAD, 0)).unwrap();
                p.q.pop().unwrap();
            }
            p
        }

        fn producer_dies(stop: Step) {
            model(move || {
                let p = pool();
                let doomed = {
                    let p = p.clone();
                    thread::spawn(move || put(&p, DEAD, 1, stop))
                };
                let consumer = {
                    let p = p.clone();
                    thread::spawn(move || get(&p, 4, Step::Never))
                };
                let published = doomed.join().unwrap();
                let (lost, _) = repair(&p);
                let mut got: Vec<u32> = consumer.join().unwrap().into_iter().collect();
                got.extend(get(&p, 4, Step::Never));
                assert_eq!(got.len(), usize::from(published), "stop {stop:?}");
                assert_eq!(lost, u64::from(!published && stop >= Step::Claimed));
                for lease in &p.leases {
                    assert_eq!(lease.load(Relaxed), FREE, "stop {stop:?}: a chunk leaked");
                }
            });
        }

        #[test]
        fn producer_dies_after_the_take() {
            producer_dies(Step::Taken);
        }

        #[test]
        fn producer_dies_after_its_claim() {
            producer_dies(Step::Claimed);
        }

        #[test]
        fn producer_dies_after_the_descriptor() {
            producer_dies(Step::Described);
        }

        #[test]
        fn producer_dies_after_the_mark() {
            producer_dies(Step::Marked);
        }

        /// `Claimed`: before the lease move; `Taken`: holding the chunk; `Marked`: after
        /// freeing it, before the ring release. A live producer puts meanwhile.
        fn consumer_dies(stop: Step) {
            model(move || {
                let p = pool();
                assert!(put(&p, 3, 1, Step::Never));
                let doomed = {
                    let p = p.clone();
                    thread::spawn(move || get(&p, DEAD, stop))
                };
                let producer = {
                    let p = p.clone();
                    thread::spawn(move || put(&p, 3, 2, Step::Never))
                };
                assert_eq!(doomed.join().unwrap(), None);
                let (_, lost) = repair(&p);
                let published = producer.join().unwrap();
                let got = get(&p, 4, Step::Never);
                assert_eq!(lost, 1, "stop {stop:?}");
                assert_eq!(got.is_some(), published, "the second message, if put");
                for lease in &p.leases {
                    assert_eq!(lease.load(Relaxed), FREE, "stop {stop:?}: a chunk leaked");
                }
            });
        }

        #[test]
        fn consumer_dies_after_its_claim() {
            consumer_dies(Step::Claimed);
        }

        #[test]
        fn consumer_dies_holding_the_chunk() {
            consumer_dies(Step::Taken);
        }

        #[test]
        fn consumer_dies_after_freeing_the_chunk() {
            consumer_dies(Step::Marked);
        }
    }
}
