//! Text and JSON views of snapshots.

use std::io::{self, Write};
use std::time::Duration;

use host_runtime::inspect::{InspectError, Liveness, PoolSnapshot, QueueSnapshot, RegionSnapshot};
use host_runtime::Pid;
use serde_json::{json, Value};

/// A recorded pid as shown: 0 when none is recorded.
fn pid(pid: Option<Pid>) -> i32 {
    pid.map_or(0, Pid::as_raw)
}

/// `raw` for an untyped queue, else `typed` (the fingerprint names a type, which cannot be read
/// back from it).
fn item(snap: &QueueSnapshot) -> &'static str {
    if snap.item_type == 0 {
        "raw"
    } else {
        "typed"
    }
}

/// One region in `list --json`: its numbers, or the error that made it unreadable.
pub fn summary_json(name: &str, result: &Result<RegionSnapshot, InspectError>) -> Value {
    match result {
        Err(e) => json!({ "name": name, "error": e.to_string() }),
        Ok(RegionSnapshot::Pool(p)) => pool_json(name, p),
        Ok(RegionSnapshot::Queue(s)) => {
            let (alive, dead, unknown) = s.liveness_counts();
            json!({
                "name": name,
                "kind": "queue",
                "items": item(s),
                "capacity": s.capacity,
                "depth": s.depth,
                "max_message_size": s.max_message_size,
                "participants": { "alive": alive, "dead": dead, "unknown": unknown },
                "creator": { "pid": pid(s.creator.pid), "liveness": s.creator.liveness.as_str() },
                "lost_in_put": s.lost_in_put,
                "lost_in_get": s.lost_in_get,
                "stale": s.stale().is_ok(),
            })
        }
        Ok(other) => json!({ "name": name, "kind": other.kind() }),
    }
}

/// `show --json` of any region.
pub fn show_json(name: &str, snap: &RegionSnapshot) -> Value {
    match snap {
        RegionSnapshot::Queue(s) => queue_json(name, s),
        RegionSnapshot::Pool(p) => pool_json(name, p),
        _ => json!({ "name": name, "kind": snap.kind() }),
    }
}

/// A named pool, in `list --json` and `show --json`.
fn pool_json(name: &str, p: &PoolSnapshot) -> Value {
    let t = p.tasks;
    let workers: Vec<_> = p
        .workers
        .iter()
        .map(|w| {
            json!({
                "index": w.index,
                "pid": pid(w.process.pid),
                "state": w.state,
                "since_ns": w.since_ns,
                "state_for_ms": w.state_for.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                "liveness": w.process.liveness.as_str(),
                "tasks_done": w.tasks_done,
                "task": w.task,
                "task_generation": w.task_generation,
            })
        })
        .collect();
    json!({
        "name": name,
        "kind": "pool",
        "region_len": p.region_len,
        "creator": { "pid": pid(p.creator.pid), "liveness": p.creator.liveness.as_str() },
        "task_slots": p.task_slots,
        "tasks": {
            "pending": t.pending,
            "running": t.running,
            "done": t.done,
            "failed": t.failed,
        },
        "workers": workers,
        "stale": p.stale().is_ok(),
    })
}

/// `show --json` of a queue.
fn queue_json(name: &str, s: &QueueSnapshot) -> Value {
    let participants: Vec<_> = s
        .participants
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "pid": pid(p.process.pid),
                "liveness": p.process.liveness.as_str(),
                "repairing": p.repairing,
                "blocked_in_get": p.blocked_in_get,
                "blocked_in_put": p.blocked_in_put,
                // The queue format records no times.
                "blocked_since": null,
            })
        })
        .collect();
    let classes: Vec<_> = s
        .classes
        .iter()
        .map(|c| {
            json!({
                "chunk_size": c.chunk_size,
                "total": c.total,
                "in_use": c.in_use,
                "touched": c.touched,
                "waiters": c.waiters,
            })
        })
        .collect();
    json!({
        "name": name,
        "kind": "queue",
        "items": item(s),
        "item_type": format!("{:#018x}", s.item_type),
        "region_len": s.region_len,
        "capacity": s.capacity,
        "depth": s.depth,
        "inline_max": s.inline_max,
        "max_message_size": s.max_message_size,
        "max_processes": s.max_processes,
        "creator": { "pid": pid(s.creator.pid), "liveness": s.creator.liveness.as_str() },
        "unregistered": s.unregistered,
        "participants": participants,
        "waiters": { "getters": s.getters, "putters": s.putters },
        "stats": {
            "lost_in_put": s.lost_in_put,
            "lost_in_get": s.lost_in_get,
            "dead_processes": s.dead_processes,
        },
        "blob_classes": classes,
        "stale": s.stale().is_ok(),
    })
}

