//! `queue_hostile`: host-runtime's `RawQueue` and `Queue<String>` over one named region, with
//! arbitrary words written into the region between operations, as another process that can
//! write `/dev/shm/NAME` may (`host-runtime/LAYOUT.md`, *Hostile memory*).
//!
//! The region is a small named queue (capacity 1..=16, inline size 23..=150, up to two blob
//! size classes of a few chunks, 1..=4 participant entries). The target maps its file a second
//! time itself (as plain bytes, around the queue's checks) and, between operations, stores words
//! anywhere in it: single words, runs of one value, and the region as it was made (to start
//! over from a working queue).
//!
//! Checks: every call returns `Ok` or a typed error and never panics (a panic aborts: a
//! finding); a raw get returns at most `max_message_size` bytes; a typed get returns a valid
//! UTF-8 `String` (and a typed get into a reused one leaves it valid UTF-8, whatever it
//! returns); `qsize` ≤ capacity; `pool_stats` never counts more free chunks than the class has;
//! an `open_named` of the scribbled region is `Ok` or a typed `QueueError`; no loop runs on a
//! number read from the region (libFuzzer's `-timeout`); no access outside the mapping (a
//! fault), nor any heap error (AddressSanitizer).
#![no_main]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use arbitrary::Arbitrary;
use host_runtime::shared::region::SharedBytes;
use host_runtime::{Queue, RawQueue, SharedRegion};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    maxsize: u8,
    inline_max: u8,
    /// 0: no blob classes; 1: 256-byte chunks; 2: and 1024-byte chunks.
    classes: u8,
    chunks: u8,
    processes: u8,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Put {
        len: u16,
        byte: u8,
    },
    PutTimeout {
        len: u16,
        byte: u8,
    },
    Get,
    GetTimeout,
    PutTyped {
        len: u16,
        byte: u8,
    },
    GetTyped,
    /// A typed get into the same reused `String` (`get_into_nowait`).
    GetTypedInto,
    Qsize,
    Waiters,
    Stats,
    PoolStats,
    Repair,
    /// Store `value` into region word `index` (modulo the region's words).
    Word {
        index: u16,
        value: u64,
    },
    /// Store `value` into `count` words from `index`.
    Fill {
        index: u16,
        count: u8,
        value: u64,
    },
    /// Store `value` into the 32-bit word `index` (slot lengths, ledger counts, wait words).
    Half {
        index: u16,
        value: u32,
    },
    /// Write back the region as it was made.
    Restore,
    /// Open the region by name again, raw and typed (header checks on scribbled words).
    Open,
}

/// The target's own mapping of `/dev/shm/NAME`: the object mapped as a plain region
/// ([`SharedRegion::open_named`]: no queue header checked, no participant entry, no lock) and
/// viewed whole as bytes with atomic accesses.
struct Scribbler {
    bytes: SharedBytes,
}

impl Scribbler {
    fn open(name: &str) -> Scribbler {
        let region = SharedRegion::open_named(name).expect("open the region");
        let bytes = region.claim_bytes(0, region.len()).expect("claim the region");
        Scribbler { bytes }
    }

    fn words(&self) -> usize {
        self.bytes.len() / 8
    }

    fn word(&self, index: usize) -> &AtomicU64 {
        self.bytes.u64_at(8 * (index % self.words()))
    }

    fn half(&self, index: usize) -> &AtomicU32 {
        let index = index % (self.bytes.len() / 4);
        &self.bytes.atomics::<AtomicU32>(4 * index, 1)[0]
    }

    fn snapshot(&self) -> Vec<u64> {
        (0..self.words())
            .map(|i| self.word(i).load(Relaxed))
            .collect()
    }

    fn restore(&self, image: &[u64]) {
        for (i, &w) in image.iter().enumerate() {
            self.word(i).store(w, Relaxed);
        }
    }
}

