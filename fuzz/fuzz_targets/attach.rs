//! `attach`: `ByteQueue::attach` over arbitrary or deliberately corrupted regions.
//!
//! Checks: `attach` returns `Ok` or a typed `AttachError` and never panics; on `Ok`, a
//! bounded run of operations (push, pop, zero-copy, queries, and the participant table:
//! register, deregister, list, repair) returns well-formed results (lengths within
//! bounds; a refused push or pop changes nothing but the `head`/`tail` hints and the
//! ABANDONED slots a consumer frees on its way), never touches a byte outside the
//! queue's own region (AddressSanitizer, and a check of the slack after it) and never
//! loops forever (libFuzzer's `-timeout`). `Corrupt` errors are fine results. A re-`init`
//! over a corrupted region must give a working empty queue.
#![no_main]

use arbitrary::Arbitrary;
use ipc_core::{AttachError, ByteQueue, Config, Contents, PopError, PushError, RegisterError};
use ipc_core_fuzz::layout::{self, HEADER};
use ipc_core_fuzz::{
    copy_out, expect_panic, install_panic_hook, provoke_panic, AlignedRegion, Handle,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input {
    /// Arbitrary bytes (the rest zero) in a region of `len` bytes, `offset` bytes past
    /// an aligned address. With `fix_header`, the header is then made consistent with
    /// the capacity, message length and table size its bytes name (reduced to small
    /// values), so that random slot words, hints and table entries get attached.
    Raw {
        offset: u8,
        len: u16,
        bytes: Vec<u8>,
        fix_header: bool,
        ops: Vec<Op>,
    },
    /// A queue made by `init` and used for a while, then corrupted.
    Corrupted {
        capacity: u8,
        max_len: u8,
        /// Entries in the participant table, 0..=4.
        participants: u8,
        prelude: Vec<Pre>,
        flips: Vec<Flip>,
        /// The region handed to `attach` is this much shorter or longer than needed.
        len_delta: i8,
        ops: Vec<Op>,
        /// Afterwards, `init` the same region again.
        reinit: bool,
    },
}

/// Honest use before the corruption, to reach later laps and a filled table.
#[derive(Arbitrary, Debug)]
enum Pre {
    Push {
        len: u8,
    },
    Pop,
    /// Push and pop `n` messages: moves the hints `n` positions on.
    Cycle {
        n: u8,
    },
    Register {
        pid: u32,
    },
}

#[derive(Arbitrary, Debug)]
enum Flip {
    /// XOR one header byte (offset mod 640).
    HeaderByte {
        at: u16,
        xor: u8,
    },
    /// Overwrite one 32-bit header field (index mod 160).
    HeaderU32 {
        index: u8,
        value: u32,
    },
    /// A plausible slot word: `lap(head) + lap_delta`, any state (5–7 reserved), owner
    /// (small owners name table entries).
    SlotWord {
        slot: u8,
        lap_delta: i8,
        state: u8,
        owner: u16,
    },
    SlotWordXor {
        slot: u8,
        xor: u64,
    },
    /// A slot's length field, near the maximum or anything.
    SlotLen {
        slot: u8,
        len: u32,
        near_max: bool,
    },
    /// A hint moved by `delta` positions (a valid stamp), or set to raw bits.
    Hint {
        tail: bool,
        delta: i16,
    },
    HintRaw {
        tail: bool,
        value: u64,
    },
    /// A loss counter or wait word set to anything.
    Counter {
        which: u8,
        value: u64,
    },
    Payload {
        at: u16,
        xor: u8,
    },
    /// A participant entry: word from parts, or any bits, or its identity.
    Entry {
        entry: u8,
        pid: u32,
        generation: u32,
        state: u8,
    },
    EntryRaw {
        entry: u8,
        word: u64,
        identity: u64,
    },
}

#[derive(Arbitrary, Debug)]
enum Op {
    Push {
        h: u8,
        len: u8,
        fill: u8,
    },
    PushWith {
        h: u8,
        len: u8,
        panic: bool,
    },
    Pop {
        h: u8,
        buf_len: u8,
    },
    PopWith {
        h: u8,
        panic: bool,
    },
    Query,
    Register {
        pid: u32,
        identity: u64,
    },
    Deregister {
        h: u8,
    },
    /// Repairs the `which`-th listed participant.
    Repair {
        which: u8,
        repairer: u32,
    },
}

const MAX_OPS: usize = 64;

/// What a refused push or pop must leave as it was: every byte but the `head`/`tail`
/// hints, which anyone may help on, and the words of slots that were ABANDONED, which
/// a consumer passing them frees (`LAYOUT.md`). Returns the masked bytes and the
/// offsets of those slot words, to mask the same way after the operation.
fn protected(region: &AlignedRegion, shape: &Shape) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = region.snapshot();
    let abandoned: Vec<usize> = (0..shape.capacity)
        .map(|i| shape.slot(i))
        .filter(|&at| layout::state_of(region.read_u64(at)) == layout::ABANDONED)
        .collect();
    mask(&mut bytes, &abandoned);
    (bytes, abandoned)
}

