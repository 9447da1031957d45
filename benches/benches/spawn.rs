//! Starting and joining a process: host-runtime's `Process` against a raw `fork` + `waitpid`
//! (the floor), host-runtime's own `fork_run` + `waitpid`, and `std::process::Command`
//! running `/bin/true` (fork + exec, for scale).
//!
//! Start methods: `Process` start+join with the fork warning's thread count and without it
//! (`set_fork_warning(false)`); a spawned child (`StartMethod::Spawn`, the bench binary
//! re-executed, running a `fn`) against `std::process::Command` running the same binary to
//! `main` and out (both children start the same program and stop early in `main`); a
//! forkserver child (`StartMethod::Forkserver`) against raw `fork` + `waitpid`.
//!
//! host-runtime's `Pool` (`apply_async`, `map`) is measured in `pool.rs`; the report puts both
//! side by side with Python's figures.

#![deny(unsafe_code)]

use std::time::Duration;

use benches::ids::{group, spawn};
use criterion::{criterion_group, Criterion};
use host_runtime::process::{self, Builder, StartMethod};
use host_runtime::sys::{fork_run, waitpid, Pid, WaitOptions, WaitStatus};
use host_runtime::Process;

fn process_start_join() -> i32 {
    let p = Process::new(|| {});
    p.start().expect("start");
    p.join().expect("join")
}

#[allow(unsafe_code)] // The raw `fork(2)`/`waitpid(2)` peer, measured as such.
fn raw_fork_waitpid() -> i32 {
    // SAFETY: the child calls only `_exit` (async-signal-safe) and never returns into Rust code.
    let pid = unsafe { libc::fork() };
    match pid {
        0 => {
            // SAFETY: `_exit` takes an integer and never returns; no Rust state is touched.
            unsafe { libc::_exit(0) }
        }
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        pid => {
            let mut status = 0;
            // SAFETY: `status` is a valid, writable `c_int`; `pid` is our unreaped child.
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            assert_eq!(r, pid, "waitpid");
            libc::WEXITSTATUS(status)
        }
    }
}

fn fork_run_waitpid() -> i32 {
    let pid: Pid = fork_run(|| 0).expect("fork");
    match waitpid(pid, WaitOptions::BLOCK).expect("waitpid") {
        Some(WaitStatus::Exited(code)) => code,
        other => panic!("{other:?}"),
    }
}

fn command_true() -> i32 {
    std::process::Command::new("/bin/true")
        .status()
        .expect("spawn /bin/true")
        .code()
        .unwrap_or(-1)
}

fn process_start_join_no_warning() -> i32 {
    process::set_fork_warning(false);
    let code = process_start_join();
    process::set_fork_warning(true);
    code
}

fn noop(_: ()) {}

fn forkserver_start_join() {
    let h = Builder::new()
        .start_method(StartMethod::Forkserver)
        .run(noop, ())
        .expect("forkserver");
    h.join().expect("join");
}

fn spawned_start_join() {
    let h = Builder::new()
        .start_method(StartMethod::Spawn)
        .run(noop, ())
        .expect("spawn");
    h.join().expect("join");
}

/// Set for a child started by `command_same_exe`: `main` returns at once.
const EXIT_AT_ONCE: &str = "HOST_RUNTIME_BENCH_EXIT_AT_ONCE";

fn command_same_exe() -> i32 {
    std::process::Command::new(std::env::current_exe().expect("current_exe"))
        .env(EXIT_AT_ONCE, "1")
        .status()
        .expect("spawn self")
        .code()
        .unwrap_or(-1)
}

fn spawn(c: &mut Criterion) {
    let mut g = c.benchmark_group(group::PROCESS_SPAWN_JOIN);
    g.sample_size(30);
    assert_eq!(process_start_join(), 0);
    g.bench_function(spawn::PROCESS, |b| b.iter(process_start_join));
    assert_eq!(raw_fork_waitpid(), 0);
    g.bench_function(spawn::RAW_FORK, |b| b.iter(raw_fork_waitpid));
    assert_eq!(fork_run_waitpid(), 0);
    g.bench_function("host_runtime::sys::fork_run+waitpid", |b| {
        b.iter(fork_run_waitpid)
    });
    assert_eq!(process_start_join_no_warning(), 0);
    g.bench_function("host_runtime::Process start+join, fork warning off", |b| {
        b.iter(process_start_join_no_warning)
    });
    spawned_start_join();
    g.bench_function("host_runtime spawn start+join (StartMethod::Spawn)", |b| {
        b.iter(spawned_start_join)
    });
    forkserver_start_join(); // starts the server, outside the measurement
    g.bench_function(
        "host_runtime forkserver start+join (StartMethod::Forkserver)",
        |b| b.iter(forkserver_start_join),
    );
    assert_eq!(command_same_exe(), 0);
    g.bench_function("std::process::Command same executable", |b| {
        b.iter(command_same_exe)
    });
    if command_true() == 0 {
        g.bench_function("std::process::Command /bin/true", |b| b.iter(command_true));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = spawn
}
fn main() {
    // A spawned child runs its function here and exits.
    process::init();
    if std::env::var_os(EXIT_AT_ONCE).is_some() {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
