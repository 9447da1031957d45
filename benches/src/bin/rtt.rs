//! Round trips to a forked echo process, peers interleaved round by round, for before/after
//! comparisons of the queues' hand-off (issue 17, item 4) on a noisy machine: every round makes
//! each peer afresh (so no idle peer spins or yields while another is measured), times `N`
//! round trips, and drops it. Prints each peer's median over the rounds and the median of the
//! per-round ratios to the floors. The rounds are `benches::interleaved::rounds`, which the
//! report (`src/bin/report/`) runs too over the peers of its round-trip targets.
//!
//! ```sh
//! cargo build --release -p benches --bin rtt
//! target/release/rtt 50000 11                       # the default peers
//! target/release/rtt 50000 11 raw16,raw2,ring16x240,mailbox,word
//! RTT_ALL=1 target/release/rtt 50000 11 raw16,mailbox   # and every round's figure
//! ```
//!
//! Run it under the bench lock, and compare figures of one run only (ratios to `mailbox` or
//! `word` of the same rounds); a before/after comparison of a code change runs the two binaries
//! in turn, several times.
//!
//! Peers (64-byte messages unless said otherwise):
//! - `raw64`: the criterion rig's two `RawQueue`s of capacity 16 (blocking `put`/`get_into`);
//!   `raw{C}` / `raw{C}x{I}`: the same with capacity `C` and inline maximum `I` (default 111:
//!   128-byte ring slots); a suffix `p{P}` sets `max_processes` (default 128; its participant
//!   table, 32 bytes an entry, comes before the slots, so it moves them).
//! - `u64` / `u64x{I}`: two `Queue<u64>`s of capacity 16; the echo answers `n + 1`.
//! - `ring` / `ring{C}` / `ring{C}x{L}`: two ipc-core `ByteQueue`s (capacity 16, messages up to
//!   `L` = 112 bytes: `RawQueue`'s 128-byte slots), `try_push`/`try_pop` retried with a flat spin:
//!   the ring protocol alone, without host-runtime's wait words and bookkeeping; `ringb…`: the
//!   same waiting in host-runtime's blocking loop (`benches::blocking`: adaptive spin, wait
//!   words, `notify`).
//! - `p{level}` / `p{level}s{slots}`: [`Proto`], a hand-made replica of the ring's hand-off with
//!   its steps switched on one at a time; suffixes `w{stride}` (bytes from slot to slot, a
//!   multiple of 128; default 128), `k{mult}` (message `n` in slot `n * mult % slots`, odd;
//!   default 1) and `o{offset}` (where in its stride a slot starts; default 0), in that order:
//!   `p5s8w256k3o128`; a prefix `pc…` makes the consumer poll with its claim CAS instead of a
//!   load, `pe…` with a `prefetchw` before the load (x86-64).
//! - `mailbox`: the 64-byte spin mailbox floor; `word`: the one-word spin ping-pong floor.
//!
//! # What it showed (issue 17, item 4; 2 vCPUs, AMD EPYC family 25, 2026-12-06)
//!
//! Absolute figures swing by up to 4× between runs on that VM (the mailbox floor read 57, 80-105
//! or 440 ns depending on where the host ran the two vCPUs), so only ratios within one run mean
//! anything. Medians of the per-round ratios to `mailbox`, three runs of 11 rounds:
//!
//! - `raw16` 1.4-2.3×, `u64` 1.3-2.3×, `ring16` 1.7-2.3×: host-runtime's layer is not where the
//!   gap is; the bare ring moving the same 64-byte messages is as far from the floor.
//! - Switched off in `RawQueue`, one at a time, in the same rounds (a hacked build): the SeqCst
//!   fence of `WaitWord::notify` after each get, the load before the producer's claim CAS (a CAS
//!   first), the `pause` between polls: no change beyond noise (±3 %). Tail and head hints
//!   1 KiB apart instead of 128 bytes: no change.
//! - Capacity and slot stride: `ring2` 1.1-1.5× and `ring16x240` (256-byte slots) 1.1-1.4×,
//!   against `ring16` (128-byte slots) 1.7-2.3×; 192-byte slots about as good as 256, 80-144
//!   bytes nearly as bad as 128. For `RawQueue` the same changes gain less: 0-20 % with
//!   256-byte slots (`raw16x239`), 5-30 % at capacity 2 (`raw2`). In the quietest run (mailbox
//!   97-100 ns): `raw16` 185-189 ns → `raw16x239` 169-171; `ring16` 202-204 → `ring16x240` 142;
//!   `ringb16` 229-231 → `ringb16x240` 151-157 (host-runtime's blocking loop adds 10-15 ns).
//!   Three more runs: `raw16x239` 9-12 % under `raw16` each time; the slots moved by 64 or 128
//!   bytes (`raw16p130`, `raw16p132`): no change, so it is the stride, not the alignment.
//! - The replica: a rotating mailbox over 8 slots (`p0s8`) is already 1.2-1.45× the fixed
//!   mailbox, the claims (`p3s8`) 1.4-1.7×, the hints and length word (`p5s8`) 1.6-2.0×.
//!
//! The 64-byte target (1.5× the mailbox) is met by the bare ring at small capacity or with
//! 256-byte slots, not by `RawQueue` (nor `Queue<u64>`) on that machine.
//!
//! # The blocking loop's own cost (issue 17, item 4; 2 vCPUs, Intel Xeon, 2026-12-06)
//!
//! A blocked get's wait before it spins: `Backoff::run` reads the clock and two thread-locals
//! (the budget, the last wake-up) before its first attempt, 118 instructions for a wait that
//! succeeds on its 3rd attempt (callgrind, `wait_on`). A build that made the first 16 attempts
//! before those (the budget counting from after them) took that to 46, and a single-thread
//! `Queue<u64>` put+get (which never waits) stayed at 581; making the `Wait` (ledger lookup)
//! only after the backoff cost 17 more instructions per put+get there (the closure's captures
//! are built on the fast path), so not that. Round trips, `u64,word` interleaved before/after
//! in one hold: medians of the per-round `u64`/`word` ratios 3.09× before, 3.24× after (16
//! pairs of 11 rounds), 3.03 vs 3.14 and 3.06 vs 3.12 in two sets of 5-6 pairs; the build
//! with the later `Wait` as well, 10 pairs: 3.15 vs 3.02. No gain beyond noise (the clock read
//! comes while the peer still works: off the critical path), perhaps a small loss; not kept.
//! Two `pause`s between polls instead of one: no change beyond noise (round trip, and the
//! sustained `raw_64B` of `benches/batch.rs`). The loop change did not clearly move the
//! sustained 1→1 stream either (`raw_64B` medians 17.2 vs 16.8 M msg/s in 10 pairs; 10.1 vs
//! 12.8 in 8 pairs under more load, where those before fell in two groups, 7.6-10.6 and 17.6-18.9).
//!
//! Left on the critical path of each hand-off, by reading the code (not measured one by one):
//! the ring protocol's coherence traffic (the slot word goes FREE → WRITING → FULL → READING →
//! FREE, written by both cores, where the word floor's line is written by one side at a time)
//! and, in host-runtime, the SeqCst fence of the get's `notify` on `not_full` (a store, the
//! fence and a load took ~12 ns in a loop, ~1 ns without the fence; a put's wake is fence-free
//! because a sleeping get marks the head slot first, and a put waiting for room has no such
//! mark to rely on). In the one run where the host placed the two vCPUs close (`word` 36 ns),
//! `u64` read 5.6-5.9× `word`.
//!
//! # Where the 1.33× went: no regression (2 vCPUs, AMD EPYC, 2026-12-06 07:05-07:22 UTC)
//!
//! The report's `RawQueue`/mailbox row read 1.33× at 707d456 (2026-11-29: mailbox 478.6 ns,
//! word 130.2 ns), 2.34× and 2.31× on this AMD host (mailbox 86-95 ns), 1.63× on the Intel one
//! (534 ns). Those are criterion means of rows measured one after another, minutes apart, so
//! a row and its floor may come from different placements of the two vCPUs (707d456's word
//! and mailbox, 3.7× apart, fit no placement seen today). Here, both trees measured alike:
//! a self-contained copy of this tool (its own `mmap` floors and echo loops, only
//! `RawQueue`/`Queue<u64>`/`benches::child::Child` from the tree, so the builds differ in the
//! queues alone) built at 707d456 and at ce188c4 (main), run in turn 6 times in each of 3
//! exclusive holds, 21 rounds of 50,000 (load 2.2-2.3). Medians of the 18 runs:
//!
//! | | 707d456 | main | main / 707d456, paired |
//! |---|---|---|---|
//! | `raw64` | 309 ns | 222 ns | 0.76 (quartiles 0.64-0.80) |
//! | `u64` | 206 ns | 205 ns | 0.97 (0.90-1.01) |
//! | `raw64` / mailbox | 3.70× | 2.80× | |
//! | `u64` / word | 3.05× | 2.98× | |
//!
//! (floors 65-108 ns, the same in both). So the 64-byte round trip got faster since the 1.33×
//! commit, not slower (one instruction count agrees: single-thread put+get 579 → 528
//! instructions, callgrind `probe raw`); `Queue<u64>` did not move. No bisect: nothing lost.
//!
//! The ratio moves with the placement, not the code. This tool at main (or the same peers
//! built from `benches`), 11-21 rounds a run, holds minutes apart: in the fast placements
//! (word 64-74 ns, mailbox 86-155) `raw64` read 1.83-2.28× mailbox in 7 runs (load 2.0-5.7)
//! and `u64` 2.63-3.54× word (2.63-2.69 in the quietest hold, load 2.0); in the slow
//! placement (word 222-229 ns, mailbox 426-436; 3 runs, load 4.3) 1.50-1.52× and 2.42-2.49×.
//! So the 1.5× target is met only where the floor is slow, the 3× one mostly; `raw64` misses
//! in the fast placements by the fixed cost the ring adds per hand-off (~100 ns a round
//! trip), which a slow floor hides. The floors themselves depend on the shape of their
//! polling loop: in one hold, slow placement, alternated, this file's `word` read 239-272 ns
//! and a tight `load`/`pause` loop 315-340, its mailbox 484-557 and the tight one 451-476;
//! 707d456's `benches` floors read `word` 320 ns where main's read 222 in another hold.
//! Compare ratios only to floors of the same code and run.
//!
//! Where the fast placement's gap is, same day (07:29-07:38 UTC, load 1.2-3.5, rounds of 11-15,
//! 2-3 runs each in one hold; ns, medians per run):
//!
//! - Slot spacing, not slot order: in the replica `p5s8` (8 slots of 128 bytes) 184-237,
//!   `p5s8w256` (256-byte stride) 135-165, `p5s8k3`/`p5s8k5` (consecutive messages 3 or 5
//!   slots apart) as `p5s8` (191-247); `p5s8w256o128` (the spare line before each slot instead
//!   of after) as `p5s8w256`. Four slots of 128 bytes (`p5s4`, 137-150; 486-516 in a slow
//!   placement where `p5s8` read 663-696) are as good as eight of 256. The real rings agree:
//!   `ring4` 117-132 and `ring16x240` 120-127 against `ring16` 170-187; `raw4` 170-178 and
//!   `raw16x239` 168-174 against `raw16` 193-218. So 8 or more slots at a 128-byte stride
//!   cost the ring ~50-60 ns a round trip and `RawQueue` ~35 ns, whichever slot each message
//!   takes (a hardware prefetcher is the likely cause; not pinned down). A permuted slot order
//!   would not help; a larger stride (`inline_max` 239: twice the ring memory) or a smaller
//!   capacity would, 13-20 % for `RawQueue`, still 1.9-2.2× the mailbox.
//! - The layers at capacity 4: `ring4` 117-132, `ringb4` (the same ring in the benches'
//!   blocking loop: adaptive spin, wait words, `notify`) 139-154, `raw4` 171-178; so about
//!   25 ns for waiting the blocking way and 25-30 ns for `RawQueue`'s own path per round trip
//!   (at capacity 16 the benches' blocking loop, 231-246, is slower than `raw16`).
//!
//! # Tried, not kept: the get's wake check without its fence (2 vCPUs, AMD EPYC, 2026-12-06)
//!
//! The mirror of the put's fence-free wake: a put about to sleep on `not_full` marks the tail
//! slot while it holds the oldest message, `FULL(lap(t) - 1)`, published and unclaimed, with a
//! value-preserving AcqRel CAS (`mark_full_wait`), and sleeps only if that took; the pop whose
//! claim CAS takes that slot reads the mark, so the get's wake check may be `notify_marked`.
//! Sound (position `t` is the real tail and only that pop's release frees it; `WRITING`,
//! `READING`, `ABANDONED` and words of `t`'s lap fail the mark; repairs keep `notify_all`; a
//! class's `freed` word has no one slot to mark and keeps `notify`); a loom model (capacity
//! 1, three values) passed, and lost the wake-up when the put slept unmarked. It did not pay
//! here. Rust compiles the fence to `lock or` on the stack, not `mfence`: a store, the fence
//! and a load take 2.0 ns in a C loop on this host (0.3 without, 16.7 with `mfence`), so a
//! round trip could save ~4 ns of ~190. Before/after binaries alternated in exclusive holds
//! (09:45-10:34 UTC, load 1.1-3.3): round trip, 112 runs each of 11 rounds of 50,000, medians
//! `raw16` 193.0 → 191.3 ns, `u64` 187.2 → 186.9 (`mailbox` 93.0/94.2, `word` 70.6/70.7); per
//! same-placement pair (96) `raw16`/mailbox after/before 0.981 (quartiles 0.95-1.02, lower in
//! 59), `u64`/word 0.996 (0.98-1.01, lower in 55). Streams (`benches/batch.rs`, `--runs 3`
//! per invocation): `raw_64B` 1.01 → 1.00 × `spsc_64B` (69 runs each), `raw_64B_2to1` 0.895
//! → 0.900 in the same holds but 0.973 after/before per pair in a later set (15 pairs, lower
//! in 11; 18.6 → 18.0 M msg/s), `raw_batch_64B_2to1` 1.005, `raw_1KiB` 0.976, `chunk1k_1KiB`
//! 0.962 (12 pairs, wide spread). One instruction less per put+get (callgrind, `typed`:
//! `raw64` 527 → 526, `u64` 586 → 585). And a cost: while the oldest message is being read
//! (or, at capacity 1, the next one written) the mark fails and a waiting put yields and looks
//! again instead of sleeping; three producers into a capacity-1 queue ran 227-276 → 268-354 ms
//! (medians of 6-8 alternated runs; 2-slot queue unchanged), and making the failed mark sleep
//! a short sleep at once instead of yielding was slower still (356). On the Intel host, where
//! the fence cost ~12 ns (above), the round trip might gain ~10 %: not measured there.
//!
//! # Tried, not kept: a consumer that polls with its claim CAS (2 vCPUs, AMD EPYC, 2026-12-06)
//!
//! A consumer that polls with a load and then claims with a CAS takes the slot's line twice
//! per message: shared for the load that sees FULL, then exclusive for the CAS. Polling with
//! the CAS itself (from `FULL(lap)`; a failed `lock cmpxchg` returns the word the load would
//! have) takes it once. In the replica (slow placement, mailbox 452-461 ns, 2-3 runs of 11
//! rounds): `p5s8` 911-935 ns → `pc5s8` 730-788, `p3s8` 636-642 → `pc3s8` 587-592, `p2s8`
//! 648 → `pc2s8` 535; a `prefetchw` before the load (`pe…`) changed nothing. In the ring
//! (`claim_pop` as a CAS first, a hacked build; the producer's claim as a CAS first too made no
//! further difference), fast placement (mailbox 83-106 ns, 6 runs): `ring16` 200-213 → 130-143
//! ns (2.27-2.34× → 1.51-1.66× the mailbox), but `ringb16` 226-242 → 194-209, `raw16` 181-197
//! → 176-188 and `u64` 182-197 → 188-199 (worse); slow placement `raw16` 633-678 → 577-622,
//! `u64` unchanged. The queues users call gain 0-5 % where the target is missed, and the
//! check `claim_pop` makes before its claim (the length against the caller's room) would have
//! to come after it, which needs an un-claim the protocol does not have (a helper may already
//! have moved the head hint past a READING slot). Likely why the queues gain less: a CAS poll
//! takes the line exclusive, so a poll that lands between the producer's claim and its publish
//! costs the producer the line twice, and that window is a 64-byte copy in the bare ring but
//! longer in `RawQueue` (and `Queue<u64>` encodes inside it).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::*};

