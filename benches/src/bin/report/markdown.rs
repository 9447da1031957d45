//! The report as Markdown: the targets, a table per group, the pool, memory and Python's
//! figures, and how it was measured.

use std::fmt::Write as _;

use benches::ids::{group, xproc_roundtrip as rt};
use benches::interleaved::Spread;
use benches::latency::Percentiles;
use benches::memory;

use crate::code_size::{self, Sizes};
use crate::fmt::{fmt_bytes, fmt_count, fmt_ns, fmt_rate, fmt_ratio, fmt_spread};
use crate::inputs::{Bench, Interleaved, Latencies, Machine, Python, Results};
use crate::table::{
    self, Cell, Peer, Section, Target, CODE_SIZES, PYTHON, SECTIONS, STREAMS, STREAM_COLUMNS,
    TARGETS,
};

/// Everything the report shows, gathered by `run`.
pub(crate) struct Doc<'a> {
    pub(crate) results: &'a Results,
    pub(crate) latencies: &'a Latencies,
    pub(crate) interleaved: &'a Interleaved,
    pub(crate) rss: &'a std::io::Result<memory::ConsumerRss>,
    pub(crate) python: Option<&'a Python>,
    pub(crate) code_sizes: &'a Sizes,
    pub(crate) machine: &'a Machine,
    pub(crate) loads: [String; 3],
    pub(crate) quick: bool,
    pub(crate) notes: &'a [String],
    /// The arguments that turned the optional peers on (`--features a,b`), if any.
    pub(crate) features: &'a [String],
}

