//! Re-executing the current program: [`spawn_exec`] (a `clone` + `execve` that hands chosen
//! descriptors to the new program), and [`ExecEntry`], a function of this program named by a
//! number that survives the `execve` (and its new address-space layout).

// Unsafe here: `clone`, `fcntl`, `prctl`, `execve` (FFI); a checked number turned back into a
// function pointer; the value of a zero-sized `Copy` type made anew.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize};

use super::{cvt, cvt_long, Pid, Signal};

/// How the child of [`spawn_exec`] tells its parent, once its parent-death signal is armed
/// and just before `execve`, that it is (both are a system call and an atomic store: nothing
/// the child, which shares the parent's memory, may not do).
#[derive(Clone, Copy, Debug)]
pub enum ExecReady<'a> {
    /// Writes one byte (`b'r'`) to this descriptor (errors ignored).
    Write(BorrowedFd<'a>),
    /// Stores 1 into this word (Release) and wakes one waiter on it (a shared futex).
    Wake(&'a AtomicU32),
}

/// Size of the child's stack in [`spawn_exec`]: it runs a few system calls in one frame.
const CHILD_STACK: usize = 32 << 10;

/// What the child of [`spawn_exec`] reads (from the parent's stack, which it shares; the
/// parent is suspended until the child's `execve` or exit).
struct ExecChild<'a> {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    keep: &'a [libc::c_int],
    parent_death: Option<Signal>,
    parent: Pid,
    ready: Option<ExecReady<'a>>,
    /// The mask the child ends with (the empty set).
    no_signals: libc::sigset_t,
}

