//! `queue_ops`: sequences of single-threaded operations on a `ByteQueue` (through several
//! handles onto one region: `attach`ed ones, and ones registered in the participant
//! table, whose claims record their id) and on typed `Queue<T, N>`s, checked step by
//! step against a `VecDeque` model: same results, same errors, same bytes, same loss
//! counters, same participant table.
#![no_main]

use std::collections::VecDeque;

use arbitrary::Arbitrary;
use ipc_core::{
    ByteQueue, Config, Contents, ParticipantId, PopError, PushError, Queue, QueueStats,
    RegisterError,
};
use ipc_core_fuzz::{
    copy_out, expect_panic, install_panic_hook, provoke_panic, AlignedRegion, Handle,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Each segment is a fresh queue in a fresh region.
    segments: Vec<Segment>,
    typed: Vec<TypedRun>,
}

#[derive(Arbitrary, Debug)]
struct Segment {
    /// 1..=64 after reduction.
    capacity: u8,
    /// 0..=128 after reduction.
    max_len: u8,
    how: InitHow,
    /// Entries in the participant table, 0..=2 after reduction.
    participants: u8,
    /// Bytes the slot area holds before `init` (repeated); `init` must not care.
    garbage: u8,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum InitHow {
    Init,
    InitRaw,
    /// Only on a zeroed region.
    InitZeroed,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// `try_push` through handle `h` (handles are `init`'s and any `attach`ed later).
    Push { h: u8, bytes: Vec<u8> },
    /// `try_push_with`, optionally with a fill closure that panics.
    PushWith {
        h: u8,
        len: u8,
        fill: u8,
        panic: bool,
    },
    /// `try_pop` into a buffer of `buf_len` bytes (may be too small).
    Pop { h: u8, buf_len: u8 },
    /// `try_pop_with`, optionally with a read closure that panics.
    PopWith { h: u8, panic: bool },
    /// Size queries and stats.
    Query { h: u8 },
    /// Another handle onto the same region, through `attach`.
    Attach,
    /// A handle registered as a participant (its claims record its id).
    Register { pid: u32 },
    /// Gives up the registration of handle `h` (if it has one); the handle goes.
    Deregister { h: u8 },
    /// `try_push_many` of `messages` through handle `h`.
    PushMany { h: u8, messages: Vec<Vec<u8>> },
    /// `try_pop_many` of up to `max` messages of at most `room` bytes through handle `h`.
    PopMany { h: u8, max: u8, room: u8 },
}

#[derive(Arbitrary, Debug)]
struct TypedRun {
    n: TypedN,
    ops: Vec<TypedOp>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum TypedN {
    One,
    Three,
    Eight,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum TypedOp {
    Push(u32),
    Pop,
    Query,
}

/// Model of a byte queue: the positions between `head` and `tail`, in order. `None` is
/// an abandoned push (its fill closure panicked): a tombstone that keeps its slot, and
/// counts in `len`, until a consumer passes it (`LAYOUT.md`, `ABANDONED`).
struct Model {
    capacity: usize,
    max_len: usize,
    positions: VecDeque<Option<Vec<u8>>>,
    stats: QueueStats,
}

impl Model {
    fn push(&self, len: usize) -> Result<(), PushError> {
        if len > self.max_len {
            return Err(PushError::TooLarge {
                len,
                max: self.max_len,
            });
        }
        if self.positions.len() == self.capacity {
            return Err(PushError::Full);
        }
        Ok(())
    }

    /// Drops tombstones at the front, as a consumer passing them does.
    fn skip_abandoned(&mut self) {
        while let Some(None) = self.positions.front() {
            self.positions.pop_front();
        }
    }

    /// The message a pop finds (after passing any tombstones).
    fn front(&mut self) -> Option<&Vec<u8>> {
        self.skip_abandoned();
        self.positions.front().map(|m| m.as_ref().expect("skipped"))
    }
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i as u8).wrapping_mul(31)))
        .collect()
}

