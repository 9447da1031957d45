//! [`Builder`]: the limits of a queue (capacity, message sizes, blob pool) before it is made.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::QueueError;
use super::layout::{item_type, Params};
use super::raw::RawQueue;
use super::Queue;

/// Ring capacity of an anonymous queue made with `maxsize == 0` ("no bound", as in Python): 2^20
/// = 1,048,576 messages. Its slots are address space only, committed as they are first used;
/// see [`Builder`] (*Memory*) for what that reservation costs.
pub const UNBOUNDED_CAPACITY: usize = 1 << 20;
/// Ring capacity of a *named* queue made with `maxsize == 0`: 16,384 messages (2 MiB of ring
/// at the default inline size). A named queue's memory is all reserved in `/dev/shm` when it
/// is made, so its "no bound" is smaller than an anonymous queue's ([`UNBOUNDED_CAPACITY`]).
pub const NAMED_UNBOUNDED_CAPACITY: usize = 1 << 14;
/// Default longest message (encoded) carried inside a ring slot: 111 bytes, so a slot with its
/// 16-byte header and the one-byte descriptor marker takes 128 bytes.
pub const DEFAULT_INLINE_MAX: usize = 111;
/// Largest inline size a builder accepts.
pub const MAX_INLINE: usize = 1023;
/// Default number of processes that may use a queue with crash repair: 128 (participant
/// table entries of 32 bytes, in the ring).
pub const DEFAULT_MAX_PROCESSES: usize = 128;
/// Default maximum message size (encoded): 4 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 << 20;
/// Default blob size classes `(chunk size, chunk count)` of an anonymous queue, for messages
/// longer than the inline size: 64 MiB of 4 KiB chunks, 64 MiB of 64 KiB, 128 MiB of 1 MiB,
/// 128 MiB of 4 MiB, as address space only. Counts are capped at the queue's capacity;
/// classes above the maximum message size are dropped and the last one shrunk to it.
///
/// Chunks are committed only when first used, and reused before untouched ones, so the memory
/// a class takes is that of the most of its messages ever in flight at once.
pub const DEFAULT_CLASSES: [(usize, usize); 4] = [
    (4 << 10, 16384),
    (64 << 10, 1024),
    (1 << 20, 128),
    (4 << 20, 32),
];

/// Default blob size classes of a *named* queue, whose memory is reserved in `/dev/shm` when
/// it is made: 1 MiB of 4 KiB chunks (256), 2 MiB of 64 KiB (32), 4 MiB of 1 MiB (4) and one
/// 4 MiB chunk: 11 MiB. With the ring of [`NAMED_UNBOUNDED_CAPACITY`] a default named queue
/// takes about 13 MiB, so several fit a 64 MiB `/dev/shm` (Docker's default). Counts are
/// capped at the capacity and classes adjusted to the maximum message size as for
/// [`DEFAULT_CLASSES`]. A long put waits (or fails with `Full`) while its class's chunks are
/// all in flight: raise a count with [`Builder::size_class`] where more long messages must be
/// in flight at once.
pub const NAMED_DEFAULT_CLASSES: [(usize, usize); 4] =
    [(4 << 10, 256), (64 << 10, 32), (1 << 20, 4), (4 << 20, 1)];

