//! The report's tables, as data: which criterion groups it shows and what each is compared
//! with ([`SECTIONS`]), the speed targets of the issues ([`TARGETS`]), and which of our
//! benchmarks stand beside each of Python's figures ([`PYTHON`]). Every id is a constant of
//! `benches::ids`, which the benches use too: a bench renamed there is renamed here, and a row
//! whose benchmark did not run says so ("not measured") instead of disappearing.

use benches::ids::{
    barrier as bar, code_size as cs, group, lock, pool, push_pop as pp, spawn, sustained as su,
    xproc_roundtrip as rt, xproc_throughput as tp,
};

/// A group of the report: its criterion id, a title, the reference row ("ours"), a note.
pub(crate) struct Section {
    pub(crate) group: &'static str,
    pub(crate) title: &'static str,
    /// Function ids tried in order; the first present is the reference of the ratios.
    pub(crate) reference: &'static [&'static str],
    pub(crate) note: &'static str,
}

const XPROC_REF_RT: &[&str] = &[rt::RAW_QUEUE, rt::BYTE_QUEUE_BLOCKING];
const XPROC_REF_TP: &[&str] = &[tp::RAW_QUEUE, tp::BYTE_QUEUE_BLOCKING];

pub(crate) const SECTIONS: &[Section] = &[
    Section {
        group: group::PUSH_POP_64B,
        title: "One thread: push + pop of one 64-byte message (capacity 128)",
        reference: &[pp::BYTE_QUEUE],
        note: "Issue 2's figure: every queue with 128 slots, one push and one pop per iteration.",
    },
    Section {
        group: group::SPSC_8B,
        title: "Threads, SPSC, 8-byte messages, queue never fills (capacity = batch = 4,096)",
        reference: &[pp::BYTE_QUEUE],
        note: "",
    },
    Section {
        group: group::SPSC_64B,
        title: "Threads, SPSC, 64-byte messages, queue never fills (capacity = batch = 4,096)",
        reference: &[pp::BYTE_QUEUE],
        note: "",
    },
    Section {
        group: group::SPSC_1024B,
        title: "Threads, SPSC, 1,024-byte messages, queue never fills (capacity = batch = 1,024)",
        reference: &[pp::BYTE_QUEUE],
        note: "",
    },
    Section {
        group: group::SPSC_65536B,
        title: "Threads, SPSC, 65,536-byte messages, queue never fills (capacity = batch = 256)",
        reference: &[pp::BYTE_QUEUE],
        note: "Typed queues move `[u8; 65536]` values by copy, in and out, as the byte queue does.",
    },
    Section {
        group: group::SPSC_64B_CAP2,
        title: "Threads, SPSC, 64-byte messages, capacity 2 (batch 4,096)",
        reference: &[pp::BYTE_QUEUE],
        note: "heapless's spsc queue is declared with N = 3 (it keeps one slot free).",
    },
    Section {
        group: group::MPMC_64B_2X2,
        title: "Threads, MPMC, 2 producers × 2 consumers, 64 B (capacity = batch = 4,096)",
        reference: &[pp::BYTE_QUEUE],
        note: "",
    },
    Section {
        group: group::MPMC_64B_4X4,
        title: "Threads, MPMC, 4 producers × 4 consumers, 64 B (capacity = batch = 4,096)",
        reference: &[pp::BYTE_QUEUE],
        note: "8 busy threads on this machine's cores: mostly a measure of the scheduler and the backoff.",
    },
    Section {
        group: group::MPMC_64B_4X1,
        title: "Threads, MPSC, 4 producers × 1 consumer, 64 B (capacity = batch = 4,096)",
        reference: &[pp::BYTE_QUEUE],
        note: "",
    },
    Section {
        group: group::XPROC_THROUGHPUT_64B,
        title: "Processes: forked producer → consumer, 64 B, queue never fills (batch 4,096)",
        reference: XPROC_REF_TP,
        note: "ipc's queues and iceoryx2's buffer hold a whole batch; pipes are grown to hold one \
               (`F_SETPIPE_SZ`); the socket keeps its default buffer; the POSIX message queue holds \
               at most `/proc/sys/fs/mqueue/msg_max` messages (10 by default).",
    },
    Section {
        group: group::XPROC_THROUGHPUT_64B_CAP2,
        title: "Processes: forked producer → consumer, 64 B, capacity 2 (batch 4,096)",
        reference: XPROC_REF_TP,
        note: "Pipes and sockets can't be bounded to two messages and are left out.",
    },
    Section {
        group: group::XPROC_ROUNDTRIP_64B,
        title: "Processes: round trip of one 64-byte message to a forked echo process",
        reference: XPROC_REF_RT,
        note: "The spin ping-pong moves one word (one cache line); the spin mailbox moves a \
               64-byte message and the word that says it is there (two cache lines), the least \
               any queue of 64-byte messages can do.",
    },
    Section {
        group: group::SUSTAINED_64B,
        title: "Processes: sustained stream, 64 B, producer running free (capacity 1,024)",
        reference: &[su::RAW_QUEUE],
        note: SUSTAINED_NOTE,
    },
    Section {
        group: group::SUSTAINED_1KIB,
        title: "Processes: sustained stream, 1,024 B, producer running free (capacity 1,024)",
        reference: &[su::RAW_QUEUE],
        note: SUSTAINED_NOTE,
    },
    Section {
        group: group::SUSTAINED_64B_2TO1,
        title: "Processes: sustained stream, 64 B, 2 producers → 1 consumer (capacity 1,024)",
        reference: &[su::RAW_QUEUE],
        note: "Rates count the messages of both producers. The SPSC floor and interprocess's \
               local socket (one connection, one byte stream) have one producer only.",
    },
    Section {
        group: group::SUSTAINED_STRUCT,
        title: "Processes: sustained stream of `(u64, f64, String)` (16 characters)",
        reference: &[su::QUEUE_STRUCT],
        note: "Typed peers: each message is a new tuple, its string cloned, checked on arrival.",
    },
    Section {
        group: group::PROCESS_SPAWN_JOIN,
        title: "Process start + join",
        reference: &[spawn::PROCESS],
        note: "",
    },
    Section {
        group: group::LOCK_UNCONTENDED,
        title: "Lock: one uncontended acquire + release",
        reference: &[lock::HOST_RUNTIME],
        note: "The pthread mutex is process-shared and robust, in shared memory: the POSIX \
               lock that survives its holder's death (`EOWNERDEAD`), as ours does.",
    },
    Section {
        group: group::LOCK_TWO_PROCESS_COUNTER,
        title: "Lock: two processes incrementing a shared counter under it (per increment)",
        reference: &[lock::HOST_RUNTIME],
        note: "Each process does the same number of increments (a load and a store under the \
               lock); every run checks the total before it is timed.",
    },
    Section {
        group: group::BARRIER_ROUND_2,
        title: "Barrier: one round of two processes",
        reference: &[bar::HOST_RUNTIME],
        note: "The futex ping-pong is one round trip between the same two processes: what a \
               round, in which each side must learn of the other's arrival, costs at least.",
    },
];

