//! A quick sustained-stream harness (not criterion): a forked producer runs free, the bench
//! process receives, for `RawQueue` (plain `put`/`get_into`, and the batch calls) and, in the
//! same run, its peers: a pipe and the floor of streaming, a single-producer single-consumer
//! ring over `MAP_SHARED` with cached indices (rtrb's design).
//!
//! ```text
//! cargo bench -p benches --bench batch -- [FILTER...] [--n MESSAGES] [--runs RUNS]
//! ```
//!
//! Each scenario streams `--n` messages (default 2,000,000) through a capacity of 1,024, checks
//! every sequence number, and reports the rate from the first message received to the last, and
//! the CPU time of both processes per message (user + system, `getrusage`; the machine's
//! hardware counters are not available in our VM). With several runs it prints every run and
//! the medians, and each scenario's ratio to the pipe and to the SPSC floor of the same run.
//!
//! # The consumer that catches up (issue 17, item 2; 2 vCPUs, AMD EPYC, 2026-12-06)
//!
//! In the 1→1 stream (`raw_64B`) the consumer is the faster side: it catches up, finds the
//! ring empty and polls the head slot, which the producer is claiming and writing, so each
//! look takes that slot's line from the writer. Tried, each against the unchanged binary in
//! the same `flock -x` hold, rounds alternated, 8-12 rounds of `raw_64B spsc_64B --runs 3`
//! (medians of 24-36 runs; ratio: median of the same-run ratio to `spsc_64B`), load 2-4; round
//! trips with `rtt 50000 11 raw16,u64,mailbox,word`, 6-10 rounds alternated (medians of the
//! per-round ratios to `word`):
//!
//! - Polling the tail hint instead of the head slot while spinning (a tail that moved says a
//!   put claimed the head): no gain, 0.53 → 0.49 and 0.59 → 0.53 × spsc (the tail's line then
//!   bounces once per put instead), and the round trip worse (`u64` 3.08 → 4.98 × word).
//! - `k` `spin_loop`s before every look again, or before the first one only: the stream gains
//!   with `k` (first look only: 0.59 → 0.65 at 8, 0.74 at 32, 0.85 at 128; before every look:
//!   0.55 → 0.81 at 32, 0.90 at 128) because the producer runs ahead and the consumer then
//!   takes several messages in a row, but a request/reply waits those pauses on every hop:
//!   `u64` 3.08 → 5.15 (32), 8.37 (64), 14.42 (128) × word (`raw16` 5.34 → 4.88 at 32, but
//!   7.94 and 14.00 at 64 and 128; a `spin_loop` is ~6-8 ns here, inferred from those).
//! - Kept (`queue/raw/get.rs`, `CAUGHT_UP`): 32 `spin_loop`s before the first look again only
//!   when the thread's previous get found its message at once (the consumer caught up with a
//!   stream). A get that waited, as in every request/reply, never pauses. Four holds:
//!   `raw_64B` 0.54 → 0.73, 0.69 → 0.72, 0.62 → 0.77, 0.67 → 0.78 × spsc (11.6 → 13.8 M/s,
//!   11.4 → 13.0, 11.6 → 12.5, 12.0 → 13.0 by medians; `raw_64B_2to1` 0.52 → 0.77,
//!   0.70 → 0.72, 0.63 → 0.76, 0.78 → 0.78); with 128 pauses 0.80-0.82. Round trip
//!   unchanged: `u64` 3.08 → 2.97, 3.10 → 3.08 and 3.07 → 3.08 × word, `raw16` 5.39 → 5.08,
//!   5.63 → 5.62 and 5.42 → 5.50, and one hold 2.89 → 3.17 (`raw16` 5.31 → 5.62), within
//!   the spread of the before runs (2.89-3.14). On CPUs with a slower `pause`
//!   (Intel since Skylake, ~140 cycles) 32 of them last ~1.5 µs, which a caught-up consumer
//!   then adds once to the latency of the next message. (Since then a time, 800 ns, counted
//!   in `spin_loop`s per machine: `CAUGHT_UP_PAUSE` in `queue/raw/get.rs`, with a sweep of
//!   its length.)
//!
//! # 1 KiB through the blob pool (issue 17, item 2; 2 vCPUs, AMD EPYC, 2026-12-06)
//!
//! A 1,024-byte message is longer than the inline size (111 bytes), so it goes through a blob
//! chunk (`raw_1KiB`; `core_1KiB` is the bare ipc-core ring with 1 KiB slots and the same
//! blocking loop, `vec_1KiB` a `Queue<Vec<u8>>`). Before: `raw_1KiB` 2.8-3.0 M msg/s,
//! 0.32-0.35 × `core_1KiB`, 333-346 ns CPU/msg against 111-119. `perf record -e cpu-clock`
//! of the stream put ~30 % of all samples (~70 % of `put_until`'s) in the take's scan: the
//! class holds 1,024 chunks, the stream keeps them all in flight, and the take scanned the
//! leases from index 0 to find the one just freed (on average half of them, per put; a
//! producer waiting for a chunk rescanned all 1,024 on every spin).
//!
//! - Kept (`queue/blob.rs`, `Class::try_take`): the take starts at the process's cursor (the
//!   chunk after its last take) and goes round the chunks below the high-water mark before
//!   it looks above it: `raw_1KiB` 2.84 / 2.98 → 4.75 / 5.97 M msg/s (two holds alternated,
//!   medians of 3, load 4.3-4.9), CPU 346 / 333 → 181 / 166 ns/msg; `vec_1KiB` 2.13 / 2.29 →
//!   3.93 / 4.04. Criterion `sustained_1KiB`, one hold each, load 2.0-2.3: `RawQueue`
//!   6.30 → 9.80 M/s (`ByteQueue blocking` 6.52 / 7.00), `Queue<Vec<u8>>` 1.79 → 5.87 M/s,
//!   ipc-channel `IpcSender<Vec<u8>>` 395 / 402 k/s: 4.5 × → 14.6 × ipc-channel.
//!   Instructions per put+get in one thread (never a full class): 1,689 → 1,703.
//!
//!   Two regimes on this VM: when both processes get a vCPU each (CPU/msg ≈ 2 / rate) the
//!   consumer bounds the stream and the producer's scan was mostly hidden (then `raw_1KiB`
//!   before and after were both 6.6-7.0 M msg/s, ~1.0 × `core_1KiB`, 2026-12-06 07:29, load
//!   3.5-3.8); when they share one (another tenant busy, or `taskset -c 1`), every ns of CPU
//!   per message counts. Pinned to one CPU with `taskset -c 1`, two alternated holds, medians
//!   of 3, load 1.9-2.0: `raw_1KiB` 3.07 / 3.09 → 6.07 / 5.89 M msg/s (0.35 / 0.34 → 0.67 /
//!   0.64 × `core_1KiB`, 327 / 325 → 165 / 171 ns CPU/msg against `core_1KiB`'s 110-114),
//!   `vec_1KiB` 2.39 / 2.46 → 4.08 / 3.97 M msg/s (416 / 408 → 247 / 254 ns CPU/msg). The
//!   last report's 3.50 against 9.44 M/s looks like the shared-CPU regime.
//! - Tried, not kept: the chunk copies (`SharedBytes::write`/`read`/`read_append`) as
//!   raw-pointer word loops: 1,689 → 1,697 instructions per 1 KiB put+get (`vec1k` 2,669 →
//!   2,700): the existing loops already compile to one 8-byte load and store per word,
//!   unrolled by 4 (~2.75 instructions a word, ~350 per KiB each way); fewer would take
//!   wider atomics than Rust has. A waiting producer that looks only at its cursor's chunk on
//!   15 of 16 spins (a full scan on the 16th): no gain beyond the noise (`raw_1KiB` 7.07 /
//!   7.22 → 6.07 / 7.85 M msg/s), and one run of `chunk2k_1KiB` fell to 0.44 M msg/s (a
//!   partial look before a sleep can miss a free chunk: why, in the next section but one;
//!   a correct version is kept there). The consumer's lease moves as a
//!   CAS instead of a checked load and a store (one exclusive fetch of the lease line
//!   instead of a shared one and an upgrade): `raw_1KiB` 6.76 / 6.21 / 6.36 → 6.90 / 7.53 /
//!   6.21 M msg/s in three alternated rounds at load 2.4, within the noise.
//! - Chunk size (`chunk1k_1KiB`, `chunk2k_1KiB`: one class of 1 KiB or 2 KiB chunks instead of
//!   the default 4 KiB): 5.45-6.39 and 5.49-5.86 M msg/s against `raw_1KiB` 5.02-5.35 in the
//!   quiet runs of one hold (load 3.9-4.3; the other runs were disturbed); not enough, nor
//!   stable enough, to argue for a smaller default class. A 1 KiB message cannot go inline
//!   (the builder's `inline_max` is at most 1,023); a slot of 1,041+ bytes would take
//!   capacity × 1 KiB of ring for every queue, where 4 KiB chunks cost only what is in flight.
//!
//! # The put waiting for a chunk (issue 17, item 2; 2 vCPUs, AMD EPYC, 2026-12-06, later)
//!
//! In the 1 KiB stream the class's 1,024 chunks are all in flight (as many as ring slots), so
//! a put often waits for one, and before it sleeps each of its looks was a full take: a scan
//! of all 1,024 leases (`perf record -e cpu-clock`, pinned with `taskset -c 1`: 8.3 % of all
//! samples in `Class::try_take`, 5.7 % in its scan loop), and the spin checks its clock only
//! every 16 looks, so 16 scans (several µs) overran a 0.5 µs spin budget on a shared CPU.
//!
//! - Why the earlier variant above stalled (read off its kept binary): its look counter lived
//!   in the put's attempt closure, so looks 2-15 of every 16 were partial in the spin *and* in
//!   the sleep loop, whose look follows `prepare_wait` and decides the sleep; and its partial
//!   look read `leases[cursor]` only while `cursor < count`, so after a take of the class's
//!   last chunk (cursor = count = the mark) it saw no chunk at all. On a shared CPU the
//!   consumer drains the ring while the producer is off it, frees every chunk and sleeps; the
//!   producer registers, its partial look fails, and it sleeps with every chunk free and
//!   nobody left to wake it: until its stall check (200 ms), then again, until a 16th look
//!   scans, up to ~1.5 s per such wrap-around. A lost wake-up, not noise.
//! - Kept (`queue/raw/put.rs`, `Class::try_take_next`): a waiting put scans the whole class
//!   on its first look, every 16th, and on every look made while it is registered on the
//!   class's `freed` word (its own registration is in `waiters()`, so the look before each
//!   sleep is a full scan); the others look only at the chunk it took last and the one at
//!   its cursor, chunk 0 once the cursor reached the mark (the oldest message's in a full
//!   stream: the next one freed). Tests: `a_waiting_put_spins_on_the_chunk_after_its_last_take`,
//!   `a_put_registered_on_freed_scans_every_chunk` (each fails without its half),
//!   `the_next_chunk_after_the_mark_is_chunk_0`. Pinned to one CPU, `raw_1KiB core_1KiB
//!   vec_1KiB --runs 3`, before/after alternated in 10 exclusive holds at load 1.6-3.5 (28
//!   medians of 3 each): `raw_1KiB` 0.64 → 0.67 × `core_1KiB` (median; 179 → 171 ns
//!   CPU/msg, 5.63 → 5.89 M msg/s), after ≥ before + 0.02 in 8 of the 10 holds (the other
//!   two disturbed: 0.66 → 0.57 and 0.63 → 0.60); the scan loop 5.7 → ~2.4 % of samples
//!   (left: each waiting put's first, 16th and pre-sleep looks). `vec_1KiB` 0.44 → 0.44. Unpinned, 7
//!   alternated pairs of medians: `raw_1KiB` 6.35 → 6.79 M msg/s, 0.90 → 0.96 × core, within
//!   this VM's noise (`core_1KiB` itself 1.6-9.7 M msg/s there). Pool
//!   `pool_big/1MiB_echo` alternated in two holds (criterion, 3 s, load 1.8-3.1): 51.7 /
//!   57.6 / 50.8 / 45.4 / 57.2 / 56.7 → 43.4 / 59.6 / 39.3 / 49.1 / 50.2 / 54.6 ms, no
//!   regression. No stalled run in 30+ runs of `raw_1KiB`, `raw_batch_1KiB`,
//!   `chunk1k_1KiB` and `chunk2k_1KiB`, pinned and not (the slow runs, ~1.7 M msg/s at
//!   ~1,100 ns CPU/msg, hit `core_1KiB` and the before binary alike: the VM, not a sleep).
//! - Tried, not kept: a full scan every 256th look instead of every 16th (`raw_1KiB` 0.68
//!   against 0.67 × core, 6 medians each: noise; and a chunk freed elsewhere, as with several
//!   producers, would wait out the whole spin); skipping the full first look while this
//!   process's last full scan found the class full (a private flag): 0.66 against 0.67, noise.
//! - Where the rest of the pinned gap goes (profile after): the two 1 KiB copies (~25 % of
//!   samples in the producer's `SharedBytes::write`, ~31 % in the consumer's copy-out, mostly
//!   on the chunk's loads: each 4 KiB chunk is its own page, 1,024 pages in flight against
//!   the bare ring's 256) and the consumer's `notify` on `freed` (~3 %, its SeqCst fence).
//!
//! # Long copies in one `rep movsb` (issue 17, items 2 and 5; 2 vCPUs, AMD EPYC, 2026-12-06)
//!
//! The chunk copies above were loops of relaxed 8-byte atomic loads and stores (the compiler
//! may not merge atomics into vector moves): in a two-thread copy test (a source the other
//! core just wrote, fresh destination) 7-9 GB/s for 1 KiB and 24-27 GB/s for 1 MiB, where
//! glibc's `memcpy` made 13-17 and 42-45 and one `rep movsb` 12-15 and 25-40 (SSE2 and AVX
//! loops in `asm!`: between the two). `memcpy` may not read bytes another process may write
//! (a data race); an `asm!` block may: the language sees it as relaxed atomic byte copies.
//! Kept: `SharedBytes::{write, read, read_append}` (host-runtime: blob chunks, pool
//! arguments and results) and ipc-core's `ByteQueue::try_push`/`try_pop` copy 256 bytes or
//! more in one `rep movsb` on x86-64 (`ipc_core::try_bulk_copy`; below 256
//! the word loop was as fast). Not the slot views (`SlotReader`/`SlotWriter`), which carry
//! host-runtime's short ring messages: the branch inlined there cost `Queue<u64>` 30
//! instructions a put+get (586 -> 616; 593 with it in `try_push`/`try_pop` only). Under
//! callgrind a `rep movsb` counts one instruction per byte, so instruction counts of messages
//! of 256 bytes or more (`vec1k`: 2,653 -> 3,886) no longer compare with the word loop's. Before/after binaries alternated in exclusive holds, load
//! 1.0-2.0, medians of 3 runs:
//!
//! - unpinned (two good rounds of three; the first hit a degraded spell in both): `raw_1KiB`
//!   6.00 / 8.53 → 11.50 / 11.39 M msg/s (332 / 232 → 173 / 175 ns CPU/msg), `vec_1KiB`
//!   4.54 / 4.53 → 6.30 / 7.08; `pool_big/1MiB_echo` (criterion) 51.3 / 49.8 → 29.9 / 32.9 ms
//!   per 200 tasks; CPython's `pool_big` in the same holds 431-449 task/s: ours 13.3 × (it
//!   was 9 ×).
//! - pinned to one CPU (`taskset -c 0`, 5 pairs): `raw_1KiB` 167-208 → 143-150 ns CPU/msg,
//!   `vec_1KiB` 251-301 → 232-251; ipc-core's ring with 1 KiB slots, `core_1KiB` (6 pairs),
//!   111-118 → 75-80 ns CPU/msg (9.0 → 13.2 M msg/s; with the bulk copy in `try_push`/`try_pop`
//!   only, 3 pairs: 109-112 → 69-70 ns, 9.0-9.2 → 14.4-14.6 M msg/s). Unpinned, `core_1KiB` swung between
//!   1.6 and 20.4 M msg/s in the same minutes, before and after alike: no verdict there.
//!
//! Taken back out of ipc-core's ring the next session (the `core_1KiB` gain with it): a
//! process that rewrites a slot word can make two of our threads copy one slot at once, and
//! a `rep movsb` (bytes, to the language) racing a word loop on the same bytes is undefined
//! behaviour in Rust's model, where two word loops only garble bytes. Every copy of a slot is
//! the word loop again; `SharedBytes` makes every byte copy with `rep movsb` on x86-64,
//! whatever its length, for the same reason (one size for every copy of a chunk).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::time::{Duration, Instant};

