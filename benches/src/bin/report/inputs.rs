//! What the report reads: criterion's results of this run, its own latency loop, Python's
//! figures and the machine.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use benches::latency::{self, Percentiles};
use benches::roundtrip;

/// One criterion benchmark of this run.
#[derive(Clone, Debug)]
pub(crate) struct Bench {
    pub(crate) function: String,
    /// Median of the per-iteration time, ns.
    pub(crate) median: f64,
    /// Elements per iteration, if the group declared a throughput.
    pub(crate) elements: Option<u64>,
}

impl Bench {
    /// Time per element (message), ns.
    pub(crate) fn per_elem(&self) -> f64 {
        self.median / self.elements.unwrap_or(1) as f64
    }

    /// Elements per second.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.elements.map(|n| n as f64 / self.median * 1e9)
    }
}

/// Group id → benchmarks in the order of their function ids.
pub(crate) type Results = BTreeMap<String, Vec<Bench>>;

/// Every benchmark under criterion's directory `dir` (`<group>/<function>/new/`), or only those
/// written since `since`.
pub(crate) fn read_criterion(dir: &Path, since: Option<SystemTime>) -> Result<Results, String> {
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
pub(crate) type Latencies = Vec<(String, Result<Percentiles, String>)>;

/// Single round trips over every round-trip peer: median and tail of each (criterion only sees
/// batches). `quick`: a short loop, to try the pipeline.
pub(crate) fn latency_loop(quick: bool) -> Latencies {
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

/// The interleaved round trips (`benches::interleaved`): the peers of the round-trip targets,
/// measured round by round in one run, for same-run ratios.
pub(crate) struct Interleaved {
    /// Timed round trips per peer and round.
    pub(crate) n: u64,
    /// Rounds.
    pub(crate) rounds: usize,
    /// The load average (1/5/15 min) when the step started.
    pub(crate) load: String,
    /// Each peer's name and its time per round trip in each round (ns), or why it has none.
    pub(crate) times: Vec<(String, Result<Vec<f64>, String>)>,
}

impl Interleaved {
    /// Peer `name`'s per-round times, or why there are none.
    pub(crate) fn times(&self, name: &str) -> Result<&[f64], String> {
        match self.times.iter().find(|(n, _)| n == name) {
            Some((_, Ok(v))) if !v.is_empty() => Ok(v),
            Some((_, Ok(_))) => Err(format!("`{name}`: no rounds")),
            Some((_, Err(e))) => Err(format!("`{name}`: {e}")),
            None => Err(format!("`{name}` not in the interleaved round trips")),
        }
    }
}

/// Round trips over the peers `names` (the round-trip targets'), interleaved round by round:
/// 31 rounds of 100,000 (for the targets' 8 peers about 11 s, 25 s where the host runs the
/// two vCPUs far apart; `quick`: 5 of 5,000). A name
/// that is no peer of this build (iceoryx2's without its cargo feature) is recorded as not
/// measured.
pub(crate) fn interleaved(names: &[&str], quick: bool) -> Interleaved {
    let (n, rounds) = if quick { (5_000, 5) } else { (100_000, 31) };
    let load = crate::load_avg();
    let peers: Vec<Result<roundtrip::Peer, String>> = names
        .iter()
        .map(|&name| {
            benches::interleaved::peer(name).ok_or_else(|| match crate::table::feature_of(name) {
                Some(f) => format!("built without the cargo feature `{f}`"),
                None => "no such round-trip peer".to_string(),
            })
        })
        .collect();
    let times = benches::interleaved::rounds(&peers, n, rounds, |p| match p {
        Ok(p) => (p.make)(),
        Err(e) => Err(std::io::Error::other(e.clone())),
    });
    Interleaved {
        n,
        rounds,
        load,
        times: names.iter().map(|n| n.to_string()).zip(times).collect(),
    }
}

/// Python's figures: name → (value, unit), or why there are none.
pub(crate) type Python = Result<(String, BTreeMap<String, (f64, String)>), String>;

/// Python's scripts, relative to the repository root: the shared peers' figures, and CPython's
/// sustained streams (this crate's).
pub(crate) const PY_SCRIPTS: &[&str] = &[
    "../shared/peers/python_mp_bench.py",
    "benches/python/sustained_mp.py",
];

/// Runs `python3 rel` (a path relative to the repository `root`) and reads its
/// `name value unit` lines.
pub(crate) fn python(root: &Path, rel: &str) -> Python {
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

/// What the benches ran on.
pub(crate) struct Machine {
    pub(crate) thp: String,
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) kernel: String,
    pub(crate) rustc: String,
    pub(crate) date: String,
}

impl Machine {
    pub(crate) fn probe() -> Machine {
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
