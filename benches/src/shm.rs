//! [`SharedMem`]: an anonymous shared mapping that a parent and the children it forks afterwards
//! share, with typed access to the atomics and the ipc-core queues laid out in it.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::Arc;

use host_runtime::sys::shm::{mmap_shared_anonymous, munmap};
use ipc_core::ByteQueue;

use crate::gate::Gate;

/// The page size assumed for layouts: offsets that are multiples of it keep each part on its
/// own pages (and aligned to ipc-core's [`REGION_ALIGN`](ipc_core::REGION_ALIGN)).
pub const PAGE: usize = 4096;

/// Rounds `n` up to a multiple of [`PAGE`].
pub const fn page_round(n: usize) -> usize {
    n.div_ceil(PAGE) * PAGE
}

/// Types that may live in memory shared between processes and be reached through `&T`.
///
/// # Safety
///
/// The type is `Sync`, made only of atomics (and padding), and the all-zero bytes are a valid
/// value of it, so a fresh zeroed mapping holds one and any process may change it at any time.
pub unsafe trait Atomics: Sync {}

// SAFETY: an atomic integer; zero is valid; all access is atomic.
unsafe impl Atomics for AtomicU32 {}
// SAFETY: as above.
unsafe impl Atomics for AtomicU64 {}
// SAFETY: atomic integers, as above.
unsafe impl<const N: usize> Atomics for [AtomicU64; N] {}
// SAFETY: two `AtomicU32`s (`#[repr(C)]`); zero is a closed gate at epoch 0.
unsafe impl Atomics for Gate {}

/// `mmap(MAP_SHARED | MAP_ANONYMOUS)` memory, zeroed, unmapped on drop.
///
/// A child forked after it was made sees the same bytes at the same address.
///
/// # Examples
///
/// ```
/// use benches::shm::SharedMem;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// let mem = SharedMem::new(4096)?;
/// let word: &AtomicU32 = mem.at(0);
/// word.store(3, Ordering::Relaxed);
/// assert_eq!(mem.at::<AtomicU32>(0).load(Ordering::Relaxed), 3);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct SharedMem {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; everything handed out from it is
// reached through `Atomics` references or ipc-core queues, which are `Sync`.
unsafe impl Send for SharedMem {}
// SAFETY: as above.
unsafe impl Sync for SharedMem {}

impl SharedMem {
    /// Maps `len` bytes (rounded up to whole pages) of zeroed shared memory.
    ///
    /// # Errors
    ///
    /// Those of `mmap`.
    pub fn new(len: usize) -> io::Result<Self> {
        let len = page_round(len.max(1));
        let ptr = mmap_shared_anonymous(len)?;
        Ok(Self { ptr, len })
    }

    /// The mapping's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: `new` maps at least one page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `T` at byte `offset`.
    ///
    /// # Panics
    ///
    /// If `offset` is not aligned for `T` or `T` does not fit in the mapping there.
    pub fn at<T: Atomics>(&self, offset: usize) -> &T {
        assert!(offset % std::mem::align_of::<T>() == 0, "misaligned offset");
        assert!(
            offset
                .checked_add(std::mem::size_of::<T>())
                .is_some_and(|end| end <= self.len),
            "out of the mapping"
        );
        // SAFETY: in bounds and aligned (checked above); the mapping is page-aligned and lives
        // as long as `self`; `T: Atomics` is valid for any bytes a zeroed or shared mapping may
        // hold and is only reached through shared references.
        unsafe { self.ptr.add(offset).cast::<T>().as_ref() }
    }

