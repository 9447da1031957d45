//! The `spawn` start method: [`Builder::run`] re-executes the program, whose [`init`] runs the
//! requested `fn` in the new process and exits.
//!
//! # How a spawn works
//!
//! 1. The parent encodes the child's number and name and the arguments (postcard) into a
//!    memory file (`memfd_create(2)`), and makes a second one for the result (the record of
//!    [`JoinHandle`]).
//! 2. It names the function: the address of a small entry point monomorphised for the `fn`
//!    item's type, minus the address of a fixed function of this crate (the code of an
//!    executable moves as one block under ASLR, so the distance is the same in every run of
//!    it), with the device and inode of the executable (`/proc/self/exe`).
//! 3. It starts `/proc/self/exe` (the very file the parent runs, even if it was replaced on
//!    disk since) with `clone(CLONE_VM | CLONE_VFORK)` and `execve`, as `posix_spawn` does
//!    (the child borrows the parent's memory until its `execve`: no page tables are copied),
//!    making no allocation and taking no lock in between (safe with other threads running; no
//!    `pthread_atfork` handler runs), clearing close-on-exec on the two memory files (and the
//!    descriptors a pool hands its workers) only. The child's environment is the parent's
//!    plus `HOST_RUNTIME_SPAWN=2:PARENT-PID:DEV:INO:OFFSET:ARGS-FD:RESULT-FD:FDS` (`FDS`: more
//!    descriptors handed on, comma-separated, usually none); its `argv` is the parent's
//!    `argv[0]` alone.
//! 4. In the child, [`init`] finds the variable, removes it (so that programs the function
//!    starts don't see it), sets close-on-exec again on the descriptors it was handed, checks
//!    that its parent is the one named and that it runs the same
//!    executable, decodes the arguments, runs the function under `catch_unwind` and writes the
//!    result or the panic's message into the result file, and exits (code 0, 1 after a panic,
//!    as a forked child); it never returns into `main`.
//! 5. The parent reaps and reads the result exactly as for a forked [`JoinHandle`].
//!
//! A function is a `fn` item or a closure that captures nothing (a zero-sized `Copy` type:
//! checked at compile time): its value carries no data, so the child can make it anew. The
//! arguments and the result are serde values; a handle of shared memory crosses as the name of
//! a named object, or as a descriptor of its memory file ([`ByFd`](super::ByFd)); see
//! [`Builder::run`].

use std::ffi::{CString, OsString};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::identity::{enter_child, lock_identity};
use super::join::{decode, run_child};
use super::panic_hook::install_child_panic_hook;
use super::{Builder, JoinHandle, ProcessError, StartMethod};
use crate::encoding::EncodeError;
use crate::sys::{self, ExeId, ExecEntry, Pid, Signal, ZstCall};

/// The environment variable that tells a process it was spawned, and what to run.
const ENV: &str = "HOST_RUNTIME_SPAWN";
/// The payload's format version (its first field). 2: the inherited descriptors' list.
const PAYLOAD_VERSION: u32 = 2;
/// Exit code of a spawned child that could not run its function at all (bad payload, other
/// executable, unreadable arguments file): as a shell's for a command it can't run.
pub(super) const EXIT_CANNOT_RUN: i32 = 127;

