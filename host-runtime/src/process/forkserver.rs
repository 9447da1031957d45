//! The `forkserver` start method: one server process per program, started by re-executing the
//! program (as a spawn), forks each child on request.
//!
//! # How it works
//!
//! - **The server.** The first [`Builder::run`](super::Builder::run) with
//!   [`StartMethod::Forkserver`](super::StartMethod::Forkserver) makes a `SOCK_SEQPACKET`
//!   socket pair and starts `/proc/self/exe` as for a spawn, handing it one end and the
//!   environment variable `HOST_RUNTIME_FORKSERVER=1:PARENT-PID:FD`. There,
//!   [`init`](super::init) (before `main`, or first thing in it) removes the variable and
//!   serves (it says hello first: a server that does not within 30 s, a program whose `main`
//!   skips `init`, is killed and the start fails): the server has one thread and has run
//!   nothing of the program but `init`.
//! - **A request** is one message: the entry (as for a spawn: an offset and the executable's
//!   device and inode; postcard), then the encoded name and arguments themselves if they are
//!   at most 32 KiB (else they go in a memory file, as a spawn's), with the result memory file
//!   (the same as a spawn's) and any handed descriptors as `SCM_RIGHTS` descriptors. The
//!   server makes the child with
//!   `clone(CLONE_PARENT)`: a copy of the server that is a child of the *requesting* process,
//!   which waits for it, reaps it and signals it exactly as a forked or spawned child (pidfd,
//!   `waitpid`). It answers with the child's pid (or `-errno`); the client's wait for the
//!   answer looks every 500 ms whether the server has exited, so a killed server is an error,
//!   not a hang (its children hold copies of its socket, which then never reaches end of file).
//! - **Once per server, not per child**: the count of its threads (it must have one to fork;
//!   nothing in it starts one after `init` began to serve), the identity of its executable and
//!   where this crate's code is (what a child checks before it runs the entry: the children, its
//!   copies, find the answers in memory), the stdout buffer and the children's panic hook.
//! - **The child** runs the entry like a spawned child (decodes the arguments, writes the
//!   result or panic record, exits 0 or 1).
//! - **The end.** The server leaves when its socket reaches end of file: when every process
//!   holding the client end (this program, and children forked from it that inherited it) is
//!   gone. A forked child of the program that asks for a forkserver child starts its own
//!   server (the children of the inherited one would be its parent's).
//!
//! **Daemons** ([`Builder::daemon`](super::Builder::daemon)`(true)`) can't use the
//! parent-death signal: it follows the thread that made the child, here a thread of the
//! server's parent, not the requesting one. Instead the request says "daemon" and carries the
//! start's handshake socket as a last descriptor; the child first starts a thread that waits on
//! a pidfd of the requesting process (checked to be its parent after the pidfd is open) and
//! kills the child with `SIGKILL` when it ends, then writes the handshake byte, so `run`
//! returns once the daemon is armed, as with the other methods. A forkserver daemon thus dies
//! with the *process* that started it (Python's rule), not with the thread (the other methods'
//! `PR_SET_PDEATHSIG`); it runs one more thread than its function starts. A builder
//! without a socket for the handshake (no descriptor free) can't start one
//! ([`ProcessError::Unavailable`]).

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use super::ProcessError;
use crate::lock::lock;
use crate::sys::{self, ExeId, ExecEntry, Pid};

/// The environment variable that makes a process a fork server.
pub(super) const ENV: &str = "HOST_RUNTIME_FORKSERVER";
/// The longest request header (an offset, a device, an inode, two flags: postcard varints).
const HEADER_MAX: usize = 64;
/// The longest arguments sent in the request itself; longer ones go in a memory file.
const INLINE_ARGS_MAX: usize = 32 << 10;
/// The longest request.
const REQUEST_MAX: usize = HEADER_MAX + INLINE_ARGS_MAX;

/// This process's connection to its server.
pub(super) struct Server {
    /// The client end.
    sock: OwnedFd,
    /// The server process (our child).
    pid: Pid,
    /// The process that started it: a forked child inherits this value and must not use it.
    owner: Pid,
}

static SERVER: Mutex<Option<Server>> = Mutex::new(None);

/// Locks the connection; `Process::start` holds it across a fork (after the children
/// registry's lock), so that no child inherits it locked by a thread that is gone.
pub(super) fn lock_server() -> std::sync::MutexGuard<'static, Option<Server>> {
    lock(&SERVER)
}

