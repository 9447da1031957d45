//! `concurrent`: exactly-once delivery and FIFO order under interleavings the input
//! chooses, deterministically, including participants that stall forever or die
//! mid-operation and are repaired.
//!
//! **Stalls.** An operation can be suspended at three places, and other participants
//! act meanwhile (the tokens of the scope, up to its `Close`, run there):
//!
//! * right after its claim CAS, before it stores the `tail`/`head` hint (the crash
//!   points `push.claimed` / `pop.claimed`, through ipc-core's `crash-points` hook):
//!   others must help the hint past the claimed slot, and the late store moves the hint
//!   *back* ("why the owner's plain hint store is safe", `LAYOUT.md`);
//! * inside the closure of `try_push_with` / `try_pop_with` (the slot is claimed);
//! * after the payload is written or read, before the publish or release (the crash
//!   points `push.filled` / `pop.read`), for copying pushes and pops too.
//!
//! Scopes nest (at most `MAX_DEPTH` deep). Closures may also panic at the end, abandoning
//! the push or dropping the popped message.
//!
//! **Deaths.** Four participants (processes, registered in the participant table) push
//! and pop. `Die` kills the participant of the innermost open scope: from then on no
//! scope on the stack ever resumes (the dead one's claims stay as they were; the other
//! participants' open claims stay too: stalled forever, like a SIGSTOPped process), and
//! the dead participant issues no more operations. `Repair` repairs every dead
//! participant (`ByteQueue::repair`, whose precondition holds: the dead never act
//! again). At the end of the input the run finishes, checks, and unwinds out of the
//! frozen scopes.
//!
//! **Model.** One thread, so the protocol of `LAYOUT.md` fixes every answer, and a late
//! hint store never changes one (a lagging hint only meets slots that say "help"):
//!
//! * positions are claimed in order: a push claims position `tail` unless position
//!   `tail - capacity` is still WRITING, FULL, READING or ABANDONED (then `Full`; this
//!   includes a stalled consumer's slot, "full one lap later");
//! * a pop passes (and frees) ABANDONED positions at `head`, then claims a FULL one,
//!   or answers `Empty` if `head` is WRITING (a stalled producer holds consumers at its
//!   message) or no position is claimed; a too-small buffer leaves the message there;
//! * `len` is `tail - head` of the model (claimed, tombstones included, not yet claimed
//!   by a consumer), at most the capacity, even while a real hint lags;
//! * a repair turns the dead one's WRITING claims into ABANDONED and hands its READING
//!   claims' messages to `salvage`, then frees them; the loss counters count both.
//!
//! **Checked**, beyond every answer and byte: consumers claim messages exactly in the
//! order producers claimed their positions (a nested pop completes before the pop it is
//! nested in, but claims after it), so per producer, sequence numbers (taken at claim
//! time) arrive in increasing order; every message whose push returned `Ok` is
//! delivered exactly once unless it is stuck behind a claim that never completes;
//! abandoned ones never; a claimed slot's bytes do not change while others act; a
//! salvaged message is exactly the one its dead consumer held.
#![no_main]

use std::cell::{Cell, RefCell};
use std::panic;

use arbitrary::Arbitrary;
use ipc_core::{
    ByteQueue, Config, Contents, ParticipantState, PopError, PushError, QueueStats, Registered,
};
use ipc_core_fuzz::{copy_out, expect_panic, install_panic_hook, provoke_panic, AlignedRegion};
use libfuzzer_sys::fuzz_target;

const PARTICIPANTS: usize = 4;
const MAX_DEPTH: usize = 4;
const MAX_TOKENS: usize = 512;
/// Producer id, sequence number (u32 LE), then up to 11 filler bytes.
const HEADER_LEN: usize = 5;
const MAX_LEN: usize = 16;
const REPAIRER_PID: u32 = 4242;

#[derive(Arbitrary, Debug)]
struct Input {
    /// 1..=8 after reduction.
    capacity: u8,
    tokens: Vec<Tok>,
}