use benches::host_queue::U64Echo;
use benches::interleaved::{self, Spread};
use benches::msg::MSG_LEN;
use benches::roundtrip::{Echo, Link, RoundTrip, SpinMailbox, SpinPingPong};
use benches::shm::{OwnedQueue, SharedMem};
use host_runtime::wait::{Backoff, Policy};
use ipc_core::{PopError, PushError};

/// Two ipc-core `ByteQueue`s with `RawQueue`'s slot size (112-byte messages: 128-byte slots),
/// polled with a flat spin.
struct RingLink {
    /// Wait with host-runtime's blocking loop (`benches::blocking`) instead of a flat spin.
    blocking: bool,
    tx: OwnedQueue,
    rx: OwnedQueue,
    buf: Vec<u8>,
}

impl RingLink {
    fn pair(cap: usize, max: usize, blocking: bool) -> (RingLink, RingLink) {
        let len =
            ipc_core::ByteQueue::memory_size(ipc_core::Config::new(cap, max)).expect("layout");
        let stride = benches::shm::page_round(len);
        let mem = SharedMem::for_queues(2 * stride).expect("mmap");
        let there = OwnedQueue::init(&mem, 0, cap, max);
        let back = OwnedQueue::init(&mem, stride, cap, max);
        let child = RingLink {
            blocking,
            tx: back.clone(),
            rx: there.clone(),
            buf: vec![0; max],
        };
        let parent = RingLink {
            blocking,
            tx: there,
            rx: back,
            buf: vec![0; max],
        };
        (parent, child)
    }
}

