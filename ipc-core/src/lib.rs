//! Lock-free, fixed-capacity queues over memory the caller provides.
//!
//! * [`ByteQueue`]: byte messages in a caller-given region, laid out with offsets only
//!   (`#[repr(C)]`), so one queue can live in memory shared by several processes.
//!   Two-phase set-up: [`ByteQueue::memory_size`], [`ByteQueue::init`],
//!   [`ByteQueue::attach`]. Payloads are copied in and out with atomic word accesses
//!   ([`SlotReader`], [`SlotWriter`]), so a process that scribbles on the region can
//!   garble messages or make calls fail with a typed error, and nothing else.
//! * [`Queue`]: typed values in a `const`-constructible queue for threads and
//!   interrupt handlers, e.g. in a `static` on a bare-metal board.
//! * [`WaitWord`]: 32-bit words a host can sleep on (futex) to block on a queue.
//! * [`LockWord`]: a lock that records its holder, plain or recursive, which a host can sleep
//!   on (futex) and take over from a holder it knows is dead (the model of POSIX robust
//!   mutexes' `EOWNERDEAD`); in a `static`, it spins ([`LockWord::lock_spin`]).
//! * [`EventWord`]: Python's `Event` in one word a host sleeps on.
//! * [`SemaphoreWord`]: a counting semaphore's permits and sleepers (a host records who holds
//!   them and gives a dead holder's back).
//! * [`BarrierWord`]: a barrier's generation and count, which a host sleeps on and breaks
//!   (e.g. when a party dies).
//! * [`pool`]: the worker and task tables of a process pool, every transition one CAS
//!   (on targets with 64-bit atomics).
//!
//! The crate is `#![no_std]`, allocates nothing and never calls the OS. Both queues
//! share one ring protocol, described with the memory layout in `LAYOUT.md`: a claim
//! is one compare-and-swap on a slot word that also records the claimer, so a
//! half-finished operation always names its owner.
//!
//! # Targets without 64-bit atomics
//!
//! On targets without 64-bit atomics (thumbv7em, riscv32imac) stamps and slot words
//! are 32 bits wide; see [`Word`]. Crash repair (`ByteQueue::register`, `repair`, the
//! participant handles) and the [`pool`] tables need 64-bit words: they are left out there,
//! and links to them in these docs lead here.
//!
#![cfg_attr(not(word64), doc = "[`pool`]: crate#targets-without-64-bit-atomics")]
#![no_std]
// Unsafe code lives in a few modules, each opting in with its reason: `byte_queue` and
// `payload` (a region laid over raw memory), `ring` (its slot-word accessor), `queue`
// (values in `UnsafeCell` slots) and `crash` (a function pointer in an atomic).
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

/// A Markdown link reference definition, for docs that link to an item that exists only with
/// 64-bit words (`cfg(word64)`): `[label]: path` there, and a link to the crate docs' section
/// on the other targets elsewhere, so that the docs build without broken links everywhere.
#[cfg(word64)]
macro_rules! word64_link {
    ($label:literal => $path:literal) => {
        concat!("[", $label, "]: ", $path)
    };
}
#[cfg(not(word64))]
macro_rules! word64_link {
    ($label:literal => $path:literal) => {
        concat!("[", $label, "]: crate#targets-without-64-bit-atomics")
    };
}

mod barrier;
#[cfg(not(loom))]
mod byte_queue;
pub mod crash;
mod error;
mod event;
mod lock;
mod pad;
#[cfg(not(loom))]
mod participant;
#[cfg(not(loom))]
mod payload;
#[cfg(word64)]
pub mod pool;
mod queue;
mod region;
mod ring;
mod semaphore;
mod sync;
mod wait;
mod word;

pub use barrier::{Arrival, BarrierBroken, BarrierWord, Poll, MAX_BARRIER_PARTIES};
#[cfg(not(loom))]
pub use byte_queue::{ByteQueue, Config, Contents, QueueStats};
#[cfg(all(not(loom), word64))]
pub use byte_queue::{Registered, RepairHooks, Repaired};
pub use error::{
    AttachError, InitError, LayoutError, PopError, PushError, RegisterError, RepairError,
};
pub use event::{EventWait, EventWord};
pub use lock::{
    Acquired, Holder, LockOwner, LockWord, TakeOverError, TryLockError, UnlockError, Unlocked,
    MAX_LOCK_RETRIES,
};
pub use pad::CachePadded;
#[cfg(not(loom))]
pub use participant::{Participant, ParticipantId, ParticipantState};
#[cfg(not(loom))]
pub use payload::{try_bulk_copy, SlotReader, SlotWriter};
pub use queue::Queue;
pub use region::{Region, REGION_ALIGN};
pub use semaphore::{SemaphoreWord, TooManyReleases};
pub use wait::WaitWord;
pub use word::{Word, MAX_CAPACITY, MAX_MESSAGE_LEN, MAX_PARTICIPANTS};

/// The README's examples, run as doctests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
