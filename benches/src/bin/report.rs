//! Runs the whole comparison and writes `BENCHMARKS.md` (and `benches/report/ratios.svg`).
//!
//! ```sh
//! cargo run --release -p benches --features iceoryx2 --bin report
//! ```
//!
//! 1. `cargo bench -p benches` over every bench target (criterion, warm-up 1 s, measurement
//!    3 s), with the same `iceoryx2` feature this binary was built with;
//! 2. its own latency loop: single round trips over every round-trip peer, for median and p99
//!    (criterion only sees batches);
//! 3. the memory figures: `ByteQueue::memory_size` for a grid of capacities and message sizes,
//!    and the peak RSS of a consumer process after 10,000,000 messages;
//! 4. `python3 ../shared/peers/python_mp_bench.py` (relative to the repository root), if there;
//! 5. reads criterion's `benchmark.json` and `estimates.json` of this run and writes the tables.
//!
//! Options: `--skip-bench` (reuse the criterion results already in the target directory),
//! `--quick` (short criterion times and small loops, to try the pipeline), `--no-python`,
//! `--out PATH` (instead of `BENCHMARKS.md` at the repository root).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use benches::latency::{self, Percentiles};
use benches::memory;
use benches::roundtrip;

/// Bench targets the report runs, in order.
const BENCHES: &[&str] = &["core_queue", "threads", "xproc", "spawn"];

/// Bench targets of other engineers, run too if they exist and build.
const OPTIONAL_BENCHES: &[&str] = &["ipc", "pool"];

/// Messages through the consumer whose peak RSS is reported.
const RSS_MESSAGES: u64 = 10_000_000;

struct Options {
    skip_bench: bool,
    quick: bool,
    python: bool,
    out: Option<PathBuf>,
}

fn main() {
    let mut opts = Options {
        skip_bench: false,
        quick: false,
        python: true,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--skip-bench" => opts.skip_bench = true,
            "--quick" => opts.quick = true,
            "--no-python" => opts.python = false,
            "--out" => opts.out = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!("usage: report [--skip-bench] [--quick] [--no-python] [--out PATH]");
                return;
            }
            other => {
                eprintln!("report: unknown option {other}");
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = run(&opts) {
        eprintln!("report: {e}");
        std::process::exit(1);
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ has a parent")
        .to_path_buf()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The cargo target directory (as `cargo metadata` reports it, which honours
/// `CARGO_TARGET_DIR`).
fn target_dir(root: &Path) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return Ok(if dir.is_absolute() {
            dir
        } else {
            root.join(dir)
        });
    }
    let out = Command::new(cargo())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    v["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata: no target_directory".into())
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn run(opts: &Options) -> Result<(), String> {
    let root = repo_root();
    let target = target_dir(&root)?;
    let started = SystemTime::now();
    let load_before = load_avg();
    let features: &[&str] = if cfg!(feature = "iceoryx2") {
        &["--features", "iceoryx2"]
    } else {
        &[]
    };
    let mut benches: Vec<&str> = BENCHES.to_vec();
    let mut notes = Vec::new();

    if !opts.skip_bench {
        // The other engineers' bench targets (`ipc`: issue 3 figures; `pool`: host-runtime's
        // Pool) are run too if they build.
        for extra in OPTIONAL_BENCHES {
            if !root.join(format!("benches/benches/{extra}.rs")).exists() {
                continue;
            }
            let ok = Command::new(cargo())
                .args(["bench", "-p", "benches", "--bench", extra, "--no-run"])
                .args(features)
                .current_dir(&root)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                benches.push(extra);
            } else {
                notes.push(format!(
                    "`benches/benches/{extra}.rs` did not build; its groups are missing."
                ));
            }
        }
        let mut cmd = Command::new(cargo());
        cmd.args(["bench", "-p", "benches"]).args(features);
        for b in &benches {
            cmd.args(["--bench", b]);
        }
        cmd.arg("--");
        if opts.quick {
            cmd.args(["--warm-up-time", "0.2", "--measurement-time", "0.5"]);
        } else {
            cmd.args(["--warm-up-time", "1", "--measurement-time", "3"]);
        }
        eprintln!("report: running {cmd:?}");
        let status = cmd
            .current_dir(&root)
            .status()
            .map_err(|e| format!("cargo bench: {e}"))?;
        if !status.success() {
            return Err(format!("cargo bench failed: {status}"));
        }
    }
    let load_after_bench = load_avg();

    eprintln!("report: latency loop");
    let latencies = latency_loop(opts.quick);
    eprintln!("report: memory");
    let rss = memory::consumer_rss(if opts.quick { 1_000_000 } else { RSS_MESSAGES });
    let python = if opts.python {
        eprintln!("report: python");
        Some(python(&root))
    } else {
        None
    };
    let load_end = load_avg();

    let results = read_criterion(
        &target.join("criterion"),
        (!opts.skip_bench).then_some(started),
    )?;
    if results.is_empty() {
        return Err(format!(
            "no criterion results under {}",
            target.join("criterion").display()
        ));
    }
    let machine = Machine::probe();
    let doc = Doc {
        results: &results,
        latencies: &latencies,
        rss: &rss,
        python: python.as_ref(),
        machine: &machine,
        loads: [load_before, load_after_bench, load_end],
        quick: opts.quick,
        notes: &notes,
        features,
    };
    let svg_rel = "benches/report/ratios.svg";
    let svg_path = root.join(svg_rel);
    std::fs::create_dir_all(svg_path.parent().expect("parent")).map_err(|e| e.to_string())?;
    std::fs::write(&svg_path, doc.svg()).map_err(|e| format!("{}: {e}", svg_path.display()))?;
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| root.join("BENCHMARKS.md"));
    std::fs::write(&out, doc.markdown(svg_rel)).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("report: wrote {} and {}", out.display(), svg_path.display());
    Ok(())
}

// ---- inputs ------------------------------------------------------------------------------------

/// One criterion benchmark of this run.
#[derive(Clone, Debug)]
struct Bench {
    function: String,
    /// Median of the per-iteration time, ns.
    median: f64,
    /// Elements per iteration, if the group declared a throughput.
    elements: Option<u64>,
}

impl Bench {
    /// Time per element (message), ns.
    fn per_elem(&self) -> f64 {
        self.median / self.elements.unwrap_or(1) as f64
    }

    /// Elements per second.
    fn rate(&self) -> Option<f64> {
        self.elements.map(|n| n as f64 / self.median * 1e9)
    }
}

/// Group id → benchmarks in the order of their function ids.
type Results = BTreeMap<String, Vec<Bench>>;

fn read_criterion(dir: &Path, since: Option<SystemTime>) -> Result<Results, String> {
    let mut out = Results::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "new") {
                    if let Some((group, b)) = read_one(&p, since) {
                        out.entry(group).or_default().push(b);
                    }
                } else if p.file_name().is_some_and(|n| n != "report") {
                    stack.push(p);
                }
            }
        }
    }
    Ok(out)
}