impl Link for RingLink {
    fn send(&mut self, m: &[u8; MSG_LEN]) {
        if self.blocking {
            return benches::blocking::push(self.tx.get(), m);
        }
        let mut backoff = Backoff::new(Policy::FLAT_SPIN_THEN_YIELD);
        loop {
            match self.tx.get().try_push(m) {
                Ok(()) => return,
                Err(PushError::Full) => backoff.snooze(),
                Err(e) => panic!("push: {e}"),
            }
        }
    }

    fn recv(&mut self, m: &mut [u8; MSG_LEN]) {
        let mut backoff = Backoff::new(Policy::FLAT_SPIN_THEN_YIELD);
        let n = if self.blocking {
            benches::blocking::pop(self.rx.get(), &mut self.buf)
        } else {
            loop {
                match self.rx.get().try_pop(&mut self.buf) {
                    Ok(n) => break n,
                    Err(PopError::Empty) => backoff.snooze(),
                    Err(e) => panic!("pop: {e}"),
                }
            }
        };
        assert_eq!(n, MSG_LEN);
        m.copy_from_slice(&self.buf[..MSG_LEN]);
    }
}

/// A hand-made replica of the ring's hand-off, `slots` slots of 128 bytes per direction (the
/// word at 0, the length at 8, the 64-byte message at 16, as in `RawQueue`'s ring), with the
/// ring's steps switched on one by one (`level`): 0 a rotating mailbox (the message, then a FULL
/// word of the slot's lap), 1 + the consumer's release store (FREE of the next lap), 2 + the
/// consumer's claim CAS (FULL → READING), 3 + the producer's claim (a load, then a CAS FREE →
/// WRITING), 4 + the head and tail hints (a load and a store each, on lines of their own in a
/// page of their own), 5 + the length word. No checks, no owner, no wait words.
struct Proto {
    mem: SharedMem,
    hints: SharedMem,
    child: Option<benches::child::Child>,
    level: u8,
    slots: u64,
    /// Bytes from one slot to the next (128 unless `w{stride}`).
    stride: usize,
    /// Message `seq` goes to slot `seq * mult % slots` (1 unless `k{mult}`, odd).
    mult: u64,
    /// Where in its stride a slot starts (0 unless `o{offset}`).
    offset: usize,
    /// How the consumer polls for the message: `b'l'` with a load (then the claim CAS, as the
    /// ring does), `b'e'` with a `prefetchw` before the load, `b'c'` with the claim CAS itself.
    poll: u8,
    n: u64,
}