/// The child's side of [`spawn_exec`], on its own stack in the parent's memory: system calls
/// only, no allocation, no lock, nothing dropped; `execve` or `_exit`, never a return.
extern "C" fn exec_child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ExecChild` `spawn_exec` passed to `clone`, alive on the parent's
    // stack while the parent is suspended (`CLONE_VFORK`) until this child execs or exits.
    let c = unsafe { &*arg.cast::<ExecChild<'_>>() };
    // Handlers are the parent's (copied, not shared: no `CLONE_SIGHAND`): a signal caught
    // here would run parent code on the parent's memory. Reset every caught one to the
    // default (the parent blocked all signals before the clone, so none ran yet).
    for sig in 1..libc::SIGRTMAX() {
        // SAFETY: `sigaction` with a null new action only reads the handler into `old`, a
        // valid, writable `sigaction`; all-zero bytes are a valid one.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } != 0 {
            continue; // not a signal number we may touch (glibc's internal ones)
        }
        if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
            // SAFETY: all-zero bytes are a valid `sigaction` (`SIG_DFL`, no flags, empty
            // mask); `sigaction` reads it and writes nothing of ours.
            let dfl: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            unsafe { libc::sigaction(sig, &dfl, std::ptr::null_mut()) };
        }
    }
    // The new program starts with no signal blocked, whatever the calling thread blocked
    // (`execve` keeps the mask): as `std::process::Command` does.
    // SAFETY: `no_signals` is an initialised `sigset_t`; a null old-set pointer is allowed.
    if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &c.no_signals, std::ptr::null_mut()) } != 0 {
        super::exit_immediately(127);
    }
    for &fd in c.keep {
        // SAFETY: `fcntl(F_SETFD)` on an integer; a bad descriptor is an error, not UB. The
        // child has its own descriptor table (no `CLONE_FILES`): the parent's flags stay.
        if cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }).is_err() {
            super::exit_immediately(127);
        }
    }
    if let Some(sig) = c.parent_death {
        // SAFETY: `prctl(PR_SET_PDEATHSIG, sig)` takes integers only.
        let armed =
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig.as_raw() as libc::c_ulong) } == 0;
        if !armed || super::getppid() != Some(c.parent) {
            let _ = super::kill(super::getpid(), Signal::KILL);
            super::exit_immediately(127);
        }
    }
    match c.ready {
        Some(ExecReady::Write(fd)) => {
            // SAFETY: writes one byte from a static buffer to a descriptor; errors ignored.
            let _ = unsafe { libc::write(fd.as_raw_fd(), b"r".as_ptr().cast(), 1) };
        }
        Some(ExecReady::Wake(word)) => {
            // Release: pairs with the parent's Acquire load of the word (publishes nothing
            // else; the order only makes the word's meaning plain).
            word.store(1, Release);
            let _ = super::futex::futex_wake(word, 1);
        }
        None => {}
    }
    // SAFETY: `path` is NUL-terminated; both arrays are null-terminated arrays of pointers to
    // NUL-terminated strings, all alive in the suspended parent's frame for the call.
    unsafe { libc::execve(c.path, c.argv, c.envp) };
    super::exit_immediately(127)
}

/// `clone(CLONE_VM | CLONE_VFORK | SIGCHLD)` (what `posix_spawn` does) then, in the child,
/// `fcntl(fd, F_SETFD, 0)` for each of `keep`, optionally `prctl(PR_SET_PDEATHSIG)`, `ready`,
/// and `execve(path, argv, envp)`: starts `path` in a new child process that inherits exactly
/// the descriptors of `keep` (and every descriptor without `FD_CLOEXEC`, as any `execve`); see
/// `clone(2)`, `execve(2)`.
///
/// The child shares the parent's memory until its `execve` (no copy of the page tables: the
/// cost of a start does not grow with the parent's size), on a stack of its own (a buffer in
/// this function's frame); the calling thread is suspended until then (`CLONE_VFORK`), other
/// threads run on. The child makes only system calls on values prepared before the `clone`: no
/// allocation, no lock, nothing dropped, no `pthread_atfork` handler; so this is safe in a
/// parent that runs other threads: that is its point. The parent keeps `FD_CLOEXEC` on its own
/// descriptors; only the child's copies lose it. Signals: the calling thread blocks them all
/// around the `clone`; the child resets every caught signal to its default action (its handler
/// would run parent code) before it unblocks them all: the new program starts with an empty
/// mask (the calling thread's mask would otherwise carry over).
///
/// With `parent_death`, the child arms `PR_SET_PDEATHSIG` with that signal, then checks that
/// `getppid()` is still the caller (else it kills itself with `SIGKILL`, as if the signal had
/// come), before `ready`. The signal survives `execve` (not for set-user-id programs).
///
/// If `sigprocmask`, `fcntl`, `prctl` or `execve` fails, the child leaves with `_exit(127)`
/// (as a shell does for a command it can't run): the caller sees exit code 127.
///
/// # Errors
///
/// `EAGAIN`/`ENOMEM` from `clone` (no child was made); `EINVAL` if `argv` is empty.
pub fn spawn_exec(
    path: &CStr,
    argv: &[CString],
    envp: &[CString],
    keep: &[BorrowedFd<'_>],
    parent_death: Option<Signal>,
    ready: Option<ExecReady<'_>>,
) -> io::Result<Pid> {
    if argv.is_empty() {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    // Everything the child needs is made before the clone: it must not allocate.
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp_ptrs: Vec<*const libc::c_char> = envp
        .iter()
        .map(|e| e.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let keep: Vec<libc::c_int> = keep.iter().map(AsRawFd::as_raw_fd).collect();
    // SAFETY: `sigset_t` is plain data; `sigemptyset`/`sigfillset` initialise it (they can't
    // fail for a valid pointer).
    let (mut no_signals, mut all, mut old): (libc::sigset_t, libc::sigset_t, libc::sigset_t) =
        unsafe { (std::mem::zeroed(), std::mem::zeroed(), std::mem::zeroed()) };
    // SAFETY: valid, writable `sigset_t`s.
    unsafe {
        libc::sigemptyset(&mut no_signals);
        libc::sigfillset(&mut all);
    }
    let child = ExecChild {
        path: path.as_ptr(),
        argv: argv_ptrs.as_ptr(),
        envp: envp_ptrs.as_ptr(),
        keep: &keep,
        parent_death,
        parent: super::getpid(),
        ready,
        no_signals,
    };
    #[repr(C, align(16))]
    struct Stack([u8; CHILD_STACK]);
    let mut stack = std::mem::MaybeUninit::<Stack>::uninit();
    // The stack grows down: the child starts at its end (16-byte aligned).
    let top = stack.as_mut_ptr().cast::<u8>().wrapping_add(CHILD_STACK);
    // SAFETY: blocks every signal in this thread (so none runs in the child before it resets
    // the handlers); `old` is a valid, writable `sigset_t`.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) };
    // SAFETY: `clone(CLONE_VM | CLONE_VFORK)`: the child runs `exec_child(&child)` on `stack`
    // (this frame's, unused otherwise, `CHILD_STACK` bytes, aligned) in our memory, while this
    // thread is suspended until it has called `execve` or exited, so `child` and everything it
    // points to stay alive and unchanged for it. `exec_child` makes system calls only and never
    // returns (see there). No `CLONE_SIGHAND`/`CLONE_FILES`: its handlers and descriptor table
    // are copies.
    let ret = unsafe {
        libc::clone(
            exec_child,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::from_ref(&child).cast_mut().cast(),
        )
    };
    let err = io::Error::last_os_error();
    // SAFETY: restores this thread's mask; `old` was initialised by `pthread_sigmask` above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if ret < 0 {
        return Err(err);
    }
    Pid::from_raw(ret).ok_or_else(|| io::ErrorKind::InvalidData.into())
}

/// `fcntl(fd, F_SETFD, FD_CLOEXEC)`: closes the descriptor number `fd` on a later `execve`;
/// for descriptors this process was handed by number (through `execve`), once it has taken
/// what it needs from them. Changes a flag only, whoever owns the descriptor.
///
/// # Errors
///
/// `EBADF` if `fd` is not open.
pub(crate) fn set_cloexec_raw(fd: i32) -> io::Result<()> {
    // SAFETY: `fcntl(F_SETFD)` on an integer: a bad descriptor is an error, and the flag
    // touches no memory.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) }).map(drop)
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, 0)`: a new descriptor, owned by the caller, for the open file
/// that the descriptor number `fd` names; for descriptors this process was handed by number
/// (through `execve`). The number itself stays open, owned by nobody.
///
/// # Errors
///
/// `EBADF` if `fd` is not open; `EMFILE`.
pub(crate) fn dup_inherited(fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: `fcntl(F_DUPFD_CLOEXEC)` on an integer: a bad descriptor is an error.
    let new = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: `fcntl` succeeded: `new` is a new descriptor, open and owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// What an [`ExecEntry`] runs: reads its input from the bytes given, writes its outcome into
/// the file, returns the exit code.
type EntryFn = fn(&[u8], &File) -> i32;

/// The fixed point [`ExecEntry`] offsets are measured from. Never inlined (it must have an
/// address of its own).
#[inline(never)]
fn anchor(_: &[u8], _: &File) -> i32 {
    // A body unlike any other function's, so that no linker folds another one onto it (which
    // would still be sound: only the address matters, and it stays fixed within the binary).
    0x5eed
}

/// The address of the anchor in this process: what [`ExecEntry`] and the pool's calls
/// (`sys::fncall`) measure distances from.
pub(crate) fn anchor_addr() -> usize {
    anchor as EntryFn as usize
}

/// A zero-sized callable that an [`ExecEntry`] can run in another run of this program: a
/// `fn` item, or a closure that captures nothing, wrapped with what its call needs.
pub(crate) trait ZstCall: Copy + 'static {
    /// Runs the call on `input`, writes the outcome into `out`, returns the exit code.
    fn call(self, input: &[u8], out: &File) -> i32;
}

