//! Shared memory: anonymous mappings that a parent and the children it forks afterwards share,
//! and POSIX named shared memory objects (`shm_open(3)`) for processes that are not related.

// Unsafe here: `mmap(2)`, `munmap(2)`, `shm_open(3)`, `shm_unlink(3)`, `posix_fallocate(3)`,
// `flock(2)` (FFI).
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::{self, NonNull};

use super::{cvt, retry_on_intr};

/// `mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)`:
/// maps `len` bytes of zeroed memory that stays shared with every child forked afterwards; see
/// `mmap(2)`.
///
/// The mapping is page-aligned. `MAP_NORESERVE` reserves no swap up front: pages are committed
/// only when first touched, so a large, mostly unused region costs nothing — and touching a page
/// when the system is out of memory raises `SIGBUS`/the OOM killer rather than failing here.
///
/// The memory is never moved or freed until [`munmap`]; it survives the process that made it
/// only in processes that share it.
///
/// # Errors
///
/// `InvalidInput` if `len` is 0; `ENOMEM` if the address space is exhausted.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::shm::{mmap_shared_anonymous, munmap};
/// use host_runtime::sys::{fork_run, waitpid, WaitOptions};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// let len = 4096;
/// let mem = mmap_shared_anonymous(len)?;
/// // SAFETY: the mapping is page-aligned, zeroed, `len` >= 4 bytes long, and lives until the
/// // `munmap` below; an `AtomicU32` may alias memory written by other processes.
/// let word: &AtomicU32 = unsafe { mem.cast::<AtomicU32>().as_ref() };
/// let pid = fork_run(|| {
///     word.store(7, Ordering::Release);
///     0
/// })?;
/// waitpid(pid, WaitOptions::BLOCK)?;
/// assert_eq!(word.load(Ordering::Acquire), 7); // written by the child
/// // SAFETY: `word` is not used after this point; the mapping is `len` bytes long.
/// unsafe { munmap(mem, len)? };
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn mmap_shared_anonymous(len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: an anonymous mapping (fd -1, offset 0) maps no file.
    unsafe { mmap_shared(len, libc::MAP_ANONYMOUS, -1) }
}

/// `mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE | extra_flags, fd, 0)`.
///
/// # Safety
///
/// `fd` is -1 with `MAP_ANONYMOUS` in `extra_flags`, or a descriptor open for the call.
unsafe fn mmap_shared(
    len: usize,
    extra_flags: libc::c_int,
    fd: libc::c_int,
) -> io::Result<NonNull<u8>> {
    if len == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot map 0 bytes",
        ));
    }
    // Miri maps only private anonymous memory: the same thing within one process, which is
    // all a test under Miri has (it cannot fork), so its threads' atomics get checked.
    #[cfg(miri)]
    let flags = libc::MAP_PRIVATE | extra_flags;
    #[cfg(not(miri))]
    let flags = libc::MAP_SHARED | libc::MAP_NORESERVE | extra_flags;
    // SAFETY: a null hint lets the kernel pick a fresh range, so no existing memory of ours is
    // replaced; `fd` is valid for the call (caller).
    let addr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            fd,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(addr.cast::<u8>()).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
}

/// `munmap(ptr, len)`: removes the mapping of `len` bytes at `ptr` from this process; see
/// `munmap(2)`.
///
/// Other processes sharing the memory keep their mappings; the memory is freed when the last
/// one goes.
///
/// # Errors
///
/// `EINVAL` if `ptr` is not page-aligned or `len` is 0.
///
/// # Safety
///
/// - `ptr` and `len` describe (a whole-page part of) a mapping of this process, e.g. one
///   returned by [`mmap_shared_anonymous`] with the same `len`.
/// - No reference or pointer into the range is used after the call: accessing it faults, or
///   worse, hits a later mapping placed at the same address.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::shm::{mmap_shared_anonymous, munmap};
///
/// let mem = mmap_shared_anonymous(1 << 20)?;
/// // SAFETY: the whole mapping, unused afterwards.
/// unsafe { munmap(mem, 1 << 20)? };
/// # Ok::<(), std::io::Error>(())
/// ```
pub unsafe fn munmap(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    // SAFETY: the caller promises the range is a mapping of ours that nothing uses any more.
    cvt(unsafe { libc::munmap(ptr.as_ptr().cast(), len) }).map(drop)
}

