//! [`JoinableQueue`]: CPython's `_test_multiprocessing.py` cases (`test_task_done`,
//! `test_closed_queue_put_get_exceptions` for `JoinableQueue`, `task_done()` called too many
//! times), and the crash cases Python cannot pass: a consumer killed while it holds items
//! makes `join` return `ConsumerDied` instead of waiting for ever.
//!
//! Each body runs under a watchdog far above the repair interval (200 ms); nothing sleeps to
//! synchronise: children say what they did through queues.

mod common;

use common::{join_ok, spawn, watchdog_secs};

use host_runtime::queue::{JoinError, JoinTimeoutError};
use host_runtime::{
    GetError, GetNowaitError, JoinableQueue, Process, PutError, PutNowaitError, PutTimeoutError,
    Queue, TaskDoneError,
};
use std::time::{Duration, Instant};

fn watchdog(body: impl FnOnce() + Send + 'static) {
    watchdog_secs(60, body);
}

/// SIGKILLs `p` and reaps it.
fn kill(p: &Process) {
    p.kill().unwrap();
    let _ = p.join();
}

/// Parks the calling (child) process until it is killed.
fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// CPython `test_task_done`: four workers take items until `None`, marking each done; the
/// parent's `join` returns once the ten items are done.
#[test]
fn task_done_and_join_across_processes() {
    watchdog(|| {
        let queue = JoinableQueue::<Option<u32>>::new(0).unwrap();
        let done = Queue::<u32>::new(0).unwrap();
        let workers: Vec<Process> = (0..4)
            .map(|_| {
                let (q, done) = (queue.clone(), done.clone());
                spawn(move || {
                    while let Some(item) = q.get().unwrap() {
                        done.put(item).unwrap();
                        q.task_done().unwrap();
                    }
                })
            })
            .collect();
        for i in 0..10 {
            queue.put(Some(i)).unwrap();
        }
        queue.join().unwrap();
        // Every item was done before join returned: each worker reported it first.
        assert_eq!(queue.unfinished_tasks(), 0);
        let mut got: Vec<u32> = done.try_iter().map(Result::unwrap).collect();
        got.sort_unstable();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        for _ in &workers {
            queue.put(None).unwrap();
        }
        for p in &workers {
            join_ok(p);
        }
    });
}

/// Many items, consumers with two threads each (threads of one process share its holdings):
/// `join` returns only when every item is done, and the counts end at zero.
#[test]
fn join_waits_for_every_item_of_threaded_consumers() {
    watchdog(|| {
        const N: u64 = 20_000;
        let queue = JoinableQueue::<Option<u64>>::new(64).unwrap();
        let sum = Queue::<u64>::new(0).unwrap();
        let workers: Vec<Process> = (0..3)
            .map(|_| {
                let (q, sum) = (queue.clone(), sum.clone());
                spawn(move || {
                    std::thread::scope(|s| {
                        for _ in 0..2 {
                            s.spawn(|| {
                                let mut total = 0;
                                while let Some(item) = q.get().unwrap() {
                                    total += item;
                                    q.task_done().unwrap();
                                }
                                q.task_done().unwrap(); // the None
                                sum.put(total).unwrap();
                            });
                        }
                    });
                })
            })
            .collect();
        for i in 0..N {
            queue.put(Some(i)).unwrap();
        }
        for _ in 0..6 {
            queue.put(None).unwrap();
        }
        queue.join().unwrap();
        assert_eq!(queue.unfinished_tasks(), 0);
        let total: u64 = (0..6).map(|_| sum.get().unwrap()).sum();
        assert_eq!(total, N * (N - 1) / 2);
        for p in &workers {
            join_ok(p);
        }
        assert!(matches!(
            queue.task_done(),
            Err(TaskDoneError::TooManyCalls)
        ));
    });
}

/// Python's `ValueError('task_done() called too many times')`: a typed error, nothing changed.
#[test]
fn task_done_too_many_times() {
    watchdog(|| {
        let q = JoinableQueue::<u8>::new(0).unwrap();
        assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
        q.put(1).unwrap();
        q.put(2).unwrap();
        assert_eq!(q.get().unwrap(), 1);
        q.task_done().unwrap();
        // Another process may mark an item done that it did not get (the second is still in
        // the queue: Python's count is puts minus task_done calls).
        let p = spawn({
            let q = q.clone();
            move || q.task_done().unwrap()
        });
        join_ok(&p);
        assert_eq!(q.unfinished_tasks(), 0);
        assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
        assert_eq!(q.unfinished_tasks(), 0);
        q.join().unwrap();
        assert_eq!(q.get().unwrap(), 2);
        assert_eq!(
            q.task_done().unwrap_err().to_string(),
            "task_done() called too many times"
        );
    });
}