/// The entry of a [`ZstCall`]: makes the call's only value anew, then runs it.
fn zst_trampoline<C: ZstCall>(input: &[u8], out: &File) -> i32 {
    const {
        assert!(
            size_of::<C>() == 0,
            "only a zero-sized callable can cross an exec"
        )
    };
    // SAFETY: `C` has size 0 (asserted above), so it has no bytes that could be invalid.
    // This function is reached only through an `ExecEntry` made by `ExecEntry::of`, which
    // took a value of `C` (so `C` is inhabited), and `C: Copy` (so making another one is
    // making a copy, which that process was allowed to do).
    let c: C = unsafe { std::ptr::NonNull::<C>::dangling().as_ptr().read() };
    c.call(input, out)
}

/// The start of the loaded object (executable or shared library) that holds `addr`
/// (`dladdr(3)`'s `dli_fbase`); `None` if none does, or the dynamic loader can't tell (a
/// statically linked program).
fn object_base(addr: usize) -> Option<usize> {
    // SAFETY: `Dl_info` is plain data (pointers and integers), for which all zeros is valid.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `dladdr` only looks `addr` up (it never dereferences it) and writes `info`, a
    // valid, writable `Dl_info`.
    let found = unsafe { libc::dladdr(addr as *const libc::c_void, &mut info) };
    (found != 0 && !info.dli_fbase.is_null()).then_some(info.dli_fbase as usize)
}