/// Runs the requested function if this process was started by a spawn, then exits; returns
/// at once otherwise. Call it first thing in `main` (before any thread starts) in every
/// program that spawns (procspawn's `init`):
///
/// ```
/// fn double(x: u64) -> u64 {
///     x * 2
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     host_runtime::process::init(); // a spawned child runs `double` here and exits
///     let h = host_runtime::process::Builder::new()
///         .start_method(host_runtime::process::StartMethod::Spawn)
///         .run(double, 21)?;
///     assert_eq!(h.join()?, 42);
///     Ok(())
/// }
/// ```
///
/// (`examples/spawn.rs` is a longer one; `tests/spawn.rs` spawns under `cargo test`.)
///
/// Under `cargo test` the harness owns `main`: use [`init_before_main!`](crate::init_before_main)
/// once in the test crate instead, which calls `init` from a constructor that runs before
/// `main` (an entry in `.init_array`, as the `ctor` crate makes).
///
/// In a fork server (the process [`StartMethod::Forkserver`] starts once), `init` serves and
/// never returns; the server must have one thread then (it forks), so call `init` before
/// anything starts threads: not inside `#[tokio::main]`'s body, whose runtime already runs,
/// but in a plain `main` that then builds the runtime, or with
/// [`init_before_main!`](crate::init_before_main). Otherwise each forkserver start fails
/// ([`ProcessError::Os`]).
///
/// In a spawned child, `init` removes the `HOST_RUNTIME_SPAWN` variable from the environment
/// (`std::env::remove_var`): calling it while other threads read the environment is a data
/// race in libc, hence "before any thread starts".
///
/// A program that spawns but whose `main` skips `init` runs `main` again in each spawned
/// child (as a Python script without its `if __name__ == "__main__"` guard); its spawns there
/// fail with [`ProcessError::SpawnedWithoutInit`] instead of starting children without end.
///
/// A spawned child whose parent is gone by the time it runs `init`, or whose variable is
/// malformed or names another executable, writes why to stderr and exits with code 127.
pub fn init() {
    if let Some(value) = std::env::var_os(super::forkserver::ENV) {
        std::env::remove_var(super::forkserver::ENV);
        super::forkserver::serve(&value);
    }
    let Some(value) = std::env::var_os(ENV) else {
        return;
    };
    std::env::remove_var(ENV);
    let code = match run_spawned(&value) {
        Ok(code) => code,
        Err(why) => {
            let _ = writeln!(
                io::stderr(),
                "host-runtime: spawned process {}: {why}",
                std::process::id()
            );
            EXIT_CANNOT_RUN
        }
    };
    // Our own buffer (the child's stdout is the parent's descriptor).
    let _ = io::stdout().flush();
    sys::exit_immediately(code)
}

/// Makes the test binary (or any binary whose `main` you don't write) able to run spawned
/// children: a constructor, run before `main`, that calls [`process::init`](crate::process::init).
///
/// Put it once at the top level of each integration-test crate (`tests/*.rs`) or of the
/// library's unit tests that spawn. Why a constructor rather than a `#[test]` function that the
/// child would run through the harness's arguments (`TEST --exact`): the harness would start
/// its threads and print its banner on the child's stdout first, and every test crate would
/// need that function; a constructor runs in the child before any of it. It is an entry in
/// the ELF `.init_array` section (what the `ctor` crate makes on Linux), so no dependency is
/// added; it runs after libc is ready (environment, stdio, allocation work).
///
/// # Examples
///
/// In a test crate (`tests/my_test.rs`), at the top level:
///
/// ```text
/// host_runtime::init_before_main!();
/// ```
///
/// The same in a program (here a doctest, whose `main` is generated too):
///
/// ```
/// host_runtime::init_before_main!();
///
/// fn triple(x: u32) -> u32 {
///     x * 3
/// }
///
/// fn main() {
///     let h = host_runtime::process::Builder::new()
///         .start_method(host_runtime::process::StartMethod::Spawn)
///         .run(triple, 5)
///         .unwrap();
///     assert_eq!(h.join().unwrap(), 15);
/// }
/// ```
#[macro_export]
macro_rules! init_before_main {
    () => {
        #[used]
        #[allow(unsafe_code)]
        #[link_section = ".init_array"]
        static __HOST_RUNTIME_INIT_BEFORE_MAIN: extern "C" fn() = {
            extern "C" fn __host_runtime_init_before_main() {
                $crate::process::init();
            }
            __host_runtime_init_before_main
        };
    };
}

/// Runs the spawned function the payload `value` names: its exit code, or why it could not.
fn run_spawned(value: &OsString) -> Result<i32, String> {
    let p = Payload::parse(value.as_bytes()).ok_or("malformed HOST_RUNTIME_SPAWN")?;
    let parent = Pid::from_raw(p.parent).ok_or("malformed HOST_RUNTIME_SPAWN")?;
    if sys::getppid() != Some(parent) {
        return Err(format!(
            "the parent (pid {}) that spawned it is gone",
            p.parent
        ));
    }
    // Fresh descriptions of the inherited memory files (no `unsafe` ownership of raw fds).
    let input = std::fs::read(format!("/proc/self/fd/{}", p.args_fd))
        .map_err(|e| format!("arguments file: {e}"))?;
    let out = OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/self/fd/{}", p.result_fd))
        .map_err(|e| format!("result file: {e}"))?;
    // Not to be inherited by programs the function starts (the result file would be theirs to
    // write); ours are the descriptions opened above.
    let _ = sys::set_cloexec_raw(p.args_fd);
    let _ = sys::set_cloexec_raw(p.result_fd);
    let mut inherited = Vec::with_capacity(p.fds.len());
    for &fd in &p.fds {
        inherited.push(sys::dup_inherited(fd).map_err(|e| format!("descriptor {fd}: {e}"))?);
        let _ = sys::set_cloexec_raw(fd);
    }
    set_inherited(inherited);
    run_entry(parent, ExecEntry::from_parts(p.offset, p.exe), &input, &out)
}