use host_runtime::wait::{Backoff, Policy};
use host_runtime::RawQueue;

/// Queue capacity, in messages, of every peer that has one.
const CAPACITY: usize = 1024;
/// Messages per batch call.
const BATCH: usize = 32;

/// The sequence number in a message's first 8 bytes, the producer in the next 8.
fn stamp(buf: &mut [u8], seq: u64, producer: u64) {
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    buf[8..16].copy_from_slice(&producer.to_le_bytes());
}

fn seq_of(buf: &[u8]) -> (u64, u64) {
    let seq = u64::from_le_bytes(buf[..8].try_into().unwrap());
    let producer = u64::from_le_bytes(buf[8..16].try_into().unwrap());
    (seq, producer)
}

/// Checks that each producer's messages arrive in order, none lost.
struct Order(Vec<u64>);

impl Order {
    fn new(producers: usize) -> Order {
        Order(vec![0; producers])
    }

    #[inline]
    fn check(&mut self, buf: &[u8]) {
        let (seq, producer) = seq_of(buf);
        let next = &mut self.0[producer as usize];
        assert_eq!(seq, *next, "producer {producer}: message out of order");
        *next += 1;
    }
}

/// Forks a child that runs `f`, then exits at once (no destructors, no atexit).
fn fork(f: impl FnOnce()) -> libc::pid_t {
    // SAFETY: the bench process is single-threaded here; the child only runs `f` and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        f();
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(0) }
    }
    pid
}

