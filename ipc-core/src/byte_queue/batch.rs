//! Batch calls of a [`ByteQueue`]: [`try_push_many`](ByteQueue::try_push_many) and
//! [`try_pop_many`](ByteQueue::try_pop_many) move several messages per call.
//!
//! **The protocol is the single-message one, message after message.** Each message is its
//! own claim (one CAS that records the owner), filled and published (or read and released)
//! before the next claim: a participant never holds more than one claim at a time, so a
//! batch has no crash window a single call does not have, and the repair argument of
//! `LAYOUT.md` holds unchanged. What a batch saves is per call: the checks and set-up, and the
//! host's wake check (one [`WaitWord::notify_marked`](crate::WaitWord::notify_marked) per
//! batch after [`try_push_many_notify`](ByteQueue::try_push_many_notify); one `notify` of
//! `not_full` per [`try_pop_many`](ByteQueue::try_pop_many)), which with several messages
//! ready is most of the cost of moving one.

use super::ByteQueue;
use crate::error::{PopError, PushError};
use crate::payload::SlotReader;
use crate::word::{Word, ANONYMOUS};

impl ByteQueue<'_> {
    /// Appends copies of `messages`, in order, as many as there is room for: returns how many
    /// were pushed (`messages[..n]`), at least 1 unless `messages` is empty. Each is pushed as by
    /// [`try_push`](Self::try_push), one after the other; the batch ends at the first that
    /// cannot be (the queue is full, or that message is too large, or the memory corrupt), and
    /// a call with that message first then reports why.
    ///
    /// # Errors
    ///
    /// Only when not even `messages[0]` was pushed: as [`try_push`](Self::try_push). The
    /// queue is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ipc_core::{ByteQueue, Config, PushError, Region};
    /// # let mut region = Box::new(Region::<4096>::new());
    /// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(2, 16))?;
    /// assert_eq!(queue.try_push_many(&[b"a", b"b", b"c"])?, 2, "room for two");
    /// assert_eq!(queue.try_push_many(&[b"c"]), Err(PushError::Full));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_push_many<M: AsRef<[u8]>>(&self, messages: &[M]) -> Result<usize, PushError> {
        self.push_many_as(ANONYMOUS, messages)
    }

    /// [`try_push_many`](Self::try_push_many), then tells whether a consumer waits, as
    /// [`try_push_notify`](Self::try_push_notify) does for one message (the same rule: every
    /// consumer that sleeps on `not_empty` calls [`mark_empty_wait`](Self::mark_empty_wait)
    /// first): one wake check for the whole batch.
    ///
    /// # Errors
    ///
    /// As [`try_push_many`](Self::try_push_many).
    ///
    /// # Examples
    ///
    /// ```
    /// # use ipc_core::{ByteQueue, Config, Region};
    /// # let mut region = Box::new(Region::<4096>::new());
    /// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16))?;
    /// assert_eq!(queue.try_push_many_notify(&[b"a", b"b"]), Ok((2, false)), "nobody waits");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_push_many_notify<M: AsRef<[u8]>>(
        &self,
        messages: &[M],
    ) -> Result<(usize, bool), PushError> {
        let pushed = self.push_many_as(ANONYMOUS, messages)?;
        Ok((pushed, self.header.not_empty.notify_marked()))
    }

    /// Removes up to `max` messages from the front, handing each to `read` (with its index in
    /// the batch) inside its claim, as [`try_pop_with`](Self::try_pop_with) does; returns how
    /// many were removed, at least 1 unless `max` is 0. A message longer than `room` bytes is
    /// left at the front, unclaimed, as by [`try_pop`](Self::try_pop) into a buffer of `room`
    /// bytes. The batch ends early at such a message, when no message is ready, or at corrupt
    /// memory; a call that meets it first then reports it.
    ///
    /// If `read` panics, the message it was given is dropped and counted in
    /// [`QueueStats::lost_in_pop`](crate::QueueStats::lost_in_pop); those before it were
    /// removed.
    ///
    /// # Errors
    ///
    /// Only when not even one message was removed: [`PopError::Empty`],
    /// [`PopError::BufferTooSmall`] (the front message is longer than `room`; it stays), or
    /// [`PopError::Corrupt`]; `read` is not called then.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ipc_core::{ByteQueue, Config, Region};
    /// # let mut region = Box::new(Region::<4096>::new());
    /// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16))?;
    /// queue.try_push_many(&[b"one", b"two", b"six"])?;
    /// let mut total = 0;
    /// let n = queue.try_pop_many(8, 16, |_, message| {
    ///     let mut bytes = [0; 3];
    ///     message.read(&mut bytes);
    ///     total += bytes.len();
    /// })?;
    /// assert_eq!((n, total), (3, 9));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_pop_many(
        &self,
        max: usize,
        room: usize,
        read: impl FnMut(usize, &SlotReader<'_>),
    ) -> Result<usize, PopError> {
        self.pop_many_as(ANONYMOUS, max, room, read)
    }

    /// [`try_push_many`](Self::try_push_many) with claims recorded as `owner`'s.
    #[inline(always)]
    pub(super) fn push_many_as<M: AsRef<[u8]>>(
        &self,
        owner: Word,
        messages: &[M],
    ) -> Result<usize, PushError> {
        let mut pushed = 0;
        for message in messages {
            match self.push_as(owner, message.as_ref()) {
                Ok(()) => pushed += 1,
                Err(e) if pushed == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(pushed)
    }

    /// [`try_pop_many`](Self::try_pop_many) with claims recorded as `owner`'s.
    #[inline(always)]
    pub(super) fn pop_many_as(
        &self,
        owner: Word,
        max: usize,
        room: usize,
        mut read: impl FnMut(usize, &SlotReader<'_>),
    ) -> Result<usize, PopError> {
        let mut popped = 0;
        while popped < max {
            match self.pop_with_as(owner, room, |m| read(popped, m)) {
                Ok(()) => popped += 1,
                Err(e) if popped == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(popped)
    }
}

#[cfg(word64)]
impl super::Registered<'_> {
    /// [`ByteQueue::try_push_many`], claiming as this participant.
    ///
    /// # Errors
    ///
    /// As [`ByteQueue::try_push_many`].
    #[inline]
    pub fn try_push_many<M: AsRef<[u8]>>(&self, messages: &[M]) -> Result<usize, PushError> {
        self.queue()
            .push_many_as(self.participant().owner(), messages)
    }

    /// [`ByteQueue::try_push_many_notify`], claiming as this participant.
    ///
    /// # Errors
    ///
    /// As [`ByteQueue::try_push_many`].
    #[inline]
    pub fn try_push_many_notify<M: AsRef<[u8]>>(
        &self,
        messages: &[M],
    ) -> Result<(usize, bool), PushError> {
        let queue = self.queue();
        let pushed = queue.push_many_as(self.participant().owner(), messages)?;
        Ok((pushed, queue.header.not_empty.notify_marked()))
    }

    /// [`ByteQueue::try_pop_many`], claiming as this participant.
    ///
    /// # Errors
    ///
    /// As [`ByteQueue::try_pop_many`].
    #[inline]
    pub fn try_pop_many(
        &self,
        max: usize,
        room: usize,
        read: impl FnMut(usize, &SlotReader<'_>),
    ) -> Result<usize, PopError> {
        self.queue()
            .pop_many_as(self.participant().owner(), max, room, read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, QueueStats, Region};

    extern crate std;
    use std::{boxed::Box, panic, vec, vec::Vec};

    fn region() -> Box<Region<4096>> {
        Box::new(Region::new())
    }

    /// Pops everything left, one by one.
    fn drain(q: &ByteQueue<'_>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        while let Ok(n) = q.try_pop(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }

    #[test]
    fn push_many_fills_what_fits_in_order() {
        let mut r = region();
        let q = ByteQueue::init(r.as_mut_slice(), Config::new(3, 8)).unwrap();
        assert_eq!(q.try_push_many::<&[u8]>(&[]), Ok(0));
        assert_eq!(q.try_push_many(&[b"a", b"b"]), Ok(2));
        assert_eq!(q.try_push_many(&[b"c", b"d", b"e"]), Ok(1), "room for one");
        assert_eq!(q.try_push_many(&[b"d"]), Err(PushError::Full));
        assert_eq!(drain(&q), [b"a", b"b", b"c"]);
    }

    #[test]
    fn push_many_stops_before_a_message_too_large() {
        let mut r = region();
        let q = ByteQueue::init(r.as_mut_slice(), Config::new(4, 2)).unwrap();
        let messages: [&[u8]; 3] = [b"ok", b"too long", b"no"];
        assert_eq!(q.try_push_many(&messages), Ok(1));
        assert_eq!(
            q.try_push_many(&messages[1..]),
            Err(PushError::TooLarge { len: 8, max: 2 })
        );
        assert_eq!(q.len(), 1, "the refused call changed nothing");
        assert_eq!(q.try_push_many(&messages[2..]), Ok(1));
        assert_eq!(drain(&q), [&b"ok"[..], b"no"]);
    }

    #[test]
    fn pop_many_takes_up_to_max_and_leaves_long_messages() {
        let mut r = region();
        let q = ByteQueue::init(r.as_mut_slice(), Config::new(8, 16)).unwrap();
        let mut got = Vec::new();
        let mut take = |max, room| {
            let mut batch = Vec::new();
            let n = q.try_pop_many(max, room, |i, m| {
                assert_eq!(i, batch.len(), "indices count the batch");
                let mut buf = vec![0; m.len()];
                m.read(&mut buf);
                batch.push(buf);
            });
            if let Ok(n) = n {
                assert_eq!(n, batch.len());
                got.extend(batch);
            }
            n
        };
        assert_eq!(take(4, 16), Err(PopError::Empty));
        q.try_push_many(&[&b"1"[..], b"22", b"333", b"long message", b"4"])
            .unwrap();
        assert_eq!(take(0, 16), Ok(0));
        assert_eq!(take(2, 4), Ok(2));
        assert_eq!(take(8, 4), Ok(1), "stops before the long one");
        assert_eq!(
            take(8, 4),
            Err(PopError::BufferTooSmall { needed: 12 }),
            "which stays at the front"
        );
        assert_eq!(take(8, 16), Ok(2));
        assert_eq!(take(8, 16), Err(PopError::Empty));
        let expect: [&[u8]; 5] = [b"1", b"22", b"333", b"long message", b"4"];
        assert_eq!(got, expect);
    }

    #[test]
    fn a_panic_in_a_batch_loses_only_its_message() {
        let mut r = region();
        let q = ByteQueue::init(r.as_mut_slice(), Config::new(4, 8)).unwrap();
        q.try_push_many(&[b"a", b"b", b"c"]).unwrap();
        let mut seen = 0;
        let result = panic::catch_unwind(panic::AssertUnwindSafe(|| {
            q.try_pop_many(4, 8, |i, _| {
                seen += 1;
                assert!(i < 1, "the second message panics");
            })
        }));
        assert!(result.is_err());
        assert_eq!(seen, 2);
        assert_eq!(
            q.stats(),
            QueueStats {
                lost_in_push: 0,
                lost_in_pop: 1
            }
        );
        assert_eq!(drain(&q), [b"c"]);
    }

    #[test]
    fn push_many_notify_reports_a_marked_waiter_once() {
        let mut r = region();
        let q = ByteQueue::init(r.as_mut_slice(), Config::new(4, 8)).unwrap();
        let _seen = q.not_empty().prepare_wait();
        assert!(q.try_pop(&mut [0; 8]).is_err() && q.mark_empty_wait());
        assert_eq!(q.try_push_many_notify(&[b"a", b"b"]), Ok((2, true)));
        q.not_empty().finish_wait();
        assert_eq!(q.try_push_many_notify(&[b"c"]), Ok((1, false)));
    }

    #[cfg(word64)]
    #[test]
    fn a_participant_batches_as_itself() {
        let mut r = region();
        let config = Config::new(4, 8).participants(2);
        let q = ByteQueue::init(r.as_mut_slice(), config).unwrap();
        let me = q.register(1, 1).unwrap();
        assert_eq!(me.try_push_many(&[b"a", b"b"]), Ok(2));
        assert_eq!(me.try_push_many_notify(&[b"c"]), Ok((1, false)));
        let mut got = Vec::new();
        assert_eq!(me.try_pop_many(8, 8, |_, m| got.push(m.len())), Ok(3));
        assert_eq!(got, [1, 1, 1]);
    }
}