impl Doc<'_> {
    /// Benchmark `function` of `group`, if it ran.
    fn find(&self, group: &str, function: &str) -> Option<&Bench> {
        self.results
            .get(group)?
            .iter()
            .find(|b| b.function == function)
    }

    pub(crate) fn reference<'s>(&'s self, s: &Section) -> Option<&'s Bench> {
        s.reference.iter().find_map(|f| self.find(s.group, f))
    }

    /// Rows of a group in a stable order: ipc's first, then the peers by median.
    pub(crate) fn rows(&self, group: &str) -> Vec<&Bench> {
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

    /// `BENCHMARKS.md`, with the picture at `svg` (relative to it).
    pub(crate) fn markdown(&self, svg: &str) -> String {
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
        self.streams(&mut s);

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
            if SECTIONS.iter().any(|sec| sec.group == group)
                || group.starts_with(group::POOL_PREFIX)
            {
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
        self.code_size(&mut s);
        self.python_section(&mut s);
        self.method(&mut s);
        s
    }

    fn section(&self, s: &mut String, sec: &Section) {
        let rows = self.rows(sec.group);
        if rows.is_empty() {
            if sec.group == group::XPROC_ROUNDTRIP_64B {
                // No criterion rows (that bench did not run): the same-run figures still stand.
                let _ = writeln!(s, "## {}\n", sec.title);
                self.interleaved_table(s);
            }
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
        let roundtrip = sec.group == group::XPROC_ROUNDTRIP_64B;
        if roundtrip {
            let _ = writeln!(
                s,
                "Criterion, each row timed on its own, one after another (the interleaved \
                 round trips below give the same-run ratios):\n"
            );
        }
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
            self.interleaved_table(s);
        }
    }

    /// The interleaved round trips: each peer's time and its per-round ratios to the two
    /// floors, the figures the round-trip targets are judged on.
    fn interleaved_table(&self, s: &mut String) {
        let iv = self.interleaved;
        let _ = writeln!(
            s,
            "**Same run, peers interleaved** (the round-trip targets' figures): {} rounds in one \
             run of the report (load average {} at its start); each round makes every peer \
             afresh (a new echo process), runs {} untimed and {} timed round trips and drops \
             it, one peer after another, so a change in how the host runs the two vCPUs hits \
             every peer of a round alike. Each ratio is taken within a round (the peer's time \
             ÷ the floor's), then the median over the rounds, with the quartiles and extremes. \
             Criterion's rows above are timed minutes apart, and this VM's floors move up to 4× \
             between placements of its vCPUs, so a ratio of two criterion rows can mislead. \
             Code: `benches/src/interleaved.rs`, also run by `cargo run --release -p benches \
             --bin rtt`.{}\n",
            iv.rounds,
            iv.load,
            fmt_count(iv.n / 10),
            fmt_count(iv.n),
            if iv.times.iter().any(|(n, _)| n == rt::QUEUE_U64) {
                " `Queue<u64>` (8-byte messages; the echo answers `n + 1`) is measured here \
                 only: its criterion row is `typed_round_trip`'s, in `benches/benches/typed.rs`, \
                 which this report does not run."
            } else {
                ""
            }
        );
        // A floor whose rounds differ by more than half: the placement changed during the step.
        let moved: Vec<String> = [
            (rt::FLOOR, "spin ping-pong"),
            (rt::MAILBOX_FLOOR, "64-byte mailbox"),
        ]
        .into_iter()
        .filter_map(|(id, name)| {
            let f = Spread::of(iv.times(id).ok()?)?;
            (f.max > 1.5 * f.min).then(|| {
                format!(
                    "{name} {}–{}, {}",
                    fmt_ns(f.min),
                    fmt_ns(f.max),
                    fmt_ratio(f.max / f.min)
                )
            })
        })
        .collect();
        if !moved.is_empty() {
            let _ = writeln!(
                s,
                "> The floors moved during this step ({}): the host ran the two vCPUs \
                 differently from round to round. A queue's ratio to a floor differs between \
                 placements (a slow floor hides the fixed cost a queue adds to each hand-off), \
                 so the median leans to the placement most rounds had; the quartiles and \
                 extremes show the others.\n",
                moved.join("; ")
            );
        }
        let _ = writeln!(
            s,
            "| peer | median per round trip | rounds: fastest–slowest | ÷ spin ping-pong, per round: median | quartiles, all | ÷ 64-byte mailbox, per round: median | quartiles, all |"
        );
        let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|");
        for (name, times) in &iv.times {
            let times = match times {
                Ok(v) => v,
                Err(e) => {
                    let _ = writeln!(s, "| `{name}` | not measured: {e} | | | | | |");
                    continue;
                }
            };
            let Some(own) = Spread::of(times) else {
                let _ = writeln!(s, "| `{name}` | no rounds | | | | | |");
                continue;
            };
            let _ = write!(
                s,
                "| `{name}` | {} | {}–{} |",
                fmt_ns(own.median),
                fmt_ns(own.min),
                fmt_ns(own.max)
            );
            for floor in [rt::FLOOR, rt::MAILBOX_FLOOR] {
                let ratio = iv
                    .times(floor)
                    .ok()
                    .filter(|_| floor != name)
                    .and_then(|f| Spread::of(&benches::interleaved::ratios(times, f)));
                match ratio {
                    Some(r) => {
                        let _ = write!(s, " {} | {} |", fmt_ratio(r.median), fmt_spread(&r));
                    }
                    None => {
                        let _ = write!(s, " — | |");
                    }
                }
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s);
    }

    /// The speed targets of the issues ([`TARGETS`]), met or missed.
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
            "Statuses use criterion's medians, except round trips: those use the median of the \
             per-round ratios of the interleaved round trips (*same run*: both peers measured in \
             the same rounds of one run, see the round-trip section), with criterion's medians \
             (rows timed minutes apart) and the latency loop's single-round-trip p50 and p99 \
             beside. Each ratio is the one its target bounds: our time ÷ the peer's for \"≤\", \
             the peer's time ÷ ours for \"faster\" and \"≥\".\n"
        );
        self.target_rows(s, TARGETS.iter());
    }

    /// The targets table: one row per target of `targets`.
    fn target_rows<'t>(&self, s: &mut String, targets: impl Iterator<Item = &'t Target>) {
        let _ = writeln!(s, "| target (issue) | measured | status |");
        let _ = writeln!(s, "|---|---|---|");
        for t in targets {
            let label = t.label.replace("{ours}", &format!("`{}`", t.ours));
            let (measured, status) = match self.target(t) {
                Ok((measured, true)) => (measured, "met"),
                Ok((measured, false)) => (measured, "**missed**"),
                Err(missing) => (missing, "not measured"),
            };
            let _ = writeln!(s, "| {label} ({}) | {measured} | {status} |", t.issue);
        }
        let _ = writeln!(s);
    }

    /// *Sustained streams*: every cross-process peer's rate in gated batches and in the
    /// sustained scenarios side by side ([`STREAMS`]), then issue 17's targets.
    fn streams(&self, s: &mut String) {
        let _ = writeln!(s, "## Sustained streams\n");
        let _ = writeln!(
            s,
            "Messages per second between processes. *Gated*: the producer waits at a gate after \
             each batch of 4,096 and the queue holds a whole batch (`xproc_throughput_64B`). \
             *Sustained*: forked producers `put` in a free-running loop and the consumer `get`s \
             in its own, the queue filling and draining as it will, 1,024 slots where the peer \
             has a capacity; a measured run moves at least 10 M messages through our queues \
             (`sustained_*` groups, `benches/src/sustained.rs`). Every message's sequence number \
             is checked. CPython's figures: `benches/python/sustained_mp.py` (its own, smaller \
             count). — : not a scenario of that peer; *not run*: a peer of a cargo feature this \
             report was built without, or a figure missing.\n"
        );
        let _ = write!(s, "| peer |");
        for c in STREAM_COLUMNS {
            let _ = write!(s, " {c} |");
        }
        let _ = writeln!(s, "\n|---|{}", "--:|".repeat(STREAM_COLUMNS.len()));
        for (name, cells) in STREAMS {
            let _ = write!(s, "| {name} |");
            for cell in cells {
                let text = match *cell {
                    Cell::None => "—".to_string(),
                    Cell::Bench(group, id) => self
                        .find(group, id)
                        .and_then(Bench::rate)
                        .map_or_else(|| "not run".to_string(), fmt_rate),
                    Cell::Python(key) => self
                        .python_figure(key)
                        .map_or_else(|_| "not run".to_string(), fmt_rate),
                };
                let _ = write!(s, " {text} |");
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "\nIssue 17's targets (also in the table above):\n");
        self.target_rows(s, TARGETS.iter().filter(|t| t.issue == 17));
    }

    /// One target's figures, and whether it is met; or what is missing.
    fn target(&self, t: &Target) -> Result<(String, bool), String> {
        if !table::is_round_trip(t) {
            return self.criterion_target(t);
        }
        // A round trip: judged on the same-run ratio, criterion's beside it; on criterion's
        // alone (and saying so) only if the interleaved step has no figure.
        const CRITERION: &str = "criterion medians, rows timed minutes apart:";
        match (self.same_run(t), self.criterion_target(t)) {
            (Ok((same, met)), Ok((crit, _))) => {
                Ok((format!("same run: {same}; {CRITERION} {crit}"), met))
            }
            (Ok((same, met)), Err(missing)) => {
                Ok((format!("same run: {same}; criterion: {missing}"), met))
            }
            (Err(why), Ok((crit, met))) => Ok((
                format!("same run: not measured ({why}); {CRITERION} {crit}"),
                met,
            )),
            (Err(why), Err(missing)) => Err(format!(
                "same run: not measured ({why}); criterion: {missing}"
            )),
        }
    }

    /// A round-trip target's same-run figures (the interleaved round trips): each side's
    /// median time, the median of the per-round ratios and their spread, the same against the
    /// peer shown for scale; and whether the median ratio meets the target.
    fn same_run(&self, t: &Target) -> Result<(String, bool), String> {
        let Peer::Bench(peer) = t.peer else {
            return Err("its peer is no round trip".into());
        };
        let iv = self.interleaved;
        let ours = iv.times(t.ours)?;
        let against = |id: &str| -> Result<(f64, Spread), String> {
            let theirs = iv.times(id)?;
            let per_round: Vec<f64> = ours
                .iter()
                .zip(theirs)
                .map(|(&a, &b)| t.goal.ratio(a, b))
                .collect();
            let median = Spread::of(theirs).map_or(f64::NAN, |s| s.median);
            Ok((median, Spread::of(&per_round).ok_or("no rounds")?))
        };
        let (theirs, ratio) = against(peer)?;
        let mut text = format!(
            "{} vs {}: {} (per round, {} rounds: {})",
            fmt_ns(Spread::of(ours).map_or(f64::NAN, |s| s.median)),
            fmt_ns(theirs),
            fmt_ratio(ratio.median),
            ratio.n,
            fmt_spread(&ratio)
        );
        if let Some((id, name)) = t.scale {
            if let Ok((theirs, r)) = against(id) {
                let _ = write!(
                    text,
                    "; vs {name} ({}): {} ({})",
                    fmt_ns(theirs),
                    fmt_ratio(r.median),
                    fmt_spread(&r)
                );
            }
        }
        Ok((text, t.goal.met(ratio.median)))
    }

    /// A target's figures from criterion's medians (and, for a round trip, the latency loop's
    /// percentiles), and whether it is met by them; or what is missing.
    fn criterion_target(&self, t: &Target) -> Result<(String, bool), String> {
        let ours = self
            .find(t.group, t.ours)
            .ok_or_else(|| missing(t.group, t.ours))?;
        let peer = match t.peer {
            Peer::Bench(id) => {
                let b = self.find(t.group, id).ok_or_else(|| missing(t.group, id))?;
                (b.per_elem(), b.rate())
            }
            Peer::Other(group, id) => {
                let b = self.find(group, id).ok_or_else(|| missing(group, id))?;
                (b.per_elem(), b.rate())
            }
            Peer::Python(key) => {
                let rate = self.python_figure(key)?;
                (1e9 / rate, Some(rate))
            }
        };
        // Throughput groups show rates, the others times.
        let show = |(per_elem, rate): (f64, Option<f64>)| match ours.elements {
            Some(_) => fmt_rate(rate.unwrap_or(0.0)),
            None => fmt_ns(per_elem),
        };
        let mine = (ours.per_elem(), ours.rate());
        let ratio = t.goal.ratio(mine.0, peer.0);
        let mut text = format!("{} vs {}: {}", show(mine), show(peer), fmt_ratio(ratio));
        // The latency loop's peers are the round-trip group's.
        if let (group::XPROC_ROUNDTRIP_64B, Peer::Bench(id)) = (t.group, t.peer) {
            if let (Some(a), Some(b)) = (self.latency(t.ours), self.latency(id)) {
                let _ = write!(
                    text,
                    "; single round trips: p50 {} vs {}: {}, p99 {} vs {}: {}",
                    fmt_ns(a.p50),
                    fmt_ns(b.p50),
                    fmt_ratio(t.goal.ratio(a.p50, b.p50)),
                    fmt_ns(a.p99),
                    fmt_ns(b.p99),
                    fmt_ratio(t.goal.ratio(a.p99, b.p99))
                );
            }
        }
        if let Some((id, name)) = t.scale {
            if let Some(b) = self.find(t.group, id) {
                let theirs = (b.per_elem(), b.rate());
                let _ = write!(
                    text,
                    "; vs {name} ({}): {}",
                    show(theirs),
                    fmt_ratio(t.goal.ratio(mine.0, theirs.0))
                );
            }
        }
        Ok((text, t.goal.met(ratio)))
    }

    /// Python's figure `key`, a rate; or why there is none.
    fn python_figure(&self, key: &str) -> Result<f64, String> {
        match self.python {
            None => Err("Python not run (`--no-python`)".into()),
            Some(Err(_)) => Err("Python figures missing".into()),
            Some(Ok((_, figures))) => figures
                .get(key)
                .map(|&(v, _)| v)
                .ok_or_else(|| format!("no Python figure `{key}`")),
        }
    }

    fn pool(&self, s: &mut String) {
        let _ = writeln!(s, "## Pool: apply_async and map\n");
        let rows: Vec<(&String, &Bench)> = self
            .results
            .iter()
            .filter(|(g, _)| g.starts_with(group::POOL_PREFIX))
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
            let py_key = PYTHON.iter().find_map(|&(key, ours)| {
                ours.iter()
                    .any(|&(group, id, _)| group == g && id == b.function)
                    .then_some(key)
            });
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
            "Shared memory of one `ipc_core::ByteQueue` (`ByteQueue::memory_size(Config::new(\
             capacity, max_message_len))`: a 640-byte header, then per slot 16 bytes + the \
             message rounded up to 8). Pages are committed as slots are first used (`init_raw` with `Contents::Zeroed` on a fresh \
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

    /// The code sizes of [`CODE_SIZES`], ours beside heapless's.
    fn code_size(&self, s: &mut String) {
        let _ = writeln!(s, "## Code size on {}\n", code_size::TARGET);
        let _ = writeln!(
            s,
            "For bare-metal users: `ipc-core/examples/code_size.rs` built for `{}` (release, \
             `opt-level = \"s\"`), one `#[no_mangle]` function per operation pair on `u32` \
             items, 16 slots. Bytes are the function's own plus those of every function it \
             calls out of line (each once; `llvm-nm` sizes, calls from `llvm-objdump`).\n",
            code_size::TARGET
        );
        let sizes = match self.code_sizes {
            Ok(sizes) => sizes,
            Err(e) => {
                let _ = writeln!(s, "Not measured: {e}.\n");
                return;
            }
        };
        let _ = writeln!(
            s,
            "| operation pair | function | bytes | own | functions called |\n|---|---|--:|--:|--:|"
        );
        for &(name, what) in CODE_SIZES {
            match sizes.get(name) {
                Some(z) => {
                    let _ = writeln!(
                        s,
                        "| {what} | `{name}` | {} | {} | {} |",
                        z.total, z.own, z.callees
                    );
                }
                None => {
                    let _ = writeln!(s, "| {what} | `{name}` | not found | | |");
                }
            }
        }
        let _ = writeln!(s);
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
            "`python3 ../shared/peers/python_mp_bench.py` and `python3 \
             benches/python/sustained_mp.py` ({version}, fork start method), run by the same \
             command right after the benches, same scenarios: 64-byte `bytes` through a \
             `Queue(1024)` from a child process; a round trip through two queues; process start + \
             join; sustained streams of 64-byte and 1,024-byte `bytes` and of a tuple `(int, \
             float, 16-character str)`, each message checked.\n"
        );
        let _ = writeln!(
            s,
            "| figure | Python | ipc | ipc is faster by |\n|---|--:|--:|--:|"
        );
        for (k, (v, u)) in f {
            let benches = PYTHON
                .iter()
                .find(|(key, _)| key == k)
                .map_or(&[][..], |&(_, ours)| ours);
            let (ours, ratios): (Vec<String>, Vec<String>) = benches
                .iter()
                .filter_map(|&(group, id, name)| {
                    let b = self.find(group, id)?;
                    if u.ends_with("/s") {
                        let rate = b.rate()?;
                        Some((format!("{} ({name})", fmt_rate(rate)), fmt_ratio(rate / v)))
                    } else if u == "us" || u == "ns" {
                        let ns = if u == "us" { v * 1e3 } else { *v };
                        Some((
                            format!("{} ({name})", fmt_ns(b.per_elem())),
                            fmt_ratio(ns / b.per_elem()),
                        ))
                    } else {
                        None
                    }
                })
                .unzip();
            let (ours, ratio) = if ours.is_empty() {
                ("—".to_string(), "—".to_string())
            } else {
                (ours.join(", "), ratios.join(", "))
            };
            let _ = writeln!(s, "| `{k}` | {v} {u} | {ours} | {ratio} |");
        }
        let _ = writeln!(s);
    }

    fn method(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "## How this was measured\n\n\
             * Source: `benches/benches/{{{}}}.rs`, shared code in \
             `benches/src/` (the peers, the thread rig, the latency loop); this report: \
             `benches/src/bin/report/`. Every bench checks its result before it is timed, and \
             every message's sequence number (or a checksum of them) while timed.\n\
             * The gated throughput groups (threads, `xproc_throughput_*`) time batches with \
             `iter_custom`: helpers (threads or a forked process) stay alive and wait at a gate \
             between batches; a batch's time runs from the start signal to the last message \
             received.\n\
             * The sustained groups (`sustained_*`) time free-running streams: one iteration is \
             2^20 messages through the shared-memory peers, 2^17 through the kernel's and the \
             crates' (pipes, sockets, ipc-channel, interprocess); the producers send a sample's \
             messages in one loop without pause, the consumer receives them in its own. \
             ipc-channel 0.23 (`bytes_channel`; typed `channel` with serde) and interprocess 2 \
             (a local socket in Linux's abstract namespace) are built with the cargo features \
             `ipc-channel` and `interprocess` (`all-peers` turns them and `iceoryx2` on; CI's \
             quick pass leaves them out).\n\
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
             their figures say more about scheduling and backoff than about the queues.\n",
            crate::BENCHES.join(",")
        );
    }
}