/// Bytes per direction in a [`Proto`]'s pages.
const PROTO_DIR: usize = 2048;

fn proto_word(lap: u64, state: u64) -> u64 {
    lap << 3 | state
}

/// Where a [`Proto`] direction keeps its parts.
#[derive(Clone, Copy)]
struct ProtoDir<'a> {
    mem: &'a SharedMem,
    hints: &'a SharedMem,
    dir: usize,
    level: u8,
    slots: u64,
    stride: usize,
    mult: u64,
    offset: usize,
    poll: u8,
}

impl ProtoDir<'_> {
    fn word(&self, seq: u64) -> (&AtomicU64, usize, u64) {
        let (slot, lap) = (seq * self.mult % self.slots, seq / self.slots);
        let at = self.dir * PROTO_DIR + self.stride * slot as usize + self.offset;
        (self.mem.at(at), at, lap)
    }

    fn tail(&self) -> &AtomicU64 {
        self.hints.at(self.dir * PROTO_DIR)
    }

    fn head(&self) -> &AtomicU64 {
        self.hints.at(self.dir * PROTO_DIR + 1024)
    }

    fn stop(&self) -> &AtomicU64 {
        self.hints.at(self.dir * PROTO_DIR + 1536)
    }

    fn send(&self, seq: u64, m: &[u8; MSG_LEN]) {
        let (w, at, lap) = self.word(seq);
        if self.level >= 4 {
            black_box(self.tail().load(Acquire));
        }
        if self.level >= 3 {
            let free = proto_word(lap, 0);
            while w.load(Acquire) != free
                || w.compare_exchange_weak(free, proto_word(lap, 1), AcqRel, Relaxed)
                    .is_err()
            {
                std::hint::spin_loop();
            }
        }
        if self.level >= 4 {
            self.tail().store(seq + 1, Release);
        }
        if self.level >= 5 {
            self.mem
                .at::<AtomicU64>(at + 8)
                .store(MSG_LEN as u64, Relaxed);
        }
        let words: &[AtomicU64; 8] = self.mem.words(at + 16);
        for (word, bytes) in words.iter().zip(m.chunks_exact(8)) {
            word.store(u64::from_le_bytes(bytes.try_into().expect("8")), Relaxed);
        }
        w.store(proto_word(lap, 2), Release);
    }

    /// Waits for message `seq` (or the stop flag: `false`) and copies it into `m`.
    fn recv(&self, seq: u64, m: &mut [u8; MSG_LEN]) -> bool {
        let (w, at, lap) = self.word(seq);
        let full = proto_word(lap, 2);
        let mut backoff = Backoff::new(Policy::FLAT_SPIN_THEN_YIELD);
        loop {
            if self.level >= 4 {
                black_box(self.head().load(Acquire));
            }
            #[cfg(target_arch = "x86_64")]
            if self.poll == b'e' {
                // SAFETY: a prefetch is a hint: it reads nothing the program sees and cannot
                // fault; `w` points into our own mapping anyway.
                unsafe {
                    std::arch::asm!("prefetchw [{0}]", in(reg) w.as_ptr(), options(nostack, preserves_flags));
                }
            }
            if self.poll == b'c' && self.level >= 2 {
                if w.compare_exchange(full, proto_word(lap, 3), AcqRel, Relaxed)
                    .is_ok()
                {
                    break;
                }
            } else if w.load(Acquire) == full {
                break;
            }
            if self.stop().load(Relaxed) != 0 {
                return false;
            }
            backoff.snooze();
        }
        if self.level >= 2 && self.poll != b'c' {
            w.compare_exchange(full, proto_word(lap, 3), AcqRel, Relaxed)
                .expect("claim");
        }
        if self.level >= 4 {
            self.head().store(seq + 1, Release);
        }
        if self.level >= 5 {
            assert_eq!(
                self.mem.at::<AtomicU64>(at + 8).load(Relaxed),
                MSG_LEN as u64
            );
        }
        let words: &[AtomicU64; 8] = self.mem.words(at + 16);
        for (word, bytes) in words.iter().zip(m.chunks_exact_mut(8)) {
            bytes.copy_from_slice(&word.load(Relaxed).to_le_bytes());
        }
        if self.level >= 1 {
            w.store(proto_word(lap + 1, 0), Release);
        }
        true
    }
}

