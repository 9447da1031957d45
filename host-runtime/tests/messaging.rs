//! Integration tests for processes that return values ([`JoinHandle`]), [`active_children`],
//! [`parent_process`], [`cpu_count`] and [`host_runtime::wait`]: every test forks real
//! processes.
//!
//! Each body runs under the watchdog, one at a time (see `common`). No test sleeps to
//! synchronise: children and parent hand-shake over socket pairs and queues; a child's exit is
//! observed by `join` or by `wait` itself.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{release, waiting_child, watchdog_secs};
use host_runtime::process::{
    self, active_children, cpu_count, parent_process, process_cpu_count, Builder, JoinError,
    Process,
};
use host_runtime::sys::{self, Pid, Signal};
use host_runtime::{wait, Queue, RawQueue, Waitable};

fn watchdog(body: impl FnOnce() + Send + 'static) {
    watchdog_secs(60, body);
}

/// Far above any expected wait: only a lost wake-up reaches it.
const LONG: Duration = Duration::from_secs(30);

#[test]
fn join_returns_small_and_large_values() {
    watchdog(|| {
        let h = process::start(|| (7u32, String::from("seven"), vec![Some(1i64), None])).unwrap();
        assert_eq!(h.join().unwrap(), (7, "seven".into(), vec![Some(1), None]));
        // Again: decoded anew from the record.
        assert_eq!(h.join().unwrap().0, 7);
        assert_eq!(h.process().exitcode(), Some(0));

        let len = 8 << 20;
        let h = Builder::new()
            .name("big")
            .start(move || (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
            .unwrap();
        assert_eq!(h.name(), "big");
        let v = h.join().unwrap();
        assert_eq!(v.len(), len);
        assert!(v.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));

        // Unit and nothing-sized values.
        let h = process::start(|| ()).unwrap();
        h.join().unwrap();
    });
}

#[test]
fn join_tells_panic_exit_code_and_signal_apart() {
    watchdog(|| {
        let h = process::start(|| -> u32 { panic!("bad input: {}", 42) }).unwrap();
        match h.join() {
            Err(JoinError::Panicked { message }) => assert_eq!(message, "bad input: 42"),
            other => panic!("expected Panicked, got {other:?}"),
        }
        assert_eq!(h.process().exitcode(), Some(1));

        let h = process::start(|| -> u32 { std::process::exit(9) }).unwrap();
        assert!(matches!(h.join(), Err(JoinError::Exited { code: 9 })));

        let (tx, rx) = UnixStream::pair().unwrap();
        let h = process::start(move || {
            let mut rx = rx;
            let _ = rx.read(&mut [0u8]); // until killed
            1u8
        })
        .unwrap();
        assert!(h.is_alive());
        h.kill().unwrap();
        match h.join() {
            Err(JoinError::Signaled { signal }) => assert_eq!(signal, Signal::KILL),
            other => panic!("expected Signaled, got {other:?}"),
        }
        drop(tx);

        let (_tx, rx) = UnixStream::pair().unwrap();
        let h = process::start(move || {
            let mut rx = rx;
            let _ = rx.read(&mut [0u8]);
            1u8
        })
        .unwrap();
        h.terminate().unwrap();
        assert!(matches!(
            h.join(),
            Err(JoinError::Signaled { signal }) if signal == Signal::TERM
        ));
    });
}

#[test]
fn join_timeout_times_out_then_returns_the_value() {
    watchdog(|| {
        let (tx, rx) = UnixStream::pair().unwrap();
        let h = process::start(move || {
            let mut rx = rx;
            let mut b = [0u8];
            rx.read_exact(&mut b).unwrap();
            format!("got {}", b[0])
        })
        .unwrap();
        let t = Instant::now();
        let timeout = Duration::from_millis(50);
        assert!(matches!(h.join_timeout(timeout), Err(JoinError::Timeout)));
        assert!(t.elapsed() >= timeout);
        assert!(h.is_alive());
        (&tx).write_all(&[5]).unwrap();
        assert_eq!(h.join_timeout(LONG).unwrap(), "got 5");
    });
}

/// This child's result file (`memfd:host-runtime-result`), found through `/proc/self/fd` as a
/// buggy child could. It must be the only one: the test drops every other `JoinHandle` before
/// starting the next child, so none is inherited.
fn own_result_file() -> fs::File {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc/self/fd").unwrap() {
        let path = entry.unwrap().path();
        if let Ok(target) = fs::read_link(&path) {
            if target
                .to_string_lossy()
                .contains("memfd:host-runtime-result")
            {
                found.push(path);
            }
        }
    }
    assert_eq!(found.len(), 1, "one result file");
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&found[0])
        .unwrap()
}

