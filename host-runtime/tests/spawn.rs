//! Start methods: spawned children (the program re-executed) run `fn` items with serde
//! arguments and results; panics, exit codes and signals come back; named queues carry messages
//! both ways; and the hazard that spawn removes: a lock held by another thread at the start.

mod common;

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use common::watchdog_secs;
use host_runtime::process::{current_process, Builder, JoinError, ProcessError, StartMethod};
use host_runtime::sys::Signal;
use host_runtime::Queue;

// The spawned children of this test binary run their function from here, before the harness.
host_runtime::init_before_main!();

fn spawner() -> Builder {
    Builder::new().start_method(StartMethod::Spawn)
}

fn describe((n, word): (u64, String)) -> (String, usize, String) {
    (
        format!("{word}-{}", n * 2),
        std::process::id() as usize,
        current_process().name().to_string(),
    )
}

#[test]
fn arguments_and_result_round_trip() {
    watchdog_secs(60, || {
        let h = spawner()
            .name("describer")
            .run(describe, (21, "answer".to_string()))
            .unwrap();
        let (text, pid, name) = h.join().unwrap();
        assert_eq!(text, "answer-42");
        assert_eq!(pid, h.pid().as_raw() as usize);
        assert_ne!(pid, std::process::id() as usize);
        assert_eq!(name, "describer");
        assert_eq!(h.process().exitcode(), Some(0));
    });
}

