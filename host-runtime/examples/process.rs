//! `Process` in action: names, pids, exit codes, `terminate`, `join_timeout`, a daemon.
//!
//! Run with `cargo run -p host-runtime --example process`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use host_runtime::process::{Builder, ProcessError};
use host_runtime::{current_process, Process};

fn main() -> Result<(), ProcessError> {
    let me = current_process();
    println!("parent: {} (pid {})", me.name(), me.pid());

    // Default names count up: Process-1, Process-2, …
    let greeter = Process::new(|| {
        let me = current_process();
        println!("  child: {} (pid {}) says hello", me.name(), me.pid());
    });
    let panicker = Process::new(|| panic!("something went wrong in the child"));
    let exiter = Builder::new()
        .name("exiter")
        .build(|| std::process::exit(7));

    for p in [&greeter, &panicker, &exiter] {
        p.start()?;
    }
    for p in [&greeter, &panicker, &exiter] {
        let code = p.join()?;
        println!("{} (pid {:?}) exited with {code}", p.name(), p.pid());
    }

    // A child that would run forever: time out, then terminate it.
    let (_keep_open, rx) = UnixStream::pair()?;
    let sleeper = Builder::new().name("sleeper").spawn(move || {
        let mut rx = rx;
        let _ = rx.read(&mut [0u8]); // nobody ever writes
    })?;
    let waited = sleeper.join_timeout(Duration::from_millis(100));
    println!(
        "sleeper after 100 ms: join_timeout = {waited:?}, is_alive = {}",
        sleeper.is_alive()
    );
    assert!(matches!(waited, Err(ProcessError::Timeout)));
    sleeper.terminate()?;
    println!("sleeper terminated: exitcode = {:?}", Some(sleeper.join()?));

    // Arguments go in as captures; results come back over a socket, one line. (Read a line,
    // not to end of file: every child forked meanwhile inherits a copy of `tx`.)
    let (results, tx) = UnixStream::pair()?;
    let squarer = Builder::new().name("squarer").daemon(true).spawn(move || {
        let mut tx = tx;
        let squares: Vec<String> = (1..=5).map(|i: u32| (i * i).to_string()).collect();
        writeln!(tx, "{}", squares.join(" ")).unwrap();
    })?;
    let mut line = String::new();
    BufReader::new(results).read_line(&mut line)?;
    println!(
        "{} (daemon: {}) sent: {}",
        squarer.name(),
        squarer.is_daemon(),
        line.trim_end()
    );
    println!("{} exited with {}", squarer.name(), squarer.join()?);
    Ok(())
}
