//! `ipcctl watch` in a real terminal: under tmux (skipped, saying so, if tmux is missing),
//! started in a pane, its screen captured while a queue or a named pool changes, quit with `q`,
//! and the terminal's settings checked to be restored.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use host_runtime::pool;
use host_runtime::queue::Builder;
use host_runtime::RawQueue;

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap()
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "watch"]).stdout)
            .into_owned()
    }

    /// Captures the pane until it shows `text` (a deadline far above the expected time).
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn watch_redraws_in_a_terminal_and_quits_on_q() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("skipped: no tmux; nothing checked");
        return;
    }
    let name = format!("ipcctl-watch-{}", std::process::id());
    let _ = RawQueue::unlink_named(&name);
    let q = Builder::new().maxsize(8).create_named_raw(&name).unwrap();
    struct Unlink(String);
    impl Drop for Unlink {
        fn drop(&mut self) {
            let _ = RawQueue::unlink_named(&self.0);
        }
    }
    let _unlink = Unlink(name.clone());
    for _ in 0..3 {
        q.put(b"x").unwrap();
    }
    let tmux = Tmux {
        socket: format!("ipcctl-test-{}", std::process::id()),
    };
    // Twice (quit with `q`, then with Ctrl-C, a line read in between), then the terminal's
    // settings and a marker after them, then a long sleep so that the pane stays to be read.
    let watch = format!(
        "{} --dir /dev/shm watch {name} --interval 50",
        env!("CARGO_BIN_EXE_ipcctl")
    );
    let script =
        format!("{watch}; echo EXITED-1 $?; read go; {watch}; echo EXITED-2 $?; stty -a; echo STTY-DONE; sleep 60");
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "watch",
        "-x",
        "120",
        "-y",
        "50",
        "sh",
        "-c",
        &script,
    ]);
    assert!(started.status.success(), "{started:?}");
    tmux.wait_for("depth      3 of 8");
    // Refreshed in place while it runs.
    q.put(b"y").unwrap();
    tmux.wait_for("depth      4 of 8");
    assert!(tmux
        .run(&["send-keys", "-t", "watch", "q"])
        .status
        .success());
    tmux.wait_for("EXITED-1 0");
    // The shell reads a line (so the terminal is canonical again), then starts the second run.
    assert!(tmux
        .run(&["send-keys", "-t", "watch", "go", "Enter"])
        .status
        .success());
    // The second run: Ctrl-C reaches it as a key (raw mode), so it restores the terminal too.
    q.put(b"z").unwrap();
    tmux.wait_for("depth      5 of 8");
    assert!(tmux
        .run(&["send-keys", "-t", "watch", "C-c"])
        .status
        .success());
    // `stty -a` has printed all of its settings once the marker after it shows.
    let screen = tmux.wait_for("STTY-DONE");
    // Raw mode undone: canonical input, echo and signals are back.
    let after_exit = screen.split("EXITED-2 0").nth(1).unwrap();
    let settings: Vec<&str> = after_exit
        .split("STTY-DONE")
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    for flag in ["icanon", "echo", "isig"] {
        assert!(
            settings.contains(&flag),
            "{flag} not restored: {settings:?}"
        );
    }
}

/// The long task: runs until the file `path` exists.
fn hold(path: String) -> u32 {
    while !std::path::Path::new(&path).exists() {
        std::thread::sleep(Duration::from_millis(2));
    }
    7
}

/// The time a `show` line gives a worker in its state (`running  for 1.2 s`).
fn worker_for(screen: &str, state: &str) -> Option<String> {
    let line = screen.lines().find(|l| l.contains(&format!(" {state} ")))?;
    let at = line.find(" for ")?;
    Some(line[at + 5..].split('(').next()?.trim().to_owned())
}

#[test]
fn watch_shows_a_pool_worker_running_for_longer_then_its_task_done() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("skipped: no tmux; nothing checked");
        return;
    }
    let name = format!("ipcctl-watch-pool-{}", std::process::id());
    let flag = std::env::temp_dir().join(format!("{name}.go"));
    let _ = std::fs::remove_file(&flag);
    let pool = pool::Builder::new()
        .processes(1)
        .name(&name)
        .build()
        .unwrap();
    let task = pool
        .apply_async(hold, flag.to_str().unwrap().to_owned())
        .unwrap();
    let tmux = Tmux {
        socket: format!("ipcctl-test-pool-{}", std::process::id()),
    };
    let script = format!(
        "{} --dir /dev/shm watch {name} --interval 50; echo EXITED $?; sleep 60",
        env!("CARGO_BIN_EXE_ipcctl")
    );
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "watch",
        "-x",
        "120",
        "-y",
        "50",
        "sh",
        "-c",
        &script,
    ]);
    assert!(started.status.success(), "{started:?}");
    let screen = tmux.wait_for("tasks      0 pending, 1 running, 0 done, 0 failed");
    let first = worker_for(&screen, "running");
    // Redrawn with the time in its state growing (a deadline, not a duration, is checked).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let screen = tmux.screen();
        let now = worker_for(&screen, "running");
        if now.is_some() && now != first && now.as_deref() != Some("?") {
            break;
        }
        assert!(Instant::now() < deadline, "the time never moved:\n{screen}");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(&flag, b"go").unwrap();
    assert_eq!(task.get().unwrap(), 7);
    tmux.wait_for("tasks      0 pending, 0 running, 1 done, 0 failed");
    assert!(tmux
        .run(&["send-keys", "-t", "watch", "q"])
        .status
        .success());
    tmux.wait_for("EXITED 0");
    let _ = std::fs::remove_file(&flag);
    drop(pool);
}