/// `mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0)`: maps the first
/// `len` bytes of the file or shared memory object `fd`; see `mmap(2)`.
///
/// Every process that maps the same object shares the bytes. The mapping stays valid after `fd`
/// is closed. Pages are committed when first touched (`MAP_NORESERVE`); touching a page past the
/// object's end raises `SIGBUS`, so `len` must not exceed the object's size (check it with
/// `fstat`, e.g. [`std::fs::File::metadata`]).
///
/// # Errors
///
/// `InvalidInput` if `len` is 0; `EACCES` if `fd` is not open for reading and writing;
/// `ENOMEM` if the address space is exhausted.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::shm::{mmap_shared_fd, munmap, shm_create_exclusive, shm_unlink};
/// use std::os::fd::AsFd;
///
/// let name = c"/host-runtime-doc-mmap-fd";
/// let _ = shm_unlink(name);
/// let file = std::fs::File::from(shm_create_exclusive(name)?);
/// file.set_len(4096)?;
/// let mem = mmap_shared_fd(file.as_fd(), 4096)?;
/// shm_unlink(name)?;
/// // SAFETY: the whole mapping, unused afterwards.
/// unsafe { munmap(mem, 4096)? };
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn mmap_shared_fd(fd: BorrowedFd<'_>, len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: `fd` is an open descriptor, borrowed for the call.
    unsafe { mmap_shared(len, 0, fd.as_raw_fd()) }
}

/// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)`, `ftruncate(len)`, then
/// `fcntl(F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)`: a new anonymous memory file
/// of `len` zeroed bytes whose size can never change; see `memfd_create(2)`.
///
/// It has no name in any file system (nothing is left in `/dev/shm`), and is freed when the
/// last descriptor and mapping of it go. Handed to another process (inherited across
/// `execve`, or sent as `SCM_RIGHTS`), it is shared memory between them; the seals mean that
/// no holder can shrink it under another's mapping (which would make that one's next access
/// raise `SIGBUS`).
///
/// # Errors
///
/// `InvalidInput` if `len` is 0 or `name` too long (over 249 bytes) or holds NUL; `EMFILE`,
/// `ENOMEM`.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::shm::{memfd_sealed, mmap_shared_fd, munmap};
/// use std::os::fd::AsFd;
///
/// let fd = memfd_sealed("doc-memfd", 4096)?;
/// let file = std::fs::File::from(fd);
/// assert_eq!(file.metadata()?.len(), 4096);
/// assert!(file.set_len(0).is_err(), "sealed: its size can't change");
/// let mem = mmap_shared_fd(file.as_fd(), 4096)?;
/// // SAFETY: the whole mapping, unused afterwards.
/// unsafe { munmap(mem, 4096)? };
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn memfd_sealed(name: &str, len: usize) -> io::Result<OwnedFd> {
    if len == 0 || name.len() > 249 {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    let len = libc::off_t::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
    let name = std::ffi::CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let fd = cvt(unsafe {
        libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
    })?;
    // SAFETY: `memfd_create` succeeded: the descriptor is new, open, and owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `ftruncate` on our open descriptor, with integers only.
    retry_on_intr(|| cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len) }))?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
    // SAFETY: `fcntl(F_ADD_SEALS)` on our open descriptor, with integers only.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) })?;
    Ok(fd)
}

/// `shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)`: creates a new, empty POSIX
/// shared memory object readable and writable by its owner only; see `shm_open(3)`.
///
/// `name` is `/` followed by up to 254 characters, none a `/`. The object lives (on Linux, as
/// `/dev/shm/NAME`) until [`shm_unlink`], even after every process closed it. Set its size with
/// `ftruncate` ([`std::fs::File::set_len`]): new bytes read as zero. The process umask may
/// remove permission bits, never add any.
///
/// # Errors
///
/// `EEXIST` if an object of that name exists; `EINVAL` for a bad name; `EACCES`, `EMFILE`.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::shm::{shm_create_exclusive, shm_unlink};
///
/// let name = c"/host-runtime-doc-create";
/// let _ = shm_unlink(name);
/// let fd = shm_create_exclusive(name)?;
/// assert_eq!(shm_create_exclusive(name).unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
/// shm_unlink(name)?;
/// # drop(fd);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn shm_create_exclusive(name: &CStr) -> io::Result<OwnedFd> {
    shm_open(
        name,
        libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
        0o600,
    )
}

/// `shm_open(name, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0)`: opens an existing POSIX shared memory
/// object for reading and writing; see `shm_open(3)`.
///
/// Nothing about the object is checked here: compare its owner, mode and size
/// (`fstat`, [`std::fs::File::metadata`]) before trusting it.
///
/// # Errors
///
/// `ENOENT` if there is no such object; `EACCES` if we may not open it read-write; `EINVAL`
/// for a bad name; `ELOOP` if it is a symbolic link.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::shm::shm_open_existing;
///
/// let err = shm_open_existing(c"/host-runtime-doc-no-such-object").unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
/// ```
pub fn shm_open_existing(name: &CStr) -> io::Result<OwnedFd> {
    shm_open(name, libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0)
}