/// Settings for a [`Queue<T>`] or a [`RawQueue`]; start from [`Queue::builder`] (which fixes
/// `T`), [`RawQueue::builder`] or [`Builder::new`].
///
/// | setting | default | meaning |
/// |---|---|---|
/// | [`maxsize`](Self::maxsize) | 0 | capacity in messages; 0 = [`UNBOUNDED_CAPACITY`] ([`NAMED_UNBOUNDED_CAPACITY`] for a named queue) |
/// | [`max_message_size`](Self::max_message_size) | 4 MiB | longest encoded message; longer → `PutError::TooLarge` |
/// | [`inline_max`](Self::inline_max) | 111 B | messages up to this travel in the ring slot itself |
/// | [`size_class`](Self::size_class) | [`DEFAULT_CLASSES`] ([`NAMED_DEFAULT_CLASSES`] for a named queue) | blob chunks for longer messages |
/// | [`reclaim_stale`](Self::reclaim_stale) | `false` | a named queue may replace a stale one of its name |
/// | [`max_processes`](Self::max_processes) | [`DEFAULT_MAX_PROCESSES`] | processes at once whose crashes are repaired |
///
/// Messages longer than the inline size are written into a chunk of the shared **blob pool**:
/// the smallest size class whose chunks hold the message. A class's chunk count bounds how
/// many such messages can be in flight at once; a put that finds none free waits (or fails
/// with `Full`), as for a full queue.
///
/// # Memory
///
/// A queue's region holds its ring (`capacity × slot`, a slot being `inline_max + 17` bytes
/// rounded up to 8: 128 bytes by default), the participant table (32 bytes a process) and
/// every blob chunk (`Σ chunk size × count`). [`anonymous_size`](Self::anonymous_size) and
/// [`named_size`](Self::named_size) tell the total before anything is made.
///
/// * **Anonymous** ([`build`](Self::build), [`build_raw`](Self::build_raw)): a `MAP_SHARED |
///   MAP_ANONYMOUS | MAP_NORESERVE` mapping. Its pages are committed when first touched, so
///   the memory used is that of the most messages ever in flight; but the whole region is
///   *address space*: about 512 MiB for the defaults with `maxsize(0)` (a ring of
///   [`UNBOUNDED_CAPACITY`] slots and [`DEFAULT_CLASSES`]), less with a bound (chunk counts
///   are capped at the capacity). Under `vm.overcommit_memory=2` (strict accounting) the
///   kernel counts a shared mapping in full and may refuse it (`QueueError::Shm` with
///   `ENOMEM`); a `ulimit -v` counts it too. There, give the queue a bound
///   ([`maxsize`](Self::maxsize)) and a smaller [`max_message_size`](Self::max_message_size)
///   or explicit [`size_class`](Self::size_class)es.
/// * **Named** ([`create_named`](Self::create_named), [`create_named_raw`](Self::create_named_raw)):
///   a file of `/dev/shm` whose space is reserved when it is made (`posix_fallocate`), so a
///   `/dev/shm` too small is a typed error at creation (`ShmError::OutOfSpace`), never a
///   `SIGBUS` later, and the whole region counts against `/dev/shm` (and the memory of the
///   machine or container) for as long as the name exists. The defaults are smaller:
///   [`NAMED_UNBOUNDED_CAPACITY`] slots for `maxsize(0)` and [`NAMED_DEFAULT_CLASSES`], about
///   13 MiB for a default named queue (9 MiB with `maxsize(16)`), which fits a 64 MiB
///   `/dev/shm` (Docker's default; `docker run --shm-size` raises it).
///
/// To size a queue: pick the capacity (messages in the ring at once), the largest message,
/// and for each size of long message how many may be in flight at once (the chunk count of
/// its class); give them with [`maxsize`](Self::maxsize),
/// [`max_message_size`](Self::max_message_size) and [`size_class`](Self::size_class), and
/// check the total with [`named_size`](Self::named_size) or
/// [`anonymous_size`](Self::anonymous_size).
///
/// # Examples
///
/// ```
/// use host_runtime::Queue;
///
/// let q = Queue::<Vec<u8>>::builder()
///     .maxsize(16)
///     .max_message_size(64 << 10)
///     .build()?;
/// q.put(vec![7; 50_000])?;
/// assert_eq!(q.get()?.len(), 50_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Builder<T = Vec<u8>> {
    maxsize: usize,
    max_message_size: Option<usize>,
    inline_max: Option<usize>,
    classes: Vec<(usize, usize)>,
    max_processes: usize,
    reclaim_stale: bool,
    _items: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Builder<T> {
    fn clone(&self) -> Self {
        Builder {
            maxsize: self.maxsize,
            max_message_size: self.max_message_size,
            inline_max: self.inline_max,
            classes: self.classes.clone(),
            max_processes: self.max_processes,
            reclaim_stale: self.reclaim_stale,
            _items: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Builder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("maxsize", &self.maxsize)
            .field("max_message_size", &self.max_message_size)
            .field("inline_max", &self.inline_max)
            .field("classes", &self.classes)
            .field("max_processes", &self.max_processes)
            .field("reclaim_stale", &self.reclaim_stale)
            .finish()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The default settings (see the table above), for a queue of byte vectors or a
    /// [`RawQueue`]; [`Queue::builder`] gives one for another item type.
    pub fn new() -> Builder {
        Builder::typed()
    }
}

impl<T> Builder<T> {
    /// The default settings for items of type `T`.
    pub(crate) fn typed() -> Builder<T> {
        Builder {
            maxsize: 0,
            max_message_size: None,
            inline_max: None,
            classes: Vec::new(),
            max_processes: DEFAULT_MAX_PROCESSES,
            reclaim_stale: false,
            _items: PhantomData,
        }
    }

    /// Capacity in messages; 0 (the default) means no bound, as in Python: the queue then
    /// holds [`UNBOUNDED_CAPACITY`] messages before it is full ([`NAMED_UNBOUNDED_CAPACITY`]
    /// for a named queue, whose memory is reserved up front).
    pub fn maxsize(mut self, maxsize: usize) -> Self {
        self.maxsize = maxsize;
        self
    }

    /// Longest encoded message accepted, in bytes (default 4 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// Longest encoded message carried inline in a ring slot (default 111 bytes, at least 23
    /// so that a blob descriptor fits, at most 1023). Every slot takes `inline_max + 17` bytes rounded up to 8, committed when the
    /// slot is first used.
    pub fn inline_max(mut self, bytes: usize) -> Self {
        self.inline_max = Some(bytes);
        self
    }

    /// Adds a blob size class of `count` chunks of `chunk_size` bytes (a multiple of 8). Once
    /// any class is given, the defaults are not used, and the maximum message size defaults to
    /// the largest chunk.
    pub fn size_class(mut self, chunk_size: usize, count: usize) -> Self {
        self.classes.push((chunk_size, count));
        self
    }

    /// How many processes may use the queue at once with crash repair (default 128, at most
    /// `ipc_core::MAX_PARTICIPANTS`). Each process registers when it creates or opens a named
    /// queue, or on its first put or get (an anonymous queue; a forked child); when
    /// the table is full, entries of dead processes are reclaimed, and if none is dead the
    /// process uses the queue unregistered: correctly, but a crash of it in the middle of a
    /// put or get is not repaired.
    pub fn max_processes(mut self, processes: usize) -> Self {
        self.max_processes = processes;
        self
    }

    /// Lets [`create_named`](Self::create_named) (and
    /// [`create_named_raw`](Self::create_named_raw)) replace a **stale** queue of the same
    /// name: one whose creator and every process registered in it are dead, as a region left
    /// in `/dev/shm` by a crashed program is. A queue with a live participant is never
    /// replaced: the create fails with [`QueueError::InUse`] naming it. Default `false`: the
    /// create fails with `ShmError::AlreadyExists` whenever the name exists.
    ///
    /// Counted as alive (so the queue is kept): the creator while it lives (even after it
    /// dropped the queue); every process that opened the queue and did not drop it, or put or
    /// got through it, while it lives; a process that opened it while the participant table
    /// was full (it could not register, so its liveness is unknown: until it drops its last
    /// handle, the queue can only be removed by hand); and a process recorded in another pid
    /// namespace. What is not a queue of this version (another program's object, a region
    /// whose creator died while making it) is never replaced either ([`QueueError::InUse`]).
    ///
    /// Processes that still have the old queue open when it is replaced (none alive, by the
    /// rule above, except a child forked from a dead participant that never used the queue:
    /// it registers on its first call) keep the old region, which no other process reaches.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{queue::Builder, QueueError};
    ///
    /// # let _ = host_runtime::RawQueue::unlink_named("doc-reclaim");
    /// let q = Builder::new().maxsize(4).create_named_raw("doc-reclaim")?;
    /// // We made it and live: not stale.
    /// let again = Builder::new().maxsize(4).reclaim_stale(true).create_named_raw("doc-reclaim");
    /// assert!(matches!(again, Err(QueueError::InUse { .. })));
    /// host_runtime::RawQueue::unlink_named("doc-reclaim")?;
    /// # drop(q);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reclaim_stale(mut self, reclaim: bool) -> Self {
        self.reclaim_stale = reclaim;
        self
    }

    /// Bytes of the region an anonymous queue with these settings maps (address space; see
    /// *Memory* above).
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), for settings out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::queue::Builder;
    ///
    /// // 1000 slots of 128 bytes, 16 chunks of 4 KiB: well under 1 MiB.
    /// let b = Builder::new().maxsize(1000).size_class(4096, 16);
    /// assert!(b.anonymous_size()? < 1 << 20);
    /// // The defaults: about 512 MiB of address space (committed only as it is used).
    /// assert!(Builder::new().anonymous_size()? > 500 << 20);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn anonymous_size(&self) -> Result<usize, QueueError> {
        Ok(self.params(false)?.layout()?.region_len)
    }

    /// Bytes a named queue with these settings reserves in `/dev/shm` (see *Memory* above).
    ///
    /// # Errors
    ///
    /// As [`create_named`](Self::create_named), for settings out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// let size = host_runtime::queue::Builder::new().named_size()?;
    /// assert!(size < 16 << 20); // fits a 64 MiB /dev/shm several times
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn named_size(&self) -> Result<usize, QueueError> {
        Ok(self.params(true)?.layout()?.region_len)
    }

    /// The ring and pool parameters these settings call for, for a named or an anonymous
    /// queue (their defaults differ).
    pub(crate) fn params(&self, named: bool) -> Result<Params, QueueError> {
        let (unbounded, defaults) = if named {
            (NAMED_UNBOUNDED_CAPACITY, &NAMED_DEFAULT_CLASSES)
        } else {
            (UNBOUNDED_CAPACITY, &DEFAULT_CLASSES)
        };
        let capacity = if self.maxsize == 0 {
            unbounded
        } else {
            self.maxsize
        };
        let inline_max = self.inline_max.unwrap_or(DEFAULT_INLINE_MAX);
        let (max_message_size, classes) = if self.classes.is_empty() {
            let max = self.max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE);
            let mut classes = Vec::new();
            if max > inline_max {
                for &(size, count) in defaults {
                    let count = count.min(capacity);
                    if size >= max {
                        let last = max
                            .checked_next_multiple_of(64)
                            .ok_or_else(|| QueueError::Config("message size too large".into()))?
                            .max(inline_max + 1)
                            .next_multiple_of(8);
                        classes.push((last, count));
                        break;
                    }
                    if size > inline_max {
                        classes.push((size, count));
                    }
                }
                if classes.last().is_none_or(|&(size, _)| size < max) {
                    // Above the largest default class: one class of max-sized chunks.
                    let last = max
                        .checked_next_multiple_of(64)
                        .ok_or_else(|| QueueError::Config("message size too large".into()))?;
                    classes.push((last, defaults[defaults.len() - 1].1.min(capacity)));
                }
            }
            (max, classes)
        } else {
            let mut classes = self.classes.clone();
            classes.sort_unstable();
            let largest = classes.last().map_or(0, |c| c.0);
            (self.max_message_size.unwrap_or(largest), classes)
        };
        Ok(Params {
            capacity,
            inline_max,
            max_message_size,
            classes,
            participants: self.max_processes,
            item_type: 0,
        })
    }

    /// Makes a [`RawQueue`] (byte messages) in a new anonymous shared region.
    ///
    /// # Errors
    ///
    /// As [`build`](Builder::build).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::queue::Builder::new().maxsize(8).build_raw()?;
    /// q.put(b"bytes")?;
    /// assert_eq!(q.get()?, b"bytes");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build_raw(&self) -> Result<RawQueue, QueueError> {
        RawQueue::create(&self.params(false)?, None)
    }

    /// [`build_raw`](Builder::build_raw) in a sealed memory file (`memfd_create(2)`, nothing in
    /// `/dev/shm`), so that the queue can also be passed to a spawned or forkserver child, as
    /// a [`ByFd`](crate::process::ByFd) argument.
    ///
    /// # Errors
    ///
    /// As [`build_raw`](Builder::build_raw).
    pub fn build_raw_shareable(&self) -> Result<RawQueue, QueueError> {
        RawQueue::create_memfd(&self.params(false)?)
    }

    /// [`create_named`](Builder::create_named) for a [`RawQueue`].
    ///
    /// # Errors
    ///
    /// As [`create_named`](Builder::create_named).
    pub fn create_named_raw(&self, name: &str) -> Result<RawQueue, QueueError> {
        self.create_named_with(&self.params(true)?, name)
    }

    /// Makes the named region of `params`, reclaiming a stale one if asked to.
    fn create_named_with(&self, params: &Params, name: &str) -> Result<RawQueue, QueueError> {
        if self.reclaim_stale {
            RawQueue::create_or_reclaim(params, name)
        } else {
            RawQueue::create(params, Some(name))
        }
    }
}

