//! `inspect`: host-runtime's read-only region reader (`host_runtime::inspect::inspect_region_bytes`,
//! what `ipcctl` shows) over arbitrary region bytes.
//!
//! The first byte picks the mode:
//! - 0: the rest is a whole region, as is (the seeds are real named-queue files);
//! - 1, 2, 3: a real region (`fuzz/regions/small-raw.region`, a raw queue with three messages;
//!   `typed-blobs.region`, a `Queue<String>` with two blob classes and long messages in them;
//!   `pool.region`, a named pool's status region, version 2: two workers, one running and one
//!   blocked, with stamps; four tasks done, one failed, two pending)
//!   with the rest applied as patches of 10 bytes: a word index (`u16` LE, modulo the region's
//!   words) and the `u64` LE stored there; an incomplete last patch cuts the region to a
//!   length taken from its bytes instead.
//!
//! Checks: `Ok` or a typed error, never a panic (an abort: a finding), no loop bounded by a
//! number from the bytes (libFuzzer's `-timeout`), no out-of-bounds access (AddressSanitizer);
//! and a snapshot that holds together: depth ≤ capacity, at most `max_processes` participants,
//! each with an id in `1..=max_processes`, per class `in_use ≤ touched ≤ total`, the region's
//! length that of the bytes, every liveness `NotJudged` (nothing outside the bytes is read); for
//! a pool, each worker's task within the task table (with its generation), a time in its state
//! only with a stamp, and task counts that never need more than the table plus the counters
//! (running tasks are at most the table's slots).
#![no_main]

use host_runtime::inspect::{inspect_region_bytes, Liveness, RegionSnapshot};
use libfuzzer_sys::fuzz_target;

const TEMPLATES: [&[u8]; 3] = [
    include_bytes!("../regions/small-raw.region"),
    include_bytes!("../regions/typed-blobs.region"),
    include_bytes!("../regions/pool.region"),
];

fn region(data: &[u8]) -> Vec<u8> {
    let Some((&mode, rest)) = data.split_first() else {
        return Vec::new();
    };
    if mode == 0 {
        return rest.to_vec();
    }
    let mut bytes = TEMPLATES[usize::from(mode - 1) % TEMPLATES.len()].to_vec();
    let words = bytes.len() / 8;
    let mut patches = rest.chunks_exact(10);
    for p in &mut patches {
        let index = usize::from(u16::from_le_bytes([p[0], p[1]])) % words;
        let value = u64::from_le_bytes(p[2..10].try_into().unwrap());
        bytes[8 * index..8 * index + 8].copy_from_slice(&value.to_le_bytes());
    }
    let tail = patches.remainder();
    if tail.len() >= 2 {
        let keep = usize::from(u16::from_le_bytes([tail[0], tail[1]])) * 8;
        bytes.truncate(keep);
    }
    bytes
}

fuzz_target!(|data: &[u8]| {
    let bytes = region(data);
    match inspect_region_bytes(&bytes) {
        Ok(RegionSnapshot::Queue(s)) => {
            assert!(s.depth <= s.capacity, "depth {} > capacity {}", s.depth, s.capacity);
            assert_eq!(s.region_len, bytes.len());
            assert!(s.participants.len() <= s.max_processes);
            for p in &s.participants {
                assert!((1..=s.max_processes).contains(&usize::from(p.id)));
                assert_eq!(p.process.liveness, Liveness::NotJudged);
            }
            assert_eq!(s.creator.liveness, Liveness::NotJudged);
            for c in &s.classes {
                assert!(c.in_use <= c.touched && c.touched <= c.total, "{c:?}");
            }
            // Never judged: a snapshot from bytes alone is never stale.
            assert!(s.stale().is_err());
        }
        Ok(RegionSnapshot::Pool(p)) => {
            assert_eq!(p.region_len, bytes.len());
            for w in &p.workers {
                assert!(w.task.is_none_or(|t| t < p.task_slots), "{w:?}");
                assert_eq!(w.task.is_some(), w.task_generation.is_some(), "{w:?}");
                assert!(w.state_for.is_none() || w.since_ns.is_some(), "{w:?}");
                assert_ne!(w.state, "unknown");
            }
            assert!(p.tasks.running <= p.task_slots as u64, "{:?}", p.tasks);
            assert!(p.stale().is_err());
        }
        Ok(other) => panic!("an unknown kind of region: {other:?}"),
        Err(_) => {}
    }
});