    /// Makes an empty [`ByteQueue`] at byte `offset` (a multiple of [`PAGE`]) for `capacity`
    /// messages of up to `max_len` bytes, with `ByteQueue::init_raw`.
    ///
    /// # Panics
    ///
    /// If the queue does not fit, `offset` is not page-aligned, or a queue is already there.
    pub fn init_queue(&self, offset: usize, capacity: usize, max_len: usize) -> ByteQueue<'_> {
        let (ptr, len) = self.queue_range(offset, capacity, max_len);
        // SAFETY: `ptr..ptr+len` lies in this mapping (checked by `queue_range`), which lives
        // as long as the returned borrow of `self`; the caller passes each offset once and the
        // part is only ever used through `ByteQueue`s (in this process and its forked children).
        unsafe { ByteQueue::init_raw(ptr, len, capacity, max_len) }.expect("init_raw")
    }

    /// Opens the queue that [`init_queue`](Self::init_queue) made at `offset`, with
    /// `ByteQueue::attach_raw` (as a forked child does).
    ///
    /// # Panics
    ///
    /// If the bytes there are not a valid queue of that geometry.
    pub fn attach_queue(&self, offset: usize, capacity: usize, max_len: usize) -> ByteQueue<'_> {
        let (ptr, len) = self.queue_range(offset, capacity, max_len);
        // SAFETY: as in `init_queue`: in bounds, alive for the borrow, used only through
        // `ByteQueue`s.
        unsafe { ByteQueue::attach_raw(ptr, len) }.expect("attach_raw")
    }

    fn queue_range(&self, offset: usize, capacity: usize, max_len: usize) -> (NonNull<u8>, usize) {
        assert!(offset % PAGE == 0, "queue offsets are page-aligned");
        let len = ByteQueue::memory_size(capacity, max_len).expect("queue geometry");
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "queue does not fit in the mapping"
        );
        // SAFETY: offset + len <= self.len (checked above), so the pointer stays in the mapping.
        (unsafe { self.ptr.add(offset) }, len)
    }
}

impl Drop for SharedMem {
    fn drop(&mut self) {
        // SAFETY: the whole mapping made by `new`; every reference handed out borrowed `self`,
        // so none outlives this call. (Forked children never run this: they leave with `_exit`.)
        let _ = unsafe { munmap(self.ptr, self.len) };
    }
}

/// A [`ByteQueue`] together with the shared mapping it lives in, so it can be stored and moved
/// (into threads, into a forked child's closure) without a borrow.
///
/// # Examples
///
/// ```
/// use benches::shm::{OwnedQueue, SharedMem, PAGE};
/// use std::sync::Arc;
///
/// let mem = Arc::new(SharedMem::new(PAGE + 8192)?);
/// let q = OwnedQueue::init(&mem, PAGE, 16, 64);
/// q.get().try_push(b"hi").unwrap();
/// let again = OwnedQueue::attach(&mem, PAGE, 16, 64);
/// assert_eq!(again.get().len(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct OwnedQueue {
    // Declared before `mem`, so dropped before the mapping it points into.
    queue: ByteQueue<'static>,
    mem: Arc<SharedMem>,
}

impl OwnedQueue {
    /// [`SharedMem::init_queue`], kept with its mapping.
    ///
    /// # Panics
    ///
    /// As [`SharedMem::init_queue`].
    pub fn init(mem: &Arc<SharedMem>, offset: usize, capacity: usize, max_len: usize) -> Self {
        let queue = mem.init_queue(offset, capacity, max_len);
        // SAFETY: the queue points into `mem`'s mapping, which the `Arc` stored beside it keeps
        // alive for as long as this value; the `'static` handle never leaves it (`get` hands it
        // out with the lifetime of `&self`).
        let queue = unsafe { std::mem::transmute::<ByteQueue<'_>, ByteQueue<'static>>(queue) };
        Self {
            queue,
            mem: Arc::clone(mem),
        }
    }

    /// [`SharedMem::attach_queue`], kept with its mapping.
    ///
    /// # Panics
    ///
    /// As [`SharedMem::attach_queue`].
    pub fn attach(mem: &Arc<SharedMem>, offset: usize, capacity: usize, max_len: usize) -> Self {
        let queue = mem.attach_queue(offset, capacity, max_len);
        // SAFETY: as in `init`.
        let queue = unsafe { std::mem::transmute::<ByteQueue<'_>, ByteQueue<'static>>(queue) };
        Self {
            queue,
            mem: Arc::clone(mem),
        }
    }

    /// The queue.
    #[inline]
    pub fn get(&self) -> &ByteQueue<'_> {
        &self.queue
    }

    /// The mapping the queue lives in.
    pub fn mem(&self) -> &Arc<SharedMem> {
        &self.mem
    }
}
