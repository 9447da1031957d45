//! The get protocol: take the front ring message and hand it, inside the ring claim, to the
//! caller's reader, either from the ring slot ([`Message::Inline`]) or, for a descriptor, from
//! its blob chunk ([`Message::Blob`]), leased from the ring and freed again before the claim
//! ends (`LAYOUT.md`, *Blob chunks: leases*). Also the descriptor decoding that repair uses, and
//! [`GetFail`], why a get failed, before the caller's public error.

use std::cell::Cell;
use std::hint::spin_loop;
use std::time::Duration;

use ipc_core::crash;
use ipc_core::{PopError, SlotReader};

use super::repair::Waiting;
use super::waiting::{Hooks, NoHooks, NOT_EMPTY};
use super::RawQueue;
use crate::queue::blob::{Class, Descriptor, Lease, LeaseGuard};
use crate::queue::error::{GetError, RawGetError};
use crate::queue::layout::DESCRIPTOR_LEN;
use crate::shared::region::SharedBytes;
use crate::wait::{block_on_marked_with, spins_lasting, Deadline};

/// The pause before the first look again of a get that finds the queue empty right after one
/// that did not wait (see [`CAUGHT_UP`]), as a time, counted in `spin_loop`s per machine by
/// `wait::spins_lasting`. It was 32 `spin_loop`s, which lasted ~800 ns on the AMD EPYC VM we
/// measure on (one measured 24.6-25.5 ns there) and other lengths elsewhere. Longer pauses
/// gain the stream a little and cost a caught-up consumer's next message as much latency: the
/// 64-byte 1→1 stream (`benches/batch.rs`, medians of 3, 3-4 rounds, 2026-12-06) ran 19.3-19.8
/// M msg/s at 250 ns, 20.2-20.7 at 500, 20.4-21.9 at 800 (the 32 `spin_loop`s: 20.7-21.5),
/// 21.7-21.9 at 1.6 µs and 22.5-23.0 at 3.2 µs. Kept where it was.
const CAUGHT_UP_PAUSE: Duration = Duration::from_nanos(800);

thread_local! {
    /// Whether this thread's last get found a message at its first attempt. If the next one
    /// finds the queue empty, the consumer has caught up with a stream: the producer is
    /// writing the very slot it would poll, and each look takes that slot's cache lines from
    /// the writer (its claim, length, payload and publish each fetch them back). So that get
    /// pauses [`CAUGHT_UP_PAUSE`] before it looks again, and then takes several messages in
    /// a row. A get that waited (a request/reply exchange) never pauses: the round trip
    /// stays as it was. Issue 17, item 2 (figures in `benches/benches/batch.rs`): the 1→1
    /// stream of 64-byte messages went from 0.54-0.69 to 0.72-0.78 of the SPSC floor's rate,
    /// the round trip unchanged.
    static CAUGHT_UP: Cell<bool> = const { Cell::new(false) };
}

/// Why an internal get failed.
#[derive(Debug)]
pub(crate) enum GetFail {
    /// The deadline passed (at once for a call that does not wait) with no message.
    Waited,
    /// [`Hooks::stopped`] said so (only for callers with hooks; the queues' map it as `Waited`).
    Stopped,
    Corrupt,
}

impl GetFail {
    /// The public error; `waited` makes the one for [`GetFail::Waited`].
    pub(crate) fn with<E: From<GetError>>(self, waited: fn() -> E) -> E {
        match self {
            GetFail::Waited | GetFail::Stopped => waited(),
            GetFail::Corrupt => GetError::Corrupt.into(),
        }
    }

    /// As [`with`](Self::with), for a get of bytes, which never decodes: a raw error.
    pub(crate) fn with_raw<E: From<RawGetError>>(self, waited: fn() -> E) -> E {
        match self {
            GetFail::Waited | GetFail::Stopped => waited(),
            GetFail::Corrupt => RawGetError::Corrupt.into(),
        }
    }
}

/// The `waited` of a get without deadline, which waits until it succeeds or fails otherwise.
pub(crate) fn get_never_waits<E>() -> E {
    unreachable!("a get without deadline waits until there is a message")
}

/// Where a taken message is, for the reader given to [`RawQueue::get_with`].
pub(crate) enum Message<'a> {
    /// In the claimed ring slot, in memory other processes may write: copy it out (once)
    /// and work on the copy.
    Inline(&'a SlotReader<'a>),
    /// In a blob chunk: the class's chunk array, the offset and the length.
    Blob(&'a SharedBytes, usize, usize),
}