fn big(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

#[test]
fn large_arguments_and_results() {
    watchdog_secs(60, || {
        let h = spawner().run(big, 4 << 20).unwrap();
        let v = h.join().unwrap();
        assert_eq!(v.len(), 4 << 20);
        assert!(v.iter().enumerate().all(|(i, &b)| b == i as u8));

        let h = spawner()
            .run(
                |v: Vec<u8>| v.iter().map(|&b| u64::from(b)).sum::<u64>(),
                vec![3u8; 1 << 20],
            )
            .unwrap();
        assert_eq!(h.join().unwrap(), 3 << 20);
    });
}

fn boom(message: String) -> u32 {
    panic!("{message}")
}

#[test]
fn a_panic_comes_back_with_its_message() {
    watchdog_secs(60, || {
        let h = spawner()
            .run(boom, "spawned and failed".to_string())
            .unwrap();
        match h.join() {
            Err(JoinError::Panicked { message }) => assert_eq!(message, "spawned and failed"),
            other => panic!("expected a panic, got {other:?}"),
        }
        assert_eq!(h.process().exitcode(), Some(1));
    });
}

fn quit(code: i32) -> String {
    std::process::exit(code)
}

#[test]
fn an_exit_code_comes_back() {
    watchdog_secs(60, || {
        let h = spawner().run(quit, 7).unwrap();
        assert!(matches!(h.join(), Err(JoinError::Exited { code: 7 })));
    });
}

fn wait_for_ever(_: ()) {
    loop {
        std::thread::park();
    }
}

#[test]
fn a_killed_child_reports_the_signal() {
    watchdog_secs(60, || {
        let h = spawner().run(wait_for_ever, ()).unwrap();
        assert!(matches!(
            h.join_timeout(Duration::from_millis(50)),
            Err(JoinError::Timeout)
        ));
        assert!(h.is_alive());
        h.kill().unwrap();
        assert!(matches!(
            h.join(),
            Err(JoinError::Signaled {
                signal: Signal::KILL
            })
        ));
        assert_eq!(h.process().exitcode(), Some(-9));
    });
}

/// Takes numbers from the queue named `requests` until a 0, answers each doubled on `replies`;
/// returns how many it answered.
fn doubler((requests, replies): (String, String)) -> u64 {
    let requests = Queue::<u64>::open_named(&requests).unwrap();
    let replies = Queue::<u64>::open_named(&replies).unwrap();
    let mut n = 0;
    loop {
        let x = requests.get().unwrap();
        if x == 0 {
            return n;
        }
        replies.put(x * 2).unwrap();
        n += 1;
    }
}

#[test]
fn named_queues_passed_by_name_carry_messages_both_ways() {
    watchdog_secs(60, || {
        let name = |tag: &str| format!("host-runtime-spawn-{}-{tag}", std::process::id());
        let (req_name, rep_name) = (name("req"), name("rep"));
        let requests = Queue::<u64>::builder()
            .maxsize(4)
            .create_named(&req_name)
            .unwrap();
        let replies = Queue::<u64>::builder()
            .maxsize(4)
            .create_named(&rep_name)
            .unwrap();
        let h = spawner()
            .run(doubler, (req_name.clone(), rep_name.clone()))
            .unwrap();
        // More than the capacity each way: both sides block and wake each other.
        for x in 1..=100u64 {
            requests.put(x).unwrap();
            assert_eq!(replies.get().unwrap(), x * 2);
        }
        requests.put(0).unwrap();
        assert_eq!(h.join().unwrap(), 100);
        Queue::<u64>::unlink_named(&req_name).unwrap();
        Queue::<u64>::unlink_named(&rep_name).unwrap();
    });
}

#[test]
fn a_closure_cannot_be_spawned() {
    let p = spawner().build(|| {});
    assert!(matches!(
        p.start(),
        Err(ProcessError::NeedsFork {
            method: StartMethod::Spawn
        })
    ));
}

/// Runs in a spawned child: starts a forkserver daemon that waits for ever, puts its pid into
/// the named queue, and waits for ever itself.
fn start_forkserver_daemon(queue: String) {
    let h = Builder::new()
        .start_method(StartMethod::Forkserver)
        .daemon(true)
        .run(wait_for_ever, ())
        .unwrap();
    let q = Queue::<i32>::open_named(&queue).unwrap();
    q.put(h.pid().as_raw()).unwrap();
    wait_for_ever(());
}

/// A forkserver daemon runs its function and returns its result like any child, and dies
/// (`SIGKILL`) when the process that started it is killed: it is armed before `run` returns.
#[test]
fn a_forkserver_daemon_dies_with_its_parent_process() {
    watchdog_secs(60, || {
        let h = Builder::new()
            .start_method(StartMethod::Forkserver)
            .daemon(true)
            .run(describe, (4, "daemon".to_string()))
            .unwrap();
        assert_eq!(h.join().unwrap().0, "daemon-8");

        let name = format!("host-runtime-spawn-{}-fsdaemon", std::process::id());
        let _ = Queue::<i32>::unlink_named(&name);
        let q = Queue::<i32>::builder()
            .maxsize(2)
            .create_named(&name)
            .unwrap();
        let parent = spawner()
            .run(start_forkserver_daemon, name.clone())
            .unwrap();
        let daemon = q.get_timeout(Duration::from_secs(30)).unwrap();
        Queue::<i32>::unlink_named(&name).unwrap();
        let pidfd =
            host_runtime::sys::pidfd_open(host_runtime::sys::Pid::from_raw(daemon).unwrap())
                .unwrap();
        parent.kill().unwrap();
        assert!(matches!(parent.join(), Err(JoinError::Signaled { .. })));
        // Readable once the daemon has exited (not our child: nothing to reap here).
        let ended = host_runtime::sys::poll_readable(
            std::os::fd::AsFd::as_fd(&pidfd),
            Some(Duration::from_secs(30)),
        )
        .unwrap();
        if !ended {
            // Not left running (it holds the test's stdout) when the test fails.
            let _ = host_runtime::sys::kill(
                host_runtime::sys::Pid::from_raw(daemon).unwrap(),
                Signal::KILL,
            );
        }
        assert!(ended, "the forkserver daemon {daemon} outlived its parent");
    });
}

/// Held by a thread of the parent across the start of a child (the test).
static SHARED: Mutex<u32> = Mutex::new(0);

/// Locks `SHARED` (as library code in a child would, e.g. a logger) and returns.
fn lock_shared(add: u32) -> u32 {
    let mut g = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    *g += add;
    *g
}

/// Starts the child with `method` while another thread holds `SHARED`, and releases it only
/// once the child has started; returns the child's result, or `None` if it was still
/// running after `deadline` (it is then killed).
fn start_while_a_thread_holds_the_lock(method: StartMethod, deadline: Duration) -> Option<u32> {
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _g = SHARED.lock().unwrap();
        held_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    held_rx.recv().unwrap();
    let h = Builder::new()
        .start_method(method)
        .run(lock_shared, 1)
        .unwrap();
    // The lock is free in the parent from now on.
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    match h.join_timeout(deadline) {
        Ok(v) => Some(v),
        Err(JoinError::Timeout) => {
            h.kill().unwrap();
            assert!(matches!(h.join(), Err(JoinError::Signaled { .. })));
            None
        }
        Err(e) => panic!("unexpected: {e}"),
    }
}

/// The hazard of `fork` in a threaded program, shown: the forked child's copy of the mutex is
/// locked by a thread that does not exist in the child, so its `lock` never returns (we give it
/// 3 s, then kill it). Released in the parent right after the start, the mutex stays locked in
/// the child forever: the hang is certain, not a race. The same start with `Spawn` completes,
/// every time (20 rounds; `SPAWN_ROUNDS=1000` for more): the child is a new program with its
/// own, free mutex; so does a start with `Forkserver` (the child is a fork of the server, a
/// single-threaded run of the program that never took the mutex). A plain thread holds the mutex (no tokio runtime: a runtime's worker
/// holding it would be the same hazard, and adds a dependency for nothing more).
#[test]
fn a_lock_held_by_another_thread_hangs_a_forked_child_not_a_spawned_one() {
    watchdog_secs(120, || {
        // This program forks with threads running on purpose: no warning wanted.
        host_runtime::process::set_fork_warning(false);
        assert_eq!(
            start_while_a_thread_holds_the_lock(StartMethod::Fork, Duration::from_secs(3)),
            None,
            "the forked child should hang on the mutex its parent's thread held"
        );
        // `SPAWN_ROUNDS=1000` for a longer local run.
        let rounds: usize = std::env::var("SPAWN_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20);
        for _ in 0..rounds {
            for method in [StartMethod::Spawn, StartMethod::Forkserver] {
                assert_eq!(
                    start_while_a_thread_holds_the_lock(method, Duration::from_secs(60)),
                    Some(1),
                    "a {method} child starts with its own, free mutex"
                );
            }
        }
    });
}

/// Puts messages of 4 KiB (blob chunks, not inline), each filled with its sequence number,
/// into the named queue until killed.
fn producer(name: String) {
    let q = Queue::<Vec<u8>>::open_named(&name).unwrap();
    for seq in 0u64.. {
        q.put(vec![seq as u8; 4096]).unwrap();
    }
}

/// A spawned producer SIGKILLed while putting (at an arbitrary point: mid-put or blocked on
/// the full queue) registered when it opened the queue by name, so it is found dead and
/// repaired: the chunks it held come back, every message read is whole, the queue goes on.
#[test]
fn a_spawned_producer_killed_mid_put_is_repaired() {
    watchdog_secs(120, || {
        let name = format!("host-runtime-spawn-{}-kill", std::process::id());
        let q = Queue::<Vec<u8>>::builder()
            .maxsize(4)
            .size_class(4096 + 16, 4)
            .create_named(&name)
            .unwrap();
        let check = |m: &[u8]| {
            assert_eq!(m.len(), 4096);
            assert!(m.iter().all(|&b| b == m[0]), "a torn message");
        };
        for round in 0..5 {
            let h = spawner().run(producer, name.clone()).unwrap();
            // Consume while it produces, then kill it at whatever point it is.
            for _ in 0..(50 + 37 * round) {
                check(&q.get().unwrap());
            }
            h.kill().unwrap();
            assert!(matches!(h.join(), Err(JoinError::Signaled { .. })));
            assert_eq!(q.repair_dead(), 1, "the killed producer is repaired");
            while let Ok(m) = q.get_nowait() {
                check(&m);
            }
            let stats = q.pool_stats();
            assert_eq!(stats[0].free, stats[0].total, "no chunk leaked");
        }
        assert!(q.stats().dead_processes >= 5);
        // Still usable, to the last chunk.
        for i in 0..4u8 {
            q.put_timeout(vec![i; 4096], Duration::from_secs(30))
                .unwrap();
        }
        for i in 0..4u8 {
            assert_eq!(q.get().unwrap(), vec![i; 4096]);
        }
        Queue::<Vec<u8>>::unlink_named(&name).unwrap();
    });
}

/// A spawned daemon dies with the thread that started it, like a forked one: its parent-death
/// signal is armed before `execve` (and survives it), and `run` returns only once it is.
#[test]
fn a_spawned_daemon_dies_with_its_thread() {
    watchdog_secs(60, || {
        let h = std::thread::spawn(|| spawner().daemon(true).run(wait_for_ever, ()).unwrap())
            .join()
            .unwrap();
        assert!(matches!(
            h.join(),
            Err(JoinError::Signaled {
                signal: Signal::KILL
            })
        ));
    });
}

/// Run by `forking_with_threads_warns_once_and_can_be_silenced` in a process of its own (it
/// does nothing in a normal run): forks three children while another thread runs.
#[test]
fn fork_warning_helper() {
    let Some(mode) = std::env::var_os("HOST_RUNTIME_TEST_FORK_WARNING") else {
        return;
    };
    if mode == "off" {
        host_runtime::process::set_fork_warning(false);
    }
    let (tx, rx) = mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let _ = rx.recv();
    });
    for _ in 0..3 {
        let p = host_runtime::Process::new(|| {});
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
    }
    drop(tx);
    t.join().unwrap();
}

