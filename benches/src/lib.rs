//! Shared code of the `benches` crate: the forked peers, the thread rig, shared memory, the
//! latency loop and the memory figures.
//!
//! The criterion benches in `benches/` and the report (`src/bin/report/`, the command that
//! writes `BENCHMARKS.md`) both use these, so a figure in a criterion group and the same figure
//! in the report come from one piece of code:
//!
//! - [`roundtrip`]: one 64-byte message to a forked echo process and back, over each transport
//!   (the spin and futex ping-pong floors, pipe, Unix socket, POSIX message queue, ipc-core's
//!   `ByteQueue` in shared memory spinning or blocking, host-runtime's `RawQueue`, iceoryx2).
//! - [`stream`]: a forked producer sending batches of 64-byte messages to the parent.
//! - [`sustained`]: forked producers streaming free-running to the parent (64 B, 1 KiB, two
//!   producers, a small struct) over every peer, and [`spsc`], the SPSC ring floor of them.
//! - [`threads`]: a rig of persistent producer and consumer threads over any in-process queue.
//! - [`latency`]: per-round-trip samples and their percentiles (median, p99).
//! - [`interleaved`]: round trips with the peers interleaved round by round, and per-round
//!   ratios (the same-run ratios of the round-trip targets; `src/bin/rtt.rs` and the report).
//! - [`memory`]: bytes of shared memory per queue and the peak RSS of a consumer.
//! - [`ids`]: the criterion ids the benches write and the report reads, named once.
//! - [`child`], [`shm`], [`gate`], [`msg`], [`blocking`]: the pieces these are
//!   built from.
//!
//! Every wait here uses host-runtime's [`wait`](mod@host_runtime::wait) module, as host-runtime's
//! own queues do: a spinning peer a [`Backoff`](host_runtime::wait::Backoff) with
//! [`Policy::SPIN_THEN_YIELD`](host_runtime::wait::Policy::SPIN_THEN_YIELD) (spin, then yield),
//! a blocking one [`blocking`]'s loop, so no peer is favoured by a better waiting policy.
// Unsafe code only where a peer needs a system call host-runtime does not wrap (each such
// module opts in and says which); shared memory goes through host-runtime's mappings.
#![deny(unsafe_code, unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

pub mod blocking;
pub mod child;
pub mod gate;
pub mod host_queue;
#[cfg(feature = "iceoryx2")]
pub mod iceoryx;
pub mod ids;
pub mod interleaved;
pub mod latency;
pub mod memory;
pub mod msg;
pub mod roundtrip;
pub mod shm;
pub mod spin_word;
pub mod spsc;
pub mod stream;
pub mod sustained;
pub mod threads;