fn run_segment(seg: &Segment) {
    let capacity = seg.capacity as usize % 64 + 1;
    let max_len = seg.max_len as usize % 129;
    let participants = seg.participants as usize % 3;
    let config = Config::new(capacity, max_len).participants(participants);
    let size = ByteQueue::memory_size(config).expect("small layout");
    let mut region = AlignedRegion::new(0, size);
    let how = seg.how;
    if !matches!(how, InitHow::InitZeroed) && seg.garbage != 0 {
        // Garbage past the header, table included (the `attach` target re-inits over
        // dirty headers).
        region.write(
            ipc_core_fuzz::layout::HEADER,
            &vec![seg.garbage; size - ipc_core_fuzz::layout::HEADER],
        );
    }
    let (ptr, len) = (region.ptr(), region.len());
    // SAFETY: `region` is valid for `len` bytes, outlives every handle (they are dropped
    // at the end of this function, before it) and is used through `ByteQueue`s only.
    let first = unsafe {
        match how {
            InitHow::Init => {
                ByteQueue::init(std::slice::from_raw_parts_mut(ptr.as_ptr(), len), config)
            }
            InitHow::InitRaw => ByteQueue::init_raw(ptr, len, config, Contents::Any),
            InitHow::InitZeroed => ByteQueue::init_raw(ptr, len, config, Contents::Zeroed),
        }
    }
    .expect("init of a valid layout");
    let mut handles = vec![Handle::Anonymous(first)];
    // (id, pid) of the registered participants, by id.
    let mut registered: Vec<(ParticipantId, u32)> = Vec::new();
    let mut model = Model {
        capacity,
        max_len,
        positions: VecDeque::new(),
        stats: QueueStats::default(),
    };
    assert_eq!(first.capacity(), capacity);
    assert_eq!(first.max_message_len(), max_len);

    for op in &seg.ops {
        let pick = |h: u8| &handles[h as usize % handles.len()];
        match op {
            Op::Push { h, bytes } => {
                let q = pick(*h);
                let expect = model.push(bytes.len());
                assert_eq!(q.try_push(bytes), expect, "try_push {bytes:?}");
                if expect.is_ok() {
                    model.positions.push_back(Some(bytes.clone()));
                }
            }
            Op::PushWith {
                h,
                len,
                fill,
                panic,
            } => {
                let q = pick(*h);
                let len = *len as usize;
                let expect = model.push(len);
                let message = pattern(*fill, len);
                let mut called = false;
                let result = expect_panic(|| {
                    q.try_push_with(len, |slot| {
                        called = true;
                        assert_eq!(slot.len(), len, "fill gets exactly len bytes");
                        assert_eq!(slot.write(&message), len);
                        if *panic {
                            provoke_panic();
                        }
                    })
                });
                assert_eq!(
                    called,
                    expect.is_ok(),
                    "fill called iff the push can happen"
                );
                match result {
                    Some(result) => {
                        assert!(
                            !panic || expect.is_err(),
                            "fill panicked, yet the push returned"
                        );
                        assert_eq!(result, expect, "try_push_with({len})");
                        if expect.is_ok() {
                            model.positions.push_back(Some(message));
                        }
                    }
                    None => {
                        assert!(*panic && expect.is_ok());
                        model.positions.push_back(None);
                        model.stats.lost_in_push += 1;
                    }
                }
            }
            Op::Pop { h, buf_len } => {
                let q = pick(*h);
                let mut buf = vec![0xEE; *buf_len as usize];
                let expect = match model.front() {
                    None => Err(PopError::Empty),
                    Some(m) if m.len() > buf.len() => {
                        Err(PopError::BufferTooSmall { needed: m.len() })
                    }
                    Some(m) => Ok(m.len()),
                };
                assert_eq!(q.try_pop(&mut buf), expect, "try_pop into {buf_len} bytes");
                if let Ok(n) = expect {
                    let m = model.positions.pop_front().unwrap().unwrap();
                    assert_eq!(&buf[..n], &m[..], "popped bytes");
                    assert!(
                        buf[n..].iter().all(|&b| b == 0xEE),
                        "no write past the message"
                    );
                }
            }
            Op::PopWith { h, panic } => {
                let q = pick(*h);
                let expect = model.front().cloned();
                let mut seen = None;
                let result = expect_panic(|| {
                    q.try_pop_with(|m| {
                        seen = Some(copy_out(m));
                        if *panic {
                            provoke_panic();
                        }
                        m.len()
                    })
                });
                assert_eq!(seen, expect, "try_pop_with hands over the front message");
                match (result, &expect) {
                    (Some(result), None) => assert_eq!(result, Err(PopError::Empty)),
                    (Some(result), Some(m)) => {
                        assert!(!panic);
                        assert_eq!(result, Ok(m.len()));
                    }
                    (None, _) => {
                        assert!(*panic && expect.is_some());
                        model.stats.lost_in_pop += 1;
                    }
                }
                if expect.is_some() {
                    model.positions.pop_front();
                }
            }
            Op::Query { h } => {
                let q = pick(*h).queue();
                let len = model.positions.len();
                assert_eq!(q.len(), len, "len");
                assert_eq!(q.is_empty(), len == 0, "is_empty");
                assert_eq!(q.is_full(), len == capacity, "is_full");
                assert_eq!(q.capacity(), capacity);
                assert_eq!(q.max_message_len(), max_len);
                assert_eq!(q.stats(), model.stats, "stats");
                let listed: Vec<_> = q.participants().map(|p| (p.id, p.pid)).collect();
                assert_eq!(listed, registered, "participant table");
            }
            // A handle made by the safe `init` holds the region's `&mut` borrow: no other.
            Op::Attach if matches!(how, InitHow::Init) => {}
            Op::Attach => {
                // SAFETY: as for `init` above.
                let q = unsafe { ByteQueue::attach_raw(ptr, len) }.expect("attach to a live queue");
                assert_eq!((q.capacity(), q.max_message_len()), (capacity, max_len));
                if handles.len() < 4 {
                    handles.push(Handle::Anonymous(q));
                }
            }
            Op::Register { pid } => match first.register(*pid, *pid as u64 + 1) {
                Ok(me) => {
                    assert!(registered.len() < participants, "registered past the table");
                    let id = me.participant();
                    registered.push((id, *pid));
                    registered.sort_unstable();
                    if handles.len() < 6 {
                        handles.push(Handle::Member(me));
                    }
                }
                Err(e) => {
                    assert_eq!(e, RegisterError::TableFull);
                    assert_eq!(registered.len(), participants, "refused with room left");
                }
            },
            Op::PushMany { h, messages } => {
                let q = pick(*h);
                // As many as a `try_push` each would take, in order, stopping at the first
                // refused; that one's error only if it is the first.
                let mut expect = Ok(0);
                for m in messages {
                    match model.push(m.len()) {
                        Ok(()) => {
                            model.positions.push_back(Some(m.clone()));
                            expect = expect.map(|n| n + 1);
                        }
                        Err(e) => {
                            if expect == Ok(0) {
                                expect = Err(e);
                            }
                            break;
                        }
                    }
                }
                assert_eq!(q.try_push_many(messages), expect, "try_push_many");
            }
            Op::PopMany { h, max, room } => {
                let q = pick(*h);
                let (max, room) = (*max as usize % 9, *room as usize);
                let mut expect = Vec::new();
                let mut refused = None;
                while expect.len() < max {
                    match model.front() {
                        None => break,
                        Some(m) if m.len() > room => {
                            refused = Some(m.len());
                            break;
                        }
                        Some(_) => expect.push(model.positions.pop_front().unwrap().unwrap()),
                    }
                }
                let mut got = Vec::new();
                let result = q.try_pop_many(max, room, |i, m| {
                    assert_eq!(i, got.len(), "batch index");
                    got.push(copy_out(m));
                });
                let expect_result = match (expect.len(), refused) {
                    (0, Some(needed)) if max > 0 => Err(PopError::BufferTooSmall { needed }),
                    (0, _) if max > 0 => Err(PopError::Empty),
                    (n, _) => Ok(n),
                };
                assert_eq!(result, expect_result, "try_pop_many({max}, {room})");
                assert_eq!(got, expect, "popped in order");
            }
            Op::Deregister { h } => {
                let index = *h as usize % handles.len();
                if let Handle::Member(_) = handles[index] {
                    // The one handle of that id goes: none is left to claim under it.
                    let Handle::Member(me) = handles.remove(index) else {
                        unreachable!()
                    };
                    let id = me.participant();
                    let anonymous = me.deregister();
                    assert!(anonymous.participants().all(|p| p.id != id));
                    registered.retain(|&(r, _)| r != id);
                }
            }
        }
    }

    // Drain: the queue hands out exactly what the model still holds, in order.
    let q = &handles[0];
    let mut buf = vec![0u8; max_len];
    while let Some(m) = model.front().cloned() {
        assert_eq!(q.try_pop(&mut buf), Ok(m.len()), "drain");
        assert_eq!(&buf[..m.len()], &m[..]);
        model.positions.pop_front();
    }
    assert_eq!(q.try_pop(&mut buf), Err(PopError::Empty), "drained");
    assert_eq!(q.queue().stats(), model.stats);
}

