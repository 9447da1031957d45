//! Making a queue's region ([`RawQueue::create`]), opening a named one
//! ([`RawQueue::open_named`], [`RawQueue::attach`]) and removing its name: the header checked
//! once, the ring and each size class's lease table and chunks claimed as parts of the region.

use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use super::{Inner, RawQueue};
use crate::queue::blob::Class;
use crate::queue::error::QueueError;
use crate::queue::layout::{word, ClassLayout, Layout, Params, HEADER_LEN};
use crate::shared::member::Member;
use crate::shared::region::{Part, SharedBytes, SharedQueue, View};
use crate::shm::{SharedRegion, ShmError, UnlockOnDrop};
use crate::sys::shm::{flock, FlockOp};
use crate::wait::Stall;

/// Claims a class's chunk array and lease table in `region`.
fn claim_class(
    region: &SharedRegion,
    layout: &ClassLayout,
    index: usize,
    header: &SharedBytes,
) -> Result<Class, QueueError> {
    let control = bytes_view(region.claim(Part::Bytes {
        offset: layout.leases.0,
        len: layout.leases.1,
    })?);
    let chunks = bytes_view(region.claim(Part::Bytes {
        offset: layout.chunks.0,
        len: layout.chunks.1,
    })?);
    Ok(Class::new(
        layout.chunk_size,
        layout.count,
        control,
        chunks,
        header,
        8 * (word::FRESH + index),
    ))
}