/// The start of the main executable (the object that holds the program's entry point,
/// `getauxval(AT_ENTRY)`); `None` if the loader can't tell. Looked up once per process: the
/// main executable is loaded once, before any code of ours runs, and never moves (a child made
/// by `execve` starts with empty statics; a forked one is the same program at the same place).
///
/// This module's per-process answers are kept in atomic words, not `OnceLock`s: threads that
/// race to look one up store the same answer, and none ever waits for another (a child forked
/// while another thread of its parent was inside a `OnceLock`'s initialisation would wait for
/// it for ever).
fn main_base() -> Option<usize> {
    /// Not looked up yet; `NONE`: the loader can't tell. Neither is an object's start (a
    /// page boundary, never the null page).
    const UNKNOWN: usize = 0;
    const NONE: usize = 1;
    static BASE: AtomicUsize = AtomicUsize::new(UNKNOWN);
    match BASE.load(Relaxed) {
        UNKNOWN => {}
        NONE => return None,
        base => return Some(base),
    }
    // SAFETY: `getauxval` reads the auxiliary vector; an absent entry gives 0.
    let entry = unsafe { libc::getauxval(libc::AT_ENTRY) } as usize;
    let base = (entry != 0).then(|| object_base(entry)).flatten();
    BASE.store(base.filter(|&b| b > NONE).unwrap_or(NONE), Relaxed);
    base
}

/// Whether the code at `addr` belongs to the main executable (the object that holds the
/// program's entry point, `getauxval(AT_ENTRY)`), not to a shared library. One `dladdr(3)`
/// (the main executable's own start is looked up once per process).
pub(crate) fn in_main_executable(addr: usize) -> bool {
    main_base().is_some_and(|base| object_base(addr) == Some(base))
}

/// Whether this crate's [`anchor`] is in the main executable: looked up once per process (the
/// answer can't change, see [`main_base`]).
fn anchor_in_main_executable() -> bool {
    /// 0: not looked up yet; 1: no; 2: yes.
    static IN_MAIN: AtomicU8 = AtomicU8::new(0);
    match IN_MAIN.load(Relaxed) {
        0 => {
            let yes = in_main_executable(anchor as EntryFn as usize);
            IN_MAIN.store(1 + u8::from(yes), Relaxed);
            yes
        }
        known => known == 2,
    }
}

/// Looks up, once, what [`ExecEntry::run`] checks in every run: this process's executable
/// ([`ExeId::current`]) and where this crate's code is. For a fork server: its children, forked
/// copies, then find both answers in their memory instead of asking `/proc` and the dynamic
/// loader each (a `statx` of `/proc/self/exe` in a new process instantiates its `/proc`
/// entries: the most expensive call of a forkserver child).
///
/// # Errors
///
/// As [`ExeId::current`] (the children then ask again, and fail as they would have).
pub(crate) fn prepare_entries() -> io::Result<()> {
    anchor_in_main_executable();
    ExeId::current().map(drop)
}

/// The identity of an executable file: device and inode of what `/proc/self/exe` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ExeId {
    /// `st_dev`.
    pub(crate) dev: u64,
    /// `st_ino`.
    pub(crate) ino: u64,
}

impl ExeId {
    /// This process's executable (`stat("/proc/self/exe")`), read once per process (a
    /// process's executable never changes; a child made by `execve` starts with empty statics).
    pub(crate) fn current() -> io::Result<ExeId> {
        // `READ` is set after the two words it vouches for (Release, paired with the Acquire
        // below); racing threads store the same two values, so a reader never sees a mix.
        static DEV: AtomicU64 = AtomicU64::new(0);
        static INO: AtomicU64 = AtomicU64::new(0);
        static READ: AtomicBool = AtomicBool::new(false);
        if READ.load(Acquire) {
            return Ok(ExeId {
                dev: DEV.load(Relaxed),
                ino: INO.load(Relaxed),
            });
        }
        let id = Self::read()?;
        DEV.store(id.dev, Relaxed);
        INO.store(id.ino, Relaxed);
        READ.store(true, Release);
        Ok(id)
    }

