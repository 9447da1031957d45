//! `host_runtime::sync`: the locks between real processes, including holders that are killed
//! (`SIGKILL`: the next acquirer takes over and is told) or stopped (`SIGSTOP`: never taken for
//! dead), and the behaviours CPython's `_test_multiprocessing.py` checks for `Lock` and `RLock`.
//!
//! Each body runs under a watchdog far above its expected time: a lock that hangs fails the
//! test instead of the run.

mod common;

use std::io::Read;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::watchdog_secs;
use host_runtime::shared::region::Mapping;
use host_runtime::sync::{
    AcquireError, Lock, LockError, LockTimeoutError, RLock, ReleaseError, TryLockError,
};
use host_runtime::sys::{self, Pid, Signal};
use host_runtime::Process;

fn watchdog(body: impl FnOnce() + Send + 'static) {
    watchdog_secs(60, body);
}

/// Blocks until `holder()` says `pid` (a child's main thread) holds the lock.
fn await_holder(holder: impl Fn() -> Option<Pid>, pid: Pid) {
    while holder() != Some(pid) {
        std::thread::yield_now();
    }
}

/// A child that takes `lock` (through `take`), then waits for a byte on a pipe (or for ever,
/// until killed), then lets go and exits 0.
fn holding_child(
    take: impl FnOnce() -> Box<dyn std::any::Any> + Send + 'static,
) -> (Process, std::os::fd::OwnedFd) {
    let (rx, tx) = sys::pipe().unwrap();
    let p = Process::new(move || {
        let guard = take();
        let mut byte = [0u8; 1];
        let _ = std::fs::File::from(rx).read(&mut byte);
        drop(guard);
    });
    p.start().unwrap();
    (p, tx)
}

fn signal(p: &Process, sig: libc::c_int) {
    let pid = p.pid().unwrap();
    sys::kill(pid, Signal::from_raw(sig).unwrap()).unwrap();
}

#[test]
fn a_killed_holder_hands_the_lock_over_with_owner_died() {
    watchdog(|| {
        let lock = Lock::new().unwrap();
        let child_lock = lock.clone();
        let (p, _tx) = holding_child(move || {
            // Leak the guard's borrow: the child holds until it dies.
            let lock: &'static Lock = Box::leak(Box::new(child_lock));
            Box::new(lock.lock().unwrap())
        });
        await_holder(|| lock.holder(), p.pid().unwrap());
        assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
        // A waiter already asleep when the holder dies.
        let waiter = {
            let lock = lock.clone();
            std::thread::spawn(move || match lock.lock() {
                Err(LockError::OwnerDied(guard)) => {
                    drop(guard);
                    true
                }
                Ok(_) => false,
                Err(e) => panic!("{e}"),
            })
        };
        p.kill().unwrap();
        assert!(waiter.join().unwrap(), "the waiter was not told OwnerDied");
        // Told once: the next acquire is clean.
        let guard = lock.lock().unwrap();
        drop(guard);
        p.join().unwrap();
        assert!(lock.holder().is_none());
    });
}

#[test]
fn a_killed_holder_is_found_by_acquire_and_try_lock() {
    watchdog(|| {
        for use_try in [false, true] {
            let lock = Lock::new().unwrap();
            let child_lock = lock.clone();
            let (p, _tx) = holding_child(move || {
                let lock: &'static Lock = Box::leak(Box::new(child_lock));
                Box::new(lock.lock().unwrap())
            });
            await_holder(|| lock.holder(), p.pid().unwrap());
            p.kill().unwrap();
            p.join().unwrap();
            if use_try {
                // The handle's first failed try_lock judges the holder at once.
                let got = loop {
                    match lock.try_lock() {
                        Err(TryLockError::WouldBlock) => std::thread::yield_now(),
                        other => break other,
                    }
                };
                assert!(matches!(got, Err(TryLockError::OwnerDied(_))));
            } else {
                assert_eq!(lock.acquire(true, None), Err(AcquireError::OwnerDied));
                // The caller holds it: release as usual.
                lock.release().unwrap();
            }
            assert!(lock.holder().is_none());
        }
    });
}

