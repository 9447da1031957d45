//! Low-level: how every blocking call of this crate waits, public for hosts and benchmarks
//! that wait on ipc-core queues themselves (the benches' peers use it, so that no peer is
//! favoured by a better waiting policy). Most code wants the blocking calls of
//! [`queue`](crate::queue) and [`pool`](crate::pool) instead.
//!
//! - [`Backoff`], driven by a named [`Policy`]: spin, then yield the CPU, then tell the caller
//!   to sleep. Each kind of waiter has its own parameter set (see [`Policy`]'s constants),
//!   one mechanism for all.
//! - [`wait_on`] and [`notify`]: the queues' blocking loop on an ipc-core [`WaitWord`]
//!   (`Backoff` with [`Policy::QUEUE`], then futex sleeps), and its waker.
//! - The wake-latency rule: a thread that woke a sleeper keeps spinning for
//!   [`WAKE_LATENCY`] in its next wait, so that one sleep does not make the peer sleep too.
//!
//! The system calls themselves (futex) are in [`sys::futex`](crate::sys::futex).
//!
//! [`WaitWord`]: ipc_core::WaitWord

mod backoff;
mod deadline;
mod ready;
mod word;

pub use backoff::{woke_sleeper, Backoff, Policy, Spin, WAKE_LATENCY};
pub(crate) use deadline::Deadline;
pub use ready::{wait, Waitable, FALLBACK_SLICE};
pub(crate) use word::{block_on, block_on_marked, notify_all, wake_one, Stall, Wait};
pub use word::{notify, wait_on};