fn shm_open(name: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    let fd = retry_on_intr(|| {
        // SAFETY: `name` is a valid NUL-terminated string for the whole call; `shm_open` reads
        // nothing else of ours.
        cvt(unsafe { libc::shm_open(name.as_ptr(), flags, mode) })
    })?;
    // SAFETY: `shm_open` succeeded, so `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `shm_unlink(name)`: removes the name of a POSIX shared memory object; see `shm_unlink(3)`.
///
/// Processes that have it open or mapped keep using it; its memory is freed when the last one
/// lets go.
///
/// # Errors
///
/// `ENOENT` if there is no such object; `EACCES`; `EINVAL` for a bad name.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::shm::shm_unlink;
///
/// let err = shm_unlink(c"/host-runtime-doc-no-such-object").unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
/// ```
pub fn shm_unlink(name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is a valid NUL-terminated string for the whole call.
    cvt(unsafe { libc::shm_unlink(name.as_ptr()) }).map(drop)
}

/// `geteuid()`: the effective user id of this process; see `geteuid(2)`. Never fails.
///
/// # Examples
///
/// ```
/// let uid = host_runtime::sys::shm::geteuid();
/// # let _ = uid;
/// ```
pub fn geteuid() -> u32 {
    // SAFETY: `geteuid` takes no arguments, touches no memory of ours and always succeeds.
    unsafe { libc::geteuid() }
}

/// `posix_fallocate(fd, 0, len)`: allocates the first `len` bytes of the file `fd` (growing it
/// to `len` if it is shorter), so that later writes to them cannot fail for lack of space; see
/// `posix_fallocate(3)`.
///
/// For a shared memory object this reserves its memory in the `tmpfs` at once: a mapping of
/// the allocated range never raises `SIGBUS` for want of space (only a same-user process that
/// truncates or punches holes in the object can still cause that). New bytes read as zero.
///
/// `posix_fallocate` returns its error number instead of setting `errno`; this wrapper turns it
/// into an [`io::Error`] and retries `EINTR`.
///
/// # Errors
///
/// `ENOSPC` if the file system has not that much space left (e.g. a small `/dev/shm`);
/// `EFBIG` if `len` is too large for a file; `InvalidInput` if `len` is 0 or above `i64::MAX`;
/// `EBADF` if `fd` is not open for writing.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::shm::{allocate, shm_create_exclusive, shm_unlink};
/// use std::os::fd::AsFd;
///
/// let name = c"/host-runtime-doc-allocate";
/// let _ = shm_unlink(name);
/// let fd = shm_create_exclusive(name)?;
/// allocate(fd.as_fd(), 8192)?;
/// assert_eq!(std::fs::File::from(fd).metadata()?.len(), 8192);
/// shm_unlink(name)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[doc(alias = "posix_fallocate")]
pub fn allocate(fd: BorrowedFd<'_>, len: usize) -> io::Result<()> {
    let len = libc::off_t::try_from(len)
        .ok()
        .filter(|&len| len > 0)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    retry_on_intr(|| {
        // SAFETY: `fd` is an open descriptor, borrowed for the call; no memory of ours is
        // passed.
        match unsafe { libc::posix_fallocate(fd.as_raw_fd(), 0, len) } {
            0 => Ok(()),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    })
}

/// What [`flock`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlockOp {
    /// `LOCK_SH | LOCK_NB`: a shared lock, if no process holds an exclusive one.
    TrySharedLock,
    /// `LOCK_EX | LOCK_NB`: an exclusive lock, if no process holds any.
    TryExclusiveLock,
    /// `LOCK_UN`: lets go of this descriptor's lock.
    Unlock,
}

/// `flock(fd, op)`: an advisory lock on the open file description of `fd`, released by
/// [`FlockOp::Unlock`] or when the last descriptor of that description is closed — in
/// particular when its process dies; see `flock(2)`. Never waits (`LOCK_NB`); `EINTR` is
/// retried.
///
/// # Errors
///
/// `WouldBlock` (`EWOULDBLOCK`) if another open file description holds a conflicting lock;
/// `EBADF`, `ENOLCK`.
///
/// # Examples
///
/// ```
/// use host_runtime::sys::shm::{flock, shm_create_exclusive, shm_open_existing, shm_unlink, FlockOp};
/// use std::os::fd::AsFd;
///
/// let name = c"/host-runtime-doc-flock";
/// let _ = shm_unlink(name);
/// let maker = shm_create_exclusive(name)?;
/// flock(maker.as_fd(), FlockOp::TryExclusiveLock)?;
/// let other = shm_open_existing(name)?;
/// let err = flock(other.as_fd(), FlockOp::TrySharedLock).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
/// flock(maker.as_fd(), FlockOp::Unlock)?;
/// flock(other.as_fd(), FlockOp::TrySharedLock)?;
/// shm_unlink(name)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn flock(fd: BorrowedFd<'_>, op: FlockOp) -> io::Result<()> {
    let op = match op {
        FlockOp::TrySharedLock => libc::LOCK_SH | libc::LOCK_NB,
        FlockOp::TryExclusiveLock => libc::LOCK_EX | libc::LOCK_NB,
        FlockOp::Unlock => libc::LOCK_UN,
    };
    retry_on_intr(|| {
        // SAFETY: `fd` is an open descriptor, borrowed for the call; no memory is passed.
        cvt(unsafe { libc::flock(fd.as_raw_fd(), op) }).map(drop)
    })
}