fn mask(bytes: &mut [u8], words: &[usize]) {
    for &at in [layout::TAIL, layout::HEAD].iter().chain(words) {
        bytes[at..at + 8].fill(0);
    }
}

/// The layout an attached queue validated.
struct Shape {
    capacity: usize,
    max: usize,
    participants: usize,
}

impl Shape {
    fn size(&self) -> usize {
        let config = Config::new(self.capacity, self.max).participants(self.participants);
        ByteQueue::memory_size(config).expect("attach checked the layout")
    }

    fn slot(&self, index: usize) -> usize {
        layout::slot(self.participants, self.max, index)
    }
}

/// Runs `ops` on an attached queue and checks each result is well-formed.
fn exercise(q: ByteQueue<'_>, region: &AlignedRegion, ops: &[Op]) {
    let shape = Shape {
        capacity: q.capacity(),
        max: q.max_message_len(),
        // `attach` validated the header; nothing but the loss counters changes it.
        participants: region.read_u32(layout::PARTICIPANTS) as usize,
    };
    let (capacity, max) = (shape.capacity, shape.max);
    let size = shape.size();
    assert!(size <= region.len());
    let slack = region.snapshot()[size..].to_vec();
    // Handles: the anonymous one, and those registered since (with their ids).
    let mut handles = vec![Handle::Anonymous(q)];
    for op in ops.iter().take(MAX_OPS) {
        let pick = |h: u8| &handles[h as usize % handles.len()];
        let (before, abandoned) = protected(region, &shape);
        let refused = match *op {
            Op::Push { h, len, fill } => {
                let message = vec![fill; len as usize];
                let result = pick(h).try_push(&message);
                if message.len() > max {
                    let len = message.len();
                    assert_eq!(result, Err(PushError::TooLarge { len, max }));
                }
                result.is_err()
            }
            Op::PushWith { h, len, panic } => {
                let len = len as usize;
                let mut called = false;
                let result = expect_panic(|| {
                    pick(h).try_push_with(len, |slot| {
                        called = true;
                        assert_eq!(slot.len(), len);
                        assert_eq!(slot.write(&vec![0xA5; len]), len);
                        if panic {
                            provoke_panic();
                        }
                    })
                });
                if len > max {
                    assert_eq!(result, Some(Err(PushError::TooLarge { len, max })));
                }
                match result {
                    Some(result) => {
                        assert_eq!(called, result.is_ok());
                        result.is_err()
                    }
                    None => false,
                }
            }
            Op::Pop { h, buf_len } => {
                let mut buf = vec![0u8; buf_len as usize];
                match pick(h).try_pop(&mut buf) {
                    Ok(n) => {
                        assert!(n <= buf.len() && n <= max, "popped {n} bytes");
                        false
                    }
                    Err(PopError::BufferTooSmall { needed }) => {
                        assert!(needed > buf.len() && needed <= max, "needed {needed}");
                        true
                    }
                    Err(_) => true,
                }
            }
            Op::PopWith { h, panic } => {
                let result = expect_panic(|| {
                    pick(h).try_pop_with(|m| {
                        assert!(m.len() <= max, "a message of {} bytes", m.len());
                        // Whatever the slot holds, a copy stays inside it (ASan).
                        assert_eq!(copy_out(m).len(), m.len());
                        if panic {
                            provoke_panic();
                        }
                    })
                });
                match result {
                    Some(Err(e)) => {
                        assert!(matches!(e, PopError::Empty | PopError::Corrupt), "{e:?}");
                        true
                    }
                    _ => false,
                }
            }
            Op::Query => {
                let len = q.len();
                assert!(len <= capacity);
                assert_eq!(q.is_empty(), len == 0);
                assert_eq!(q.is_full(), len == capacity);
                let _ = q.stats();
                for p in q.participants() {
                    assert!((1..=shape.participants).contains(&(p.id.get() as usize)));
                }
                true
            }
            Op::Register { pid, identity } => {
                match q.register(pid, identity) {
                    Ok(me) => {
                        let id = me.participant();
                        let listed = q.participants().find(|p| p.id == id).expect("listed");
                        assert_eq!((listed.pid, listed.identity), (pid, identity));
                        if handles.len() < 6 {
                            handles.push(Handle::Member(me));
                        }
                    }
                    Err(RegisterError::TableFull) => {}
                    Err(e) => panic!("unexpected {e:?}"),
                }
                false
            }
            Op::Deregister { h } => {
                let index = h as usize % handles.len();
                if index > 0 {
                    if let Handle::Member(me) = handles.swap_remove(index) {
                        let id = me.participant();
                        let anonymous = me.deregister();
                        assert!(anonymous.participants().all(|p| p.id != id));
                    }
                }
                false
            }
            Op::Repair { which, repairer } => {
                let listed: Vec<_> = q.participants().collect();
                if !listed.is_empty() {
                    let dead = listed[which as usize % listed.len()];
                    // The dead one acts no more: drop its handles.
                    handles.retain(|h| h.participant() != Some(dead.id));
                    let stats = q.stats();
                    let mut salvaged = 0u64;
                    // SAFETY: the participant's handles are gone and nothing else runs:
                    // it can no longer act on the queue.
                    let result = unsafe {
                        q.repair(&dead, repairer, |m| {
                            assert!(m.len() <= max, "salvaged {} bytes", m.len());
                            assert_eq!(copy_out(m).len(), m.len());
                            salvaged += 1;
                        })
                    };
                    if let Ok(repaired) = result {
                        assert!(repaired.lost_in_push + repaired.lost_in_pop <= capacity as u64);
                        assert!(salvaged <= repaired.lost_in_pop);
                        let after = q.stats();
                        assert_eq!(
                            after.lost_in_push,
                            stats.lost_in_push.wrapping_add(repaired.lost_in_push)
                        );
                        assert_eq!(
                            after.lost_in_pop,
                            stats.lost_in_pop.wrapping_add(repaired.lost_in_pop)
                        );
                        assert!(
                            q.participants().all(|p| p.id != dead.id),
                            "a repaired entry is free"
                        );
                    }
                }
                false
            }
        };
        if refused {
            let mut after = region.snapshot();
            mask(&mut after, &abandoned);
            assert!(after == before, "{op:?} was refused but changed the region");
        }
    }
    assert!(
        region.snapshot()[size..] == slack[..],
        "wrote past the queue"
    );
}