/// `list`: one line per region.
pub fn list_text(
    regions: &[(String, Result<RegionSnapshot, InspectError>)],
    out: &mut impl Write,
) -> io::Result<()> {
    if regions.is_empty() {
        return writeln!(out, "no queue regions");
    }
    let width = regions.iter().map(|r| r.0.len()).max().unwrap_or(4).max(4);
    writeln!(
        out,
        "{:<width$}  {:<5}  {:>6}/{:<6}  {:>8}  {:>5} {:>4} {:>4}  {:>6} {:>6}",
        "NAME", "ITEMS", "DEPTH", "CAP", "MAXMSG", "ALIVE", "DEAD", "UNKN", "LOSTP", "LOSTG"
    )?;
    for (name, result) in regions {
        match result {
            Err(e) => writeln!(out, "{name:<width$}  error: {e}")?,
            Ok(RegionSnapshot::Pool(p)) => {
                let t = p.tasks;
                let alive = p
                    .workers
                    .iter()
                    .filter(|w| w.process.liveness == Liveness::Alive)
                    .count();
                writeln!(
                    out,
                    "{name:<width$}  pool   {alive} workers alive of {}; tasks: {} pending, {} running, {} done, {} failed",
                    p.workers.len(),
                    t.pending,
                    t.running,
                    t.done,
                    t.failed
                )?;
            }
            Ok(RegionSnapshot::Queue(s)) => {
                let (alive, dead, unknown) = s.liveness_counts();
                writeln!(
                    out,
                    "{:<width$}  {:<5}  {:>6}/{:<6}  {:>8}  {:>5} {:>4} {:>4}  {:>6} {:>6}",
                    name,
                    item(s),
                    s.depth,
                    s.capacity,
                    s.max_message_size,
                    alive,
                    dead,
                    unknown,
                    s.lost_in_put,
                    s.lost_in_get
                )?;
            }
            Ok(other) => writeln!(out, "{name:<width$}  {}", other.kind())?,
        }
    }
    Ok(())
}

/// `show` of any region.
pub fn show_text(name: &str, snap: &RegionSnapshot, out: &mut impl Write) -> io::Result<()> {
    match snap {
        RegionSnapshot::Queue(s) => queue_text(name, s, out),
        RegionSnapshot::Pool(p) => pool_text(name, p, out),
        _ => writeln!(out, "{} {name}", snap.kind()),
    }
}

/// `show` of a named pool: its workers.
fn pool_text(name: &str, p: &PoolSnapshot, out: &mut impl Write) -> io::Result<()> {
    let t = p.tasks;
    writeln!(out, "pool {name}")?;
    writeln!(
        out,
        "  creator    pid {} ({})",
        pid(p.creator.pid),
        p.creator.liveness.as_str()
    )?;
    writeln!(
        out,
        "  tasks      {} pending, {} running, {} done, {} failed",
        t.pending, t.running, t.done, t.failed
    )?;
    match p.stale() {
        Ok(()) => writeln!(out, "  stale      yes: `ipcctl clean` removes it")?,
        Err(keep) => writeln!(out, "  stale      no: {keep}")?,
    }
    writeln!(out, "workers ({})", p.workers.len())?;
    for w in &p.workers {
        let task = match (w.task, w.task_generation) {
            (Some(t), Some(g)) => format!(", task #{t}.{g}"),
            (Some(t), None) => format!(", task #{t}"),
            _ => String::new(),
        };
        let state_for = w
            .state_for
            .map_or_else(|| "for ?".to_owned(), |d| format!("for {}", duration(d)));
        writeln!(
            out,
            "  #{:<4} pid {:<8} {:<8} {:<12} ({}) {} tasks done{}",
            w.index,
            pid(w.process.pid),
            w.state,
            state_for,
            w.process.liveness.as_str(),
            w.tasks_done,
            task
        )?;
    }
    Ok(())
}