/// Asks the server (started on first use) for a child that runs `entry` on `input` (the
/// encoded name and arguments), writing its record into `result`; returns the child's pid. The
/// child is ours. `extra` descriptors go along; the child takes them with
/// [`take_inherited_fd`](super::spawn::take_inherited_fd).
///
/// `input` up to [`INLINE_ARGS_MAX`] bytes travels in the request message, after the header;
/// longer (or if the socket refuses a message that long, `EMSGSIZE`) in a memory file sent as
/// the first descriptor.
pub(super) fn request(
    entry: ExecEntry,
    input: &[u8],
    result: &File,
    extra: &[std::os::fd::BorrowedFd<'_>],
    daemon_ready: Option<std::os::fd::BorrowedFd<'_>>,
) -> io::Result<Pid> {
    let (offset, exe) = entry.to_parts();
    let daemon = daemon_ready.is_some();
    let header = |inline: bool| -> io::Result<Vec<u8>> {
        let msg = Vec::with_capacity(HEADER_MAX + if inline { input.len() } else { 0 });
        let msg = postcard::to_extend(&(offset, exe.dev, exe.ino, daemon, inline), msg)
            .map_err(io::Error::other)?;
        if msg.len() > HEADER_MAX {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        Ok(msg)
    };
    let me = sys::getpid();
    let mut server = lock(&SERVER);
    if server.as_ref().is_some_and(|s| s.owner != me) {
        // Inherited through a fork: its children would be our parent's. Leave it be (its
        // socket stays open in this process; the parent's server lives on).
        std::mem::forget(server.take());
    }
    if server.is_none() {
        *server = Some(start_server()?);
    }
    let s = server.as_ref().expect("set above");
    // The descriptors after the arguments: the result file, `extra`, a daemon's handshake
    // socket last.
    let mut fds = Vec::with_capacity(2 + extra.len() + 1);
    let mut asked = None;
    if input.len() <= INLINE_ARGS_MAX {
        let mut msg = header(true)?;
        msg.extend_from_slice(input);
        fds.push(result.as_fd());
        fds.extend_from_slice(extra);
        fds.extend(daemon_ready);
        match ask(s, &msg, &fds) {
            // Nothing was sent: the socket's buffer is smaller than the message.
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => fds.clear(),
            other => asked = Some(other),
        }
    }
    let asked = match asked {
        Some(asked) => asked,
        None => {
            let args = File::from(sys::memfd_create("host-runtime-args")?);
            args.write_all_at(input, 0)?;
            fds.push(args.as_fd());
            fds.push(result.as_fd());
            fds.extend_from_slice(extra);
            fds.extend(daemon_ready);
            ask(s, &header(false)?, &fds)
        }
    };
    match asked {
        Ok(raw) if raw < 0 => Err(io::Error::from_raw_os_error(-raw)),
        Ok(raw) => Pid::from_raw(raw).ok_or_else(|| io::ErrorKind::InvalidData.into()),
        Err(e) => {
            // The server died or broke: reap it, and start a new one next time.
            if let Some(dead) = server.take() {
                drop(dead.sock);
                let _ = sys::kill(dead.pid, sys::Signal::KILL);
                let _ = sys::waitpid(dead.pid, sys::WaitOptions::BLOCK);
            }
            Err(e)
        }
    }
}

/// How long a wait for the server's answer lasts before it checks that the server still runs.
const REPLY_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// Sends one request and receives the server's answer (a pid, or `-errno`).
///
/// The server's socket does not reach end of file when the server dies while children it made
/// live on (each holds a copy of it, made by the fork): so the wait for the answer times out
/// every [`REPLY_CHECK`] (`SO_RCVTIMEO`, set once when the server starts: no system call more
/// per request) and then asks whether the server has exited (`waitid(WNOWAIT)`, which leaves
/// it to be reaped): a killed server is an error after at most that long, never a hang.
fn ask(s: &Server, msg: &[u8], fds: &[std::os::fd::BorrowedFd<'_>]) -> io::Result<i32> {
    let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "the fork server is gone");
    sys::send_with_fds(s.sock.as_fd(), msg, fds)?;
    let mut reply = [0u8; 4];
    let got = loop {
        match sys::recv_with_fds(s.sock.as_fd(), &mut reply) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // Can't tell (someone else reaped it): gone as far as we know.
                if sys::has_exited(s.pid).unwrap_or(true) {
                    return Err(gone());
                }
            }
            got => break got?,
        }
    };
    match got {
        (4, fds) if fds.is_empty() => Ok(i32::from_le_bytes(reply)),
        _ => Err(gone()),
    }
}