/// What a target is held against.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Peer {
    /// A benchmark (function id) of the target's group.
    Bench(&'static str),
    /// A benchmark of another group: (group, function id).
    Other(&'static str, &'static str),
    /// One of Python's figures (its name in `python_mp_bench.py`'s output), a rate.
    Python(&'static str),
}

/// What a target asks, per message, of ours against its peer.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Goal {
    /// Our time is at most this many times the peer's; the ratio shown is ours ÷ the peer's.
    AtMost(f64),
    /// The peer's time is at least this many times ours; the ratio shown is the peer's ÷ ours.
    FasterBy(f64),
    /// Our time is less than the peer's; the ratio shown is the peer's ÷ ours.
    Faster,
}

impl Goal {
    /// The ratio the goal is about, from the two times per message.
    pub(crate) fn ratio(self, ours: f64, peer: f64) -> f64 {
        match self {
            Goal::AtMost(_) => ours / peer,
            Goal::FasterBy(_) | Goal::Faster => peer / ours,
        }
    }

    /// Whether `ratio` (from [`Goal::ratio`]) meets the goal.
    pub(crate) fn met(self, ratio: f64) -> bool {
        match self {
            Goal::AtMost(bound) => ratio <= bound,
            Goal::FasterBy(bound) => ratio >= bound,
            Goal::Faster => ratio > 1.0,
        }
    }
}

