//! Loom model checks of the ring protocol, through the typed [`Queue`] (which shares
//! the ring with `ByteQueue`; loom's atomics cannot be laid over raw bytes, so the byte
//! queue itself is not modelled).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p ipc-core --release --test loom`.
#![cfg(loom)]

use ipc_core::{Queue, WaitWord};
use loom::sync::atomic::{AtomicBool, Ordering::*};
use loom::sync::Arc;
use loom::thread;

/// Explores every interleaving with at most `preemptions` forced context switches
/// (loom's usual bound: most concurrency bugs need two or three).
fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(f);
}

/// Pops up to `attempts` times (no waiting: a model without spin loops stays small);
/// checks per-producer FIFO order of what it got.
fn pop_some<const N: usize>(q: &Queue<(usize, usize), N>, attempts: usize) -> Vec<(usize, usize)> {
    let got: Vec<_> = (0..attempts).filter_map(|_| q.pop()).collect();
    for producer in 0..2 {
        let seqs: Vec<_> = got
            .iter()
            .filter(|m| m.0 == producer)
            .map(|m| m.1)
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "FIFO per producer broken: {got:?}"
        );
    }
    got
}

/// 2 producers × 2 consumers: each producer tries to push `per` messages, each consumer
/// tries `per` pops, all at once; then the queue is drained. Every message pushed is
/// delivered exactly once, in order per producer, and nothing else comes out.
fn two_by_two<const N: usize>(per: usize, preemptions: usize) {
    model(preemptions, move || {
        let q = Arc::new(Queue::<(usize, usize), N>::new());
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let q = q.clone();
                thread::spawn(move || {
                    (0..per)
                        .filter(|&i| q.push((p, i)).is_ok())
                        .map(|i| (p, i))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let consumer = {
            let q = q.clone();
            thread::spawn(move || pop_some(&q, per))
        };
        let mut delivered = pop_some(&q, per);
        delivered.extend(consumer.join().unwrap());
        let mut pushed: Vec<_> = producers
            .into_iter()
            .flat_map(|p| p.join().unwrap())
            .collect();
        let drained = pop_some(&q, 2 * per + 1);
        assert!(q.is_empty() && q.pop().is_none());
        delivered.extend(drained);
        delivered.sort_unstable();
        pushed.sort_unstable();
        assert_eq!(delivered, pushed, "lost or duplicated");
    });
}

#[test]
fn two_by_two_capacity_1() {
    two_by_two::<1>(2, 2);
}

#[test]
fn two_by_two_capacity_2() {
    two_by_two::<2>(2, 2);
}

#[test]
fn two_by_two_capacity_3() {
    two_by_two::<3>(2, 2);
}

#[test]
fn two_by_two_capacity_4() {
    two_by_two::<4>(2, 2);
}

#[test]
fn full_and_empty_are_never_spurious_for_one_thread() {
    // A thread alone on its side of the queue: with nobody else pushing, a pop racing
    // one producer returns the message or None, and a push on an unfilled queue succeeds.
    model(3, || {
        let q = Arc::new(Queue::<(usize, usize), 2>::new());
        let p = {
            let q = q.clone();
            thread::spawn(move || {
                q.push((0, 0))
                    .expect("queue of 2 holding at most 1 is not full");
                q.push((0, 1))
                    .expect("queue of 2 holding at most 1 is not full");
            })
        };
        let mut got = Vec::new();
        while got.len() < 2 {
            if let Some(v) = q.pop() {
                got.push(v);
            } else {
                thread::yield_now();
            }
        }
        p.join().unwrap();
        assert_eq!(got, vec![(0, 0), (0, 1)]);
    });
}

#[test]
fn wait_word_never_loses_a_wakeup() {
    model(3, || {
        let ready = Arc::new(AtomicBool::new(false));
        let word = Arc::new(WaitWord::default());
        let waiter = {
            let (ready, word) = (ready.clone(), word.clone());
            thread::spawn(move || {
                let seen = word.prepare_wait();
                if !ready.load(Acquire) {
                    // "Sleep" until the word changes; a lost wake-up spins forever and
                    // loom reports it.
                    while word.seq().load(Acquire) == seen {
                        thread::yield_now();
                    }
                    assert!(ready.load(Acquire), "woken before the condition holds");
                }
                word.finish_wait();
            })
        };
        ready.store(true, Release);
        word.notify();
        waiter.join().unwrap();
    });
}

/// The fence-free wake of a push (`WaitWord::notify_marked`) with consumers that mark the
/// head slot before they sleep (`mark_empty_wait`): no wake-up is lost, also across a lap
/// (capacity 1, two values).
#[test]
fn marked_wait_never_loses_a_wakeup() {
    model(3, || {
        let q = Arc::new(Queue::<u32, 1>::new());
        let word = Arc::new(WaitWord::default());
        let producer = {
            let (q, word) = (q.clone(), word.clone());
            thread::spawn(move || {
                for v in 0..2 {
                    while q.push(v).is_err() {
                        thread::yield_now();
                    }
                    word.notify_marked();
                }
            })
        };
        for want in 0..2 {
            loop {
                let seen = word.prepare_wait();
                if let Some(v) = q.pop() {
                    word.finish_wait();
                    assert_eq!(v, want);
                    break;
                }
                if q.mark_empty_wait() {
                    // "Sleep" until the word changes; a lost wake-up spins forever and
                    // loom reports it.
                    while word.seq().load(Acquire) == seen {
                        thread::yield_now();
                    }
                } else {
                    // A push may have missed us: a short sleep, then look again.
                    thread::yield_now();
                }
                word.finish_wait();
            }
        }
        producer.join().unwrap();
    });
}

mod pool {
    use super::model;
    use ipc_core::pool::{PoolTables, TaskSlot, TaskState, WorkerSlot};
    use loom::sync::Arc;
    use loom::thread;

    struct Tables {
        workers: Vec<WorkerSlot>,
        tasks: Vec<TaskSlot>,
    }

    impl Tables {
        fn new(workers: usize, tasks: usize) -> Arc<Self> {
            Arc::new(Self {
                workers: (0..workers).map(|_| WorkerSlot::new()).collect(),
                tasks: (0..tasks).map(|_| TaskSlot::new()).collect(),
            })
        }

        fn pool(&self) -> PoolTables<'_> {
            PoolTables::new(&self.workers, &self.tasks).unwrap()
        }
    }

    #[test]
    fn exactly_one_worker_starts_a_task() {
        model(3, || {
            let t = Tables::new(2, 1);
            let pool = t.pool();
            let (a, b) = (pool.add_worker().unwrap(), pool.add_worker().unwrap());
            pool.worker_started(a, 1).unwrap();
            pool.worker_started(b, 2).unwrap();
            let task = pool.submit().unwrap();
            let other = {
                let t = t.clone();
                thread::spawn(move || t.pool().start(b, task).is_ok())
            };
            let mine = pool.start(a, task).is_ok();
            let theirs = other.join().unwrap();
            assert!(mine ^ theirs, "exactly one start wins");
            let winner = if mine { a } else { b };
            assert_eq!(
                pool.task_state(task),
                Ok(TaskState::Running(winner.index()))
            );
        });
    }

    #[test]
    fn finish_and_death_race_fairly() {
        model(3, || {
            let t = Tables::new(1, 1);
            let pool = t.pool();
            let w = pool.add_worker().unwrap();
            pool.worker_started(w, 1).unwrap();
            let task = pool.submit().unwrap();
            pool.start(w, task).unwrap();
            let worker = {
                let t = t.clone();
                thread::spawn(move || t.pool().finish(w, task, true).is_ok())
            };
            let mut lost = 0;
            pool.worker_died(w, |_| lost += 1).unwrap();
            let finished = worker.join().unwrap();
            assert!(finished ^ (lost == 1), "finished {finished}, lost {lost}");
            let expect = if finished {
                TaskState::Done
            } else {
                TaskState::Lost
            };
            assert_eq!(pool.task_state(task), Ok(expect));
        });
    }

    #[test]
    fn a_start_racing_a_death_never_leaves_a_task_running() {
        model(3, || {
            let t = Tables::new(1, 1);
            let pool = t.pool();
            let w = pool.add_worker().unwrap();
            pool.worker_started(w, 1).unwrap();
            let task = pool.submit().unwrap();
            let worker = {
                let t = t.clone();
                thread::spawn(move || t.pool().start(w, task).is_ok())
            };
            pool.worker_died(w, |_| {}).unwrap();
            let started = worker.join().unwrap();
            let state = pool.task_state(task).unwrap();
            assert!(
                state == TaskState::Lost || (!started && state == TaskState::Pending),
                "started {started}, state {state:?}"
            );
        });
    }

    #[test]
    fn concurrent_submits_get_distinct_slots() {
        model(3, || {
            let t = Tables::new(1, 2);
            let other = {
                let t = t.clone();
                thread::spawn(move || t.pool().submit().unwrap())
            };
            let mine = t.pool().submit().unwrap();
            let theirs = other.join().unwrap();
            assert_ne!(mine.index(), theirs.index());
            assert!(t.pool().submit().is_err(), "both slots taken");
        });
    }
}

/// The owner-stamped lock word (`ipc_core::LockWord`).
mod lock {
    use super::model;
    use ipc_core::{Holder, LockOwner, LockWord, TakeOverError, TryLockError, Unlocked};
    use loom::sync::atomic::{AtomicU32, AtomicUsize, Ordering::*};
    use loom::sync::Arc;
    use loom::thread;

    fn owner(id: u32) -> LockOwner {
        LockOwner::new(id, id + 100).unwrap()
    }

    /// Takes the lock, yielding (to loom) while it is held.
    fn lock(l: &LockWord, me: LockOwner, recursive: bool) {
        loop {
            match l.try_lock(me, recursive, false) {
                Ok(_) => return,
                Err(TryLockError::Held(_)) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Two threads increment a counter under the lock with a separate load and store: a lost
    /// update would show two holders at once. One of them re-enters (recursive).
    #[test]
    fn mutual_exclusion() {
        model(3, || {
            let l = Arc::new(LockWord::new());
            let counter = Arc::new(AtomicUsize::new(0));
            let t = {
                let (l, counter) = (l.clone(), counter.clone());
                thread::spawn(move || {
                    lock(&l, owner(1), true);
                    lock(&l, owner(1), true);
                    let v = counter.load(Relaxed);
                    counter.store(v + 1, Relaxed);
                    assert_eq!(l.unlock(owner(1), true), Ok(Unlocked::StillHeld(1)));
                    assert!(matches!(
                        l.unlock(owner(1), true),
                        Ok(Unlocked::Released { .. })
                    ));
                })
            };
            lock(&l, owner(2), false);
            let v = counter.load(Relaxed);
            counter.store(v + 1, Relaxed);
            assert!(matches!(
                l.unlock(owner(2), false),
                Ok(Unlocked::Released { .. })
            ));
            t.join().unwrap();
            assert_eq!(counter.load(Relaxed), 2);
            assert!(l.holder().is_none());
        });
    }

    /// A waiter that marked the lock and would sleep on the value it set is always woken: the
    /// holder's unlock says `wake` whenever the mark took.
    #[test]
    fn a_marked_waiter_is_always_woken() {
        model(3, || {
            let l = Arc::new(LockWord::new());
            l.try_lock(owner(1), false, false).unwrap();
            let marked = Arc::new(AtomicU32::new(0));
            let waiter = {
                let (l, marked) = (l.clone(), marked.clone());
                thread::spawn(move || match l.try_lock(owner(2), false, false) {
                    Err(TryLockError::Held(h)) => {
                        if let Some(v) = l.mark_waiting(h) {
                            // It would sleep now, if the word still holds `v`.
                            if l.futex().load(Relaxed) == v {
                                marked.store(1, Relaxed);
                            }
                        }
                    }
                    Ok(_) => {
                        l.unlock(owner(2), false).unwrap();
                    }
                    Err(e) => panic!("{e}"),
                })
            };
            let unlocked = l.unlock(owner(1), false).unwrap();
            waiter.join().unwrap();
            if marked.load(Relaxed) == 1 {
                assert_eq!(unlocked, Unlocked::Released { wake: true });
            }
        });
    }

    /// Two takers race for the lock of a dead holder while a third tries to lock it plainly:
    /// exactly one taker wins, and nobody else gets the lock while it holds it.
    #[test]
    fn one_taker_wins_a_dead_holders_lock() {
        model(3, || {
            let l = Arc::new(LockWord::new());
            l.try_lock(owner(1), false, false).unwrap();
            let dead: Holder = l.holder().unwrap();
            let holders = Arc::new(AtomicUsize::new(0));
            let takers: Vec<_> = [2, 3]
                .into_iter()
                .map(|id| {
                    let (l, holders) = (l.clone(), holders.clone());
                    thread::spawn(move || match l.take_over(dead, owner(id)) {
                        Ok(()) => {
                            assert_eq!(holders.fetch_add(1, Relaxed), 0, "two holders");
                            holders.fetch_sub(1, Relaxed);
                            l.unlock(owner(id), false).unwrap();
                            true
                        }
                        Err(TakeOverError::Changed) => false,
                        Err(e) => panic!("{e}"),
                    })
                })
                .collect();
            if l.try_lock(owner(4), false, false).is_ok() {
                assert_eq!(holders.fetch_add(1, Relaxed), 0, "two holders");
                holders.fetch_sub(1, Relaxed);
                l.unlock(owner(4), false).unwrap();
            }
            let wins = takers
                .into_iter()
                .map(|t| t.join().unwrap())
                .filter(|&won| won)
                .count();
            assert_eq!(wins, 1);
        });
    }
}

/// The barrier word (`ipc_core::BarrierWord`).
mod barrier {
    use super::model;
    use ipc_core::{BarrierWord, Poll};
    use loom::sync::Arc;
    use loom::thread;

    /// Waits (yielding to loom) until the arrival's generation ends; `true` if it passed.
    fn pass(b: &BarrierWord, parties: u32) -> bool {
        let Ok(a) = b.arrive(parties) else {
            return false;
        };
        if a.is_last() {
            return b.trip(&a);
        }
        loop {
            match b.poll(&a) {
                Poll::Waiting => thread::yield_now(),
                Poll::Passed => return true,
                Poll::Broken => return false,
            }
        }
    }

    /// Two parties, two rounds: every party passes every round.
    #[test]
    fn two_parties_pass_two_rounds() {
        model(3, || {
            let b = Arc::new(BarrierWord::new());
            let t = {
                let b = b.clone();
                thread::spawn(move || (pass(&b, 2), pass(&b, 2)))
            };
            let mine = (pass(&b, 2), pass(&b, 2));
            assert_eq!(mine, (true, true));
            assert_eq!(t.join().unwrap(), (true, true));
            assert_eq!(b.n_waiting(2), 0);
        });
    }

    /// Two parties and an abort at any moment: both pass (the abort came after the trip) or
    /// neither does; never one waiting for ever.
    #[test]
    fn an_abort_breaks_both_or_neither() {
        model(3, || {
            let b = Arc::new(BarrierWord::new());
            let t = {
                let b = b.clone();
                thread::spawn(move || pass(&b, 2))
            };
            let aborter = {
                let b = b.clone();
                thread::spawn(move || b.abort())
            };
            let mine = pass(&b, 2);
            let theirs = t.join().unwrap();
            aborter.join().unwrap();
            assert_eq!(mine, theirs, "one passed, the other was broken");
        });
    }
}

/// The event word (`ipc_core::EventWord`).
mod event {
    use super::model;
    use ipc_core::EventWord;
    use loom::sync::Arc;
    use loom::thread;

    /// A waiter that began before a `set` always sees it, even when a `clear` follows at once;
    /// and the setter that found it clear is the one asked to wake.
    #[test]
    fn a_set_is_never_lost_to_a_clear() {
        model(3, || {
            let e = Arc::new(EventWord::new());
            let w = e.begin_wait();
            let setter = {
                let e = e.clone();
                thread::spawn(move || {
                    let woke = e.set();
                    e.clear();
                    woke
                })
            };
            while e.poll(&w).is_err() {
                thread::yield_now();
            }
            assert!(setter.join().unwrap());
        });
    }
}

/// The semaphore word (`ipc_core::SemaphoreWord`).
mod semaphore {
    use super::model;
    use ipc_core::SemaphoreWord;
    use loom::sync::atomic::{AtomicUsize, Ordering::*};
    use loom::sync::Arc;
    use loom::thread;

    /// One permit, two takers: at most one holds it at a time, and each gives it back; a waiter
    /// that registered and still saw no permit (it would sleep) is always woken by the release.
    #[test]
    fn permits_are_never_duplicated_and_sleepers_are_woken() {
        model(3, || {
            let s = Arc::new(SemaphoreWord::with_count(1));
            let held = Arc::new(AtomicUsize::new(0));
            let takers: Vec<_> = (0..2)
                .map(|_| {
                    let (s, held) = (s.clone(), held.clone());
                    thread::spawn(move || {
                        if s.try_acquire() {
                            assert_eq!(held.fetch_add(1, Relaxed), 0, "two holders");
                            held.fetch_sub(1, Relaxed);
                            s.release(1).unwrap();
                            return;
                        }
                        // It would sleep if the count is still 0 after registering.
                        let would_sleep = s.prepare_sleep() && s.futex().load(Relaxed) == 0;
                        if would_sleep {
                            // (Its wake is checked in `a_registered_sleeper_is_reported`.)
                            while s.futex().load(Relaxed) == 0 {
                                thread::yield_now();
                            }
                        }
                        s.finish_sleep();
                    })
                })
                .collect();
            for t in takers {
                t.join().unwrap();
            }
            assert_eq!(s.value(), 1);
        });
    }

    /// The no-lost-wake-up rule in isolation: if the waiter registered and then saw no permit,
    /// the release that follows reports a sleeper.
    #[test]
    fn a_registered_sleeper_is_reported() {
        model(3, || {
            let s = Arc::new(SemaphoreWord::new());
            let slept = Arc::new(AtomicUsize::new(0));
            let waiter = {
                let (s, slept) = (s.clone(), slept.clone());
                thread::spawn(move || {
                    if s.prepare_sleep() {
                        slept.store(1, Relaxed);
                    }
                })
            };
            let wake = s.release(1).unwrap();
            waiter.join().unwrap();
            if slept.load(Relaxed) == 1 {
                assert!(
                    wake,
                    "a sleeper saw no permit, and the release did not wake it"
                );
            }
        });
    }
}
