//! The criterion ids that the bench targets write and the report reads, named once.
//!
//! A group id is a [`group`] constant; a function id that the report names (a reference row, a
//! target of an issue, a Python comparison) is a constant of the module named for its group.
//! The benches and the report both use these constants, so renaming a bench renames it for
//! both, and no row of the report can lose its figure to a rename. Function ids that the
//! report only lists (it shows every row criterion measured) may stay literals in the benches.

/// Criterion group ids.
pub mod group {
    /// `core_queue.rs`: one thread, push + pop of one 64-byte message, capacity 128.
    pub const PUSH_POP_64B: &str = "push_pop_64B_single_thread";
    /// `threads.rs`: SPSC, 8-byte messages.
    pub const SPSC_8B: &str = "spsc_threads_8B";
    /// `threads.rs`: SPSC, 64-byte messages.
    pub const SPSC_64B: &str = "spsc_threads_64B";
    /// `threads.rs`: SPSC, 1,024-byte messages.
    pub const SPSC_1024B: &str = "spsc_threads_1024B";
    /// `threads.rs`: SPSC, 65,536-byte messages.
    pub const SPSC_65536B: &str = "spsc_threads_65536B";
    /// `threads.rs`: SPSC, 64-byte messages, capacity 2.
    pub const SPSC_64B_CAP2: &str = "spsc_threads_64B_cap2";
    /// `threads.rs`: MPMC, 2 producers × 2 consumers.
    pub const MPMC_64B_2X2: &str = "mpmc_threads_64B_2x2";
    /// `threads.rs`: MPMC, 4 producers × 4 consumers.
    pub const MPMC_64B_4X4: &str = "mpmc_threads_64B_4x4";
    /// `threads.rs`: MPSC, 4 producers × 1 consumer.
    pub const MPMC_64B_4X1: &str = "mpmc_threads_64B_4x1";
    /// `xproc.rs`: a forked producer streaming 64-byte messages (function ids:
    /// [`xproc_throughput`](super::xproc_throughput)).
    pub const XPROC_THROUGHPUT_64B: &str = "xproc_throughput_64B";
    /// `xproc.rs`: the same through a queue of capacity 2.
    pub const XPROC_THROUGHPUT_64B_CAP2: &str = "xproc_throughput_64B_cap2";
    /// `xproc.rs`: a round trip to a forked echo process (function ids:
    /// [`xproc_roundtrip`](super::xproc_roundtrip)).
    pub const XPROC_ROUNDTRIP_64B: &str = "xproc_roundtrip_64B";
    /// `spawn.rs`: process start + join (function ids: [`spawn`](super::spawn)).
    pub const PROCESS_SPAWN_JOIN: &str = "process_spawn_join";
    /// `pool.rs`: 10,000 `apply_async` calls, then their results.
    pub const POOL_APPLY_ASYNC: &str = "pool_apply_async";
    /// `pool.rs`: one `apply`.
    pub const POOL_APPLY: &str = "pool_apply";
    /// `pool.rs`: `map` over a range.
    pub const POOL_MAP: &str = "pool_map";
    /// `pool.rs`: `map` of 200 tasks with 1 MiB arguments and results (Python's `pool_big`).
    pub const POOL_BIG: &str = "pool_big";
    /// `pool.rs`: `map` of 400 tasks of 1 ms each, and the same calls in one process.
    pub const POOL_CPU: &str = "pool_cpu";
    /// The prefix of every group of `pool.rs`.
    pub const POOL_PREFIX: &str = "pool_";
    /// `lock.rs`: one uncontended acquire + release (function ids: [`lock`](super::lock)).
    pub const LOCK_UNCONTENDED: &str = "lock_uncontended";
    /// `lock.rs`: two processes incrementing a shared counter under the lock; 2 increments
    /// an iteration, one per process (function ids: [`lock`](super::lock)).
    pub const LOCK_TWO_PROCESS_COUNTER: &str = "lock_two_process_counter";
    /// `xproc.rs`: sustained stream, 64-byte messages, one forked producer running free
    /// (function ids: [`sustained`](super::sustained)).
    pub const SUSTAINED_64B: &str = "sustained_64B";
    /// `xproc.rs`: sustained stream, 1,024-byte messages, one producer.
    pub const SUSTAINED_1KIB: &str = "sustained_1KiB";
    /// `xproc.rs`: sustained stream, 64-byte messages, two producers into one consumer.
    pub const SUSTAINED_64B_2TO1: &str = "sustained_64B_2to1";
    /// `xproc.rs`: sustained stream of a small typed struct, `(u64, f64, String)` with 16
    /// characters, one producer.
    pub const SUSTAINED_STRUCT: &str = "sustained_struct";
    /// `lock.rs`: one round of a barrier of two processes (function ids:
    /// [`barrier`](super::barrier)).
    pub const BARRIER_ROUND_2: &str = "barrier_round_2_processes";
}