impl RawQueue {
    /// Takes the front message and hands it to `read`: an inline one as a [`SlotReader`] over
    /// the ring slot (`read` copies it out, with atomic loads, and works on the copy), a long
    /// one in its blob chunk (read with atomic loads too). Either way `read` runs inside the ring claim, so
    /// the get is committed only by the release of the ring slot, after the chunk is free
    /// again: a consumer that dies before has its message counted in `lost_in_get` by the
    /// repair, which also frees the chunk.
    #[inline]
    pub(crate) fn get_with<R>(
        &self,
        deadline: Deadline,
        read: impl FnOnce(Message<'_>) -> R,
    ) -> Result<R, GetFail> {
        self.get_with_hooks(deadline, &NoHooks, read)
    }

    /// [`get_with`](Self::get_with) with a channel's [`Hooks`] (`in_put_claim` is not used).
    #[inline]
    pub(crate) fn get_with_hooks<R, H: Hooks>(
        &self,
        deadline: Deadline,
        hooks: &H,
        read: impl FnOnce(Message<'_>) -> R,
    ) -> Result<R, GetFail> {
        let (ring, me) = self.ring_and_id();
        let descriptor_len = self.inner.inline_max + 1;
        let mut read = Some(read);
        let mut long = false;
        let mut tries = 0u32;
        let popped = block_on_marked_with(
            || self.wait(ring.queue().not_empty(), me, NOT_EMPTY),
            deadline,
            || {
                tries += 1;
                // The first look again of a consumer that just caught up (see `CAUGHT_UP`).
                if tries == 2 && CAUGHT_UP.get() {
                    for _ in 0..spins_lasting(CAUGHT_UP_PAUSE) {
                        spin_loop();
                    }
                }
                let popped = ring.try_pop_with(|m| {
                    let Some(read) = read.take() else {
                        unreachable!("a successful pop ends the attempts")
                    };
                    if m.len() == descriptor_len {
                        long = true;
                        self.read_blob(&self.descriptor_bytes(m), me, read)
                    } else if m.len() > self.inner.max_message_size {
                        // Only a broken process puts one (`put_inline` refuses it).
                        Err(GetFail::Corrupt)
                    } else {
                        Ok(read(Message::Inline(m)))
                    }
                });
                match popped {
                    Ok(result) => Some(Ok(result)),
                    Err(PopError::Empty) if hooks.stopped() => Some(Err(GetFail::Stopped)),
                    Err(PopError::Empty) => None,
                    Err(_) => Some(Err(GetFail::Corrupt)),
                }
            },
            || ring.queue().mark_empty_wait(),
            || {
                self.repair_if_stuck(Waiting::Message);
                hooks.on_stall();
            },
        );
        CAUGHT_UP.set(tries == 1);
        match popped {
            Some(Ok(result)) => {
                // The slot was released, whatever the descriptor said.
                self.notify(ring.queue().not_full());
                // A freed chunk's wake-up that found nobody: as in `notify`.
                if long && self.inner.classes.iter().any(Class::woke_nobody) {
                    self.look_for_dead();
                }
                result
            }
            Some(Err(e)) => Err(e),
            None => Err(self.after_failure(Waiting::Message, GetFail::Waited)),
        }
    }

    /// The long-message half of a get, inside the ring claim of the descriptor `m`: leases
    /// the chunk from the ring (`RING(p, n) → HELD(me, n)`), hands it to `read`, frees it.
    /// A descriptor that names no chunk, or whose chunk's lease is not the one it names, is
    /// `Corrupt`, and then nothing is changed (the message is dropped with the ring slot).
    #[inline]
    fn read_blob<R>(
        &self,
        m: &Option<[u8; DESCRIPTOR_LEN]>,
        me: u16,
        read: impl FnOnce(Message<'_>) -> R,
    ) -> Result<R, GetFail> {
        let (class, d) = self.blob(m).ok_or(GetFail::Corrupt)?;
        let held = Lease::held(me, d.lease.nonce());
        // Ours to move: we hold the claim of the one ring slot that names this lease.
        if !d.lease.is_ring() || !class.hand_over(d.index, d.lease, held) {
            return Err(GetFail::Corrupt);
        }
        crash::point("blob.leased");
        // Frees the chunk when dropped: after `read`, or if it panics.
        let guard = LeaseGuard {
            class,
            index: d.index,
            held,
            armed: true,
        };
        let result = read(Message::Blob(
            &class.chunks,
            class.offset(d.index),
            d.len as usize,
        ));
        crash::point("blob.read");
        drop(guard);
        crash::point("blob.freed");
        Ok(result)
    }

    /// A private copy of the descriptor in the ring message `m`, if it has a descriptor's
    /// length: what [`blob`](Self::blob) decodes (never the slot itself, which other
    /// processes may rewrite while it is read).
    pub(super) fn descriptor_bytes(&self, m: &SlotReader<'_>) -> Option<[u8; DESCRIPTOR_LEN]> {
        let mut bytes = [0; DESCRIPTOR_LEN];
        (m.len() == self.inner.inline_max + 1 && m.read(&mut bytes) == DESCRIPTOR_LEN)
            .then_some(bytes)
    }

    /// The class and descriptor a ring message's descriptor bytes name, if they name a chunk
    /// (class, index and length in range).
    pub(super) fn blob(&self, m: &Option<[u8; DESCRIPTOR_LEN]>) -> Option<(&Class, Descriptor)> {
        let d = Descriptor::decode(m.as_ref()?);
        let class = self
            .inner
            .classes
            .get(d.class as usize)
            .filter(|c| (d.index as usize) < c.count && d.len as usize <= c.chunk_size)?;
        Some((class, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A get that finds a message at once marks the thread as caught up with a stream (its
    /// next empty look pauses first); one that had to wait does not.
    #[test]
    fn only_a_get_that_did_not_wait_marks_a_stream() {
        let q = RawQueue::new(4).unwrap();
        q.put(b"a").unwrap();
        assert_eq!(q.get().unwrap(), b"a");
        assert!(CAUGHT_UP.get());
        assert!(q.get_timeout(Duration::from_millis(1)).is_err());
        assert!(!CAUGHT_UP.get());
        // The pause never costs a message: the next get still finds it.
        q.put(b"b").unwrap();
        assert_eq!(q.get().unwrap(), b"b");
        assert!(CAUGHT_UP.get());
    }
}