/// A speed target of an issue: one row of the report's *Targets* table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    /// The issue that sets it.
    pub(crate) issue: u8,
    /// The criterion group of ours (and of the peer, if it is a benchmark).
    pub(crate) group: &'static str,
    /// Our benchmark (function id).
    pub(crate) ours: &'static str,
    /// What it is held against.
    pub(crate) peer: Peer,
    /// What it must do.
    pub(crate) goal: Goal,
    /// The target as the table states it; `{ours}` stands for our benchmark's id.
    pub(crate) label: &'static str,
    /// Another benchmark of the group, shown beside for scale (no part of the status): its id
    /// and how the table names it.
    pub(crate) scale: Option<(&'static str, &'static str)>,
}

const TP: &str = group::XPROC_THROUGHPUT_64B;
const RT: &str = group::XPROC_ROUNDTRIP_64B;
const S64: &str = group::SUSTAINED_64B;
const S1K: &str = group::SUSTAINED_1KIB;
const S2: &str = group::SUSTAINED_64B_2TO1;
const SST: &str = group::SUSTAINED_STRUCT;

/// Python's figure of a forked producer streaming 64-byte messages.
pub(crate) const PY_QUEUE_THROUGHPUT: &str = "queue_throughput_64B";
/// Python's sustained figures (`benches/python/sustained_mp.py`): 64-byte and 1,024-byte
/// `bytes`, and a tuple `(int, float, 16-character str)`.
pub(crate) const PY_SUSTAINED_64B: &str = "sustained_bytes_64B";
pub(crate) const PY_SUSTAINED_1KIB: &str = "sustained_bytes_1024B";
pub(crate) const PY_SUSTAINED_TUPLE: &str = "sustained_tuple";
/// Python's `Pool.map` of 1 MiB `bytes` arguments, each returned (tasks/s).
pub(crate) const PY_POOL_BIG: &str = "pool_map_1MiB";

const SUSTAINED_NOTE: &str = "Forked producers `put` in a free-running loop, the consumer \
    `get`s; the queue fills and drains as it will. Pipes and sockets keep the kernel's default \
    buffers; the SPSC ring is the floor (fixed-size slots, cached indices, no checks).";

const fn target(
    issue: u8,
    group: &'static str,
    ours: &'static str,
    peer: Peer,
    goal: Goal,
    label: &'static str,
) -> Target {
    Target {
        issue,
        group,
        ours,
        peer,
        goal,
        label,
        scale: None,
    }
}

const fn with_scale(t: Target, id: &'static str, name: &'static str) -> Target {
    Target {
        scale: Some((id, name)),
        ..t
    }
}

const PIPE_10X: &str = "{ours} forked producer → consumer ≥ 10× a pipe";
const PYTHON_100X: &str = "{ours} ≥ 100× Python's `multiprocessing.Queue`";
const FLOOR_2X: &str = "round trip {ours} (blocking, peer awake) ≤ 2× spin ping-pong";
const PIPE_BATCHED: &str = "a pipe read 64 KiB at a time";

const MAILBOX: &str = "the 64-byte mailbox floor";

