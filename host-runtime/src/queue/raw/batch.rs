//! The batch calls of [`RawQueue`]: [`put_many`](RawQueue::put_many) and
//! [`get_many`](RawQueue::get_many) move several messages per call, with one wait, one wake
//! check and one wake-up for the batch; [`Batch`] holds what a `get_many` took.
//!
//! Crash safety is the single message's: ipc-core's batch calls claim, fill and publish (or
//! claim, read and release) one message after the other, so a process holds at most one ring
//! claim at any moment, and a death during a batch is repaired as one during a single put or
//! get (`ipc_core::ByteQueue::try_push_many`). Long messages (blob chunks) are never batched:
//! a batch stops before one, and the next call moves it alone, through the single-message path.

use std::fmt;

use ipc_core::{PopError, PushError, SlotReader, WaitWord};

use super::put::PutFail;
use super::repair::Waiting;
use super::waiting::{NOT_EMPTY, NOT_FULL};
use super::{GetFail, Message, RawQueue};
use std::time::Duration;

use crate::queue::error::{RawGetError, RawGetNowaitError, RawGetTimeoutError};
use crate::shared::member::Claimer;
use crate::sys::futex::futex_wake;
use crate::wait::{block_on_marked_with, block_on_with, Deadline};

/// Why a [`RawQueue::put_many`] put nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PutManyError {
    /// The first message is longer than the queue's maximum message size.
    TooLarge {
        /// Its length in bytes.
        len: usize,
        /// The queue's maximum message size.
        max: usize,
    },
    /// The shared memory holds an impossible state (written by a foreign or broken process).
    Corrupt,
    /// This process closed the queue ([`RawQueue::close`]).
    Closed,
}

impl fmt::Display for PutManyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutManyError::TooLarge { len, max } => {
                write!(
                    f,
                    "message of {len} bytes is longer than the queue's maximum of {max}"
                )
            }
            PutManyError::Corrupt => f.write_str("the queue's shared memory is corrupt"),
            PutManyError::Closed => f.write_str("the queue was closed by this process"),
        }
    }
}

impl std::error::Error for PutManyError {}

/// Messages taken by [`RawQueue::get_many`], in order: their bytes in one buffer that each call
/// reuses (no allocation per message, none at all once the buffer is large enough).
///
/// # Examples
///
/// ```
/// use host_runtime::queue::Batch;
///
/// let batch = Batch::with_capacity(32, 64);
/// assert!(batch.is_empty());
/// assert_eq!(batch.iter().count(), 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Every message's bytes, one after the other.
    bytes: Vec<u8>,
    /// Where each message ends in `bytes`.
    ends: Vec<usize>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// An empty batch with room for `messages` messages of `bytes_each` bytes before it
    /// allocates.
    pub fn with_capacity(messages: usize, bytes_each: usize) -> Batch {
        Batch {
            bytes: Vec::with_capacity(messages.saturating_mul(bytes_each)),
            ends: Vec::with_capacity(messages),
        }
    }

    /// How many messages it holds.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Message `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        let end = *self.ends.get(index)?;
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i]);
        Some(&self.bytes[start..end])
    }

    /// The messages, in the order they were taken.
    pub fn iter(&self) -> BatchIter<'_> {
        BatchIter {
            batch: self,
            next: 0,
        }
    }

    /// Removes every message, keeping the allocations.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Appends a message of `len` bytes that `read` copies into the slice it is given (and
    /// returns how many bytes it wrote, at most `len`).
    fn push_with(&mut self, len: usize, read: impl FnOnce(&mut [u8]) -> usize) {
        let start = self.bytes.len();
        self.bytes.resize(start + len, 0);
        let written = read(&mut self.bytes[start..]).min(len);
        self.bytes.truncate(start + written);
        self.ends.push(start + written);
    }

    /// Appends a copy of the message in a claimed ring slot (the private copy: atomic loads).
    fn push_slot(&mut self, m: &SlotReader<'_>) {
        self.push_with(m.len(), |dst| m.read(dst));
    }
}

