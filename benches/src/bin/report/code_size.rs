//! The code size of the functions of `ipc-core/examples/code_size.rs` on a bare-metal target
//! (thumbv7em-none-eabihf, release, `opt-level = "s"`): each function's own bytes plus those of
//! every function it calls out of line, transitively, each counted once (`llvm-nm` for the
//! sizes, `llvm-objdump` for the calls).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// The target the sizes are measured on.
pub(crate) const TARGET: &str = "thumbv7em-none-eabihf";

/// The size of one function and of what it calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Size {
    /// The function's own bytes.
    pub(crate) own: u64,
    /// Its own bytes and those of every function it reaches by calls or jumps.
    pub(crate) total: u64,
    /// The functions it reaches (demangled names are not needed: these are shown as counts).
    pub(crate) callees: usize,
}

/// Function name → size, or why nothing was measured.
pub(crate) type Sizes = Result<BTreeMap<String, Size>, String>;

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{cmd:?} failed: {}",
            err.lines().last().unwrap_or("")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Builds the example for [`TARGET`] (from the repository `root`, into `target_dir`) and
/// measures every function in it.
pub(crate) fn measure(root: &Path, target_dir: &Path) -> Sizes {
    run(Command::new(crate::cargo())
        .args([
            "build",
            "--release",
            "-p",
            "ipc-core",
            "--example",
            "code_size",
        ])
        .args(["--target", TARGET])
        .args(["--config", "profile.release.opt-level=\"s\""])
        .current_dir(root))?;
    let bin = target_dir.join(format!("{TARGET}/release/examples/code_size"));
    let nm = run(Command::new("llvm-nm")
        .args(["--print-size", "--radix=d", "--defined-only"])
        .arg(&bin))?;
    let objdump = run(Command::new("llvm-objdump")
        .args(["-d", "--no-show-raw-insn"])
        .arg(&bin))?;
    Ok(analyse(&nm, &objdump))
}

/// Every function's [`Size`], from `llvm-nm --print-size --radix=d` and `llvm-objdump -d`.
pub(crate) fn analyse(nm: &str, objdump: &str) -> BTreeMap<String, Size> {
    // `address size type name`, text symbols only.
    let sizes: BTreeMap<&str, u64> = nm
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [_, size, "T" | "t", name] => Some((name, size.parse().ok()?)),
            _ => None,
        })
        .collect();
    // Function label `0002023e <name>:` opens a body; `$t`/`$d` labels (ARM mapping symbols)
    // stay in it. Any `<target>` or `<target+0x..>` of an instruction is an edge.
    let mut calls: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut current: Option<&str> = None;
    for line in objdump.lines() {
        if let Some(label) = line.trim_end().strip_suffix(">:") {
            if let Some((_, name)) = label.split_once(" <") {
                if !name.starts_with('$') {
                    current = Some(name);
                }
                continue;
            }
        }
        let (Some(from), Some((_, rest))) = (current, line.rsplit_once('<')) else {
            continue;
        };
        let Some((target, _)) = rest.split_once('>') else {
            continue;
        };
        let target = target.split_once('+').map_or(target, |(t, _)| t);
        if target != from && sizes.contains_key(target) {
            calls.entry(from).or_default().insert(target);
        }
    }
    sizes
        .iter()
        .map(|(&name, &own)| {
            let mut seen = BTreeSet::from([name]);
            let mut stack = vec![name];
            while let Some(f) = stack.pop() {
                for &g in calls.get(f).into_iter().flatten() {
                    if seen.insert(g) {
                        stack.push(g);
                    }
                }
            }
            let total = seen.iter().map(|f| sizes[f]).sum();
            let size = Size {
                own,
                total,
                callees: seen.len() - 1,
            };
            (name.to_string(), size)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_counts_what_it_calls_once_and_its_mapping_symbols_as_its_own() {
        let nm = "\
00132750 00000006 T id
00132756 00000010 T new
00198528 00000012 b DATA
00131646 00000158 T size_lock
00132596 00000154 T spin
00131804 00000792 T size_queue
";
        let objdump = "\
Disassembly of section .text:

0002023e <size_lock>:
   2024c:      \tbl\t0x20694 <new> @ imm = #1092
   2026a:      \tbl\t0x205f4 <spin> @ imm = #902
   20282:      \tbl\t0x2068e <id> @ imm = #1032
000202dc <size_queue>:
   203da:      \tblt\t0x20424 <size_queue+0x148> @ imm = #70
0002048a <$d>:
00020490 <$t>:
   20528:      \tblt\t0x205ea <$t+0x15a>      @ imm = #190
000205f4 <spin>:
   2060a:      \tbeq\t0x20672 <spin+0x7e> @ imm = #100
   2060c:      \tbl\t0x2068e <id> @ imm = #1
0002068e <id>:
00020694 <new>:
";
        let sizes = analyse(nm, objdump);
        assert_eq!(
            sizes["size_lock"],
            Size {
                own: 158,
                total: 158 + 10 + 154 + 6,
                callees: 3
            }
        );
        assert_eq!(
            sizes["size_queue"],
            Size {
                own: 792,
                total: 792,
                callees: 0
            }
        );
        assert!(!sizes.contains_key("DATA"), "data symbols are not code");
    }
}