/// The speed targets of issues 2, 3, 7, 15 and 17, in the order of the table. Round trips
/// (group `xproc_roundtrip_64B`, [`is_round_trip`]) are judged on the interleaved round trips'
/// same-run ratios, whose peers are named by the same ids ([`round_trip_peers`]).
pub(crate) const TARGETS: &[Target] = {
    use Goal::{AtMost, Faster, FasterBy};
    use Peer::{Bench, Other, Python};
    &[
        target(
            2,
            group::PUSH_POP_64B,
            pp::BYTE_QUEUE,
            Bench(pp::CROSSBEAM),
            AtMost(1.2),
            "single-thread push+pop 64 B ≤ 1.2× crossbeam `ArrayQueue`",
        ),
        target(
            2,
            group::PUSH_POP_64B,
            pp::BYTE_QUEUE,
            Bench(pp::HEAPLESS_MPMC),
            Faster,
            "… and ahead of heapless's (MPMC) queue",
        ),
        with_scale(
            target(
                3,
                TP,
                tp::RAW_QUEUE,
                Bench(tp::PIPE),
                FasterBy(10.0),
                PIPE_10X,
            ),
            tp::PIPE_BATCHED,
            PIPE_BATCHED,
        ),
        target(
            3,
            TP,
            tp::RAW_QUEUE,
            Python(PY_QUEUE_THROUGHPUT),
            FasterBy(100.0),
            PYTHON_100X,
        ),
        with_scale(
            target(
                3,
                TP,
                tp::QUEUE_BYTEBUF,
                Bench(tp::PIPE),
                FasterBy(10.0),
                PIPE_10X,
            ),
            tp::PIPE_BATCHED,
            PIPE_BATCHED,
        ),
        target(
            3,
            TP,
            tp::QUEUE_BYTEBUF,
            Python(PY_QUEUE_THROUGHPUT),
            FasterBy(100.0),
            PYTHON_100X,
        ),
        with_scale(
            target(
                3,
                TP,
                tp::QUEUE_VEC,
                Bench(tp::PIPE),
                FasterBy(10.0),
                PIPE_10X,
            ),
            tp::PIPE_BATCHED,
            PIPE_BATCHED,
        ),
        target(
            3,
            TP,
            tp::QUEUE_VEC,
            Python(PY_QUEUE_THROUGHPUT),
            FasterBy(100.0),
            PYTHON_100X,
        ),
        with_scale(
            target(
                3,
                RT,
                rt::RAW_QUEUE,
                Bench(rt::FLOOR),
                AtMost(2.0),
                FLOOR_2X,
            ),
            rt::MAILBOX_FLOOR,
            MAILBOX,
        ),
        with_scale(
            target(
                3,
                RT,
                rt::QUEUE_VEC,
                Bench(rt::FLOOR),
                AtMost(2.0),
                FLOOR_2X,
            ),
            rt::MAILBOX_FLOOR,
            MAILBOX,
        ),
        with_scale(
            target(
                3,
                RT,
                rt::BYTE_QUEUE_BLOCKING,
                Bench(rt::FLOOR),
                AtMost(2.0),
                FLOOR_2X,
            ),
            rt::MAILBOX_FLOOR,
            MAILBOX,
        ),
        target(
            3,
            group::PROCESS_SPAWN_JOIN,
            spawn::PROCESS,
            Bench(spawn::RAW_FORK),
            AtMost(1.2),
            "`Process` start+join ≤ 1.2× raw fork+waitpid",
        ),
        target(
            7,
            RT,
            rt::BYTE_QUEUE_SPIN,
            Bench(rt::ICEORYX2),
            Faster,
            "{ours} vs iceoryx2 (round trip): ipc faster",
        ),
        target(
            7,
            RT,
            rt::RAW_QUEUE,
            Bench(rt::ICEORYX2),
            Faster,
            "{ours} vs iceoryx2 (round trip): ipc faster",
        ),
        target(
            7,
            TP,
            tp::BYTE_QUEUE_SPIN,
            Bench(tp::ICEORYX2),
            Faster,
            "{ours} vs iceoryx2 (throughput): ipc faster",
        ),
        target(
            7,
            TP,
            tp::RAW_QUEUE,
            Bench(tp::ICEORYX2),
            Faster,
            "{ours} vs iceoryx2 (throughput): ipc faster",
        ),
        target(
            15,
            group::LOCK_UNCONTENDED,
            lock::HOST_RUNTIME,
            Bench(lock::PTHREAD_ROBUST),
            AtMost(1.2),
            "`Lock` uncontended acquire+release ≤ 1.2× a robust process-shared pthread mutex",
        ),
        target(
            15,
            group::LOCK_TWO_PROCESS_COUNTER,
            lock::HOST_RUNTIME,
            Bench(lock::PTHREAD_ROBUST),
            FasterBy(0.8),
            "`Lock`, two processes incrementing a counter: throughput ≥ 0.8× the robust pthread mutex's",
        ),
        target(
            15,
            group::BARRIER_ROUND_2,
            bar::HOST_RUNTIME,
            Bench(bar::FUTEX_PING_PONG),
            AtMost(2.0),
            "`Barrier` round of 2 processes ≤ 2× a futex ping-pong",
        ),
        target(
            17,
            S64,
            su::RAW_QUEUE,
            Bench(su::SPSC_FLOOR),
            FasterBy(0.5),
            "{ours} 64 B sustained: throughput ≥ 0.5× the SPSC ring floor's",
        ),
        with_scale(
            target(
                17,
                S64,
                su::RAW_QUEUE,
                Bench(su::PIPE),
                FasterBy(10.0),
                "{ours} 64 B sustained ≥ 10× a pipe",
            ),
            su::PIPE_BATCHED,
            PIPE_BATCHED,
        ),
        target(
            17,
            S64,
            su::QUEUE_VEC,
            Python(PY_SUSTAINED_64B),
            FasterBy(100.0),
            "{ours} 64 B sustained ≥ 100× CPython's `multiprocessing.Queue` (`bytes`)",
        ),
        target(
            17,
            S1K,
            su::QUEUE_VEC,
            Python(PY_SUSTAINED_1KIB),
            FasterBy(100.0),
            "{ours} 1 KiB sustained ≥ 100× CPython's `multiprocessing.Queue` (`bytes`)",
        ),
        target(
            17,
            SST,
            su::QUEUE_STRUCT,
            Python(PY_SUSTAINED_TUPLE),
            FasterBy(100.0),
            "{ours} sustained ≥ 100× CPython's `multiprocessing.Queue` (a tuple)",
        ),
        target(
            17,
            S64,
            su::QUEUE_VEC,
            Bench(su::IPC_CHANNEL_VEC),
            FasterBy(10.0),
            "{ours} 64 B sustained ≥ 10× ipc-channel (`IpcSender<Vec<u8>>`)",
        ),
        target(
            17,
            S1K,
            su::QUEUE_VEC,
            Bench(su::IPC_CHANNEL_VEC),
            FasterBy(10.0),
            "{ours} 1 KiB sustained ≥ 10× ipc-channel (`IpcSender<Vec<u8>>`)",
        ),
        target(
            17,
            SST,
            su::QUEUE_STRUCT,
            Bench(su::IPC_CHANNEL_STRUCT),
            FasterBy(10.0),
            "{ours} sustained ≥ 10× ipc-channel (`IpcSender` of the same tuple)",
        ),
        target(
            17,
            S2,
            su::RAW_QUEUE,
            Other(S64, su::RAW_QUEUE),
            FasterBy(0.8),
            "{ours} 2 producers → 1: throughput ≥ 0.8× one producer's (64 B sustained)",
        ),
        target(
            17,
            group::POOL_CPU,
            pool::MAP_1MS,
            Bench(pool::SERIAL_1MS),
            FasterBy(1.9),
            "`Pool` `map` of 1 ms CPU-bound tasks on 2 workers ({ours}) ≥ 1.9× the serial time",
        ),
        target(
            17,
            group::POOL_BIG,
            pool::BIG_ECHO,
            Python(PY_POOL_BIG),
            FasterBy(10.0),
            "`Pool` tasks with 1 MiB `Vec<u8>` arguments and results ({ours}) ≥ 10× CPython's `Pool`",
        ),
        target(
            17,
            RT,
            rt::RAW_QUEUE,
            Bench(rt::MAILBOX_FLOOR),
            AtMost(1.5),
            "round trip {ours} 64 B ≤ 1.5× the 64-byte spin mailbox in the same run",
        ),
        target(
            17,
            RT,
            rt::QUEUE_U64,
            Bench(rt::FLOOR),
            AtMost(3.0),
            "round trip {ours} ≤ 3× the one-word spin ping-pong in the same run",
        ),
    ]
};