impl<'a> IntoIterator for &'a Batch {
    type Item = &'a [u8];
    type IntoIter = BatchIter<'a>;

    fn into_iter(self) -> BatchIter<'a> {
        self.iter()
    }
}

/// The messages of a [`Batch`], in order: from [`Batch::iter`].
#[derive(Clone, Debug)]
pub struct BatchIter<'a> {
    batch: &'a Batch,
    next: usize,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let message = self.batch.get(self.next)?;
        self.next += 1;
        Some(message)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.batch.len() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for BatchIter<'_> {}

impl RawQueue {
    /// Puts messages from the front of `messages`, in order, waiting as long as needed for room
    /// for the first, then as many as there is room for now; returns how many were put
    /// (`messages[..n]`, at least 1 unless `messages` is empty). Put the rest with further
    /// calls. Each message is put as by [`put`](Self::put) (a long one through the blob pool,
    /// alone: a batch stops before it); a batch makes one wait, one wake check and one wake-up
    /// for all its messages, and a consumer that waits in [`get_many`](Self::get_many) takes
    /// them in one go.
    ///
    /// # Errors
    ///
    /// Only when the first message was not put: [`PutManyError::TooLarge`] if it is longer than
    /// [`max_message_size`](Self::max_message_size); [`PutManyError::Corrupt`];
    /// [`PutManyError::Closed`] if this process [closed](Self::close) the queue. A batch that
    /// meets such a message later stops before it, and the next call reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::RawQueue::new(4)?;
    /// let messages = [b"one", b"two", b"six"];
    /// let mut sent = 0;
    /// while sent < messages.len() {
    ///     sent += q.put_many(&messages[sent..])?;
    /// }
    /// assert_eq!(q.qsize(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_many<B: AsRef<[u8]>>(&self, messages: &[B]) -> Result<usize, PutManyError> {
        if self.is_closed() {
            return Err(PutManyError::Closed);
        }
        let Some(first) = messages.first() else {
            return Ok(0);
        };
        let inline = self.inner.inline_max.min(self.inner.max_message_size);
        let run = (messages.iter())
            .take_while(|m| m.as_ref().len() <= inline)
            .count();
        if run == 0 {
            // Long (or too long): alone, through `put`'s own path.
            let bytes = first.as_ref();
            return self
                .put_blob(bytes.len(), Deadline::Never, |chunks, offset| {
                    chunks.write(offset, bytes);
                    Ok(bytes.len())
                })
                .map(|()| 1)
                .map_err(put_many_error);
        }
        let batch = &messages[..run];
        let (ring, me) = self.ring_and_id();
        let queue = ring.queue();
        let pushed = block_on_with(
            || self.wait(queue.not_full(), me, NOT_FULL),
            Deadline::Never,
            || match push_many_notify(&ring, batch) {
                Ok(pushed) => Some(Ok(pushed)),
                Err(PushError::Full) => None,
                Err(_) => Some(Err(PutManyError::Corrupt)),
            },
            || self.repair_if_stuck(Waiting::Room),
        );
        match pushed {
            Some(Ok((n, wake))) => {
                if wake && wake_up_to(queue.not_empty(), n) {
                    self.look_for_dead();
                }
                Ok(n)
            }
            Some(Err(e)) => Err(e),
            None => unreachable!("a put without deadline waits until there is room"),
        }
    }

    /// Takes up to `max` messages from the front into `batch` (replacing what it held), waiting
    /// as long as needed for the first, then taking as many as are ready now; returns how many
    /// it took (at least 1 unless `max` is 0). Each is taken as by [`get`](Self::get) (a long
    /// one from the blob pool, alone: a batch stops before it); a batch makes one wait, one
    /// wake check and one wake-up for all its messages.
    ///
    /// # Errors
    ///
    /// Only when no message was taken: [`RawGetError::Corrupt`]; [`RawGetError::Closed`] if this
    /// process [closed](Self::close) the queue (`batch` is empty then). A batch that meets
    /// corrupt memory after its first message stops there, and the next call reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{queue::Batch, RawQueue};
    ///
    /// let q = RawQueue::new(8)?;
    /// q.put_many(&[b"a", b"b", b"c"])?;
    /// let mut batch = Batch::new();
    /// assert_eq!(q.get_many(&mut batch, 2)?, 2);
    /// assert_eq!(batch.iter().collect::<Vec<_>>(), [b"a", b"b"]);
    /// assert_eq!(q.get_many(&mut batch, 2)?, 1);
    /// assert_eq!(batch.get(0), Some(&b"c"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_many(&self, batch: &mut Batch, max: usize) -> Result<usize, RawGetError> {
        self.get_many_until(batch, max, Deadline::Never, super::get_never_waits)
    }

    /// [`get_many`](Self::get_many), waiting at most `timeout` for the first message.
    ///
    /// # Errors
    ///
    /// [`RawGetTimeoutError::Timeout`] if the queue stayed empty for `timeout` (never sooner); as
    /// [`get_many`](Self::get_many) otherwise. `batch` is empty then.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{queue::Batch, RawGetTimeoutError, RawQueue};
    /// use std::time::Duration;
    ///
    /// let q = RawQueue::new(8)?;
    /// let mut batch = Batch::new();
    /// let err = q.get_many_timeout(&mut batch, 8, Duration::from_millis(5)).unwrap_err();
    /// assert!(matches!(err, RawGetTimeoutError::Timeout));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_many_timeout(
        &self,
        batch: &mut Batch,
        max: usize,
        timeout: Duration,
    ) -> Result<usize, RawGetTimeoutError> {
        self.get_many_until(
            batch,
            max,
            Deadline::after(timeout),
            RawGetTimeoutError::waited,
        )
    }

    /// [`get_many`](Self::get_many) without waiting: takes up to `max` of the messages that
    /// are ready now (a drain of what is there).
    ///
    /// # Errors
    ///
    /// [`RawGetNowaitError::Empty`] if no message is ready; as [`get_many`](Self::get_many)
    /// otherwise. `batch` is empty then.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{queue::Batch, RawGetNowaitError, RawQueue};
    ///
    /// let q = RawQueue::new(8)?;
    /// let mut batch = Batch::new();
    /// assert!(matches!(q.get_many_nowait(&mut batch, 8), Err(RawGetNowaitError::Empty)));
    /// q.put_many(&[b"x", b"y"])?;
    /// assert_eq!(q.get_many_nowait(&mut batch, 8)?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_many_nowait(
        &self,
        batch: &mut Batch,
        max: usize,
    ) -> Result<usize, RawGetNowaitError> {
        self.get_many_until(batch, max, Deadline::NoWait, RawGetNowaitError::waited)
    }

    fn get_many_until<E: From<RawGetError>>(
        &self,
        batch: &mut Batch,
        max: usize,
        deadline: Deadline,
        waited: fn() -> E,
    ) -> Result<usize, E> {
        batch.clear();
        if self.is_closed() {
            return Err(RawGetError::Closed.into());
        }
        if max == 0 {
            return Ok(0);
        }
        // A descriptor (inline_max + 1 bytes) or an impossible length is longer than this: it
        // stays at the front, for the single get below.
        let room = self.inner.inline_max.min(self.inner.max_message_size);
        let (ring, me) = self.ring_and_id();
        let queue = ring.queue();
        let popped = block_on_marked_with(
            || self.wait(queue.not_empty(), me, NOT_EMPTY),
            deadline,
            || match pop_many(&ring, max, room, |_, m| batch.push_slot(m)) {
                Ok(n) => Some(Ok(n)),
                Err(PopError::Empty) => None,
                Err(PopError::BufferTooSmall { .. }) => Some(Ok(0)),
                Err(_) => Some(Err(RawGetError::Corrupt)),
            },
            || queue.mark_empty_wait(),
            || self.repair_if_stuck(Waiting::Message),
        );
        match popped {
            Some(Ok(0)) => {
                // A long message first: the single get's path (it notifies).
                self.get_with(deadline, |message| match message {
                    Message::Inline(m) => batch.push_slot(m),
                    Message::Blob(chunks, offset, len) => batch.push_with(len, |dst| {
                        chunks.read(offset, dst);
                        len
                    }),
                })
                .map_err(|fail| fail.with_raw(waited))?;
                Ok(1)
            }
            Some(Ok(n)) => {
                if queue.not_full().notify() && wake_up_to(queue.not_full(), n) {
                    self.look_for_dead();
                }
                Ok(n)
            }
            Some(Err(e)) => Err(e.into()),
            None => Err(self
                .after_failure(Waiting::Message, GetFail::Waited)
                .with_raw(waited)),
        }
    }
}