/// A program that forks while another thread runs is told once on stderr, with the way out;
/// `set_fork_warning(false)` silences it.
#[test]
fn forking_with_threads_warns_once_and_can_be_silenced() {
    watchdog_secs(120, || {
        for (mode, expected) in [("on", 1), ("off", 0)] {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "fork_warning_helper", "--nocapture"])
                .env("HOST_RUNTIME_TEST_FORK_WARNING", mode)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                stderr.matches("threads and forks:").count(),
                expected,
                "mode {mode}: {stderr}"
            );
            if expected == 1 {
                assert!(stderr.contains("StartMethod::Spawn"), "{stderr}");
                assert!(stderr.contains("set_fork_warning(false)"), "{stderr}");
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Forkserver

fn forkserver() -> Builder {
    Builder::new().start_method(StartMethod::Forkserver)
}

/// Arguments, result, name, panic, exit code, signal: as for a spawn. The child is ours (its
/// parent is this process, though the server forked it).
#[test]
fn forkserver_children_report_like_spawned_ones() {
    watchdog_secs(60, || {
        let h = forkserver()
            .name("served")
            .run(describe, (4, "x".to_string()))
            .unwrap();
        let (text, pid, name) = h.join().unwrap();
        assert_eq!(
            (text.as_str(), pid, name.as_str()),
            ("x-8", h.pid().as_raw() as usize, "served")
        );
        assert_eq!(h.process().exitcode(), Some(0));

        let h = forkserver().run(big, 1 << 20).unwrap();
        assert_eq!(h.join().unwrap().len(), 1 << 20);

        let h = forkserver()
            .run(boom, "served and failed".to_string())
            .unwrap();
        assert!(
            matches!(h.join(), Err(JoinError::Panicked { message }) if message == "served and failed")
        );

        let h = forkserver().run(quit, 9).unwrap();
        assert!(matches!(h.join(), Err(JoinError::Exited { code: 9 })));

        let h = forkserver().run(wait_for_ever, ()).unwrap();
        assert!(h.is_alive());
        h.terminate().unwrap();
        assert!(matches!(
            h.join(),
            Err(JoinError::Signaled {
                signal: Signal::TERM
            })
        ));
    });
}

/// Returns its argument's length and a checksum of it, and a vector of that length.
fn echo_len(v: Vec<u8>) -> (usize, u64, Vec<u8>) {
    let sum = v
        .iter()
        .enumerate()
        .map(|(i, &b)| (i as u64 + 1) * u64::from(b))
        .sum();
    (
        v.len(),
        sum,
        (0..v.len()).map(|i| (i % 251) as u8).collect(),
    )
}

/// Arguments of every size reach a forkserver child whole (small ones in the request, long
/// ones in a memory file: the boundary, 32 KiB, is crossed), and results of every size come
/// back (small ones encoded at once, long ones streamed: crossing 1 KiB).
#[test]
fn forkserver_arguments_and_results_of_every_size() {
    watchdog_secs(60, || {
        for len in [
            0,
            1,
            1000,
            1030,
            (32 << 10) - 40,
            (32 << 10) - 10,
            32 << 10,
            (32 << 10) + 1,
            1 << 20,
        ] {
            let arg: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let sum = arg
                .iter()
                .enumerate()
                .map(|(i, &b)| (i as u64 + 1) * u64::from(b))
                .sum::<u64>();
            let h = forkserver().name("sizes").run(echo_len, arg).unwrap();
            let (n, got, back) = h.join().unwrap();
            assert_eq!((n, got), (len, sum), "{len}");
            assert!(back.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        }
    });
}

/// The pid of this process's fork server: the child of ours whose environment names it
/// (`/proc/PID/environ` shows a process's first environment, which the server's `init`
/// does not rewrite), other than `not`.
fn my_fork_server(not: host_runtime::sys::Pid) -> Option<host_runtime::sys::Pid> {
    common::children_of_self().into_iter().find(|&pid| {
        pid != not
            && std::fs::read(format!("/proc/{}/environ", pid.as_raw())).is_ok_and(|env| {
                env.split(|&b| b == 0)
                    .any(|var| var.starts_with(b"HOST_RUNTIME_FORKSERVER="))
            })
    })
}

/// Runs in a spawned child (a process of its own, whose fork server no other test uses):
/// starts a forkserver child that waits, kills the server with `SIGKILL` while that child
/// lives on, and starts again. Whether the first start after the kill failed with an error of
/// the OS kind, what the next returned, and how the waiting child ended.
fn kill_the_fork_server(_: ()) -> (bool, (String, usize, String), bool) {
    let waiting = forkserver().run(wait_for_ever, ()).unwrap();
    let server = my_fork_server(waiting.pid()).expect("the fork server");
    host_runtime::sys::kill(server, Signal::KILL).unwrap();
    let first = forkserver().run(describe, (1, "a".to_string()));
    let failed = matches!(first, Err(ProcessError::Os(_)));
    let next = forkserver()
        .name("after")
        .run(describe, (2, "b".to_string()))
        .unwrap()
        .join()
        .unwrap();
    waiting.kill().unwrap();
    let killed = matches!(
        waiting.join(),
        Err(JoinError::Signaled {
            signal: Signal::KILL
        })
    );
    (failed, next, killed)
}

/// A killed fork server is a typed error for the next start (not a hang, though a child it
/// made still runs), reaped, and replaced by a new one for the start after.
#[test]
fn a_killed_fork_server_is_an_error_then_replaced() {
    watchdog_secs(60, || {
        let h = spawner().run(kill_the_fork_server, ()).unwrap();
        let (failed, (text, _, name), killed) = h.join().unwrap();
        assert!(failed, "the start after the kill did not fail");
        assert_eq!((text.as_str(), name.as_str()), ("b-4", "after"));
        assert!(killed);
    });
}

/// Forkserver children from several threads at once, each with a queue of its own by name.
#[test]
fn forkserver_children_from_many_threads_use_named_queues() {
    watchdog_secs(120, || {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    let name =
                        |tag: &str| format!("host-runtime-fs-{}-{t}-{tag}", std::process::id());
                    let (req_name, rep_name) = (name("req"), name("rep"));
                    let requests = Queue::<u64>::builder()
                        .maxsize(2)
                        .create_named(&req_name)
                        .unwrap();
                    let replies = Queue::<u64>::builder()
                        .maxsize(2)
                        .create_named(&rep_name)
                        .unwrap();
                    let h = forkserver()
                        .run(doubler, (req_name.clone(), rep_name.clone()))
                        .unwrap();
                    for x in 1..=20u64 {
                        requests.put(x + 1000 * t).unwrap();
                        assert_eq!(replies.get().unwrap(), 2 * (x + 1000 * t));
                    }
                    requests.put(0).unwrap();
                    assert_eq!(h.join().unwrap(), 20);
                    Queue::<u64>::unlink_named(&req_name).unwrap();
                    Queue::<u64>::unlink_named(&rep_name).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
}

/// Opens the named region, reads the parent's bytes at 0, writes them reversed at 64, and
/// returns what it read.
fn reverse_in_region(name: String) -> Vec<u8> {
    let region = host_runtime::SharedRegion::open_named(&name).unwrap();
    let bytes = region.claim_bytes(0, region.len()).unwrap();
    let mut got = vec![0u8; 16];
    bytes.read(0, &mut got);
    let mut back = got.clone();
    back.reverse();
    bytes.write(64, &back);
    got
}

/// A named `SharedRegion` crosses to spawned and forkserver children by its name: both sides
/// see each other's bytes.
#[test]
fn a_named_region_passed_by_name_is_shared_both_ways() {
    watchdog_secs(60, || {
        for method in [StartMethod::Spawn, StartMethod::Forkserver] {
            let name = format!("host-runtime-spawn-{}-region-{method}", std::process::id());
            let region = host_runtime::SharedRegion::create_named(&name, 4096).unwrap();
            let bytes = region.claim_bytes(0, region.len()).unwrap();
            bytes.write(0, b"0123456789abcdef");
            let h = Builder::new()
                .start_method(method)
                .run(reverse_in_region, name.clone())
                .unwrap();
            assert_eq!(h.join().unwrap(), b"0123456789abcdef");
            let mut back = [0u8; 16];
            bytes.read(64, &mut back);
            assert_eq!(&back, b"fedcba9876543210");
            host_runtime::SharedRegion::unlink_named(&name).unwrap();
        }
    });
}

type Handed = (
    host_runtime::process::ByFd<Queue<u64>>,
    host_runtime::process::ByFd<host_runtime::RawQueue>,
    host_runtime::process::ByFd<host_runtime::SharedRegion>,
);

/// Gets the numbers from the raw queue, puts their sum into the typed one, writes the region's
/// first 16 bytes reversed at 64, and returns how many numbers it got.
fn use_handed((sums, numbers, region): Handed) -> usize {
    let mut total = 0u64;
    let mut n = 0;
    while let Ok(m) = numbers.0.get_nowait() {
        total += u64::from_le_bytes(m.try_into().unwrap());
        n += 1;
    }
    sums.0.put(total).unwrap();
    let bytes = region.0.claim_bytes(0, region.0.len()).unwrap();
    let mut got = [0u8; 16];
    bytes.read(0, &mut got);
    got.reverse();
    bytes.write(64, &got);
    n
}

/// Queues and a region made as memory files cross to spawned and forkserver children as
/// descriptors (`ByFd`), with no name anywhere: both sides see each other's messages and bytes.
/// A handle without a memory file is an encode error, and so is a `ByFd` serialized anywhere
/// but into a child's arguments.
#[test]
fn shareable_handles_cross_as_descriptors() {
    use host_runtime::process::ByFd;
    watchdog_secs(60, || {
        for method in [StartMethod::Spawn, StartMethod::Forkserver] {
            let sums = Queue::<u64>::builder()
                .maxsize(4)
                .build_shareable()
                .unwrap();
            let numbers = host_runtime::queue::Builder::new()
                .maxsize(16)
                .build_raw_shareable()
                .unwrap();
            for i in 1..=10u64 {
                numbers.put(i.to_le_bytes()).unwrap();
            }
            let region = host_runtime::SharedRegion::new_shareable(4096).unwrap();
            let bytes = region.claim_bytes(0, region.len()).unwrap();
            bytes.write(0, b"0123456789abcdef");
            let h = Builder::new()
                .start_method(method)
                .run(
                    use_handed,
                    (
                        ByFd(sums.clone()),
                        ByFd(numbers.clone()),
                        ByFd(region.clone()),
                    ),
                )
                .unwrap();
            assert_eq!(h.join().unwrap(), 10, "{method}");
            assert_eq!(sums.get().unwrap(), 55, "{method}");
            let mut back = [0u8; 16];
            bytes.read(64, &mut back);
            assert_eq!(&back, b"fedcba9876543210", "{method}");
        }
        let plain = Queue::<u64>::new(2).unwrap();
        let numbers = host_runtime::queue::Builder::new()
            .maxsize(1)
            .build_raw_shareable()
            .unwrap();
        let region = host_runtime::SharedRegion::new_shareable(64).unwrap();
        let err = spawner()
            .run(
                use_handed,
                (ByFd(plain), ByFd(numbers.clone()), ByFd(region.clone())),
            )
            .unwrap_err();
        assert!(matches!(err, ProcessError::Encode(_)), "{err:?}");
        assert!(postcard::to_stdvec(&ByFd(region)).is_err());
    });
}