fn read_one(new: &Path, since: Option<SystemTime>) -> Option<(String, Bench)> {
    let est_path = new.join("estimates.json");
    if let Some(since) = since {
        let modified = std::fs::metadata(&est_path)
            .and_then(|m| m.modified())
            .ok()?;
        if modified < since {
            return None;
        }
    }
    let id: serde_json::Value =
        serde_json::from_slice(&std::fs::read(new.join("benchmark.json")).ok()?).ok()?;
    let est: serde_json::Value = serde_json::from_slice(&std::fs::read(est_path).ok()?).ok()?;
    let group = id["group_id"].as_str()?.to_string();
    let mut function = id["function_id"].as_str().unwrap_or("").to_string();
    if let Some(v) = id["value_str"].as_str() {
        function = if function.is_empty() {
            v.to_string()
        } else {
            format!("{function}/{v}")
        };
    }
    let median = est["median"]["point_estimate"].as_f64()?;
    let elements = id["throughput"]["Elements"].as_u64();
    Some((
        group,
        Bench {
            function,
            median,
            elements,
        },
    ))
}

/// Single-round-trip percentiles per peer (or why the peer could not be measured).
type Latencies = Vec<(String, Result<Percentiles, String>)>;

fn latency_loop(quick: bool) -> Latencies {
    let (n, budget) = if quick {
        (5_000, Duration::from_millis(300))
    } else {
        (100_000, Duration::from_secs(3))
    };
    // Each peer is measured in ROUNDS short turns, interleaved with the others (a fresh echo
    // process each turn), so a burst of other work on the machine hits every peer alike.
    const ROUNDS: usize = 5;
    let peers = roundtrip::peers();
    let mut samples: Vec<Result<Vec<f64>, String>> = peers.iter().map(|_| Ok(Vec::new())).collect();
    for _ in 0..ROUNDS {
        for (peer, acc) in peers.iter().zip(samples.iter_mut()) {
            let Ok(v) = acc else { continue };
            match (peer.make)() {
                Ok(mut rt) => v.extend(latency::samples(
                    &mut *rt,
                    2_000,
                    n / ROUNDS,
                    budget / ROUNDS as u32,
                )),
                Err(e) => *acc = Err(e.to_string()),
            }
        }
    }
    peers
        .iter()
        .zip(samples)
        .map(|(peer, r)| (peer.name.to_string(), r.map(Percentiles::of)))
        .collect()
}

/// Python's figures: name → (value, unit), or why there are none.
type Python = Result<(String, BTreeMap<String, (f64, String)>), String>;

