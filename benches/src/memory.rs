//! Memory figures: the bytes of shared memory a queue takes, and the peak resident set of a
//! consumer process after many messages.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;

use ipc_core::{ByteQueue, Config};

use crate::blocking;
use crate::child::Child;
use crate::msg::{message, seq_of, MSG_LEN};
use crate::shm::{page_round, OwnedQueue, SharedMem, PAGE};

/// `ByteQueue::memory_size(Config::new(capacity, size))` for every pair: (capacity, message
/// size, bytes, or `None` if the layout is refused).
pub fn size_table(capacities: &[usize], sizes: &[usize]) -> Vec<(usize, usize, Option<usize>)> {
    let mut v = Vec::new();
    for &cap in capacities {
        for &size in sizes {
            v.push((
                cap,
                size,
                ByteQueue::memory_size(Config::new(cap, size)).ok(),
            ));
        }
    }
    v
}

/// `getrusage(RUSAGE_SELF).ru_maxrss`: the peak resident set of this process, in KiB.
#[allow(unsafe_code)] // `getrusage(2)`, which host-runtime does not wrap.
pub fn max_rss_kib() -> u64 {
    // SAFETY: `rusage` is a plain C struct; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable `rusage`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0;
    }
    ru.ru_maxrss as u64
}

/// The current resident set of this process from `/proc/self/status`: (`VmRSS`, `RssShmem`)
/// in KiB.
pub fn current_rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("RssShmem:"))
}

/// What [`consumer_rss`] measured, in KiB, in the consumer process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsumerRss {
    /// Messages received.
    pub messages: u64,
    /// `ru_maxrss` just after the fork, before the first message.
    pub max_rss_start: u64,
    /// Messages received when `max_rss_early` was taken (1 % of them).
    pub early_at: u64,
    /// `ru_maxrss` after 1 % of the messages: the pages a consumer touches once are in.
    pub max_rss_early: u64,
    /// `ru_maxrss` after the last message.
    pub max_rss_end: u64,
    /// `VmRSS` after the last message (read after `max_rss_end`: the read itself allocates).
    pub rss_end: u64,
    /// `RssShmem` after the last message: the queue's pages it touched.
    pub shmem_end: u64,
    /// Bytes of the queue's shared memory.
    pub queue_bytes: u64,
}

/// Sends `n` 64-byte messages through an ipc-core `ByteQueue` (capacity 1024, blocking push
/// and pop) to a forked consumer, which checks every one and then reports its resident set.
///
/// # Errors
///
/// Those of `mmap` and `fork`, or if the consumer fails.
pub fn consumer_rss(n: u64) -> io::Result<ConsumerRss> {
    const CAP: usize = 1024;
    let qlen = ByteQueue::memory_size(Config::new(CAP, MSG_LEN)).expect("layout");
    let mem = Arc::new(SharedMem::new(PAGE + page_round(qlen))?);
    let q = OwnedQueue::init(&mem, PAGE, CAP, MSG_LEN);
    let child = {
        let (mem, q) = (Arc::clone(&mem), q.clone());
        Child::spawn(move || {
            let out: [&AtomicU64; 6] = [
                mem.at(0),
                mem.at(8),
                mem.at(16),
                mem.at(24),
                mem.at(32),
                mem.at(40),
            ];
            out[1].store(max_rss_kib(), Relaxed);
            let mut buf = [0u8; MSG_LEN];
            for seq in 1..=n {
                let len = blocking::pop(q.get(), &mut buf);
                if len != MSG_LEN || seq_of(&buf) != seq {
                    return 1;
                }
                if seq == n / 100 {
                    out[5].store(max_rss_kib(), Relaxed);
                }
            }
            // Before reading /proc, whose buffers and allocator set-up would count.
            out[2].store(max_rss_kib(), Relaxed);
            let (rss, shmem) = current_rss_kib();
            out[3].store(rss, Relaxed);
            out[4].store(shmem, Relaxed);
            // Release: pairs with the parent's Acquire load after the child exited.
            out[0].store(n, Release);
            0
        })?
    };
    let mut m = message(0);
    for seq in 1..=n {
        crate::msg::stamp(&mut m, seq);
        blocking::push(q.get(), &m);
    }
    child.join()?;
    let word = |at: usize| mem.at::<AtomicU64>(at).load(Acquire);
    Ok(ConsumerRss {
        messages: word(0),
        max_rss_start: word(8),
        early_at: n / 100,
        max_rss_early: word(40),
        max_rss_end: word(16),
        rss_end: word(24),
        shmem_end: word(32),
        queue_bytes: qlen as u64,
    })
}
