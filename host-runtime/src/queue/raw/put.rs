//! The put protocols: a message up to the inline size is written into a ring slot
//! ([`RawQueue::put_inline_with`]); a longer one into a blob chunk taken by its lease, with a
//! descriptor in the ring slot ([`RawQueue::put_blob_with`]; `LAYOUT.md`, *Blob chunks:
//! leases*, has the steps and their crash argument). [`PutFail`] is why one failed, before the
//! caller's public error hands the item back.

use std::sync::atomic::Ordering::Relaxed;

use ipc_core::crash;
use ipc_core::{PushError, SlotWriter};

use super::repair::Waiting;
use super::waiting::{Hooks, NoHooks, FREED, NOT_FULL};
use super::RawQueue;
use crate::encoding::EncodeError;
use crate::queue::blob::{Descriptor, Lease, LeaseGuard, NONCE_MASK};
use crate::queue::error::{PutError, RawPutError};
use crate::queue::layout::word;
use crate::shared::member::Claimer;
use crate::shared::region::SharedBytes;
use crate::wait::{block_on_with, wake_one, Deadline};

/// Why an internal put failed, before the item is put back into the error.
#[derive(Debug)]
pub(crate) enum PutFail {
    /// The deadline passed (at once for a call that does not wait) with no room.
    Waited,
    /// [`Hooks::stopped`] said so (only for callers with hooks; the queues' map it as `Waited`).
    Stopped,
    TooLarge {
        len: usize,
        max: usize,
    },
    Encode(EncodeError),
    Corrupt,
}

impl PutFail {
    /// The public error, carrying `item`; `waited` makes the one for [`PutFail::Waited`].
    pub(crate) fn with<T, E: From<PutError<T>>>(self, item: T, waited: fn(T) -> E) -> E {
        match self {
            PutFail::Waited | PutFail::Stopped => waited(item),
            PutFail::TooLarge { len, max } => PutError::TooLarge { item, len, max }.into(),
            PutFail::Encode(error) => PutError::Encode { item, error }.into(),
            PutFail::Corrupt => PutError::Corrupt(item).into(),
        }
    }

    /// As [`with`](Self::with), for a put of bytes, which never encodes: a raw error.
    pub(crate) fn with_raw<T, E: From<RawPutError<T>>>(self, item: T, waited: fn(T) -> E) -> E {
        match self {
            PutFail::Waited | PutFail::Stopped => waited(item),
            PutFail::TooLarge { len, max } => RawPutError::TooLarge { item, len, max }.into(),
            PutFail::Encode(_) => unreachable!("a put of bytes writes them as they are"),
            PutFail::Corrupt => RawPutError::Corrupt(item).into(),
        }
    }
}

/// A message for [`RawQueue::put_inline_with`]: its bytes as one slice, or in parts that are
/// written straight into the claimed slot (no staging buffer).
pub(crate) trait Inline {
    /// The message's length.
    fn len(&self) -> usize;
    /// Writes the message into a claimed slot of [`len`](Self::len) bytes.
    fn write(&self, slot: &mut SlotWriter<'_>);
    /// Pushes the message as `ring`'s `try_push_notify` does (`true`: wake a getter).
    fn push_notify(&self, ring: &Claimer<'_>) -> Result<bool, PushError>;
}

impl Inline for [u8] {
    #[inline(always)]
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    #[inline(always)]
    fn write(&self, slot: &mut SlotWriter<'_>) {
        slot.write(self);
    }

    #[inline(always)]
    fn push_notify(&self, ring: &Claimer<'_>) -> Result<bool, PushError> {
        ring.try_push_notify(self)
    }
}

/// A message made of a short header and a body (a byte payload's varint length and its
/// bytes), written into the slot as one block by [`SlotWriter::write_parts`].
pub(crate) struct Parts<'a> {
    pub(crate) head: &'a [u8],
    pub(crate) body: &'a [u8],
}

impl Inline for Parts<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    #[inline(always)]
    fn write(&self, slot: &mut SlotWriter<'_>) {
        slot.write_parts(self.head, self.body);
    }