fn python(root: &Path) -> Python {
    let rel = "../shared/peers/python_mp_bench.py";
    let script = root.join(rel);
    if !script.exists() {
        return Err(format!(
            "`{rel}` (relative to the repository root) is missing"
        ));
    }
    let version = Command::new("python3")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .map_err(|e| format!("python3: {e}"))?;
    let out = Command::new("python3")
        .arg(&script)
        .current_dir(root)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`python3 {rel}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let mut figures = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [name, value, unit] = f[..] {
            if let Ok(v) = value.parse() {
                figures.insert(name.to_string(), (v, unit.to_string()));
            }
        }
    }
    Ok((version, figures))
}

struct Machine {
    thp: String,
    cpu: String,
    cores: usize,
    kernel: String,
    rustc: String,
    date: String,
}

impl Machine {
    fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown CPU".into());
        let cmd = |c: &str, args: &[&str]| {
            Command::new(c)
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_else(|_| "?".into())
        };
        let thp = |f: &str| {
            std::fs::read_to_string(format!("/sys/kernel/mm/transparent_hugepage/{f}"))
                .ok()
                .and_then(|s| {
                    s.split_whitespace()
                        .find(|w| w.starts_with('['))
                        .map(|w| w.trim_matches(|c| c == '[' || c == ']').to_string())
                })
                .unwrap_or_else(|| "?".into())
        };
        Machine {
            thp: format!(
                "heap {}, shared memory {}",
                thp("enabled"),
                thp("shmem_enabled")
            ),
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "?".into()),
            rustc: cmd("rustc", &["--version"]),
            date: cmd("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        }
    }
}

// ---- formatting --------------------------------------------------------------------------------

fn fmt_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.1} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k/s", r / 1e3)
    } else {
        format!("{r:.0} /s")
    }
}

fn fmt_bytes(b: f64) -> String {
    if b >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", b / (1u64 << 30) as f64)
    } else if b >= (1 << 20) as f64 {
        format!("{:.2} MiB", b / (1 << 20) as f64)
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

fn fmt_ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}×")
    } else if r >= 10.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.2}×")
    }
}

/// A group of the report: its criterion id, a title, the reference row ("ours"), a note.
struct Section {
    group: &'static str,
    title: &'static str,
    /// Function ids tried in order; the first present is the reference of the ratios.
    reference: &'static [&'static str],
    note: &'static str,
}

const XPROC_REF_RT: &[&str] = &[
    "host_runtime::RawQueue put+get",
    "ipc_core::ByteQueue blocking",
];
const XPROC_REF_TP: &[&str] = &[
    "host_runtime::RawQueue put/get",
    "ipc_core::ByteQueue blocking",
];

const SECTIONS: &[Section] = &[
    Section {
        group: "push_pop_64B_single_thread",
        title: "One thread: push + pop of one 64-byte message (capacity 128)",
        reference: &["ipc_core::ByteQueue"],
        note: "Issue 2's figure: every queue with 128 slots, one push and one pop per iteration.",
    },
    Section {
        group: "spsc_threads_8B",
        title: "Threads, SPSC, 8-byte messages, queue never fills (capacity = batch = 4,096)",
        reference: &["ipc_core::ByteQueue"],
        note: "",
    },
    Section {
        group: "spsc_threads_64B",
        title: "Threads, SPSC, 64-byte messages, queue never fills (capacity = batch = 4,096)",
        reference: &["ipc_core::ByteQueue"],
        note: "",
    },
    Section {
        group: "spsc_threads_1024B",
        title: "Threads, SPSC, 1,024-byte messages, queue never fills (capacity = batch = 1,024)",
        reference: &["ipc_core::ByteQueue"],
        note: "",
    },
    Section {
        group: "spsc_threads_65536B",
        title: "Threads, SPSC, 65,536-byte messages, queue never fills (capacity = batch = 256)",
        reference: &["ipc_core::ByteQueue"],
        note: "Typed queues move `[u8; 65536]` values by copy, in and out, as the byte queue does.",
    },
    Section {
        group: "spsc_threads_64B_cap2",
        title: "Threads, SPSC, 64-byte messages, capacity 2 (batch 4,096)",
        reference: &["ipc_core::ByteQueue"],
        note: "heapless's spsc queue is declared with N = 3 (it keeps one slot free).",
    },
    Section {
        group: "mpmc_threads_64B_2x2",
        title: "Threads, MPMC, 2 producers × 2 consumers, 64 B (capacity = batch = 4,096)",
        reference: &["ipc_core::ByteQueue"],
        note: "",
    },
    Section {
        group: "mpmc_threads_64B_4x4",
        title: "Threads, MPMC, 4 producers × 4 consumers, 64 B (capacity = batch = 4,096)",
        reference: &["ipc_core::ByteQueue"],
        note: "8 busy threads on this machine's cores: mostly a measure of the scheduler and the backoff.",
    },
    Section {
        group: "mpmc_threads_64B_4x1",
        title: "Threads, MPSC, 4 producers × 1 consumer, 64 B (capacity = batch = 4,096)",
        reference: &["ipc_core::ByteQueue"],
        note: "",
    },
    Section {
        group: "xproc_throughput_64B",
        title: "Processes: forked producer → consumer, 64 B, queue never fills (batch 4,096)",
        reference: XPROC_REF_TP,
        note: "ipc's queues and iceoryx2's buffer hold a whole batch; pipes are grown to hold one \
               (`F_SETPIPE_SZ`); the socket keeps its default buffer; the POSIX message queue holds \
               at most `/proc/sys/fs/mqueue/msg_max` messages (10 by default).",
    },
    Section {
        group: "xproc_throughput_64B_cap2",
        title: "Processes: forked producer → consumer, 64 B, capacity 2 (batch 4,096)",
        reference: XPROC_REF_TP,
        note: "Pipes and sockets can't be bounded to two messages and are left out.",
    },
    Section {
        group: "xproc_roundtrip_64B",
        title: "Processes: round trip of one 64-byte message to a forked echo process",
        reference: XPROC_REF_RT,
        note: "The spin ping-pong moves one word (one cache line); the spin mailbox moves a \
               64-byte message and the word that says it is there (two cache lines), the least \
               any queue of 64-byte messages can do.",
    },
    Section {
        group: "process_spawn_join",
        title: "Process start + join",
        reference: &["host_runtime::Process start+join"],
        note: "",
    },
];

struct Doc<'a> {
    results: &'a Results,
    latencies: &'a Latencies,
    rss: &'a std::io::Result<memory::ConsumerRss>,
    python: Option<&'a Python>,
    machine: &'a Machine,
    loads: [String; 3],
    quick: bool,
    notes: &'a [String],
    features: &'a [&'a str],
}

impl Doc<'_> {
    fn find(&self, group: &str, function: &str) -> Option<&Bench> {
        self.results
            .get(group)?
            .iter()
            .find(|b| b.function == function)
    }

    fn reference<'s>(&'s self, s: &Section) -> Option<&'s Bench> {
        s.reference.iter().find_map(|f| self.find(s.group, f))
    }

    /// Rows of a group in a stable order: ipc's first, then the peers by median.
    fn rows(&self, group: &str) -> Vec<&Bench> {
        let mut rows: Vec<&Bench> = self
            .results
            .get(group)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        rows.sort_by(|a, b| {
            let ours = |x: &Bench| {
                !(x.function.starts_with("ipc_core") || x.function.starts_with("host_runtime"))
            };
            ours(a)
                .cmp(&ours(b))
                .then(a.per_elem().total_cmp(&b.per_elem()))
        });
        rows
    }

    fn latency(&self, name: &str) -> Option<&Percentiles> {
        self.latencies
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, r)| r.as_ref().ok())
    }

    fn markdown(&self, svg: &str) -> String {
        let mut s = String::new();
        let m = self.machine;
        let feat = if self.features.is_empty() {
            String::new()
        } else {
            format!(" {}", self.features.join(" "))
        };
        let _ = writeln!(s, "# Benchmarks\n");
        let _ =
            writeln!(
            s,
            "Written by `cargo run --release -p benches{feat} --bin report` on {}; do not edit \
             by hand, run it again.{}\n",
            m.date,
            if self.quick { " **Quick mode: short measurements, figures are rough.**" } else { "" }
        );
        let _ = writeln!(
            s,
            "**Machine:** {} · {} cores · Linux {} · {} · transparent huge pages: {}  \n**Load average** (1/5/15 min) before \
             the benches: {} · after them: {} · at the end: {} (other work was {} on this \
             shared machine).\n",
            m.cpu,
            m.cores,
            m.kernel,
            m.rustc,
            m.thp,
            self.loads[0],
            self.loads[1],
            self.loads[2],
            if self.loads[0]
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| v < 0.5)
            {
                "light"
            } else {
                "running: expect noise"
            },
        );
        let _ = writeln!(
            s,
            "Each table shows criterion's **median** (of its samples' mean time per iteration; \
             95 % confidence interval in the HTML report under `target/criterion/report/`), per \
             message for throughput groups, and **time ÷ ipc**: the row's median time divided by \
             the reference row's (marked ◆). Above 1×, ipc is faster by that factor; below 1×, \
             the peer is. Warm-up 1 s, measurement 3 s per benchmark.\n"
        );
        for n in self.notes {
            let _ = writeln!(s, "> {n}\n");
        }

        self.targets(&mut s);

        let _ = writeln!(s, "## The picture\n");
        let _ = writeln!(
            s,
            "Each bar: a peer's median time ÷ ipc's reference in the same group (log scale; \
             right of 1× = ipc faster).\n\n![ratios]({svg})\n"
        );

        for sec in SECTIONS {
            self.section(&mut s, sec);
        }
        // Groups of other bench targets (e.g. `ipc`), shown as they are.
        for (group, _) in self.results.iter() {
            if SECTIONS.iter().any(|sec| sec.group == group) || group.starts_with("pool_") {
                continue;
            }
            let sec = Section {
                group: Box::leak(group.clone().into_boxed_str()),
                title: Box::leak(format!("`{group}` (another bench target)").into_boxed_str()),
                reference: &[],
                note: "from a bench target this report does not describe (e.g. \
                       `benches/benches/ipc.rs`), shown as criterion measured it, with its own \
                       batching and names.",
            };
            self.section(&mut s, &sec);
        }

        self.pool(&mut s);
        self.memory(&mut s);
        self.python_section(&mut s);
        self.method(&mut s);
        s
    }

    fn section(&self, s: &mut String, sec: &Section) {
        let rows = self.rows(sec.group);
        if rows.is_empty() {
            return;
        }
        let reference = self.reference(sec).or_else(|| {
            rows.iter().copied().find(|b| {
                b.function.starts_with("host_runtime") || b.function.starts_with("ipc_core")
            })
        });
        let _ = writeln!(s, "## {}\n\n`{}`", sec.title, sec.group);
        if !sec.note.is_empty() {
            let _ = write!(s, " — {}", sec.note);
        }
        let _ = writeln!(s, "\n");
        let throughput = rows.iter().any(|b| b.elements.is_some());
        let roundtrip = sec.group == "xproc_roundtrip_64B";
        if throughput {
            let _ = writeln!(
                s,
                "| implementation | median per message | messages/s | time ÷ ipc |"
            );
            let _ = writeln!(s, "|---|--:|--:|--:|");
        } else if roundtrip {
            let _ = writeln!(
                s,
                "| implementation | criterion median | single round trips: p50 | p99 | p99.9 | time ÷ ipc |"
            );
            let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|");
        } else {
            let _ = writeln!(s, "| implementation | median | time ÷ ipc |");
            let _ = writeln!(s, "|---|--:|--:|");
        }
        for b in rows {
            let is_ref = reference.is_some_and(|r| std::ptr::eq(r, b));
            let name = if is_ref {
                format!("◆ `{}`", b.function)
            } else {
                format!("`{}`", b.function)
            };
            let ratio = reference.map_or("".into(), |r| fmt_ratio(b.per_elem() / r.per_elem()));
            if throughput {
                let _ = writeln!(
                    s,
                    "| {name} | {} | {} | {ratio} |",
                    fmt_ns(b.per_elem()),
                    b.rate().map_or("".into(), fmt_rate)
                );
            } else if roundtrip {
                let (p50, p99, p999) = self
                    .latency(&b.function)
                    .map_or(("".into(), "".into(), "".into()), |p| {
                        (fmt_ns(p.p50), fmt_ns(p.p99), fmt_ns(p.p999))
                    });
                let _ = writeln!(
                    s,
                    "| {name} | {} | {p50} | {p99} | {p999} | {ratio} |",
                    fmt_ns(b.median)
                );
            } else {
                let _ = writeln!(s, "| {name} | {} | {ratio} |", fmt_ns(b.median));
            }
        }
        let _ = writeln!(s);
        if roundtrip {
            let failed: Vec<_> = self
                .latencies
                .iter()
                .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("{n}: {e}")))
                .collect();
            let _ = writeln!(
                s,
                "Criterion median: of per-sample means, so rare stalls (a spinning peer descheduled) \
                 weigh in. p50/p99/p99.9: the report's own loop, each round trip timed alone \
                 (`Instant` before and after, one clock read ≈ 20 ns included), up to 100,000 round \
                 trips or 3 s per peer, taken in 5 turns interleaved with the other peers (a fresh \
                 echo process and 2,000 untimed round trips each turn); all samples kept and \
                 sorted.{}\n",
                if failed.is_empty() { String::new() } else { format!(" Not measured: {}.", failed.join("; ")) }
            );
        }
    }

    /// The speed targets of issues 2 and 3, met or missed.
    fn targets(&self, s: &mut String) {
        let _ = writeln!(s, "## Targets\n");
        let load = self.loads[1]
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if load >= 1.0 {
            let _ = writeln!(
                s,
                "> The machine was busy with other work during this run (5-minute load {load:.1} on \
                 {} cores). Spinning peers (ipc's spin variants, the spin floor, iceoryx2) suffer \
                 most when descheduled; a status near its bound may flip on a quiet machine.\n",
                self.machine.cores
            );
        }
        let _ = writeln!(
            s,
            "Statuses use criterion's medians; round-trip rows also show the single-round-trip \
             p50 and p99 of the latency loop.\n"
        );
        let _ = writeln!(s, "| target (issue) | measured | status |");
        let _ = writeln!(s, "|---|---|---|");
        let status = |ok: bool| if ok { "met" } else { "**missed**" };
        let row = |s: &mut String, target: &str, measured: String, ok: Option<bool>| {
            let _ = writeln!(
                s,
                "| {target} | {measured} | {} |",
                ok.map_or("not measured", status)
            );
        };
        // Issue 2.
        let g = "push_pop_64B_single_thread";
        match (
            self.find(g, "ipc_core::ByteQueue"),
            self.find(g, "crossbeam::ArrayQueue<[u8; 64]>"),
        ) {
            (Some(a), Some(b)) => {
                let r = a.median / b.median;
                row(
                    s,
                    "single-thread push+pop 64 B ≤ 1.2× crossbeam `ArrayQueue` (2)",
                    format!(
                        "{} vs {}: {}",
                        fmt_ns(a.median),
                        fmt_ns(b.median),
                        fmt_ratio(r)
                    ),
                    Some(r <= 1.2),
                );
            }
            _ => row(
                s,
                "single-thread push+pop 64 B ≤ 1.2× crossbeam (2)",
                String::new(),
                None,
            ),
        }
        match (
            self.find(g, "ipc_core::ByteQueue"),
            self.find(g, "heapless::mpmc::Queue<[u8; 64]>"),
        ) {
            (Some(a), Some(b)) => {
                let r = a.median / b.median;
                row(
                    s,
                    "… and ahead of heapless's (MPMC) queue (2)",
                    format!(
                        "{} vs {}: {}",
                        fmt_ns(a.median),
                        fmt_ns(b.median),
                        fmt_ratio(r)
                    ),
                    Some(r < 1.0),
                );
            }
            _ => row(
                s,
                "… and ahead of heapless's queue (2)",
                String::new(),
                None,
            ),
        }
        // Issue 3: throughput vs a pipe and vs Python.
        let g = "xproc_throughput_64B";
        let pipe = self.find(g, "pipe (64 B reads)");
        let pipe_batched = self.find(g, "pipe (64 KiB reads)");
        for ours in [
            "host_runtime::RawQueue put/get",
            "host_runtime::Queue<ByteBuf> put/get",
            "host_runtime::Queue<Vec<u8>> put/get",
        ] {
            let Some(q) = self.find(g, ours) else {
                continue;
            };
            if let Some(p) = pipe {
                let r = p.per_elem() / q.per_elem();
                let batched = pipe_batched.map_or(String::new(), |pb| {
                    format!(
                        "; vs a pipe read 64 KiB at a time: {}",
                        fmt_ratio(pb.per_elem() / q.per_elem())
                    )
                });
                row(
                    s,
                    &format!("`{ours}` forked producer → consumer ≥ 10× a pipe (3)"),
                    format!(
                        "{} vs {}: {}{batched}",
                        fmt_rate(q.rate().unwrap_or(0.0)),
                        fmt_rate(p.rate().unwrap_or(0.0)),
                        fmt_ratio(r)
                    ),
                    Some(r >= 10.0),
                );
            }
            match self
                .python
                .and_then(|p| p.as_ref().ok())
                .and_then(|(_, f)| f.get("queue_throughput_64B"))
            {
                Some((py, _)) => {
                    let r = q.rate().unwrap_or(0.0) / py;
                    row(
                        s,
                        &format!("`{ours}` ≥ 100× Python's `multiprocessing.Queue` (3)"),
                        format!(
                            "{} vs {}: {}",
                            fmt_rate(q.rate().unwrap_or(0.0)),
                            fmt_rate(*py),
                            fmt_ratio(r)
                        ),
                        Some(r >= 100.0),
                    );
                }
                None => row(
                    s,
                    &format!("`{ours}` ≥ 100× Python's `multiprocessing.Queue` (3)"),
                    "Python figures missing".into(),
                    None,
                ),
            }
        }
        // Round trip vs the spin floor.
        let g = "xproc_roundtrip_64B";
        if let Some(floor) = self.find(g, roundtrip::FLOOR) {
            for ours in [
                "host_runtime::RawQueue put+get",
                "host_runtime::Queue<Vec<u8>> put+get",
                "ipc_core::ByteQueue blocking",
            ] {
                let Some(q) = self.find(g, ours) else {
                    continue;
                };
                let r = q.median / floor.median;
                let p99 = match (self.latency(ours), self.latency(roundtrip::FLOOR)) {
                    (Some(a), Some(b)) => format!(
                        "; single round trips: p50 {} vs {}: {}, p99 {} vs {}: {}",
                        fmt_ns(a.p50),
                        fmt_ns(b.p50),
                        fmt_ratio(a.p50 / b.p50),
                        fmt_ns(a.p99),
                        fmt_ns(b.p99),
                        fmt_ratio(a.p99 / b.p99)
                    ),
                    _ => String::new(),
                };
                // What moving a 64-byte message costs at the least, for scale.
                let mailbox = self
                    .find(g, roundtrip::MAILBOX_FLOOR)
                    .map(|m| {
                        format!(
                            "; vs the 64-byte mailbox floor ({}): {}",
                            fmt_ns(m.median),
                            fmt_ratio(q.median / m.median)
                        )
                    })
                    .unwrap_or_default();
                row(
                    s,
                    &format!("round trip `{ours}` (blocking, peer awake) ≤ 2× spin ping-pong (3)"),
                    format!(
                        "{} vs {}: {}{p99}{mailbox}",
                        fmt_ns(q.median),
                        fmt_ns(floor.median),
                        fmt_ratio(r)
                    ),
                    Some(r <= 2.0),
                );
            }
        }
        let g = "process_spawn_join";
        match (
            self.find(g, "host_runtime::Process start+join"),
            self.find(g, "raw fork+waitpid"),
        ) {
            (Some(a), Some(b)) => {
                let r = a.median / b.median;
                row(
                    s,
                    "`Process` start+join ≤ 1.2× raw fork+waitpid (3)",
                    format!(
                        "{} vs {}: {}",
                        fmt_ns(a.median),
                        fmt_ns(b.median),
                        fmt_ratio(r)
                    ),
                    Some(r <= 1.2),
                );
            }
            _ => row(
                s,
                "`Process` start+join ≤ 1.2× raw fork+waitpid (3)",
                String::new(),
                None,
            ),
        }
        // iceoryx2, the one to beat (issue 7).
        for (g, ours, theirs) in [
            (
                "xproc_roundtrip_64B",
                "ipc_core::ByteQueue spin",
                "iceoryx2 pub/sub",
            ),
            (
                "xproc_roundtrip_64B",
                "host_runtime::RawQueue put+get",
                "iceoryx2 pub/sub",
            ),
            (
                "xproc_throughput_64B",
                "ipc_core::ByteQueue spin",
                "iceoryx2 pub/sub",
            ),
            (
                "xproc_throughput_64B",
                "host_runtime::RawQueue put/get",
                "iceoryx2 pub/sub",
            ),
        ] {
            let target = format!(
                "`{ours}` vs iceoryx2 ({})",
                if g.contains("roundtrip") {
                    "round trip"
                } else {
                    "throughput"
                }
            );
            match (self.find(g, ours), self.find(g, theirs)) {
                (Some(a), Some(b)) => {
                    let r = b.per_elem() / a.per_elem();
                    let p50 = match (self.latency(ours), self.latency(theirs)) {
                        (Some(x), Some(y)) if g.contains("roundtrip") => format!(
                            "; single round trips p50 {} vs {}, p99 {} vs {}",
                            fmt_ns(x.p50),
                            fmt_ns(y.p50),
                            fmt_ns(x.p99),
                            fmt_ns(y.p99)
                        ),
                        _ => String::new(),
                    };
                    row(
                        s,
                        &format!("{target}: ipc faster (7)"),
                        format!(
                            "{} vs {}: iceoryx2 time ÷ ipc time = {}{p50}",
                            fmt_ns(a.per_elem()),
                            fmt_ns(b.per_elem()),
                            fmt_ratio(r)
                        ),
                        Some(r > 1.0),
                    );
                }
                _ => row(
                    s,
                    &format!("{target} (7)"),
                    "iceoryx2 not built (cargo feature `iceoryx2`)".into(),
                    None,
                ),
            }
        }
        let _ = writeln!(s);
    }

    fn pool(&self, s: &mut String) {
        let _ = writeln!(s, "## Pool: apply_async and map\n");
        let rows: Vec<(&String, &Bench)> = self
            .results
            .iter()
            .filter(|(g, _)| g.starts_with("pool_"))
            .flat_map(|(g, v)| v.iter().map(move |b| (g, b)))
            .collect();
        if rows.is_empty() {
            let _ = writeln!(
                s,
                "**TODO:** no `pool_*` results (host-runtime's `Pool` bench, \
                 `benches/benches/pool.rs`, was missing or did not build). No figure is made up.\n"
            );
            return;
        }
        let _ = writeln!(
            s,
            "From `benches/benches/pool.rs` (another engineer's target, run by this command): \
             host-runtime's `Pool` with 2 workers on the scenarios of Python's script (trivial \
             `noop` tasks), each checked before it is timed.\n"
        );
        let py = self.python.and_then(|p| p.as_ref().ok()).map(|(_, f)| f);
        let _ = writeln!(
            s,
            "| benchmark | median per iteration | tasks or items/s | Python | ipc is faster by |\n|---|--:|--:|--:|--:|"
        );
        for (g, b) in rows {
            let py_key = match (g.as_str(), b.function.as_str()) {
                ("pool_apply_async", _) => Some("pool_apply_async"),
                ("pool_map", "100k") => Some("pool_map"),
                _ => None,
            };
            let py_val = py_key.and_then(|k| py.and_then(|f| f.get(k)));
            let _ = writeln!(
                s,
                "| `{g}/{}` | {} | {} | {} | {} |",
                b.function,
                fmt_ns(b.median),
                b.rate().map_or(String::new(), fmt_rate),
                py_val.map_or(String::new(), |(v, u)| format!("{v:.0} {u}")),
                match (py_val, b.rate()) {
                    (Some((v, _)), Some(r)) => fmt_ratio(r / v),
                    _ => String::new(),
                }
            );
        }
        let _ = writeln!(s);
    }

    fn memory(&self, s: &mut String) {
        let _ = writeln!(s, "## Memory\n");
        let _ = writeln!(
            s,
            "Shared memory of one `ipc_core::ByteQueue` (`ByteQueue::memory_size(capacity, \
             max_message_len)`: a 640-byte header, then per slot 16 bytes + the message rounded \
             up to 8). Pages are committed as slots are first used (`init_raw` with `Contents::Zeroed` on a fresh \
             mapping), so a mostly empty big queue costs little resident memory.\n"
        );
        let caps = [2usize, 64, 1024, 65536];
        let sizes = [8usize, 64, 1024, 65536];
        let table = memory::size_table(&caps, &sizes);
        let _ = write!(s, "| capacity \\ message |");
        for z in sizes {
            let _ = write!(s, " {z} B |");
        }
        let _ = writeln!(s, "\n|--:|{}", "--:|".repeat(sizes.len()));
        for cap in caps {
            let _ = write!(s, "| {cap} |");
            for z in sizes {
                let v = table
                    .iter()
                    .find(|(c, sz, _)| *c == cap && *sz == z)
                    .and_then(|t| t.2);
                let _ = write!(
                    s,
                    " {} |",
                    v.map_or("refused".into(), |b| format!(
                        "{} ({b} B)",
                        fmt_bytes(b as f64)
                    ))
                );
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s);
        match self.rss {
            Ok(r) => {
                let _ = writeln!(
                    s,
                    "**Peak RSS of a consumer** (a forked process popping {} 64-byte messages \
                     from a `ByteQueue` of capacity 1,024 in shared memory, blocking API; \
                     `getrusage(RUSAGE_SELF).ru_maxrss` in the consumer): **{}** after the last \
                     message; {} after the first {} messages, so the other {} messages added \
                     **{}**; {} just after the fork. At the end `VmRSS` = {}, of which \
                     `RssShmem` = {} (the queue is {} of shared memory).\n",
                    r.messages,
                    fmt_bytes(r.max_rss_end as f64 * 1024.0),
                    fmt_bytes(r.max_rss_early as f64 * 1024.0),
                    r.early_at,
                    r.messages.saturating_sub(r.early_at),
                    fmt_bytes(r.max_rss_end.saturating_sub(r.max_rss_early) as f64 * 1024.0),
                    fmt_bytes(r.max_rss_start as f64 * 1024.0),
                    fmt_bytes(r.rss_end as f64 * 1024.0),
                    fmt_bytes(r.shmem_end as f64 * 1024.0),
                    fmt_bytes(r.queue_bytes as f64),
                );
            }
            Err(e) => {
                let _ = writeln!(s, "Peak RSS of a consumer: not measured ({e}).\n");
            }
        }
    }

    fn python_section(&self, s: &mut String) {
        let _ = writeln!(s, "## Python's multiprocessing\n");
        let Some(py) = self.python else {
            let _ = writeln!(s, "Not run (`--no-python`).\n");
            return;
        };
        let (version, f) = match py {
            Ok(v) => v,
            Err(e) => {
                let _ = writeln!(s, "Not measured: {e}.\n");
                return;
            }
        };
        let _ = writeln!(
            s,
            "`python3 ../shared/peers/python_mp_bench.py` ({version}, fork start method), run by \
             the same command right after the benches, same scenarios: 64-byte `bytes` through a \
             `Queue(1024)` from a child process; a round trip through two queues; process start + \
             join.\n"
        );
        let _ = writeln!(
            s,
            "| figure | Python | ipc | ipc is faster by |\n|---|--:|--:|--:|"
        );
        let tp = self.find(
            "xproc_throughput_64B",
            "host_runtime::Queue<Vec<u8>> put/get",
        );
        let raw = self.find("xproc_throughput_64B", "host_runtime::RawQueue put/get");
        let rt = self.find(
            "xproc_roundtrip_64B",
            "host_runtime::Queue<Vec<u8>> put+get",
        );
        let pj = self.find("process_spawn_join", "host_runtime::Process start+join");
        for (k, (v, u)) in f {
            let (ours, ratio) = match k.as_str() {
                "queue_throughput_64B" => {
                    let mut o = Vec::new();
                    let mut r = Vec::new();
                    for (label, b) in [("`Queue<Vec<u8>>`", tp), ("`RawQueue`", raw)] {
                        if let Some(rate) = b.and_then(Bench::rate) {
                            o.push(format!("{} ({label})", fmt_rate(rate)));
                            r.push(fmt_ratio(rate / v));
                        }
                    }
                    (o.join(", "), r.join(", "))
                }
                "queue_roundtrip" => rt.map_or((String::new(), String::new()), |b| {
                    (
                        format!("{} (`Queue<Vec<u8>>`)", fmt_ns(b.median)),
                        fmt_ratio(v * 1e3 / b.median),
                    )
                }),
                "process_start_join" => pj.map_or((String::new(), String::new()), |b| {
                    (
                        format!("{} (`Process`)", fmt_ns(b.median)),
                        fmt_ratio(v * 1e3 / b.median),
                    )
                }),
                "pool_apply_async" | "pool_map" => {
                    let b = if k == "pool_map" {
                        self.find("pool_map", "100k")
                    } else {
                        self.find("pool_apply_async", "10k")
                    };
                    b.and_then(Bench::rate)
                        .map_or(("no Pool figure".into(), "—".into()), |r| {
                            (format!("{} (`Pool`)", fmt_rate(r)), fmt_ratio(r / v))
                        })
                }
                _ => ("—".into(), "—".into()),
            };
            let _ = writeln!(s, "| `{k}` | {v} {u} | {ours} | {ratio} |");
        }
        let _ = writeln!(s);
    }

    fn method(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "## How this was measured\n\n\
             * Source: `benches/benches/{{core_queue,threads,xproc,spawn}}.rs`, shared code in \
             `benches/src/` (the peers, the thread rig, the latency loop); this report: \
             `benches/src/bin/report.rs`. Every bench checks its result before it is timed, and \
             every message's sequence number (or a checksum of them) while timed.\n\
             * Throughput groups time batches with `iter_custom`: helpers (threads or a forked \
             process) stay alive and wait at a gate between batches; a batch's time runs from the \
             start signal to the last message received.\n\
             * Every waiting side of every peer uses the same backoff (spins doubling up to 127 in \
             all, then `sched_yield`), except the floors (one spin per look, 127 looks, then \
             `sched_yield`), the blocking variants (ipc's `blocking`, `RawQueue`, `Queue`: one \
             loop, `host_runtime::wait`: an adaptive 0.5–16 µs spin, then 16 yields and a futex \
             sleep on the queue's wait word) and the transports that block in the kernel (pipe, \
             socket, message queue, futex ping-pong).\n\
             * The spin ping-pong is the floor: one word in shared memory, no payload, no queue. \
             The spin mailbox is the floor for a 64-byte message: the message and a sequence \
             word in two cache lines per direction, no claims, no queue. \
             The futex ping-pong is `../shared/peers/baselines`'s: wake always, wait without \
             spinning.\n\
             * iceoryx2 0.10: `ipc::Service` publish-subscribe of `[u8; 64]` with `send_copy`, \
             polled `receive()`, no safe overflow and `RetryUntilDelivered` (so nothing is lost), \
             subscriber buffer = the capacity of the group. It is built with the cargo feature \
             `iceoryx2` (the report command turns it on; CI's quick pass leaves it out).\n\
             * Throughput ratios compare time per message; round-trip p50/p99 come from the \
             report's own loop, not from criterion.\n\
             * On 2 cores, the threaded MPMC groups run more busy threads than there are cores; \
             their figures say more about scheduling and backoff than about the queues.\n"
        );
    }

    // ---- the picture ---------------------------------------------------------------------------

    fn svg(&self) -> String {
        // (section title, peer, ratio)
        let mut bars: Vec<(String, String, f64)> = Vec::new();
        for sec in SECTIONS {
            let Some(reference) = self.reference(sec) else {
                continue;
            };
            for b in self.rows(sec.group) {
                if std::ptr::eq(b, reference)
                    || b.function.starts_with("ipc_core")
                    || b.function.starts_with("host_runtime")
                {
                    continue;
                }
                bars.push((
                    format!("{} (vs {})", sec.group, reference.function),
                    b.function.clone(),
                    b.per_elem() / reference.per_elem(),
                ));
            }
        }
        let (lo, hi) = (0.02f64, 1000.0f64);
        let width = 980.0;
        let label_w = 430.0;
        let plot_w = width - label_w - 80.0;
        let bar_h = 14.0;
        let mut y = 50.0;
        let x_of = |r: f64| {
            label_w + (r.clamp(lo, hi).log10() - lo.log10()) / (hi.log10() - lo.log10()) * plot_w
        };
        let mut body = String::new();
        let mut last_group = String::new();
        for (group, peer, r) in &bars {
            if *group != last_group {
                y += 8.0;
                let _ = writeln!(
                    body,
                    r#"<text x="4" y="{:.0}" class="g">{}</text>"#,
                    y + 10.0,
                    esc(group)
                );
                y += 16.0;
                last_group = group.clone();
            }
            let x1 = x_of(1.0);
            let x2 = x_of(*r);
            let (x, w, class) = if x2 >= x1 {
                (x1, x2 - x1, "fast")
            } else {
                (x2, x1 - x2, "slow")
            };
            let _ = writeln!(
                body,
                r#"<text x="{:.0}" y="{:.0}" class="l">{}</text>"#,
                label_w - 6.0,
                y + 11.0,
                esc(peer)
            );
            let _ = writeln!(
                body,
                r#"<rect x="{x:.1}" y="{y:.0}" width="{:.1}" height="{bar_h}" class="{class}"/>"#,
                w.max(1.0)
            );
            let (tx, anchor) = if x2 >= x1 {
                (x2 + 4.0, "start")
            } else {
                (x2 - 4.0, "end")
            };
            let _ = writeln!(
                body,
                r#"<text x="{tx:.0}" y="{:.0}" class="v" text-anchor="{anchor}">{}</text>"#,
                y + 11.0,
                fmt_ratio(*r)
            );
            y += bar_h + 3.0;
        }
        let height = y + 30.0;
        let mut grid = String::new();
        for t in [0.1, 0.5, 1.0, 2.0, 10.0, 100.0, 1000.0] {
            let x = x_of(t);
            let _ = writeln!(
                grid,
                r#"<line x1="{x:.1}" y1="40" x2="{x:.1}" y2="{:.0}" class="{}"/>"#,
                height - 20.0,
                if t == 1.0 { "one" } else { "grid" }
            );
            let _ = writeln!(grid, r#"<text x="{x:.1}" y="34" class="t">{}×</text>"#, t);
        }
        format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0}" viewBox="0 0 {width} {height:.0}" font-family="sans-serif" font-size="11">
<style>
.g {{ font-weight: bold; fill: #222; }} .l {{ text-anchor: end; fill: #333; }} .v {{ fill: #333; }}
.t {{ text-anchor: middle; fill: #555; }} .fast {{ fill: #3a7d44; }} .slow {{ fill: #c0392b; }}
.grid {{ stroke: #ddd; }} .one {{ stroke: #000; }}
</style>
<rect width="100%" height="100%" fill="white"/>
<text x="4" y="16" font-size="13" font-weight="bold">Peer time ÷ ipc time, per group (log scale; green, right of 1×: ipc faster; red: the peer is faster)</text>
{grid}{body}</svg>
"##
        )
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