thread_local! {
    static LIVE: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

/// A value that counts its live copies; its box makes AddressSanitizer see a double
/// drop or a leak.
#[derive(Debug, PartialEq)]
struct Tracked(Box<u32>);

impl Tracked {
    fn new(v: u32) -> Self {
        LIVE.with(|l| l.set(l.get() + 1));
        Self(Box::new(v))
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        LIVE.with(|l| l.set(l.get() - 1));
    }
}

fn run_typed<const N: usize>(ops: &[TypedOp]) {
    let live_before = LIVE.with(|l| l.get());
    {
        let q = Queue::<Tracked, N>::new();
        let mut model = VecDeque::new();
        assert_eq!(q.capacity(), N);
        for op in ops {
            match *op {
                TypedOp::Push(v) => match q.push(Tracked::new(v)) {
                    Ok(()) => {
                        assert!(model.len() < N, "push into a full queue");
                        model.push_back(v);
                    }
                    Err(back) => {
                        assert_eq!(model.len(), N, "push refused below capacity");
                        assert_eq!(*back.0, v, "the value comes back");
                    }
                },
                TypedOp::Pop => assert_eq!(q.pop().map(|t| *t.0), model.pop_front()),
                TypedOp::Query => {
                    assert_eq!(q.len(), model.len());
                    assert_eq!(q.is_empty(), model.is_empty());
                    assert_eq!(q.is_full(), model.len() == N);
                }
            }
        }
        assert_eq!(LIVE.with(|l| l.get()) - live_before, model.len() as isize);
    }
    assert_eq!(
        LIVE.with(|l| l.get()),
        live_before,
        "dropping the queue drops what it holds"
    );
}

fuzz_target!(init: install_panic_hook(), |input: Input| {
    for seg in input.segments.iter().take(4) {
        run_segment(seg);
    }
    for run in input.typed.iter().take(4) {
        match run.n {
            TypedN::One => run_typed::<1>(&run.ops),
            TypedN::Three => run_typed::<3>(&run.ops),
            TypedN::Eight => run_typed::<8>(&run.ops),
        }
    }
});
