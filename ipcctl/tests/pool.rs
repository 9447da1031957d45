//! A named pool seen by `ipcctl`: each worker's state (and since when) while a long task runs
//! and after, the task counts (pending, running, done, failed; a worker killed mid-task), and
//! the region gone with the pool.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

use host_runtime::pool::Builder;
use host_runtime::Queue;
use serde_json::Value;

/// The long task: runs until the file `path` exists, then returns the worker's pid.
fn hold(path: String) -> u32 {
    while !Path::new(&path).exists() {
        std::thread::sleep(Duration::from_millis(2));
    }
    std::process::id()
}

/// The blocked task: a get on the named queue `name` (empty until the test puts), returning
/// what it got.
fn get_one(name: String) -> u64 {
    Queue::<u64>::open_named(&name).unwrap().get().unwrap()
}

/// A task that returns its argument.
fn echo(x: u32) -> u32 {
    x
}

/// A task that fails (a panic in the worker: the pool delivers `TaskError::Panicked`).
fn fail(_: ()) -> u32 {
    panic!("this task fails on purpose")
}

/// Runs `ipcctl ARGS` to its exit and returns what it printed, checking it succeeded.
///
/// Its output goes to files, not pipes: a pool in this test binary may fork a worker (a
/// replacement for a killed one) while `ipcctl` runs, and a forked worker holds every
/// descriptor of the moment open, a pipe's writing end too, so reading a pipe to its end
/// (`Command::output`) would wait for that worker to exit. The exit status is waited for.
fn ipcctl(args: &[&str]) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir();
    let tag = format!(
        "ipcctl-pool-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Relaxed)
    );
    let (out_path, err_path) = (
        dir.join(format!("{tag}.out")),
        dir.join(format!("{tag}.err")),
    );
    let status = Command::new(env!("CARGO_BIN_EXE_ipcctl"))
        .env_remove("IPCCTL_DIR")
        .args(args)
        .stdout(Stdio::from(File::create(&out_path).unwrap()))
        .stderr(Stdio::from(File::create(&err_path).unwrap()))
        .status()
        .unwrap();
    let (out, err) = (fs::read(&out_path).unwrap(), fs::read(&err_path).unwrap());
    let _ = (fs::remove_file(&out_path), fs::remove_file(&err_path));
    assert!(status.success(), "{}", String::from_utf8_lossy(&err));
    String::from_utf8(out).unwrap()
}

/// `ipcctl show NAME` as text.
fn show_text(name: &str) -> String {
    ipcctl(&["show", name])
}

/// The JSON task counts, `[pending, running, done, failed]`.
fn counts(v: &Value) -> [u64; 4] {
    ["pending", "running", "done", "failed"].map(|k| v["tasks"][k].as_u64().unwrap())
}

/// The worker's time in its state, checked against the test's own clock: at least 0 (a
/// number), at most the time since `start` (taken before the pool was made).
fn state_for_ms(worker: &Value, start: Instant) -> u64 {
    let ms = worker["state_for_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("no time in its state: {worker}"));
    assert!(worker["since_ns"].is_u64(), "{worker}");
    let elapsed = start.elapsed().as_millis() as u64;
    assert!(
        ms <= elapsed,
        "{ms} ms in its state, {elapsed} ms since the test began: {worker}"
    );
    ms
}

fn show(name: &str) -> Value {
    serde_json::from_str(&ipcctl(&["show", name, "--json"])).unwrap()
}

/// Shows the pool until `ok` holds for its JSON (a deadline far above the expected time).
fn show_until(name: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = show(name);
        if ok(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "never {what}: {v}");
        std::thread::yield_now();
    }
}

fn states(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["state"].as_str().unwrap().to_owned())
        .collect();
    s.sort();
    s
}

#[test]
fn a_named_pool_shows_a_running_worker_then_its_result() {
    let name = format!("ipcctl-pool-{}", std::process::id());
    let flag = std::env::temp_dir().join(format!("{name}.go"));
    let _ = std::fs::remove_file(&flag);
    let pool = Builder::new().processes(2).name(&name).build().unwrap();
    let v = show_until(&name, "both workers ready", |v| {
        states(v) == ["ready", "ready"]
    });
    assert_eq!(v["kind"], "pool");
    assert_eq!(v["creator"]["pid"], std::process::id());
    assert_eq!(v["stale"], false);

    let task = pool
        .apply_async(hold, flag.to_str().unwrap().to_owned())
        .unwrap();
    let v = show_until(&name, "a worker running", |v| {
        states(v) == ["ready", "running"]
    });
    let running = v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["state"] == "running")
        .unwrap()
        .clone();
    assert!(running["task"].is_u64(), "{running}");
    assert_eq!(running["liveness"], "alive");
    assert_eq!(v["tasks"]["running"], 1);
    assert_eq!(v["tasks"]["done"], 0);

    std::fs::write(&flag, b"go").unwrap();
    let pid = task.get().unwrap();
    assert_eq!(Value::from(pid), running["pid"]);
    let v = show_until(&name, "the task done", |v| v["tasks"]["done"] == 1);
    assert_eq!(states(&v), ["ready", "ready"]);
    assert_eq!(v["tasks"]["running"], 0);
    let _ = std::fs::remove_file(&flag);

    drop(pool);
    assert!(
        !Path::new("/dev/shm").join(&name).exists(),
        "the pool left its region"
    );
}