impl<T: Serialize + DeserializeOwned> Builder<T> {
    /// Makes a typed queue in a new anonymous shared region, inherited by children forked
    /// (e.g. by [`Process::start`](crate::Process::start)) afterwards.
    ///
    /// # Errors
    ///
    /// [`QueueError::Config`] for settings out of range, [`QueueError::Layout`] for a capacity
    /// above `ipc_core::MAX_CAPACITY`, [`QueueError::Shm`] if the memory can't be mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<u64>::builder().maxsize(3).build()?;
    /// assert_eq!(q.capacity(), 3);
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn build(&self) -> Result<Queue<T>, QueueError> {
        RawQueue::create(&self.typed_params(false)?, None).map(Queue::from_raw)
    }

    /// [`build`](Builder::build) in a sealed memory file (`memfd_create(2)`, nothing in
    /// `/dev/shm`), so that the queue can also be passed to a spawned or forkserver child, as
    /// a [`ByFd`](crate::process::ByFd) argument (see there for an example).
    ///
    /// # Errors
    ///
    /// As [`build`](Builder::build).
    pub fn build_shareable(&self) -> Result<Queue<T>, QueueError> {
        RawQueue::create_memfd(&self.typed_params(false)?).map(Queue::from_raw)
    }

    /// [`params`](Builder::params), recording `T` as the item type.
    fn typed_params(&self, named: bool) -> Result<Params, QueueError> {
        Ok(Params {
            item_type: item_type::<T>(),
            ..self.params(named)?
        })
    }