impl Proto {
    fn spawn(level: u8, slots: u64, stride: usize, mult: u64, offset: usize, poll: u8) -> Proto {
        assert!((1..=8).contains(&slots), "1 to 8 slots");
        assert!(
            stride % 128 == 0
                && offset % 128 == 0
                && offset + 128 <= stride
                && stride * slots as usize <= PROTO_DIR,
            "slots fit in a direction's part"
        );
        assert!(
            mult % 2 == 1,
            "an odd multiplier visits every slot of a power of two"
        );
        let mem = SharedMem::new(benches::shm::PAGE).expect("mmap");
        let hints = SharedMem::new(benches::shm::PAGE).expect("mmap");
        let child = benches::child::Child::spawn(|| {
            let (there, back) = (
                ProtoDir {
                    mem: &mem,
                    hints: &hints,
                    dir: 0,
                    level,
                    slots,
                    stride,
                    mult,
                    offset,
                    poll,
                },
                ProtoDir {
                    mem: &mem,
                    hints: &hints,
                    dir: 1,
                    level,
                    slots,
                    stride,
                    mult,
                    offset,
                    poll,
                },
            );
            let mut m = [0u8; MSG_LEN];
            let mut seq = 0;
            while there.recv(seq, &mut m) {
                back.send(seq, &m);
                seq += 1;
            }
            0
        })
        .expect("fork");
        Proto {
            mem,
            hints,
            child: Some(child),
            level,
            slots,
            stride,
            mult,
            offset,
            poll,
            n: 0,
        }
    }

