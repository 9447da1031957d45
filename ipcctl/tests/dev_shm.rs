//! `ipcctl clean` on a real `/dev/shm`: a child in a private mount namespace with its own tmpfs
//! on `/dev/shm` (as `host-runtime/tests/named.rs` does; skipped, saying so, where `unshare`
//! or `mount` is refused) makes queues there, kills some of their processes, and runs `ipcctl`
//! (default directory) on them. Nothing of the machine's `/dev/shm` is seen or touched.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::Command;
use std::time::Duration;

use host_runtime::queue::Builder;
use host_runtime::sys::{self, Pid, Signal, WaitOptions, WaitStatus};
use host_runtime::RawQueue;
use serde_json::{json, Value};

/// The child's exit code when it could not make its private `/dev/shm`.
const SKIPPED: i32 = 77;

/// In the child: a private mount namespace with a 16 MiB tmpfs on `/dev/shm`.
fn private_dev_shm() -> Result<(), String> {
    let os = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: `unshare` takes flags only; this child is single-threaded.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(os("unshare(CLONE_NEWNS)"));
    }
    // SAFETY: all pointers are NUL-terminated literals or null, as `mount(2)` allows.
    let private = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if private != 0 {
        return Err(os("mount(/, MS_REC | MS_PRIVATE)"));
    }
    // SAFETY: as above; the data is a NUL-terminated option string.
    let tmpfs = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c"/dev/shm".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c"size=16m,mode=1777".as_ptr().cast(),
        )
    };
    if tmpfs != 0 {
        return Err(os("mount(tmpfs, /dev/shm, size=16m)"));
    }
    Ok(())
}

/// A small named queue (the tmpfs is 16 MiB).
fn small() -> Builder {
    Builder::new()
        .maxsize(4)
        .size_class(4096, 2)
        .max_message_size(4096)
}

/// Forks a process that runs `setup`, writes one byte on `ready`, and parks until killed.
fn start(ready: &OwnedFd, setup: impl FnOnce() -> RawQueue) -> Result<Pid, String> {
    let ready = ready.try_clone().map_err(|e| e.to_string())?;
    sys::fork_run(move || {
        let _ = sys::set_parent_death_signal(Some(Signal::KILL));
        let queue = setup();
        let _ = sys::write_all(ready.as_fd(), b"r");
        loop {
            std::thread::park();
            let _ = queue.qsize();
        }
    })
    .map_err(|e| e.to_string())
}

fn kill_and_reap(pid: Pid) -> Result<(), String> {
    sys::kill(pid, Signal::KILL).map_err(|e| e.to_string())?;
    match sys::waitpid(pid, WaitOptions::BLOCK) {
        Ok(Some(WaitStatus::Signaled(Signal::KILL))) => Ok(()),
        other => Err(format!("reaping {pid:?}: {other:?}")),
    }
}

fn ipcctl(args: &[&str]) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ipcctl"))
        .env_remove("IPCCTL_DIR")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "ipcctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("ipcctl {args:?}: not JSON: {e}"))
}

fn files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn expect(what: &str, got: &Value, want: Value) -> Result<(), String> {
    if *got == want {
        Ok(())
    } else {
        Err(format!("{what}: {got}, expected {want}"))
    }
}