/// A child that scribbles over its own result record and exits 0: the parent gets a typed
/// error, never a wrong value or a panic.
#[test]
fn a_garbled_result_record_is_a_typed_error() {
    watchdog(|| {
        // A value record whose bytes are not a `String` (invalid UTF-8).
        let h = process::start(|| -> String {
            let f = own_result_file();
            let mut rec = b"hrjv".to_vec();
            rec.extend(1u32.to_le_bytes());
            rec.extend(3u64.to_le_bytes());
            rec.extend([2, 0xff, 0xfe]);
            f.write_all_at(&rec, 0).unwrap();
            std::process::exit(0)
        })
        .unwrap();
        assert!(
            matches!(h.join(), Err(JoinError::Decode(_))),
            "{:?}",
            h.join()
        );
        drop(h);

        // A length far past the file's end.
        let h = process::start(|| -> Vec<u8> {
            let f = own_result_file();
            let mut rec = b"hrjv".to_vec();
            rec.extend(1u32.to_le_bytes());
            rec.extend(u64::MAX.to_le_bytes());
            f.write_all_at(&rec, 0).unwrap();
            std::process::exit(0)
        })
        .unwrap();
        assert!(
            matches!(h.join(), Err(JoinError::Corrupt)),
            "{:?}",
            h.join()
        );

        // No record at all.
        let h = process::start(|| -> u64 { std::process::exit(0) }).unwrap();
        assert!(matches!(h.join(), Err(JoinError::Corrupt)));
    });
}

#[test]
fn active_children_lists_live_ones_and_drops_finished_ones() {
    watchdog(|| {
        let (a, tx_a) = waiting_child(Builder::new().name("child-a"));
        let (b, tx_b) = waiting_child(Builder::new().name("child-b").daemon(true));
        let (tx_h, rx_h) = UnixStream::pair().unwrap();
        let h = Builder::new()
            .name("child-h")
            .start(move || {
                let mut rx = rx_h;
                let _ = rx.read(&mut [0u8]);
                3u8
            })
            .unwrap();
        let ours = |pids: &[Pid]| -> Vec<(Pid, String, bool)> {
            active_children()
                .into_iter()
                .filter(|c| pids.contains(&c.pid()))
                .map(|c| (c.pid(), c.name().to_string(), c.is_daemon()))
                .collect()
        };
        let (pa, pb, ph) = (a.pid().unwrap(), b.pid().unwrap(), h.pid());
        let all = [pa, pb, ph];
        assert_eq!(
            ours(&all),
            [
                (pa, "child-a".to_string(), false),
                (pb, "child-b".to_string(), true),
                (ph, "child-h".to_string(), false)
            ]
        );

        // Joined: gone.
        release(&tx_a);
        assert_eq!(a.join().unwrap(), 0);
        assert_eq!(ours(&all).iter().map(|c| c.0).collect::<Vec<_>>(), [pb, ph]);

        // Exited but not reaped: dropped from the list, and its status is still the handle's.
        release(&tx_b);
        sys::wait_exited_nowait(pb).unwrap();
        assert_eq!(ours(&all).iter().map(|c| c.0).collect::<Vec<_>>(), [ph]);
        assert_eq!(b.join().unwrap(), 0, "the status was not taken");

        release(&tx_h);
        assert_eq!(h.join().unwrap(), 3);
        assert!(ours(&all).is_empty());
    });
}