impl RawQueue {
    /// Opens the named queue `name` made by [`Builder::create_named_raw`] or
    /// [`Builder::create_named`] in any process of this user.
    ///
    /// Checks the shared memory object's owner (our effective uid), mode (no group or other
    /// access) and size (what its header calls for), then validates the header and every
    /// queue inside through `ipc_core::ByteQueue::attach_raw`, and registers this process in
    /// the queue's participant table at once (so that [`Builder::reclaim_stale`] elsewhere
    /// sees it as a user while it lives; if the table is full, it is counted as a user that
    /// could not register, until its last handle is dropped).
    ///
    /// Any queue opens as a `RawQueue`, whatever item type it was made for: its messages are
    /// bytes (a typed queue's are postcard encodings of its items), and bytes are never an
    /// invalid value. [`Queue::open_named`] is the one that checks the type.
    ///
    /// # Errors
    ///
    /// [`QueueError::Shm`] (not found, wrong owner, mode or size), [`QueueError::BadHeader`]
    /// (no queue, or one that contradicts itself, or a queue being made or reclaimed by
    /// another process at this instant: try again), [`QueueError::Claim`] (a queue inside
    /// fails validation).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{QueueError, RawQueue};
    ///
    /// let err = RawQueue::open_named("doc-raw-no-such-queue").unwrap_err();
    /// assert!(matches!(err, QueueError::Shm(_)));
    /// ```
    ///
    /// [`Builder::create_named_raw`]: crate::queue::Builder::create_named_raw
    /// [`Builder::create_named`]: crate::queue::Builder::create_named
    /// [`Builder::reclaim_stale`]: crate::queue::Builder::reclaim_stale
    /// [`Queue::open_named`]: crate::queue::Queue::open_named
    pub fn open_named(name: &str) -> Result<RawQueue, QueueError> {
        // Twice at most: a queue reclaimed (replaced) while we opened it is opened again.
        let mut tries = 0;
        loop {
            tries += 1;
            let (region, file) = SharedRegion::open_named_file(name)?;
            // Shared: no reclaim can decide about this region until we registered in it (a
            // reclaim holds the lock exclusively while it judges and unlinks; so does the
            // creator until the queue is made).
            match flock(file.as_fd(), FlockOp::TrySharedLock) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(QueueError::BadHeader(
                        "the queue is being made or reclaimed; try again",
                    ))
                }
                Err(e) => return Err(ShmError::Os(e).into()),
            }
            // The mapping holds the lock too: let go explicitly, on every way out.
            let _unlock = UnlockOnDrop(&file);
            let queue = RawQueue::attach(region)?;
            if !SharedRegion::names(name, &file)? {
                // Reclaimed before we locked: the name is another region's now (or none's).
                if tries < 2 {
                    continue;
                }
                return Err(QueueError::BadHeader(
                    "the queue was replaced while being opened; try again",
                ));
            }
            // Registered at once (under the lock), so a reclaim sees us as a participant.
            queue.ring_and_id();
            return Ok(queue);
        }
    }

    /// Validates a named region that holds a queue and makes a handle of it, without
    /// registering this process.
    pub(crate) fn attach(region: SharedRegion) -> Result<RawQueue, QueueError> {
        if region.len() < HEADER_LEN {
            return Err(ShmError::SizeMismatch {
                expected: HEADER_LEN,
                found: region.len(),
            }
            .into());
        }
        let header = bytes_view(region.claim(Part::Bytes {
            offset: 0,
            len: HEADER_LEN,
        })?);
        let (params, region_len) = Params::read_header(&header)?;
        let layout = params
            .layout()
            .map_err(|_| QueueError::BadHeader("the recorded parameters are invalid"))?;
        if layout.region_len != region_len {
            return Err(QueueError::BadHeader(
                "the recorded region length disagrees with the parameters",
            ));
        }
        if region.len() != region_len {
            return Err(ShmError::SizeMismatch {
                expected: region_len,
                found: region.len(),
            }
            .into());
        }
        let ring = queue_view(region.claim(Part::Queue {
            offset: layout.ring.0,
            len: layout.ring.1,
        })?);
        if ring.get().capacity() != params.capacity
            || ring.get().max_message_len() != params.inline_max + 1
        {
            return Err(QueueError::BadHeader("the ring disagrees with the header"));
        }
        let mut classes = Vec::with_capacity(layout.classes.len());
        for (index, c) in layout.classes.iter().enumerate() {
            // Any lease bits are valid: no check (a lease a broken process wrote is at worst
            // never taken, or refused as `Corrupt` by a get).
            classes.push(claim_class(&region, c, index, &header)?);
        }
        RawQueue::from_parts(ring, &params, &layout, classes, header, region)
    }

    /// Makes a queue in a new region (named if `name` is given).
    pub(crate) fn create(params: &Params, name: Option<&str>) -> Result<RawQueue, QueueError> {
        RawQueue::create_in(params, name, false)
    }

    /// Makes an anonymous queue in a new region backed by a sealed memory file
    /// ([`SharedRegion::new_memfd`]), which a process that does not inherit the mapping can be
    /// handed ([`RawQueue::region_fd`]) and attach ([`RawQueue::attach`] over
    /// [`SharedRegion::from_memfd`]).
    pub(crate) fn create_memfd(params: &Params) -> Result<RawQueue, QueueError> {
        RawQueue::create_in(params, None, true)
    }

    /// The descriptor of the queue's memory file, for a queue made by
    /// [`create_memfd`](Self::create_memfd) or attached from one.
    pub(crate) fn region_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.inner.region.fd()
    }

    fn create_in(params: &Params, name: Option<&str>, memfd: bool) -> Result<RawQueue, QueueError> {
        let layout = params.layout()?;
        // A named region's file holds an exclusive lock until the queue is made (dropped at
        // the end of this function): openers and reclaimers back off until then.
        let (region, file) = match name {
            None if memfd => (SharedRegion::new_memfd(layout.region_len)?, None),
            None => (SharedRegion::new(layout.region_len)?, None),
            Some(name) => {
                let (region, file) = SharedRegion::create_named_file(name, layout.region_len)?;
                (region, Some(file))
            }
        };
        // Unlocked when this function returns, made or not (the mapping holds the lock too).
        let _unlock = file.as_ref().map(UnlockOnDrop);
        let made = (|| {
            let header = bytes_view(region.claim(Part::Bytes {
                offset: 0,
                len: HEADER_LEN,
            })?);
            let ring = queue_view(region.claim(Part::NewQueue {
                offset: layout.ring.0,
                len: layout.ring.1,
                config: params.ring_config(),
            })?);
            let mut classes = Vec::with_capacity(layout.classes.len());
            for (index, c) in layout.classes.iter().enumerate() {
                // The mapping is zeroed: every lease is FREE, the wait word has no waiters.
                classes.push(claim_class(&region, c, index, &header)?);
            }
            // Last: the magic, stored with Release, makes it all visible to `open_named`.
            let queue =
                RawQueue::from_parts(ring, params, &layout, classes, header, region.clone())?;
            if name.is_some() {
                // The creator registers at once, like every opener of a named queue.
                queue.ring_and_id();
            }
            params.write_header(&queue.inner.header, layout.region_len);
            Ok(queue)
        })();
        if made.is_err() {
            if let Some(name) = region.name() {
                let _ = SharedRegion::unlink_named(name);
            }
        }
        made
    }

    fn from_parts(
        ring: SharedQueue,
        params: &Params,
        layout: &Layout,
        classes: Vec<Class>,
        header: SharedBytes,
        region: SharedRegion,
    ) -> Result<RawQueue, QueueError> {
        // Any counts are valid bits: a broken process's at worst make wake calls for nobody.
        let ledger = bytes_view(region.claim(Part::Bytes {
            offset: layout.ledger.0,
            len: layout.ledger.1,
        })?);
        Ok(RawQueue {
            inner: Arc::new(Inner {
                ring: Member::new(ring),
                inline_max: params.inline_max,
                max_message_size: params.max_message_size,
                classes: classes.into_boxed_slice(),
                header,
                ledger,
                wait_words: params.wait_words(),
                item_type: params.item_type,
                stall: Stall::new(),
                unregistered: AtomicU64::new(0),
                closed: AtomicU64::new(0),
                region,
            }),
        })
    }

    /// Removes the name of a named queue ([`SharedRegion::unlink_named`]); processes that
    /// opened it keep using it.
    ///
    /// # Errors
    ///
    /// [`QueueError::Shm`] if there is no such name.
    ///
    /// # Examples
    ///
    /// ```
    /// # let _ = host_runtime::RawQueue::unlink_named("doc-raw-unlink");
    /// let q = host_runtime::queue::Builder::new().maxsize(2).create_named_raw("doc-raw-unlink")?;
    /// host_runtime::RawQueue::unlink_named("doc-raw-unlink")?;
    /// q.put(b"still works")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unlink_named(name: &str) -> Result<(), QueueError> {
        Ok(SharedRegion::unlink_named(name)?)
    }
}

fn queue_view(view: View) -> SharedQueue {
    match view {
        View::Queue(q) => q,
        View::Bytes(_) => unreachable!("a queue part gives a queue view"),
    }
}

fn bytes_view(view: View) -> SharedBytes {
    match view {
        View::Bytes(b) => b,
        View::Queue(_) => unreachable!("a bytes part gives a bytes view"),
    }
}
