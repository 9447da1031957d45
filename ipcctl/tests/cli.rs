//! End to end: named queues made here and in forked children, `ipcctl` run as a subprocess,
//! its JSON checked. Queue names are unique per test process; `clean` runs on a private
//! directory of region copies, so it never sees (or removes) another program's regions.

use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{mpsc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use host_runtime::queue::Builder;
use host_runtime::sys::{self, Pid, Signal, WaitOptions, WaitStatus};
use host_runtime::RawQueue;
use serde_json::Value;

/// One test at a time (forked children inherit every descriptor), each within a deadline.
static SERIAL: Mutex<()> = Mutex::new(());

fn watchdog(body: impl FnOnce() + Send + 'static) {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(())) => {}
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => panic!("watchdog: the test did not finish within 120 s"),
    }
}

fn unique(tag: &str) -> String {
    format!("ipcctl-test-{}-{tag}", std::process::id())
}

/// Unlinks a named queue when dropped (also when the test fails).
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = RawQueue::unlink_named(&self.0);
    }
}

/// A private directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(tag));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `ipcctl ARGS` (on `dir` if given, else `/dev/shm`), expects success, returns stdout.
fn ipcctl(dir: Option<&Path>, args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ipcctl"));
    cmd.env_remove("IPCCTL_DIR");
    if let Some(dir) = dir {
        cmd.env("IPCCTL_DIR", dir);
    }
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ipcctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ipcctl_json(dir: Option<&Path>, args: &[&str]) -> Value {
    let text = ipcctl(dir, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Forks a child that runs `setup`, reports on `ready` with one byte, then runs `after`
/// (parking forever if it returns).
fn start_child(ready: &OwnedFd, setup: impl FnOnce() -> RawQueue, after: fn(&RawQueue)) -> Pid {
    let ready = ready.try_clone().unwrap();
    sys::fork_run(move || {
        sys::set_parent_death_signal(Some(Signal::KILL)).unwrap();
        let queue = setup();
        sys::write_all(ready.as_fd(), b"r").unwrap();
        after(&queue);
        loop {
            std::thread::park();
        }
    })
    .unwrap()
}

fn park(_: &RawQueue) {}

fn kill_and_reap(pid: Pid) {
    sys::kill(pid, Signal::KILL).unwrap();
    assert_eq!(
        sys::waitpid(pid, WaitOptions::BLOCK).unwrap(),
        Some(WaitStatus::Signaled(Signal::KILL))
    );
}

fn participant(show: &Value, pid: u32) -> Value {
    show["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("no participant {pid} in {show}"))
        .clone()
}

#[test]
fn show_and_list_give_depth_and_a_killed_participant_dead() {
    watchdog(|| {
        let name = unique("depth");
        let _ = RawQueue::unlink_named(&name);
        let q = Builder::new().maxsize(8).create_named_raw(&name).unwrap();
        let _unlink = Unlink(name.clone());
        for i in 0..5u8 {
            q.put([i; 10]).unwrap();
        }
        let (rx, tx) = sys::pipe().unwrap();
        let mut rx = File::from(rx);
        let opened = name.clone();
        let child = start_child(&tx, move || RawQueue::open_named(&opened).unwrap(), park);
        let mut byte = [0u8];
        rx.read_exact(&mut byte).unwrap();
        let me = std::process::id();
        let child_pid = child.as_raw() as u32;

        let show = ipcctl_json(None, &["show", &name, "--json"]);
        assert_eq!(show["name"], name.as_str());
        assert_eq!(show["kind"], "queue");
        assert_eq!(show["items"], "raw");
        assert_eq!(show["capacity"], 8);
        assert_eq!(show["depth"], 5);
        assert_eq!(show["creator"]["pid"], me);
        assert_eq!(show["creator"]["liveness"], "alive");
        assert_eq!(show["participants"].as_array().unwrap().len(), 2);
        assert_eq!(participant(&show, me)["liveness"], "alive");
        assert_eq!(participant(&show, child_pid)["liveness"], "alive");
        assert_eq!(show["stale"], false);

        kill_and_reap(child);
        let show = ipcctl_json(None, &["show", &name, "--json"]);
        assert_eq!(participant(&show, child_pid)["liveness"], "dead");
        assert_eq!(participant(&show, me)["liveness"], "alive");
        assert_eq!(show["depth"], 5);
        // Reading changed nothing: the queue still holds the same messages, and ipcctl never
        // registered (two entries: this process and the dead child).
        assert_eq!(show["participants"].as_array().unwrap().len(), 2);
        assert_eq!(q.qsize(), 5);

        let list = ipcctl_json(None, &["list", "--json"]);
        let entry = list
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} not listed: {list}"));
        assert_eq!(entry["depth"], 5);
        assert_eq!(entry["capacity"], 8);
        assert_eq!(entry["participants"]["alive"], 1);
        assert_eq!(entry["participants"]["dead"], 1);
        assert_eq!(entry["stale"], false);
        assert_eq!(q.get().unwrap(), [0u8; 10]);
    });
}

#[test]
fn a_getter_asleep_on_an_empty_queue_is_shown_blocked() {
    watchdog(|| {
        let name = unique("blocked");
        let _ = RawQueue::unlink_named(&name);
        let _q = Builder::new().maxsize(4).create_named_raw(&name).unwrap();
        let _unlink = Unlink(name.clone());
        let (rx, tx) = sys::pipe().unwrap();
        let mut rx = File::from(rx);
        let opened = name.clone();
        let child = start_child(
            &tx,
            move || RawQueue::open_named(&opened).unwrap(),
            |q| {
                let _ = q.get();
            },
        );
        let mut byte = [0u8];
        rx.read_exact(&mut byte).unwrap();
        let child_pid = child.as_raw() as u32;
        // The child goes to sleep in its get at some point after it said ready: look until
        // ipcctl shows it (bounded by a deadline far above the expected milliseconds).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let show = ipcctl_json(None, &["show", &name, "--json"]);
            let p = participant(&show, child_pid);
            if p["blocked_in_get"] == 1 {
                assert_eq!(p["blocked_in_put"], 0);
                assert_eq!(show["waiters"]["getters"], 1);
                // The queue format records no times: said so, never made up.
                assert!(p["blocked_since"].is_null(), "{p}");
                let text = ipcctl(None, &["show", &name]);
                assert!(text.contains("not recorded by the queue format"), "{text}");
                break;
            }
            assert!(Instant::now() < deadline, "never shown blocked: {show}");
            std::thread::yield_now();
        }
        kill_and_reap(child);
    });
}

/// Copies the region `name` from `/dev/shm` into `dir` (mode 0600, as named regions are).
fn copy_region(name: &str, dir: &Path) {
    let to = dir.join(name);
    fs::copy(Path::new("/dev/shm").join(name), &to).unwrap();
    fs::set_permissions(&to, fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn clean_removes_only_regions_whose_processes_are_all_dead() {
    watchdog(|| {
        let dir = TempDir::new("clean");
        // A stale region: made by a child that was killed.
        let dead = unique("dead");
        let _ = RawQueue::unlink_named(&dead);
        let _unlink_dead = Unlink(dead.clone());
        let (rx, tx) = sys::pipe().unwrap();
        let mut rx = File::from(rx);
        let made = dead.clone();
        let creator = start_child(
            &tx,
            move || {
                let q = Builder::new().maxsize(4).create_named_raw(&made).unwrap();
                q.put(b"left behind").unwrap();
                q
            },
            park,
        );
        let mut byte = [0u8];
        rx.read_exact(&mut byte).unwrap();
        kill_and_reap(creator);
        copy_region(&dead, &dir.0);
        // A live one: made by this process.
        let live = unique("live");
        let _ = RawQueue::unlink_named(&live);
        let _q = Builder::new().maxsize(4).create_named_raw(&live).unwrap();
        let _unlink_live = Unlink(live.clone());
        copy_region(&live, &dir.0);
        // Not ours: junk, and our magic with another version.
        fs::write(dir.0.join("junk"), vec![0xa5u8; 8192]).unwrap();
        let mut other = fs::read(dir.0.join(&dead)).unwrap();
        other[8] = 4;
        fs::write(dir.0.join("other-version"), &other).unwrap();
        let files = || {
            let mut names: Vec<String> = fs::read_dir(&dir.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        };
        let before = files();
        assert_eq!(before.len(), 4);

        let list = ipcctl_json(Some(&dir.0), &["list", "--json"]);
        let names: Vec<_> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].clone())
            .collect();
        assert_eq!(names, [dead.as_str(), live.as_str()]);
        assert_eq!(list[0]["stale"], true);
        assert_eq!(list[0]["depth"], 1);
        assert_eq!(list[0]["creator"]["liveness"], "dead");
        assert_eq!(list[1]["stale"], false);

        let dry = ipcctl_json(Some(&dir.0), &["clean", "--dry-run", "--json"]);
        assert_eq!(dry["dry_run"], true);
        assert_eq!(dry["removed"], serde_json::json!([dead]));
        assert_eq!(dry["kept"][0]["name"], live.as_str());
        assert_eq!(files(), before, "--dry-run removed something");

        let done = ipcctl_json(Some(&dir.0), &["clean", "--json"]);
        assert_eq!(done["dry_run"], false);
        assert_eq!(done["removed"], serde_json::json!([dead]));
        let mut after = before.clone();
        after.retain(|n| n != &dead);
        assert_eq!(files(), after);
        // Nothing left to remove.
        let again = ipcctl_json(Some(&dir.0), &["clean", "--json"]);
        assert_eq!(again["removed"], serde_json::json!([]));
        assert_eq!(files(), after);
    });
}

#[test]
fn show_of_a_missing_or_foreign_region_fails_cleanly() {
    watchdog(|| {
        let dir = TempDir::new("errors");
        fs::write(dir.0.join("junk"), b"not a queue").unwrap();
        for name in ["junk", "missing", "../etc"] {
            let out = Command::new(env!("CARGO_BIN_EXE_ipcctl"))
                .args(["--dir", dir.0.to_str().unwrap(), "show", name, "--json"])
                .output()
                .unwrap();
            assert!(!out.status.success(), "{name}");
            assert!(out.stdout.is_empty());
            assert!(String::from_utf8_lossy(&out.stderr).starts_with("ipcctl: "));
        }
        let list = ipcctl_json(Some(&dir.0), &["list", "--json"]);
        assert_eq!(list, serde_json::json!([]));
        assert!(dir.0.join("junk").exists());
    });
}

#[test]
fn watch_draws_a_bounded_number_of_frames() {
    watchdog(|| {
        let dir = TempDir::new("watch");
        let out = Command::new(env!("CARGO_BIN_EXE_ipcctl"))
            .args([
                "--dir",
                dir.0.to_str().unwrap(),
                "watch",
                "--interval",
                "10",
                "--count",
                "3",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.matches("\x1b[2J\x1b[H").count(), 3);
        assert!(text.contains("no queue regions"));
    });
}