    fn dir(&self, dir: usize) -> ProtoDir<'_> {
        ProtoDir {
            mem: &self.mem,
            hints: &self.hints,
            dir,
            level: self.level,
            slots: self.slots,
            stride: self.stride,
            mult: self.mult,
            offset: self.offset,
            poll: self.poll,
        }
    }
}

impl RoundTrip for Proto {
    fn round_trip(&mut self) {
        let mut m = benches::msg::message(self.n);
        self.dir(0).send(self.n, &m);
        assert!(self.dir(1).recv(self.n, &mut m));
        assert_eq!(benches::msg::seq_of(&m), self.n);
        self.n += 1;
    }
}

impl Drop for Proto {
    fn drop(&mut self) {
        self.dir(0).stop().store(1, Release);
        if let Some(child) = self.child.take() {
            child.join().expect("proto child");
        }
    }
}

/// One end of two `RawQueue`s of a chosen capacity.
struct RawLink {
    tx: host_runtime::RawQueue,
    rx: host_runtime::RawQueue,
    buf: Vec<u8>,
}

impl Link for RawLink {
    fn send(&mut self, m: &[u8; MSG_LEN]) {
        self.tx.put(&m[..]).expect("put");
    }

    fn recv(&mut self, m: &mut [u8; MSG_LEN]) {
        assert_eq!(self.rx.get_into(&mut self.buf).expect("get"), MSG_LEN);
        m.copy_from_slice(&self.buf);
    }
}

