use super::*;
use crate::error::{AttachError, InitError, LayoutError};
use crate::word::{SlotWord, State, MAX_CAPACITY};
use crate::Region;
#[cfg(word64)]
use crate::{RegisterError, RepairError, MAX_PARTICIPANTS};
use core::slice;

extern crate std;
use std::{boxed::Box, panic, sync::Arc, vec, vec::Vec};

const BIG: usize = 1 << 16;

fn region() -> Box<Region<BIG>> {
    Box::new(Region::new())
}

/// Snapshot of every byte, to prove that a refused call changed nothing.
fn bytes(q: &ByteQueue<'_>) -> Vec<u8> {
    let len = ByteQueue::memory_size(Config::new(q.capacity(), q.max_message_len())).unwrap();
    // SAFETY: the region starts HEADER_SIZE bytes before the slots and is at least `len`
    // bytes long; `slots.base` carries the whole region's provenance (`&Header` does not).
    unsafe { slice::from_raw_parts(q.slots.base.as_ptr().sub(HEADER_SIZE), len) }.to_vec()
}

impl ByteQueue<'_> {
    /// Moves an empty queue's head and tail to `stamp` (wrap-around tests).
    fn restart_at(&self, stamp: Word) {
        let geo = self.geometry;
        self.header.head.store(stamp, Relaxed);
        self.header.tail.store(stamp, Relaxed);
        for index in 0..self.capacity() {
            let lap = geo.lap(geo.stamp_at_or_after(stamp, index));
            // SAFETY: index < capacity.
            unsafe { self.slots.word(index) }.store(SlotWord::pack(lap, State::Free, 0), Relaxed);
        }
    }
}

#[test]
fn memory_size_checks_its_arguments() {
    assert_eq!(ByteQueue::memory_size(Config::new(1, 0)), Ok(640 + 16));
    assert_eq!(ByteQueue::memory_size(Config::new(3, 1)), Ok(640 + 3 * 24));
    assert_eq!(
        ByteQueue::memory_size(Config::new(0, 8)),
        Err(LayoutError::ZeroCapacity)
    );
    assert_eq!(
        ByteQueue::memory_size(Config::new(MAX_CAPACITY + 1, 8)),
        Err(LayoutError::CapacityTooLarge {
            capacity: MAX_CAPACITY + 1
        })
    );
    assert_eq!(
        ByteQueue::memory_size(Config::new(1, MAX_MESSAGE_LEN + 1)),
        Err(LayoutError::MessageTooLarge {
            max_message_len: MAX_MESSAGE_LEN + 1
        })
    );
    let (cap, len) = (MAX_CAPACITY, MAX_MESSAGE_LEN);
    let fits = (cap as u128) * (slot_stride(len) as u128) + 640 <= Word::MAX as u128;
    assert_eq!(ByteQueue::memory_size(Config::new(cap, len)).is_ok(), fits);
}

#[test]
fn init_refuses_bad_regions_and_changes_nothing() {
    let mut r = region();
    let before = r.as_mut_slice().to_vec();
    assert_eq!(
        ByteQueue::init(&mut r.as_mut_slice()[..700], Config::new(8, 8)).err(),
        Some(InitError::RegionTooSmall {
            needed: 640 + 8 * 24,
            got: 700
        })
    );
    assert_eq!(
        ByteQueue::init(&mut r.as_mut_slice()[8..], Config::new(4, 8)).err(),
        Some(InitError::Misaligned)
    );
    assert_eq!(
        ByteQueue::init(r.as_mut_slice(), Config::new(0, 8)).err(),
        Some(InitError::Layout(LayoutError::ZeroCapacity))
    );
    assert_eq!(r.as_mut_slice(), &before[..]);
}

#[test]
fn push_pop_fifo_full_empty() {
    let mut r = region();
    let q = ByteQueue::init(r.as_mut_slice(), Config::new(3, 8)).unwrap();
    assert!(q.is_empty());
    let mut buf = [0u8; 8];
    assert_eq!(q.try_pop(&mut buf), Err(PopError::Empty));
    q.try_push(b"a").unwrap();
    q.try_push(b"").unwrap();
    q.try_push(b"12345678").unwrap();
    assert!(q.is_full());
    let full = bytes(&q);
    assert_eq!(q.try_push(b"x"), Err(PushError::Full));
    assert_eq!(bytes(&q), full, "a refused push changes nothing");
    assert_eq!(q.try_pop(&mut buf), Ok(1));
    assert_eq!(&buf[..1], b"a");
    assert_eq!(q.try_pop(&mut buf), Ok(0));
    assert_eq!(q.try_pop(&mut buf), Ok(8));
    assert_eq!(&buf, b"12345678");
    assert_eq!(q.try_pop(&mut buf), Err(PopError::Empty));
    assert_eq!(q.len(), 0);
}