fn wait_child(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid out-pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "producer failed: status {status:#x}"
    );
}

/// User + system CPU time of this process and of its waited-for children so far.
fn cpu_time() -> Duration {
    let mut total = Duration::ZERO;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: an all-zero rusage is valid; getrusage fills it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is a valid out-pointer.
        assert_eq!(unsafe { libc::getrusage(who, &mut usage) }, 0);
        for t in [usage.ru_utime, usage.ru_stime] {
            total += Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        }
    }
    total
}

/// One scenario's result: wall time from the first message to the last, CPU time of both sides.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    rate: f64,
    cpu_ns: f64,
}

/// Runs `producers` forked producers (each given its index and its share of `n`) and the
/// consumer; times from the first message received.
fn stream(
    n: u64,
    producers: usize,
    produce: impl Fn(u64, u64) + Copy,
    mut consume: impl FnMut(u64, &mut dyn FnMut()),
) -> Outcome {
    let cpu = cpu_time();
    let share = n / producers as u64;
    let pids: Vec<_> = (0..producers)
        .map(|p| fork(move || produce(p as u64, share)))
        .collect();
    let mut start = None;
    consume(share * producers as u64, &mut || {
        start.get_or_insert_with(Instant::now);
    });
    let elapsed = start.expect("no message").elapsed();
    for pid in pids {
        wait_child(pid);
    }
    let cpu = cpu_time() - cpu;
    let n = share * producers as u64;
    Outcome {
        rate: (n - 1) as f64 / elapsed.as_secs_f64(),
        cpu_ns: cpu.as_nanos() as f64 / n as f64,
    }
}

