//! Where everything lives in a queue's shared region, and its header. See `LAYOUT.md` of this
//! crate for the picture.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use ipc_core::{ByteQueue, Config, MAX_CAPACITY, MAX_PARTICIPANTS};

use super::error::QueueError;
use crate::shared::region::SharedBytes;

/// `b"hrqueue\x01"` read as a little-endian `u64`.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"hrqueue\x01");
/// Version of the region format (5: the item type in word 34, the creator and the unregistered
/// openers in words 36-38; 4: a wait ledger; 3: per-chunk lease words instead of free-list
/// queues).
pub(crate) const VERSION: u64 = 5;
/// Bytes of the header (48 words of 8 bytes); the ring starts right after it.
pub(crate) const HEADER_LEN: usize = 384;
/// Most blob size classes a queue may have.
pub(crate) const MAX_CLASSES: usize = 8;
/// Alignment of each chunk array: a page, so unused chunks commit no memory.
pub(crate) const PAGE: usize = 4096;
/// Alignment of the ring and of each class's lease table in the region
/// (`ipc_core::REGION_ALIGN`: a pair of cache lines).
const QUEUE_ALIGN: usize = ipc_core::REGION_ALIGN;
/// Bytes of a blob descriptor in a ring slot: class, index, length, reserved (`u32` LE
/// each), then the chunk's expected lease word (`u64` LE).
pub(crate) const DESCRIPTOR_LEN: usize = 24;
/// Bytes before a class's lease words: its `WaitWord` ("a chunk was freed"), padded to a
/// pair of cache lines.
pub(crate) const LEASES_AT: usize = 128;

/// Header word indices (each an `AtomicU64` at `8 * index`).
pub(crate) mod word {
    pub(crate) const MAGIC: usize = 0;
    pub(crate) const VERSION: usize = 1;
    pub(crate) const REGION_LEN: usize = 2;
    pub(crate) const CAPACITY: usize = 3;
    pub(crate) const INLINE_MAX: usize = 4;
    pub(crate) const MAX_MESSAGE_SIZE: usize = 5;
    pub(crate) const CLASS_COUNT: usize = 6;
    /// Class `c` has its chunk size at `CLASSES + 2c` and its chunk count at `CLASSES + 2c + 1`.
    pub(crate) const CLASSES: usize = 7;
    /// Class `c`'s high-water mark (`FRESH + c`): every chunk whose lease was ever taken
    /// lies below it (raised with `fetch_max` *before* the lease is taken); chunks above
    /// are untouched memory. Written after creation.
    pub(crate) const FRESH: usize = CLASSES + 2 * super::MAX_CLASSES;
    /// Entries in the participant table of the ring.
    pub(crate) const PARTICIPANTS: usize = FRESH + super::MAX_CLASSES;
    /// Dead processes whose claims were repaired (written after creation: `fetch_add`).
    pub(crate) const REPAIRS: usize = PARTICIPANTS + 1;
    /// The next lease nonce: every long put takes one (`fetch_add`), so a nonce names one
    /// put of the region's life (modulo 2^49).
    pub(crate) const NONCE: usize = REPAIRS + 1;
    /// The item type's fingerprint ([`super::item_type`]); 0 for a queue made untyped
    /// (`create_named_raw`, `build_raw`). Written once before the magic.
    pub(crate) const ITEM_TYPE: usize = NONCE + 1;
    /// The creator's pid (written before the magic): with [`CREATOR_IDENTITY`], what tells a
    /// reclaim (`queue/reclaim.rs`) whether the creator still lives.
    pub(crate) const CREATOR_PID: usize = 36;
    /// The creator's identity (`liveness::own_identity`; 0: unknown), before the magic.
    pub(crate) const CREATOR_IDENTITY: usize = 37;
    /// Processes that opened the queue but found the participant table full (their liveness
    /// cannot be told: a reclaim counts them as alive). Raised (`fetch_add`) when such an
    /// opener gives up registering, lowered when it drops its last handle; one that dies
    /// keeps it raised. Written after creation.
    pub(crate) const UNREGISTERED: usize = 38;
}

const _: () = assert!((word::UNREGISTERED + 1) * 8 <= HEADER_LEN);
const _: () = assert!(word::ITEM_TYPE == 34 && word::CREATOR_PID > 35);

