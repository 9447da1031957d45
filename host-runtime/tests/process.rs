//! Integration tests for [`host_runtime::Process`]: every test forks real processes.
//!
//! Each test body runs under [`watchdog`], so a bug that blocks (a lost wake-up, a deadlocked
//! child) fails the test instead of hanging the run. Bodies also run one at a time (`common::SERIAL`):
//! a forked child inherits *every* descriptor of the test binary, so a child forked by one test
//! would hold the socket ends of another test open and delay the end-of-file that test waits
//! for.
//!
//! Two tests re-run this binary on themselves ([`run_inner`], with `INNER_ENV` set so that the
//! re-run plays the inner part) to see its stdout and stderr as written to the real file
//! descriptors, outside the test harness's capture.
//!
//! No test sleeps to synchronise: children and parent hand-shake over socket pairs, and a
//! child's exit is observed by `join`. The one polled condition ([`poll_until`]) is "reaped by
//! a background thread", which no notification reports.

mod common;

use common::{children_of_self, release, waiting_child, watchdog_secs};
use std::collections::{HashMap, HashSet};
use std::env;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use host_runtime::process::{Builder, Process, ProcessError};
use host_runtime::sys::{self, Pid, Signal, WaitOptions};
use host_runtime::{current_process, CurrentProcess};

/// [`watchdog_secs`] with the default limit.
fn watchdog(body: impl FnOnce() + Send + 'static) {
    watchdog_secs(30, body);
}

/// Re-checks `cond` until it holds, failing after `timeout`. Only for conditions no
/// notification reports (a child reaped by a background thread); the pause between checks is
/// not a synchronisation, just politeness to the CPU.
fn poll_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Set in a re-run of this binary ([`run_inner`]): the re-run test plays its inner part.
const INNER_ENV: &str = "HOST_RUNTIME_TEST_INNER";

/// Whether this run of test `name` is the re-run that plays its inner part.
fn is_inner(name: &str) -> bool {
    env::var(INNER_ENV).is_ok_and(|inner| inner == name)
}

/// Re-runs this test binary on test `name` alone, with output not captured and [`INNER_ENV`]
/// set so that the test plays its inner part, and returns its output. If it runs longer than
/// `secs` seconds, kills it and every process it started (it runs in a process group of its
/// own), and fails.
fn run_inner(name: &str, secs: u64) -> Output {
    let child = Command::new(env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER_ENV, name)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pgid = Pid::from_raw(child.id() as i32).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    match done_rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            // `wait_with_output` reaps only after both pipes reached end of file, and hung
            // members of the group hold them: the group (its leader at least a zombie) is
            // still ours.
            let _ = sys::kill_process_group(pgid, Signal::KILL);
            panic!("{name} did not finish within {secs} s (its process group was killed)");
        }
    }
}

/// Reads a native-endian `i32` from `r`.
fn read_i32(mut r: impl Read) -> i32 {
    let mut buf = [0u8; 4];
    r.read_exact(&mut buf).unwrap();
    i32::from_ne_bytes(buf)
}

/// The `N` of a default name `Process-N`.
fn default_number(name: &str) -> u64 {
    name.strip_prefix("Process-")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a default name: {name:?}"))
}

// ---------------------------------------------------------------------------------------------
// Exit codes

#[test]
fn exitcode_of_normal_return_is_0() {
    watchdog(|| {
        let p = Process::new(|| {});
        assert_eq!(p.exitcode(), None);
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(p.exitcode(), Some(0));
        assert!(!p.is_alive());
    });
}

#[test]
fn exitcode_of_panic_is_1() {
    watchdog(|| {
        let p = Process::new(|| panic!("expected panic in a child (exitcode_of_panic_is_1)"));
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 1);
        assert_eq!(p.exitcode(), Some(1));
    });
}

#[test]
fn exitcode_of_process_exit_is_its_code() {
    watchdog(|| {
        let p = Process::new(|| std::process::exit(7));
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 7);
        assert_eq!(p.exitcode(), Some(7));
    });
}