    #[inline(always)]
    fn push_notify(&self, ring: &Claimer<'_>) -> Result<bool, PushError> {
        ring.try_push_with(self.len(), |slot| self.write(slot))?;
        // As `try_push_notify` after its push.
        Ok(ring.queue().not_empty().notify_marked())
    }
}

/// A put waiting for a chunk scans every lease of the class on one look in this many (and on
/// every look before a sleep); see `put_blob_with`.
const FULL_SCAN_EVERY: u32 = 16;

/// The `waited` of a put without deadline, which waits until it succeeds or fails otherwise.
pub(crate) fn put_never_waits<T, E>(_: T) -> E {
    unreachable!("a put without deadline waits until there is room")
}

impl RawQueue {
    /// Puts `bytes` (at most [`inline_max`](Self::inline_max) long) into a ring slot.
    #[inline(always)]
    pub(crate) fn put_inline(&self, bytes: &[u8], deadline: Deadline) -> Result<(), PutFail> {
        self.put_inline_with(bytes, deadline, &NoHooks)
    }

    /// [`put_inline`](Self::put_inline) with a channel's [`Hooks`]; `bytes` is any
    /// [`Inline`] message: a slice, or [`Parts`] written straight into the slot.
    #[inline]
    pub(crate) fn put_inline_with<H: Hooks, M: Inline + ?Sized>(
        &self,
        bytes: &M,
        deadline: Deadline,
        hooks: &H,
    ) -> Result<(), PutFail> {
        debug_assert!(bytes.len() <= self.inner.inline_max);
        let max = self.inner.max_message_size;
        if bytes.len() > max {
            return Err(PutFail::TooLarge {
                len: bytes.len(),
                max,
            });
        }
        let (ring, me) = self.ring_and_id();
        let pushed = block_on_with(
            || self.wait(ring.queue().not_full(), me, NOT_FULL),
            deadline,
            // Fence-free wake: every get marks before it sleeps (`block_on_marked` in `get_with`).
            || {
                let pushed = if H::IN_PUT_CLAIM {
                    // `None`: wake with the full `notify` below.
                    ring.try_push_with(bytes.len(), |slot| {
                        bytes.write(slot);
                        hooks.in_put_claim();
                    })
                    .map(|()| None)
                } else {
                    bytes.push_notify(&ring).map(Some)
                };
                match pushed {
                    Ok(wake) => Some(Ok(wake)),
                    Err(PushError::Full) if hooks.stopped() => Some(Err(PutFail::Stopped)),
                    Err(PushError::Full) => None,
                    Err(_) => Some(Err(PutFail::Corrupt)),
                }
            },
            || {
                self.repair_if_stuck(Waiting::Room);
                hooks.on_stall();
            },
        );
        match pushed {
            Some(Ok(Some(wake))) => {
                if wake && wake_one(ring.queue().not_empty()) {
                    self.look_for_dead();
                }
                Ok(())
            }
            Some(Ok(None)) => {
                self.notify(ring.queue().not_empty());
                Ok(())
            }
            Some(Err(fail)) => Err(fail),
            None => Err(self.after_failure(Waiting::Room, PutFail::Waited)),
        }
    }

    /// Puts a message of `len` bytes (longer than the inline size) through the blob pool:
    /// takes a free chunk (see `Class::try_take`) in the smallest class that holds it (waiting for
    /// one like for room), lets `fill` write it at the given offset of the class's chunk array
    /// (returning the length written, at most `len`), then pushes a descriptor. On any
    /// failure the chunk is freed again.
    ///
    /// Crash safety (see `LAYOUT.md`, *Blob chunks: leases*): the lease says `HELD(me, n)`
    /// from the take until, inside the ring claim, the descriptor is written and the lease
    /// moved to `RING(me, n)`; so if this process dies, its repair finds the chunk either by
    /// its lease (`HELD`) or by the abandoned descriptor (`RING(me, n)`, slot not published).
    pub(crate) fn put_blob(
        &self,
        len: usize,
        deadline: Deadline,
        fill: impl FnOnce(&SharedBytes, usize) -> Result<usize, postcard::Error>,
    ) -> Result<(), PutFail> {
        self.put_blob_with(len, deadline, &NoHooks, fill)
    }