#[test]
fn too_large_and_too_small_leave_the_queue_alone() {
    let mut r = region();
    let q = ByteQueue::init(r.as_mut_slice(), Config::new(4, 8)).unwrap();
    q.try_push(b"abcdef").unwrap();
    let snapshot = bytes(&q);
    assert_eq!(
        q.try_push(&[0; 9]),
        Err(PushError::TooLarge { len: 9, max: 8 })
    );
    let mut small = [0u8; 5];
    assert_eq!(
        q.try_pop(&mut small),
        Err(PopError::BufferTooSmall { needed: 6 })
    );
    assert_eq!(bytes(&q), snapshot);
    let mut buf = [0u8; 6];
    assert_eq!(q.try_pop(&mut buf), Ok(6));
    assert_eq!(&buf, b"abcdef");
}

/// Whether Miri (slow) tries `offset` of a `len`-byte message: every offset within two words
/// and a byte of either end (every shift of a word, every boundary), every 11th between.
fn near_an_end(offset: usize, len: usize) -> bool {
    offset <= 17 || offset + 17 >= len || offset % 11 == 0
}

/// The atomic word copies of `try_push`/`try_pop` and the slot views, at every length
/// around the word and inline-copy boundaries and every offset (under Miri, those of
/// [`near_an_end`]): exact bytes, nothing written past the message in the caller's buffer.
#[test]
fn payload_copies_every_length_and_offset() {
    const MAX: usize = 70;
    let mut r = region();
    let q = ByteQueue::init(r.as_mut_slice(), Config::new(2, MAX)).unwrap();
    let pattern: Vec<u8> = (0..MAX as u8).map(|i| i.wrapping_mul(37) ^ 0x5A).collect();
    for len in 0..=MAX {
        let message = &pattern[..len];
        q.try_push(message).unwrap();
        let mut buf = [0xEEu8; MAX + 9];
        assert_eq!(
            q.try_pop(&mut buf[..len]),
            Ok(len),
            "exact-size buffer, {len}"
        );
        assert_eq!(&buf[..len], message, "{len} bytes");
        assert!(buf[len..].iter().all(|&b| b == 0xEE), "nothing past {len}");

        q.try_push_with(len, |slot| {
            assert_eq!(slot.write(message), len);
        })
        .unwrap();
        q.try_pop_with(|m| {
            let mut uninit = [core::mem::MaybeUninit::new(0xEEu8); MAX + 9];
            assert_eq!(m.read_uninit(&mut uninit), message);
            // SAFETY: (test) every element was initialised above.
            let tail = unsafe { uninit[len].assume_init() };
            assert_eq!(tail, 0xEE, "read_uninit wrote past {len}");
            for offset in (0..=len + 1).filter(|&o| !cfg!(miri) || near_an_end(o, len)) {
                let mut piece = [0xEEu8; 11];
                let n = m.read_at(offset, &mut piece);
                let want = &message[offset.min(len)..(offset + 11).min(len)];
                assert_eq!(&piece[..n], want, "read_at({offset}) of {len}");
                assert!(piece[n..].iter().all(|&b| b == 0xEE));
            }
        })
        .unwrap();

        // Pieces written at every offset, in any order, make up the message.
        for split in (0..=len).filter(|&s| !cfg!(miri) || near_an_end(s, len)) {
            q.try_push_with(len, |slot| {
                assert_eq!(slot.write_at(split, &message[split..]), len - split);
                assert_eq!(slot.write_at(0, &message[..split]), split);
            })
            .unwrap();
            let mut out = [0u8; MAX];
            assert_eq!(q.try_pop(&mut out), Ok(len));
            assert_eq!(&out[..len], message, "split at {split} of {len}");

            // The same split as a header and a body, written at once.
            q.try_push_with(len, |slot| {
                slot.write_parts(&message[..split], &message[split..]);
            })
            .unwrap();
            let mut out = [0u8; MAX];
            assert_eq!(q.try_pop(&mut out), Ok(len));
            assert_eq!(&out[..len], message, "parts split at {split} of {len}");
        }
    }
}

