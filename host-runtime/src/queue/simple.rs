//! [`SimpleQueue`]: Python's `multiprocessing.SimpleQueue`, the smallest queue API.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{GetError, PutError, Queue, QueueError};

/// Python's `multiprocessing.SimpleQueue`: an unbounded queue with only `put`, `get`, `empty`
/// and `close`, for items of any serde type.
///
/// It is a [`Queue`] with no bound (`maxsize == 0`: it holds
/// [`UNBOUNDED_CAPACITY`](super::UNBOUNDED_CAPACITY) items before `put` waits, as Python's
/// waits when its pipe is full) and without the timeouts, sizes and `*_nowait` calls; it
/// shares everything else with it: a crashed process is repaired the same way, clones share
/// the queue, and children forked after it was made inherit it.
///
/// One difference from Python: after [`close`](Self::close), [`empty`](Self::empty) still
/// answers (Python's closes the pipe, and `empty()` then raises `OSError`): the shared memory
/// is still mapped, only this process's puts and gets are refused.
///
/// # Examples
///
/// ```
/// use host_runtime::{Process, SimpleQueue};
///
/// let q = SimpleQueue::<String>::new()?;
/// let tx = q.clone();
/// let p = Process::new(move || tx.put("from a child".to_string()).unwrap());
/// p.start()?;
/// assert_eq!(q.get()?, "from a child");
/// p.join()?;
/// assert!(q.empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SimpleQueue<T> {
    queue: Queue<T>,
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("queue", &self.queue)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// A new, empty queue (Python: `SimpleQueue()`), shared with the children forked after it
    /// was made.
    ///
    /// # Errors
    ///
    /// As [`Queue::new`]: the shared memory could not be mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::SimpleQueue::<u8>::new()?;
    /// assert!(q.empty());
    /// # Ok::<(), host_runtime::QueueError>(())
    /// ```
    pub fn new() -> Result<SimpleQueue<T>, QueueError> {
        Ok(SimpleQueue {
            queue: Queue::new(0)?,
        })
    }

    /// Puts `item` at the back, waiting only if the queue holds its maximum (Python:
    /// `put(obj)`).
    ///
    /// # Errors
    ///
    /// As [`Queue::put`]; [`PutError::Closed`] after [`close`](Self::close) in this process.
    /// The item is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::SimpleQueue::<(u8, char)>::new()?;
    /// q.put((1, 'a'))?;
    /// assert_eq!(q.get()?, (1, 'a'));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.queue.put(item)
    }

    /// [`put`](Self::put) of a copy of `*item`, which the caller keeps ([`Queue::put_ref`]).
    ///
    /// # Errors
    ///
    /// As [`Queue::put_ref`]; [`PutError::Closed`] after [`close`](Self::close) in this process.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::SimpleQueue::<Vec<u8>>::new()?;
    /// let block = vec![7u8; 4096];
    /// q.put_ref(&block)?;
    /// assert_eq!(q.get()?, block);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_ref(&self, item: &T) -> Result<(), PutError<()>> {
        self.queue.put_ref(item)
    }

    /// Takes the item at the front, waiting as long as needed for one (Python: `get()`).
    ///
    /// # Errors
    ///
    /// As [`Queue::get`]; [`GetError::Closed`] after [`close`](Self::close) in this process.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::SimpleQueue::<Vec<u32>>::new()?;
    /// q.put(vec![1, 2])?;
    /// assert_eq!(q.get()?, [1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.queue.get()
    }

    /// Whether the queue is empty (Python: `empty()`); a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = host_runtime::SimpleQueue::<u8>::new()?;
    /// assert!(q.empty());
    /// q.put(1)?;
    /// assert!(!q.empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn empty(&self) -> bool {
        self.queue.empty()
    }

    /// Says that this process will put and get no more (Python: `close()`); see
    /// [`Queue::close`], which this is. Closing twice is fine.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::{GetError, PutError, SimpleQueue};
    ///
    /// let q = SimpleQueue::<u8>::new()?;
    /// q.close();
    /// q.close();
    /// assert!(matches!(q.put(1), Err(PutError::Closed(1))));
    /// assert!(matches!(q.get(), Err(GetError::Closed)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        self.queue.close();
    }
}
