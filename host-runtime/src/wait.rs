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
//! - [`wait()`](wait()) (also at the crate root): which of several sources ([`Waitable`]: queues,
//!   channel receivers, pipe connections, processes) are ready, in one sleep — Python's
//!   `multiprocessing.connection.wait`.
//!
//! The system calls themselves (futex) are in [`sys::futex`](crate::sys::futex).
//!
//! # Waiting on several sources: `wait()`
//!
//! ## How it sleeps
//!
//! Every source names the futex word(s) its wakers move, with the value seen before its
//! readiness check ([`Waitable`]'s crate-private side: *arm*, *disarm*). When none is ready,
//! the calling thread sleeps once on all the words together with `futex_waitv(2)` (Linux ≥
//! 5.16): the first waker of any source ends the sleep, and a word that moved between the
//! check and the sleep makes the kernel refuse to sleep (`EAGAIN`), so no wake-up is lost. Then
//! every source is checked again. No polling loop: a blocked `wait` costs no CPU until an event
//! (besides a check every 200 ms for dead queue participants and channel senders, as every
//! blocked get or receive does).
//!
//! - **Queues** ([`Queue`], [`RawQueue`]): the ring's `not_empty` word, registered exactly as a
//!   blocked get registers (counted in the queue's wait ledger, and with the head slot marked,
//!   so that puts, which wake without a fence, see the sleeper). Ready: a message is at the
//!   front, or one is being put there right now (a get then waits for that put to finish, as a
//!   read of a pipe that holds part of a message does). Before sleeping, `wait` spins briefly
//!   on the queues' length as a blocked get does ([`Policy::QUEUE`]).
//! - **Channel receivers and pipe ends** ([`Receiver`], [`ByteReceiver`], [`Connection`]):
//!   ready when a receive would not block: a message is there (or being sent there), or every
//!   sender is gone (`Disconnected`; for a pipe, end-of-file), messages sent before still
//!   coming first. Two words: the ring's `not_empty`, registered and marked as a blocked
//!   receive does (every send and every last-sender drop moves it), and the channel's ledger
//!   doorbell (every count dropping to zero and every repair moves it). A sender killed by a
//!   signal moves nothing: `wait` finds it by the check every 200 ms that a blocked receive
//!   makes too, so a killed last sender ends the wait within about 200 ms. A closed
//!   [`Connection`] is always ready (a receive fails at once with `Closed`); a write-only one
//!   never is (it has nothing to receive from: in Python its descriptor never becomes
//!   readable). On a rendezvous channel (`channel(0)`), a receiver inside `wait` is not
//!   a receiver blocked in a receive: a sender's `try_send` still fails; its `send` puts the
//!   message and so ends the wait.
//! - **Processes** ([`Process`], [`JoinHandle`]): ready once the child has exited (it is
//!   reaped then, as by [`Process::is_alive`]). No word in memory changes when a process
//!   exits, so this process keeps one: a process-private event word that moves whenever it
//!   learns of a child's exit — every reap does, including the waiter threads of the no-pidfd
//!   strategy, which reap at once. Children with a pidfd are reaped only when asked, so while
//!   a `wait` sleeps with such children among its sources, a helper thread (started for that
//!   `wait`, stopped before it returns) sleeps in `ppoll(2)` on their pidfds and moves the word
//!   when one becomes readable. Latency: the helper's wake-up and then the waiter's, some tens
//!   of microseconds; the helper costs a thread start (and a pipe to stop it) per `wait` that
//!   has to sleep on a live child. When the only pending sources are children with pidfds,
//!   no helper is needed: the calling thread sleeps in `ppoll` on the pidfds itself. If the helper can't be started (out of threads or
//!   descriptors) or its `ppoll` fails, the children are looked at every [`FALLBACK_SLICE`]
//!   instead.
//!
//! **Without `futex_waitv`** (kernel < 5.16, `ENOSYS`, or a seccomp filter; remembered for the
//! process), or with more than 128 distinct words, `wait` sleeps on the first source's word
//! with `futex_wait` for at most [`FALLBACK_SLICE`] (1 ms) at a time and then checks all
//! sources: the first source wakes it at once, the others within a slice. That is a bounded
//! poll (about a thousand cheap wake-ups per second while blocked), documented as the price of
//! an old kernel.
//!
//! **Hostile memory.** A queue's words live in shared memory that other processes may write.
//! As in a blocked get, a word that keeps moving can only make `wait` look again: after 16
//! sleeps in a row that the kernel refused because a word had moved, it sleeps a short busy
//! sleep (20 µs doubling to 10 ms) instead, and every sleep ends at the deadline.
//!
//! ## Adding a source
//!
//! A type becomes a source by implementing the sealed trait's two hooks (crate-private, so
//! only this crate can): `arm` registers the caller as a sleeper on the type's futex word(s)
//! (e.g. `WaitWord::prepare_wait`), checks readiness *after* registering, and either answers
//! `Armed::Ready` or hands the word and the value seen to `Arming::sleep_on` (and, if its
//! wakers may have missed the registration, asks for a short sleep (`Arming::sleep_briefly`));
//! `disarm` undoes the registration (`finish_wait`). Wakers change the state first, then move
//! the word and `futex_wake` it (shared operation; [`FutexWait::private`](crate::sys::futex::FutexWait::private) exists for words
//! whose wakers use the private one). A source may give several words (a channel gives two):
//! `Arming::sleep_on` once per word; all the sources' words go into the one `futex_waitv`.
//! Optional: `hint`, a cheap look for the spin before the first sleep, and `stalled`, run
//! every 200 ms of sleep, where a source whose wakers may die without waking (a channel's
//! senders) looks for the dead.
//!
//! [`Queue`]: crate::Queue
//! [`RawQueue`]: crate::RawQueue
//! [`Process`]: crate::Process
//! [`Process::is_alive`]: crate::Process::is_alive
//! [`JoinHandle`]: crate::process::JoinHandle
//! [`Receiver`]: crate::channel::Receiver
//! [`ByteReceiver`]: crate::channel::ByteReceiver
//! [`Connection`]: crate::pipe::Connection
//!
//! [`WaitWord`]: ipc_core::WaitWord

mod backoff;
mod deadline;
mod ready;
pub(crate) mod word;

pub(crate) use backoff::spins_lasting;
pub use backoff::{woke_sleeper, Backoff, Policy, Spin, WAKE_LATENCY};
pub(crate) use deadline::Deadline;
pub use ready::{wait, Waitable, FALLBACK_SLICE};
pub(crate) use word::{
    block_on, block_on_marked, block_on_marked_with, block_on_with, notify_all, set_on_block,
    wake_one, Blocked, OnBlock, Stall, Wait,
};
pub use word::{notify, wait_on};
