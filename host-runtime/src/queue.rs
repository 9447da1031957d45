//! [`Queue<T>`]: Python's `multiprocessing.Queue` over shared memory, and [`RawQueue`] for byte
//! messages.
//!
//! ```
//! use host_runtime::{Process, Queue};
//!
//! let q = Queue::<String>::new(0)?; // 0: no bound, as Python's default
//! let tx = q.clone();
//! let p = Process::new(move || {
//!     for word in ["hello", "from", "a", "child"] {
//!         tx.put(word.to_string()).unwrap();
//!     }
//! });
//! p.start()?;
//! let words: Vec<String> = (0..4).map(|_| q.get()).collect::<Result<_, _>>()?;
//! assert_eq!(words.join(" "), "hello from a child");
//! p.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How it works
//!
//! A queue is one shared region (see `LAYOUT.md` of this crate): a header, a **ring** (an
//! [`ipc_core::ByteQueue`], lock-free MPMC) and a **blob pool**. Items are encoded with
//! [postcard]. An encoded message up to the inline size (111 bytes by default) is copied
//! straight into a ring slot; a longer one is written into a chunk of the blob pool, and the
//! ring slot carries a small descriptor (size class, chunk index, length, lease) instead.
//! Each chunk has a lease word in the region that says who holds it (free, a process outside
//! the ring, or the ring), moved by compare-and-swap, so taking and returning a chunk is
//! lock-free too. A consumer copies a long message out and frees its chunk while it still
//! holds the ring slot, which it releases last.
//!
//! The region is a `MAP_SHARED` mapping made when the queue is: handles are `Clone` (an
//! [`Arc`](std::sync::Arc) in the process), and a child forked afterwards (by
//! [`Process`](crate::Process)) inherits the mapping, so a cloned handle moved into the
//! process's closure just works. Named queues ([`Builder::create_named`],
//! [`Queue::open_named`]) connect processes that are not related.
//!
//! # Blocking
//!
//! `put`/`get` wait as long as needed, `put_timeout`/`get_timeout` at most a given time
//! (monotonic clock; never shorter, and late only by the scheduler's wake-up latency), and
//! `put_nowait`/`get_nowait` not at all; all are thin shells over one loop. It tries, spins a
//! few microseconds (`spin_loop`), yields the CPU a few times (`sched_yield`: on a busy
//! machine this lets the peer run instead of paying for a sleep and a wake), then sleeps in
//! the kernel on a shared futex: the `seq` word
//! of ipc-core's [`WaitWord`](ipc_core::WaitWord) `not_full`/`not_empty` (or a size class's
//! own word for "no free chunk"), under its protocol (register, re-check, sleep while `seq`
//! is unchanged, unregister), so a wake-up can't be lost. A blocked call uses no CPU. After a
//! put (get) the caller bumps the other word and makes the `futex_wake` system call only when
//! somebody is registered as waiting. Signals (`EINTR`) never end a wait early. A call that
//! has just woken a sleeper spins longer in its next wait (50 µs from the wake-up): the woken
//! peer needs about that long to run again, and a request/reply pair would otherwise put
//! both sides to sleep in turn, message after message.
//!
//! # Speed
//!
//! [`RawQueue`] moves bytes and nothing else: a 64-byte message costs about 35 ns between a
//! producer and a consumer process, 10–13× a pipe (`BENCHMARKS.md` at the repository's root).
//! [`Queue<T>`] adds postcard's encoding, and the allocations of `T` (the caller's on `put`,
//! the decoded item's on `get`), and decodes from a private copy of the message (for a short
//! one, on the stack; for a long one, a per-thread buffer reused from get to get: never from
//! shared memory, which another process could rewrite).
//!
//! **Byte payloads.** A `Queue<Vec<u8>>` or `Queue<String>` moves its bytes as one block each
//! way: serde would hand them to postcard one at a time (`Serialize for Vec<u8>` is a sequence
//! of `u8`s), so the queue recognises these two item types and writes postcard's varint
//! length and the bytes itself: the same message, byte for byte, as postcard's (a named queue
//! and a binary without this path agree). A long one is copied out of shared memory straight
//! into the `Vec`/`String` it becomes. Integer items (`u64`, `u32`, `usize`, `i64`, `i32`)
//! are written and read as postcard's varint directly, and strings inside other types are
//! checked as UTF-8 a word at a time when they are ASCII. A put+get in one thread
//! (`put(v.clone())` + `get()`, callgrind): 64 bytes, about 1,020 instructions (2,550 through
//! serde; `Queue<u64>`: 610; `Queue<(u64, f64, String)>`: 1,300); 1 KiB, about 2,700
//! (47,000). Of these, the two allocations and frees of the item are about 280. Bytes
//! *inside* your own types (a field `pixels: Vec<u8>`) still go through serde one at a time;
//! one line on the field, `#[serde(with = "serde_bytes")]` (the `serde_bytes` crate), moves
//! them as a block, on the same wire (postcard writes the same length and bytes), so only the
//! speed changes: a struct with 1 KiB of bytes in a field, about 29,300 instructions per
//! put+get without the line, 3,750 with it. The pool does the same for its arguments and
//! results (and its chunks of them).
//!
//! **Reusing the item.** [`Queue::get_into`] decodes into a value the caller keeps: a
//! `Vec<u8>` or `String` (alone, in a tuple, or in a type whose `Deserialize` decodes in
//! place) keeps its allocation, so a consumer loop allocates nothing once the value has grown:
//! 64 bytes, about 790 instructions per put+get; the tuple above, about 1,010. On the other
//! side [`Queue::put_ref`] puts a value the caller keeps (Python's `put` never takes the
//! object), so a producer loop need not clone what it sends: with `get_into`, a 64-byte
//! `Vec<u8>` is about 600 instructions per put+get, the tuple about 800.
//!
//! # What a stalled or killed process does to the others
//!
//! As for [`ipc_core::ByteQueue`]: a producer stopped between claiming and publishing a slot
//! holds up consumers at that slot (FIFO order), a consumer stopped between claiming and
//! releasing one holds up the producer that comes round to it a lap later; others go on. A
//! stopped (`SIGSTOP`) process is waited for, never overruled: when it continues, it finishes
//! its call as if nothing happened.
//!
//! A process *killed* inside a put or get is repaired, without anyone's help: each process
//! registers in the queue's participant table when it creates or opens a named queue, or else
//! on its first put or get, so every slot it claims records who claimed it. A call that has
//! been blocked for 200 ms while the queue looks stuck (or a failing `*_nowait`/`*_timeout`
//! call, at most every 200 ms per process) asks the kernel whether the registered processes
//! still live (`/proc/PID/stat`: gone, zombie with no thread left running, or a pid reused by
//! a younger process = dead) and repairs what the dead left: a put it was making is skipped,
//! a message it was taking is released, and both are counted
//! ([`QueueStats`]: `lost_in_put`, `lost_in_get`). [`RawQueue::repair_dead`] does it at once.
//! So the others resume within a few hundred milliseconds of a death, and only the one message
//! the dead process was handing over is lost.
//!
//! The liveness test assumes the processes sharing a queue run as one user in one pid
//! namespace, as named queues (mode 0600, refused if another user owns them) and forked
//! children do: it reads `/proc/PID/stat` and `/proc/PID/status` of the namespace the caller
//! runs in. A process registered from another pid namespace (recorded with its namespace) or
//! whose `/proc` entry cannot be read (`hidepid`) is never judged dead: a crash of it is not
//! repaired, and a named queue it used is never reclaimed.
//!
//! The same holds for *long* messages: the blob chunk a dead process held (taken for a put,
//! or being copied out by a get) is freed by its repair, found by its lease word, so no chunk
//! leaks; a long get is committed, like a short one, only when its ring slot is released,
//! after the copy. A process killed asleep in a blocking call is taken out of the wait
//! word's count of sleepers by the same repair (the queue's wait ledger says how many were
//! its), so no call pays a wake-up for it afterwards. `LAYOUT.md` of this crate goes through every step of a put and a get.
//!
//! A parent's death wakes nobody: a non-daemon child blocked in a get sleeps on (in the
//! kernel, using no CPU) until a message comes from any process that still has the queue, as
//! Python's non-daemon children outlive their parent. To make children go with their parent,
//! start them as daemons (`Builder::daemon`, `PR_SET_PDEATHSIG`), or wait with `get_timeout`
//! and check `sys::getppid`.
//!
//! # Closing, draining, and the other queue types
//!
//! [`Queue::close`] says this process puts (and gets) no more: its later calls return a
//! `Closed` error. It is per process, as Python's: a put has written its item into shared
//! memory when it returns (there is no feeder thread), so nothing needs flushing, and Python's
//! `join_thread()`/`cancel_join_thread()` have nothing to do here and do not exist.
//! [`Queue::try_iter`] drains what is there now. [`SimpleQueue`] is Python's `SimpleQueue`
//! (`put`, `get`, `empty`, `close`); [`JoinableQueue`] is Python's `JoinableQueue`
//! (`task_done`, `join`), whose `join` also reports the items that consumers held when they
//! died, where Python's would wait for ever.
//!
//! # Named queues: space and cleaning up
//!
//! A named queue ([`Builder::create_named`]) is a file of `/dev/shm` (a `tmpfs`, in memory)
//! whose whole size is reserved when it is made, so a `/dev/shm` too small is an error then
//! ([`ShmError::OutOfSpace`](crate::ShmError::OutOfSpace)), never a `SIGBUS` in a later put.
//! Named defaults are smaller than anonymous ones (about 13 MiB; [`Builder`], *Memory*, says
//! how to size a queue). The file outlives every process that uses it: it stays until
//! [`Queue::unlink_named`] removes its name, and its memory until the last process that mapped
//! it lets go.
//!
//! * A program that owns a queue's name unlinks it when it is done (processes that opened the
//!   queue keep using it; new ones can no longer open it).
//! * After a crash, the region stays in `/dev/shm`, and `create_named` of the name fails with
//!   `ShmError::AlreadyExists`. Create with
//!   [`Builder::reclaim_stale`]`(true)` instead: the stale region is replaced if its creator
//!   and every process registered in it are dead, and refused with [`QueueError::InUse`]
//!   (naming a live pid) otherwise. Every process that creates or opens a named queue
//!   registers in it at once, so a live user is never overlooked; one that could not register
//!   (the table of [`Builder::max_processes`] entries was full) counts as alive too.
//! * By hand: `ls -l /dev/shm` lists the regions; [`Queue::unlink_named`] (or `rm
//!   /dev/shm/NAME`) removes one, also from under live processes, which then go on alone in
//!   a region nobody else can reach: use it only when you know the users are gone.
//!
//! A process forked by a raw `clone` system call (not libc's `fork`, as [`Process`](crate::Process)
//! uses) must not use a queue it inherited: it would claim under its parent's registration.