#[test]
fn a_worker_in_a_get_on_an_empty_queue_is_shown_blocked_then_ready() {
    let name = format!("ipcctl-pool-blocked-{}", std::process::id());
    let qname = format!("{name}-q");
    let _ = Queue::<u64>::unlink_named(&qname);
    let _unlink = Unlink(qname.clone());
    let queue = Queue::<u64>::builder()
        .maxsize(4)
        .create_named(&qname)
        .unwrap();
    let pool = Builder::new().processes(1).name(&name).build().unwrap();
    show_until(&name, "the worker ready", |v| states(v) == ["ready"]);

    let task = pool.apply_async(get_one, qname.clone()).unwrap();
    // Stamped too (the stamp follows the state: see the counts test below).
    let v = show_until(&name, "the worker blocked, stamped", |v| {
        states(v) == ["blocked"] && v["workers"][0]["since_ns"].is_u64()
    });
    let worker = &v["workers"][0];
    assert!(worker["task"].is_u64(), "{worker}");
    assert!(
        worker["state_for_ms"].is_u64(),
        "blocked since when: {worker}"
    );
    assert_eq!(v["tasks"]["running"], 1);

    queue.put(7).unwrap();
    assert_eq!(task.get().unwrap(), 7);
    let v = show_until(&name, "the task done", |v| v["tasks"]["done"] == 1);
    assert_eq!(states(&v), ["ready"]);
    drop(pool);
}

#[test]
fn a_named_pool_counts_its_tasks_and_times_its_worker() {
    let start = Instant::now();
    let name = format!("ipcctl-pool-counts-{}", std::process::id());
    let flag = std::env::temp_dir().join(format!("{name}.go"));
    let _ = std::fs::remove_file(&flag);
    // One worker holding one task at a time: the others wait in the pool's process (no task
    // slot yet) or in its inbox (a slot, pending).
    let pool = Builder::new()
        .processes(1)
        .prefetch(2)
        .name(&name)
        .build()
        .unwrap();
    show_until(&name, "the worker ready", |v| states(v) == ["ready"]);

    let long = pool
        .apply_async(hold, flag.to_str().unwrap().to_owned())
        .unwrap();
    let quick: Vec<_> = (0..4).map(|i| pool.apply_async(echo, i).unwrap()).collect();
    let failing = pool.apply_async(fail, ()).unwrap();
    // A worker stamps the time after it changes state: a show between the two has no time
    // yet (`null`, as documented), so wait for the stamp too.
    let v = show_until(&name, "the long task running, stamped", |v| {
        states(v) == ["running"] && counts(v)[1] == 1 && v["workers"][0]["since_ns"].is_u64()
    });
    // Nothing else can move while the one worker holds the long task.
    assert_eq!(counts(&v), [5, 1, 0, 0], "{v}");
    assert_eq!(counts(&v).iter().sum::<u64>(), 6);
    let worker = &v["workers"][0];
    state_for_ms(worker, start);
    assert!(
        worker["task"].is_u64() && worker["task_generation"].is_u64(),
        "{worker}"
    );
    let text = show_text(&name);
    assert!(
        text.contains("tasks      5 pending, 1 running, 0 done, 0 failed"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(" running  for ") && !l.contains("for ?")),
        "{text}"
    );

    std::fs::write(&flag, b"go").unwrap();
    long.get().unwrap();
    for (i, task) in quick.into_iter().enumerate() {
        assert_eq!(task.get().unwrap(), i as u32);
    }
    assert!(failing.get().is_err());
    // Every result was delivered: counted before each was handed over.
    let v = show(&name);
    assert_eq!(counts(&v), [0, 0, 5, 1], "{v}");
    let v = show_until(&name, "the worker ready, stamped", |v| {
        states(v) == ["ready"] && v["workers"][0]["since_ns"].is_u64()
    });
    state_for_ms(&v["workers"][0], start);
    let _ = std::fs::remove_file(&flag);
    drop(pool);
}

#[test]
fn a_worker_killed_mid_task_counts_its_task_failed() {
    let name = format!("ipcctl-pool-killed-{}", std::process::id());
    let flag = std::env::temp_dir().join(format!("{name}.never"));
    let _ = std::fs::remove_file(&flag);
    let pool = Builder::new().processes(1).name(&name).build().unwrap();
    let task = pool
        .apply_async(hold, flag.to_str().unwrap().to_owned())
        .unwrap();
    let v = show_until(&name, "the task running", |v| states(v) == ["running"]);
    let pid = v["workers"][0]["pid"].as_u64().unwrap() as i32;
    // SAFETY: `kill` with a pid and a signal number: no memory is involved.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    assert!(task.get().is_err(), "the task of a killed worker fails");
    let v = show_until(&name, "a new worker ready", |v| {
        states(v) == ["ready"] && v["workers"][0]["pid"] != pid
    });
    assert_eq!(counts(&v), [0, 0, 0, 1], "{v}");
    drop(pool);
}

/// Unlinks a named queue when dropped (also when the test fails).
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = Queue::<u64>::unlink_named(&self.0);
    }
}