/// The child's checks; `Err` names the first that failed.
fn clean_in_private_dev_shm() -> Result<(), String> {
    let (rx, tx) = sys::pipe().map_err(|e| e.to_string())?;
    let mut rx = File::from(rx);
    let mut ready = |n: usize| {
        let mut bytes = vec![0u8; n];
        rx.read_exact(&mut bytes)
            .map_err(|e| format!("a process died before it was ready: {e}"))
    };
    // "stale": its only process, the creator, is killed.
    let creator = start(&tx, || {
        let q = small().create_named_raw("stale").unwrap();
        q.put(b"left behind").unwrap();
        q
    })?;
    ready(1)?;
    kill_and_reap(creator)?;
    // "used": the creator is killed, an opener lives on.
    let creator = start(&tx, || small().create_named_raw("used").unwrap())?;
    ready(1)?;
    let opener = start(&tx, || RawQueue::open_named("used").unwrap())?;
    ready(1)?;
    kill_and_reap(creator)?;
    // "mine": made by this process, alive.
    let _mine = small()
        .create_named_raw("mine")
        .map_err(|e| e.to_string())?;
    // Not a queue.
    std::fs::write("/dev/shm/not-ours", vec![0x5au8; 4096]).map_err(|e| e.to_string())?;
    let all = files();
    expect(
        "files",
        &json!(all),
        json!(["mine", "not-ours", "stale", "used"]),
    )?;

    let list = ipcctl(&["list", "--json"])?;
    let names: Vec<_> = list
        .as_array()
        .ok_or("list is no array")?
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    expect("listed", &json!(names), json!(["mine", "stale", "used"]))?;
    expect("stale ones", &list[1]["stale"], json!(true))?;
    // The creator registered too (and is dead); the opener lives.
    expect(
        "used",
        &list[2]["participants"],
        json!({"alive": 1, "dead": 1, "unknown": 0}),
    )?;
    expect(
        "used's creator",
        &list[2]["creator"]["liveness"],
        json!("dead"),
    )?;

    let dry = ipcctl(&["clean", "--dry-run", "--json"])?;
    expect("dry run removes", &dry["removed"], json!(["stale"]))?;
    expect("files after the dry run", &json!(files()), json!(all))?;

    let done = ipcctl(&["clean", "--json"])?;
    expect("clean removes", &done["removed"], json!(["stale"]))?;
    let kept: Vec<_> = done["kept"]
        .as_array()
        .ok_or("kept is no array")?
        .iter()
        .map(|k| k["name"].clone())
        .collect();
    expect("clean keeps", &json!(kept), json!(["mine", "used"]))?;
    expect(
        "files after clean",
        &json!(files()),
        json!(["mine", "not-ours", "used"]),
    )?;

    // The last user of "used" dies: now it goes.
    kill_and_reap(opener)?;
    let done = ipcctl(&["clean", "--json"])?;
    expect(
        "clean after the opener died",
        &done["removed"],
        json!(["used"]),
    )?;
    expect(
        "files at the end",
        &json!(files()),
        json!(["mine", "not-ours"]),
    )?;

    // A named pool whose process is killed: its workers die with it (their parent-death
    // signal), and then `clean` removes its region; kept while any of them lives.
    let owner = sys::fork_run({
        let tx = tx.try_clone().map_err(|e| e.to_string())?;
        move || {
            let _ = sys::set_parent_death_signal(Some(Signal::KILL));
            let pool = host_runtime::pool::Builder::new()
                .processes(2)
                .prefetch(4)
                .max_message_size(4096)
                .name("pool")
                .build()
                .unwrap();
            assert_eq!(pool.apply(double, 21).unwrap(), 42);
            let _ = sys::write_all(tx.as_fd(), b"r");
            loop {
                std::thread::park();
            }
        }
    })
    .map_err(|e| e.to_string())?;
    ready(1)?;
    let list = ipcctl(&["list", "--json"])?;
    let pool = list
        .as_array()
        .ok_or("list is no array")?
        .iter()
        .find(|r| r["name"] == "pool")
        .ok_or(format!("the pool is not listed: {list}"))?;
    expect("the pool's kind", &pool["kind"], json!("pool"))?;
    expect("the live pool stale", &pool["stale"], json!(false))?;
    let kept = ipcctl(&["clean", "--json"])?;
    expect("clean with the pool alive", &kept["removed"], json!([]))?;
    kill_and_reap(owner)?;
    // Its workers die on their own time: look again until they are gone (a deadline far
    // above the expected milliseconds).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done = ipcctl(&["clean", "--json"])?;
        if done["removed"] == json!(["pool"]) {
            break;
        }
        expect("clean while the workers die", &done["removed"], json!([]))?;
        if std::time::Instant::now() > deadline {
            return Err(format!("the dead pool's region was never removed: {done}"));
        }
        std::thread::yield_now();
    }
    expect(
        "files after the pool",
        &json!(files()),
        json!(["mine", "not-ours"]),
    )?;
    Ok(())
}

/// The pool's task.
fn double(x: u32) -> u32 {
    2 * x
}

#[test]
fn clean_in_a_private_dev_shm_removes_only_the_dead() {
    let child = sys::fork_run(|| {
        let mut stderr = std::io::stderr();
        if let Err(why) = private_dev_shm() {
            let _ = writeln!(stderr, "skipped: cannot set up a private /dev/shm: {why}");
            return SKIPPED;
        }
        match clean_in_private_dev_shm() {
            Ok(()) => 0,
            Err(what) => {
                let _ = writeln!(stderr, "private /dev/shm: {what}");
                1
            }
        }
    })
    .unwrap();
    // A watchdog: the child is killed if it has not finished long after it should have.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        match sys::waitpid(child, WaitOptions::NOHANG).unwrap() {
            None if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            None => {
                let _ = sys::kill(child, Signal::KILL);
                panic!("the child did not finish within 120 s");
            }
            Some(WaitStatus::Exited(0)) => return,
            Some(WaitStatus::Exited(SKIPPED)) => {
                println!("skipped: unshare/mount refused (not root?); nothing checked");
                return;
            }
            Some(other) => panic!("the child failed or died of a signal: {other:?}"),
        }
    }
}