/// The descriptors handed to this spawned (or forkserver) child besides its two memory files,
/// in the parent's order (see [`start_with_fds`]); each taken once.
static INHERITED: std::sync::Mutex<Vec<Option<OwnedFd>>> = std::sync::Mutex::new(Vec::new());

/// Records the descriptors this child was handed, before its function runs.
pub(super) fn set_inherited(fds: Vec<OwnedFd>) {
    if fds.is_empty() && crate::lock::lock(&INHERITED).is_empty() {
        return; // nothing to write (a forkserver child spares itself a copied page)
    }
    *crate::lock::lock(&INHERITED) = fds.into_iter().map(Some).collect();
}

/// Takes the `index`th descriptor the parent handed to this child with [`start_with_fds`];
/// `None` if there is no such descriptor or it was taken already.
pub(crate) fn take_inherited_fd(index: usize) -> Option<OwnedFd> {
    crate::lock::lock(&INHERITED).get_mut(index)?.take()
}

/// In a spawned (or forkserver) child: takes the name from the arguments file's `input`,
/// becomes a child of `parent`, and runs `entry` on the rest. Its exit code, or why it could
/// not run.
pub(super) fn run_entry(
    parent: Pid,
    entry: ExecEntry,
    input: &[u8],
    out: &File,
) -> Result<i32, String> {
    let ((number, name), args): ((u64, Option<String>), &[u8]) =
        postcard::take_from_bytes(input).map_err(|e| format!("arguments file: {e}"))?;
    enter_child(lock_identity(), parent, &[], number, name.map(Arc::from));
    install_child_panic_hook();
    entry
        .run(args, out)
        .map_err(|e| format!("cannot run the function: {e}"))
}

/// What `HOST_RUNTIME_SPAWN` holds.
#[derive(Debug, PartialEq, Eq)]
struct Payload {
    parent: i32,
    exe: ExeId,
    offset: i64,
    args_fd: i32,
    result_fd: i32,
    /// More descriptors handed on (comma-separated, possibly none).
    fds: Vec<i32>,
}

impl Payload {
    fn render(&self) -> String {
        let fds: Vec<String> = self.fds.iter().map(i32::to_string).collect();
        format!(
            "{PAYLOAD_VERSION}:{}:{}:{}:{}:{}:{}:{}",
            self.parent,
            self.exe.dev,
            self.exe.ino,
            self.offset,
            self.args_fd,
            self.result_fd,
            fds.join(",")
        )
    }

    fn parse(bytes: &[u8]) -> Option<Payload> {
        let s = std::str::from_utf8(bytes).ok()?;
        let mut it = s.split(':');
        let mut next = || it.next();
        if next()?.parse::<u32>().ok()? != PAYLOAD_VERSION {
            return None;
        }
        let p = Payload {
            parent: next()?.parse().ok()?,
            exe: ExeId {
                dev: next()?.parse().ok()?,
                ino: next()?.parse().ok()?,
            },
            offset: next()?.parse().ok()?,
            args_fd: next()?.parse().ok()?,
            result_fd: next()?.parse().ok()?,
            fds: match next()? {
                "" => Vec::new(),
                list => list
                    .split(',')
                    .map(|f| f.parse().ok())
                    .collect::<Option<Vec<i32>>>()?,
            },
        };
        if next().is_some()
            || p.args_fd < 0
            || p.result_fd < 0
            || p.fds.iter().any(|&f| f < 0)
            || p.fds.len() > sys::MAX_FDS
        {
            return None;
        }
        Some(p)
    }
}

/// A spawned call of `F` on an `A`, returning an `R`: zero-sized when `F` is.
struct Call<F, A, R>(F, PhantomData<fn(A) -> R>);

impl<F: Copy, A, R> Clone for Call<F, A, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F: Copy, A, R> Copy for Call<F, A, R> {}

impl<F, A, R> ZstCall for Call<F, A, R>
where
    F: Fn(A) -> R + Copy + 'static,
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    fn call(self, input: &[u8], out: &File) -> i32 {
        let f = self.0;
        let body = move || {
            let args: A = match decode(input) {
                Ok(args) => args,
                Err(e) => panic!("could not decode the arguments: {e}"),
            };
            f(args)
        };
        match panic::catch_unwind(AssertUnwindSafe(|| run_child(body, out))) {
            Ok(()) => 0,
            Err(payload) => {
                // Reported by the hook, recorded by `run_child`; dropping could panic again.
                std::mem::forget(payload);
                1
            }
        }
    }
}

