//! [`Builder`]: the limits of a queue (capacity, message sizes, blob pool) before it is made.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::QueueError;
use super::layout::{item_type, Params};
use super::raw::RawQueue;
use super::Queue;

/// Ring capacity of a queue made with `maxsize == 0` ("no bound", as in Python): 2^20 =
/// 1,048,576 messages. Memory is committed only as slots are first used.
pub const UNBOUNDED_CAPACITY: usize = 1 << 20;
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
/// Default blob size classes `(chunk size, chunk count)`, for messages longer than the inline
/// size: 64 MiB of 4 KiB chunks, 64 MiB of 64 KiB, 128 MiB of 1 MiB, 128 MiB of 4 MiB, as
/// address space only. Counts are capped at the queue's capacity; classes above the maximum
/// message size are dropped and the last one shrunk to it.
///
/// Chunks are committed only when first used, and reused before untouched ones, so the memory
/// a class takes is that of the most of its messages ever in flight at once.
pub const DEFAULT_CLASSES: [(usize, usize); 4] = [
    (4 << 10, 16384),
    (64 << 10, 1024),
    (1 << 20, 128),
    (4 << 20, 32),
];

/// Settings for a [`Queue<T>`] or a [`RawQueue`]; start from [`Queue::builder`] (which fixes
/// `T`), [`RawQueue::builder`] or [`Builder::new`].
///
/// | setting | default | meaning |
/// |---|---|---|
/// | [`maxsize`](Self::maxsize) | 0 | capacity in messages; 0 = [`UNBOUNDED_CAPACITY`] |
/// | [`max_message_size`](Self::max_message_size) | 4 MiB | longest encoded message; longer → `PutError::TooLarge` |
/// | [`inline_max`](Self::inline_max) | 111 B | messages up to this travel in the ring slot itself |
/// | [`size_class`](Self::size_class) | [`DEFAULT_CLASSES`] | blob chunks for longer messages |
/// | [`max_processes`](Self::max_processes) | [`DEFAULT_MAX_PROCESSES`] | processes at once whose crashes are repaired |
///
/// Messages longer than the inline size are written into a chunk of the shared **blob pool**:
/// the smallest size class whose chunks hold the message. A class's chunk count bounds how
/// many such messages can be in flight at once; a put that finds none free waits (or fails
/// with `Full`), as for a full queue. All memory is reserved as address space only and
/// committed when first touched.
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
            _items: PhantomData,
        }
    }

    /// Capacity in messages; 0 (the default) means no bound, as in Python: the queue then
    /// holds [`UNBOUNDED_CAPACITY`] messages before it is full.
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
    /// `ipc_core::MAX_PARTICIPANTS`). Each process registers on its first put or get; when
    /// the table is full, entries of dead processes are reclaimed, and if none is dead the
    /// process uses the queue unregistered: correctly, but a crash of it in the middle of a
    /// put or get is not repaired.
    pub fn max_processes(mut self, processes: usize) -> Self {
        self.max_processes = processes;
        self
    }

    /// The ring and pool parameters these settings call for.
    pub(crate) fn params(&self) -> Result<Params, QueueError> {
        let capacity = if self.maxsize == 0 {
            UNBOUNDED_CAPACITY
        } else {
            self.maxsize
        };
        let inline_max = self.inline_max.unwrap_or(DEFAULT_INLINE_MAX);
        let (max_message_size, classes) = if self.classes.is_empty() {
            let max = self.max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE);
            let mut classes = Vec::new();
            if max > inline_max {
                for &(size, count) in &DEFAULT_CLASSES {
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
                    classes.push((last, DEFAULT_CLASSES[3].1.min(capacity)));
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
        RawQueue::create(&self.params()?, None)
    }

    /// [`create_named`](Builder::create_named) for a [`RawQueue`].
    ///
    /// # Errors
    ///
    /// As [`create_named`](Builder::create_named).
    pub fn create_named_raw(&self, name: &str) -> Result<RawQueue, QueueError> {
        RawQueue::create(&self.params()?, Some(name))
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
        RawQueue::create(&self.typed_params()?, None).map(Queue::from_raw)
    }

    /// [`params`](Builder::params), recording `T` as the item type.
    fn typed_params(&self) -> Result<Params, QueueError> {
        Ok(Params {
            item_type: item_type::<T>(),
            ..self.params()?
        })
    }

    /// Makes a typed queue in a new named shared region (mode 0600, created exclusively), which
    /// processes of the same user can open with [`Queue::open_named`]. The name stays taken
    /// until [`Queue::unlink_named`]. The header records the item type (a fingerprint of
    /// `T`'s name and the encoding), so that opening it as another type fails.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build); [`QueueError::Shm`] also if the name is invalid or taken.
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
        RawQueue::create(&self.typed_params()?, Some(name)).map(Queue::from_raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_classes_follow_the_maximum() {
        let p = Builder::new().params().unwrap();
        assert_eq!(p.capacity, UNBOUNDED_CAPACITY);
        assert_eq!(p.max_message_size, 4 << 20);
        assert_eq!(p.classes, DEFAULT_CLASSES.to_vec());
        p.layout().unwrap();

        let p = Builder::new()
            .maxsize(3)
            .max_message_size(100_000)
            .params()
            .unwrap();
        assert_eq!(p.classes, vec![(4096, 3), (65536, 3), (100_032, 3)]);
        p.layout().unwrap();

        let p = Builder::new().max_message_size(64).params().unwrap();
        assert!(p.classes.is_empty());
        p.layout().unwrap();

        let p = Builder::new().max_message_size(100 << 20).params().unwrap();
        assert_eq!(p.classes.last(), Some(&(100 << 20, 32)));
        p.layout().unwrap();
    }
}