/// Function ids of [`group::LOCK_UNCONTENDED`] and [`group::LOCK_TWO_PROCESS_COUNTER`].
pub mod lock {
    /// host-runtime's `sync::Lock` (guard taken and dropped).
    pub const HOST_RUNTIME: &str = "host_runtime_lock";
    /// ipc-core's `LockWord`, `try_lock` + `unlock` (uncontended group only).
    pub const IPC_CORE_WORD: &str = "ipc_core_lock_word";
    /// glibc's `pthread_mutex_t`, `PTHREAD_PROCESS_SHARED` and `PTHREAD_MUTEX_ROBUST`, in
    /// shared memory: the peer of issue 15's targets.
    pub const PTHREAD_ROBUST: &str = "pthread_robust_pshared";
}

/// Function ids of [`group::BARRIER_ROUND_2`].
pub mod barrier {
    /// host-runtime's `sync::Barrier` of 2 parties.
    pub const HOST_RUNTIME: &str = "host_runtime_barrier";
    /// A futex ping-pong round trip between the same two processes: the floor.
    pub const FUTEX_PING_PONG: &str = "futex_ping_pong_round_trip";
}

/// The `#[no_mangle]` functions of `ipc-core/examples/code_size.rs` whose code size the report
/// shows (thumbv7em-none-eabihf, release, `opt-level = "s"`); the example cannot use this
/// crate, so these strings and its function names are kept equal by hand (the report says
/// "not found" for a name it lacks).
pub mod code_size {
    /// ipc-core's `LockWord`: `lock_spin` + `unlock`.
    pub const LOCK: &str = "size_lock_acquire_release";
    /// ipc-core's `Queue<u32, 16>`: `push` + `pop`.
    pub const QUEUE: &str = "size_queue_push_pop";
    /// heapless's `mpmc::Queue<u32, 16>`: `enqueue` + `dequeue`.
    pub const HEAPLESS_MPMC: &str = "size_heapless_mpmc_enqueue_dequeue";
    /// heapless's `spsc::Queue<u32, 16>`: `enqueue` + `dequeue`.
    pub const HEAPLESS_SPSC: &str = "size_heapless_spsc_enqueue_dequeue";
}

/// Function ids of [`group::PUSH_POP_64B`] (and, for [`BYTE_QUEUE`](push_pop::BYTE_QUEUE), of
/// the threads groups).
pub mod push_pop {
    /// ipc-core's `ByteQueue`: the reference of its groups.
    pub const BYTE_QUEUE: &str = "ipc_core::ByteQueue";
    /// crossbeam's `ArrayQueue` of 64-byte arrays.
    pub const CROSSBEAM: &str = "crossbeam::ArrayQueue<[u8; 64]>";
    /// heapless's (deprecated) MPMC queue of 64-byte arrays.
    pub const HEAPLESS_MPMC: &str = "heapless::mpmc::Queue<[u8; 64]>";
}

/// Function ids of [`group::XPROC_THROUGHPUT_64B`] and its `_cap2` twin (`stream::peers`).
pub mod xproc_throughput {
    /// ipc-core's `ByteQueue`, spinning.
    pub const BYTE_QUEUE_SPIN: &str = "ipc_core::ByteQueue spin";
    /// ipc-core's `ByteQueue`, blocking.
    pub const BYTE_QUEUE_BLOCKING: &str = "ipc_core::ByteQueue blocking";
    /// host-runtime's `RawQueue`.
    pub const RAW_QUEUE: &str = "host_runtime::RawQueue put/get";
    /// host-runtime's `Queue<Vec<u8>>`.
    pub const QUEUE_VEC: &str = "host_runtime::Queue<Vec<u8>> put/get";
    /// host-runtime's `Queue<ByteBuf>`.
    pub const QUEUE_BYTEBUF: &str = "host_runtime::Queue<ByteBuf> put/get";
    /// A pipe, read one message at a time.
    pub const PIPE: &str = "pipe (64 B reads)";
    /// A pipe, read 64 KiB at a time.
    pub const PIPE_BATCHED: &str = "pipe (64 KiB reads)";
    /// A Unix stream socket pair.
    pub const SOCKETPAIR: &str = "unix socketpair";
    /// iceoryx2's publish-subscribe (with the cargo feature `iceoryx2`).
    pub const ICEORYX2: &str = super::ICEORYX2;
}

