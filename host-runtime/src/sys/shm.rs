//! Anonymous shared memory: mappings that a parent and the children it forks afterwards share.

use std::io;
use std::ptr::{self, NonNull};

use super::cvt;

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
    if len == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot map 0 bytes",
        ));
    }
    // SAFETY: a null hint and an anonymous mapping (fd -1, offset 0) touch no existing memory;
    // the kernel picks a fresh range.
    let addr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
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