/// Long payloads, around 256 bytes and up to 1,000: exact bytes both ways, nothing written
/// past the message in the caller's buffer, and the slot's bytes past a message zeroed as by
/// the word loop (every copy of a slot is one, whatever its length).
#[test]
fn long_payloads_copy_exactly() {
    const MAX: usize = 1000;
    let mut r = region();
    let q = ByteQueue::init(r.as_mut_slice(), Config::new(2, MAX)).unwrap();
    let pattern: Vec<u8> = (0..MAX)
        .map(|i| (i as u8).wrapping_mul(37) ^ 0x5A)
        .collect();
    for len in [248, 255, 256, 257, 263, 264, 511, 999, 1000] {
        let message = &pattern[..len];
        // A longer message first, so that bytes past `len` in the slot are not zero already.
        q.try_push(&[0xFF; MAX]).unwrap();
        q.try_pop(&mut [0; MAX]).unwrap();
        q.try_push(message).unwrap();
        let mut buf = vec![0xEEu8; MAX + 9];
        assert_eq!(q.try_pop(&mut buf[..len]), Ok(len), "{len}");
        assert_eq!(&buf[..len], message, "{len} bytes");
        assert!(buf[len..].iter().all(|&b| b == 0xEE), "nothing past {len}");

        q.try_push_with(len, |slot| assert_eq!(slot.write(message), len))
            .unwrap();
        q.try_pop_with(|m| {
            let mut uninit = vec![core::mem::MaybeUninit::new(0xEEu8); MAX + 9];
            assert_eq!(m.read_uninit(&mut uninit), message);
            // SAFETY: (test) every element was initialised above.
            assert_eq!(unsafe { uninit[len].assume_init() }, 0xEE, "past {len}");
            // The rest of the message's last word, read as a word of the slot.
            let w = core::mem::size_of::<crate::word::Word>();
            if len % w != 0 {
                let last = m.payload().load(len / w).to_ne_bytes();
                assert!(last[len % w..].iter().all(|&b| b == 0), "{len}: {last:?}");
            }
        })
        .unwrap();
    }
}

#[test]
fn slot_views_push_and_pop() {
    let mut r = region();
    let q = ByteQueue::init(r.as_mut_slice(), Config::new(2, 64)).unwrap();
    let mut bytes = [0u8; 64];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = i as u8;
    }
    q.try_push_with(64, |slot| {
        assert_eq!(slot.len(), 64);
        // Out of order and unaligned: a middle piece, the head, then the tail.
        assert_eq!(slot.write_at(13, &bytes[13..40]), 27);
        assert_eq!(slot.write(&bytes[..13]), 13);
        assert_eq!(slot.write_at(40, &bytes[40..]), 24);
        assert_eq!(slot.write_at(64, b"past the end"), 0);
    })
    .unwrap();
    let sum = q
        .try_pop_with(|m| {
            let mut copy = [0u8; 64];
            assert_eq!(m.read(&mut copy), 64);
            let mut piece = [0u8; 10];
            assert_eq!(m.read_at(59, &mut piece), 5, "only what is left");
            assert_eq!(piece[..5], copy[59..]);
            assert_eq!(m.read_at(64, &mut piece), 0);
            copy.iter().map(|&b| b as u32).sum::<u32>()
        })
        .unwrap();
    assert_eq!(sum, (0..64).sum());
    assert_eq!(
        q.try_push_with(65, |_| unreachable!()),
        Err(PushError::TooLarge { len: 65, max: 64 })
    );
    assert_eq!(
        q.try_pop_with(|_| unreachable!()),
        Err::<(), _>(PopError::Empty)
    );
}

#[test]
fn a_panicking_closure_gives_its_slot_up() {
    let mut r = region();
    let q = ByteQueue::init(r.as_mut_slice(), Config::new(3, 8)).unwrap();
    q.try_push(b"first").unwrap();
    let pushed = panic::catch_unwind(|| q.try_push_with(3, |_| panic!("fill failed")));
    assert!(pushed.is_err());
    q.try_push(b"third").unwrap();
    assert_eq!(
        q.stats(),
        QueueStats {
            lost_in_push: 1,
            lost_in_pop: 0
        }
    );
    let mut buf = [0u8; 8];
    assert_eq!(q.try_pop(&mut buf), Ok(5));
    assert_eq!(&buf[..5], b"first");
    // The abandoned position is skipped.
    assert_eq!(q.try_pop(&mut buf), Ok(5));
    assert_eq!(&buf[..5], b"third");

    q.try_push(b"fourth").unwrap();
    let popped = panic::catch_unwind(|| q.try_pop_with(|_| panic!("read failed")));
    assert!(popped.is_err());
    assert_eq!(
        q.stats(),
        QueueStats {
            lost_in_push: 1,
            lost_in_pop: 1
        }
    );
    assert_eq!(q.try_pop(&mut buf), Err(PopError::Empty));
    for _ in 0..5 {
        q.try_push(b"again").unwrap();
        assert_eq!(q.try_pop(&mut buf), Ok(5));
    }
}

#[test]
fn attach_sees_the_same_queue() {
    let mut r = region();
    let q = ByteQueue::init(r.as_mut_slice(), Config::new(5, 16)).unwrap();
    q.try_push(b"one").unwrap();
    q.try_push(b"two").unwrap();
    let q2 = ByteQueue::attach(r.as_mut_slice()).unwrap();
    assert_eq!((q2.capacity(), q2.max_message_len(), q2.len()), (5, 16, 2));
    let mut buf = [0u8; 16];
    assert_eq!(q2.try_pop(&mut buf), Ok(3));
    assert_eq!(&buf[..3], b"one");
}