/// The encoding of a typed queue's items, hashed into [`item_type`]: postcard's major version
/// (its wire format is stable within a major version), and this crate's framing of it (one
/// message per item, nothing after it).
const ENCODING: &str = "postcard 1";

/// 64-bit FNV-1a of `bytes`, continuing from `hash`: fixed constants, so the same in every
/// build and process (unlike `std`'s `RandomState`/`DefaultHasher`).
const fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(PRIME);
        i += 1;
    }
    hash
}

/// The fingerprint a queue of `T` records in its header (word 34): FNV-1a 64 of
/// [`ENCODING`], a 0 byte, and `core::any::type_name::<T>()`; never 0 (the mark of an untyped
/// queue). Two binaries built from the same type definitions, with the same crate versions and
/// compiler, compute the same one; `type_name` is not guaranteed stable across compiler
/// versions, and a type moved or renamed (its module path changes) gets another (see
/// `LAYOUT.md`, *Item type*).
pub(crate) fn item_type<T: ?Sized>() -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    let hash = fnv1a(OFFSET, ENCODING.as_bytes());
    let hash = fnv1a(hash, &[0]);
    let hash = fnv1a(hash, core::any::type_name::<T>().as_bytes());
    hash.max(1)
}
const _: () = assert!(HEADER_LEN % QUEUE_ALIGN == 0);

/// What a queue is made of: its parameters, as the header records them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Params {
    /// Ring capacity in messages.
    pub(crate) capacity: usize,
    /// Longest message carried inline in a ring slot. The ring's `max_message_len` is one
    /// more: a ring message of exactly that length is a blob descriptor.
    pub(crate) inline_max: usize,
    /// Longest message accepted at all.
    pub(crate) max_message_size: usize,
    /// Blob size classes, chunk sizes strictly ascending: `(chunk_size, chunk_count)`.
    pub(crate) classes: Vec<(usize, usize)>,
    /// Entries in the ring's participant table: how many processes may use the queue with
    /// their claims repairable after a crash.
    pub(crate) participants: usize,
    /// The item type's fingerprint ([`item_type`]), 0 for an untyped queue. Not part of the
    /// layout.
    pub(crate) item_type: u64,
}

/// Byte offsets and lengths of every part, computed from [`Params`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) ring: (usize, usize),
    /// The wait ledger: per participant (ring id − 1), a `u32` count of its calls sleeping on
    /// each wait word ([`Params::wait_words`]), so that a repair can take a dead process's
    /// sleepers out of the words' waiter counts.
    pub(crate) ledger: (usize, usize),
    /// Per class: where its lease table and its chunks lie.
    pub(crate) classes: Vec<ClassLayout>,
    pub(crate) region_len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClassLayout {
    pub(crate) chunk_size: usize,
    pub(crate) count: usize,
    /// Offset and length of the class's wait word and lease words.
    pub(crate) leases: (usize, usize),
    /// Offset and length of the chunk array.
    pub(crate) chunks: (usize, usize),
}

fn align_up(n: usize, align: usize) -> Option<usize> {
    n.checked_next_multiple_of(align)
}