/// The peers measured when none are named.
const PEERS: [&str; 5] = ["raw64", "u64", "ring", "mailbox", "word"];

fn make(name: &str) -> Box<dyn RoundTrip> {
    match name {
        "raw64" => Box::new(
            Echo::spawn(benches::host_queue::RawQueueLink::pair().expect("queues")).expect("fork"),
        ),
        "u64" => Box::new(U64Echo::spawn(None).expect("queues")),
        u if u.starts_with("u64x") => {
            Box::new(U64Echo::spawn(Some(u[4..].parse().expect("inline"))).expect("queues"))
        }
        "ring" => Box::new(Echo::spawn(RingLink::pair(16, 112, false)).expect("fork")),
        r if r.starts_with("ring") => {
            let (r, blocking) = match r.strip_prefix("ringb") {
                Some(rest) => (rest, true),
                None => (&r[4..], false),
            };
            let (cap, max) = r.split_once('x').unwrap_or((r, "112"));
            let (cap, max) = (cap.parse().expect("cap"), max.parse().expect("max"));
            Box::new(Echo::spawn(RingLink::pair(cap, max, blocking)).expect("fork"))
        }
        r if r.starts_with("raw") => {
            let (r, procs) = r.split_once('p').unwrap_or((r, "128"));
            let procs: usize = procs.parse().expect("processes");
            let (cap, inline) = r[3..].split_once('x').unwrap_or((&r[3..], "111"));
            let (cap, inline): (usize, usize) =
                (cap.parse().expect("cap"), inline.parse().expect("inline"));
            let make = || {
                host_runtime::queue::Builder::new()
                    .maxsize(cap)
                    .inline_max(inline)
                    .max_processes(procs)
                    .build_raw()
                    .expect("queue")
            };
            let (a, b) = (make(), make());
            let end = |tx: &host_runtime::RawQueue, rx: &host_runtime::RawQueue| RawLink {
                tx: tx.clone(),
                rx: rx.clone(),
                buf: Vec::with_capacity(MSG_LEN),
            };
            Box::new(Echo::spawn((end(&a, &b), end(&b, &a))).expect("fork"))
        }
        "mailbox" => Box::new(SpinMailbox::spawn().expect("fork")),
        "word" => Box::new(SpinPingPong::spawn().expect("fork")),
        p if p.starts_with('p') => {
            let (p, poll) = match p.as_bytes().get(1) {
                Some(&c @ (b'e' | b'c')) => (&p[2..], c),
                _ => (&p[1..], b'l'),
            };
            let (p, offset) = p.split_once('o').unwrap_or((p, "0"));
            let (p, mult) = p.split_once('k').unwrap_or((p, "1"));
            let (p, stride) = p.split_once('w').unwrap_or((p, "128"));
            let (level, slots) = p.split_once('s').unwrap_or((p, "8"));
            Box::new(Proto::spawn(
                level.parse().expect("level"),
                slots.parse().expect("slots"),
                stride.parse().expect("stride"),
                mult.parse().expect("multiplier"),
                offset.parse().expect("offset"),
                poll,
            ))
        }
        other => panic!("unknown peer {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(15);
    let peers: Vec<&str> = match args.get(3) {
        Some(list) => list.split(',').collect(),
        None => PEERS.to_vec(),
    };
    let times: Vec<Vec<f64>> = interleaved::rounds(&peers, n, rounds, |name| Ok(make(name)))
        .into_iter()
        .map(|t| t.expect("every peer is made or panics"))
        .collect();
    let floor = |name: &str| peers.iter().position(|p| *p == name);
    for (i, name) in peers.iter().enumerate() {
        let spread = |v: &[f64]| Spread::of(v).expect("at least one round");
        let own = spread(&times[i]);
        let mut line = format!("{name:>8}: median {:6.1} ns", own.median);
        for f in ["mailbox", "word"] {
            if let Some(j) = floor(f) {
                if j != i {
                    let r = spread(&interleaved::ratios(&times[i], &times[j]));
                    line += &format!("  /{f} {:5.2}x", r.median);
                }
            }
        }
        line += &format!("  (min {:.1}, max {:.1})", own.min, own.max);
        println!("{line}");
        if std::env::var_os("RTT_ALL").is_some() {
            let all: Vec<String> = times[i].iter().map(|t| format!("{t:.0}")).collect();
            println!("          rounds: {}", all.join(" "));
        }
    }
}
