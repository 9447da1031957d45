//! The report's tables, as data: which criterion groups it shows and what each is compared
//! with ([`SECTIONS`]), the speed targets of the issues ([`TARGETS`]), and which of our
//! benchmarks stand beside each of Python's figures ([`PYTHON`]). Every id is a constant of
//! `benches::ids`, which the benches use too: a bench renamed there is renamed here, and a row
//! whose benchmark did not run says so ("not measured") instead of disappearing.

use benches::ids::{
    barrier as bar, code_size as cs, group, lock, pool, push_pop as pp, spawn,
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

/// Python's figure of a forked producer streaming 64-byte messages.
pub(crate) const PY_QUEUE_THROUGHPUT: &str = "queue_throughput_64B";

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

/// The speed targets of issues 2, 3, 7 and 15, in the order of the table.
pub(crate) const TARGETS: &[Target] = {
    use Goal::{AtMost, Faster, FasterBy};
    use Peer::{Bench, Python};
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
    ]
};

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