#[test]
fn active_children_in_a_child_lists_only_its_own() {
    watchdog(|| {
        let (outer, tx) = waiting_child(Builder::new());
        let h = process::start(|| {
            let inherited = active_children().len();
            let (p, tx) = waiting_child(Builder::new().name("grandchild"));
            let names: Vec<String> = active_children()
                .iter()
                .map(|c| c.name().to_string())
                .collect();
            release(&tx);
            p.join().unwrap();
            (inherited, names)
        })
        .unwrap();
        let (inherited, names) = h.join().unwrap();
        assert_eq!(inherited, 0);
        assert_eq!(names, ["grandchild"]);
        release(&tx);
        outer.join().unwrap();
    });
}

#[test]
fn parent_process_is_none_in_main_and_the_parent_in_a_child() {
    watchdog(|| {
        assert!(parent_process().is_none());
        let h = process::start(|| {
            let me = parent_process().unwrap();
            (me.name().to_string(), me.pid(), me.is_alive())
        })
        .unwrap();
        let (name, pid, alive) = h.join().unwrap();
        assert_eq!(name, "MainProcess");
        assert_eq!(pid, Pid::this());
        assert!(alive);
    });
}

/// A grandchild sees its parent by name, and sees it die (it learns of the death through
/// the parent's sentinel, a pidfd). It
/// reports through a queue: its handle died with its parent.
#[test]
fn parent_process_is_not_alive_once_the_parent_died() {
    watchdog(|| {
        let q = Queue::<(String, bool, bool)>::new(1).unwrap();
        let tx = q.clone();
        let h = Builder::new()
            .name("outer")
            .start(move || {
                // The grandchild tells "outer" when it has looked; "outer" exits only then.
                let (mut ready_rx, ready_tx) = UnixStream::pair().unwrap();
                let inner = process::start(move || {
                    let parent = parent_process().unwrap();
                    let pidfd = parent.sentinel().unwrap();
                    let before = parent.is_alive();
                    (&ready_tx).write_all(b"r").unwrap();
                    assert!(sys::poll_readable(pidfd.as_fd(), Some(LONG)).unwrap());
                    tx.put((parent.name().to_string(), before, parent.is_alive()))
                        .unwrap();
                })
                .unwrap();
                ready_rx.read_exact(&mut [0u8]).unwrap();
                // "outer" exits without waiting; the grandchild's handle goes with it.
                drop(inner);
            })
            .unwrap();
        h.join().unwrap();
        let (name, before, after) = q.get_timeout(LONG).unwrap();
        assert_eq!(name, "outer");
        assert!(before);
        assert!(!after, "getppid changed when the parent died");
    });
}

#[test]
fn cpu_counts() {
    assert!(cpu_count() >= 1);
    assert!(process_cpu_count() >= 1);
    assert!(process_cpu_count() <= cpu_count());
}

#[test]
fn wait_wakes_on_a_childs_death_among_three_sources() {
    watchdog(|| {
        let (q1, q2) = (Queue::<u32>::new(4).unwrap(), RawQueue::new(4).unwrap());
        let (p, tx) = waiting_child(Builder::new());
        std::thread::scope(|s| {
            s.spawn(|| {
                // Lets the child go once `wait` has registered on the queues (it may sleep
                // or be about to: either way the exit must end it).
                while q2.waiters().getters == 0 {
                    std::thread::yield_now();
                }
                release(&tx);
            });
            let ready = wait(&[&q1, &q2, &p], Some(LONG));
            assert_eq!(ready, [2]);
        });
        assert_eq!(p.exitcode(), Some(0), "reaped by the check");
    });
}

#[test]
fn wait_wakes_on_a_put_from_another_process() {
    watchdog(|| {
        let (q1, q2) = (Queue::<String>::new(4).unwrap(), RawQueue::new(4).unwrap());
        let (p, tx) = waiting_child(Builder::new());
        let (go_tx, go_rx) = UnixStream::pair().unwrap();
        let producer = {
            let q2 = q2.clone();
            process::start(move || {
                let mut rx = go_rx;
                let _ = rx.read(&mut [0u8]);
                q2.put(b"hello").unwrap();
            })
            .unwrap()
        };
        (&go_tx).write_all(b"x").unwrap();
        let ready = wait(&[&q1, &q2, &p], Some(LONG));
        assert_eq!(ready, [1]);
        assert_eq!(q2.get().unwrap(), b"hello");
        producer.join().unwrap();
        release(&tx);
        p.join().unwrap();
    });
}