fn pipe(n: u64, size: usize) -> Outcome {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid out-array of two.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both fds are fresh and ours; each end is closed once, by its `File`.
    let (mut rx, tx) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    let out = stream(
        n,
        1,
        |p, share| {
            let mut tx = &tx;
            let mut m = vec![0u8; size];
            for seq in 0..share {
                stamp(&mut m, seq, p);
                tx.write_all(&m).unwrap();
            }
        },
        |total, first| {
            let mut order = Order::new(1);
            let mut m = vec![0u8; size];
            for _ in 0..total {
                rx.read_exact(&mut m).unwrap();
                first();
                order.check(&m);
            }
        },
    );
    drop(tx);
    out
}

/// The floor: rtrb's single-producer single-consumer ring (each side caches the other's index
/// and reads it only when its cached view says full or empty), over `MAP_SHARED` memory.
struct Spsc {
    base: NonNull<u8>,
    len: usize,
    size: usize,
}

impl Spsc {
    fn new(size: usize) -> Spsc {
        let len = 256 + CAPACITY * size;
        // SAFETY: a fresh anonymous shared mapping; checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        Spsc {
            base: NonNull::new(p.cast()).unwrap(),
            len,
            size,
        }
    }

    /// Consumer's index at 0, producer's at 128 (their own cache-line pairs).
    fn index(&self, at: usize) -> &AtomicU64 {
        // SAFETY: 0 and 128 are 8-aligned offsets inside the mapping, which lives as long as
        // `self`; the word is only reached atomically.
        unsafe { &*self.base.as_ptr().add(at).cast::<AtomicU64>() }
    }

    fn slot(&self, pos: u64) -> *mut u8 {
        // SAFETY: pos % CAPACITY < CAPACITY: the slot lies in the mapping.
        unsafe {
            self.base
                .as_ptr()
                .add(256 + (pos as usize % CAPACITY) * self.size)
        }
    }

    fn run(&self, n: u64) -> Outcome {
        let size = self.size;
        stream(
            n,
            1,
            |p, share| {
                let (head, tail) = (self.index(0), self.index(128));
                let mut m = vec![0u8; size];
                let mut cached_head = head.load(Acquire);
                for pos in 0..share {
                    if pos - cached_head == CAPACITY as u64 {
                        let mut backoff = Backoff::new(Policy::SPIN_THEN_YIELD);
                        loop {
                            cached_head = head.load(Acquire);
                            if pos - cached_head < CAPACITY as u64 {
                                break;
                            }
                            backoff.snooze();
                        }
                    }
                    stamp(&mut m, pos, p);
                    // SAFETY: the slot is ours until the tail store below publishes it.
                    unsafe { std::ptr::copy_nonoverlapping(m.as_ptr(), self.slot(pos), size) };
                    tail.store(pos + 1, Release);
                }
            },
            |total, first| {
                let (head, tail) = (self.index(0), self.index(128));
                let mut order = Order::new(1);
                let mut m = vec![0u8; size];
                let mut cached_tail = 0;
                for pos in 0..total {
                    if pos == cached_tail {
                        let mut backoff = Backoff::new(Policy::SPIN_THEN_YIELD);
                        loop {
                            cached_tail = tail.load(Acquire);
                            if pos < cached_tail {
                                break;
                            }
                            backoff.snooze();
                        }
                    }
                    // SAFETY: published by the tail store we acquired; ours until head moves.
                    unsafe { std::ptr::copy_nonoverlapping(self.slot(pos), m.as_mut_ptr(), size) };
                    head.store(pos + 1, Release);
                    first();
                    order.check(&m);
                }
            },
        )
    }
}