impl Builder {
    /// Starts a child that runs `f(args)` with this builder's start method (its own, else the
    /// program's), and hands what it returns back to [`JoinHandle::join`].
    ///
    /// `f` is a `fn` item, or a closure that captures nothing: a value that carries no data,
    /// so that a spawned child can make it anew (checked at compile time: a capturing closure
    /// fails to build). `args` and the result are serde values (postcard), of any size.
    ///
    /// - [`StartMethod::Fork`]: as [`start`](Self::start)`(move || f(args))`.
    /// - [`StartMethod::Spawn`]: the child re-executes the program, whose `main` must call
    ///   [`init`] first (a test crate: [`init_before_main!`](crate::init_before_main)); see the
    ///   [module docs](super#start-methods). Nothing of the parent's memory reaches the child:
    ///   a lock another thread holds in the parent is not held there.
    /// - [`StartMethod::Forkserver`]: the child is forked by a server process (started once,
    ///   as a spawned child, the same `init` needed), which never ran the program's threads
    ///   either; the child is still this process's own (see [`StartMethod::Forkserver`]).
    ///
    /// Either way the result, panics (with their message), exit codes and signals come back as
    /// for a forked [`JoinHandle`]; a spawned child whose arguments don't decode panics with
    /// `could not decode the arguments: …`, one that could not run its function at all exits
    /// with code 127 ([`JoinError::Exited`](super::JoinError::Exited)), and so does one whose
    /// `execve` failed.
    ///
    /// **Handles.** Anonymous queues, regions and locks are inherited by `fork` only: they
    /// implement no `Serialize`, so passing one to a spawned child fails to compile. Pass a
    /// *named* one by its name and open it in the child ([`Queue::open_named`](crate::Queue::open_named),
    /// [`RawQueue::open_named`](crate::RawQueue::open_named),
    /// [`SharedRegion::open_named`](crate::SharedRegion::open_named)): the child registers as a
    /// participant when it opens it, so a crash there is repaired as for any process.
    /// Or make it a memory file ([`queue::Builder::build_shareable`](crate::queue::Builder::build_shareable),
    /// [`build_raw_shareable`](crate::queue::Builder::build_raw_shareable),
    /// [`SharedRegion::new_shareable`](crate::SharedRegion::new_shareable)) and pass it as a
    /// [`ByFd`](super::ByFd) argument: the child is handed its descriptor, and no name is
    /// left in `/dev/shm`.
    ///
    /// # Errors
    ///
    /// - [`ProcessError::Unavailable`] for a daemon with [`StartMethod::Forkserver`] from a
    ///   builder that may not use a socket for the start's handshake.
    /// - [`ProcessError::Encode`] if `args` could not be encoded.
    /// - [`ProcessError::SpawnedWithoutInit`] with `Spawn`, in a spawned child whose `main`
    ///   did not call [`init`] (it would spawn itself again and again).
    /// - [`ProcessError::Os`]: the memory files could not be made, `/proc` could not be read,
    ///   or `clone` failed; as [`Process::start`](super::Process::start) otherwise.
    ///
    /// # Examples
    ///
    /// With the default start method (fork); `tests/spawn.rs` runs the same with `Spawn`:
    ///
    /// ```
    /// use host_runtime::process::Builder;
    ///
    /// fn area((w, h): (u32, u32)) -> u32 {
    ///     w * h
    /// }
    ///
    /// let h = Builder::new().run(area, (6, 7))?;
    /// assert_eq!(h.join()?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run<F, A, R>(self, f: F, args: A) -> Result<JoinHandle<R>, ProcessError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        const {
            assert!(
                size_of::<F>() == 0,
                "process::Builder::run takes a fn item or a closure that captures nothing"
            )
        };
        match self.effective_start_method() {
            StartMethod::Fork => self.start_method(StartMethod::Fork).start(move || f(args)),
            StartMethod::Forkserver => spawn(self, Call(f, PhantomData), &args, true),
            StartMethod::Spawn => spawn(self, Call(f, PhantomData), &args, false),
        }
    }
}

