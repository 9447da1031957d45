//! `ipcctl watch` in a real terminal: under tmux (skipped, saying so, if tmux is missing),
//! started in a pane, its screen captured while the queue changes, quit with `q`, and the
//! terminal's settings checked to be restored.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

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