/// Where an operation stalls; each stall opens a scope that runs up to a `Close`.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Stalls {
    /// After the claim CAS, before the hint store.
    at_claim: bool,
    /// Inside the zero-copy closure (ignored for copying operations).
    in_closure: bool,
    /// After the payload is written / read, before the publish / release.
    before_publish: bool,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Tok {
    /// `try_push_with` by participant `who`.
    Push {
        who: u8,
        extra: u8,
        stalls: Stalls,
        panic: bool,
    },
    /// `try_pop_with` by `who`.
    Pop {
        who: u8,
        stalls: Stalls,
        panic: bool,
    },
    /// `try_push` by `who`.
    CopyPush {
        who: u8,
        extra: u8,
        stalls: Stalls,
    },
    /// `try_pop` by `who` into a buffer of `buf_len % 17` bytes.
    CopyPop {
        who: u8,
        buf_len: u8,
        stalls: Stalls,
    },
    /// The participant of the innermost open scope dies there.
    Die,
    /// Repairs every dead participant not yet repaired.
    Repair,
    Query,
    Close,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Msg {
    producer: u8,
    seq: u32,
    bytes: Vec<u8>,
}

impl Msg {
    fn new(producer: u8, seq: u32, extra: u8) -> Self {
        let mut bytes = vec![producer];
        bytes.extend_from_slice(&seq.to_le_bytes());
        let extra = extra as usize % (MAX_LEN - HEADER_LEN + 1);
        bytes.extend((0..extra).map(|i| producer ^ seq as u8 ^ (i as u8).wrapping_mul(37)));
        Self {
            producer,
            seq,
            bytes,
        }
    }
}

/// A position's state. Claims record their participant.
#[derive(Clone, Debug)]
enum Pos {
    Writing(Msg, usize),
    Full(Msg),
    Reading(Msg, usize),
    /// An abandoned push: a tombstone that holds its slot until a consumer passes.
    Abandoned,
    Released,
}

/// The record of a push that claimed a position.
struct Claim {
    msg: Msg,
    /// `Some(true)`: published; `Some(false)`: abandoned; `None`: still open.
    published: Option<bool>,
    /// A consumer claimed it.
    popped: bool,
}

/// An open scope: an operation stalled while others act.
struct Frame {
    who: usize,
    /// No longer resumes: a participant died in it or in a scope within it.
    frozen: bool,
}

/// A queue operation in progress, innermost last: the crash-point hook acts for it.
struct Op {
    who: usize,
    /// `Some(extra)` for a push.
    push: Option<u8>,
    stalls: Stalls,
    /// The position its claim took (set by the hook at the claim).
    claimed: Option<usize>,
}

/// Unwinds out of the frozen scopes once the run is over and checked.
struct RunOver;

/// The model and the bookkeeping; borrowed only between queue calls.
#[derive(Default)]
struct State {
    cursor: usize,
    /// Every absolute position claimed so far, and the model's hints.
    positions: Vec<Pos>,
    head: usize,
    tail: usize,
    next_seq: [u32; PARTICIPANTS],
    stats: QueueStats,
    /// Pushes in the order they claimed their positions (index = position).
    claims: Vec<Claim>,
    /// Messages in the order consumers claimed them.
    claimed_pops: Vec<Msg>,
    frames: Vec<Frame>,
    ops: Vec<Op>,
    dead: [bool; PARTICIPANTS],
    repaired: [bool; PARTICIPANTS],
}

struct Sim<'q> {
    anonymous: ByteQueue<'q>,
    handles: [Registered<'q>; PARTICIPANTS],
    capacity: usize,
    tokens: Vec<Tok>,
    st: RefCell<State>,
}

thread_local! {
    /// The running `Sim`, for the crash-point hook (null when none runs).
    static RUNNING: Cell<*const ()> = const { Cell::new(std::ptr::null()) };
}

/// ipc-core's crash-point hook: stalls the operation in progress where it asked to.
fn crash_point(point: &'static str) {
    let sim = RUNNING.get();
    if !sim.is_null() {
        // SAFETY: `RUNNING` holds a `Sim` that `fuzz_target` keeps alive, and does not
        // move, while it is set; only shared references to it are made.
        unsafe { &*sim.cast::<Sim<'_>>() }.at_point(point);
    }
}

impl State {
    fn push_expect(&self, capacity: usize) -> Result<(), PushError> {
        if self.tail >= capacity {
            match self.positions[self.tail - capacity] {
                Pos::Writing(..) | Pos::Full(_) | Pos::Reading(..) | Pos::Abandoned => {
                    return Err(PushError::Full)
                }
                Pos::Released => {}
            }
        }
        Ok(())
    }

    /// Passes (and frees) abandoned positions at the head, as a consumer does, then
    /// says what a pop finds there.
    fn pop_expect(&mut self) -> Option<Msg> {
        while self.head < self.tail && matches!(self.positions[self.head], Pos::Abandoned) {
            self.positions[self.head] = Pos::Released;
            self.head += 1;
        }
        if self.head == self.tail {
            return None;
        }
        match &self.positions[self.head] {
            Pos::Full(m) => Some(m.clone()),
            Pos::Writing(..) => None,
            Pos::Reading(..) | Pos::Abandoned | Pos::Released => {
                unreachable!("head is past claimed positions")
            }
        }
    }

    /// Claims the next position for a new message of `who`; returns the position.
    fn claim_push(&mut self, who: usize, extra: u8) -> usize {
        let msg = Msg::new(who as u8, self.next_seq[who], extra);
        self.next_seq[who] += 1;
        let pos = self.tail;
        assert_eq!(self.positions.len(), pos);
        self.positions.push(Pos::Writing(msg.clone(), who));
        self.tail += 1;
        self.claims.push(Claim {
            msg,
            published: None,
            popped: false,
        });
        pos
    }

    /// Claims the message at the head for `who`; returns the position.
    fn claim_pop(&mut self, who: usize) -> usize {
        let pos = self.head;
        let Pos::Full(m) = self.positions[pos].clone() else {
            panic!("a pop claimed position {pos}, which holds no message");
        };
        self.positions[pos] = Pos::Reading(m.clone(), who);
        self.head += 1;
        self.claims[pos].popped = true;
        self.claimed_pops.push(m);
        pos
    }

    /// Ends the open push at `pos`: published, or abandoned (a tombstone).
    fn end_push(&mut self, pos: usize, published: bool) {
        let Pos::Writing(msg, _) = std::mem::replace(&mut self.positions[pos], Pos::Abandoned)
        else {
            unreachable!("position {pos} was not being written");
        };
        if published {
            self.positions[pos] = Pos::Full(msg);
        }
        self.claims[pos].published = Some(published);
    }

    fn frozen(&self) -> bool {
        self.frames.iter().any(|f| f.frozen)
    }
}

impl Sim<'_> {
    /// Runs tokens until the scope's `Close` (or the end).
    fn run(&self) {
        loop {
            let (tok, open, close) = {
                let mut st = self.st.borrow_mut();
                if st.cursor >= self.tokens.len().min(MAX_TOKENS) {
                    return;
                }
                st.cursor += 1;
                // A frozen scope never closes: its operation cannot resume.
                let close = st.frames.last().is_some_and(|f| !f.frozen);
                (
                    self.tokens[st.cursor - 1],
                    st.frames.len() < MAX_DEPTH,
                    close,
                )
            };
            // Deeper than MAX_DEPTH, stalls are ignored (the scope's tokens run here).
            let limit = |s: Stalls| Stalls {
                at_claim: s.at_claim && open,
                in_closure: s.in_closure && open,
                before_publish: s.before_publish && open,
            };
            let who = |w: u8| w as usize % PARTICIPANTS;
            match tok {
                Tok::Close if close => return,
                Tok::Close => {}
                Tok::Push {
                    who: w,
                    extra,
                    stalls,
                    panic,
                } => self.push_with(who(w), extra, limit(stalls), panic),
                Tok::Pop {
                    who: w,
                    stalls,
                    panic,
                } => self.pop_with(who(w), limit(stalls), panic),
                Tok::CopyPush {
                    who: w,
                    extra,
                    stalls,
                } => self.copy_push(who(w), extra, limit(stalls)),
                Tok::CopyPop {
                    who: w,
                    buf_len,
                    stalls,
                } => self.copy_pop(who(w), buf_len, limit(stalls)),
                Tok::Die => {
                    let mut st = self.st.borrow_mut();
                    if let Some(who) = st.frames.last().map(|f| f.who) {
                        st.dead[who] = true;
                        for frame in &mut st.frames {
                            frame.frozen = true;
                        }
                    }
                }
                Tok::Repair => self.repair(),
                Tok::Query => self.query(),
            }
        }
    }

    /// Runs a scope in which `who` is stalled. If the scope froze (a participant died
    /// in it), the stalled operation must never resume: finish the run and unwind.
    fn stall(&self, who: usize) {
        self.st
            .borrow_mut()
            .frames
            .push(Frame { who, frozen: false });
        self.run();
        if self.st.borrow().frames.last().unwrap().frozen {
            self.finish();
            panic::resume_unwind(Box::new(RunOver));
        }
        self.st.borrow_mut().frames.pop();
    }

    /// The crash-point hook: takes the model's claim for the operation in progress at
    /// its claim CAS, and stalls it where it asked to.
    fn at_point(&self, point: &'static str) {
        if !matches!(
            point,
            "push.claimed" | "pop.claimed" | "push.filled" | "pop.read"
        ) {
            return; // a repair's points: repairs run whole here
        }
        let stall = {
            let mut st = self.st.borrow_mut();
            let Some(op) = st.ops.last() else {
                panic!("crash point {point} outside any operation");
            };
            let (who, push, stalls) = (op.who, op.push, op.stalls);
            match point {
                "push.claimed" => {
                    let extra = push.expect("push.claimed in a pop");
                    let pos = st.claim_push(who, extra);
                    st.ops.last_mut().unwrap().claimed = Some(pos);
                    stalls.at_claim
                }
                "pop.claimed" => {
                    assert!(push.is_none(), "pop.claimed in a push");
                    let pos = st.claim_pop(who);
                    st.ops.last_mut().unwrap().claimed = Some(pos);
                    stalls.at_claim
                }
                _ => stalls.before_publish,
            }
        };
        if stall {
            let who = self.st.borrow().ops.last().unwrap().who;
            self.stall(who);
        }
    }

    /// Runs one queue operation of `who`, with its entry on the operation stack for the
    /// hook; returns the call's result and the position it claimed.
    fn call<R>(
        &self,
        who: usize,
        push: Option<u8>,
        stalls: Stalls,
        f: impl FnOnce() -> R,
    ) -> (Option<R>, Option<usize>) {
        self.st.borrow_mut().ops.push(Op {
            who,
            push,
            stalls,
            claimed: None,
        });
        let result = expect_panic(f);
        let op = self.st.borrow_mut().ops.pop().unwrap();
        (result, op.claimed)
    }

    /// The message the innermost operation claimed (inside its closure).
    fn claimed_msg(&self) -> (usize, Msg) {
        let st = self.st.borrow();
        let pos = st
            .ops
            .last()
            .unwrap()
            .claimed
            .expect("claimed at the claim CAS");
        (pos, st.claims[pos].msg.clone())
    }

    fn push_with(&self, who: usize, extra: u8, stalls: Stalls, panic: bool) {
        if self.st.borrow().dead[who] {
            return;
        }
        let expect = self.st.borrow().push_expect(self.capacity);
        let len = Msg::new(0, 0, extra).bytes.len();
        let q = &self.handles[who];
        let (result, claimed) = self.call(who, Some(extra), stalls, || {
            q.try_push_with(len, |slot| {
                let (_, msg) = self.claimed_msg();
                assert_eq!(slot.write(&msg.bytes), msg.bytes.len());
                if stalls.in_closure {
                    // Others act meanwhile; the pop of this message checks its bytes.
                    self.stall(who);
                }
                if panic {
                    provoke_panic();
                }
            })
        });
        let mut st = self.st.borrow_mut();
        match (result, claimed) {
            (Some(result), None) => {
                assert_eq!(result, expect, "try_push_with");
                assert!(expect.is_err(), "an Ok push claimed nothing");
            }
            (Some(result), Some(pos)) => {
                assert_eq!(result, Ok(()));
                assert_eq!(
                    expect,
                    Ok(()),
                    "try_push_with claimed where the model is full"
                );
                st.end_push(pos, true);
            }
            (None, Some(pos)) => {
                assert!(panic);
                st.stats.lost_in_push += 1;
                st.end_push(pos, false);
            }
            (None, None) => unreachable!("panicked without a claim"),
        }
    }

    fn copy_push(&self, who: usize, extra: u8, stalls: Stalls) {
        if self.st.borrow().dead[who] {
            return;
        }
        let (expect, msg) = {
            let st = self.st.borrow();
            let msg = Msg::new(who as u8, st.next_seq[who], extra);
            (st.push_expect(self.capacity), msg)
        };
        let q = &self.handles[who];
        let (result, claimed) = self.call(who, Some(extra), stalls, || q.try_push(&msg.bytes));
        let result = result.expect("try_push cannot panic");
        assert_eq!(result, expect, "try_push");
        assert_eq!(claimed.is_some(), result.is_ok());
        if let Some(pos) = claimed {
            let mut st = self.st.borrow_mut();
            assert_eq!(st.claims[pos].msg, msg);
            st.end_push(pos, true);
        }
    }

    fn pop_with(&self, who: usize, stalls: Stalls, panic: bool) {
        if self.st.borrow().dead[who] {
            return;
        }
        let expect = self.st.borrow_mut().pop_expect();
        let q = &self.handles[who];
        let (result, claimed) = self.call(who, None, stalls, || {
            q.try_pop_with(|m| {
                let (pos, msg) = self.claimed_msg();
                let bytes = copy_out(m);
                assert_eq!(bytes, msg.bytes, "bytes of the message at position {pos}");
                if stalls.in_closure {
                    self.stall(who);
                    assert_eq!(copy_out(m), bytes, "a message changed while being read");
                }
                if panic {
                    provoke_panic();
                }
                m.len()
            })
        });
        let mut st = self.st.borrow_mut();
        match (result, claimed) {
            (Some(result), None) => {
                assert_eq!(
                    expect, None,
                    "try_pop_with found nothing where the model has a message"
                );
                assert_eq!(result, Err(PopError::Empty));
            }
            (Some(result), Some(pos)) => {
                let m = expect.expect("try_pop_with claimed where the model is empty");
                assert_eq!(result, Ok(m.bytes.len()));
                st.positions[pos] = Pos::Released;
            }
            (None, Some(pos)) => {
                assert!(panic && expect.is_some());
                st.stats.lost_in_pop += 1;
                st.positions[pos] = Pos::Released;
            }
            (None, None) => unreachable!("panicked without a claim"),
        }
    }

    fn copy_pop(&self, who: usize, buf_len: u8, stalls: Stalls) {
        if self.st.borrow().dead[who] {
            return;
        }
        let mut buf = vec![0u8; buf_len as usize % (MAX_LEN + 1)];
        let expect = match self.st.borrow_mut().pop_expect() {
            None => Err(PopError::Empty),
            Some(m) if m.bytes.len() > buf.len() => Err(PopError::BufferTooSmall {
                needed: m.bytes.len(),
            }),
            Some(m) => Ok(m.bytes.len()),
        };
        let q = &self.handles[who];
        let (result, claimed) = self.call(who, None, stalls, || q.try_pop(&mut buf));
        let result = result.expect("try_pop cannot panic");
        assert_eq!(result, expect, "try_pop");
        assert_eq!(claimed.is_some(), result.is_ok());
        if let (Ok(n), Some(pos)) = (result, claimed) {
            let mut st = self.st.borrow_mut();
            assert_eq!(&buf[..n], &st.claims[pos].msg.bytes[..], "popped bytes");
            st.positions[pos] = Pos::Released;
        }
    }

    fn repair(&self) {
        let listed: Vec<_> = self.anonymous.participants().collect();
        for who in 0..PARTICIPANTS {
            let entry = listed.iter().find(|p| p.id.get() as usize == who + 1);
            let todo = {
                let st = self.st.borrow();
                st.dead[who] && !st.repaired[who]
            };
            let Some(entry) = entry.filter(|_| todo) else {
                continue;
            };
            assert_eq!(entry.state, ParticipantState::Alive);
            // The model: the dead one's WRITING claims become tombstones, its READING
            // claims are salvaged and freed.
            let mut lost_pushes = 0;
            let mut expect_salvaged = Vec::new();
            {
                let mut st = self.st.borrow_mut();
                for pos in 0..st.positions.len() {
                    match &st.positions[pos] {
                        Pos::Writing(_, w) if *w == who => {
                            st.positions[pos] = Pos::Abandoned;
                            st.claims[pos].published = Some(false);
                            lost_pushes += 1;
                        }
                        Pos::Reading(m, w) if *w == who => {
                            expect_salvaged.push(m.bytes.clone());
                            st.positions[pos] = Pos::Released;
                        }
                        _ => {}
                    }
                }
            }
            let mut salvaged = Vec::new();
            // SAFETY: `who` is dead: none of its scopes ever resumes and it issues no
            // more operations (this simulation's stand-in for a reaped process).
            let repaired = unsafe {
                self.anonymous
                    .repair(entry, REPAIRER_PID, |m| salvaged.push(copy_out(m)))
            }
            .expect("the snapshot is current");
            assert_eq!(repaired.lost_in_push, lost_pushes, "repaired pushes");
            assert_eq!(
                repaired.lost_in_pop,
                expect_salvaged.len() as u64,
                "repaired pops"
            );
            salvaged.sort();
            expect_salvaged.sort();
            assert_eq!(salvaged, expect_salvaged, "salvaged messages");
            let mut st = self.st.borrow_mut();
            st.stats.lost_in_push += lost_pushes;
            st.stats.lost_in_pop += repaired.lost_in_pop;
            st.repaired[who] = true;
        }
        self.check_participants();
    }

    fn check_participants(&self) {
        let mut listed: Vec<(u16, u32)> = self
            .anonymous
            .participants()
            .inspect(|p| assert_eq!(p.state, ParticipantState::Alive))
            .map(|p| (p.id.get(), p.pid))
            .collect();
        listed.sort_unstable();
        let st = self.st.borrow();
        let expect: Vec<(u16, u32)> = (0..PARTICIPANTS)
            .filter(|&w| !st.repaired[w])
            .map(|w| (w as u16 + 1, 100 + w as u32))
            .collect();
        assert_eq!(listed, expect, "participant table");
    }

    fn query(&self) {
        let st = self.st.borrow();
        let len = (st.tail - st.head).min(self.capacity);
        let q = self.anonymous;
        assert_eq!(q.len(), len, "len");
        assert_eq!(q.is_empty(), len == 0);
        assert_eq!(q.is_full(), len == self.capacity);
        assert_eq!(q.stats(), st.stats);
    }

    /// Pops everything that can be popped and checks delivery.
    fn finish(&self) {
        let mut buf = [0u8; MAX_LEN];
        loop {
            let expect = self.st.borrow_mut().pop_expect();
            let q = self.anonymous;
            let no_stall = Stalls {
                at_claim: false,
                in_closure: false,
                before_publish: false,
            };
            // Participant 0's bookkeeping; the anonymous handle pops.
            let (result, claimed) = self.call(0, None, no_stall, || q.try_pop(&mut buf));
            match result.expect("try_pop cannot panic") {
                Ok(n) => {
                    assert!(expect.is_some(), "drain popped past the model");
                    let mut st = self.st.borrow_mut();
                    let pos = claimed.expect("claimed");
                    assert_eq!(&buf[..n], &st.claims[pos].msg.bytes[..], "drained bytes");
                    st.positions[pos] = Pos::Released;
                }
                Err(e) => {
                    assert_eq!(e, PopError::Empty);
                    assert_eq!(expect, None, "drain stopped early");
                    break;
                }
            }
        }
        self.query();
        self.check_participants();

        let st = self.st.borrow();
        // Consumers claimed messages in the producers' claim order: exactly the popped
        // positions, in position order.
        let popped: Vec<&Msg> = st
            .claims
            .iter()
            .filter(|c| c.popped)
            .map(|c| &c.msg)
            .collect();
        let delivered: Vec<&Msg> = st.claimed_pops.iter().collect();
        assert_eq!(delivered, popped, "delivery differs from claim order");
        // Only what was published is delivered; what was published and not delivered is
        // stuck behind a claim that never completes.
        let blocker = st
            .positions
            .iter()
            .position(|p| matches!(p, Pos::Writing(..)))
            .unwrap_or(usize::MAX);
        for (pos, c) in st.claims.iter().enumerate() {
            if c.popped {
                assert_eq!(c.published, Some(true), "delivered an unpublished message");
            } else if c.published == Some(true) {
                assert!(
                    pos > blocker,
                    "message at {pos} neither delivered nor blocked"
                );
            }
        }
        if !st.frozen() {
            assert!(st.claims.iter().all(|c| c.published.is_some()));
            assert_eq!(st.head, st.tail);
        }
        // Per producer: increasing sequence numbers.
        for p in 0..PARTICIPANTS as u8 {
            let seqs: Vec<u32> = st
                .claimed_pops
                .iter()
                .filter(|m| m.producer == p)
                .map(|m| m.seq)
                .collect();
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "producer {p}: {seqs:?}"
            );
        }
    }
}