/// Starts a child with `method` (`Spawn` or `Forkserver`) that runs `f(args)` and is handed
/// copies of `fds` (at most [`sys::MAX_FDS`] − 2), which it takes with [`take_inherited_fd`]
/// (by their index in `fds`); its result is not kept. For the pool's workers: the memory files
/// of their queues and tables, and the result thread's wake-up socket.
///
/// With `Forkserver`, the builder's daemon flag is ignored (the child can't be tied to a
/// thread of ours): the caller's child must watch for its parent's death itself.
///
/// # Errors
///
/// As [`Builder::run`]; [`ProcessError::NeedsFork`] for [`StartMethod::Fork`] (the caller
/// forks a closure instead); `InvalidInput` ([`ProcessError::Os`]) for too many descriptors.
pub(crate) fn start_with_fds<F, A>(
    builder: Builder,
    f: F,
    args: &A,
    fds: &[std::os::fd::BorrowedFd<'_>],
    method: StartMethod,
) -> Result<super::Process, ProcessError>
where
    F: Fn(A) + Copy + Send + 'static,
    A: Serialize + DeserializeOwned + Send + 'static,
{
    const {
        assert!(
            size_of::<F>() == 0,
            "start_with_fds takes a fn item or a closure that captures nothing"
        )
    };
    if fds.len() + 2 > sys::MAX_FDS {
        return Err(io::Error::from(io::ErrorKind::InvalidInput).into());
    }
    let call = Call::<F, A, ()>(f, PhantomData);
    let (process, _result) = match method {
        StartMethod::Fork => {
            return Err(ProcessError::NeedsFork {
                method: StartMethod::Fork,
            })
        }
        StartMethod::Forkserver => launch(builder.daemon(false), call, args, true, fds)?,
        StartMethod::Spawn => launch(builder, call, args, false, fds)?,
    };
    Ok(process)
}

/// [`Builder::run`] with a default builder: `f(args)` in a child started with the program's
/// start method.
///
/// # Errors
///
/// As [`Builder::run`].
///
/// # Examples
///
/// ```
/// fn greet(name: String) -> String {
///     format!("hello, {name}")
/// }
///
/// let h = host_runtime::process::run(greet, "child".to_string())?;
/// assert_eq!(h.join()?, "hello, child");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run<F, A, R>(f: F, args: A) -> Result<JoinHandle<R>, ProcessError>
where
    F: Fn(A) -> R + Copy + Send + 'static,
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    Builder::new().run(f, args)
}

/// The `argv` (`argv[0]` alone) and environment (this process's, without the variables of
/// `extra`'s names, then `extra`) of a re-executed program.
pub(super) fn exec_args(extra: &[(&str, &str)]) -> io::Result<(Vec<CString>, Vec<CString>)> {
    let nul = |_| io::Error::from(io::ErrorKind::InvalidInput);
    let mut envp = Vec::new();
    for (k, v) in std::env::vars_os() {
        if k == ENV || k == super::forkserver::ENV || extra.iter().any(|(name, _)| k == *name) {
            continue;
        }
        let mut kv = k.into_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        envp.push(CString::new(kv).map_err(nul)?);
    }
    for (k, v) in extra {
        envp.push(CString::new(format!("{k}={v}")).map_err(nul)?);
    }
    let argv0 = std::env::args_os()
        .next()
        .unwrap_or_else(|| OsString::from("/proc/self/exe"));
    Ok((vec![CString::new(argv0.into_vec()).map_err(nul)?], envp))
}

/// A process that still has the spawn's (or the fork server's) variable is a spawned child
/// (or server) that skipped [`init`]: it must not spawn (each child would run `main` again,
/// and spawn again).
fn refuse_without_init(var: Option<&std::ffi::OsStr>) -> Result<(), ProcessError> {
    match var {
        Some(_) => Err(ProcessError::SpawnedWithoutInit),
        None => Ok(()),
    }
}

/// The spawn: see the module docs.
fn spawn<F, A, R>(
    builder: Builder,
    call: Call<F, A, R>,
    args: &A,
    forkserver: bool,
) -> Result<JoinHandle<R>, ProcessError>
where
    F: Fn(A) -> R + Copy + 'static,
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    let (process, result) = launch(builder, call, args, forkserver, &[])?;
    Ok(JoinHandle::from_parts(process, result))
}

