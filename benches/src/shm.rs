//! [`SharedMem`]: an anonymous shared mapping that a parent and the children it forks afterwards
//! share, with typed access to the atomics and the ipc-core queues laid out in it.
//!
//! A thin layer over host-runtime's [`Mapping`] and its views
//! ([`shared::region`](host_runtime::shared::region)): the mapping, the bounds and alignment
//! checks and the lifetime of the views are host-runtime's; nothing here is `unsafe`.

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::Arc;

pub use host_runtime::shared::region::AtomicsOnly;
use host_runtime::shared::region::{Mapping, Part, SharedBytes, SharedQueue, View};
use ipc_core::{ByteQueue, Config};

/// The page size assumed for layouts: offsets that are multiples of it keep each part on its
/// own pages (and aligned to ipc-core's [`REGION_ALIGN`](ipc_core::REGION_ALIGN)).
pub const PAGE: usize = 4096;

/// Rounds `n` up to a multiple of [`PAGE`].
pub const fn page_round(n: usize) -> usize {
    n.div_ceil(PAGE) * PAGE
}

/// `mmap(MAP_SHARED | MAP_ANONYMOUS)` memory ([`Mapping::anonymous`]), zeroed, unmapped when
/// the last view of it is dropped.
///
/// A child forked after it was made sees the same bytes at the same address. Made with
/// [`new`](Self::new), its first page holds atomics ([`at`](Self::at)) and queues go from
/// [`PAGE`] on; made with [`for_queues`](Self::for_queues), it holds queues only, from byte 0.
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
    mapping: Arc<Mapping>,
    /// The first page, viewed as atomics (`None` for [`SharedMem::for_queues`]).
    control: Option<SharedBytes>,
}

impl SharedMem {
    /// Maps `len` bytes (rounded up to whole pages) of zeroed shared memory; its first page
    /// is for atomics, so queues go from [`PAGE`] on.
    ///
    /// # Errors
    ///
    /// Those of `mmap`.
    pub fn new(len: usize) -> io::Result<Self> {
        let mapping = Arc::new(Mapping::anonymous(page_round(len.max(1)))?);
        let control = Mapping::claim_bytes(&mapping, 0, PAGE).map_err(io::Error::other)?;
        Ok(Self {
            mapping,
            control: Some(control),
        })
    }

    /// Maps `len` bytes (rounded up to whole pages) of zeroed shared memory for queues only,
    /// from byte 0.
    ///
    /// # Errors
    ///
    /// Those of `mmap`.
    pub fn for_queues(len: usize) -> io::Result<Self> {
        Ok(Self {
            mapping: Arc::new(Mapping::anonymous(page_round(len.max(1)))?),
            control: None,
        })
    }

    /// The mapping's length in bytes.
    pub fn len(&self) -> usize {
        self.mapping.len()
    }

    /// Whether the mapping is empty (never: it has at least one page).
    pub fn is_empty(&self) -> bool {
        self.mapping.is_empty()
    }

    fn control(&self) -> &SharedBytes {
        self.control
            .as_ref()
            .expect("a `SharedMem::for_queues` has no atomics page")
    }

    /// The `T` at byte `offset` of the first page.
    ///
    /// # Panics
    ///
    /// If `offset` is not aligned for `T`, `T` does not fit in the first page there, or this
    /// mapping was made [`for_queues`](Self::for_queues).
    #[inline]
    pub fn at<T: AtomicsOnly>(&self, offset: usize) -> &T {
        &self.control().atomics::<T>(offset, 1)[0]
    }

    /// The `N` words at byte `offset` of the first page.
    ///
    /// # Panics
    ///
    /// As [`at`](Self::at).
    #[inline]
    pub fn words<const N: usize>(&self, offset: usize) -> &[AtomicU64; N] {
        self.control()
            .atomics::<AtomicU64>(offset, N)
            .try_into()
            .expect("N words")
    }
}

/// A [`ByteQueue`] in a [`SharedMem`], keeping the mapping alive, so it can be stored and moved
/// (into threads, into a forked child's closure) without a borrow. Clones are handles to the
/// same queue: give one to each side (a child forked later inherits its clone).
///
/// # Examples
///
/// ```
/// use benches::shm::{OwnedQueue, SharedMem, PAGE};
///
/// let mem = SharedMem::new(PAGE + 8192)?;
/// let q = OwnedQueue::init(&mem, PAGE, 16, 64);
/// q.get().try_push(b"hi").unwrap();
/// let other = q.clone();
/// assert_eq!(other.get().len(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct OwnedQueue(SharedQueue);

impl OwnedQueue {
    /// Makes an empty queue at byte `offset` (a multiple of [`PAGE`]) of `mem` for `capacity`
    /// messages of up to `max_len` bytes ([`Mapping::claim`] of a [`Part::NewQueue`]).
    ///
    /// # Panics
    ///
    /// If the queue does not fit, `offset` is not page-aligned, or it overlaps a part of `mem`
    /// claimed before (the atomics page of a [`SharedMem::new`], another queue).
    pub fn init(mem: &SharedMem, offset: usize, capacity: usize, max_len: usize) -> Self {
        assert!(offset % PAGE == 0, "queue offsets are page-aligned");
        let len = ByteQueue::memory_size(Config::new(capacity, max_len)).expect("queue geometry");
        let part = Part::NewQueue {
            offset,
            len,
            config: Config::new(capacity, max_len),
        };
        match Mapping::claim(&mem.mapping, part) {
            Ok(View::Queue(queue)) => Self(queue),
            Ok(View::Bytes(_)) => unreachable!("a queue part gives a queue view"),
            Err(e) => panic!("queue at {offset}: {e}"),
        }
    }

    /// The queue.
    #[inline]
    pub fn get(&self) -> &ByteQueue<'_> {
        self.0.get()
    }
}

/// Checks that the atomics benches lay over shared memory are ones [`SharedMem::at`] takes.
const _: () = {
    const fn atomics<T: AtomicsOnly>() {}
    atomics::<AtomicU32>();
    atomics::<AtomicU64>();
    atomics::<crate::gate::Gate>();
};
