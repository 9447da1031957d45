//! `ipcctl`: see, watch and clean the named regions of host-runtime (`/dev/shm`): queues, and
//! the status regions of named pools.
//!
//! Reading never changes a region nor registers in it (`host_runtime::inspect`); `clean`
//! removes only regions whose creator and every participant are dead, by the library's reclaim
//! protocol.

mod render;
mod term;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use host_runtime::inspect::{self, InspectError, RegionSnapshot, RemoveError};

/// See, watch and clean host-runtime's named queues and pools in shared memory.
#[derive(Parser, Debug)]
#[command(name = "ipcctl", version)]
struct Cli {
    /// Directory of the named regions.
    #[arg(long, global = true, env = "IPCCTL_DIR", default_value = inspect::SHM_DIR)]
    dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Every region of ours (queues, named pools; by magic and version) in the directory;
    /// others are skipped.
    List {
        /// JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Everything in one region: a queue's participants, waiters, statistics, blob chunks; a
    /// pool's workers (state, since when, task) and task counts.
    Show {
        /// The region's name (its file name in the directory).
        name: String,
        /// JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// A live view (of one region, or of the list), redrawn until `q` or Ctrl-C.
    Watch {
        /// The region to watch; all of them if none.
        name: Option<String>,
        /// Milliseconds between redraws.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
        interval: u64,
        /// Stop after this many redraws (default: until `q` or Ctrl-C).
        #[arg(long)]
        count: Option<u64>,
    },
    /// Removes regions whose creator and every participant are dead.
    Clean {
        /// Say what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// The regions of ours in `dir`, sorted by name: each with its snapshot or the error that
/// made it unreadable. Files that are not ours (no magic, another version, another owner, not
/// regular files, names that are not UTF-8) are skipped.
fn scan(dir: &Path) -> io::Result<Vec<(String, Result<RegionSnapshot, InspectError>)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        match inspect::inspect_region(&entry.path()) {
            Err(
                InspectError::NotOurs
                | InspectError::UnsupportedVersion { .. }
                | InspectError::NotOwner { .. }
                | InspectError::NotRegularFile,
            ) => continue,
            // Vanished between the listing and the read.
            Err(InspectError::Io(e)) if e.kind() == io::ErrorKind::NotFound => continue,
            result => found.push((name, result)),
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

fn list(dir: &Path, json: bool, out: &mut impl Write) -> io::Result<()> {
    let regions = scan(dir)?;
    if json {
        let items: Vec<_> = regions
            .iter()
            .map(|(name, r)| render::summary_json(name, r))
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(items))
    } else {
        render::list_text(&regions, out)
    }
}

fn show(dir: &Path, name: &str, json: bool, out: &mut impl Write) -> Result<(), String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() || bare.contains('/') {
        return Err(format!("{name}: not a region name"));
    }
    let snap = inspect::inspect_region(&dir.join(bare)).map_err(|e| format!("{name}: {e}"))?;
    let written = if json {
        writeln!(out, "{}", render::show_json(bare, &snap))
    } else {
        render::show_text(bare, &snap, out)
    };
    written.map_err(|e| e.to_string())
}

fn clean(dir: &Path, dry_run: bool, json: bool, out: &mut impl Write) -> io::Result<()> {
    let mut removed = Vec::new();
    let mut kept = Vec::new();
    for (name, result) in scan(dir)? {
        if let Err(e) = result {
            kept.push((name, e.to_string()));
            continue;
        }
        match inspect::remove_if_stale(dir, &name, dry_run) {
            Ok(_) => removed.push(name),
            // Removed by someone else since the scan.
            Err(RemoveError::Inspect(InspectError::Io(e)) | RemoveError::Io(e))
                if e.kind() == io::ErrorKind::NotFound => {}
            Err(RemoveError::Replaced) if !dir.join(&name).exists() => {}
            Err(e) => kept.push((name, e.to_string())),
        }
    }
    if json {
        let kept: Vec<_> = kept
            .iter()
            .map(|(name, why)| serde_json::json!({ "name": name, "reason": why }))
            .collect();
        let value = serde_json::json!({
            "dry_run": dry_run,
            "removed": removed,
            "kept": kept,
        });
        writeln!(out, "{value}")
    } else {
        let verb = if dry_run { "would remove" } else { "removed" };
        for name in &removed {
            writeln!(out, "{verb} {name}")?;
        }
        for (name, why) in &kept {
            writeln!(out, "kept {name}: {why}")?;
        }
        if removed.is_empty() && kept.is_empty() {
            writeln!(out, "no queue regions in {}", dir.display())?;
        }
        Ok(())
    }
}

fn watch(dir: &Path, name: Option<&str>, interval: Duration, count: Option<u64>) -> io::Result<()> {
    let mut keys = term::Keys::new()?;
    let mut drawn = 0u64;
    loop {
        let mut frame = Vec::new();
        // Clear the screen, cursor home; then the view.
        frame.extend_from_slice(b"\x1b[2J\x1b[H");
        let _ = writeln!(
            frame,
            "ipcctl watch {} (every {} ms; q or Ctrl-C to quit)\n",
            name.unwrap_or("(all)"),
            interval.as_millis()
        );
        match name {
            Some(name) => {
                if let Err(e) = show(dir, name, false, &mut frame) {
                    let _ = writeln!(frame, "{e}");
                }
            }
            None => list(dir, false, &mut frame)?,
        }
        let mut stdout = io::stdout().lock();
        stdout.write_all(&frame)?;
        stdout.flush()?;
        drop(stdout);
        drawn += 1;
        if count.is_some_and(|n| drawn >= n) {
            return Ok(());
        }
        if keys.quit_within(interval)? {
            return Ok(());
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = io::stdout().lock();
    let result = match &cli.command {
        Command::List { json } => list(&cli.dir, *json, &mut out).map_err(|e| e.to_string()),
        Command::Show { name, json } => show(&cli.dir, name, *json, &mut out),
        Command::Clean { dry_run, json } => {
            clean(&cli.dir, *dry_run, *json, &mut out).map_err(|e| e.to_string())
        }
        Command::Watch {
            name,
            interval,
            count,
        } => {
            drop(out);
            let r = watch(
                &cli.dir,
                name.as_deref(),
                Duration::from_millis(*interval),
                *count,
            );
            out = io::stdout().lock();
            r.map_err(|e| e.to_string())
        }
    };
    let _ = out.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipcctl: {e}");
            ExitCode::FAILURE
        }
    }
}