    fn read() -> io::Result<ExeId> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata("/proc/self/exe")?;
        Ok(ExeId {
            dev: m.dev(),
            ino: m.ino(),
        })
    }
}

/// A [`ZstCall`] of this program as a number that names the same call in another run of the
/// same executable: the address of its entry minus the address of a fixed function.
///
/// Code is loaded as one block (a position-independent executable is moved as a whole by
/// ASLR), so the distance between two functions of the same executable is the same in every
/// run of it. It is not across different executables, nor for code of a library loaded
/// separately (a `dylib`, `dlopen`): [`ExecEntry::of`] checks that both functions are in the
/// main executable (`dladdr(3)` against the program's entry point), [`ExecEntry::run`] that
/// it runs the same executable file and that the fixed function is in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ExecEntry {
    offset: i64,
    exe: ExeId,
}

impl ExecEntry {
    /// The number of `call`'s entry, in this executable. The value proves `C` inhabited.
    ///
    /// # Errors
    ///
    /// As [`ExeId::current`]: `/proc` is not mounted.
    /// `Unsupported` if the entry or this crate's code is not in the main executable (a
    /// `dylib`, a library loaded with `dlopen`, or a static program whose objects the loader
    /// can't name): another run would load it elsewhere.
    pub(crate) fn of<C: ZstCall>(_call: C) -> io::Result<ExecEntry> {
        let f = zst_trampoline::<C> as EntryFn as usize;
        let a = anchor as EntryFn as usize;
        // The last entry found in the main executable: a program that starts the same
        // function again and again asks the dynamic loader once. Only addresses in the main
        // executable are stored, which is never unloaded, so no other object can come to hold
        // one of them. Relaxed: the word is the whole state.
        static LAST_IN_MAIN: AtomicUsize = AtomicUsize::new(0);
        let known = LAST_IN_MAIN.load(Relaxed) == f;
        if !anchor_in_main_executable() || !(known || in_main_executable(f)) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "spawn needs the function and host-runtime linked into the main executable",
            ));
        }
        LAST_IN_MAIN.store(f, Relaxed);
        Ok(ExecEntry {
            offset: (f as i64).wrapping_sub(a as i64),
            exe: ExeId::current()?,
        })
    }

    /// The parts, to send.
    pub(crate) fn to_parts(self) -> (i64, ExeId) {
        (self.offset, self.exe)
    }

    /// Rebuilds an entry sent by [`to_parts`](Self::to_parts).
    pub(crate) fn from_parts(offset: i64, exe: ExeId) -> ExecEntry {
        ExecEntry { offset, exe }
    }

    /// Runs the entry in this process: `Err` (nothing run) unless this process runs the
    /// executable the entry was made in.
    ///
    /// What this rests on: the parts were made by [`ExecEntry::of`] in a process running the
    /// executable they name (its device and inode; a running executable can't be written to,
    /// `ETXTBSY`, and its inode can't be reused while a process runs it). This crate sends them
    /// only through the environment of a child it starts (`process::init` reads them); a
    /// program's environment is trusted input, as for the dynamic loader (`LD_PRELOAD`): who
    /// sets it can make the program run anything.
    ///
    /// # Errors
    ///
    /// `InvalidData` if this process runs another executable, `Unsupported` if this crate's
    /// code is not in the main executable; as [`ExeId::current`].
    pub(crate) fn run(self, input: &[u8], out: &File) -> io::Result<i32> {
        if ExeId::current()? != self.exe {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the entry was made in another executable",
            ));
        }
        if !anchor_in_main_executable() {
            return Err(io::ErrorKind::Unsupported.into());
        }
        let addr = (anchor as EntryFn as usize as i64).wrapping_add(self.offset) as usize;
        // SAFETY: the same executable (checked above) placed a `zst_trampoline::<C>`, an
        // `EntryFn`, at `anchor + offset` in the run that made the entry (see above for what
        // this rests on); the code moved as a whole, so it is at that distance here.
        let f = unsafe { std::mem::transmute::<usize, EntryFn>(addr) };
        Ok(f(input, out))
    }
}