/// Starts the server: `/proc/self/exe` with the server end of a socket pair.
fn start_server() -> io::Result<Server> {
    let (client, server_end) = sys::seqpacket_pair()?;
    let me = sys::getpid();
    let value = format!("1:{}:{}", me.as_raw(), server_end.as_raw_fd());
    let (argv, envp) = super::spawn::exec_args(&[(ENV, &value)])?;
    let pid = sys::spawn_exec(
        c"/proc/self/exe",
        &argv,
        &envp,
        &[server_end.as_fd()],
        None,
        None,
    )?;
    drop(server_end);
    // The server says hello once `init` serves; a program whose `main` does not call `init`
    // first would run `main` instead and never answer.
    // (A signal restarts the wait with the whole timeout: only ever longer.)
    let ready = sys::retry_on_intr(|| sys::poll_readable(client.as_fd(), Some(SERVER_START_TIMEOUT))).and_then(|r| {
        if !r {
            return Ok(false);
        }
        let mut hello = [0u8; 4];
        Ok(matches!(sys::recv_with_fds(client.as_fd(), &mut hello)?, (4, fds) if fds.is_empty() && hello == *HELLO))
    });
    if !matches!(ready, Ok(true)) {
        let _ = sys::kill(pid, sys::Signal::KILL);
        let _ = sys::waitpid(pid, sys::WaitOptions::BLOCK);
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the fork server did not start: does main call host_runtime::process::init() first?",
        ));
    }
    // Receives time out, so that `ask` can look whether the server still runs.
    let client = std::os::unix::net::UnixDatagram::from(client);
    if let Err(e) = client.set_read_timeout(Some(REPLY_CHECK)) {
        let _ = sys::kill(pid, sys::Signal::KILL);
        let _ = sys::waitpid(pid, sys::WaitOptions::BLOCK);
        return Err(e);
    }
    Ok(Server {
        sock: OwnedFd::from(client),
        pid,
        owner: me,
    })
}

/// How long a new server has to say [`HELLO`]: far above a program's start-up.
const SERVER_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// What a server says first.
const HELLO: &[u8; 4] = b"hrfs";

/// In a process started as a fork server: serves, then exits. Never returns.
pub(super) fn serve(value: &std::ffi::OsStr) -> ! {
    let code = match serve_inner(value) {
        Ok(()) => 0,
        Err(why) => {
            let _ = writeln!(
                io::stderr(),
                "host-runtime: fork server {}: {why}",
                std::process::id()
            );
            super::spawn::EXIT_CANNOT_RUN
        }
    };
    sys::exit_immediately(code)
}

fn serve_inner(value: &std::ffi::OsStr) -> Result<(), String> {
    let bad = || "malformed HOST_RUNTIME_FORKSERVER".to_string();
    let s = value.to_str().ok_or_else(bad)?;
    let mut it = s.split(':');
    if it.next() != Some("1") {
        return Err(bad());
    }
    let parent: i32 = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let fd: i32 = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let parent = Pid::from_raw(parent).ok_or_else(bad)?;
    if sys::getppid() != Some(parent) {
        return Err("the process that started it is gone".into());
    }
    // A fresh description of the inherited socket (no `unsafe` ownership of a raw fd); the
    // inherited number is not passed on to programs the children start. (Children, forked
    // copies, hold both: the client looks whether the server runs, not only for end of file.)
    let _ = sys::set_cloexec_raw(fd);
    let sock = sys::dup_inherited(fd).map_err(|e| format!("socket: {e}"))?;
    // What every child would otherwise look up anew (`/proc/self/exe`, the dynamic loader,
    // the stdout buffer, the panic hook): done once here, the children find it in their copy
    // of this process's memory.
    let _ = sys::prepare_entries();
    let _ = io::stdout();
    super::panic_hook::install_child_panic_hook();
    // Counted once, not before each fork: from here on this process runs this loop only
    // (`init` never returns into `main`), which starts no thread: it receives, decodes, forks
    // and replies; a daemon's watch thread starts in the child, after the fork. A server that
    // has threads already (`init` called too late) refuses every request with `ENOTSUP`.
    let forker = sys::SiblingForker::new();
    sys::send_with_fds(sock.as_fd(), HELLO, &[]).map_err(|e| format!("hello: {e}"))?;
    let mut buf = vec![0u8; REQUEST_MAX];
    loop {
        let (n, fds) = match sys::recv_with_fds(sock.as_fd(), &mut buf) {
            Ok((0, _)) => return Ok(()), // every client end is closed
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                reply(&sock, -libc::EINVAL);
                continue;
            }
            Err(e) => return Err(format!("receive: {e}")),
        };
        let mut fds = fds.into_iter();
        let request = decode_request(&buf[..n]);
        let input = match &request {
            Some((_, _, Some(inline))) => Some(Input::Inline(inline)),
            Some((_, _, None)) => fds.next().map(|f| Input::File(File::from(f))),
            None => None,
        };
        let answer = match (request, input, fds.next(), &forker) {
            (Some((entry, daemon, _)), Some(input), Some(result), Ok(forker)) => {
                let mut extra: Vec<OwnedFd> = fds.collect();
                let ready = if daemon { extra.pop() } else { None };
                let forked = forker.fork(|| {
                    if daemon {
                        // Armed before anything else runs; without a handshake socket, or
                        // if the watch can't start, no daemon.
                        let armed = ready.is_some() && die_with_parent(parent).is_ok();
                        if !armed {
                            return super::spawn::EXIT_CANNOT_RUN;
                        }
                        if let Some(tx) = &ready {
                            let _ = sys::write_all(tx.as_fd(), b"r");
                        }
                    }
                    drop(ready);
                    run_child(parent, entry, input, File::from(result), extra)
                });
                match forked {
                    Ok(pid) => pid.as_raw(),
                    Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
                }
            }
            // The server has threads (`init` was called too late).
            (Some(_), Some(_), Some(_), Err(_)) => -libc::ENOTSUP,
            _ => -libc::EINVAL,
        };
        reply(&sock, answer);
    }
}

