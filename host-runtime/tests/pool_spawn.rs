//! Pools whose workers are started with `Spawn` and `Forkserver` (issue 16, item 5): they run
//! tasks and an `initializer_fn`, survive a SIGKILLed worker (its task fails with
//! `WorkerDied`, a replacement is started the same way), and `close`/`join`/`terminate` leave
//! no child behind.
//!
//! A worker shows it was not forked by [`MARK`]: the test sets it before it builds a pool, and
//! a forked worker would see it set, a re-executed one sees it clear. Workers report their pid
//! through a named queue (they inherit nothing of the test's memory), and block for ever (until
//! killed) by parking. Each test body runs under a watchdog.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{assert_reaped, children_of_self, watchdog_secs as watchdog};
use host_runtime::pool::{Builder, Pool, PoolError, TaskError};
use host_runtime::process::{ProcessError, StartMethod};
use host_runtime::sys::{self, Pid, Signal};
use host_runtime::Queue;

host_runtime::init_before_main!();

/// Set by the test process before it builds a pool; a worker that sees it set was forked.
static MARK: AtomicU64 = AtomicU64::new(0);
/// Set by [`set_tag`], the initializer, in each worker.
static TAG: AtomicU64 = AtomicU64::new(0);

const METHODS: [StartMethod; 2] = [StartMethod::Spawn, StartMethod::Forkserver];

fn square(x: u64) -> u64 {
    x * x
}

fn set_tag(tag: u64) {
    TAG.store(tag, Ordering::Relaxed);
}

/// The worker's pid, whether it saw [`MARK`] set, and its initializer's tag.
fn whoami(_: ()) -> (i32, u64, u64) {
    (
        std::process::id() as i32,
        MARK.load(Ordering::Relaxed),
        TAG.load(Ordering::Relaxed),
    )
}

/// Puts this worker's pid into the named queue, then blocks until killed.
fn victim(queue: String) {
    let q = Queue::<i32>::open_named(&queue).unwrap();
    q.put(std::process::id() as i32).unwrap();
    loop {
        std::thread::park();
    }
}

/// A named queue for pids, unlinked at once (the workers open it while the name exists: see
/// [`victim`], which opens it before the test unlinks it after reading).
fn pid_queue(tag: &str) -> (Queue<i32>, String) {
    let name = format!("host-runtime-pool-spawn-{}-{tag}", std::process::id());
    let _ = Queue::<i32>::unlink_named(&name);
    let q = Queue::<i32>::builder()
        .maxsize(8)
        .create_named(&name)
        .unwrap();
    (q, name)
}

/// `map`, `apply_async`, the initializer, a SIGKILLed busy worker (reported as `WorkerDied`
/// with its pid and signal, then replaced by a worker started the same way), then
/// `close`/`join`, with each of the two methods.
#[test]
fn spawned_and_forkserver_workers_run_map_and_survive_a_sigkill() {
    watchdog(120, || {
        MARK.store(1, Ordering::Relaxed);
        for method in METHODS {
            let pool = Builder::new()
                .processes(2)
                .start_method(method)
                .initializer_fn(set_tag, 7)
                .build()
                .unwrap();
            let expected: Vec<u64> = (0..200).map(square).collect();
            assert_eq!(pool.map(square, 0..200).unwrap(), expected, "{method}");
            let mut seen = HashSet::new();
            let rs: Vec<_> = (0..8)
                .map(|_| pool.apply_async(whoami, ()).unwrap())
                .collect();
            for r in rs {
                let (pid, mark, tag) = r.get().unwrap();
                assert_ne!(pid, std::process::id() as i32);
                assert_eq!(mark, 0, "{method}: the worker was not forked from the test");
                assert_eq!(tag, 7, "{method}: the initializer ran");
                seen.insert(pid);
            }
            for w in pool.workers() {
                if let Some(pid) = w.pid {
                    assert!(
                        children_of_self().contains(&pid),
                        "{method}: worker {pid} is our child"
                    );
                }
            }

            let (q, name) = pid_queue(method.name());
            let r = pool.apply_async(victim, name.clone()).unwrap();
            let pid = q.get_timeout(Duration::from_secs(60)).unwrap();
            let _ = Queue::<i32>::unlink_named(&name);
            seen.insert(pid);
            sys::kill(Pid::from_raw(pid).unwrap(), Signal::KILL).unwrap();
            match r.get() {
                Err(TaskError::WorkerDied { pid: p, exitcode }) => {
                    assert_eq!((p.as_raw(), exitcode), (pid, -9), "{method}");
                }
                other => panic!("{method}: {other:?}"),
            }
            // The replacement is started with the same method, and the pool goes on.
            assert_eq!(pool.map(square, 0..200).unwrap(), expected, "{method}");
            for _ in 0..4 {
                let (p, mark, tag) = pool.apply(whoami, ()).unwrap();
                assert_eq!((mark, tag), (0, 7), "{method}: a replacement");
                seen.insert(p);
            }
            assert!(!seen.is_empty());
            pool.close().unwrap();
            pool.join().unwrap();
            assert_reaped(seen);
        }
    });
}