/// Starts the child of a spawn (or asks the fork server for it), handing it `fds` too; the
/// started process and its result file.
fn launch<F, A, R>(
    builder: Builder,
    call: Call<F, A, R>,
    args: &A,
    forkserver: bool,
    fds: &[std::os::fd::BorrowedFd<'_>],
) -> Result<(super::Process, Arc<File>), ProcessError>
where
    F: Fn(A) -> R + Copy + 'static,
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    refuse_without_init(
        std::env::var_os(ENV)
            .or_else(|| std::env::var_os(super::forkserver::ENV))
            .as_deref(),
    )?;
    let daemon = builder.daemon;
    if forkserver {
        super::forkserver::refuse_daemon(daemon, builder.use_socket)?;
    }
    let entry = ExecEntry::of(call)?;
    let process = builder.build(|| {});

    let (number, name) = process.naming();
    let header = postcard::to_stdvec(&(number, name))
        .map_err(|e| ProcessError::Encode(EncodeError::new(e)))?;
    // `ByFd` arguments add their descriptors after the caller's.
    let (input, handed) = super::handoff::handing(fds.len(), || postcard::to_extend(args, header));
    let input = input.map_err(|e| ProcessError::Encode(EncodeError::new(e)))?;
    let all_fds: Vec<std::os::fd::BorrowedFd<'_>> = fds
        .iter()
        .copied()
        .chain(handed.iter().map(AsFd::as_fd))
        .collect();
    let fds = &all_fds[..];
    let result = Arc::new(File::from(sys::memfd_create("host-runtime-result")?));

    if forkserver {
        // Small arguments travel in the request itself (see `forkserver::request`).
        process.start_launched(|ready| {
            let daemon_ready = match ready.as_ref().map(|tx| tx.exec_ready()) {
                Some(sys::ExecReady::Write(fd)) => Some(fd),
                // A shared word can't be sent (refused above: `use_socket`).
                Some(sys::ExecReady::Wake(_)) => {
                    return Err(io::Error::from(io::ErrorKind::Unsupported))
                }
                None => None,
            };
            super::forkserver::request(entry, &input, &result, fds, daemon_ready)
        })?;
        return Ok((process, result));
    }
    let args_file = File::from(sys::memfd_create("host-runtime-args")?);
    args_file.write_all_at(&input, 0)?;
    drop(input);
    let (offset, exe) = entry.to_parts();
    let payload = Payload {
        parent: sys::getpid().as_raw(),
        exe,
        offset,
        args_fd: std::os::fd::AsRawFd::as_raw_fd(&args_file),
        result_fd: std::os::fd::AsRawFd::as_raw_fd(&*result),
        fds: fds.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect(),
    }
    .render();

    let (argv, envp) = exec_args(&[(ENV, &payload)])?;

    let mut keep = vec![args_file.as_fd(), result.as_fd()];
    keep.extend_from_slice(fds);
    process.start_launched(|ready| {
        sys::spawn_exec(
            c"/proc/self/exe",
            &argv,
            &envp,
            &keep,
            daemon.then_some(Signal::KILL),
            ready.as_ref().map(|tx| tx.exec_ready()),
        )
    })?;
    Ok((process, result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spawned_child_that_skipped_init_may_not_spawn() {
        assert!(refuse_without_init(None).is_ok());
        assert!(matches!(
            refuse_without_init(Some(std::ffi::OsStr::new("1:2:3"))),
            Err(ProcessError::SpawnedWithoutInit)
        ));
    }

    #[test]
    fn payloads_round_trip_and_bad_ones_are_refused() {
        let p = Payload {
            parent: 42,
            exe: ExeId { dev: 1, ino: 2 },
            offset: -1234,
            args_fd: 5,
            result_fd: 6,
            fds: Vec::new(),
        };
        assert_eq!(Payload::parse(p.render().as_bytes()), Some(p));
        let p = Payload {
            parent: 42,
            exe: ExeId { dev: 1, ino: 2 },
            offset: 7,
            args_fd: 5,
            result_fd: 6,
            fds: vec![7, 9, 12],
        };
        assert_eq!(Payload::parse(p.render().as_bytes()), Some(p));
        for bad in [
            "",
            "1:42:1:2:0:5:6:",
            "2:42:1:2:0:5:6",
            "2:42:1:2:0:5",
            "2:42:1:2:0:5:6:7:8",
            "2:42:1:2:x:5:6:",
            "2:42:1:2:0:-5:6:",
            "2:42:1:2:0:5:6:7,-1",
            "2:42:1:2:0:5:6:7,,8",
            "2:42:1:2:0:5:6:1,2,3,4,5,6,7,8,9",
        ] {
            assert_eq!(Payload::parse(bad.as_bytes()), None, "{bad}");
        }
    }
}