/// Whether target `t` is a round trip: its figures come from the interleaved round trips
/// (same-run ratios), criterion's beside them.
pub(crate) fn is_round_trip(t: &Target) -> bool {
    t.group == RT
}

/// The peers of the interleaved round trips: the two floors, then every peer a round-trip
/// target names (ours, the peer, the one shown for scale), each once, in the order of
/// [`TARGETS`].
pub(crate) fn round_trip_peers() -> Vec<&'static str> {
    let mut names = vec![rt::FLOOR, rt::MAILBOX_FLOOR];
    for t in TARGETS.iter().filter(|t| is_round_trip(t)) {
        let peer = match t.peer {
            Peer::Bench(id) => Some(id),
            Peer::Other(..) | Peer::Python(_) => None,
        };
        for id in [Some(t.ours), peer, t.scale.map(|(id, _)| id)]
            .into_iter()
            .flatten()
        {
            if !names.contains(&id) {
                names.push(id);
            }
        }
    }
    names
}

/// One of our benchmarks: its criterion group and function id, and how a table names it.
pub(crate) type Ours = (&'static str, &'static str, &'static str);

/// Our benchmarks beside each of Python's figures: Python's name for the figure (a rate, unit
/// `…/s`, or a time in `us`), then our benchmarks that do the same.
pub(crate) const PYTHON: &[(&str, &[Ours])] = &[
    (
        PY_QUEUE_THROUGHPUT,
        &[
            (TP, tp::QUEUE_VEC, "`Queue<Vec<u8>>`"),
            (TP, tp::RAW_QUEUE, "`RawQueue`"),
        ],
    ),
    (
        PY_SUSTAINED_64B,
        &[
            (S64, su::QUEUE_VEC, "`Queue<Vec<u8>>`"),
            (S64, su::RAW_QUEUE, "`RawQueue`"),
        ],
    ),
    (
        PY_SUSTAINED_1KIB,
        &[
            (S1K, su::QUEUE_VEC, "`Queue<Vec<u8>>`"),
            (S1K, su::RAW_QUEUE, "`RawQueue`"),
        ],
    ),
    (
        PY_SUSTAINED_TUPLE,
        &[(SST, su::QUEUE_STRUCT, "`Queue<(u64, f64, String)>`")],
    ),
    (
        "queue_roundtrip",
        &[(RT, rt::QUEUE_VEC, "`Queue<Vec<u8>>`")],
    ),
    (
        "process_start_join",
        &[(group::PROCESS_SPAWN_JOIN, spawn::PROCESS, "`Process`")],
    ),
    (
        "pool_apply_async",
        &[(group::POOL_APPLY_ASYNC, pool::APPLY_ASYNC_10K, "`Pool`")],
    ),
    ("pool_map", &[(group::POOL_MAP, pool::MAP_100K, "`Pool`")]),
    (PY_POOL_BIG, &[(group::POOL_BIG, pool::BIG_ECHO, "`Pool`")]),
    (
        "lock_uncontended",
        &[(group::LOCK_UNCONTENDED, lock::HOST_RUNTIME, "`Lock`")],
    ),
    (
        "lock_contended_increments",
        &[(
            group::LOCK_TWO_PROCESS_COUNTER,
            lock::HOST_RUNTIME,
            "`Lock`",
        )],
    ),
    (
        "barrier_round",
        &[(group::BARRIER_ROUND_2, bar::HOST_RUNTIME, "`Barrier`")],
    ),
];

/// The code-size table (`ipc-core/examples/code_size.rs` on thumbv7em-none-eabihf, release,
/// `opt-level = "s"`): each function (a `benches::ids::code_size` name) and what it does.
pub(crate) const CODE_SIZES: &[(&str, &str)] = &[
    (cs::QUEUE, "ipc-core `Queue<u32, 16>`: push + pop"),
    (
        cs::HEAPLESS_MPMC,
        "heapless `mpmc::Queue<u32, 16>` (deprecated): enqueue + dequeue",
    ),
    (
        cs::HEAPLESS_SPSC,
        "heapless `spsc::Queue<u32, 16>` (one producer, one consumer, `&mut`): enqueue + dequeue",
    ),
    (cs::LOCK, "ipc-core `LockWord`: lock_spin + unlock"),
];

/// Where a cell of the *Sustained streams* table comes from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cell {
    /// A benchmark: (group, function id); its rate.
    Bench(&'static str, &'static str),
    /// One of Python's figures, a rate.
    Python(&'static str),
    /// Not measured in this scenario.
    None,
}

/// The columns of the *Sustained streams* table: gated batches, then the sustained groups.
pub(crate) const STREAM_COLUMNS: [&str; 5] = [
    "gated 64 B (batch 4,096, never full)",
    "sustained 64 B",
    "sustained 1 KiB",
    "sustained 64 B, 2 → 1",
    "sustained `(u64, f64, String)`",
];

/// A byte peer's cells: its gated figure (if any), then its id in the three byte groups.
const fn bytes(gated: Cell, id: &'static str, two: bool) -> [Cell; 5] {
    [
        gated,
        Cell::Bench(S64, id),
        Cell::Bench(S1K, id),
        if two { Cell::Bench(S2, id) } else { Cell::None },
        Cell::None,
    ]
}

/// The rows of the *Sustained streams* table: each peer, gated and sustained side by side.
pub(crate) const STREAMS: &[(&str, [Cell; 5])] = {
    use Cell::{Bench, None, Python};
    &[
        (
            "`RawQueue`",
            bytes(Bench(TP, tp::RAW_QUEUE), su::RAW_QUEUE, true),
        ),
        (
            "`Queue<Vec<u8>>`",
            bytes(Bench(TP, tp::QUEUE_VEC), su::QUEUE_VEC, true),
        ),
        (
            "`Queue<(u64, f64, String)>`",
            [None, None, None, None, Bench(SST, su::QUEUE_STRUCT)],
        ),
        (
            "ipc-core `ByteQueue` blocking",
            bytes(
                Bench(TP, tp::BYTE_QUEUE_BLOCKING),
                su::BYTE_QUEUE_BLOCKING,
                true,
            ),
        ),
        (
            "ipc-core `ByteQueue` spin",
            bytes(Bench(TP, tp::BYTE_QUEUE_SPIN), su::BYTE_QUEUE_SPIN, true),
        ),
        (
            "SPSC ring in shared memory (floor)",
            bytes(None, su::SPSC_FLOOR, false),
        ),
        (
            "pipe, one read per message",
            bytes(Bench(TP, tp::PIPE), su::PIPE, true),
        ),
        (
            "pipe, 64 KiB reads",
            bytes(Bench(TP, tp::PIPE_BATCHED), su::PIPE_BATCHED, true),
        ),
        (
            "unix socketpair",
            bytes(Bench(TP, tp::SOCKETPAIR), su::SOCKETPAIR, true),
        ),
        (
            "ipc-channel `bytes_channel`",
            bytes(None, su::IPC_CHANNEL_BYTES, true),
        ),
        (
            "ipc-channel `IpcSender<Vec<u8>>`",
            bytes(None, su::IPC_CHANNEL_VEC, true),
        ),
        (
            "ipc-channel `IpcSender<(u64, f64, String)>`",
            [None, None, None, None, Bench(SST, su::IPC_CHANNEL_STRUCT)],
        ),
        (
            "interprocess local socket",
            bytes(None, su::INTERPROCESS, false),
        ),
        (
            "iceoryx2 publish-subscribe",
            bytes(Bench(TP, tp::ICEORYX2), su::ICEORYX2, true),
        ),
        (
            "CPython `multiprocessing.Queue`",
            [
                None,
                Python(PY_SUSTAINED_64B),
                Python(PY_SUSTAINED_1KIB),
                None,
                Python(PY_SUSTAINED_TUPLE),
            ],
        ),
    ]
};

/// The cargo feature a benchmark needs, if any (the peers of optional crates).
pub(crate) fn feature_of(id: &str) -> Option<&'static str> {
    match id {
        benches::ids::ICEORYX2 => Some("iceoryx2"),
        su::IPC_CHANNEL_BYTES | su::IPC_CHANNEL_VEC | su::IPC_CHANNEL_STRUCT => Some("ipc-channel"),
        su::INTERPROCESS => Some("interprocess"),
        _ => Option::None,
    }
}

/// The optional peers' cargo features this binary was built with (the report runs the benches
/// with the same).
pub(crate) fn features() -> Vec<&'static str> {
    [
        ("iceoryx2", cfg!(feature = "iceoryx2")),
        ("ipc-channel", cfg!(feature = "ipc-channel")),
        ("interprocess", cfg!(feature = "interprocess")),
    ]
    .into_iter()
    .filter_map(|(f, on)| on.then_some(f))
    .collect()
}