fn init() {
    install_panic_hook();
    ipc_core::crash::set_hook(Some(crash_point));
}

fuzz_target!(init: init(), |input: Input| {
    let capacity = input.capacity as usize % 8 + 1;
    let config = Config::new(capacity, MAX_LEN).participants(PARTICIPANTS);
    let size = ByteQueue::memory_size(config).expect("small layout");
    let region = AlignedRegion::new(0, size);
    // SAFETY: `region` is valid for `size` bytes, outlives the queue (dropped at the end
    // of this closure, after `sim`) and is used through `ByteQueue`s only.
    let anonymous = unsafe { ByteQueue::init_raw(region.ptr(), region.len(), config, Contents::Any) }
        .expect("init of a valid layout");
    let handles = std::array::from_fn(|w| {
        anonymous
            .register(100 + w as u32, w as u64)
            .expect("a free entry")
    });
    let sim = Sim {
        anonymous,
        handles,
        capacity,
        tokens: input.tokens,
        st: RefCell::default(),
    };
    RUNNING.set((&sim as *const Sim<'_>).cast());
    let over = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        sim.run();
        sim.finish();
    }));
    RUNNING.set(std::ptr::null());
    if let Err(payload) = over {
        if !payload.is::<RunOver>() {
            panic::resume_unwind(payload);
        }
    }
});
