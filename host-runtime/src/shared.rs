//! Low-level: the shared-memory layer, between the OS layer ([`sys`](crate::sys)) below and
//! [`Process`](crate::Process), [`Queue`](crate::Queue) and [`Pool`](crate::pool::Pool) above.
//! Public for hosts, tests and benchmarks that lay their own structures over shared memory;
//! most code wants [`SharedRegion`](crate::SharedRegion) or the queues instead.
//!
//! - [`region`]: a shared mapping cut into disjoint, typed views that safe code can use
//!   (`ipc_core::ByteQueue`s and atomically accessed bytes). This is where the memory-safety
//!   argument for memory shared between processes is made, in one place.
//! - `member` (private to the crate): this process's registration in a shared queue's
//!   participant table, and the repair of the claims of dead participants, where the argument
//!   that a repair never races a live process is made.
//! - `copy` (private to the crate): a region's bytes copied into private, aligned memory, which
//!   `crate::inspect` reads through ipc-core's checked views without touching the region.
//!
//! The layer knows ipc-core's queue and what the OS layer offers (mappings, the fork
//! generation); the OS layer knows neither it nor any queue. Like `sys`, each module here
//! that needs `unsafe` opts in, and says why.

#[cfg(target_has_atomic = "64")]
pub(crate) mod copy;
pub(crate) mod member;
pub mod region;