    /// [`put_blob`](Self::put_blob) with a channel's [`Hooks`].
    pub(crate) fn put_blob_with<H: Hooks>(
        &self,
        len: usize,
        deadline: Deadline,
        hooks: &H,
        fill: impl FnOnce(&SharedBytes, usize) -> Result<usize, postcard::Error>,
    ) -> Result<(), PutFail> {
        let max = self.inner.max_message_size;
        let Some((class_index, class)) = (len <= max)
            .then(|| {
                self.inner
                    .classes
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.chunk_size >= len)
            })
            .flatten()
        else {
            return Err(PutFail::TooLarge { len, max });
        };
        // Registered first: the lease records our id.
        let (ring, me) = self.ring_and_id();
        let nonce = self.next_nonce();
        let held = Lease::held(me, nonce);
        // A put waiting for a chunk scans the whole class only on its first look, every
        // `FULL_SCAN_EVERY`th, and whenever it is registered on `freed`; the others (while it
        // spins and yields) look only at the chunks that free first (`Class::try_take_next`).
        // The blocking loop sleeps only after `prepare_wait` and a failed look, made
        // registered, so a full scan: a chunk freed before the registration (whose `notify`
        // found no waiter, so will not wake us) is found, one freed after it wakes us. (A
        // broken process that zeroes `waiters` can make that look partial, and the sleep last
        // until the next free or stall check: it can already make `notify` skip a sleeper.)
        let mut looks = 0u32;
        let Some(index) = block_on_with(
            || self.wait(class.freed(), me, FREED + class_index),
            deadline,
            || {
                looks = looks.wrapping_add(1);
                // Our own registration (`prepare_wait`'s increment, made by this thread before
                // this look) is seen here: `waiters()` ≥ 1 on every look made registered.
                let full = looks % FULL_SCAN_EVERY == 1 || class.freed().waiters() != 0;
                let taken = if full {
                    class.try_take(held)
                } else {
                    class.try_take_next(held)
                };
                match taken {
                    Some(index) => Some(Some(index)),
                    None if hooks.stopped() => Some(None),
                    None => None,
                }
            },
            || {
                self.repair_if_stuck(Waiting::Chunk);
                hooks.on_stall();
            },
        ) else {
            let fail = PutFail::Waited;
            return Err(self.after_failure(Waiting::Chunk, fail));
        };
        let Some(index) = index else {
            return Err(PutFail::Stopped);
        };
        crash::point("blob.taken");
        let mut guard = LeaseGuard {
            class,
            index,
            held,
            armed: true,
        };
        let written = fill(&class.chunks, class.offset(index))
            .map_err(|e| PutFail::Encode(EncodeError::new(e)))?;
        if written > len {
            return Err(PutFail::Encode(EncodeError::new(
                postcard::Error::SerializeBufferFull,
            )));
        }
        crash::point("blob.written");
        let descriptor = Descriptor {
            class: class_index as u32,
            index,
            len: written as u32,
            lease: Lease::ring(me, nonce),
        };
        let descriptor_len = self.inner.inline_max + 1;
        let mut marked = false;
        let pushed = block_on_with(
            || self.wait(ring.queue().not_full(), me, NOT_FULL),
            deadline,
            || match ring.try_push_with(descriptor_len, |slot| {
                // Inside the claim: the descriptor first, then the lease that says so.
                slot.write(&descriptor.encode());
                crash::point("blob.described");
                // We hold the lease (HELD by us): ours to move.
                marked = class.hand_over(index, held, descriptor.lease);
                crash::point("blob.ringed");
                hooks.in_put_claim();
            }) {
                Ok(()) => Some(Ok(())),
                Err(PushError::Full) if hooks.stopped() => Some(Err(PutFail::Stopped)),
                Err(PushError::Full) => None,
                Err(_) => Some(Err(PutFail::Corrupt)),
            },
            || {
                self.repair_if_stuck(Waiting::Room);
                hooks.on_stall();
            },
        );
        match pushed {
            Some(Ok(())) => {
                // The descriptor in the ring holds the chunk now (or, if our lease was
                // overwritten by a broken process, a get will refuse it as corrupt).
                guard.armed = false;
                self.notify(ring.queue().not_empty());
                if marked {
                    Ok(())
                } else {
                    Err(PutFail::Corrupt)
                }
            }
            Some(Err(fail)) => Err(fail),
            None => Err(self.after_failure(Waiting::Room, PutFail::Waited)),
        }
    }

    /// A nonce for a long put's lease: unique over the region's life (modulo 2^49).
    fn next_nonce(&self) -> u64 {
        // Relaxed: only uniqueness matters, which the RMW gives.
        self.inner
            .header
            .u64_at(8 * word::NONCE)
            .fetch_add(1, Relaxed)
            & NONCE_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue whose one blob class has 8 chunks of 256 bytes.
    fn eight_chunks() -> RawQueue {
        RawQueue::builder()
            .maxsize(8)
            .size_class(256, 8)
            .build_raw()
            .unwrap()
    }

    /// A take reuses the chunks below the high-water mark, from the one after its last take
    /// round to it, and goes past the mark only when all of them are leased.
    #[test]
    fn a_take_goes_round_below_the_mark_before_raising_it() {
        let q = eight_chunks();
        let class = &q.inner.classes[0];
        let held = Lease::held(0, 1);
        let take = || class.try_take(held);
        assert_eq!([take(), take(), take()], [Some(0), Some(1), Some(2)]);
        assert_eq!(class.used(), 3);
        assert!(class.release(1, held));
        assert_eq!(take(), Some(1), "the only free one below the mark");
        assert!(class.release(0, held) && class.release(2, held));
        assert_eq!(
            [take(), take()],
            [Some(2), Some(0)],
            "from the cursor, round"
        );
        assert_eq!(class.used(), 3, "no rise while a chunk below was free");
        assert_eq!(take(), Some(3));
        assert_eq!(class.used(), 4);
        assert_eq!(class.free_count(), 4);
    }

    /// The chunk taken last comes first when it is free again (a request/reply keeps reusing
    /// one chunk), before the scan from the cursor.
    #[test]
    fn a_take_reuses_the_chunk_it_took_last_when_free() {
        let q = eight_chunks();
        let class = &q.inner.classes[0];
        let held = Lease::held(0, 1);
        let take = || class.try_take(held);
        assert_eq!([take(), take(), take()], [Some(0), Some(1), Some(2)]);
        assert!(class.release(0, held) && class.release(2, held));
        assert_eq!(take(), Some(2), "the last one, not the lowest free");
        assert!(class.release(2, held));
        assert_eq!(take(), Some(2), "again");
        assert_eq!(take(), Some(0), "then the scan");
        assert_eq!(class.used(), 3);
    }

    /// Frees chunks of a full class at given looks of a waiting put (its `stopped` hook runs
    /// after each look that found no chunk), so the test decides what each look can see.
    struct FreeAt<'a> {
        class: &'a crate::queue::blob::Class,
        held: Lease,
        /// `(look, chunk)`: free `chunk` after failed look number `look` (from 1).
        frees: &'a [(u32, u32)],
        looks: std::cell::Cell<u32>,
    }

    impl Hooks for FreeAt<'_> {
        fn stopped(&self) -> bool {
            let look = self.looks.get() + 1;
            self.looks.set(look);
            for &(at, index) in self.frees {
                if at == look {
                    assert!(self.class.release(index, self.held));
                }
            }
            false
        }
    }

    /// Takes every chunk of `q`'s class, then frees and retakes chunk 2: the cursor is at 3,
    /// the chunk taken last is 2, and all eight are leased. The hooks returned free chunk 6
    /// after a waiting put's look 2 and chunk 3 after its look 5.
    fn full_class_freeing_6_then_3(q: &RawQueue) -> FreeAt<'_> {
        let class = &q.inner.classes[0];
        let held = Lease::held(0, 1);
        assert!((0..8).all(|i| class.try_take(held) == Some(i)));
        assert!(class.release(2, held));
        assert_eq!(class.try_take(held), Some(2));
        assert_eq!(class.free_count(), 0);
        FreeAt {
            class,
            held,
            frees: &[(2, 6), (5, 3)],
            looks: Default::default(),
        }
    }

    /// Puts 200 bytes through the blob class, waiting as long as it takes, with `hooks`.
    fn put_200(q: &RawQueue, hooks: &FreeAt<'_>) {
        q.put_blob_with(200, Deadline::Never, hooks, |chunks, at| {
            chunks.write(at, &[7; 200]);
            Ok(200)
        })
        .unwrap();
    }

    /// A put waiting for a chunk looks, while it spins, only at the chunk after its last take
    /// (and the one it took last), not at every lease: a chunk freed elsewhere waits for the
    /// next full scan (here the cursor's chunk comes free first and is taken).
    #[test]
    fn a_waiting_put_spins_on_the_chunk_after_its_last_take() {
        let q = eight_chunks();
        let hooks = full_class_freeing_6_then_3(&q);
        let (class, held) = (hooks.class, hooks.held);
        // Look 1 is a full scan; chunk 6 comes free after look 2, chunk 3 after look 5: both
        // within the spin's first 16 looks, which run before it may yield or sleep.
        put_200(&q, &hooks);
        assert_eq!(
            hooks.looks.get(),
            5,
            "found at look 6, just after chunk 3 came free"
        );
        assert_eq!(class.try_take(held), Some(6), "chunk 6 left free");
    }

    /// A put registered on the class's `freed` word (as it is on the look before each sleep)
    /// scans every lease: it never sleeps after a look that could miss a free chunk.
    #[test]
    fn a_put_registered_on_freed_scans_every_chunk() {
        let q = eight_chunks();
        let hooks = full_class_freeing_6_then_3(&q);
        let (class, held) = (hooks.class, hooks.held);
        // As a sleeper's registration (this put's own, or another process's).
        class.freed().prepare_wait();
        put_200(&q, &hooks);
        class.freed().finish_wait();
        assert_eq!(
            hooks.looks.get(),
            2,
            "found at look 3, just after chunk 6 came free"
        );
        assert_eq!(class.free_count(), 0, "chunk 6 taken, chunk 3 never freed");
        assert!(class.release(3, held));
    }

    /// The waiting look's next chunk wraps to 0 once the cursor reached the high-water mark
    /// (a look at the cursor itself would find no chunk there, and a put sleeping after
    /// such looks waited for its stall check: issue 17's stalled `chunk2k_1KiB` run).
    #[test]
    fn the_next_chunk_after_the_mark_is_chunk_0() {
        let q = eight_chunks();
        let class = &q.inner.classes[0];
        let held = Lease::held(0, 1);
        assert!((0..8).all(|i| class.try_take(held) == Some(i)));
        assert_eq!(class.try_take_next(held), None);
        assert!(class.release(4, held));
        assert_eq!(class.try_take_next(held), None, "not the next one");
        assert!(class.release(0, held));
        assert_eq!(class.try_take_next(held), Some(0));
        assert!(class.release(0, held));
        assert_eq!(class.try_take_next(held), Some(0), "the one taken last");
        assert_eq!(class.try_take(held), Some(4));
    }
}
