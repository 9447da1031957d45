//! Integration tests for [`host_runtime::pool::Pool`]: every test forks real worker processes.
//!
//! Each test body runs under [`watchdog`], so a bug that blocks (a lost result, a worker that
//! never exits) fails the test instead of hanging the run, and one at a time (`common::SERIAL`):
//! the tests that kill workers learn the victims' pids through [`REPORT`], one socket pair
//! per test, which the workers find in their copy of this static.
//!
//! No test sleeps to synchronise. Tasks that must still be running when the test acts block
//! on [`GATE`] or for ever (until killed or terminated), and report through [`REPORT`];
//! callbacks hand-shake over channels. The live workers are counted by having each of them
//! run a task at the same time ([`rendezvous_pids`]). The "within 1 s" bounds the issue names (a dead
//! worker's result, `terminate`) are asserted as such.
//!
//! `POOL_KILL_ROUNDS` sets the number of rounds of the SIGKILL torture test (default 100).

mod common;

use common::{assert_reaped, watchdog_secs as watchdog, Rng};
use std::collections::{HashMap, HashSet};
use std::env;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use host_runtime::pool::{Builder, Callbacks, Pool, PoolError, TaskError, WorkerState};
use host_runtime::sys::{self, Pid, Signal};
use serde::{Deserialize, Serialize};

/// Where [`victim`] tasks write their pid: the test keeps the other end.
static REPORT: Mutex<Option<UnixStream>> = Mutex::new(None);

/// What [`gated`] tasks wait on: the test writes a byte to let one finish.
static GATE: Mutex<Option<UnixStream>> = Mutex::new(None);

/// A fresh report socket: workers forked from now on find the write end in [`REPORT`].
fn report_channel() -> UnixStream {
    let (ours, theirs) = UnixStream::pair().unwrap();
    *REPORT.lock().unwrap_or_else(PoisonError::into_inner) = Some(theirs);
    ours
}

/// A fresh gate: workers forked from now on find their end in [`GATE`].
fn gate_channel() -> UnixStream {
    let (ours, theirs) = UnixStream::pair().unwrap();
    *GATE.lock().unwrap_or_else(PoisonError::into_inner) = Some(theirs);
    ours
}

/// A task that returns `x` once the test opens the gate (writes a byte).
fn gated(x: u64) -> u64 {
    if let Some(s) = GATE.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
        (&*s).read_exact(&mut [0u8]).unwrap();
    }
    x
}

/// Reads one pid written by a [`victim`].
fn read_pid(mut r: &UnixStream) -> i32 {
    let mut buf = [0u8; 4];
    r.read_exact(&mut buf).unwrap();
    i32::from_ne_bytes(buf)
}

