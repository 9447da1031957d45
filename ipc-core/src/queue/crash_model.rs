//! Loom models of crash repair: "a crash" is a thread that stops for good at a point
//! of its operation; once it has stopped (joined: the kernel's word that it is dead),
//! a repairer repairs its claims while the others keep going.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p ipc-core --release --lib crash_model`.

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
        let (lost, _) = q
            .ring()
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

/// A batch push (`ByteQueue::try_push_many`: claim, fill, publish, one message after the
/// other) whose producer dies after the claim of its second message, while a consumer pops a
/// batch (`try_pop_many`: pops until one finds nothing). The repair after the death counts
/// exactly the one dead claim; the first message is delivered once, in order.
#[test]
fn producer_dies_mid_batch() {
    model(|| {
        let q = Arc::new(Queue::<u32, 2>::new());
        let doomed = {
            let q = q.clone();
            thread::spawn(move || {
                let first = push_as(&q, DEAD, 1, Crash::Never);
                let second = push_as(&q, DEAD, 2, Crash::AfterClaim);
                (first, second)
            })
        };
        let consumer = {
            let q = q.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(v) = pop_as(&q, 4, Crash::Never) {
                    got.push(v);
                }
                got
            })
        };
        let (first, second) = doomed.join().unwrap();
        assert_eq!(
            (first, second),
            ((true, true), (true, false)),
            "room for both"
        );
        let (lost, _) = q
            .ring()
            .repair(DEAD, REPAIRER, |_| {}, |_| unreachable!("no pop claim"));
        let mut got = consumer.join().unwrap();
        while let Some(v) = q.pop() {
            got.push(v);
        }
        assert_eq!(got, [1], "the published message, once");
        assert_eq!(lost, 1, "exactly the dead claim is counted");
        assert!(q.is_empty());
    });
}

/// A batch pop whose consumer dies after the claim of its second message, while a producer
/// pushes and another consumer pops: the repair salvages the claimed message; every message is
/// delivered or salvaged exactly once.
#[test]
fn consumer_dies_mid_batch() {
    model(|| {
        let q = Arc::new(Queue::<u32, 2>::new());
        q.push(1).unwrap();
        q.push(2).unwrap();
        let doomed = {
            let q = q.clone();
            thread::spawn(move || {
                let first = pop_as(&q, DEAD, Crash::Never);
                let second = pop_as(&q, DEAD, Crash::AfterClaim);
                (first, second)
            })
        };
        let producer = {
            let q = q.clone();
            thread::spawn(move || q.push(3).is_ok())
        };
        let consumer = {
            let q = q.clone();
            thread::spawn(move || q.pop())
        };
        let (first, second) = doomed.join().unwrap();
        assert_eq!(second, None);
        let mut got: Vec<u32> = first.into_iter().collect();
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
        let pushed_3 = producer.join().unwrap();
        got.extend(consumer.join().unwrap());
        while let Some(v) = q.pop() {
            got.push(v);
        }
        got.sort_unstable();
        let expect: Vec<u32> = if pushed_3 {
            [1, 2, 3].into()
        } else {
            [1, 2].into()
        };
        assert_eq!(got, expect, "pops repaired {pops}");
        assert!(pops <= 1, "at most the one dead claim");
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
                let _ = free_if(index, named) || free_if(index, held(DEAD, (named >> 16) as u32));
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