/// Workers replaced after each task (`maxtasksperchild(1)`) are started with the pool's method
/// too; `terminate` kills a busy worker and fails its task, and leaves nothing behind.
#[test]
fn replaced_workers_keep_the_method_and_terminate_reaps_all() {
    watchdog(120, || {
        MARK.store(1, Ordering::Relaxed);
        for method in METHODS {
            let pool = Builder::new()
                .processes(1)
                .maxtasksperchild(1)
                .start_method(method)
                .build()
                .unwrap();
            let (a, mark_a, _) = pool.apply(whoami, ()).unwrap();
            let (b, mark_b, _) = pool.apply(whoami, ()).unwrap();
            assert_ne!(a, b, "{method}: one task per worker");
            assert_eq!((mark_a, mark_b), (0, 0), "{method}: neither was forked");

            let (q, name) = pid_queue(&format!("{}-t", method.name()));
            let r = pool.apply_async(victim, name.clone()).unwrap();
            let busy = q.get_timeout(Duration::from_secs(60)).unwrap();
            let _ = Queue::<i32>::unlink_named(&name);
            pool.terminate().unwrap();
            assert_eq!(r.get(), Err(TaskError::Terminated), "{method}");
            pool.join().unwrap();
            assert_reaped([a, b, busy]);
        }
    });
}

/// A closure initializer can't reach a re-executed worker: a typed error at `build`, not a
/// panic. With `Fork` it is fine.
#[test]
fn a_closure_initializer_needs_fork() {
    for method in METHODS {
        let err = Builder::new()
            .processes(1)
            .start_method(method)
            .initializer(|| {})
            .build()
            .unwrap_err();
        assert!(
            matches!(err, PoolError::Spawn(ProcessError::NeedsFork { method: m }) if m == method),
            "{err:?}"
        );
    }
    let pool = Builder::new()
        .processes(1)
        .start_method(StartMethod::Fork)
        .initializer(|| TAG.store(3, Ordering::Relaxed))
        .build()
        .unwrap();
    assert_eq!(pool.apply(whoami, ()).unwrap().2, 3);
}

/// Dropping a pool of exec'd workers ends them all (as `terminate`).
#[test]
fn dropping_a_spawn_pool_reaps_its_workers() {
    watchdog(120, || {
        for method in METHODS {
            let pool = Pool::builder()
                .processes(2)
                .start_method(method)
                .build()
                .unwrap();
            let pids: HashSet<i32> = (0..4).map(|_| pool.apply(whoami, ()).unwrap().0).collect();
            drop(pool);
            assert_reaped(pids);
        }
    });
}

/// Runs in a spawned child: a one-worker pool started with `method`, whose worker's pid goes
/// into the named queue; then blocks until killed.
fn pool_owner((method, queue): (String, String)) {
    let pool = Builder::new()
        .processes(1)
        .start_method(method.parse().unwrap())
        .build()
        .unwrap();
    let q = Queue::<i32>::open_named(&queue).unwrap();
    q.put(pool.apply(whoami, ()).unwrap().0).unwrap();
    loop {
        std::thread::park();
    }
}

/// A pool's process killed with `SIGKILL` takes its workers with it: a spawned worker through
/// its parent-death signal, a forkserver worker (which can't have one) through its watch on
/// the pool's process.
#[test]
fn workers_end_when_the_pool_process_is_killed() {
    watchdog(120, || {
        for method in METHODS {
            let (q, name) = pid_queue(&format!("{}-owner", method.name()));
            let owner = host_runtime::process::Builder::new()
                .start_method(StartMethod::Spawn)
                .run(pool_owner, (method.name().to_string(), name.clone()))
                .unwrap();
            let worker = q.get_timeout(Duration::from_secs(60)).unwrap();
            let _ = Queue::<i32>::unlink_named(&name);
            let pidfd = sys::pidfd_open(Pid::from_raw(worker).unwrap()).unwrap();
            owner.kill().unwrap();
            let _ = owner.join();
            // Readable once the worker has exited (it is not our child: nothing to reap).
            let ended = sys::poll_readable(
                std::os::fd::AsFd::as_fd(&pidfd),
                Some(Duration::from_secs(60)),
            )
            .unwrap();
            assert!(
                ended,
                "{method}: worker {worker} outlived its pool's process"
            );
        }
    });
}