/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`: two connected sockets that keep
/// message boundaries; see `socketpair(2)`, `unix(7)`.
///
/// # Errors
///
/// `EMFILE`, `ENFILE`, `ENOMEM`.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid, writable array of two `c_int`s.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: `socketpair` succeeded: both descriptors are new, open, and owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The most descriptors [`send_with_fds`] sends and [`recv_with_fds`] receives at once.
pub const MAX_FDS: usize = 8;

/// Room for a control message of `MAX_FDS` descriptors, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

const _: () = assert!(
    (std::mem::size_of::<libc::cmsghdr>() + MAX_FDS * std::mem::size_of::<libc::c_int>()) <= 64
);

/// `sendmsg(sock, data, SCM_RIGHTS(fds))`: sends one message with copies of `fds` (at most
/// [`MAX_FDS`]); see `sendmsg(2)`, `unix(7)`. `EINTR` is retried.
///
/// # Errors
///
/// `InvalidInput` for more than `MAX_FDS` descriptors; `EPIPE`/`ECONNRESET` if the peer is
/// gone; `EMSGSIZE`.
pub fn send_with_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    if fds.len() > MAX_FDS {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    let mut cbuf = CmsgBuf([0; 64]);
    let fd_bytes = std::mem::size_of_val(fds) as u32;
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: `msghdr` is plain data; all zeros is a valid, empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        // SAFETY: `CMSG_SPACE` is arithmetic.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(fd_bytes) } as _;
        // SAFETY: the control buffer holds at least one header (64 bytes, checked above for
        // `MAX_FDS`), so `CMSG_FIRSTHDR` is in it and not null; `CMSG_DATA` has room for
        // `fd_bytes` (`CMSG_LEN(fd_bytes) <= CMSG_SPACE(fd_bytes) <= 64`).
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes) as _;
            let raw: Vec<libc::c_int> = fds.iter().map(AsRawFd::as_raw_fd).collect();
            std::ptr::copy_nonoverlapping(
                raw.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                fd_bytes as usize,
            );
        }
    }
    super::retry_on_intr(|| {
        // SAFETY: `msg` points at `iov` (the caller's bytes, read only) and `cbuf`, both alive
        // for the call.
        super::cvt_long(
            unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) } as libc::c_long,
        )
    })
    .map(drop)
}

/// `recvmsg(sock, buf, MSG_CMSG_CLOEXEC)`: receives one message into `buf` and the
/// descriptors sent with it (close-on-exec, owned by the caller); see `recvmsg(2)`. Returns the
/// message's length, 0 at end of file. `EINTR` is retried.
///
/// A message longer than `buf` or with more than [`MAX_FDS`] descriptors is cut
/// (`MSG_TRUNC`, `MSG_CTRUNC`): that is an `InvalidData` error (the descriptors that did
/// arrive are closed).
///
/// # Errors
///
/// As `recvmsg`; `InvalidData` for a cut message.
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut cbuf = CmsgBuf([0; 64]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `msghdr` is plain data; all zeros is a valid, empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len() as _;
    let n = super::retry_on_intr(|| {
        // SAFETY: `msg` points at `iov` (the caller's writable buffer) and `cbuf`, both alive
        // and writable for the call, with their true lengths.
        super::cvt_long(
            unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) }
                as libc::c_long,
        )
    })? as usize;
    let mut fds = Vec::new();
    // SAFETY: the kernel filled `msg_controllen` bytes of `cbuf` with well-formed control
    // messages; `CMSG_FIRSTHDR`/`CMSG_NXTHDR` stay within them, and an `SCM_RIGHTS` message's
    // data holds `(cmsg_len - CMSG_LEN(0)) / 4` descriptors, new and owned by us.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let len = ((*cmsg).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                let count = len / std::mem::size_of::<libc::c_int>();
                let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
        return Err(io::ErrorKind::InvalidData.into());
    }
    Ok((n, fds))
}

/// `clone(CLONE_PARENT | SIGCHLD)`, then `_exit(child())` in the child: a new process that is
/// a copy of this one, as `fork` makes, but a child of this process's *parent* (a sibling);
/// see `clone(2)`. The parent gets `SIGCHLD` when it exits, and waits for it and reaps it as
/// any child of its own.
///
/// Made with the raw system call, without libc's `fork` bookkeeping: refused unless this
/// process has one thread (so no lock is held by another thread at the copy, and nothing can
/// start a thread between the check and the `clone`), and no `pthread_atfork` handler runs.
/// (The check is one `statx` of `/proc/self/task` per call; a process that forks siblings in a
/// loop and starts no thread checks once, with a `SiblingForker`, as the fork server does.)
///
/// # Errors
///
/// `Unsupported` if this process has more than one thread (or the count
/// can't be read); `EAGAIN`/`ENOMEM`/`EINVAL` (the caller is an init process) from `clone`.
pub fn fork_sibling<F: FnOnce() -> i32>(child: F) -> io::Result<Pid> {
    SiblingForker::new()?.fork(child)
}

/// The right to make siblings ([`fork_sibling`]) without counting threads before each: made
/// once the process is seen to have one thread, for a loop that forks and starts no thread
/// (the fork server's). Neither `Send` nor `Sync`: it stays with the thread that was checked.
///
/// What the check is for: a `clone` without libc's `fork` bookkeeping copies every lock as it
/// is; a lock held by another thread at that moment stays held in the child, which deadlocks
/// if it takes it (in `malloc`, say). Its holder promises that no thread starts in this
/// process while it forks with it; one that did would make children that may deadlock (as
/// [`fork_run`](super::fork_run) in a multi-threaded process), nothing worse: the child is a
/// copy, not a sharer, of this process's memory.
pub(crate) struct SiblingForker {
    _single_thread: std::marker::PhantomData<*const ()>,
}

impl SiblingForker {
    /// Checks that this process has one thread: one `statx` of `/proc/self/task`, whose link
    /// count is 2 plus the number of threads.
    ///
    /// # Errors
    ///
    /// `Unsupported` if it has more (or the count can't be read).
    pub(crate) fn new() -> io::Result<SiblingForker> {
        use std::os::unix::fs::MetadataExt;
        let threads = std::fs::metadata("/proc/self/task")?
            .nlink()
            .saturating_sub(2);
        if threads != 1 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "fork_sibling needs a single-threaded process",
            ));
        }
        Ok(SiblingForker {
            _single_thread: std::marker::PhantomData,
        })
    }

    /// [`fork_sibling`] without the count.
    ///
    /// # Errors
    ///
    /// `EAGAIN`/`ENOMEM`/`EINVAL` (the caller is an init process) from `clone`.
    pub(crate) fn fork<F: FnOnce() -> i32>(&self, child: F) -> io::Result<Pid> {
        // SAFETY: `clone` without `CLONE_VM` or a new stack copies the process, as `fork`.
        // This process had one thread when `self` was made, and its holder starts none (see
        // the type's docs: that is about deadlocks in the child, not memory). The child never
        // returns from this function: it runs `child` under `catch_unwind` and leaves with
        // `_exit`, so no value of the caller's frames is dropped twice.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
        let ret = cvt_long(ret)?;
        if let Some(pid) = Pid::from_raw(ret as libc::c_int) {
            return Ok(pid);
        }
        let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)) {
            Ok(code) => code,
            Err(payload) => {
                std::mem::forget(payload);
                101
            }
        };
        super::exit_immediately(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy)]
    struct Seven;

    impl ZstCall for Seven {
        fn call(self, input: &[u8], _: &File) -> i32 {
            7 + input.len() as i32
        }
    }

    #[test]
    fn an_entry_runs_in_the_same_executable_and_not_in_another() {
        let e = ExecEntry::of(Seven).unwrap();
        let file = File::from(super::super::memfd_create("t").unwrap());
        assert_eq!(e.run(&[1, 2], &file).unwrap(), 9);
        let (offset, mut exe) = e.to_parts();
        exe.ino ^= 1;
        let err = ExecEntry::from_parts(offset, exe)
            .run(&[], &file)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn code_of_a_shared_library_is_not_in_the_main_executable() {
        assert!(in_main_executable(anchor as EntryFn as usize));
        // libc's `getpid` lives in libc.so, loaded separately.
        assert!(!in_main_executable(libc::getpid as *const () as usize));
        assert!(!in_main_executable(0));
    }
}