fn message(len: u16, byte: u8, max: usize) -> Vec<u8> {
    vec![byte; usize::from(len) % (max + 64)]
}

fn check_raw<E>(q: &RawQueue, got: Result<Vec<u8>, E>) {
    if let Ok(m) = got {
        assert!(m.len() <= q.max_message_size(), "{} bytes", m.len());
    }
}

const TIMEOUT: Duration = Duration::from_millis(1);

fuzz_target!(|input: Input| {
    // One region per input (every input starts from the same state), under a name of this
    // process's; unlinked before the next.
    let name = format!("/fuzz-hostile-{}", std::process::id());
    let _ = RawQueue::unlink_named(&name);
    let mut builder = Queue::<String>::builder()
        .maxsize(1 + usize::from(input.maxsize % 16))
        .inline_max(23 + usize::from(input.inline_max % 128))
        .max_processes(1 + usize::from(input.processes % 4));
    let chunks = 1 + usize::from(input.chunks % 4);
    match input.classes % 3 {
        0 => builder = builder.max_message_size(23 + usize::from(input.inline_max % 128)),
        1 => builder = builder.size_class(256, chunks),
        _ => builder = builder.size_class(256, chunks).size_class(1024, chunks),
    }
    // A builder whose inline size is above the chunk size is refused: fine, nothing to do.
    let Ok(typed) = builder.create_named(&name) else {
        return;
    };
    let raw = RawQueue::open_named(&name).expect("a fresh queue opens");
    let region = Scribbler::open(&name);
    let image = region.snapshot();
    let max = raw.max_message_size();

    let mut place = String::new();
    for op in input.ops.into_iter().take(64) {
        match op {
            Op::Put { len, byte } => {
                let _ = raw.put_nowait(message(len, byte, max));
            }
            Op::PutTimeout { len, byte } => {
                let _ = raw.put_timeout(message(len, byte, max), TIMEOUT);
            }
            Op::Get => check_raw(&raw, raw.get_nowait()),
            Op::GetTimeout => check_raw(&raw, raw.get_timeout(TIMEOUT)),
            Op::PutTyped { len, byte } => {
                let s: String = (0..usize::from(len) % (max + 64))
                    .map(|_| if byte < 128 { char::from(byte) } else { 'Ã' })
                    .collect();
                let _ = typed.put_nowait(s);
            }
            Op::GetTyped => {
                if let Ok(s) = typed.get_nowait() {
                    assert!(std::str::from_utf8(s.as_bytes()).is_ok());
                }
            }
            Op::GetTypedInto => {
                // Whatever the result, the reused value is a valid `String`.
                let _ = typed.get_into_nowait(&mut place);
                assert!(std::str::from_utf8(place.as_bytes()).is_ok());
            }
            Op::Qsize => {
                assert!(raw.qsize() <= raw.capacity());
                let _ = (raw.empty(), raw.full());
            }
            Op::Waiters => {
                let _ = raw.waiters();
            }
            Op::Stats => {
                let _ = raw.stats();
            }
            Op::PoolStats => {
                for class in raw.pool_stats() {
                    assert!(class.free <= class.total);
                }
            }
            Op::Repair => {
                let _ = raw.repair_dead();
            }
            Op::Word { index, value } => region.word(usize::from(index)).store(value, Relaxed),
            Op::Fill {
                index,
                count,
                value,
            } => {
                for i in 0..usize::from(count) {
                    region.word(usize::from(index) + i).store(value, Relaxed);
                }
            }
            Op::Half { index, value } => region.half(usize::from(index)).store(value, Relaxed),
            Op::Restore => region.restore(&image),
            Op::Open => {
                if let Ok(q) = RawQueue::open_named(&name) {
                    check_raw(&q, q.get_nowait());
                }
                if let Ok(q) = Queue::<String>::open_named(&name) {
                    let _ = q.qsize();
                }
            }
        }
    }
    drop(region);
    let _ = RawQueue::unlink_named(&name);
});