/// CPython `test_closed_queue_put_get_exceptions` for `JoinableQueue`: refused puts are not
/// counted; `task_done` and `join` still work after `close`.
#[test]
fn closed_joinable_queue() {
    watchdog(|| {
        let q = JoinableQueue::<String>::new(0).unwrap();
        q.put("before".into()).unwrap();
        assert_eq!(q.get().unwrap(), "before");
        q.close();
        assert!(matches!(q.put("foo".into()), Err(PutError::Closed(s)) if s == "foo"));
        assert!(matches!(
            q.put_timeout("foo".into(), Duration::from_millis(1)),
            Err(PutTimeoutError::Closed(_))
        ));
        assert!(matches!(
            q.put_nowait("foo".into()),
            Err(PutNowaitError::Closed(_))
        ));
        let kept = String::from("foo");
        assert!(matches!(q.put_ref(&kept), Err(PutError::Closed(()))));
        assert!(matches!(
            q.put_ref_timeout(&kept, Duration::from_millis(1)),
            Err(PutTimeoutError::Closed(()))
        ));
        assert!(matches!(
            q.put_ref_nowait(&kept),
            Err(PutNowaitError::Closed(()))
        ));
        assert!(matches!(q.get(), Err(GetError::Closed)));
        assert!(matches!(q.get_nowait(), Err(GetNowaitError::Closed)));
        assert_eq!(q.unfinished_tasks(), 1);
        q.task_done().unwrap();
        q.join().unwrap();
    });
}

/// A failed put (full) is not counted; `join_timeout` times out with a typed error, never
/// early, while an item is unfinished.
#[test]
fn join_timeout_times_out_and_failed_puts_are_not_counted() {
    watchdog(|| {
        let q = JoinableQueue::<u8>::new(1).unwrap();
        q.put(1).unwrap();
        assert!(matches!(q.put_nowait(2), Err(PutNowaitError::Full(2))));
        assert!(matches!(
            q.put_ref_nowait(&2),
            Err(PutNowaitError::Full(()))
        ));
        assert!(matches!(
            q.put_ref_timeout(&2, Duration::from_millis(5)),
            Err(PutTimeoutError::Timeout(()))
        ));
        assert!(matches!(
            q.put_timeout(2, Duration::from_millis(5)),
            Err(PutTimeoutError::Timeout(2))
        ));
        assert_eq!(q.unfinished_tasks(), 1);
        let timeout = Duration::from_millis(300);
        let t = Instant::now();
        assert_eq!(q.join_timeout(timeout), Err(JoinTimeoutError::Timeout));
        assert!(t.elapsed() >= timeout);
        assert_eq!(q.get().unwrap(), 1);
        assert_eq!(
            q.join_timeout(Duration::ZERO),
            Err(JoinTimeoutError::Timeout)
        );
        q.task_done().unwrap();
        assert_eq!(q.join_timeout(Duration::ZERO), Ok(()));
    });
}

/// `join` sleeps until a `task_done` in another process wakes it.
#[test]
fn join_is_woken_by_another_process() {
    watchdog(|| {
        let q = JoinableQueue::<u32>::new(0).unwrap();
        let go = Queue::<()>::new(0).unwrap();
        let (worker, worker_go) = (q.clone(), go.clone());
        let p = spawn(move || {
            let item = worker.get().unwrap();
            assert_eq!(item, 7);
            worker_go.get().unwrap();
            worker.task_done().unwrap();
        });
        q.put(7).unwrap();
        std::thread::scope(|s| {
            let joiner = s.spawn(|| q.join());
            // The joiner has had time to sleep or not; either way only the task_done ends it.
            go.put(()).unwrap();
            assert_eq!(joiner.join().unwrap(), Ok(()));
        });
        join_ok(&p);
    });
}

/// The crash case: a consumer SIGKILLed while it holds three items it never marked done.
/// Python's `join` waits for ever; here it returns `ConsumerDied { lost: 3 }` once the other
/// items are done, within the repair interval (200 ms) plus slack, and so does every later
/// join, until `task_done` is called for the lost items.
#[test]
fn consumer_killed_holding_items_makes_join_report_them() {
    watchdog(|| {
        let q = JoinableQueue::<u32>::new(0).unwrap();
        let took = Queue::<u32>::new(0).unwrap();
        for i in 0..5 {
            q.put(i).unwrap();
        }
        let (consumer, took_tx) = (q.clone(), took.clone());
        let p = spawn(move || {
            for _ in 0..3 {
                let item = consumer.get().unwrap();
                took_tx.put(item).unwrap();
            }
            park_forever();
        });
        let held: Vec<u32> = (0..3).map(|_| took.get().unwrap()).collect();
        assert_eq!(held, [0, 1, 2]);
        kill(&p);
        // The parent does the other two.
        for _ in 0..2 {
            q.get().unwrap();
            q.task_done().unwrap();
        }
        assert_eq!(q.unfinished_tasks(), 3);
        assert_eq!(q.join(), Err(JoinError::ConsumerDied { lost: 3 }));
        // Sticky: nobody can do them.
        assert_eq!(q.join(), Err(JoinError::ConsumerDied { lost: 3 }));
        assert_eq!(
            q.join_timeout(Duration::from_secs(30)),
            Err(JoinTimeoutError::ConsumerDied { lost: 3 })
        );
        // New items are counted and joined as before, on top of the lost ones.
        q.put(9).unwrap();
        assert_eq!(
            q.join_timeout(Duration::from_millis(1)),
            Err(JoinTimeoutError::Timeout)
        );
        assert_eq!(q.get().unwrap(), 9);
        q.task_done().unwrap();
        assert_eq!(q.join(), Err(JoinError::ConsumerDied { lost: 3 }));
        // Python's count: a task_done for each lost item (from a process that holds none)
        // takes it off, which is how a program acknowledges the loss.
        for lost in (0..3).rev() {
            q.task_done().unwrap();
            let expected = if lost == 0 {
                Ok(())
            } else {
                Err(JoinError::ConsumerDied { lost })
            };
            assert_eq!(q.join(), expected);
        }
        assert_eq!(q.task_done(), Err(TaskDoneError::TooManyCalls));
    });
}