/// Why a target has no figure: its benchmark `id` did not run in `group`.
fn missing(group: &str, id: &str) -> String {
    let why = match table::feature_of(id) {
        Some(f) if !table::features().contains(&f) => {
            format!(" (built without the cargo feature `{f}`)")
        }
        _ => String::new(),
    };
    format!("no result `{id}` in `{group}`{why}")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use benches::ids::{self, push_pop as pp, xproc_roundtrip as rt, xproc_throughput as tp};

    use super::*;

    fn bench(function: &str, median: f64, elements: Option<u64>) -> Bench {
        Bench {
            function: function.into(),
            median,
            elements,
        }
    }

    fn machine() -> Machine {
        Machine {
            thp: "?".into(),
            cpu: "test CPU".into(),
            cores: 2,
            kernel: "?".into(),
            rustc: "?".into(),
            date: "today".into(),
        }
    }

    /// The report written from `results` and Python's `python`, with no latencies and no
    /// interleaved round trips.
    fn markdown(results: &Results, python: Option<&Python>) -> String {
        let none = Interleaved {
            n: 0,
            rounds: 0,
            load: "?".into(),
            times: Vec::new(),
        };
        markdown_with(results, python, &none)
    }

    /// The report written from `results`, Python's `python` and the interleaved round trips
    /// `interleaved`, with no latencies.
    fn markdown_with(
        results: &Results,
        python: Option<&Python>,
        interleaved: &Interleaved,
    ) -> String {
        let rss = Err(std::io::Error::other("not measured in tests"));
        let sizes: Sizes = Ok(BTreeMap::from([(
            ids::code_size::QUEUE.to_string(),
            code_size::Size {
                own: 700,
                total: 792,
                callees: 1,
            },
        )]));
        let doc = Doc {
            results,
            latencies: &Vec::new(),
            interleaved,
            rss: &rss,
            python,
            code_sizes: &sizes,
            machine: &machine(),
            loads: [
                "0.1 0.1 0.1".into(),
                "0.1 0.1 0.1".into(),
                "0.1 0.1 0.1".into(),
            ],
            quick: false,
            notes: &[],
            features: &[],
        };
        doc.markdown("ratios.svg")
    }

    /// The row of the targets table that starts with `label`.
    fn row<'a>(md: &'a str, label: &str) -> &'a str {
        md.lines()
            .find(|l| l.starts_with(&format!("| {label}")))
            .unwrap_or_else(|| panic!("no row {label:?} in:\n{md}"))
    }

    #[test]
    fn every_target_keeps_its_row_and_names_what_did_not_run() {
        let md = markdown(&Results::new(), None);
        let rows: Vec<&str> = md
            .lines()
            .skip_while(|l| !l.starts_with("| target (issue)"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert_eq!(rows.len(), TARGETS.len());
        for (row, t) in rows.iter().zip(TARGETS) {
            assert!(row.ends_with("| not measured |"), "{row}");
            assert!(
                row.contains(&format!("no result `{}` in `{}`", t.ours, t.group)),
                "{row}"
            );
        }
    }

    #[test]
    fn targets_compare_in_the_direction_they_bound() {
        let mut results = Results::new();
        results.insert(
            group::PUSH_POP_64B.into(),
            vec![
                bench(pp::BYTE_QUEUE, 11.0, None),
                bench(pp::CROSSBEAM, 10.0, None),
                bench(pp::HEAPLESS_MPMC, 10.0, None),
            ],
        );
        let md = markdown(&results, None);
        // ≤ 1.2× crossbeam: ours ÷ theirs = 1.10, met.
        let r = row(&md, "single-thread push+pop 64 B");
        assert!(
            r.contains("11.0 ns vs 10.0 ns: 1.10×") && r.ends_with("| met |"),
            "{r}"
        );
        // Ahead of heapless: theirs ÷ ours = 0.91, missed.
        let r = row(&md, "… and ahead of heapless's");
        assert!(
            r.contains(": 0.91×") && r.ends_with("| **missed** |"),
            "{r}"
        );
        // Only those groups ran: the iceoryx2 rows say which result is missing.
        let r = row(&md, "`ipc_core::ByteQueue spin` vs iceoryx2 (round trip)");
        assert!(
            r.contains(&format!("no result `{}`", rt::BYTE_QUEUE_SPIN)),
            "{r}"
        );
    }

    #[test]
    fn issue_15_targets_and_code_sizes() {
        let mut results = Results::new();
        // 2 increments an iteration: 100 ns ours, 90 ns pthread's; throughput 0.9×, met.
        results.insert(
            group::LOCK_TWO_PROCESS_COUNTER.into(),
            vec![
                bench(ids::lock::HOST_RUNTIME, 200.0, Some(2)),
                bench(ids::lock::PTHREAD_ROBUST, 180.0, Some(2)),
            ],
        );
        results.insert(
            group::BARRIER_ROUND_2.into(),
            vec![
                bench(ids::barrier::HOST_RUNTIME, 5_000.0, None),
                bench(ids::barrier::FUTEX_PING_PONG, 2_000.0, None),
            ],
        );
        let md = markdown(&results, None);
        let r = row(&md, "`Lock`, two processes incrementing");
        assert!(
            r.contains("10.00 M/s vs 11.11 M/s: 0.90×") && r.ends_with("| met |"),
            "{r}"
        );
        let r = row(&md, "`Barrier` round of 2 processes");
        assert!(
            r.contains("5.00 µs vs 2.00 µs: 2.50×") && r.ends_with("| **missed** |"),
            "{r}"
        );
        let r = row(&md, "`Lock` uncontended");
        assert!(r.ends_with("| not measured |"), "{r}");
        let r = row(&md, "ipc-core `Queue<u32, 16>`: push + pop");
        assert!(r.contains("| 792 | 700 | 1 |"), "{r}");
        let r = row(&md, "heapless `mpmc::Queue<u32, 16>`");
        assert!(r.contains("not found"), "{r}");
    }

    #[test]
    fn sustained_streams_stand_beside_gated_and_meet_issue_17s_targets() {
        use benches::ids::sustained as su;
        let mut results = Results::new();
        // Gated: 4,096 in 409.6 µs, 10 M/s. Sustained: 2^20 messages an iteration.
        results.insert(
            group::XPROC_THROUGHPUT_64B.into(),
            vec![bench(tp::RAW_QUEUE, 409_600.0, Some(4096))],
        );
        let mib = 1u64 << 20;
        // 1 ns a message is 1,000 M/s: RawQueue 8 M/s, the floor 20 M/s, a pipe 1 M/s.
        let per = |rate_m: f64| mib as f64 * 1e3 / rate_m;
        results.insert(
            group::SUSTAINED_64B.into(),
            vec![
                bench(su::RAW_QUEUE, per(8.0), Some(mib)),
                bench(su::SPSC_FLOOR, per(20.0), Some(mib)),
                bench(su::PIPE, per(1.0), Some(mib)),
            ],
        );
        results.insert(
            group::SUSTAINED_64B_2TO1.into(),
            vec![bench(su::RAW_QUEUE, per(7.0), Some(mib))],
        );
        let figures = BTreeMap::from([(
            crate::table::PY_SUSTAINED_TUPLE.to_string(),
            (50_000.0, "msg/s".to_string()),
        )]);
        let python: Python = Ok(("Python 3".into(), figures));
        let md = markdown(&results, Some(&python));
        let r = row(&md, "`RawQueue` |");
        assert!(
            r.starts_with("| `RawQueue` | 10.00 M/s | 8.00 M/s | not run | 7.00 M/s | — |"),
            "{r}"
        );
        let r = row(&md, "CPython `multiprocessing.Queue`");
        assert!(r.ends_with("| not run | not run | — | 50.0 k/s |"), "{r}");
        // 8 M/s ÷ 20 M/s = 0.40 < 0.5: missed; 8× a pipe: missed; 2 → 1: 7/8 = 0.88: met.
        let r = row(
            &md,
            &format!("`{}` 64 B sustained: throughput", su::RAW_QUEUE),
        );
        assert!(
            r.contains("8.00 M/s vs 20.00 M/s: 0.40×") && r.ends_with("| **missed** |"),
            "{r}"
        );
        let r = row(&md, &format!("`{}` 64 B sustained ≥ 10×", su::RAW_QUEUE));
        assert!(
            r.contains(": 8.00×") && r.ends_with("| **missed** |"),
            "{r}"
        );
        let r = row(&md, &format!("`{}` 2 producers", su::RAW_QUEUE));
        assert!(
            r.contains("7.00 M/s vs 8.00 M/s: 0.88×") && r.ends_with("| met |"),
            "{r}"
        );
        // The struct's Python target names the figure; ipc-channel's names its feature.
        let r = row(&md, &format!("`{}` sustained ≥ 100×", su::QUEUE_STRUCT));
        assert!(r.ends_with("| not measured |"), "{r}");
        let r = row(
            &md,
            &format!("`{}` sustained ≥ 10× ipc-channel", su::QUEUE_STRUCT),
        );
        assert!(r.ends_with("| not measured |"), "{r}");
        // The summary repeats issue 17's rows, so each appears twice.
        let n = md
            .lines()
            .filter(|l| l.starts_with(&format!("| `{}` 2 producers", su::RAW_QUEUE)))
            .count();
        assert_eq!(n, 2);
    }

    #[test]
    fn round_trips_are_judged_on_the_same_run_ratios() {
        // Criterion's rows, timed apart: RawQueue 2.50× the mailbox, 2.86× the word.
        let criterion = [
            (rt::RAW_QUEUE, 200.0),
            (rt::BYTE_QUEUE_BLOCKING, 250.0),
            (rt::MAILBOX_FLOOR, 80.0),
            (rt::FLOOR, 70.0),
        ];
        let results = Results::from([(
            group::XPROC_ROUNDTRIP_64B.to_string(),
            criterion.map(|(id, ns)| bench(id, ns, None)).to_vec(),
        )]);
        // Five rounds whose floors move 4×: RawQueue ÷ mailbox per round 1.4, 1.3, 1.4, 1.5,
        // 1.2 (median 1.40; the medians' quotient, 240 ÷ 200, would say 1.20).
        let ok = |v: [f64; 5]| Ok(v.to_vec());
        let interleaved = Interleaved {
            n: 50_000,
            rounds: 5,
            load: "2.00 2.10 2.20".into(),
            times: vec![
                (rt::FLOOR.into(), ok([50.0, 100.0, 200.0, 50.0, 100.0])),
                (
                    rt::MAILBOX_FLOOR.into(),
                    ok([100.0, 200.0, 400.0, 100.0, 200.0]),
                ),
                (
                    rt::RAW_QUEUE.into(),
                    ok([140.0, 260.0, 560.0, 150.0, 240.0]),
                ),
                // ÷ word per round 3.0, 3.2, 2.8, 3.2, 3.3: median 3.20.
                (
                    rt::QUEUE_U64.into(),
                    ok([150.0, 320.0, 560.0, 160.0, 330.0]),
                ),
                // 5× RawQueue in every round.
                (
                    ids::ICEORYX2.into(),
                    ok([700.0, 1300.0, 2800.0, 750.0, 1200.0]),
                ),
                (rt::BYTE_QUEUE_SPIN.into(), Err("fork: no memory".into())),
            ],
        };
        let md = markdown_with(&results, None, &interleaved);
        // The targets row that starts with `label`: it holds each of `parts`, then `status`.
        let check = |label: String, parts: &[String], status: &str| {
            let r = row(&md, &label);
            for p in parts {
                assert!(r.contains(p.as_str()), "{p:?} not in {r}");
            }
            assert!(r.ends_with(&format!("| {status} |")), "{r}");
        };
        let crit = "criterion medians, rows timed minutes apart:";

        // Issue 17: met on the same-run ratio, though criterion's rows say 2.50×.
        let raw = format!("round trip `{}` 64 B ≤ 1.5×", rt::RAW_QUEUE);
        check(
            raw.clone(),
            &[format!(
                "| same run: 240.0 ns vs 200.0 ns: 1.40× (per round, 5 rounds: quartiles \
                 1.30–1.40×, all 1.20–1.50×); {crit} 200.0 ns vs 80.0 ns: 2.50×"
            )],
            "met",
        );
        // Both appear in issue 17's table under the sustained streams too.
        let twice = md.lines().filter(|l| l.starts_with(&format!("| {raw}")));
        assert_eq!(twice.count(), 2);
        // Queue<u64> has no criterion row in this group: the same run alone decides.
        check(
            format!("round trip `{}` ≤ 3×", rt::QUEUE_U64),
            &[
                "| same run: 320.0 ns vs 100.0 ns: 3.20× (per round, 5 rounds:".into(),
                format!(
                    "; criterion: no result `{}` in `{}`",
                    rt::QUEUE_U64,
                    group::XPROC_ROUNDTRIP_64B
                ),
            ],
            "**missed**",
        );
        // Issue 3: ÷ word per round 2.8, 2.6, 2.8, 3.0, 2.4, and the mailbox for scale.
        check(
            format!("round trip `{}` (blocking, peer awake)", rt::RAW_QUEUE),
            &[
                "same run: 240.0 ns vs 100.0 ns: 2.80× (per round, 5 rounds: quartiles \
                 2.60–2.80×, all 2.40–3.00×); vs the 64-byte mailbox floor (200.0 ns): 1.40× \
                 (quartiles 1.30–1.40×, all 1.20–1.50×); criterion medians"
                    .into(),
                "200.0 ns vs 70.0 ns: 2.86×".into(),
            ],
            "**missed**",
        );
        // Not in the interleaved step: criterion's figure decides, and the row says so.
        check(
            format!("round trip `{}` (blocking", rt::BYTE_QUEUE_BLOCKING),
            &[format!(
                "same run: not measured (`{}` not in the interleaved round trips); {crit} \
                 250.0 ns vs 70.0 ns: 3.57×",
                rt::BYTE_QUEUE_BLOCKING
            )],
            "**missed**",
        );
        // "Faster" targets divide the peer's time by ours, round by round.
        check(
            format!("`{}` vs iceoryx2 (round trip)", rt::RAW_QUEUE),
            &["same run: 240.0 ns vs 1.20 µs: 5.00×".into()],
            "met",
        );
        check(
            format!("`{}` vs iceoryx2 (round trip)", rt::BYTE_QUEUE_SPIN),
            &[format!(
                "same run: not measured (`{}`: fork: no memory)",
                rt::BYTE_QUEUE_SPIN
            )],
            "not measured",
        );

        // The round-trip section: criterion's table, then the interleaved one.
        let sec = md
            .split("\n`xproc_roundtrip_64B`")
            .nth(1)
            .expect("the round-trip section");
        let criterion = sec.find("| ◆ `host_runtime::RawQueue put+get` | 200.0 ns |");
        let same_run = sec.find("**Same run, peers interleaved**");
        assert!(criterion.is_some() && criterion < same_run, "{sec}");
        assert!(sec.contains("5 rounds in one run of the report (load average 2.00 2.10 2.20"));
        assert!(sec.contains("runs 5,000 untimed and 50,000 timed round trips"));
        assert!(sec.contains(
            "> The floors moved during this step (spin ping-pong 50.0 ns–200.0 ns, 4.00×; \
             64-byte mailbox 100.0 ns–400.0 ns, 4.00×)"
        ));
        assert!(sec.contains(
            "`Queue<u64>` (8-byte messages; the echo answers `n + 1`) is measured here only"
        ));
        let r = row(sec, &format!("`{}` | 240.0 ns", rt::RAW_QUEUE));
        assert_eq!(
            r,
            format!(
                "| `{}` | 240.0 ns | 140.0 ns–560.0 ns | 2.80× | quartiles 2.60–2.80×, all \
                 2.40–3.00× | 1.40× | quartiles 1.30–1.40×, all 1.20–1.50× |",
                rt::RAW_QUEUE
            )
        );
        // A floor is not divided by itself.
        let r = row(sec, &format!("`{}` | 100.0 ns", rt::FLOOR));
        assert!(r.contains("| — | | 0.50× | quartiles 0.50–0.50×"), "{r}");
        let r = row(sec, &format!("`{}` | 200.0 ns", rt::MAILBOX_FLOOR));
        assert!(
            r.ends_with("| 2.00× | quartiles 2.00–2.00×, all 2.00–2.00× | — | |"),
            "{r}"
        );
        let r = row(sec, &format!("`{}` |", rt::BYTE_QUEUE_SPIN));
        assert_eq!(
            r,
            format!(
                "| `{}` | not measured: fork: no memory | | | | | |",
                rt::BYTE_QUEUE_SPIN
            )
        );
    }

    #[test]
    fn the_interleaved_step_measures_every_round_trip_targets_peer() {
        let peers = crate::table::round_trip_peers();
        assert_eq!(&peers[..2], &[rt::FLOOR, rt::MAILBOX_FLOOR]);
        for t in TARGETS.iter().filter(|t| crate::table::is_round_trip(t)) {
            assert!(peers.contains(&t.ours), "{}", t.ours);
            if let Peer::Bench(id) = t.peer {
                assert!(peers.contains(&id), "{id}");
            }
        }
        let mut unique = peers.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), peers.len(), "each peer once: {peers:?}");
        // Every peer is one the library can make (iceoryx2's with its cargo feature).
        for p in &peers {
            assert!(
                benches::interleaved::peer(p).is_some() || *p == ids::ICEORYX2,
                "{p}"
            );
        }
    }

    #[test]
    fn python_figures_stand_beside_our_rates_and_times() {
        let mut results = Results::new();
        // 4,096 messages in 409.6 µs: 10 M/s.
        results.insert(
            group::XPROC_THROUGHPUT_64B.into(),
            vec![bench(tp::RAW_QUEUE, 409_600.0, Some(4096))],
        );
        results.insert(
            group::XPROC_ROUNDTRIP_64B.into(),
            vec![bench(rt::QUEUE_VEC, 5_000.0, None)],
        );
        let figures = BTreeMap::from([
            (
                "queue_throughput_64B".to_string(),
                (100_000.0, "msg/s".to_string()),
            ),
            ("queue_roundtrip".to_string(), (50.0, "us".to_string())),
            ("lock_uncontended".to_string(), (40.0, "ns".to_string())),
        ]);
        let python: Python = Ok(("Python 3".into(), figures));
        let md = markdown(&results, Some(&python));
        let r = row(&md, "`queue_throughput_64B`");
        assert!(r.contains("10.00 M/s (`RawQueue`) | 100×"), "{r}");
        let r = row(&md, "`queue_roundtrip`");
        assert!(r.contains("5.00 µs (`Queue<Vec<u8>>`) | 10.0×"), "{r}");
        let r = row(&md, "`lock_uncontended`");
        assert!(r.ends_with("| — | — |"), "no `Lock` result: {r}");
        results.insert(
            group::LOCK_UNCONTENDED.into(),
            vec![bench(ids::lock::HOST_RUNTIME, 20.0, None)],
        );
        let md = markdown(&results, Some(&python));
        let r = row(&md, "`lock_uncontended`");
        assert!(r.contains("| 20.0 ns (`Lock`) | 2.00× |"), "{r}");
        let r = row(&md, "`host_runtime::RawQueue put/get` ≥ 100× Python");
        assert!(
            r.contains("10.00 M/s vs 100.0 k/s: 100×") && r.ends_with("| met |"),
            "{r}"
        );
    }
}
