//! Runs the whole comparison and writes `BENCHMARKS.md` (and `benches/report/ratios.svg`).
//!
//! ```sh
//! cargo run --release -p benches --features all-peers --bin report
//! ```
//!
//! 1. `cargo bench -p benches` over every bench target (criterion, warm-up 1 s, measurement
//!    3 s), with the same peers' features (`iceoryx2`, `ipc-channel`, `interprocess`; all
//!    three: `all-peers`) this binary was built with;
//! 2. its own latency loop: single round trips over every round-trip peer, for median and p99
//!    (criterion only sees batches);
//! 3. the interleaved round trips (`benches::interleaved`, as `src/bin/rtt.rs`): the peers of
//!    the round-trip targets measured round by round in one run, 31 rounds of 100,000 round
//!    trips (11-25 s), for the same-run ratios those targets are judged on (criterion times
//!    each row minutes apart);
//! 4. the memory figures: `ByteQueue::memory_size` for a grid of capacities and message sizes,
//!    and the peak RSS of a consumer process after 10,000,000 messages;
//! 5. `python3 ../shared/peers/python_mp_bench.py` (relative to the repository root), if there,
//!    and `python3 benches/python/sustained_mp.py` (CPython's sustained streams);
//! 6. the code size of `ipc-core/examples/code_size.rs`'s functions on thumbv7em-none-eabihf
//!    (`opt-level = "s"`; needs that rustup target, `llvm-nm` and `llvm-objdump`);
//! 7. reads criterion's `benchmark.json` and `estimates.json` of this run and writes the tables.
//!
//! The files: this one runs the steps; `inputs.rs` reads what they produced; `table.rs` says,
//! as data, what the report shows (groups, their reference rows, the issues' targets, the
//! Python comparisons), naming every benchmark by its constant in `benches::ids`;
//! `code_size.rs` measures the code sizes; `markdown.rs` and `svg.rs` write it out; `fmt.rs`
//! formats numbers.
//!
//! Options: `--skip-bench` (reuse the criterion results already in the target directory; the
//! steps after criterion's, short, run again, as the latency loop and Python do),
//! `--quick` (short criterion times and small loops, 5 interleaved rounds of 5,000, to try the
//! pipeline), `--no-python`,
//! `--out PATH` (instead of `BENCHMARKS.md` at the repository root).

mod code_size;
mod fmt;
mod inputs;
mod markdown;
mod svg;
mod table;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use benches::memory;

use inputs::{interleaved, latency_loop, python, read_criterion, Machine};
use markdown::Doc;

/// Bench targets the report runs, in order.
const BENCHES: &[&str] = &["core_queue", "threads", "xproc", "spawn", "lock"];

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
    let features: Vec<String> = match table::features() {
        f if f.is_empty() => Vec::new(),
        f => vec!["--features".into(), f.join(",")],
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
                .args(&features)
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
        cmd.args(["bench", "-p", "benches"]).args(&features);
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
    eprintln!("report: interleaved round trips");
    let t = std::time::Instant::now();
    let interleaved = interleaved(&table::round_trip_peers(), opts.quick);
    eprintln!(
        "report: interleaved round trips took {:.1} s",
        t.elapsed().as_secs_f64()
    );
    eprintln!("report: memory");
    let rss = memory::consumer_rss(if opts.quick { 1_000_000 } else { RSS_MESSAGES });
    let python = if opts.python {
        eprintln!("report: python");
        // Every script's figures in one map; a script that failed is a note.
        let mut merged: Option<inputs::Python> = None;
        for rel in inputs::PY_SCRIPTS {
            match (python(&root, rel), &mut merged) {
                (Ok((_, figures)), Some(Ok((_, all)))) => all.extend(figures),
                (Ok(got), _) => merged = Some(Ok(got)),
                (Err(e), _) => notes.push(format!("Python: {e}")),
            }
        }
        Some(merged.unwrap_or_else(|| Err("no Python script ran".into())))
    } else {
        None
    };
    let load_end = load_avg();
    eprintln!("report: code size");
    let code_sizes = code_size::measure(&root, &target);

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
        interleaved: &interleaved,
        rss: &rss,
        python: python.as_ref(),
        code_sizes: &code_sizes,
        machine: &machine,
        loads: [load_before, load_after_bench, load_end],
        quick: opts.quick,
        notes: &notes,
        features: &features,
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