/// Function ids of the sustained groups ([`group::SUSTAINED_64B`], [`group::SUSTAINED_1KIB`],
/// [`group::SUSTAINED_64B_2TO1`], [`group::SUSTAINED_STRUCT`]): the same id in every group a
/// peer is in (`sustained::peers`).
pub mod sustained {
    /// host-runtime's `RawQueue`: `put(&m)` in the producer, `get_into(&mut buf)` here.
    pub const RAW_QUEUE: &str = "host_runtime::RawQueue put/get_into";
    /// host-runtime's `Queue<Vec<u8>>`: `put(v.clone())`, `get()`.
    pub const QUEUE_VEC: &str = "host_runtime::Queue<Vec<u8>> put/get";
    /// host-runtime's `Queue<(u64, f64, String)>`: `put((seq, 3.25, s.clone()))`, `get()`.
    pub const QUEUE_STRUCT: &str = "host_runtime::Queue<(u64, f64, String)> put/get";
    /// ipc-core's `ByteQueue` in shared memory, blocking (`benches::blocking`).
    pub const BYTE_QUEUE_BLOCKING: &str = "ipc_core::ByteQueue blocking";
    /// ipc-core's `ByteQueue` in shared memory, spinning.
    pub const BYTE_QUEUE_SPIN: &str = "ipc_core::ByteQueue spin";
    /// The SPSC ring in shared memory with cached indices (`benches::spsc`): the floor.
    pub const SPSC_FLOOR: &str = "shm SPSC ring (floor)";
    /// A pipe, one `write` per message, `read_exact` of one message per read.
    pub const PIPE: &str = "pipe (one read per message)";
    /// A pipe, one `write` per message, read 64 KiB at a time.
    pub const PIPE_BATCHED: &str = "pipe (64 KiB reads)";
    /// A Unix stream socket pair, `write_all` and `read_exact` per message.
    pub const SOCKETPAIR: &str = "unix socketpair";
    /// servo's ipc-channel, `IpcBytesSender::send(&m)` / `IpcBytesReceiver::recv()`.
    pub const IPC_CHANNEL_BYTES: &str = "ipc-channel bytes_channel";
    /// servo's ipc-channel, `IpcSender<Vec<u8>>::send(v.clone())` / `recv()`.
    pub const IPC_CHANNEL_VEC: &str = "ipc-channel IpcSender<Vec<u8>>";
    /// servo's ipc-channel, `IpcSender<(u64, f64, String)>`.
    pub const IPC_CHANNEL_STRUCT: &str = "ipc-channel IpcSender<(u64, f64, String)>";
    /// The interprocess crate's local socket (`local_socket::Stream`), `write_all` and
    /// `read_exact` per message.
    pub const INTERPROCESS: &str = "interprocess local socket";
    /// iceoryx2's publish-subscribe (with the cargo feature `iceoryx2`).
    pub const ICEORYX2: &str = super::ICEORYX2;
}

/// Function ids of [`group::XPROC_ROUNDTRIP_64B`] (`roundtrip::peers`), also the names of
/// the report's latency loop.
pub mod xproc_roundtrip {
    /// ipc-core's `ByteQueue`, spinning.
    pub const BYTE_QUEUE_SPIN: &str = "ipc_core::ByteQueue spin";
    /// ipc-core's `ByteQueue`, blocking.
    pub const BYTE_QUEUE_BLOCKING: &str = "ipc_core::ByteQueue blocking";
    /// host-runtime's `RawQueue`.
    pub const RAW_QUEUE: &str = "host_runtime::RawQueue put+get";
    /// host-runtime's `Queue<Vec<u8>>`.
    pub const QUEUE_VEC: &str = "host_runtime::Queue<Vec<u8>> put+get";
    /// The spin ping-pong, the floor the others are compared with.
    pub const FLOOR: &str = "shm spin ping-pong (floor)";
    /// The spin mailbox: the floor for moving a 64-byte message.
    pub const MAILBOX_FLOOR: &str = "shm spin mailbox, 64 B (message floor)";
    /// iceoryx2's publish-subscribe (with the cargo feature `iceoryx2`).
    pub const ICEORYX2: &str = super::ICEORYX2;
    /// host-runtime's `Queue<u64>` (the echo answers `n + 1`): a peer of the interleaved
    /// round trips only (`interleaved::peer`), no criterion row of this group (its criterion
    /// row is `typed_round_trip`'s, `benches/typed.rs`).
    pub const QUEUE_U64: &str = "host_runtime::Queue<u64> put+get";
}

/// Function ids of [`group::PROCESS_SPAWN_JOIN`].
pub mod spawn {
    /// host-runtime's `Process::start` and `join`.
    pub const PROCESS: &str = "host_runtime::Process start+join";
    /// `fork(2)` and `waitpid(2)`, raw.
    pub const RAW_FORK: &str = "raw fork+waitpid";
}

/// Function ids of the `pool.rs` groups ([`group::POOL_APPLY_ASYNC`], [`group::POOL_MAP`],
/// [`group::POOL_BIG`], [`group::POOL_CPU`]).
pub mod pool {
    /// 10,000 `apply_async` calls.
    pub const APPLY_ASYNC_10K: &str = "10k";
    /// `map` over 100,000 items.
    pub const MAP_100K: &str = "100k";
    /// `map` over 1,000,000 items.
    pub const MAP_1M: &str = "1M";
    /// [`group::POOL_BIG`](super::group::POOL_BIG): each task echoes a 1 MiB `Vec<u8>`.
    pub const BIG_ECHO: &str = "1MiB_echo";
    /// [`group::POOL_CPU`](super::group::POOL_CPU): `map` of the 1 ms tasks on 2 workers.
    pub const MAP_1MS: &str = "map_1ms";
    /// [`group::POOL_CPU`](super::group::POOL_CPU): the same calls in one process.
    pub const SERIAL_1MS: &str = "serial_1ms";
}

/// iceoryx2's publish-subscribe peer, in both cross-process groups.
pub const ICEORYX2: &str = "iceoryx2 pub/sub";
