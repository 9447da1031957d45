//! `host_runtime::sync::Lock` against a `pthread_mutex_t` with `PTHREAD_PROCESS_SHARED` and
//! `PTHREAD_MUTEX_ROBUST` in shared memory (glibc's robust mutex, whose holder's death the
//! kernel reports as `EOWNERDEAD`): the uncontended acquire + release, and two processes
//! incrementing a shared counter under the lock (time per increment, both processes counted).
//!
//! Each counter run checks its result (exactly `2 × iters` increments) before it is timed.
//!
//! Also a `Barrier` round of two processes beside the futex ping-pong floor (one round trip).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use benches::child::Child;
use benches::ids::{barrier as bar, group, lock as ids};
use benches::roundtrip::{FutexPingPong, RoundTrip};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use host_runtime::shared::region::{Mapping, SharedBytes};
use host_runtime::sync::{Barrier, Lock};
use ipc_core::{LockOwner, LockWord};

/// A robust, process-shared `pthread_mutex_t` at the start of a shared page, with a counter
/// and a start flag after it.
struct Robust {
    mapping: Arc<Mapping>,
    words: SharedBytes,
}

/// Bytes of the page kept for the mutex (a `pthread_mutex_t` is 40 on x86_64).
const MUTEX_BYTES: usize = 64;

#[allow(unsafe_code)] // The pthread peer: raw `pthread_mutex_*` calls on shared memory.
impl Robust {
    fn new() -> Robust {
        let mapping = Arc::new(Mapping::anonymous(4096).expect("mmap"));
        assert!(std::mem::size_of::<libc::pthread_mutex_t>() <= MUTEX_BYTES);
        let words = Mapping::claim_bytes(&mapping, MUTEX_BYTES, 64).expect("claim");
        let r = Robust { mapping, words };
        // SAFETY: `attr` is initialised by `pthread_mutexattr_init` before use and destroyed
        // after; the mutex lies in our mapping (page-aligned, at least `MUTEX_BYTES` long, no
        // other view of those bytes), initialised once before any process uses it.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            assert_eq!(libc::pthread_mutexattr_init(&mut attr), 0);
            assert_eq!(
                libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED),
                0
            );
            assert_eq!(
                libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST),
                0
            );
            assert_eq!(libc::pthread_mutex_init(r.mutex(), &attr), 0);
            libc::pthread_mutexattr_destroy(&mut attr);
        }
        r
    }

    fn mutex(&self) -> *mut libc::pthread_mutex_t {
        self.mapping.addr() as *mut libc::pthread_mutex_t
    }

    fn lock(&self) {
        // SAFETY: the mutex was initialised in `new` and lives as long as `self.mapping`.
        let rc = unsafe { libc::pthread_mutex_lock(self.mutex()) };
        if rc == libc::EOWNERDEAD {
            // SAFETY: as above; we hold it (EOWNERDEAD) and mark it consistent.
            unsafe { libc::pthread_mutex_consistent(self.mutex()) };
        } else {
            assert_eq!(rc, 0);
        }
    }

    fn unlock(&self) {
        // SAFETY: as in `lock`; the calling thread holds the mutex.
        unsafe { libc::pthread_mutex_unlock(self.mutex()) };
    }
}

fn counter(words: &SharedBytes) -> &AtomicU64 {
    words.u64_at(0)
}
fn start_flag(words: &SharedBytes) -> &AtomicU32 {
    &words.atomics::<AtomicU32>(8, 1)[0]
}

/// Two processes (a forked child and us) each do `iters` increments of a shared counter under
/// `lock`/`unlock`, with a load and a store (a broken lock loses updates). Returns the time
/// from the start flag until both are done; checks the count.
fn two_processes(
    iters: u64,
    words: &SharedBytes,
    lock: &(impl Fn() + Sync),
    unlock: &(impl Fn() + Sync),
) -> Duration {
    counter(words).store(0, Relaxed);
    start_flag(words).store(0, Relaxed);
    let work = || {
        for _ in 0..iters {
            lock();
            let v = counter(words).load(Relaxed);
            counter(words).store(v + 1, Relaxed);
            unlock();
        }
    };
    let child = Child::spawn(|| {
        while start_flag(words).load(Acquire) == 0 {
            std::hint::spin_loop();
        }
        work();
        0
    })
    .expect("fork");
    let start = Instant::now();
    start_flag(words).store(1, Release);
    work();
    child.join().expect("child");
    let elapsed = start.elapsed();
    assert_eq!(counter(words).load(Relaxed), 2 * iters, "lost updates");
    elapsed
}

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group(group::LOCK_UNCONTENDED);
    let lock = Lock::new().expect("lock");
    g.bench_function(ids::HOST_RUNTIME, |b| {
        b.iter(|| drop(lock.lock().expect("lock")))
    });
    let word = LockWord::new();
    let me = LockOwner::new(1, 0).expect("owner");
    g.bench_function(ids::IPC_CORE_WORD, |b| {
        b.iter(|| {
            word.try_lock(me, false, false).expect("free");
            word.unlock(me, false).expect("held");
        })
    });
    let robust = Robust::new();
    g.bench_function(ids::PTHREAD_ROBUST, |b| {
        b.iter(|| {
            robust.lock();
            robust.unlock();
        })
    });
    g.finish();
}

fn contended(c: &mut Criterion) {
    let mut g = c.benchmark_group(group::LOCK_TWO_PROCESS_COUNTER);
    g.measurement_time(Duration::from_secs(5));
    // An iteration is two increments, one in each process.
    g.throughput(Throughput::Elements(2));
    let lock = Lock::new().expect("lock");
    let mapping = Arc::new(Mapping::anonymous(4096).expect("mmap"));
    let words = Mapping::claim_bytes(&mapping, 0, 64).expect("claim");
    g.bench_function(ids::HOST_RUNTIME, |b| {
        b.iter_custom(|iters| {
            two_processes(
                iters,
                &words,
                &|| std::mem::forget(lock.lock().expect("lock")),
                &|| lock.release().expect("release"),
            )
        })
    });
    let robust = Robust::new();
    g.bench_function(ids::PTHREAD_ROBUST, |b| {
        b.iter_custom(|iters| {
            two_processes(iters, &robust.words, &|| robust.lock(), &|| robust.unlock())
        })
    });
    g.finish();
}

fn barrier_round(c: &mut Criterion) {
    let mut g = c.benchmark_group(group::BARRIER_ROUND_2);
    let barrier = Barrier::new(2).expect("barrier");
    let b = barrier.clone();
    // The other party waits round after round until the barrier is aborted.
    let child = Child::spawn(move || {
        while b.wait(None).is_ok() {}
        0
    })
    .expect("fork");
    g.bench_function(bar::HOST_RUNTIME, |bench| {
        bench.iter(|| barrier.wait(None).expect("round"))
    });
    barrier.abort();
    child.join().expect("child");
    let mut ping = FutexPingPong::spawn().expect("ping-pong");
    g.bench_function(bar::FUTEX_PING_PONG, |bench| {
        bench.iter(|| ping.round_trip())
    });
    g.finish();
}

criterion_group!(benches, uncontended, contended, barrier_round);
criterion_main!(benches);