    /// Makes a typed queue in a new named shared region (mode 0600, created exclusively), which
    /// processes of the same user can open with [`Queue::open_named`]. The name stays taken
    /// until [`Queue::unlink_named`] (see the [module docs](crate::queue), *Cleaning up
    /// named queues*). The region's memory is reserved in `/dev/shm` now (see *Memory*
    /// above); this process registers in the queue at once. The header records the item type
    /// (a fingerprint of `T`'s name and the encoding), so that opening it as another type fails.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build); [`QueueError::Shm`] also if the name is invalid or taken
    /// ([`ShmError::AlreadyExists`](crate::ShmError::AlreadyExists)), or `/dev/shm` has no
    /// room for the region ([`ShmError::OutOfSpace`](crate::ShmError::OutOfSpace), naming
    /// the bytes wanted; nothing is left behind); with
    /// [`reclaim_stale`](Self::reclaim_stale), [`QueueError::InUse`] if the name holds a
    /// queue that is not stale.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::Queue;
    ///
    /// # let _ = Queue::<u8>::unlink_named("doc-builder-named");
    /// let q = Queue::<String>::builder().maxsize(4).create_named("doc-builder-named")?;
    /// let other = Queue::<String>::open_named("doc-builder-named")?;
    /// q.put("across the name".into())?;
    /// assert_eq!(other.get()?, "across the name");
    /// Queue::<String>::unlink_named("doc-builder-named")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_named(&self, name: &str) -> Result<Queue<T>, QueueError> {
        self.create_named_with(&self.typed_params(true)?, name)
            .map(Queue::from_raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_classes_follow_the_maximum() {
        let p = Builder::new().params(false).unwrap();
        assert_eq!(p.capacity, UNBOUNDED_CAPACITY);
        assert_eq!(p.max_message_size, 4 << 20);
        assert_eq!(p.classes, DEFAULT_CLASSES.to_vec());
        p.layout().unwrap();

        let p = Builder::new()
            .maxsize(3)
            .max_message_size(100_000)
            .params(false)
            .unwrap();
        assert_eq!(p.classes, vec![(4096, 3), (65536, 3), (100_032, 3)]);
        p.layout().unwrap();

        let p = Builder::new().max_message_size(64).params(false).unwrap();
        assert!(p.classes.is_empty());
        p.layout().unwrap();

        let p = Builder::new()
            .max_message_size(100 << 20)
            .params(false)
            .unwrap();
        assert_eq!(p.classes.last(), Some(&(100 << 20, 32)));
        p.layout().unwrap();
    }

    #[test]
    fn named_defaults_fit_a_small_dev_shm() {
        let p = Builder::new().params(true).unwrap();
        assert_eq!(p.capacity, NAMED_UNBOUNDED_CAPACITY);
        assert_eq!(p.classes, NAMED_DEFAULT_CLASSES.to_vec());
        assert_eq!(p.max_message_size, DEFAULT_MAX_MESSAGE_SIZE);
        let size = Builder::new().named_size().unwrap();
        assert!(size < 14 << 20, "{size}");
        let bounded = Builder::new().maxsize(16).named_size().unwrap();
        assert!(bounded < 10 << 20, "{bounded}");
        // Docker's default /dev/shm holds four default named queues.
        assert!(4 * size < 64 << 20);
        // Anonymous defaults are unchanged: about 512 MiB of address space.
        let anonymous = Builder::new().anonymous_size().unwrap();
        assert!(
            anonymous > 500 << 20 && anonymous < 520 << 20,
            "{anonymous}"
        );
    }
}