#[test]
fn terminate_gives_minus_15() {
    watchdog(|| {
        let (p, _tx) = waiting_child(Builder::new());
        p.terminate().unwrap();
        assert_eq!(p.join().unwrap(), -15);
        assert_eq!(p.exitcode(), Some(-libc::SIGTERM));
        // Reaped: both are no-ops, not errors.
        p.terminate().unwrap();
        p.kill().unwrap();
    });
}

#[test]
fn kill_gives_minus_9() {
    watchdog(|| {
        let (p, _tx) = waiting_child(Builder::new());
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        assert_eq!(p.exitcode(), Some(-libc::SIGKILL));
    });
}

/// The panic message reaches the child's stderr (fd 2), written by the child's panic hook.
#[test]
fn child_panic_message_reaches_stderr() {
    if is_inner("child_panic_message_reaches_stderr") {
        return inner_child_panics();
    }
    let output = run_inner("child_panic_message_reaches_stderr", 60);
    assert!(output.status.success(), "inner test failed: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("process 'panicky' (pid ")
            && stderr.contains("panicked at")
            && stderr.contains("boom-8e1d"),
        "no panic message on stderr: {stderr}"
    );
}

/// The inner part of [`child_panic_message_reaches_stderr`].
fn inner_child_panics() {
    watchdog(|| {
        let p = Builder::new()
            .name("panicky")
            .spawn(|| panic!("boom-8e1d"))
            .unwrap();
        assert_eq!(p.join().unwrap(), 1);
    });
}

// ---------------------------------------------------------------------------------------------
// Waiting

#[test]
fn join_timeout_returns_after_the_timeout_and_the_child_lives_on() {
    watchdog(|| {
        let (p, tx) = waiting_child(Builder::new());
        for ms in [0, 1, 20, 100] {
            let timeout = Duration::from_millis(ms);
            let t = Instant::now();
            assert!(matches!(
                p.join_timeout(timeout),
                Err(ProcessError::Timeout)
            ));
            let elapsed = t.elapsed();
            assert!(
                elapsed >= timeout,
                "returned after {elapsed:?} < {timeout:?}"
            );
            assert!(p.is_alive());
            assert_eq!(p.exitcode(), None);
        }
        release(&tx);
        assert_eq!(p.join_timeout(Duration::from_secs(20)).unwrap(), 0);
    });
}

#[test]
fn is_alive_is_false_before_start_true_while_running_false_after_join() {
    watchdog(|| {
        let (mut parent_end, child_end) = UnixStream::pair().unwrap();
        let p = Process::new(move || {
            let mut s = child_end;
            s.write_all(b"r").unwrap();
            s.read_exact(&mut [0u8]).unwrap();
        });
        assert!(!p.is_alive());
        p.start().unwrap();
        // The child said it runs, and waits for us: it is alive now.
        parent_end.read_exact(&mut [0u8]).unwrap();
        assert!(p.is_alive());
        parent_end.write_all(b"x").unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert!(!p.is_alive());
    });
}

#[test]
fn terminate_from_another_thread_while_joining() {
    watchdog(|| {
        let (p, _tx) = waiting_child(Builder::new());
        let p = Arc::new(p);
        let joiner = {
            let p = Arc::clone(&p);
            thread::spawn(move || p.join().unwrap())
        };
        p.terminate().unwrap();
        assert_eq!(joiner.join().unwrap(), -15);
        assert_eq!(p.join().unwrap(), -15);
    });
}

#[test]
fn join_timeout_of_zero_reaps_a_child_that_has_exited() {
    watchdog(|| {
        let p = Process::new(|| std::process::exit(4));
        p.start().unwrap();
        // Exited (its pidfd is readable), not yet reaped: a zero timeout still finds it.
        assert!(sys::poll_readable(p.sentinel().unwrap(), None).unwrap());
        assert_eq!(p.join_timeout(Duration::ZERO).unwrap(), 4);
        assert!(!children_of_self().contains(&p.pid().unwrap()));
        assert_eq!(p.join().unwrap(), 4);
    });
}

#[test]
fn sentinel_becomes_readable_when_the_child_exits() {
    watchdog(|| {
        let (p, tx) = waiting_child(Builder::new());
        let fd = p.sentinel().expect("this kernel has pidfds");
        assert!(!sys::poll_readable(fd, Some(Duration::ZERO)).unwrap());
        release(&tx);
        assert!(sys::poll_readable(fd, None).unwrap());
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn a_hundred_processes_all_exit_0() {
    watchdog(|| {
        let procs: Vec<Process> = (0..100)
            .map(|i| {
                let p = Process::new(move || {
                    let v: Vec<u32> = (0..i).collect();
                    assert_eq!(v.len() as u32, i);
                });
                p.start().unwrap();
                p
            })
            .collect();
        let pids: HashSet<Pid> = procs.iter().map(|p| p.pid().unwrap()).collect();
        assert_eq!(pids.len(), 100);
        for p in &procs {
            assert_eq!(p.join().unwrap(), 0, "{}", p.name());
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Names, pids, current_process

#[test]
fn default_names_count_up_from_the_counter() {
    watchdog(|| {
        let a = Process::new(|| {});
        let b = Process::new(|| {});
        let named = Builder::new().name("custom").build(|| {});
        let c = Process::new(|| {});
        let (na, nb, nc) = (
            default_number(a.name()),
            default_number(b.name()),
            default_number(c.name()),
        );
        assert!(na >= 1);
        // Tests run one at a time, so nothing else takes numbers meanwhile; a named process
        // takes one too, as in Python.
        assert_eq!(nb, na + 1);
        assert_eq!(named.name(), "custom");
        assert_eq!(nc, nb + 2);
    });
}

#[test]
fn names_nest_in_children_as_in_python() {
    watchdog(|| {
        let (mut rx, tx) = UnixStream::pair().unwrap();
        let p = Process::new(move || {
            let mut tx = tx;
            // The counter starts again in the child: its first process is `<child>:1`.
            let first = Process::new(|| {});
            let second = Process::new(|| {});
            writeln!(tx, "{}\n{}", first.name(), second.name()).unwrap();
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let mut names = String::new();
        rx.read_to_string(&mut names).unwrap();
        assert_eq!(names, format!("{0}:1\n{0}:2\n", p.name()));
    });
}

#[test]
fn default_names_are_fixed_where_the_process_is_made() {
    watchdog(|| {
        let (mut rx, tx) = UnixStream::pair().unwrap();
        // Default names are rendered on first use: `made_here`'s is first asked in a child,
        // and must still be the one it got here, not one in the child's numbering.
        let made_here = Process::new(|| {});
        let p = Process::new(move || {
            let mut tx = tx;
            let own = current_process().name().to_owned();
            // Three levels down: the grandchild's own name and the name of what it makes.
            let (mut rx2, tx2) = UnixStream::pair().unwrap();
            let grandchild = Process::new(move || {
                let mut tx2 = tx2;
                let inner = Process::new(|| {});
                writeln!(tx2, "{}\n{}", current_process().name(), inner.name()).unwrap();
            });
            grandchild.start().unwrap();
            assert_eq!(grandchild.join().unwrap(), 0);
            let mut below = String::new();
            rx2.read_to_string(&mut below).unwrap();
            write!(tx, "{own}\n{}\n{below}", made_here.name()).unwrap();
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let mut names = String::new();
        rx.read_to_string(&mut names).unwrap();
        let parent = p.name();
        // Made just before `p`: one number less (tests run one at a time).
        let made_here = format!("Process-{}", default_number(parent) - 1);
        assert_eq!(
            names,
            format!("{parent}\n{made_here}\n{parent}:1\n{parent}:1:1\n")
        );
    });
}

#[test]
fn current_process_in_the_child_reports_its_name_and_pid() {
    watchdog(|| {
        let me: CurrentProcess = current_process();
        assert_eq!(me.name(), "MainProcess");
        assert!(me.is_main());
        assert_eq!(me.pid(), Pid::this());

        let (mut rx, tx) = UnixStream::pair().unwrap();
        let p = Builder::new()
            .name("worker-7")
            .spawn(move || {
                let mut tx = tx;
                let me = current_process();
                assert!(!me.is_main());
                tx.write_all(&me.pid().as_raw().to_ne_bytes()).unwrap();
                tx.write_all(me.name().as_bytes()).unwrap();
            })
            .unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let pid = read_i32(&mut rx);
        let mut name = String::new();
        rx.read_to_string(&mut name).unwrap();
        assert_eq!(name, "worker-7");
        assert_eq!(Pid::from_raw(pid), p.pid());
        // Unchanged in the parent.
        assert_eq!(current_process().name(), "MainProcess");
    });
}

#[test]
fn pid_is_none_before_start_and_some_after() {
    watchdog(|| {
        let p = Process::new(|| {});
        assert_eq!(p.pid(), None);
        p.start().unwrap();
        let pid = p.pid().expect("started");
        assert!(pid.as_raw() > 0);
        assert_ne!(pid, Pid::this());
        p.join().unwrap();
        assert_eq!(p.pid(), Some(pid)); // kept after exit, as in Python
    });
}

// ---------------------------------------------------------------------------------------------
// Wrong states

#[test]
fn starting_twice_is_an_error() {
    watchdog(|| {
        let p = Process::new(|| {});
        p.start().unwrap();
        let err = p.start().unwrap_err();
        assert!(matches!(err, ProcessError::AlreadyStarted));
        assert_eq!(err.to_string(), "process already started");
        assert_eq!(p.join().unwrap(), 0);
        assert!(matches!(p.start(), Err(ProcessError::AlreadyStarted)));
    });
}

#[test]
fn calls_before_start_are_errors() {
    watchdog(|| {
        let p = Process::new(|| {});
        assert!(matches!(p.join(), Err(ProcessError::NotStarted)));
        assert!(matches!(
            p.join_timeout(Duration::from_millis(1)),
            Err(ProcessError::NotStarted)
        ));
        assert!(matches!(p.terminate(), Err(ProcessError::NotStarted)));
        assert!(matches!(p.kill(), Err(ProcessError::NotStarted)));
        assert_eq!(p.exitcode(), None);
        assert!(!p.is_alive());
        assert!(p.sentinel().is_none());
        let err: Box<dyn std::error::Error> = Box::new(p.join().unwrap_err());
        assert_eq!(err.to_string(), "process not started");
        // Still startable.
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
    });
}

// ---------------------------------------------------------------------------------------------
// Zombies

#[test]
fn joined_children_are_reaped() {
    watchdog(|| {
        let procs: Vec<Process> = (0..10)
            .map(|_| Builder::new().spawn(|| {}).unwrap())
            .collect();
        for p in &procs {
            assert_eq!(p.join().unwrap(), 0);
        }
        let children = children_of_self();
        for p in &procs {
            let pid = p.pid().unwrap();
            assert!(!children.contains(&pid), "{pid} is still our child");
            let err = sys::waitpid(pid, WaitOptions::NOHANG).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ECHILD));
        }
    });
}

#[test]
fn dropping_a_finished_process_reaps_it_at_once() {
    watchdog(|| {
        let p = Process::new(|| {});
        p.start().unwrap();
        let pid = p.pid().unwrap();
        // Exited (the pidfd is readable) but not reaped: a zombie.
        assert!(sys::poll_readable(p.sentinel().unwrap(), None).unwrap());
        assert!(children_of_self().contains(&pid));
        drop(p);
        assert!(!children_of_self().contains(&pid));
    });
}

#[test]
fn dropping_a_running_process_neither_kills_it_nor_leaves_a_zombie() {
    watchdog(|| {
        let (mut parent_end, child_end) = UnixStream::pair().unwrap();
        let p = Process::new(move || {
            let mut s = child_end;
            s.read_exact(&mut [0u8]).unwrap();
            s.write_all(b"still here").unwrap(); // proves it was not killed by the drop
        });
        p.start().unwrap();
        let pid = p.pid().unwrap();
        drop(p);
        parent_end.write_all(b"x").unwrap();
        let mut reply = [0u8; 10];
        parent_end.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"still here");
        poll_until(
            Duration::from_secs(20),
            "the dropped child is reaped",
            || !children_of_self().contains(&pid),
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Daemons and parent death

/// Starts, in an intermediate process, a child (daemon or not) that holds the write end of a
/// socket pair until it dies and that reports `getppid()` when poked; the intermediate then
/// exits (normally, or killed by `SIGKILL` if `crash`). Returns the intermediate's pid and exit
/// code, and our end of the socket pair.
fn orphan_a_child(daemon: bool, crash: bool) -> (Pid, i32, UnixStream) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let intermediate = Process::new(move || {
        let grandchild = Builder::new()
            .daemon(daemon)
            .spawn(move || {
                let mut s = theirs;
                // Wait for a poke (sent after the intermediate is gone), answer with our parent.
                if s.read_exact(&mut [0u8]).is_ok() {
                    let ppid = sys::getppid().map_or(0, Pid::as_raw);
                    let _ = s.write_all(&ppid.to_ne_bytes());
                }
            })
            .unwrap();
        // Our copy of `theirs` went with the grandchild's closure: only it holds the end now.
        if crash {
            let _ = sys::kill(sys::getpid(), Signal::KILL);
        }
        drop(grandchild); // running: handed to a waiter thread, not killed
    });
    intermediate.start().unwrap();
    let code = intermediate.join().unwrap();
    (intermediate.pid().unwrap(), code, ours)
}

#[test]
fn a_daemon_dies_when_its_parent_exits() {
    watchdog(|| {
        let (_, code, mut ours) = orphan_a_child(true, false);
        assert_eq!(code, 0);
        // End of file: the only holder of the other end, the daemon, is dead. No poke sent.
        let mut rest = Vec::new();
        assert_eq!(ours.read_to_end(&mut rest).unwrap(), 0);
    });
}

#[test]
fn a_daemon_dies_when_its_parent_is_killed() {
    watchdog(|| {
        let (_, code, mut ours) = orphan_a_child(true, true);
        assert_eq!(code, -9);
        let mut rest = Vec::new();
        assert_eq!(ours.read_to_end(&mut rest).unwrap(), 0);
    });
}

#[test]
fn a_non_daemon_outlives_its_parent() {
    watchdog(|| {
        for crash in [false, true] {
            let (intermediate, code, mut ours) = orphan_a_child(false, crash);
            assert_eq!(code, if crash { -9 } else { 0 });
            // The intermediate is gone; the grandchild still answers, re-parented.
            ours.write_all(b"p").unwrap();
            let ppid = read_i32(&mut ours);
            assert_ne!(Pid::from_raw(ppid), Some(intermediate));
            // Then it exits (reaped by its new parent): end of file.
            let mut rest = Vec::new();
            assert_eq!(ours.read_to_end(&mut rest).unwrap(), 0);
        }
    });
}

/// The documented Linux behaviour: the parent-death signal follows the *thread* that forked.
#[test]
fn a_daemon_dies_when_the_thread_that_started_it_exits() {
    watchdog(|| {
        let (p, _tx) = thread::spawn(|| waiting_child(Builder::new().daemon(true)))
            .join()
            .unwrap();
        // `start` returned only once the daemon had armed the signal, so this is no race.
        assert_eq!(p.join().unwrap(), -9);

        // A non-daemon started the same way lives on.
        let (p, tx) = thread::spawn(|| waiting_child(Builder::new()))
            .join()
            .unwrap();
        assert!(p.is_alive());
        release(&tx);
        assert_eq!(p.join().unwrap(), 0);
    });
}

// ---------------------------------------------------------------------------------------------
// Fork safety

const STORM_CHILDREN: usize = 1000;
const NOISE_THREADS: usize = 4;

/// 1,000 starts while 4 threads allocate and print (3 to stdout, one holding the lock for bursts
/// of lines, 1 to stderr): nothing deadlocks, every child's line appears exactly once, and no
/// line appears twice (a child inheriting a half-full buffer would write it again).
#[test]
fn starting_while_other_threads_allocate_and_print_does_not_deadlock() {
    const NAME: &str = "starting_while_other_threads_allocate_and_print_does_not_deadlock";
    if is_inner(NAME) {
        return inner_fork_storm();
    }
    let output = run_inner(NAME, 90);
    assert!(output.status.success(), "inner test failed: {output:?}");

    let mut child_lines: HashMap<usize, usize> = HashMap::new();
    let mut noise = HashSet::new();
    for (stream, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        for line in String::from_utf8_lossy(text).lines() {
            // With --nocapture the harness's "test … " precedes the first line: skip to the tag.
            let tags = line.matches("child ").count() + line.matches("noise ").count();
            assert!(tags <= 1, "garbled {stream} line: {line:?}");
            if let Some(at) = line.find("child ") {
                let i: usize = line[at..].split(' ').nth(1).unwrap().parse().unwrap();
                *child_lines.entry(i).or_default() += 1;
            } else if let Some(at) = line.find("noise ") {
                assert!(noise.insert(line[at..].to_owned()), "duplicated: {line:?}");
            }
        }
    }
    assert_eq!(child_lines.len(), STORM_CHILDREN, "missing child lines");
    assert!(
        child_lines.values().all(|&n| n == 1),
        "a child line repeats"
    );
    assert!(!noise.is_empty());
}

/// The inner part of [`starting_while_other_threads_allocate_and_print_does_not_deadlock`].
fn inner_fork_storm() {
    watchdog_secs(60, || {
        let stop = Arc::new(AtomicBool::new(false));
        let noise: Vec<_> = (0..NOISE_THREADS)
            .map(|k| {
                let stop = Arc::clone(&stop);
                thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        // Churn the allocator with assorted sizes.
                        let mut held: Vec<Vec<u8>> = Vec::new();
                        for j in 0..200 {
                            held.push(vec![k as u8; (j * 37 + n as usize) % 4096]);
                            if j % 3 == 0 {
                                held.swap_remove(0);
                            }
                        }
                        match k {
                            0 => eprintln!("noise {k} {n} {}", held.len()),
                            1 => {
                                let mut out = io::stdout().lock();
                                for _ in 0..5 {
                                    writeln!(out, "noise {k} {n} {}", held.len()).unwrap();
                                    n += 1;
                                }
                            }
                            _ => println!("noise {k} {n} {}", held.len()),
                        }
                        n += 1;
                    }
                })
            })
            .collect();

        // Up to 8 children at a time.
        let mut running = std::collections::VecDeque::new();
        for i in 0..STORM_CHILDREN {
            let p = Process::new(move || {
                let v: Vec<u64> = (0..1000).collect();
                println!("child {i} {}", v.iter().sum::<u64>());
            });
            p.start().unwrap();
            running.push_back(p);
            if running.len() == 8 {
                let p = running.pop_front().unwrap();
                assert_eq!(p.join().unwrap(), 0, "{}", p.name());
            }
        }
        for p in running {
            assert_eq!(p.join().unwrap(), 0, "{}", p.name());
        }
        // All 1,000 reaped: no zombie left (this process has no other children).
        assert_eq!(children_of_self(), HashSet::new());
        stop.store(true, Ordering::Relaxed);
        for t in noise {
            t.join().unwrap();
        }
    });
}