fn raw(offset: u8, len: u16, bytes: &[u8], fix_header: bool, ops: &[Op]) {
    let offset = offset as usize % 129;
    let mut len = len as usize % 16_384;
    let mut header = [0u8; HEADER];
    let n = bytes.len().min(HEADER);
    header[..n].copy_from_slice(&bytes[..n]);
    if fix_header {
        let field = |at: usize| u32::from_ne_bytes(header[at..at + 4].try_into().unwrap());
        let shape = Shape {
            capacity: field(12) as usize % 64 + 1,
            max: field(16) as usize % 129,
            participants: field(layout::PARTICIPANTS) as usize % 5,
        };
        let size = shape.size();
        let slots = shape.slot(0) as u32;
        let stride = layout::slot_stride(shape.max) as u32;
        let fields: [(usize, u32); 8] = [
            (0, 0x5150_4349), // magic
            (4, 1),           // version
            (8, 64),          // word bits
            (12, shape.capacity as u32),
            (16, shape.max as u32),
            (20, stride),
            (24, slots),
            (28, HEADER as u32), // participants_offset
        ];
        for (at, value) in fields {
            header[at..at + 4].copy_from_slice(&value.to_ne_bytes());
        }
        header[32..40].copy_from_slice(&(size as u64).to_ne_bytes()); // region_len
        let p = shape.participants as u32;
        header[layout::PARTICIPANTS..layout::PARTICIPANTS + 4].copy_from_slice(&p.to_ne_bytes());
        len = size + len % 64;
    }
    let mut region = AlignedRegion::new(offset, len);
    region.write(0, bytes);
    region.write(0, &header);
    // SAFETY: `region` is valid for `len` bytes, outlives the queue and is used through
    // `ByteQueue`s only.
    match unsafe { ByteQueue::attach_raw(region.ptr(), region.len()) } {
        Ok(q) => {
            assert_eq!(offset % 128, 0, "attached a misaligned region");
            exercise(q, &region, ops);
        }
        Err(AttachError::Misaligned) => assert_ne!(offset % 128, 0),
        Err(AttachError::RegionTooSmall { needed, got }) => {
            assert_eq!(got, len);
            assert!(needed > len);
        }
        Err(_) => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn corrupted(
    capacity: u8,
    max_len: u8,
    participants: u8,
    prelude: &[Pre],
    flips: &[Flip],
    len_delta: i8,
    ops: &[Op],
    reinit: bool,
) {
    let shape = Shape {
        capacity: capacity as usize % 64 + 1,
        max: max_len as usize % 65,
        participants: participants as usize % 5,
    };
    let (capacity, max) = (shape.capacity, shape.max);
    let config = Config::new(capacity, max).participants(shape.participants);
    let size = shape.size();
    let len = size.saturating_add_signed(len_delta as isize).max(1);
    let mut region = AlignedRegion::new(0, size);
    {
        // SAFETY: as in `raw`; this handle is dropped before the region is written.
        let q = unsafe { ByteQueue::init_raw(region.ptr(), region.len(), config, Contents::Any) }
            .expect("init of a valid layout");
        let mut buf = vec![0u8; max];
        for pre in prelude.iter().take(MAX_OPS) {
            match *pre {
                Pre::Push { len } => {
                    let _ = q.try_push(&vec![len; len as usize % (max + 1)]);
                }
                Pre::Pop => {
                    let _ = q.try_pop(&mut buf);
                }
                Pre::Cycle { n } => {
                    for _ in 0..n {
                        if q.try_push(&[]).is_ok() {
                            while q.try_pop(&mut buf).is_ok() {}
                        }
                    }
                }
                Pre::Register { pid } => {
                    let _ = q.register(pid, pid as u64 * 3);
                }
            }
        }
    }
    let head = region.read_u64(layout::HEAD);
    let mut header_touched = false;
    for flip in flips.iter().take(MAX_OPS) {
        let slot = |s: u8| shape.slot(s as usize % capacity);
        match *flip {
            Flip::HeaderByte { at, xor } => {
                let at = at as usize % HEADER;
                header_touched |= at < 128 && xor != 0;
                let old = region.snapshot()[at];
                region.write(at, &[old ^ xor]);
            }
            Flip::HeaderU32 { index, value } => {
                let at = index as usize % (HEADER / 4) * 4;
                header_touched |= at < 128;
                region.write(at, &value.to_ne_bytes());
            }
            Flip::SlotWord {
                slot: s,
                lap_delta,
                state,
                owner,
            } => {
                let lap = layout::lap_of(capacity, head).wrapping_add_signed(lap_delta as i64);
                let owner = if owner & 0x8000 == 0 {
                    owner % 8
                } else {
                    owner
                };
                let word = layout::slot_word(lap, state as u64, owner as u64);
                region.write(slot(s), &word.to_ne_bytes());
            }
            Flip::SlotWordXor { slot: s, xor } => {
                let at = slot(s);
                let word = region.read_u64(at) ^ xor;
                region.write(at, &word.to_ne_bytes());
            }
            Flip::SlotLen {
                slot: s,
                len,
                near_max,
            } => {
                let len = if near_max {
                    (max as u32).wrapping_add(len % 5).wrapping_sub(2)
                } else {
                    len
                };
                region.write(slot(s) + layout::SLOT_LEN, &len.to_ne_bytes());
            }
            Flip::Hint { tail, delta } => {
                let at = if tail { layout::TAIL } else { layout::HEAD };
                let stamp = region.read_u64(at);
                let pos = layout::lap_of(capacity, stamp) * capacity as u64
                    + stamp % (1 << layout::index_bits(capacity));
                let value = layout::stamp(capacity, pos.wrapping_add_signed(delta as i64));
                region.write(at, &value.to_ne_bytes());
            }
            Flip::HintRaw { tail, value } => {
                let at = if tail { layout::TAIL } else { layout::HEAD };
                region.write(at, &value.to_ne_bytes());
            }
            Flip::Counter { which, value } => {
                let at = [
                    layout::LOST_IN_PUSH,
                    layout::LOST_IN_POP,
                    layout::NOT_EMPTY,
                    layout::NOT_FULL,
                ][which as usize % 4];
                region.write(at, &value.to_ne_bytes());
            }
            Flip::Payload { at, xor } => {
                let at = layout::HEADER + at as usize % (size - layout::HEADER);
                let old = region.snapshot()[at];
                region.write(at, &[old ^ xor]);
            }
            Flip::Entry { .. } | Flip::EntryRaw { .. } if shape.participants == 0 => {}
            Flip::Entry {
                entry,
                pid,
                generation,
                state,
            } => {
                let at = layout::entry(entry as usize % shape.participants);
                let word = layout::entry_word(pid % 4, generation, state);
                region.write(at, &word.to_ne_bytes());
            }
            Flip::EntryRaw {
                entry,
                word,
                identity,
            } => {
                let at = layout::entry(entry as usize % shape.participants);
                region.write(at, &word.to_ne_bytes());
                region.write(at + 8, &identity.to_ne_bytes());
            }
        }
    }

    if len != size {
        // A region of exactly `len` bytes, so AddressSanitizer sees any access past it.
        let mut exact = AlignedRegion::new(0, len);
        exact.write(0, &region.snapshot());
        region = exact;
    }
    // SAFETY: as in `raw`.
    let attached = unsafe { ByteQueue::attach_raw(region.ptr(), region.len()) };
    match &attached {
        Ok(q) if !header_touched => {
            assert!(len >= size);
            assert_eq!((q.capacity(), q.max_message_len()), (capacity, max));
        }
        Err(e) if !header_touched => {
            assert!(len < size, "a sound header refused: {e:?}");
            assert_eq!(
                *e,
                AttachError::RegionTooSmall {
                    // Too short for any header, or for this one.
                    needed: if len < HEADER { HEADER } else { size },
                    got: len
                }
            );
        }
        _ => {}
    }
    if let Ok(q) = attached {
        exercise(q, &region, ops);
    }

    if reinit && len >= size {
        // SAFETY: as in `raw`; the handles above are gone.
        let q = unsafe { ByteQueue::init_raw(region.ptr(), len, config, Contents::Any) }
            .expect("re-init of a valid layout");
        assert_eq!(q.len(), 0);
        assert_eq!(q.stats(), Default::default());
        assert_eq!(q.not_empty().waiters(), 0);
        assert_eq!(q.not_full().waiters(), 0);
        assert_eq!(q.participants().count(), 0, "a fresh table is empty");
        let mut buf = vec![0u8; max];
        for round in 0..capacity + 1 {
            let message = vec![round as u8; round % (max + 1)];
            assert_eq!(q.try_push(&message), Ok(()), "push into a re-init queue");
            assert_eq!(q.try_pop(&mut buf), Ok(message.len()));
            assert_eq!(&buf[..message.len()], &message[..]);
        }
        assert_eq!(q.try_pop(&mut buf), Err(PopError::Empty));
    }
}

fuzz_target!(init: install_panic_hook(), |input: Input| {
    match input {
        Input::Raw {
            offset,
            len,
            bytes,
            fix_header,
            ops,
        } => raw(offset, len, &bytes, fix_header, &ops),
        Input::Corrupted {
            capacity,
            max_len,
            participants,
            prelude,
            flips,
            len_delta,
            ops,
            reinit,
        } => corrupted(
            capacity,
            max_len,
            participants,
            &prelude,
            &flips,
            len_delta,
            ops.as_slice(),
            reinit,
        ),
    }
});