/// A duration for people: `850 ms`, `3.2 s`, `4 min 05 s`, `2 h 07 min`.
fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", d.as_secs_f64()),
        60_000..3_600_000 => format!("{} min {:02} s", ms / 60_000, ms / 1_000 % 60),
        _ => format!("{} h {:02} min", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// A queue's participants: those blocked are marked, without a time (the queue format
/// records none).
fn blocked_note(s: &QueueSnapshot, out: &mut impl Write) -> io::Result<()> {
    if s.participants
        .iter()
        .any(|p| p.blocked_in_get > 0 || p.blocked_in_put > 0)
    {
        writeln!(
            out,
            "  (since when a participant is blocked: not recorded by the queue format)"
        )?;
    }
    Ok(())
}

/// `show` of a queue: everything, in sections.
fn queue_text(name: &str, s: &QueueSnapshot, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "queue {name}")?;
    if s.item_type == 0 {
        writeln!(out, "  items      raw bytes")?;
    } else {
        writeln!(
            out,
            "  items      typed (fingerprint {:#018x})",
            s.item_type
        )?;
    }
    writeln!(out, "  depth      {} of {}", s.depth, s.capacity)?;
    writeln!(
        out,
        "  messages   up to {} bytes ({} inline)",
        s.max_message_size, s.inline_max
    )?;
    writeln!(out, "  region     {} bytes", s.region_len)?;
    writeln!(
        out,
        "  creator    pid {} ({})",
        pid(s.creator.pid),
        s.creator.liveness.as_str()
    )?;
    writeln!(
        out,
        "  waiters    {} in get, {} in put",
        s.getters, s.putters
    )?;
    writeln!(
        out,
        "  stats      lost_in_put {}, lost_in_get {}, dead processes repaired {}",
        s.lost_in_put, s.lost_in_get, s.dead_processes
    )?;
    match s.stale() {
        Ok(()) => writeln!(out, "  stale      yes: `ipcctl clean` removes it")?,
        Err(keep) => writeln!(out, "  stale      no: {keep}")?,
    }
    writeln!(
        out,
        "participants ({} of {} entries{})",
        s.participants.len(),
        s.max_processes,
        if s.unregistered > 0 {
            format!(", {} unregistered", s.unregistered)
        } else {
            String::new()
        }
    )?;
    for p in &s.participants {
        let mut state = p.process.liveness.as_str().to_owned();
        if p.repairing {
            state = format!("being repaired by a process that is {state}");
        }
        let mut blocked = Vec::new();
        if p.blocked_in_get > 0 {
            blocked.push(format!("blocked in get ({})", p.blocked_in_get));
        }
        if p.blocked_in_put > 0 {
            blocked.push(format!("blocked in put ({})", p.blocked_in_put));
        }
        writeln!(
            out,
            "  #{:<4} pid {:<8} {}{}{}",
            p.id,
            pid(p.process.pid),
            state,
            if blocked.is_empty() { "" } else { ", " },
            blocked.join(", ")
        )?;
    }
    blocked_note(s, out)?;
    if !s.classes.is_empty() {
        writeln!(out, "blob chunks")?;
        for c in &s.classes {
            writeln!(
                out,
                "  {:>9} bytes: {} of {} in use, {} ever used, {} waiting",
                c.chunk_size, c.in_use, c.total, c.touched, c.waiters
            )?;
        }
    }
    Ok(())
}
