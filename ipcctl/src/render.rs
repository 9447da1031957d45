//! Text and JSON views of snapshots.

use std::io::{self, Write};

use host_runtime::inspect::{InspectError, QueueSnapshot};
use serde_json::{json, Value};

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
pub fn summary_json(name: &str, result: &Result<QueueSnapshot, InspectError>) -> Value {
    match result {
        Err(e) => json!({ "name": name, "kind": "queue", "error": e.to_string() }),
        Ok(s) => {
            let (alive, dead, unknown) = s.liveness_counts();
            json!({
                "name": name,
                "kind": "queue",
                "items": item(s),
                "capacity": s.capacity,
                "depth": s.depth,
                "max_message_size": s.max_message_size,
                "participants": { "alive": alive, "dead": dead, "unknown": unknown },
                "creator": { "pid": s.creator.pid, "liveness": s.creator.liveness.as_str() },
                "lost_in_put": s.lost_in_put,
                "lost_in_get": s.lost_in_get,
                "stale": s.stale().is_ok(),
            })
        }
    }
}

/// `show --json`.
pub fn show_json(name: &str, s: &QueueSnapshot) -> Value {
    let participants: Vec<_> = s
        .participants
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "pid": p.process.pid,
                "liveness": p.process.liveness.as_str(),
                "repairing": p.repairing,
                "blocked_in_get": p.blocked_in_get,
                "blocked_in_put": p.blocked_in_put,
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
        "creator": { "pid": s.creator.pid, "liveness": s.creator.liveness.as_str() },
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
    regions: &[(String, Result<QueueSnapshot, InspectError>)],
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
            Ok(s) => {
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
        }
    }
    Ok(())
}

/// `show`: everything, in sections.
pub fn show_text(name: &str, s: &QueueSnapshot, out: &mut impl Write) -> io::Result<()> {
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
        s.creator.pid,
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
            p.process.pid,
            state,
            if blocked.is_empty() { "" } else { ", " },
            blocked.join(", ")
        )?;
    }
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