fn reply(sock: &OwnedFd, value: i32) {
    let _ = sys::send_with_fds(sock.as_fd(), &value.to_le_bytes(), &[]);
}

/// Where a child's input (its name and arguments) is.
enum Input<'a> {
    /// In the request, after the header: in the server's buffer, which the child has a copy of.
    Inline(&'a [u8]),
    /// In a memory file.
    File(File),
}

/// The entry a request names, whether the child is a daemon, and its input if it came in the
/// request (else it is in a memory file, the first descriptor).
fn decode_request(bytes: &[u8]) -> Option<(ExecEntry, bool, Option<&[u8]>)> {
    let ((offset, dev, ino, daemon, inline), rest): ((i64, u64, u64, bool, bool), &[u8]) =
        postcard::take_from_bytes(bytes).ok()?;
    let input = match (inline, rest.is_empty()) {
        (true, _) => Some(rest),
        (false, true) => None,
        (false, false) => return None,
    };
    Some((
        ExecEntry::from_parts(offset, ExeId { dev, ino }),
        daemon,
        input,
    ))
}

/// Makes this process end (`SIGKILL` to itself, as a parent-death signal would) when `parent`,
/// its parent, ends: a thread waits on a pidfd of it (without pidfds, Linux < 5.3, it looks at
/// the parent every 100 ms). What a forkserver daemon (and a forkserver pool worker) has
/// instead of `PR_SET_PDEATHSIG`, which would follow a thread of the fork server's parent.
///
/// # Errors
///
/// `ESRCH` if `parent` is no longer this process's parent (the process is then killed at
/// once); as `std::thread::Builder::spawn`.
pub(crate) fn die_with_parent(parent: Pid) -> io::Result<()> {
    let pidfd = sys::pidfd_open(parent).ok();
    // Checked after the pidfd is open: the pid can't have been reused for another process.
    if sys::getppid() != Some(parent) {
        let _ = sys::kill(sys::getpid(), sys::Signal::KILL);
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    std::thread::Builder::new()
        .name("parent-watch".into())
        .spawn(move || {
            match pidfd {
                Some(fd) => {
                    let _ = sys::retry_on_intr(|| sys::poll_readable(fd.as_fd(), None));
                }
                None => {
                    while sys::getppid() == Some(parent) {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                }
            }
            let _ = sys::kill(sys::getpid(), sys::Signal::KILL);
            sys::exit_immediately(137)
        })
        .map(drop)
}

/// In the child the server made: runs the entry as a spawned child does.
fn run_child(
    parent: Pid,
    entry: ExecEntry,
    input: Input<'_>,
    result: File,
    extra: Vec<OwnedFd>,
) -> i32 {
    super::spawn::set_inherited(extra);
    let from_file;
    let input = match input {
        Input::Inline(bytes) => bytes,
        Input::File(args) => {
            let Ok(m) = args.metadata() else {
                return super::spawn::EXIT_CANNOT_RUN;
            };
            let mut bytes = vec![0u8; usize::try_from(m.len()).unwrap_or(0)];
            if args.read_exact_at(&mut bytes, 0).is_err() {
                return super::spawn::EXIT_CANNOT_RUN;
            }
            from_file = bytes;
            &from_file[..]
        }
    };
    let code = match super::spawn::run_entry(parent, entry, input, &result) {
        Ok(code) => code,
        Err(why) => {
            let _ = writeln!(io::stderr(), "host-runtime: forkserver child: {why}");
            super::spawn::EXIT_CANNOT_RUN
        }
    };
    let _ = io::stdout().flush();
    code
}

/// What a start with the forkserver method can't do: a daemon without a handshake socket.
pub(super) fn refuse_daemon(daemon: bool, use_socket: bool) -> Result<(), ProcessError> {
    if daemon && !use_socket {
        return Err(ProcessError::Unavailable(super::StartMethod::Forkserver));
    }
    Ok(())
}