impl Params {
    /// Checks the parameters (from a builder or a header) and computes the layout.
    pub(crate) fn layout(&self) -> Result<Layout, QueueError> {
        let bad = |m: &str| Err(QueueError::Config(m.to_owned()));
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return bad("capacity must be between 1 and ipc_core::MAX_CAPACITY");
        }
        // Not `inline_max + 1 < DESCRIPTOR_LEN`: a header may hold `usize::MAX` (fuzz target
        // `inspect` found the overflow).
        if self.inline_max < DESCRIPTOR_LEN - 1 || self.inline_max > super::MAX_INLINE {
            return bad("inline size must be between 23 and 1023 bytes");
        }
        if self.classes.len() > MAX_CLASSES {
            return bad("at most 8 blob size classes");
        }
        if self.max_message_size > u32::MAX as usize {
            return bad("maximum message size must fit in 32 bits");
        }
        let largest = self.classes.last().map_or(self.inline_max, |c| c.0);
        if self.max_message_size > largest {
            return bad("maximum message size exceeds the largest blob chunk");
        }
        let mut previous = self.inline_max;
        for &(size, count) in &self.classes {
            if size <= previous || size % 8 != 0 || size > u32::MAX as usize {
                return bad(
                    "chunk sizes must ascend, exceed the inline size and be multiples of 8",
                );
            }
            if count == 0 || count > MAX_CAPACITY {
                return bad("chunk counts must be between 1 and ipc_core::MAX_CAPACITY");
            }
            previous = size;
        }
        if self.participants == 0 || self.participants > MAX_PARTICIPANTS {
            return bad("max_processes must be between 1 and ipc_core::MAX_PARTICIPANTS");
        }
        let too_large = || QueueError::Config("queue region would not fit in memory".to_owned());
        let ring_len = ByteQueue::memory_size(self.ring_config())?;
        let mut end = HEADER_LEN.checked_add(ring_len).ok_or_else(too_large)?;
        let ring = (HEADER_LEN, ring_len);
        let ledger_len = (self.participants * self.wait_words() * 4).next_multiple_of(8);
        let ledger = (end, ledger_len);
        end += ledger_len;
        let mut classes = Vec::with_capacity(self.classes.len());
        for &(chunk_size, count) in &self.classes {
            let leases_len = count
                .checked_mul(8)
                .and_then(|n| n.checked_add(LEASES_AT))
                .ok_or_else(too_large)?;
            let leases_at = align_up(end, QUEUE_ALIGN).ok_or_else(too_large)?;
            end = leases_at.checked_add(leases_len).ok_or_else(too_large)?;
            let chunks_len = chunk_size.checked_mul(count).ok_or_else(too_large)?;
            let chunks_at = align_up(end, PAGE).ok_or_else(too_large)?;
            end = chunks_at.checked_add(chunks_len).ok_or_else(too_large)?;
            classes.push(ClassLayout {
                chunk_size,
                count,
                leases: (leases_at, leases_len),
                chunks: (chunks_at, chunks_len),
            });
        }
        let region_len = align_up(end, PAGE).ok_or_else(too_large)?;
        if isize::try_from(region_len).is_err() {
            return Err(too_large());
        }
        Ok(Layout {
            ring,
            ledger,
            classes,
            region_len,
        })
    }

    /// Wait words a call may sleep on: the ring's `not_empty` and `not_full`, and each class's
    /// `freed`; the wait ledger has a row of that many counters per participant.
    pub(crate) fn wait_words(&self) -> usize {
        2 + self.classes.len()
    }

    /// The ring's shape: a descriptor is one byte longer than the longest inline message.
    pub(crate) fn ring_config(&self) -> Config {
        Config::new(self.capacity, self.inline_max + 1).participants(self.participants)
    }

    /// Writes the header into `header` (a fresh region), the magic last.
    pub(crate) fn write_header(&self, header: &SharedBytes, region_len: usize) {
        let w = |index: usize, value: usize| header.u64_at(8 * index).store(value as u64, Relaxed);
        w(word::VERSION, VERSION as usize);
        w(word::REGION_LEN, region_len);
        w(word::CAPACITY, self.capacity);
        w(word::INLINE_MAX, self.inline_max);
        w(word::MAX_MESSAGE_SIZE, self.max_message_size);
        w(word::CLASS_COUNT, self.classes.len());
        w(word::PARTICIPANTS, self.participants);
        // The creator: this process (its liveness decides whether the region may be reclaimed).
        let creator = [
            (word::CREATOR_PID, u64::from(std::process::id())),
            (word::CREATOR_IDENTITY, crate::liveness::own_identity()),
        ];
        for (index, value) in creator {
            header.u64_at(8 * index).store(value, Relaxed);
        }
        header
            .u64_at(8 * word::ITEM_TYPE)
            .store(self.item_type, Relaxed);
        for (c, &(size, count)) in self.classes.iter().enumerate() {
            w(word::CLASSES + 2 * c, size);
            w(word::CLASSES + 2 * c + 1, count);
        }
        // Release: pairs with the Acquire load in `read_header()`: whoever sees the magic sees
        // the fields above and the initialised queues (made before this is called).
        header.u64_at(8 * word::MAGIC).store(MAGIC, Release);
    }

    /// Reads and checks a header: once, into locals (never re-read later).
    pub(crate) fn read_header(header: &SharedBytes) -> Result<(Params, usize), QueueError> {
        // Acquire: pairs with the Release store of the magic in `write_header()`.
        if header.u64_at(8 * word::MAGIC).load(Acquire) != MAGIC {
            return Err(QueueError::BadHeader(
                "no queue here (bad magic), or it is still being made",
            ));
        }
        Params::from_header_words(|index| header.u64_at(8 * index).load(Relaxed))
    }

    /// The parameters and the recorded region length from a header's words after the magic
    /// (`read(i)` gives word `i`; each is asked for once): the version checked, the class count
    /// capped. The layout is not checked yet ([`Params::layout`]).
    pub(crate) fn from_header_words(
        read: impl Fn(usize) -> u64,
    ) -> Result<(Params, usize), QueueError> {
        let r = |index: usize| usize::try_from(read(index)).unwrap_or(usize::MAX);
        if r(word::VERSION) != VERSION as usize {
            return Err(QueueError::BadHeader("unsupported queue format version"));
        }
        let class_count = r(word::CLASS_COUNT);
        if class_count > MAX_CLASSES {
            return Err(QueueError::BadHeader("too many blob size classes"));
        }
        let params = Params {
            capacity: r(word::CAPACITY),
            inline_max: r(word::INLINE_MAX),
            max_message_size: r(word::MAX_MESSAGE_SIZE),
            classes: (0..class_count)
                .map(|c| (r(word::CLASSES + 2 * c), r(word::CLASSES + 2 * c + 1)))
                .collect(),
            participants: r(word::PARTICIPANTS),
            item_type: read(word::ITEM_TYPE),
        };
        Ok((params, r(word::REGION_LEN)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_aligned_and_disjoint() {
        let p = Params {
            capacity: 3,
            inline_max: 111,
            max_message_size: 1 << 20,
            classes: vec![(4096, 3), (65536, 3), (1 << 20, 3)],
            participants: 2,
            item_type: 0,
        };
        let l = p.layout().unwrap();
        assert_eq!(l.ring, (HEADER_LEN, 640 + 2 * 32 + 3 * 128));
        let mut end = l.ring.0 + l.ring.1;
        for c in &l.classes {
            assert_eq!(c.leases, (c.leases.0, LEASES_AT + 8 * c.count));
            assert_eq!(c.leases.0 % 128, 0);
            assert!(c.leases.0 >= end);
            assert_eq!(c.chunks.0 % PAGE, 0);
            assert!(c.chunks.0 >= c.leases.0 + c.leases.1);
            end = c.chunks.0 + c.chunks.1;
        }
        assert!(l.region_len >= end && l.region_len % PAGE == 0);
    }

    #[test]
    fn item_types_are_fixed_and_tell_types_apart() {
        // Pinned: the fingerprint must not change between builds (it is in named regions).
        let expected = fnv1a(
            fnv1a(fnv1a(0xcbf2_9ce4_8422_2325, b"postcard 1"), &[0]),
            b"alloc::string::String",
        );
        assert_eq!(item_type::<String>(), expected);
        assert_eq!(fnv1a(0xcbf2_9ce4_8422_2325, b"a"), 0xaf63_dc4c_8601_ec8c); // FNV-1a test vector
        assert_ne!(item_type::<u8>(), item_type::<u64>());
        assert_ne!(item_type::<u8>(), 0);
    }

    #[test]
    fn bad_params_are_refused() {
        let ok = Params {
            capacity: 4,
            inline_max: 111,
            max_message_size: 4096,
            classes: vec![(4096, 2)],
            participants: 8,
            item_type: 0,
        };
        assert!(ok.layout().is_ok());
        for bad in [
            Params {
                capacity: 0,
                ..ok.clone()
            },
            Params {
                inline_max: 5,
                ..ok.clone()
            },
            Params {
                inline_max: usize::MAX,
                ..ok.clone()
            },
            Params {
                max_message_size: 4097,
                ..ok.clone()
            },
            Params {
                classes: vec![(4096, 0)],
                ..ok.clone()
            },
            Params {
                classes: vec![(100, 1)],
                ..ok.clone()
            },
            Params {
                classes: vec![(8192, 1), (4096, 1)],
                ..ok.clone()
            },
            Params {
                participants: 0,
                ..ok.clone()
            },
        ] {
            assert!(bad.layout().is_err(), "{bad:?}");
        }
    }
}