#[test]
fn attach_refuses_foreign_or_corrupt_headers() {
    let mut r = region();
    let size = ByteQueue::memory_size(Config::new(4, 8)).unwrap();
    assert_eq!(
        ByteQueue::attach(r.as_mut_slice()).err(),
        Some(AttachError::BadMagic)
    );
    assert_eq!(
        ByteQueue::attach(&mut r.as_mut_slice()[128..]).err(),
        Some(AttachError::BadMagic)
    );
    assert_eq!(
        ByteQueue::attach(&mut r.as_mut_slice()[8..]).err(),
        Some(AttachError::Misaligned)
    );
    assert_eq!(
        ByteQueue::attach(&mut r.as_mut_slice()[..100]).err(),
        Some(AttachError::RegionTooSmall {
            needed: 640,
            got: 100
        })
    );
    ByteQueue::init(r.as_mut_slice(), Config::new(4, 8)).unwrap();
    assert_eq!(
        ByteQueue::attach(&mut r.as_mut_slice()[..size - 1]).err(),
        Some(AttachError::RegionTooSmall {
            needed: size,
            got: size - 1
        })
    );

    // Each corruption of one header field, applied to a fresh copy.
    let good = r.as_mut_slice()[..size].to_vec();
    let field = |offset: usize, value: u32, expect: AttachError| {
        let mut copy = region();
        copy.as_mut_slice()[..size].copy_from_slice(&good);
        copy.as_mut_slice()[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
        let before = copy.as_mut_slice().to_vec();
        assert_eq!(
            ByteQueue::attach(copy.as_mut_slice()).err(),
            Some(expect),
            "field at {offset}"
        );
        assert_eq!(copy.as_mut_slice(), &before[..], "attach writes nothing");
    };
    field(0, 0xdead_beef, AttachError::BadMagic);
    field(4, 2, AttachError::UnsupportedVersion { found: 2 });
    field(8, 16, AttachError::WordSizeMismatch { found: 16 });
    field(12, 0, AttachError::BadGeometry(LayoutError::ZeroCapacity));
    field(
        12,
        u32::MAX,
        AttachError::BadGeometry(LayoutError::CapacityTooLarge {
            capacity: u32::MAX as usize,
        }),
    );
    field(12, 5, AttachError::BadLayout); // capacity disagrees with region_len
    field(12, 2000, AttachError::BadLayout);
    field(
        16,
        u32::MAX,
        AttachError::BadGeometry(LayoutError::MessageTooLarge {
            max_message_len: u32::MAX as usize,
        }),
    );
    field(20, 25, AttachError::BadLayout);
    field(24, 0, AttachError::BadLayout);
    field(28, 1, AttachError::BadLayout);
    field(32, 99, AttachError::BadLayout);
}

#[test]
fn corrupt_slots_are_reported_without_change() {
    let mut r = region();
    let q = ByteQueue::init(r.as_mut_slice(), Config::new(4, 8)).unwrap();
    q.try_push(b"ok").unwrap();
    let mut buf = [0u8; 8];

    // A reserved state in the head slot.
    // SAFETY: index 0 < capacity.
    let word0 = unsafe { q.slots.word(0) };
    let good = word0.load(Relaxed);
    word0.store(good | (5 << crate::word::OWNER_BITS), Relaxed);
    let snapshot = bytes(&q);
    assert_eq!(q.try_pop(&mut buf), Err(PopError::Corrupt));
    assert_eq!(bytes(&q), snapshot);
    word0.store(good, Relaxed);

    // A length above the maximum.
    // SAFETY: index 0 < capacity.
    let len0 = unsafe { q.slots.len_field(0) };
    len0.store(9, Relaxed);
    let snapshot = bytes(&q);
    assert_eq!(q.try_pop(&mut buf), Err(PopError::Corrupt));
    assert_eq!(q.try_pop_with(|m| m.len()), Err(PopError::Corrupt));
    assert_eq!(bytes(&q), snapshot);
    len0.store(2, Relaxed);

    // A slot far ahead of its hint, and a hint whose index is out of range.
    word0.store(SlotWord::pack(1000, State::Full, 0), Relaxed);
    assert_eq!(q.try_pop(&mut buf), Err(PopError::Corrupt));
    word0.store(good, Relaxed);
    q.header.tail.store(7, Relaxed); // index 7 ≥ capacity 4
    assert_eq!(q.try_push(b"x"), Err(PushError::Corrupt));
    q.header.tail.store(1, Relaxed);

    assert_eq!(q.try_pop(&mut buf), Ok(2));
    assert_eq!(&buf[..2], b"ok");
}

#[test]
fn garbage_never_loops_forever() {
    // Fill a region with pseudo-random words (the fuzz target does this at scale).
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..200 {
        let mut r = region();
        let cap = 1 + round % 7;
        let q = ByteQueue::init(r.as_mut_slice(), Config::new(cap, 8)).unwrap();
        for index in 0..cap {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let lap = seed % 6;
            let state = (seed >> 8) % 5;
            // SAFETY: index < capacity.
            unsafe { q.slots.word(index) }
                .store((lap as Word) << 16 | (state as Word) << 13, Relaxed);
            // SAFETY: index < capacity.
            unsafe { q.slots.len_field(index) }.store((seed >> 20) as u32 % 12, Relaxed);
        }
        let mut buf = [0u8; 8];
        for _ in 0..50 {
            let _ = q.try_push(b"abc");
            let _ = q.try_pop(&mut buf);
        }
    }
}

#[test]
fn a_stalled_producer_does_not_block_other_producers() {
    let mut r = region();
    let q = ByteQueue::init(r.as_mut_slice(), Config::new(4, 8)).unwrap();
    let ring = q.ring();
    // A producer claims position 0 and stops before publishing.
    let stalled = ring.claim_push(7).unwrap();
    for m in [b"b", b"c", b"d"] {
        q.try_push(m).unwrap();
    }
    assert_eq!(
        q.try_push(b"e"),
        Err(PushError::Full),
        "really full: 4 of 4"
    );
    let mut buf = [0u8; 8];
    assert_eq!(
        q.try_pop(&mut buf),
        Err(PopError::Empty),
        "FIFO waits for position 0"
    );
    // It resumes.
    // SAFETY: the stalled claim owns slot `stalled.index`.
    unsafe { q.slots.payload(stalled.index, 1) }.write_prefix(b"a");
    // SAFETY: as above.
    unsafe { q.slots.len_field(stalled.index) }.store(1, Relaxed);
    ring.publish(stalled);
    for m in [b"a", b"b", b"c", b"d"] {
        assert_eq!(q.try_pop(&mut buf), Ok(1));
        assert_eq!(&buf[..1], m);
    }
}

#[test]
fn a_stalled_consumer_blocks_only_its_slot() {
    let mut r = region();
    let q = ByteQueue::init(r.as_mut_slice(), Config::new(3, 8)).unwrap();
    for m in [b"a", b"b", b"c"] {
        q.try_push(m).unwrap();
    }
    let ring = q.ring();
    // A consumer claims "a" and stops before releasing its slot.
    let stalled = ring.claim_pop::<()>(9, |_| Ok(())).unwrap();
    let mut buf = [0u8; 8];
    for m in [b"b", b"c"] {
        assert_eq!(q.try_pop(&mut buf), Ok(1), "other consumers go on");
        assert_eq!(&buf[..1], m);
    }
    // The next push lands in the stalled reader's slot: that slot is still in use.
    assert_eq!(q.try_push(b"d"), Err(PushError::Full));
    ring.release(stalled);
    for m in [b"d", b"e", b"f"] {
        q.try_push(m).unwrap();
    }
    for m in [b"d", b"e", b"f"] {
        assert_eq!(q.try_pop(&mut buf), Ok(1));
        assert_eq!(&buf[..1], m);
    }
}

#[test]
fn stamps_wrap_around() {
    for cap in [1usize, 2, 3, 5, 8] {
        let mut r = region();
        let q = ByteQueue::init(r.as_mut_slice(), Config::new(cap, 8)).unwrap();
        let start = Word::MAX - 2 * cap.next_power_of_two() as Word + 1;
        let lap_field_wrap = ((1 as Word) << crate::word::WORD_LAP_BITS) - 2;
        for restart in [
            start,
            lap_field_wrap << cap.next_power_of_two().trailing_zeros(),
        ] {
            q.restart_at(restart);
            let (mut pushed, mut popped) = (0u64, 0u64);
            let mut buf = [0u8; 8];
            for _ in 0..6 * cap {
                while q.try_push(&pushed.to_le_bytes()).is_ok() {
                    pushed += 1;
                }
                assert_eq!(q.len(), cap);
                assert_eq!(q.try_pop(&mut buf), Ok(8));
                assert_eq!(u64::from_le_bytes(buf), popped);
                popped += 1;
            }
            while q.try_pop(&mut buf).is_ok() {
                assert_eq!(u64::from_le_bytes(buf), popped);
                popped += 1;
            }
            assert_eq!(pushed, popped);
        }
    }
}

#[test]
fn init_raw_zeroed_touches_only_the_header() {
    let size = ByteQueue::memory_size(Config::new(4, 8)).unwrap();
    let mut r = region();
    r.as_mut_slice()[size..].fill(0xAA);
    let base = NonNull::from(r.as_mut_slice()).cast::<u8>();
    // SAFETY: the region is ours, valid for BIG bytes, zero past the header.
    let q = unsafe { ByteQueue::init_raw(base, BIG, Config::new(4, 8), Contents::Zeroed) }.unwrap();
    q.try_push(b"z").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(q.try_pop(&mut buf), Ok(1));
    assert!(
        r.as_mut_slice()[size..].iter().all(|&b| b == 0xAA),
        "nothing past the queue written"
    );
}

#[test]
fn wait_words_signal_only_with_waiters() {
    let mut r = region();
    let q = ByteQueue::init(r.as_mut_slice(), Config::new(2, 8)).unwrap();
    let ne = q.not_empty();
    let seq = ne.seq().load(Relaxed);
    q.try_push(b"1").unwrap();
    assert!(!ne.notify());
    assert_eq!(
        ne.seq().load(Relaxed),
        seq,
        "no waiter: the word is not written"
    );
    let seen = ne.prepare_wait();
    q.try_push(b"2").unwrap();
    assert!(ne.notify());
    assert_ne!(ne.seq().load(Relaxed), seen);
    ne.finish_wait();
    assert_eq!(ne.waiters(), 0);
}

#[test]
fn threads_share_one_region() {
    const PER: u64 = if cfg!(miri) { 40 } else { 20_000 };
    let mut r = region();
    let q = ByteQueue::init(r.as_mut_slice(), Config::new(4, 16)).unwrap();
    let taken = Arc::new(core::sync::atomic::AtomicU64::new(0));
    std::thread::scope(|s| {
        for p in 0..2u64 {
            s.spawn(move || {
                for i in 0..PER {
                    let msg = (p << 32 | i).to_le_bytes();
                    while q.try_push(&msg).is_err() {
                        std::thread::yield_now();
                    }
                }
            });
        }
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let taken = taken.clone();
                s.spawn(move || {
                    let mut got = vec![];
                    let mut buf = [0u8; 16];
                    while taken.load(Relaxed) < 2 * PER {
                        if let Ok(8) = q.try_pop(&mut buf) {
                            taken.fetch_add(1, Relaxed);
                            got.push(u64::from_le_bytes(buf[..8].try_into().unwrap()));
                        } else {
                            std::thread::yield_now();
                        }
                    }
                    got
                })
            })
            .collect();
        let mut all: Vec<u64> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort_unstable();
        let expect: Vec<u64> = (0..2)
            .flat_map(|p| (0..PER).map(move |i| p << 32 | i))
            .collect();
        assert_eq!(all, expect);
    });
}

