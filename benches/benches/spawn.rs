//! Starting and joining a process: host-runtime's `Process` against a raw `fork` + `waitpid`
//! (the floor), host-runtime's own `fork_run` + `waitpid`, and `std::process::Command`
//! running `/bin/true` (fork + exec, for scale).
//!
//! host-runtime's `Pool` (`apply_async`, `map`) is measured in `pool.rs`; the report puts both
//! side by side with Python's figures.

#![deny(unsafe_code)]

use std::time::Duration;

use benches::ids::{group, spawn};
use criterion::{criterion_group, criterion_main, Criterion};
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
criterion_main!(benches);
