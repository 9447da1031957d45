//! [`TryIter`] and [`RawTryIter`]: drain what a queue holds now, without waiting.

use std::fmt;
use std::iter::FusedIterator;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{GetError, GetNowaitError, Queue, RawGetError, RawGetNowaitError, RawQueue};

/// What one `get_nowait` means for a draining iterator: an item to yield, an error to yield
/// (and whether the iteration goes on after it), or the end.
pub(crate) fn step<T>(
    got: Result<T, GetNowaitError>,
    done: &mut bool,
) -> Option<Result<T, GetError>> {
    match got {
        Ok(item) => Some(Ok(item)),
        Err(GetNowaitError::Empty) => {
            *done = true;
            None
        }
        // The message was taken and dropped: the next one may be fine.
        Err(GetNowaitError::Decode(e)) => Some(Err(GetError::Decode(e))),
        // Would fail again at once: yielded once, then the end.
        Err(GetNowaitError::Corrupt) => {
            *done = true;
            Some(Err(GetError::Corrupt))
        }
        Err(GetNowaitError::Closed) => {
            *done = true;
            Some(Err(GetError::Closed))
        }
    }
}

/// An iterator that takes the items a [`Queue`] holds, without waiting, until it finds the
/// queue empty; from [`Queue::try_iter`].
///
/// Each step is a [`get_nowait`](Queue::get_nowait). It yields `Ok(item)`s; a message that is
/// not a `T` is yielded as `Err(GetError::Decode(_))` and the iteration goes on (the message
/// was dropped); `Err(GetError::Corrupt)` or `Err(GetError::Closed)` is yielded once and ends
/// it. The first time the queue is empty ends it for good (it is fused).
pub struct TryIter<'a, T> {
    queue: &'a Queue<T>,
    done: bool,
}

impl<T: Serialize + DeserializeOwned> Iterator for TryIter<'_, T> {
    type Item = Result<T, GetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        step(self.queue.get_nowait(), &mut self.done)
    }
}

impl<T: Serialize + DeserializeOwned> FusedIterator for TryIter<'_, T> {}

impl<T> fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryIter")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// An iterator that takes the messages a [`RawQueue`] holds, without waiting, until it finds
/// the queue empty; from [`RawQueue::try_iter`]. As [`TryIter`], with byte messages (which
/// never fail to decode).
pub struct RawTryIter<'a> {
    queue: &'a RawQueue,
    done: bool,
}

impl Iterator for RawTryIter<'_> {
    type Item = Result<Vec<u8>, RawGetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // As `step`, without `Decode`: every error would come again at once.
        let error = match self.queue.get_nowait() {
            Ok(message) => return Some(Ok(message)),
            Err(RawGetNowaitError::Empty) => None,
            Err(RawGetNowaitError::Corrupt) => Some(RawGetError::Corrupt),
            Err(RawGetNowaitError::Closed) => Some(RawGetError::Closed),
        };
        self.done = true;
        error.map(Err)
    }
}

impl FusedIterator for RawTryIter<'_> {}

impl fmt::Debug for RawTryIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawTryIter")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// Takes the items that are in the queue now, without waiting: an iterator that ends at
    /// the first time it finds the queue empty (crossbeam's `try_iter`; Python has none, it
    /// is a loop of `get_nowait` until `queue.Empty`).
    ///
    /// Items that other processes put while it runs are taken too, so a producer that keeps
    /// the queue from ever being empty keeps it going: bound it with
    /// [`take`](Iterator::take) if that matters. See [`TryIter`] for the errors it yields.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::Queue::<u32>::new(0)?;
    /// for i in 0..5 {
    ///     q.put(i)?;
    /// }
    /// let drained: Vec<u32> = q.try_iter().collect::<Result<_, _>>()?;
    /// assert_eq!(drained, [0, 1, 2, 3, 4]);
    /// assert!(q.empty());
    /// assert_eq!(q.try_iter().count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter {
            queue: self,
            done: false,
        }
    }
}

impl RawQueue {
    /// Takes the messages that are in the queue now, without waiting, until it finds the
    /// queue empty; as [`Queue::try_iter`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::RawQueue::new(4)?;
    /// q.put(b"a")?;
    /// q.put(b"b")?;
    /// let drained: Vec<Vec<u8>> = q.try_iter().collect::<Result<_, _>>()?;
    /// assert_eq!(drained, [b"a", b"b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_iter(&self) -> RawTryIter<'_> {
        RawTryIter {
            queue: self,
            done: false,
        }
    }
}