// All `unsafe` code lives in `crate::sys`.
#![forbid(unsafe_code)]

mod blob;
mod builder;
mod codec;
mod error;
mod iter;
#[cfg(target_has_atomic = "64")]
mod joinable;
pub(crate) mod layout;
mod raw;
mod reclaim;
mod simple;
mod typed;

pub use crate::encoding::{DecodeError, DecodeErrorKind, EncodeError};
pub use builder::{
    Builder, DEFAULT_CLASSES, DEFAULT_INLINE_MAX, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_PROCESSES,
    MAX_INLINE, NAMED_DEFAULT_CLASSES, NAMED_UNBOUNDED_CAPACITY, UNBOUNDED_CAPACITY,
};
pub(crate) use codec::{decode_message, put_item};
pub use error::{
    GetError, GetNowaitError, GetTimeoutError, PutError, PutNowaitError, PutTimeoutError,
    QueueError, RawGetError, RawGetNowaitError, RawGetTimeoutError, RawPutError, RawPutNowaitError,
    RawPutTimeoutError,
};
use raw::get_never_waits;
pub use raw::{Batch, BatchIter, PutManyError, QueueStats, RawQueue, SizeClassStats, Waiters};
pub(crate) use raw::{GetFail, Hooks, Message, Parts, PutFail};
pub use typed::Queue;

// Python's other queue types, and the draining iterators.
pub use iter::{RawTryIter, TryIter};
#[cfg(target_has_atomic = "64")]
pub use joinable::{JoinError, JoinTimeoutError, JoinableQueue, JoinableTryIter, TaskDoneError};
pub use simple::SimpleQueue;