#[test]
fn a_stopped_holder_is_not_declared_dead() {
    watchdog(|| {
        let lock = Lock::new().unwrap();
        let child_lock = lock.clone();
        let (p, tx) = holding_child(move || {
            let lock: &'static Lock = Box::leak(Box::new(child_lock));
            Box::new(lock.lock().unwrap())
        });
        await_holder(|| lock.holder(), p.pid().unwrap());
        signal(&p, libc::SIGSTOP);
        // Longer than two death checks: each finds the holder alive (stopped).
        let timeout = host_runtime::sync::DEATH_CHECK * 2 + Duration::from_millis(100);
        let start = Instant::now();
        assert!(matches!(
            lock.lock_timeout(timeout),
            Err(LockTimeoutError::Timeout)
        ));
        assert!(start.elapsed() >= timeout);
        assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
        assert_eq!(
            lock.acquire(true, Some(Duration::from_millis(50))),
            Ok(false)
        );
        assert_eq!(lock.holder(), p.pid());
        // It runs again, and lets go on its own: a clean acquire.
        signal(&p, libc::SIGCONT);
        sys::write_all(tx.as_fd(), b"x").unwrap();
        drop(lock.lock().unwrap());
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn processes_exclude_each_other() {
    watchdog(|| {
        let lock = Lock::new().unwrap();
        let mapping = Arc::new(Mapping::anonymous(4096).unwrap());
        let bytes = Mapping::claim_bytes(&mapping, 0, 8).unwrap();
        let n = 2_000;
        let children: Vec<_> = (0..3)
            .map(|_| {
                let (lock, bytes) = (lock.clone(), bytes.clone());
                let p = Process::new(move || {
                    for _ in 0..n {
                        let _g = lock.lock().unwrap();
                        // A load and a store: a broken lock would lose updates.
                        let v = bytes.u64_at(0).load(Relaxed);
                        bytes.u64_at(0).store(v + 1, Relaxed);
                    }
                });
                p.start().unwrap();
                p
            })
            .collect();
        for p in &children {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(bytes.u64_at(0).load(Relaxed), 3 * n);
    });
}

#[test]
fn rlock_killed_at_depth_three_is_taken_over_at_depth_one() {
    watchdog(|| {
        let lock = RLock::new().unwrap();
        let child_lock = lock.clone();
        let (p, _tx) = holding_child(move || {
            let lock: &'static RLock = Box::leak(Box::new(child_lock));
            let guards: Vec<_> = (0..3).map(|_| lock.lock().unwrap()).collect();
            Box::new(guards)
        });
        await_holder(|| lock.holder(), p.pid().unwrap());
        // Another process may not release it.
        let other = lock.clone();
        let q = Process::new(move || {
            assert!(matches!(other.release(), Err(ReleaseError::NotOwner(_))));
        });
        q.start().unwrap();
        assert_eq!(q.join().unwrap(), 0);
        p.kill().unwrap();
        let guard = match lock.lock() {
            Err(LockError::OwnerDied(g)) => g,
            other => panic!("expected OwnerDied, got {other:?}"),
        };
        // Held once now: one drop frees it.
        drop(guard);
        assert!(lock.holder().is_none());
        p.join().unwrap();
    });
}

/// CPython `_test_multiprocessing.py`, `_TestLock.test_lock` and `test_rlock`, and
/// `_TestLock.test_lock_context`.
#[test]
fn cpython_lock_and_rlock() {
    watchdog(|| {
        let lock = Lock::new().unwrap();
        assert_eq!(lock.acquire(true, None), Ok(true));
        assert_eq!(lock.acquire(false, None), Ok(false));
        assert_eq!(lock.release(), Ok(()));
        assert_eq!(lock.release(), Err(ReleaseError::NotHeld)); // Python: ValueError
                                                                // A blocking acquire of a Lock the thread holds would never end: an error, not a hang.
        let _g = lock.lock().unwrap();
        assert!(matches!(lock.lock(), Err(LockError::WouldDeadlock)));
        assert_eq!(lock.acquire(true, None), Err(AcquireError::WouldDeadlock));
        // With a timeout it waits it out, as Python's does (which returns False).
        let start = Instant::now();
        assert_eq!(
            lock.acquire(true, Some(Duration::from_millis(100))),
            Ok(false)
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
        drop(_g);

        let rlock = RLock::new().unwrap();
        for _ in 0..3 {
            assert_eq!(rlock.acquire(true, None), Ok(true));
        }
        for _ in 0..3 {
            assert_eq!(rlock.release(), Ok(()));
        }
        assert_eq!(rlock.release(), Err(ReleaseError::NotHeld)); // Python: AssertionError
                                                                 // Another thread neither takes nor releases it while we hold it.
        let _g = rlock.lock().unwrap();
        let other = rlock.clone();
        std::thread::spawn(move || {
            assert_eq!(other.acquire(false, None), Ok(false));
            assert_eq!(
                other.acquire(true, Some(Duration::from_millis(20))),
                Ok(false)
            );
            assert!(matches!(other.release(), Err(ReleaseError::NotOwner(_))));
        })
        .join()
        .unwrap();
    });
}

/// CPython `_TestEvent.test_event`: wait with a timeout on a clear event returns False after
/// the timeout; set wakes a waiter in another process; is_set/clear.
#[test]
fn cpython_event() {
    watchdog(|| {
        let event = host_runtime::sync::Event::new().unwrap();
        assert!(!event.is_set());
        let start = Instant::now();
        assert!(!event.wait(Some(Duration::from_millis(100))));
        assert!(start.elapsed() >= Duration::from_millis(100));
        event.set();
        assert!(event.is_set());
        assert!(event.wait(None));
        assert!(event.wait(Some(Duration::ZERO)));
        event.clear();
        assert!(!event.is_set());
        // A process waits; we set.
        let e = event.clone();
        let p = Process::new(move || assert!(e.wait(None)));
        p.start().unwrap();
        event.set();
        assert_eq!(p.join().unwrap(), 0);
    });
}

/// CPython `_TestSemaphore.test_semaphore`, `test_bounded_semaphore`, `test_timeout`.
#[test]
fn cpython_semaphores() {
    use host_runtime::sync::{BoundedSemaphore, Semaphore, SemaphoreReleaseError};
    watchdog(|| {
        let sem = Semaphore::new(2).unwrap();
        assert!(sem.acquire(true, None));
        assert_eq!(sem.get_value(), 1);
        assert!(sem.acquire(true, None));
        assert_eq!(sem.get_value(), 0);
        assert!(!sem.acquire(false, None));
        assert_eq!(sem.get_value(), 0);
        sem.release().unwrap();
        assert_eq!(sem.get_value(), 1);
        sem.release().unwrap();
        assert_eq!(sem.get_value(), 2);
        // A plain semaphore may go above its initial value.
        sem.release().unwrap();
        assert_eq!(sem.get_value(), 3);

        let bounded = BoundedSemaphore::new(2).unwrap();
        assert!(bounded.acquire(true, None));
        bounded.release().unwrap();
        assert_eq!(
            bounded.release(),
            Err(SemaphoreReleaseError::TooManyReleases)
        );
        assert_eq!(bounded.get_value(), 2);

        // Timeouts: each waits at least its time, then says false.
        let empty = Semaphore::new(0).unwrap();
        for (block, timeout) in [(false, None), (false, Some(1.0)), (true, Some(0.1))] {
            let start = Instant::now();
            assert!(!empty.acquire(block, timeout.map(Duration::from_secs_f64)));
            if block {
                assert!(start.elapsed() >= Duration::from_millis(100));
            }
        }
        // A process's release wakes a waiter here.
        let s = empty.clone();
        let p = Process::new(move || s.release().unwrap());
        p.start().unwrap();
        assert!(empty.acquire(true, None));
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn permits_of_a_killed_process_are_given_back() {
    use host_runtime::sync::BoundedSemaphore;
    watchdog(|| {
        let sem = BoundedSemaphore::new(3).unwrap();
        let s = sem.clone();
        let (p, _tx) = holding_child(move || {
            assert!(s.acquire(true, None));
            assert!(s.acquire(true, None));
            Box::new(())
        });
        while sem.get_value() != 1 {
            std::thread::yield_now();
        }
        // Ours: taken and kept while the child dies.
        assert!(sem.acquire(true, None));
        // A waiter asleep before the death.
        let waiter = {
            let sem = sem.clone();
            std::thread::spawn(move || sem.acquire(true, None))
        };
        p.kill().unwrap();
        assert!(waiter.join().unwrap());
        p.join().unwrap();
        // The dead child's two permits came back: one went to the waiter.
        let stats = sem.stats();
        assert_eq!(stats.returned_from_dead, 2);
        assert_eq!(stats.value, 1);
        // Our own permits are still ours (and the bound holds).
        sem.release().unwrap();
        sem.release().unwrap();
        assert_eq!(sem.get_value(), 3);
        assert!(sem.release().is_err());
    });
}

/// Blocks until `n` parties wait at `barrier`.
fn await_waiting(barrier: &host_runtime::sync::Barrier, n: u32) {
    while barrier.n_waiting() != n {
        std::thread::yield_now();
    }
}

/// CPython `_TestBarrier`: `test_barrier` (rounds, indices), `test_action`, `test_abort`,
/// `test_reset`, `test_timeout`.
#[test]
fn cpython_barrier() {
    use host_runtime::sync::{Barrier, BrokenBarrierError};
    watchdog(|| {
        // Rounds between processes: each round's indices are 0..parties.
        let mapping = Arc::new(Mapping::anonymous(4096).unwrap());
        let actions = Mapping::claim_bytes(&mapping, 0, 8).unwrap();
        let counted = actions.clone();
        let barrier = Barrier::with_action(3, move || {
            counted.u64_at(0).fetch_add(1, Relaxed);
        })
        .unwrap();
        assert_eq!(barrier.parties(), 3);
        let rounds = 5;
        let children: Vec<_> = (0..2)
            .map(|_| {
                let b = barrier.clone();
                let p = Process::new(move || {
                    for _ in 0..rounds {
                        assert!(b.wait(None).unwrap() < 3);
                    }
                });
                p.start().unwrap();
                p
            })
            .collect();
        for _ in 0..rounds {
            assert!(barrier.wait(None).unwrap() < 3);
        }
        for p in &children {
            assert_eq!(p.join().unwrap(), 0);
        }
        // The action ran once per round, in whichever party came last.
        assert_eq!(actions.u64_at(0).load(Relaxed), rounds);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.broken());

        // abort: a waiter and later callers get BrokenBarrierError until reset.
        let b = Barrier::new(2).unwrap();
        let waiter = {
            let b = b.clone();
            std::thread::spawn(move || b.wait(None))
        };
        await_waiting(&b, 1);
        b.abort();
        assert_eq!(waiter.join().unwrap(), Err(BrokenBarrierError));
        assert!(b.broken());
        assert_eq!(b.wait(None), Err(BrokenBarrierError));
        b.reset();
        assert!(!b.broken());
        // reset with a waiter: it is broken out, the barrier works after.
        let waiter = {
            let b = b.clone();
            std::thread::spawn(move || b.wait(None))
        };
        await_waiting(&b, 1);
        b.reset();
        assert_eq!(waiter.join().unwrap(), Err(BrokenBarrierError));
        assert!(!b.broken());
        let other = {
            let b = b.clone();
            std::thread::spawn(move || b.wait(None))
        };
        let mine = b.wait(None).unwrap();
        let theirs = other.join().unwrap().unwrap();
        assert_eq!(mine + theirs, 1);

        // A timeout breaks the barrier (Python: the waiter raises BrokenBarrierError).
        let start = Instant::now();
        assert_eq!(
            b.wait(Some(Duration::from_millis(100))),
            Err(BrokenBarrierError)
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert!(b.broken());

        // An action that panics breaks the barrier; the panic goes on in its party.
        let b = Barrier::with_action(1, || panic!("action failed")).unwrap();
        let b2 = b.clone();
        assert!(std::thread::spawn(move || b2.wait(None)).join().is_err());
        assert!(b.broken());
    });
}

#[test]
fn a_dead_party_breaks_the_barrier_for_every_waiter() {
    use host_runtime::sync::{Barrier, BrokenBarrierError};
    watchdog(|| {
        let barrier = Barrier::new(4).unwrap();
        // The victim takes part in one round, then is killed before the next.
        let b = barrier.clone();
        let (victim, _tx) = holding_child(move || {
            let _ = b.wait(None);
            Box::new(())
        });
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let b = barrier.clone();
                let p = Process::new(move || {
                    b.wait(None).unwrap();
                    assert_eq!(b.wait(None), Err(BrokenBarrierError));
                });
                p.start().unwrap();
                p
            })
            .collect();
        barrier.wait(None).unwrap();
        // Round two: everyone but the victim.
        let me = {
            let b = barrier.clone();
            std::thread::spawn(move || b.wait(None))
        };
        await_waiting(&barrier, 3);
        victim.kill().unwrap();
        assert_eq!(me.join().unwrap(), Err(BrokenBarrierError));
        for p in &waiters {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert!(barrier.broken());
        victim.join().unwrap();
    });
}

/// CPython `_TestCondition`: `test_notify` / `test_notify_all` between processes, `test_timeout`,
/// `test_waitfor`, `test_waitfor_timeout`, and waiting without the lock.
#[test]
fn cpython_condition() {
    use host_runtime::sync::{Condition, ConditionError};
    watchdog(|| {
        let cond = Condition::new().unwrap();
        // Without the lock: an error, no change.
        assert_eq!(cond.wait(None), Err(ConditionError::NotOwner));
        assert_eq!(cond.notify(1), Err(ConditionError::NotOwner));

        // A timed wait with no notify: false after the timeout, the lock held again (depth 2).
        let outer = cond.lock().unwrap();
        let inner = cond.lock().unwrap();
        let start = Instant::now();
        assert_eq!(cond.wait(Some(Duration::from_millis(100))), Ok(false));
        assert!(start.elapsed() >= Duration::from_millis(100));
        drop(inner);
        assert!(cond.lock_handle().holder().is_some());
        drop(outer);
        assert!(cond.lock_handle().holder().is_none());

        // wait_for between processes: each child adds 1 to the flag under the lock and
        // notifies all; we wait for the flag to reach 3.
        let children: Vec<_> = (0..3)
            .map(|_| {
                let c = cond.clone();
                let p = Process::new(move || {
                    let _g = c.lock().unwrap();
                    c.flag().fetch_add(1, Relaxed);
                    c.notify_all().unwrap();
                });
                p.start().unwrap();
                p
            })
            .collect();
        {
            let _g = cond.lock().unwrap();
            assert_eq!(
                cond.wait_for(|| cond.flag().load(Relaxed) == 3, None),
                Ok(true)
            );
        }
        for p in &children {
            assert_eq!(p.join().unwrap(), 0);
        }
        // wait_for with a predicate that never holds: false after the timeout.
        let _g = cond.lock().unwrap();
        let start = Instant::now();
        assert_eq!(
            cond.wait_for(|| false, Some(Duration::from_millis(100))),
            Ok(false)
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
    });
}

/// A waiter whose lock is held by a process that dies (after the waiter was notified) takes
/// the lock over on its way out of `wait`, and is told.
#[test]
fn a_condition_waiter_takes_the_lock_of_a_dead_notifier() {
    use host_runtime::sync::{Condition, ConditionError};
    watchdog(|| {
        let cond = Condition::new().unwrap();
        let c = cond.clone();
        // The child waits until we wait, notifies, and dies holding the lock.
        let (p, _tx) = holding_child(move || {
            let c: &'static Condition = Box::leak(Box::new(c));
            let g = c.lock().unwrap();
            assert!(c.wait_for(|| c.flag().load(Relaxed) == 1, None).unwrap());
            c.notify_all().unwrap();
            Box::new(g)
        });
        let _g = cond.lock().unwrap();
        cond.flag().store(1, Relaxed);
        cond.notify_all().unwrap();
        let victim = p.pid().unwrap();
        let killer = std::thread::spawn({
            let cond = cond.clone();
            move || {
                // The child holds the lock (it re-took it after its wait, and notified).
                await_holder(|| cond.lock_handle().holder(), victim);
                p.kill().unwrap();
                p.join().unwrap();
            }
        });
        // Our wait lets the child in; on the way out we find it dead.
        // (Its notify comes while it holds the lock, so we can only re-take it from the dead.)
        assert_eq!(cond.wait(None), Err(ConditionError::OwnerDied));
        assert_eq!(
            cond.lock_handle().holder(),
            Some(host_runtime::sys::gettid())
        );
        killer.join().unwrap();
    });
}

/// CPython `_TestValue` / `_TestArray`: values and arrays seen by a child, changed by it, seen
/// back; out-of-range indices are errors; `lock=False` works; `words` views.
#[test]
fn cpython_value_and_array() {
    use host_runtime::sync::{Array, IndexError, Value};
    watchdog(|| {
        let v = Value::new(7i32).unwrap();
        let f = Value::new_unlocked(1.5f64).unwrap();
        let a = Array::new(&[1u16, 2, 3, 4, 5]).unwrap();
        assert_eq!((v.get(), f.get()), (7, 1.5));
        let (v2, f2, a2) = (v.clone(), f.clone(), a.clone());
        let p = Process::new(move || {
            assert_eq!(v2.get(), 7);
            v2.set(-7);
            f2.set(f2.get() * 2.0);
            let mut all = [0u16; 5];
            a2.read_into(0, &mut all).unwrap();
            assert_eq!(all, [1, 2, 3, 4, 5]);
            a2.write_from(3, &[40, 50]).unwrap();
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!((v.get(), f.get()), (-7, 3.0));
        assert_eq!(a.to_vec(), [1, 2, 3, 40, 50]);
        assert_eq!(a.get(5), Err(IndexError { end: 6, len: 5 }));
        assert_eq!(a.write_from(4, &[1, 2]), Err(IndexError { end: 6, len: 5 }));
        assert_eq!(
            a.to_vec(),
            [1, 2, 3, 40, 50],
            "a refused write changes nothing"
        );
        assert!(v.get_lock().is_some() && f.get_lock().is_none());

        // Lock-free counting through the atomic words of a Value<u64>.
        let hits = Value::new_unlocked(0u64).unwrap();
        let h = hits.clone();
        let p = Process::new(move || {
            for _ in 0..1000 {
                h.words()[0].fetch_add(1, Relaxed);
            }
        });
        p.start().unwrap();
        for _ in 0..1000 {
            hits.words()[0].fetch_add(1, Relaxed);
        }
        p.join().unwrap();
        assert_eq!(hits.get(), 2000);
    });
}

/// An unlocked `Array<u8>`: processes and threads each `set` their own element, several of
/// them in one 8-byte word, while another thread reads that word through `words()`. Each
/// `set` changes only its own byte (a read-modify-write of the word), so no element is ever
/// undone by a neighbour's store, and the word shows every element's last value at the end.
#[test]
fn unlocked_array_neighbours_keep_their_elements() {
    use host_runtime::sync::Array;
    watchdog(|| {
        const ROUNDS: u32 = 20_000;
        let last = |i: usize| ((ROUNDS - 1 + i as u32) % 250) as u8 + 1;
        let a = Array::new_unlocked(&[0u8; 8]).unwrap();
        // Element 0 from a child process, 1..4 from threads here.
        let child = {
            let a = a.clone();
            Process::new(move || {
                for round in 0..ROUNDS {
                    let mine = (round % 250) as u8 + 1;
                    a.set(0, mine).unwrap();
                    assert_eq!(a.get(0), Ok(mine), "the child's element");
                }
            })
        };
        child.start().unwrap();
        std::thread::scope(|s| {
            for i in 1..4usize {
                let a = &a;
                s.spawn(move || {
                    for round in 0..ROUNDS {
                        let mine = ((round + i as u32) % 250) as u8 + 1;
                        a.set(i, mine).unwrap();
                        assert_eq!(a.get(i), Ok(mine), "thread {i}'s element");
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..ROUNDS {
                    let word = a.words()[0].load(Relaxed).to_ne_bytes();
                    assert_eq!(word[4..], [0; 4], "nobody writes elements 4..8");
                }
            });
        });
        assert_eq!(child.join().unwrap(), 0);
        let word = a.words()[0].load(Relaxed).to_ne_bytes();
        assert_eq!(word, [last(0), last(1), last(2), last(3), 0, 0, 0, 0]);
        assert_eq!(a.to_vec(), word);
    });
}

/// The tour case: processes increment a `Value<u64>` under its lock and record their
/// own work in an `Array<u64>`; one is SIGKILLed mid-way (perhaps holding the lock, between
/// the two stores). Whoever takes the lock next is told (`OwnerDied`) and recomputes the total
/// from the recorded work; at the end the total is exactly what the survivors and the victim's
/// recorded part say.
#[test]
fn a_counter_survives_a_killed_incrementer() {
    use host_runtime::sync::{Array, Value};
    watchdog(|| {
        let per = 2_000u64;
        let total = Value::new(0u64).unwrap();
        let done = Array::new_unlocked(&[0u64; 4]).unwrap();
        // One step under the lock; a dead holder's half-step is repaired from `done`.
        fn step(total: &Value<u64>, done: &Array<u64>, me: usize) {
            let lock = total.get_lock().unwrap();
            let _g = match lock.lock() {
                Ok(g) => g,
                Err(LockError::OwnerDied(g)) => {
                    total.set(done.to_vec().iter().sum());
                    g
                }
                Err(e) => panic!("{e}"),
            };
            total.set(total.get() + 1);
            done.set(me, done.get(me).unwrap() + 1).unwrap();
        }
        let children: Vec<_> = (0..4)
            .map(|me| {
                let (total, done) = (total.clone(), done.clone());
                let p = Process::new(move || {
                    for _ in 0..per {
                        step(&total, &done, me);
                    }
                });
                p.start().unwrap();
                p
            })
            .collect();
        // Kill child 0 once it did some of its work.
        while done.get(0).unwrap() < per / 4 {
            std::thread::yield_now();
        }
        children[0].kill().unwrap();
        for p in &children[1..] {
            assert_eq!(p.join().unwrap(), 0);
        }
        let _ = children[0].join();
        // One more step of ours (slot 3 is a survivor's: count it there too), which repairs
        // if nobody took the lock since the death.
        step(&total, &done, 3);
        let recorded = done.to_vec();
        assert_eq!(recorded[1..3], [per, per]);
        assert_eq!(recorded[3], per + 1);
        assert!(recorded[0] >= per / 4 && recorded[0] <= per);
        assert_eq!(total.get(), recorded.iter().sum::<u64>());
    });
}

/// Named primitives: made by one process, opened by name in another (a child that opens its
/// own mapping), with their parameters taken from the object; a killed holder of a named lock
/// is taken over; the wrong kind and a missing name are typed errors.
#[test]
fn named_primitives() {
    use host_runtime::sync::{Barrier, BoundedSemaphore, Event, NamedError, Semaphore};
    use host_runtime::ShmError;
    watchdog(|| {
        let name = |what: &str| format!("hr-sync-test-{what}-{}", std::process::id());
        let names = ["lock", "event", "sem", "barrier"].map(name);
        for n in &names {
            let _ = host_runtime::SharedRegion::unlink_named(n);
        }
        let lock = Lock::create_named(&names[0]).unwrap();
        let event = Event::create_named(&names[1]).unwrap();
        let sem = BoundedSemaphore::create_named(&names[2], 2).unwrap();
        let barrier = Barrier::create_named(&names[3], 2).unwrap();
        assert!(matches!(
            Event::open_named(&names[0]),
            Err(NamedError::WrongKind(_))
        ));
        assert!(matches!(
            Semaphore::open_named(&names[2]),
            Err(NamedError::WrongKind(_))
        ));
        assert!(matches!(
            Lock::open_named("hr-sync-test-no-such-name"),
            Err(NamedError::Shm(ShmError::NotFound(_)))
        ));
        let child_names = names.clone();
        let (p, _tx) = holding_child(move || {
            let lock: &'static Lock =
                Box::leak(Box::new(Lock::open_named(&child_names[0]).unwrap()));
            let event = Event::open_named(&child_names[1]).unwrap();
            let sem = BoundedSemaphore::open_named(&child_names[2]).unwrap();
            let barrier = Barrier::open_named(&child_names[3]).unwrap();
            assert_eq!(barrier.parties(), 2);
            assert!(sem.acquire(true, None));
            barrier.wait(None).unwrap();
            let guard = lock.lock().unwrap();
            event.set();
            Box::new(guard)
        });
        barrier.wait(None).unwrap();
        assert!(event.wait(None));
        assert_eq!(lock.holder(), p.pid());
        assert_eq!(sem.get_value(), 1);
        p.kill().unwrap();
        p.join().unwrap();
        assert!(matches!(lock.lock(), Err(LockError::OwnerDied(_))));
        // The child's permit comes back (the bound, 2, came from the object).
        assert_eq!(sem.repair_dead(), 1);
        assert_eq!(sem.get_value(), 2);
        assert!(sem.release().is_err());
        for n in &names {
            host_runtime::SharedRegion::unlink_named(n).unwrap();
        }
    });
}

/// Named `Condition`, `Value` and `Array`: each one object (its lock inside), opened by name in
/// a child with its own mapping; the array's length and the lock come from the object; another
/// item size, another kind and a forged length are typed errors.
#[test]
fn named_condition_value_and_array() {
    use host_runtime::sync::{Array, Condition, NamedError, Value};
    watchdog(|| {
        let name = |what: &str| format!("hr-sync-test-{what}-{}", std::process::id());
        let names = ["cond", "value", "array", "plain"].map(name);
        for n in &names {
            let _ = host_runtime::SharedRegion::unlink_named(n);
        }
        let cond = Condition::create_named(&names[0]).unwrap();
        let value = Value::create_named(&names[1], 0u64).unwrap();
        let array = Array::create_named(&names[2], &[0u32; 5]).unwrap();
        let plain = Array::create_named_unlocked(&names[3], &[7u16, 8]).unwrap();
        assert!(matches!(
            Value::<u32>::open_named(&names[1]),
            Err(NamedError::WrongItemSize {
                expected: 4,
                found: 8
            })
        ));
        assert!(matches!(
            Value::<u64>::open_named(&names[2]),
            Err(NamedError::WrongKind(_))
        ));
        assert!(matches!(
            Condition::open_named(&names[1]),
            Err(NamedError::WrongKind(_))
        ));
        let opened = Array::<u16>::open_named(&names[3]).unwrap();
        assert_eq!((opened.len(), opened.get_lock().is_none()), (2, true));
        assert_eq!(opened.to_vec(), [7, 8]);
        opened.set(1, 80).unwrap();
        assert_eq!(plain.get(1), Ok(80));

        let child_names = names.clone();
        let p = Process::new(move || {
            let cond = Condition::open_named(&child_names[0]).unwrap();
            let value = Value::<u64>::open_named(&child_names[1]).unwrap();
            let array = Array::<u32>::open_named(&child_names[2]).unwrap();
            assert_eq!(array.len(), 5);
            assert!(value.get_lock().is_some());
            for i in 0..1000 {
                value.update(|n| n + 1);
                array.set(i % 5, i as u32).unwrap();
            }
            let _g = cond.lock().unwrap();
            cond.flag().store(1, Relaxed);
            cond.notify_all().unwrap();
        });
        p.start().unwrap();
        for _ in 0..1000 {
            value.update(|n| n + 1);
        }
        {
            let _g = cond.lock().unwrap();
            assert!(cond
                .wait_for(|| cond.flag().load(Relaxed) == 1, None)
                .unwrap());
        }
        p.join().unwrap();
        assert_eq!(value.get(), 2000, "the lock in the object excludes both");
        assert_eq!(array.to_vec(), [995, 996, 997, 998, 999]);

        // A forged length in the header: the page it implies is not the object's size.
        let region = host_runtime::SharedRegion::open_named(&names[2]).unwrap();
        let header = region.claim_bytes(0, 64).unwrap();
        let parameter = header.u64_at(16).load(Relaxed);
        header.u64_at(16).store(parameter + 100, Relaxed);
        assert!(matches!(
            Array::<u32>::open_named(&names[2]),
            Err(NamedError::BadParameters)
        ));
        header.u64_at(16).store(parameter, Relaxed);
        assert_eq!(Array::<u32>::open_named(&names[2]).unwrap().len(), 5);
        for n in &names {
            host_runtime::SharedRegion::unlink_named(n).unwrap();
        }
    });
}

/// Typed access to shared memory: copies (`get`/`set`, `read_into`/`write_from`) and atomic
/// views of a `SharedRegion`'s bytes, and an `Array`'s zero-copy slices, across processes.
#[test]
fn typed_access_and_zero_copy_slices() {
    use host_runtime::sync::Array;
    use host_runtime::SharedRegion;
    use std::sync::atomic::AtomicI32;
    watchdog(|| {
        let region = SharedRegion::new(4096).unwrap();
        let bytes = region.claim_bytes(0, 4096).unwrap();
        let array = Array::new(&[0u64; 1000]).unwrap();
        let (b, a) = (bytes.clone(), array.clone());
        let children: Vec<Process> = (0..2)
            .map(|k| {
                let (b, a) = (b.clone(), a.clone());
                let p = Process::new(move || {
                    let counters: &[AtomicI32] = b.atomics(64, 4);
                    for _ in 0..1000 {
                        counters[k].fetch_add(1, Relaxed);
                        counters[3].fetch_sub(1, Relaxed);
                    }
                    b.set(8 * k + 3, [k as f32 + 1.0, -1.5f32]); // an unaligned copy
                    let guard = a.get_lock().unwrap().lock().unwrap();
                    // SAFETY: every writer of `a` writes under its lock, held here.
                    let values = unsafe { a.as_mut_slice() };
                    for (i, v) in values.iter_mut().enumerate() {
                        *v += (k as u64 + 1) * i as u64;
                    }
                    drop(guard);
                });
                p.start().unwrap();
                p
            })
            .collect();
        drop((b, a));
        for p in &children {
            p.join().unwrap();
            assert_eq!(p.exitcode(), Some(0));
        }
        let counters: &[AtomicI32] = bytes.atomics(64, 4);
        let seen: Vec<i32> = counters.iter().map(|c| c.load(Relaxed)).collect();
        assert_eq!(seen, [1000, 1000, 0, -2000]);
        assert_eq!(bytes.get::<[f32; 2]>(3), [1.0, -1.5]);
        assert_eq!(bytes.get::<[f32; 2]>(11), [2.0, -1.5]);
        let mut out = [0i32; 4];
        bytes.read_into(64, &mut out);
        assert_eq!(out, [1000, 1000, 0, -2000]);
        {
            let _guard = array.get_lock().unwrap().lock().unwrap();
            // SAFETY: the writers are gone (joined), and wrote under the lock, held here.
            let values = unsafe { array.as_slice() };
            assert!(values.iter().enumerate().all(|(i, &v)| v == 3 * i as u64));
        }
        // A slice out of bounds or misaligned is refused (a panic), never lent.
        let misaligned = std::panic::catch_unwind(|| {
            // SAFETY: nobody writes `bytes` now (the children are gone).
            unsafe { bytes.as_slice::<u64>(4, 1) }.len()
        });
        assert!(misaligned.is_err());
        let past_end = std::panic::catch_unwind(|| {
            // SAFETY: as above.
            unsafe { bytes.as_slice::<u64>(4088, 2) }.len()
        });
        assert!(past_end.is_err());
    });
}