/// `try_push_many_notify` as this process.
#[inline(always)]
fn push_many_notify<B: AsRef<[u8]>>(
    ring: &Claimer<'_>,
    messages: &[B],
) -> Result<(usize, bool), PushError> {
    ring.try_push_many_notify(messages)
}

/// `try_pop_many` as this process.
#[inline(always)]
fn pop_many(
    ring: &Claimer<'_>,
    max: usize,
    room: usize,
    read: impl FnMut(usize, &SlotReader<'_>),
) -> Result<usize, PopError> {
    ring.try_pop_many(max, room, read)
}

/// Wakes up to `n` sleepers on `word`, which its `notify` (or a fused push's) said to wake:
/// one per message moved. Returns `true` if it woke nobody (as `wait::notify`).
fn wake_up_to(word: &WaitWord, n: usize) -> bool {
    match futex_wake(word.seq(), n.min(i32::MAX as usize) as u32) {
        Ok(0) => true,
        Ok(_) => {
            crate::wait::woke_sleeper();
            false
        }
        Err(_) => false,
    }
}

/// The public error of a long first message's put.
fn put_many_error(fail: PutFail) -> PutManyError {
    match fail {
        PutFail::TooLarge { len, max } => PutManyError::TooLarge { len, max },
        PutFail::Waited | PutFail::Stopped => {
            unreachable!("a put without deadline or hooks waits until there is room")
        }
        PutFail::Encode(_) | PutFail::Corrupt => PutManyError::Corrupt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::watchdog;
    use crate::Process;

    fn contents(batch: &Batch) -> Vec<Vec<u8>> {
        batch.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn put_many_and_get_many_keep_order_and_stop_at_the_bounds() {
        let q = RawQueue::new(3).unwrap();
        assert_eq!(q.put_many::<&[u8]>(&[]), Ok(0));
        let messages: [&[u8]; 4] = [b"a", b"bb", b"", b"dddd"];
        assert_eq!(q.put_many(&messages), Ok(3), "room for three");
        let mut batch = Batch::with_capacity(4, 8);
        assert_eq!(q.get_many(&mut batch, 0).ok(), Some(0));
        assert_eq!(q.get_many(&mut batch, 2).ok(), Some(2));
        assert_eq!(contents(&batch), [&b"a"[..], b"bb"]);
        assert_eq!(
            (batch.len(), batch.get(1), batch.get(2)),
            (2, Some(&b"bb"[..]), None)
        );
        assert_eq!(q.put_many(&messages[3..]), Ok(1));
        assert_eq!(q.get_many(&mut batch, 8).ok(), Some(2), "all that is ready");
        assert_eq!(contents(&batch), [&b""[..], b"dddd"]);
        assert_eq!(q.qsize(), 0);
        assert_eq!(q.stats(), crate::queue::QueueStats::default());
    }

    #[test]
    fn long_messages_go_alone_through_the_blob_pool() {
        let q = RawQueue::new(8).unwrap();
        let long = vec![7u8; 5000];
        let messages: [&[u8]; 4] = [b"short", &long, &long, b"end"];
        let mut sent = 0;
        let mut calls = Vec::new();
        while sent < messages.len() {
            let n = q.put_many(&messages[sent..]).unwrap();
            calls.push(n);
            sent += n;
        }
        assert_eq!(calls, [1, 1, 1, 1]);
        let mut batch = Batch::new();
        let mut got = Vec::new();
        while got.len() < messages.len() {
            q.get_many(&mut batch, 8).unwrap();
            got.extend(contents(&batch));
        }
        assert_eq!(got, messages);
        assert!(
            q.pool_stats().iter().all(|c| c.free == c.total),
            "chunks freed"
        );
    }

    #[test]
    fn too_large_and_closed_are_errors_and_change_nothing() {
        let q = RawQueue::builder()
            .maxsize(4)
            .max_message_size(100)
            .build_raw()
            .unwrap();
        let big = [0u8; 101];
        assert_eq!(
            q.put_many(&[&big[..], b"x"]),
            Err(PutManyError::TooLarge { len: 101, max: 100 })
        );
        assert_eq!(q.put_many(&[&b"x"[..], &big[..]]), Ok(1), "stops before it");
        assert_eq!(q.qsize(), 1);
        q.close();
        assert_eq!(q.put_many(&[b"y"]), Err(PutManyError::Closed));
        let mut batch = Batch::new();
        assert!(matches!(
            q.get_many(&mut batch, 4),
            Err(RawGetError::Closed)
        ));
        assert!(batch.is_empty());
        assert_eq!(q.qsize(), 1);
    }

    #[test]
    fn get_many_nowait_drains_what_is_ready() {
        let q = RawQueue::new(8).unwrap();
        let mut batch = Batch::new();
        assert!(matches!(
            q.get_many_nowait(&mut batch, 8),
            Err(RawGetNowaitError::Empty)
        ));
        let timeout = Duration::from_millis(1);
        assert!(matches!(
            q.get_many_timeout(&mut batch, 8, timeout),
            Err(RawGetTimeoutError::Timeout)
        ));
        q.put_many(&[&b"a"[..], b"b", b"c"]).unwrap();
        assert_eq!(q.get_many_nowait(&mut batch, 2).ok(), Some(2));
        assert_eq!(contents(&batch), [&b"a"[..], b"b"]);
        assert_eq!(q.get_many_timeout(&mut batch, 8, timeout).ok(), Some(1));
        assert_eq!(contents(&batch), [&b"c"[..]]);
        assert!(batch.get(0).is_some() && q.get_many_nowait(&mut batch, 8).is_err());
        assert!(batch.is_empty(), "a failed call leaves the batch empty");
    }

    #[test]
    fn a_put_many_wakes_a_sleeping_get_many() {
        watchdog(60, || {
            let q = RawQueue::new(4).unwrap();
            let rx = q.clone();
            let getter = std::thread::spawn(move || {
                let mut batch = Batch::new();
                rx.get_many(&mut batch, 4).unwrap();
                contents(&batch)
            });
            // Whether the getter sleeps yet or not, it must get the batch's first message.
            q.put_many(&[&b"wake"[..], b"up"]).unwrap();
            let got = getter.join().unwrap();
            assert!(!got.is_empty() && got[0] == b"wake", "{got:?}");
        });
    }

    #[test]
    fn a_forked_producer_streams_batches_in_order() {
        watchdog(120, || {
            const N: u32 = 20_000;
            let q = RawQueue::new(64).unwrap();
            let tx = q.clone();
            let p = Process::new(move || {
                let messages: Vec<[u8; 4]> = (0..N).map(u32::to_le_bytes).collect();
                let mut sent = 0;
                while sent < messages.len() {
                    sent += tx
                        .put_many(&messages[sent..(sent + 16).min(messages.len())])
                        .unwrap();
                }
            });
            p.start().unwrap();
            let mut batch = Batch::with_capacity(32, 4);
            let mut next = 0u32;
            while next < N {
                let n = q.get_many(&mut batch, 32).unwrap();
                assert_eq!(n, batch.len());
                for m in &batch {
                    assert_eq!(m, next.to_le_bytes(), "in order, none lost");
                    next += 1;
                }
            }
            p.join().unwrap();
            assert_eq!(q.qsize(), 0);
        });
    }
}