impl Drop for Spsc {
    fn drop(&mut self) {
        // SAFETY: our mapping, unmapped once.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

fn raw_queue(size: usize) -> RawQueue {
    let mut b = RawQueue::builder().maxsize(CAPACITY);
    if size > 111 {
        b = b.max_message_size(size.max(4096));
    }
    b.build_raw().unwrap()
}

/// Plain `put` in each producer, `get_into` in the consumer.
fn raw(n: u64, size: usize, producers: usize) -> Outcome {
    raw_on(raw_queue(size), n, size, producers)
}

/// [`raw`] on the queue `q`.
fn raw_on(q: RawQueue, n: u64, size: usize, producers: usize) -> Outcome {
    stream(
        n,
        producers,
        |p, share| {
            let mut m = vec![0u8; size];
            for seq in 0..share {
                stamp(&mut m, seq, p);
                q.put(&m[..]).unwrap();
            }
        },
        |total, first| {
            let mut order = Order::new(producers);
            let mut buf = Vec::with_capacity(size);
            for _ in 0..total {
                assert_eq!(q.get_into(&mut buf).unwrap(), size);
                first();
                order.check(&buf);
            }
        },
    )
}

/// `Queue<Vec<u8>>`: `put(m.to_vec())` in the producer (a new vector per message, as the API
/// takes ownership), `get()` in the consumer (a new vector per message), as criterion's
/// `sustained_*` `Queue<Vec<u8>>` peer.
fn vec(n: u64, size: usize) -> Outcome {
    typed_vec(n, size, |q, m| q.put(m.to_vec()).unwrap())
}

/// As `vec`, the producer sending its one buffer with `put_ref` instead of a clone each time.
fn vec_ref(n: u64, size: usize) -> Outcome {
    typed_vec(n, size, |q, m| q.put_ref(m).unwrap())
}

/// A `Queue<Vec<u8>>` stream of `size`-byte messages, each sent by `put`.
fn typed_vec(n: u64, size: usize, put: fn(&host_runtime::Queue<Vec<u8>>, &Vec<u8>)) -> Outcome {
    let q = host_runtime::Queue::<Vec<u8>>::new(CAPACITY).unwrap();
    stream(
        n,
        1,
        |p, share| {
            let mut m = vec![0u8; size];
            for seq in 0..share {
                stamp(&mut m, seq, p);
                put(&q, &m);
            }
        },
        |total, first| {
            let mut order = Order::new(1);
            for _ in 0..total {
                let m = q.get().unwrap();
                assert_eq!(m.len(), size);
                first();
                order.check(&m);
            }
        },
    )
}

/// `put_many` of `BATCH` messages in each producer, `get_many` in the consumer.
fn raw_batch(n: u64, size: usize, producers: usize) -> Outcome {
    let q = raw_queue(size);
    stream(
        n,
        producers,
        |p, share| {
            let mut ms = vec![vec![0u8; size]; BATCH];
            let mut seq = 0;
            while seq < share {
                let k = BATCH.min((share - seq) as usize);
                for (i, m) in ms[..k].iter_mut().enumerate() {
                    stamp(m, seq + i as u64, p);
                }
                let mut sent = 0;
                while sent < k {
                    sent += q.put_many(&ms[sent..k]).unwrap();
                }
                seq += k as u64;
            }
        },
        |total, first| {
            let mut order = Order::new(producers);
            let mut batch = host_runtime::queue::Batch::with_capacity(BATCH, size);
            let mut got = 0;
            while got < total {
                q.get_many(&mut batch, BATCH).unwrap();
                first();
                for m in batch.iter() {
                    assert_eq!(m.len(), size);
                    order.check(m);
                }
                got += batch.len() as u64;
            }
        },
    )
}

/// The bare ipc-core ring (`ByteQueue`, slots of `size` bytes) in shared memory, with the
/// blocking push/pop of `benches::blocking` (host-runtime's wait loop): the criterion
/// `byte_queue_blocking` peer, what `RawQueue` adds its protocols to.
fn core(n: u64, size: usize) -> Outcome {
    let bytes = ipc_core::ByteQueue::memory_size(ipc_core::Config::new(CAPACITY, size)).unwrap();
    let mem = benches::shm::SharedMem::for_queues(benches::shm::page_round(bytes)).unwrap();
    let q = benches::shm::OwnedQueue::init(&mem, 0, CAPACITY, size);
    stream(
        n,
        1,
        |p, share| {
            let mut m = vec![0u8; size];
            for seq in 0..share {
                stamp(&mut m, seq, p);
                benches::blocking::push(q.get(), &m);
            }
        },
        |total, first| {
            let mut order = Order::new(1);
            let mut buf = vec![0u8; size];
            for _ in 0..total {
                assert_eq!(benches::blocking::pop(q.get(), &mut buf), size);
                first();
                order.check(&buf);
            }
        },
    )
}

type Scenario = (&'static str, fn(u64) -> Outcome);

const SCENARIOS: &[Scenario] = &[
    ("pipe_64B", |n| pipe(n, 64)),
    ("spsc_64B", |n| Spsc::new(64).run(n)),
    ("core_64B", |n| core(n, 64)),
    ("raw_64B", |n| raw(n, 64, 1)),
    ("raw_batch_64B", |n| raw_batch(n, 64, 1)),
    ("raw_64B_2to1", |n| raw(n, 64, 2)),
    ("raw_batch_64B_2to1", |n| raw_batch(n, 64, 2)),
    ("pipe_1KiB", |n| pipe(n, 1024)),
    ("spsc_1KiB", |n| Spsc::new(1024).run(n)),
    ("core_1KiB", |n| core(n, 1024)),
    ("raw_1KiB", |n| raw(n, 1024, 1)),
    ("raw_batch_1KiB", |n| raw_batch(n, 1024, 1)),
    ("chunk1k_1KiB", |n| {
        let q = RawQueue::builder()
            .maxsize(CAPACITY)
            .size_class(1024, CAPACITY);
        raw_on(q.build_raw().unwrap(), n, 1024, 1)
    }),
    ("chunk2k_1KiB", |n| {
        let q = RawQueue::builder()
            .maxsize(CAPACITY)
            .size_class(2048, CAPACITY);
        raw_on(q.build_raw().unwrap(), n, 1024, 1)
    }),
    ("vec_64B", |n| vec(n, 64)),
    ("vec_1KiB", |n| vec(n, 1024)),
    ("vecref_64B", |n| vec_ref(n, 64)),
    ("vecref_1KiB", |n| vec_ref(n, 1024)),
];

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut n, mut runs, mut filters) = (2_000_000u64, 3usize, Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--n" => n = args.next().unwrap().parse().unwrap(),
            "--runs" => runs = args.next().unwrap().parse().unwrap(),
            "--bench" | "--test" => {}
            f => filters.push(f.to_string()),
        }
    }
    if std::env::args().any(|a| a == "--test") {
        n = 20_000;
        runs = 1;
    }
    let chosen: Vec<_> = SCENARIOS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f)))
        .collect();
    let mut results: Vec<Vec<Outcome>> = vec![Vec::new(); chosen.len()];
    for run in 0..runs {
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!("run {run}: n = {n}, load {}", load.trim());
        for (i, (name, f)) in chosen.iter().enumerate() {
            let o = f(n);
            println!(
                "  {name:<22} {:>7.2} M msg/s  {:>7.1} ns CPU/msg",
                o.rate / 1e6,
                o.cpu_ns
            );
            results[i].push(o);
        }
    }
    // Same-run ratios to the pipe and the SPSC floor of the message size.
    println!("medians of {runs} (ratios: median over runs of the same-run ratio)");
    let peer = |name: &str, size: &str, run: usize| {
        chosen
            .iter()
            .position(|(n, _)| *n == format!("{name}_{size}"))
            .map(|i| results[i][run].rate)
    };
    for (i, (name, _)) in chosen.iter().enumerate() {
        let size = if name.contains("1KiB") { "1KiB" } else { "64B" };
        let mut rates: Vec<f64> = results[i].iter().map(|o| o.rate).collect();
        let mut cpu: Vec<f64> = results[i].iter().map(|o| o.cpu_ns).collect();
        let ratio = |peer_name: &str| {
            let mut r: Vec<f64> = (0..runs)
                .filter_map(|run| peer(peer_name, size, run).map(|p| results[i][run].rate / p))
                .collect();
            if r.is_empty() {
                String::from("   -  ")
            } else {
                format!("{:6.2}", median(&mut r))
            }
        };
        println!(
            "  {name:<22} {:>7.2} M msg/s  {:>7.1} ns CPU/msg  x pipe {}  x spsc {}  x core {}",
            median(&mut rates) / 1e6,
            median(&mut cpu),
            ratio("pipe"),
            ratio("spsc"),
            ratio("core"),
        );
    }
}