/// A join already asleep when the consumer dies wakes up with the error; the other
/// consumer's items are still waited for first.
#[test]
fn a_sleeping_join_learns_of_the_death() {
    watchdog(|| {
        let q = JoinableQueue::<u32>::new(0).unwrap();
        let took = Queue::<()>::new(0).unwrap();
        let release = Queue::<()>::new(0).unwrap();
        q.put(1).unwrap();
        q.put(2).unwrap();
        // The victim takes one and parks; the survivor takes one and waits for a word.
        let victim = spawn({
            let (q, took) = (q.clone(), took.clone());
            move || {
                q.get().unwrap();
                took.put(()).unwrap();
                park_forever();
            }
        });
        took.get().unwrap();
        let survivor = spawn({
            let (q, took, release) = (q.clone(), took.clone(), release.clone());
            move || {
                q.get().unwrap();
                took.put(()).unwrap();
                release.get().unwrap();
                q.task_done().unwrap();
            }
        });
        took.get().unwrap();
        std::thread::scope(|s| {
            let joiner = s.spawn(|| q.join());
            kill(&victim);
            // Still waiting for the survivor's item, however many repairs run meanwhile.
            assert_eq!(
                q.join_timeout(Duration::from_millis(500)),
                Err(JoinTimeoutError::Timeout)
            );
            release.put(()).unwrap();
            assert_eq!(
                joiner.join().unwrap(),
                Err(JoinError::ConsumerDied { lost: 1 })
            );
        });
        join_ok(&survivor);
    });
}

/// Items got in one process and marked done in another (a hand-off): the getter's death
/// writes nothing off, since other processes did its items.
#[test]
fn a_hand_off_then_the_getters_death_is_no_loss() {
    watchdog(|| {
        let q = JoinableQueue::<u32>::new(0).unwrap();
        let handed = Queue::<u32>::new(0).unwrap();
        for i in 0..4 {
            q.put(i).unwrap();
        }
        let (getter_q, handed_tx) = (q.clone(), handed.clone());
        let getter = spawn(move || {
            for _ in 0..4 {
                handed_tx.put(getter_q.get().unwrap()).unwrap();
            }
            park_forever();
        });
        for _ in 0..4 {
            handed.get().unwrap();
            q.task_done().unwrap(); // this process got none of them
        }
        kill(&getter);
        assert_eq!(q.join_timeout(Duration::from_secs(30)), Ok(()));
        assert_eq!(q.join(), Ok(()));
    });
}

/// Held items are not inherited by fork: a child forked while the parent holds items, and
/// killed, takes none of them with it; the parent's items are waited for, not written off.
#[test]
fn a_child_does_not_hold_its_parents_items() {
    watchdog(|| {
        let q = JoinableQueue::<u32>::new(0).unwrap();
        let ready = Queue::<()>::new(0).unwrap();
        for i in 0..3 {
            q.put(i).unwrap();
        }
        q.get().unwrap();
        q.get().unwrap();
        let (child_q, child_ready) = (q.clone(), ready.clone());
        let child = spawn(move || {
            // It registers (a get and its task_done), then parks holding nothing.
            child_q.get().unwrap();
            child_q.task_done().unwrap();
            child_ready.put(()).unwrap();
            park_forever();
        });
        ready.get().unwrap();
        kill(&child);
        // Longer than the repair interval: the repair runs, and finds nothing held.
        assert_eq!(
            q.join_timeout(Duration::from_millis(600)),
            Err(JoinTimeoutError::Timeout)
        );
        q.task_done().unwrap();
        q.task_done().unwrap();
        assert_eq!(q.join(), Ok(()));
    });
}

/// `try_iter` of a `JoinableQueue`: each item yielded is held until its `task_done`.
#[test]
fn joinable_try_iter_holds_what_it_yields() {
    watchdog(|| {
        let q = JoinableQueue::<u32>::new(0).unwrap();
        for i in 0..4 {
            q.put(i).unwrap();
        }
        let got: Vec<u32> = q.try_iter().map(Result::unwrap).collect();
        assert_eq!(got, [0, 1, 2, 3]);
        assert_eq!(q.unfinished_tasks(), 4);
        for _ in 0..4 {
            q.task_done().unwrap();
        }
        q.join().unwrap();
    });
}