#[test]
fn wait_returns_every_ready_source() {
    watchdog(|| {
        let (q1, q2, q3) = (
            Queue::<u8>::new(4).unwrap(),
            Queue::<u8>::new(4).unwrap(),
            RawQueue::new(4).unwrap(),
        );
        let done = process::start(|| 1u8).unwrap();
        done.process().join().unwrap();
        q1.put(1).unwrap();
        q3.put(b"3").unwrap();
        let objects: [&dyn Waitable; 4] = [&q1, &q2, &q3, &done];
        assert_eq!(wait(&objects, Some(Duration::ZERO)), [0, 2, 3]);
        assert_eq!(wait(&objects, None), [0, 2, 3]);
        // Nothing was taken.
        assert_eq!((q1.qsize(), q3.qsize()), (1, 1));
        assert_eq!(done.join().unwrap(), 1);
    });
}

#[test]
fn wait_times_out_with_an_empty_result() {
    watchdog(|| {
        let q = Queue::<u8>::new(4).unwrap();
        let (p, tx) = waiting_child(Builder::new());
        let unstarted = Process::new(|| {});
        let timeout = Duration::from_millis(50);
        for objects in [
            &[&q as &dyn Waitable][..],
            &[&q, &p],
            &[&p],
            &[&unstarted],
            &[],
        ] {
            let t = Instant::now();
            assert!(wait(objects, Some(timeout)).is_empty());
            assert!(t.elapsed() >= timeout);
        }
        release(&tx);
        p.join().unwrap();
    });
}

/// CPU time (user + system) of the whole process so far.
fn cpu_time() -> Duration {
    host_runtime::sys::process_cpu_time().unwrap()
}

/// A blocked `wait` sleeps: over half a second, the process uses a small fraction of that in
/// CPU (a bound far above an honest sleep's cost, far below a spin's).
#[test]
fn a_blocked_wait_does_not_spin() {
    watchdog(|| {
        let (q1, q2) = (Queue::<u8>::new(4).unwrap(), RawQueue::new(4).unwrap());
        let (p, tx) = waiting_child(Builder::new());
        let wall = Duration::from_millis(500);
        let (t, cpu) = (Instant::now(), cpu_time());
        assert!(wait(&[&q1, &q2, &p], Some(wall)).is_empty());
        let (elapsed, used) = (t.elapsed(), cpu_time() - cpu);
        assert!(elapsed >= wall);
        assert!(
            used < elapsed / 4,
            "a blocked wait used {used:?} of CPU in {elapsed:?}"
        );
        release(&tx);
        p.join().unwrap();
    });
}

/// Only children among the sources: `wait` sleeps on their pidfds itself. The second one's
/// exit ends it; once the first exits too, both are ready.
#[test]
fn wait_on_children_only() {
    watchdog(|| {
        let (p1, tx1) = waiting_child(Builder::new());
        let (tx2, rx2) = UnixStream::pair().unwrap();
        let h2 = process::start(move || {
            let mut rx = rx2;
            let _ = rx.read(&mut [0u8]);
            2u8
        })
        .unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                // Released as soon as possible: whether `wait` sleeps by then or not, the exit
                // must end it.
                release(&tx2);
            });
            assert_eq!(wait(&[&p1, &h2], Some(LONG)), [1]);
        });
        assert_eq!(h2.join().unwrap(), 2);
        release(&tx1);
        assert_eq!(wait(&[&p1], Some(LONG)), [0]);
        assert_eq!(wait(&[&p1, &h2], Some(Duration::ZERO)), [0, 1]);
        assert_eq!(p1.join().unwrap(), 0);
    });
}