/// A task that reports its worker's pid and then blocks until the worker is killed.
fn victim(_: ()) -> u64 {
    let pid = std::process::id() as i32;
    if let Some(s) = REPORT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
    {
        (&*s).write_all(&pid.to_ne_bytes()).unwrap();
    }
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

fn sigkill(pid: i32) {
    sys::kill(Pid::from_raw(pid).unwrap(), Signal::KILL).unwrap();
}

fn square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

fn scramble(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

fn pid_of_worker(_: u32) -> u32 {
    std::process::id()
}

fn sleep_ms(ms: u64) -> u64 {
    thread::sleep(Duration::from_millis(ms));
    ms
}

fn panics_on_odd(x: u32) -> u32 {
    if x % 2 == 1 {
        panic!("odd input {x}");
    }
    x
}

/// The pids the pool tables show for workers not known dead (a worker just started has none
/// yet; one killed a moment ago may still be listed).
fn table_pids(pool: &Pool) -> Vec<i32> {
    pool.workers()
        .iter()
        .filter(|w| w.state != WorkerState::Dead)
        .filter_map(|w| w.pid.map(Pid::as_raw))
        .collect()
}

/// The report and gate channels, made before the pool so that its workers inherit them.
struct Rig {
    report: UnixStream,
    gate: UnixStream,
}

fn rig() -> Rig {
    Rig {
        report: report_channel(),
        gate: gate_channel(),
    }
}

/// A task that reports its worker's pid, then waits at the gate.
fn rendezvous(_: ()) -> u32 {
    let pid = std::process::id();
    if let Some(s) = REPORT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
    {
        (&*s).write_all(&(pid as i32).to_ne_bytes()).unwrap();
    }
    gated(0);
    pid
}

/// Has every worker of the pool run a [`rendezvous`] task at the same time, and returns their
/// pids: so the pool has its full worker count, all started (a missing worker makes this wait
/// until the watchdog fails the test).
fn rendezvous_pids(pool: &Pool, rig: &Rig) -> Vec<i32> {
    let n = pool.processes();
    let results: Vec<_> = (0..n)
        .map(|_| pool.apply_async(rendezvous, ()).unwrap())
        .collect();
    // Each worker runs one task at a time, and these wait for each other: n distinct pids.
    let pids: Vec<i32> = (0..n).map(|_| read_pid(&rig.report)).collect();
    (&rig.gate).write_all(&vec![1; n]).unwrap();
    for r in results {
        r.get().unwrap();
    }
    assert_eq!(pids.iter().collect::<HashSet<_>>().len(), n, "{pids:?}");
    assert_no_rescue(pool);
    pids
}

/// Asserts that the pool's backstop timer had no task to hand out (`Pool::stranded_rescues`):
/// every dispatch happened on an event, none waited for the timer.
fn assert_no_rescue(pool: &Pool) {
    assert_eq!(
        pool.stranded_rescues(),
        0,
        "tasks handed out by the backstop timer, not on an event"
    );
}

// ---------------------------------------------------------------------------------------------
// Results

#[test]
fn map_of_100_000_items_in_order() {
    watchdog(60, || {
        let pool = Pool::new(2).unwrap();
        let out = pool.map(square, 0..100_000u64).unwrap();
        assert_eq!(out.len(), 100_000);
        assert!(out.iter().enumerate().all(|(i, &v)| v == square(i as u64)));
        // Small chunks too, and the iterators.
        let out = pool.map_chunked(scramble, 0..5_000u64, 7).unwrap();
        assert!(out
            .iter()
            .enumerate()
            .all(|(i, &v)| v == scramble(i as u64)));
        let it = pool.imap(scramble, 0..3_000u64, 1).unwrap();
        assert_eq!(it.len(), 3_000);
        let ordered: Vec<u64> = it.map(Result::unwrap).collect();
        assert!(ordered
            .iter()
            .enumerate()
            .all(|(i, &v)| v == scramble(i as u64)));
        let mut unordered: Vec<u64> = pool
            .imap_unordered(scramble, 0..3_000u64, 10)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        unordered.sort_unstable();
        let mut expected: Vec<u64> = (0..3_000).map(scramble).collect();
        expected.sort_unstable();
        assert_eq!(unordered, expected);
        assert_no_rescue(&pool);
    });
}

#[test]
fn ten_thousand_apply_async() {
    watchdog(60, || {
        let pool = Pool::new(2).unwrap();
        let results: Vec<_> = (0..10_000u64)
            .map(|i| pool.apply_async(scramble, i).unwrap())
            .collect();
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.get(), Ok(scramble(i as u64)));
            assert_eq!(r.successful(), Some(true));
            assert_eq!(r.get(), Err(TaskError::Taken));
        }
        // And from several threads at once.
        let pool = Arc::new(pool);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let pool = Arc::clone(&pool);
                thread::spawn(move || {
                    let rs: Vec<_> = (0..1_000u64)
                        .map(|i| (i, pool.apply_async(square, t * 1_000 + i).unwrap()))
                        .collect();
                    for (i, r) in rs {
                        assert_eq!(r.get(), Ok(square(t * 1_000 + i)));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_no_rescue(&pool);
    });
}

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Pool>();
    send_sync::<host_runtime::pool::AsyncResult<String>>();
    send_sync::<host_runtime::pool::Imap<Vec<u8>>>();
}

#[test]
fn empty_inputs_return_at_once() {
    watchdog(30, || {
        let pool = Pool::new(1).unwrap();
        assert!(pool.map(square, Vec::new()).unwrap().is_empty());
        assert_eq!(pool.imap(square, Vec::new(), 1).unwrap().next(), None);
        assert_eq!(
            pool.imap_unordered(square, Vec::new(), 0).unwrap().count(),
            0
        );
    });
}

#[test]
fn get_timeout_on_a_slow_task_times_out_and_the_task_still_completes() {
    watchdog(30, || {
        let mut gate = gate_channel();
        let pool = Pool::new(1).unwrap();
        let r = pool.apply_async(gated, 400).unwrap();
        let timeout = Duration::from_millis(50);
        let t = Instant::now();
        assert_eq!(r.get_timeout(timeout), Err(TaskError::Timeout));
        assert!(t.elapsed() >= timeout, "returned early: {:?}", t.elapsed());
        assert!(!r.ready());
        assert_eq!(r.successful(), None);
        assert!(!r.wait_timeout(Duration::from_millis(1)));
        let mut it = pool.imap(gated, [1, 2], 1).unwrap();
        assert_eq!(it.next_timeout(timeout), Some(Err(TaskError::Timeout)));
        gate.write_all(&[1; 3]).unwrap(); // the task goes on and completes
        assert_eq!(r.get(), Ok(400));
        assert!(r.ready());
        assert_eq!(
            it.collect::<Vec<_>>(),
            [Ok(1), Ok(2)],
            "a timeout consumes nothing"
        );
    });
}

#[test]
fn an_idle_worker_takes_the_tasks_queued_behind_a_blocked_one() {
    watchdog(30, || {
        let mut gate = gate_channel();
        let pool = Pool::new(2).unwrap();
        let blocked = pool.apply_async(gated, 0).unwrap();
        // About half of these are handed to the blocked worker's inbox (the pool spreads
        // tasks by custody); they can only finish if the other worker takes them over.
        let quick: Vec<_> = (0..200u64)
            .map(|i| pool.apply_async(scramble, i).unwrap())
            .collect();
        for (i, r) in quick.iter().enumerate() {
            assert_eq!(r.get(), Ok(scramble(i as u64)));
        }
        assert!(!blocked.ready());
        gate.write_all(&[1]).unwrap();
        assert_eq!(blocked.get(), Ok(0));
        assert_no_rescue(&pool);
    });
}

#[test]
fn a_panicking_task_errors_with_its_message_and_the_pool_goes_on() {
    watchdog(30, || {
        let rig = rig();
        let pool = Pool::new(2).unwrap();
        let pids_before: HashSet<i32> = rendezvous_pids(&pool, &rig).into_iter().collect();
        let r = pool.apply_async(panics_on_odd, 3).unwrap();
        assert_eq!(r.get(), Err(TaskError::Panicked("odd input 3".into())));
        assert_eq!(r.successful(), Some(false));
        assert_eq!(
            r.get(),
            Err(TaskError::Panicked("odd input 3".into())),
            "errors stay"
        );
        assert_eq!(pool.apply(panics_on_odd, 4).unwrap(), 4);
        // In `map`, the first failed chunk's error; `imap` yields it for each item of it.
        match pool.map_chunked(panics_on_odd, 0..10, 2) {
            Err(PoolError::Task(TaskError::Panicked(m))) => assert_eq!(m, "odd input 1"),
            other => panic!("{other:?}"),
        }
        let items: Vec<_> = pool.imap(panics_on_odd, 0..4, 1).unwrap().collect();
        assert_eq!(items[0], Ok(0));
        assert!(matches!(items[1], Err(TaskError::Panicked(_))));
        assert_eq!(items[2], Ok(2));
        // The workers survived: a panic is caught in the worker.
        let pids_after: HashSet<i32> = rendezvous_pids(&pool, &rig).into_iter().collect();
        assert_eq!(pids_before, pids_after);
    });
}

#[test]
fn callbacks_run_in_the_parent_before_the_result_is_ready() {
    watchdog(30, || {
        let pool = Pool::new(1).unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let r = pool
            .apply_async_with(
                square,
                9,
                Callbacks::new().on_success(move |v: &u64| {
                    started_tx.send((*v, std::process::id())).unwrap();
                    go_rx.recv().unwrap();
                }),
            )
            .unwrap();
        let (value, pid) = started_rx.recv().unwrap();
        assert_eq!((value, pid), (81, std::process::id()), "runs in the parent");
        assert!(!r.ready(), "not ready while the callback runs");
        go_tx.send(()).unwrap();
        assert_eq!(r.get(), Ok(81));

        let (tx, rx) = mpsc::channel();
        let r = pool
            .apply_async_with(
                panics_on_odd,
                1,
                Callbacks::new()
                    .on_success(|_: &u32| panic!("not called"))
                    .on_error(move |e: &TaskError| tx.send(e.clone()).unwrap()),
            )
            .unwrap();
        assert!(r.get().is_err());
        assert_eq!(rx.try_recv(), Ok(TaskError::Panicked("odd input 1".into())));
    });
}

// ---------------------------------------------------------------------------------------------
// Life cycle

#[test]
fn close_join_terminate_rules() {
    watchdog(30, || {
        let pool = Pool::new(2).unwrap();
        assert!(matches!(pool.join(), Err(PoolError::StillRunning)));
        let r = pool.apply_async(square, 5).unwrap();
        pool.close().unwrap();
        assert!(matches!(
            pool.apply_async(square, 1),
            Err(PoolError::NotRunning)
        ));
        assert!(matches!(pool.map(square, [1]), Err(PoolError::NotRunning)));
        pool.close().unwrap();
        pool.join().unwrap();
        assert_eq!(r.get(), Ok(25), "submitted before close: it ran");
        assert!(pool.workers().iter().all(|w| w.state == WorkerState::Dead));
        pool.terminate().unwrap(); // after join: nothing to do
        pool.join().unwrap();

        let pool = Pool::new(1).unwrap();
        pool.terminate().unwrap();
        assert!(matches!(
            pool.apply_async(square, 1),
            Err(PoolError::NotRunning)
        ));
        pool.join().unwrap();
        pool.close().unwrap();

        assert!(matches!(Pool::new(0), Err(PoolError::InvalidConfig(_))));
        assert!(matches!(
            Builder::new().processes(1).maxtasksperchild(0).build(),
            Err(PoolError::InvalidConfig(_))
        ));
    });
}

#[test]
fn terminate_with_10_000_pending_tasks_returns_within_1_s() {
    watchdog(60, || {
        let rig = rig();
        let pool = Pool::new(2).unwrap();
        let pids = rendezvous_pids(&pool, &rig);
        let results: Vec<_> = (0..10_000)
            .map(|_| pool.apply_async(sleep_ms, 20).unwrap())
            .collect();
        let t = Instant::now();
        pool.terminate().unwrap();
        let took = t.elapsed();
        assert!(took < Duration::from_secs(1), "terminate took {took:?}");
        let mut terminated = 0;
        for r in &results {
            match r.get() {
                Ok(20) => {}
                Err(TaskError::Terminated) => terminated += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(terminated > 0, "100 s of work can't have finished");
        pool.join().unwrap();
        assert_reaped(pids);
    });
}

#[test]
fn maxtasksperchild_replaces_workers_after_n_tasks() {
    watchdog(30, || {
        let pool = Builder::new()
            .processes(1)
            .maxtasksperchild(3)
            .build()
            .unwrap();
        let pids: Vec<u32> = (0..9)
            .map(|i| pool.apply(pid_of_worker, i).unwrap())
            .collect();
        let mut per_pid: HashMap<u32, usize> = HashMap::new();
        for p in &pids {
            *per_pid.entry(*p).or_default() += 1;
        }
        assert_eq!(per_pid.len(), 3, "{pids:?}");
        assert!(per_pid.values().all(|&n| n == 3), "{pids:?}");
        // Batched too: map hands out no more than 3 tasks to a worker.
        let pids = pool.map_chunked(pid_of_worker, 0..12, 1).unwrap();
        let distinct: HashSet<u32> = pids.iter().copied().collect();
        assert_eq!(distinct.len(), 4, "{pids:?}");
        assert_no_rescue(&pool);
        pool.close().unwrap();
        pool.join().unwrap();
        assert_reaped(per_pid.keys().chain(&distinct).map(|&p| p as i32));
    });
}

/// Counts initializer runs in each worker (its own copy of this static).
static INIT_RUNS: AtomicU32 = AtomicU32::new(0);

fn init_runs(_: u32) -> (u32, u32) {
    (std::process::id(), INIT_RUNS.load(Ordering::SeqCst))
}

#[test]
fn initializer_runs_once_per_worker() {
    watchdog(30, || {
        let pool = Builder::new()
            .processes(2)
            .maxtasksperchild(5)
            .initializer(|| {
                INIT_RUNS.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        let seen = pool.map_chunked(init_runs, 0..40, 1).unwrap();
        let pids: HashSet<u32> = seen.iter().map(|&(p, _)| p).collect();
        assert!(
            pids.len() >= 8,
            "40 tasks, 5 per worker: {} workers",
            pids.len()
        );
        assert!(seen.iter().all(|&(_, runs)| runs == 1), "{seen:?}");
        assert_eq!(INIT_RUNS.load(Ordering::SeqCst), 0, "not in the parent");
        assert_no_rescue(&pool);
    });
}

#[test]
fn no_zombies_after_drop() {
    watchdog(30, || {
        let rig = rig();
        let pool = Pool::new(3).unwrap();
        let pids = rendezvous_pids(&pool, &rig);
        let _pending: Vec<_> = (0..100)
            .map(|_| pool.apply_async(sleep_ms, 50).unwrap())
            .collect();
        drop(pool);
        assert_reaped(pids);
    });
}

// ---------------------------------------------------------------------------------------------
// Dead workers

#[test]
fn sigkill_of_a_busy_worker_errors_within_1_s_and_the_pool_keeps_its_size() {
    watchdog(30, || {
        let rig = rig();
        let pool = Pool::new(2).unwrap();
        let before = rendezvous_pids(&pool, &rig);
        let r = pool.apply_async(victim, ()).unwrap();
        let others: Vec<_> = (0..200u64)
            .map(|i| pool.apply_async(scramble, i).unwrap())
            .collect();
        let pid = read_pid(&rig.report);
        assert!(before.contains(&pid));
        let slot = pool
            .workers()
            .into_iter()
            .find(|w| w.pid == Pid::from_raw(pid))
            .unwrap();
        assert_eq!(slot.state, WorkerState::Running);
        let t = Instant::now();
        sigkill(pid);
        match r.get() {
            Err(TaskError::WorkerDied { pid: p, exitcode }) => {
                assert_eq!((p.as_raw(), exitcode), (pid, -9));
            }
            other => panic!("{other:?}"),
        }
        let took = t.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "the error came after {took:?}"
        );
        for (i, o) in others.iter().enumerate() {
            assert_eq!(o.get(), Ok(scramble(i as u64)));
        }
        let after = rendezvous_pids(&pool, &rig); // the full worker count
        assert!(!after.contains(&pid), "the dead worker was replaced");
        let reused = pool.workers()[slot.id.index()];
        assert_ne!(reused.id, slot.id, "its slot holds a new incarnation");
        assert_ne!(reused.pid, slot.pid);
        assert_eq!(pool.apply(square, 12).unwrap(), 144);
        pool.close().unwrap();
        pool.join().unwrap();
        assert_reaped(before.into_iter().chain(after));
    });
}

/// Issue 5's pool torture: `POOL_KILL_ROUNDS` (default 100) times, a worker busy with a
/// [`victim`] task is killed with `SIGKILL`, at a random moment after it reported, while other
/// threads keep the pool loaded with checked tasks; every few rounds a random worker busy with
/// that load is killed as well. Every victim's result is `WorkerDied` within 1 s of its kill;
/// every load result is the right value or (only around a random kill) `WorkerDied`; the pool
/// ends with its full worker count and leaves no zombie.
#[test]
fn torture_sigkill_busy_workers_under_load() {
    let rounds: usize = env::var("POOL_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    watchdog(300, move || {
        const PROCESSES: usize = 3;
        let rig = rig();
        let pool = Arc::new(Pool::new(PROCESSES).unwrap());
        let mut all_pids: HashSet<i32> = rendezvous_pids(&pool, &rig).into_iter().collect();
        let stop = Arc::new(AtomicBool::new(false));
        let loaders: Vec<_> = (0..2u64)
            .map(|t| {
                let (pool, stop) = (Arc::clone(&pool), Arc::clone(&stop));
                thread::spawn(move || {
                    let (mut ok, mut died) = (0u64, 0u64);
                    let mut i = t << 40;
                    while !stop.load(Ordering::Relaxed) {
                        let batch: Vec<_> = (0..64)
                            .map(|_| {
                                i += 1;
                                (i, pool.apply_async(scramble, i).unwrap())
                            })
                            .collect();
                        for (x, r) in batch {
                            match r.get() {
                                Ok(v) => {
                                    assert_eq!(v, scramble(x), "a wrong result");
                                    ok += 1;
                                }
                                Err(TaskError::WorkerDied { .. }) => died += 1,
                                Err(e) => panic!("load task {x}: {e}"),
                            }
                        }
                    }
                    (ok, died)
                })
            })
            .collect();
        let seed = Instant::now().elapsed().as_nanos() as u64 | 1;
        let mut rng = Rng(seed ^ 0x2545_F491_4F6C_DD1D);
        let mut longest = Duration::ZERO;
        let mut random_kills = 0u64;
        for round in 0..rounds {
            let r = pool.apply_async(victim, ()).unwrap();
            let pid = read_pid(&rig.report);
            all_pids.insert(pid);
            // A random moment: a few microseconds to a millisecond after it reported.
            let spin = Instant::now() + Duration::from_micros(rng.below(1_000));
            while Instant::now() < spin {
                std::hint::spin_loop();
            }
            let t = Instant::now();
            sigkill(pid);
            match r.get() {
                Err(TaskError::WorkerDied {
                    pid: p,
                    exitcode: -9,
                }) if p.as_raw() == pid => {}
                other => panic!("round {round}: victim {pid}: {other:?}"),
            }
            longest = longest.max(t.elapsed());
            if round % 5 == 4 {
                // A worker busy with the load, killed anywhere in its loop.
                let pids = table_pids(&pool);
                if let Some(&p) = pids.get(rng.below(pids.len() as u64) as usize) {
                    all_pids.insert(p);
                    let _ = sys::kill(Pid::from_raw(p).unwrap(), Signal::KILL);
                    random_kills += 1;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        let (mut ok, mut died) = (0, 0);
        for l in loaders {
            let (o, d) = l.join().unwrap();
            ok += o;
            died += d;
        }
        assert!(
            longest < Duration::from_secs(1),
            "a victim's error came {longest:?} after its kill"
        );
        // A random kill fails at most the task its worker ran and one it had finished but not
        // yet handed over; every other task of its custody is run elsewhere.
        assert!(
            died <= 2 * random_kills,
            "{died} load tasks failed for {random_kills} random kills"
        );
        // The full worker count at the end (every worker runs a task at the same time).
        all_pids.extend(rendezvous_pids(&pool, &rig));
        eprintln!(
            "torture: {rounds} victims and {random_kills} random workers killed; longest \
             kill-to-error {longest:?}; load: {ok} correct, {died} failed with WorkerDied; \
             rescued by the backstop timer: {}",
            pool.stranded_rescues()
        );
        assert_no_rescue(&pool);
        let pool = Arc::try_unwrap(pool).expect("the loaders are done");
        pool.close().unwrap();
        pool.join().unwrap();
        all_pids.extend(table_pids(&pool));
        assert_reaped(all_pids);
    });
}

#[test]
fn oversized_messages_are_refused_or_split() {
    watchdog(30, || {
        fn len(v: Vec<u8>) -> usize {
            v.len()
        }
        fn blow_up(n: usize) -> Vec<u8> {
            vec![7; n]
        }
        let pool = Builder::new()
            .processes(2)
            .max_message_size(64 << 10)
            .build()
            .unwrap();
        assert!(matches!(
            pool.apply_async(len, vec![0; 100 << 10]),
            Err(PoolError::TooLarge { len, max: 65536 }) if len > 100 << 10
        ));
        assert_eq!(pool.apply(len, vec![0; 30 << 10]).unwrap(), 30 << 10);
        match pool.apply(blow_up, 100 << 10) {
            Err(PoolError::Task(TaskError::Encode(_))) => {}
            other => panic!("{other:?}"),
        }
        // 16 items of 16 KiB in one chunk would be 256 KiB: split until each fits.
        let lens = pool
            .map_chunked(len, vec![vec![1u8; 16 << 10]; 16], 16)
            .unwrap();
        assert_eq!(lens, vec![16 << 10; 16]);
        // More long messages than an inbox has chunks for (4 of the largest size): the pool
        // waits for room instead of failing.
        let one = Builder::new()
            .processes(1)
            .max_message_size(64 << 10)
            .build()
            .unwrap();
        let lens = one
            .map_chunked(len, vec![vec![2u8; 40 << 10]; 12], 1)
            .unwrap();
        assert_eq!(lens, vec![40 << 10; 12]);
        let big = one.map_chunked(blow_up, vec![40 << 10; 12], 1).unwrap();
        assert!(big.iter().all(|v| v.len() == 40 << 10));
    });
}

/// Long results come back whole whatever their shape: a long byte payload's bytes are read
/// straight into the value (a chunk of one `Vec<u8>` or `String`, `apply` of one), and values
/// whose encoding looks the same but are no byte payload (a `Vec<u64>` of small numbers: a
/// varint each) or chunks of several are decoded as before.
#[test]
fn long_results_of_every_shape_come_back_whole() {
    fn echo(v: Vec<u8>) -> Vec<u8> {
        v
    }
    fn text(n: usize) -> String {
        "é€x".repeat(n)
    }
    fn small_numbers(n: usize) -> Vec<u64> {
        (0..n as u64).map(|i| i % 100).collect()
    }
    watchdog(60, || {
        let pool = Pool::new(2).unwrap();
        let items: Vec<Vec<u8>> = (0..12u8)
            .map(|i| {
                (0..(100 << 10) + usize::from(i))
                    .map(|j| j as u8 ^ i)
                    .collect()
            })
            .collect();
        assert_eq!(pool.map_chunked(echo, items.clone(), 1).unwrap(), items);
        assert_eq!(pool.map_chunked(echo, items.clone(), 3).unwrap(), items);
        assert_eq!(pool.apply(echo, items[5].clone()).unwrap(), items[5]);
        assert_eq!(pool.apply(text, 30_000).unwrap(), text(30_000));
        assert_eq!(
            pool.map_chunked(text, [30_000, 7], 1).unwrap(),
            [text(30_000), text(7)]
        );
        assert_eq!(
            pool.map_chunked(small_numbers, [50_000, 3], 1).unwrap(),
            [small_numbers(50_000), small_numbers(3)]
        );
        assert_eq!(
            pool.apply(small_numbers, 50_000).unwrap(),
            small_numbers(50_000)
        );
    });
}

/// Long arguments travel as a message's tail (moved, not copied, into the task message; read
/// in the worker straight into the argument's allocation; and, done with, reused for long
/// results): every shape and length around the threshold comes back whole and distinct, in
/// maps of one item per chunk and of several, in `apply`, with results that are not the
/// arguments (reversed, re-encoded, of another type).
#[test]
fn long_arguments_of_every_shape_come_back_whole() {
    fn reversed(mut v: Vec<u8>) -> Vec<u8> {
        v.reverse();
        v
    }
    fn upper(s: String) -> String {
        s.to_uppercase()
    }
    fn sum(v: Vec<u8>) -> u64 {
        v.iter().map(|&b| u64::from(b)).sum()
    }
    fn as_text(v: Vec<u8>) -> String {
        String::from_utf8_lossy(&v).into_owned()
    }
    watchdog(60, || {
        let pool = Pool::new(2).unwrap();
        let t = 16 << 10; // the tail threshold (`message::TAIL_MIN`)
        let lens = [t - 1, t, t + 1, 200 << 10, 1 << 20, 3];
        let items: Vec<Vec<u8>> = lens
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|j| (j * 7 + i) as u8).collect())
            .collect();
        let rev = |v: &Vec<u8>| v.iter().rev().copied().collect::<Vec<u8>>();
        let want: Vec<Vec<u8>> = items.iter().map(rev).collect();
        for round in 0..3 {
            // Later rounds read results into the memory of earlier rounds' arguments.
            assert_eq!(
                pool.map_chunked(reversed, items.clone(), 1).unwrap(),
                want,
                "round {round}"
            );
        }
        assert_eq!(pool.map_chunked(reversed, items.clone(), 2).unwrap(), want);
        let sums: Vec<u64> = items.iter().map(|v| sum(v.clone())).collect();
        assert_eq!(pool.map_chunked(sum, items.clone(), 1).unwrap(), sums);
        assert_eq!(pool.apply(reversed, items[4].clone()).unwrap(), want[4]);
        let texts: Vec<String> = lens.iter().map(|&n| "aé".repeat(n / 3)).collect();
        let uppers: Vec<String> = texts.iter().map(|s| s.to_uppercase()).collect();
        assert_eq!(pool.map_chunked(upper, texts.clone(), 1).unwrap(), uppers);
        assert_eq!(pool.apply(upper, texts[3].clone()).unwrap(), uppers[3]);
        // Bytes that are not UTF-8 as a long `Vec<u8>`, turned into a `String` in the worker.
        let bytes = vec![0xffu8; 100 << 10];
        assert_eq!(
            pool.map_chunked(as_text, [bytes.clone()], 1).unwrap(),
            [as_text(bytes)]
        );
    });
}

/// Long arguments (message tails) queued behind a blocked task are taken over by the idle
/// worker (the steal puts both parts of the message again) and come back whole.
#[test]
fn long_arguments_queued_behind_a_blocked_task_are_stolen_whole() {
    fn reversed(mut v: Vec<u8>) -> Vec<u8> {
        v.reverse();
        v
    }
    watchdog(60, || {
        let mut gate = gate_channel();
        let pool = Pool::new(2).unwrap();
        let blocked = pool.apply_async(gated, 0).unwrap();
        let item = |i: usize| -> Vec<u8> { (0..(64 << 10) + i).map(|j| (j ^ i) as u8).collect() };
        let long: Vec<_> = (0..24)
            .map(|i| pool.apply_async(reversed, item(i)).unwrap())
            .collect();
        for (i, r) in long.iter().enumerate() {
            let mut want = item(i);
            want.reverse();
            assert_eq!(r.get().as_ref(), Ok(&want), "task {i}");
        }
        assert!(!blocked.ready());
        gate.write_all(&[1]).unwrap();
        assert_eq!(blocked.get(), Ok(0));
        assert_no_rescue(&pool);
    });
}

/// `map` submits chunks as it encodes them: when an item fails to encode after some were
/// submitted (their long messages fill a batch), the call fails, and the pool goes on.
#[test]
fn a_map_failing_after_submitting_some_chunks_leaves_the_pool_working() {
    #[derive(Deserialize)]
    struct MaybeRefuses(Vec<u8>);
    impl Serialize for MaybeRefuses {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.0.is_empty() {
                return Err(serde::ser::Error::custom("refused"));
            }
            self.0.serialize(s)
        }
    }
    fn len(v: MaybeRefuses) -> usize {
        v.0.len()
    }
    watchdog(60, || {
        let pool = Pool::new(2).unwrap();
        let items = (0..40).map(|i| MaybeRefuses(vec![1; if i == 30 { 0 } else { 20 << 10 }]));
        let err = pool.map_chunked(len, items, 1).unwrap_err();
        assert!(matches!(err, PoolError::Encode(_)), "{err:?}");
        let lens = pool
            .map_chunked(len, (0..40).map(|_| MaybeRefuses(vec![2; 20 << 10])), 1)
            .unwrap();
        assert_eq!(lens, vec![20 << 10; 40]);
    });
}

/// `map` keeps only a few MiB of long messages encoded ahead of the deliveries, in the
/// buffers of delivered ones: a map of 40 MiB returns every result, and a map whose first task blocks for ever (so the encoding
/// waits behind it) ends once that worker is killed: its task fails, the others run on the
/// replacement worker.
#[test]
fn a_map_of_long_items_waits_for_deliveries_and_a_killed_worker_ends_the_wait() {
    fn len(v: Vec<u8>) -> usize {
        v.len()
    }
    fn echo(v: Vec<u8>) -> Vec<u8> {
        v
    }
    fn stuck_on_zero(v: Vec<u8>) -> usize {
        if v.first() == Some(&0) {
            victim(());
        }
        v.len()
    }
    watchdog(60, || {
        let report = report_channel();
        let pool = Pool::new(1).unwrap();
        let items = || (0..40).map(|i| vec![i as u8; 1 << 20]);
        // The long buffers of delivered messages are reused for the next ones: each result
        // is its own item's bytes, never what an earlier message left.
        assert_eq!(
            pool.map_chunked(echo, items(), 1).unwrap(),
            items().collect::<Vec<_>>()
        );
        let killer = thread::spawn(move || sigkill(read_pid(&report)));
        match pool.map_chunked(stuck_on_zero, items(), 1) {
            Err(PoolError::Task(TaskError::WorkerDied { .. })) => {}
            other => panic!("{other:?}"),
        }
        killer.join().unwrap();
        assert_eq!(
            pool.map_chunked(len, items(), 1).unwrap(),
            vec![1 << 20; 40]
        );
    });
}

/// An argument whose `Serialize` fails is an [`PoolError::Encode`] at once: `map` splits a chunk
/// only when its message is too long, and never encodes a failing item again.
#[test]
fn an_argument_that_cannot_be_encoded_fails_the_map_at_once() {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    static SERIALIZED: AtomicUsize = AtomicUsize::new(0);
    #[derive(Deserialize)]
    struct Refuses;
    impl Serialize for Refuses {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            SERIALIZED.fetch_add(1, Relaxed);
            Err(serde::ser::Error::custom("refused"))
        }
    }
    fn id(_: Refuses) -> u8 {
        0
    }
    watchdog(30, || {
        let pool = Pool::new(1).unwrap();
        let err = pool
            .map_chunked(id, (0..16).map(|_| Refuses), 16)
            .unwrap_err();
        assert!(matches!(err, PoolError::Encode(_)), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(SERIALIZED.load(Relaxed), 1, "the chunk was encoded once");
        assert!(matches!(pool.apply(id, Refuses), Err(PoolError::Encode(_))));
    });
}

// ---------------------------------------------------------------------------------------------
// Resource limits

/// Issue 12: `Pool::new` under a low descriptor limit. A forked child closes every descriptor
/// above stderr, then for each soft `RLIMIT_NOFILE` from 3 (no descriptor free) to 12 builds
/// pools of 2 and 4 workers. Each pool works (`map` gives the right results) or is refused
/// with [`PoolError::FdLimit`] naming the limit; nothing panics or hangs (the watchdog). With
/// the two descriptors of its wake-up socket free, a pool starts: its workers do without a
/// pidfd and without a start-up socket when there is none left.
#[test]
fn pools_start_or_fail_with_a_typed_error_under_a_low_descriptor_limit() {
    watchdog(120, || {
        let child = host_runtime::Process::new(|| {
            // Free the numbers 3..16 (new descriptors take the lowest free number, and those
            // at or above the limits set below take no room under them).
            for fd in 3..16 {
                // SAFETY: this forked child is single-threaded and never uses the descriptors
                // it inherited above stderr again: closing them only frees their numbers.
                unsafe { libc::close(fd) };
            }
            let mut hard = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: `hard` is a valid, writable `rlimit`.
            let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) };
            assert_eq!(got, 0);
            let mut refused = Vec::new();
            for limit in 3..=12u64 {
                let lowered = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: hard.rlim_max,
                };
                // SAFETY: `lowered` is a valid `rlimit`.
                let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) };
                assert_eq!(set, 0);
                for processes in [2, 4] {
                    match Pool::new(processes) {
                        Ok(pool) => {
                            let out = pool.map(square, 0..100u64).unwrap();
                            assert!(out.iter().enumerate().all(|(i, &v)| v == square(i as u64)));
                            assert_no_rescue(&pool);
                        }
                        Err(PoolError::FdLimit { limit: l, needed }) => {
                            assert_eq!(l, limit, "the error names the limit");
                            assert!(needed > 0);
                            refused.push((limit, processes));
                        }
                        Err(e) => panic!("limit {limit}, {processes} workers: {e}"),
                    }
                }
            }
            eprintln!("refused with FdLimit (limit, workers): {refused:?}");
            // Two descriptors (the wake-up socket) are all a pool needs.
            assert!(
                refused.iter().all(|&(limit, _)| limit < 5),
                "refused: {refused:?}"
            );
        });
        child.start().unwrap();
        assert_eq!(
            child.join().unwrap(),
            0,
            "the child failed (see its output)"
        );
    });
}