/// Crash repair needs owner bits in slot words: 64-bit words only.
#[cfg(word64)]
mod participants {
    use super::*;

    /// A private copy of a message a repair hook sees.
    fn to_vec(message: &SlotReader<'_>) -> Vec<u8> {
        let mut copy = vec![0; message.len()];
        message.read(&mut copy);
        copy
    }

    fn with_participants(
        r: &mut Region<BIG>,
        capacity: usize,
        participants: usize,
    ) -> ByteQueue<'_> {
        ByteQueue::init(
            r.as_mut_slice(),
            Config::new(capacity, 8).participants(participants),
        )
        .unwrap()
    }

    #[test]
    fn participants_register_list_and_leave() {
        let mut r = region();
        let q = with_participants(&mut r, 4, 2);
        let a = q.register(100, 7).unwrap();
        let b = q.register(200, 8).unwrap();
        assert_eq!(q.register(300, 9).err(), Some(RegisterError::TableFull));
        let (ida, idb) = (a.participant(), b.participant());
        assert_ne!(ida, idb);
        let listed: Vec<_> = q
            .participants()
            .map(|p| (p.id, p.pid, p.identity, p.state))
            .collect();
        assert_eq!(
            listed,
            [
                (ida, 100, 7, crate::ParticipantState::Alive),
                (idb, 200, 8, crate::ParticipantState::Alive)
            ]
        );
        a.try_push(b"from a").unwrap();
        let anonymous = a.deregister();
        assert_eq!(anonymous.participants().count(), 1);
        assert_eq!(q.participants().count(), 1);
        let c = q.register(300, 9).unwrap();
        assert_eq!(c.participant(), ida, "a's entry is reused");

        // A queue without a table has no room; attach keeps the table.
        let mut r2 = region();
        let plain = ByteQueue::init(r2.as_mut_slice(), Config::new(4, 8)).unwrap();
        assert_eq!(plain.register(1, 0).err(), Some(RegisterError::TableFull));
        let again = ByteQueue::attach(r.as_mut_slice()).unwrap();
        assert_eq!(again.participants().count(), 2);
        assert_eq!(
            ByteQueue::memory_size(Config::new(1, 1).participants(MAX_PARTICIPANTS + 1)),
            Err(LayoutError::TooManyParticipants {
                participants: MAX_PARTICIPANTS + 1
            })
        );
    }

    #[test]
    fn repair_abandons_a_dead_producers_claim() {
        let mut r = region();
        let q = with_participants(&mut r, 4, 2);
        let producer = q.register(100, 0).unwrap();
        q.try_push(b"before").unwrap();
        // The producer claims a slot and dies before publishing.
        let _dead_claim = producer
            .queue
            .ring()
            .claim_push(producer.id.owner())
            .unwrap();
        q.try_push(b"after").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(q.try_pop(&mut buf), Ok(6));
        assert_eq!(
            q.try_pop(&mut buf),
            Err(PopError::Empty),
            "stuck behind the dead claim"
        );

        let dead = q.participants().next().unwrap();
        // SAFETY: the "dead" producer never touches the queue again in this test.
        let repaired =
            unsafe { q.repair(&dead, 1, |_| unreachable!("no reads to salvage")) }.unwrap();
        assert_eq!(
            repaired,
            Repaired {
                lost_in_push: 1,
                lost_in_pop: 0
            }
        );
        assert_eq!(
            q.stats(),
            QueueStats {
                lost_in_push: 1,
                lost_in_pop: 0
            }
        );
        assert_eq!(q.participants().count(), 0, "entry freed");
        assert_eq!(
            q.try_pop(&mut buf),
            Ok(5),
            "consumers skip the abandoned slot"
        );
        assert_eq!(&buf[..5], b"after");
        // SAFETY: as above.
        let again = unsafe { q.repair(&dead, 1, |_| {}) };
        assert_eq!(again, Err(RepairError::Changed), "one repair per snapshot");
    }

    #[test]
    fn repair_takes_over_a_dead_consumers_claim() {
        let mut r = region();
        let q = with_participants(&mut r, 2, 2);
        let consumer = q.register(100, 0).unwrap();
        q.try_push(b"taken").unwrap();
        q.try_push(b"next").unwrap();
        let _dead_claim = consumer
            .queue
            .ring()
            .claim_pop::<()>(consumer.id.owner(), |_| Ok(()))
            .unwrap();
        assert_eq!(q.try_push(b"x"), Err(PushError::Full), "its slot is held");

        let repairer = q.register(1, 0).unwrap();
        let dead = q.participants().find(|p| p.pid == 100).unwrap();
        let mut salvaged = Vec::new();
        // SAFETY: the "dead" consumer never touches the queue again in this test.
        let repaired = unsafe { repairer.repair(&dead, 1, |m| salvaged.push(to_vec(m))) }.unwrap();
        assert_eq!(
            repaired,
            Repaired {
                lost_in_push: 0,
                lost_in_pop: 1
            }
        );
        assert_eq!(salvaged, [b"taken".to_vec()]);
        q.try_push(b"x").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(q.try_pop(&mut buf), Ok(4));
        assert_eq!(q.try_pop(&mut buf), Ok(1));
        assert_eq!(q.stats().lost_in_pop, 1);
    }

    #[test]
    fn a_dead_repairer_is_taken_over() {
        let mut r = region();
        let q = with_participants(&mut r, 4, 3);
        let producer = q.register(100, 0).unwrap();
        let _dead_claim = producer
            .queue
            .ring()
            .claim_push(producer.id.owner())
            .unwrap();
        let dead = q.participants().next().unwrap();
        // A first repairer (pid 50) takes the entry and dies before scanning.
        assert!(q.table.begin_repair(&dead, 50));
        let half = q.participants().next().unwrap();
        assert_eq!(
            (half.state, half.pid),
            (crate::ParticipantState::Repairing, 50)
        );
        // SAFETY: neither the producer nor repairer 50 touches the queue again.
        let stale = unsafe { q.repair(&dead, 60, |_| {}) };
        assert_eq!(stale, Err(RepairError::Changed), "old snapshot");
        // SAFETY: as above.
        let repaired = unsafe { q.repair(&half, 60, |_| {}) }.unwrap();
        assert_eq!(repaired.lost_in_push, 1);
        assert_eq!(q.participants().count(), 0);
    }

    /// The scan stops at the first never-used slot while the tail is in its first lap, and
    /// still finds claims behind a tail hint that a late store moved back, or after a wrap.
    #[test]
    fn repair_scans_every_slot_ever_used() {
        let mut r = region();
        let q = with_participants(&mut r, 8, 2);
        let mut buf = [0u8; 8];
        for wrap in [false, true] {
            if wrap {
                for _ in 0..8 {
                    q.try_push(b"lap").unwrap();
                    q.try_pop(&mut buf).unwrap();
                }
            }
            let producer = q.register(100, 0).unwrap();
            q.try_push(b"a").unwrap();
            q.try_push(b"b").unwrap();
            let _dead_claim = producer
                .queue
                .ring()
                .claim_push(producer.id.owner())
                .unwrap();
            q.try_push(b"c").unwrap();
            // A claimer's late store: the tail hint goes back to before the dead claim.
            let tail = q.header.tail.load(Relaxed);
            q.header.tail.store(tail - 3, Relaxed);
            let dead = q.participants().find(|p| p.pid == 100).unwrap();
            // SAFETY: the "dead" producer never touches the queue again.
            let repaired = unsafe { q.repair(&dead, 1, |_| {}) }.unwrap();
            assert_eq!(repaired.lost_in_push, 1, "wrapped: {wrap}");
            q.header.tail.store(tail, Relaxed);
            let popped: Vec<usize> = (0..3).map(|_| q.try_pop(&mut buf).unwrap()).collect();
            assert_eq!(popped, [1, 1, 1]);
            assert_eq!(q.try_pop(&mut buf), Err(PopError::Empty));
        }
    }

    /// `repair_with` hands the host each slot it repairs, in slot order, then calls
    /// `before_release` while the entry is still held, once.
    #[test]
    fn repair_with_calls_every_hook_before_the_entry_is_freed() {
        extern crate std;
        use std::string::String;
        use std::vec::Vec;

        struct Log<'q, 'a> {
            queue: &'q ByteQueue<'a>,
            events: Vec<String>,
        }
        impl crate::RepairHooks for Log<'_, '_> {
            fn salvage(&mut self, message: &SlotReader<'_>) {
                let message = to_vec(message);
                let text = core::str::from_utf8(&message).unwrap();
                self.events.push(std::format!("salvage {text}"));
            }
            fn abandoned(&mut self, payload: &SlotReader<'_>) {
                let payload = to_vec(payload);
                let text = core::str::from_utf8(&payload).unwrap();
                self.events.push(std::format!("abandoned {text:?}"));
            }
            fn before_release(&mut self) {
                let held = self
                    .queue
                    .participants()
                    .any(|p| p.state == crate::ParticipantState::Repairing);
                self.events
                    .push(std::format!("before_release, entry held: {held}"));
            }
        }

        let mut r = region();
        let q = with_participants(&mut r, 4, 2);
        q.try_push(b"old").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(q.try_pop(&mut buf), Ok(3));
        q.try_push(b"a").unwrap();
        let dead = q.register(100, 0).unwrap();
        // The dead participant claims "a" (slot 1) and a push in slot 2 (never written).
        let _reading = dead
            .queue
            .ring()
            .claim_pop::<()>(dead.id.owner(), |_| Ok(()))
            .unwrap();
        let _writing = dead.queue.ring().claim_push(dead.id.owner()).unwrap();
        // Slot 3 gets "x"; the next push claim is slot 0's second lap, whose payload
        // still holds "old" (stale: the dead participant wrote nothing yet).
        q.try_push(b"x").unwrap();
        assert_eq!(q.try_pop(&mut buf), Err(PopError::Empty), "behind slot 2");
        let _stale = dead.queue.ring().claim_push(dead.id.owner()).unwrap();

        let snapshot = q.participants().find(|p| p.pid == 100).unwrap();
        let mut log = Log {
            queue: &q,
            events: Vec::new(),
        };
        // SAFETY: the "dead" participant never touches the queue again.
        let repaired = unsafe { q.repair_with(&snapshot, 1, &mut log) }.unwrap();
        assert_eq!(
            repaired,
            Repaired {
                lost_in_push: 2,
                lost_in_pop: 1
            }
        );
        assert_eq!(
            log.events,
            [
                "abandoned \"old\"",
                "salvage a",
                "abandoned \"\"",
                "before_release, entry held: true",
            ]
        );
        assert_eq!(q.participants().count(), 0, "entry freed after the hooks");
        assert_eq!(
            q.try_pop(&mut buf),
            Ok(1),
            "the abandoned slots are skipped"
        );
        assert_eq!(&buf[..1], b"x");
    }

    #[test]
    fn anonymous_and_live_claims_are_left_alone() {
        let mut r = region();
        let q = with_participants(&mut r, 4, 2);
        let live = q.register(100, 0).unwrap();
        let dead = q.register(200, 0).unwrap();
        let _anonymous = q.ring().claim_push(ANONYMOUS).unwrap();
        let _live = live.queue.ring().claim_push(live.id.owner()).unwrap();
        let snapshot = q.participants().find(|p| p.pid == 200).unwrap();
        // SAFETY: participant 200 never made a claim and never runs again.
        let repaired = unsafe { q.repair(&snapshot, 1, |_| {}) }.unwrap();
        assert_eq!(repaired, Repaired::default());
        let _ = dead;
        assert_eq!(q.stats(), QueueStats::default());
    }
}
