//! [`Queue`]: a typed, fixed-capacity MPMC queue that needs no allocator and can live in
//! a `static`.

// Values live in `UnsafeCell` slots, moved in and out by the claim holder.
#![allow(unsafe_code)]

use core::fmt;
use core::mem::MaybeUninit;

use crate::pad::CachePadded;
use crate::ring::{Ring, SlotWords, Stop};
use crate::sync::{AtomicWord, UnsafeCell};
use crate::word::{Geometry, ANONYMOUS};

struct Slot<T> {
    word: AtomicWord,
    value: UnsafeCell<MaybeUninit<T>>,
}

impl<T> Slot<T> {
    crate::sync::const_fn! {
        fn new() -> Self {
            Self { word: AtomicWord::new(0), value: UnsafeCell::new(MaybeUninit::uninit()) }
        }
    }
}

impl<T, const N: usize> SlotWords for [Slot<T>; N] {
    #[inline(always)]
    unsafe fn word(&self, index: usize) -> &AtomicWord {
        &self[index].word
    }
}

/// A bounded multi-producer multi-consumer queue of `T`, holding at most `N` items.
///
/// Lock-free on the same terms as crossbeam's `ArrayQueue`, and built on the same ring
/// protocol as [`crate::ByteQueue`] (see `LAYOUT.md`): one compare-and-swap per push or
/// pop, no allocation, usable from threads and interrupt handlers. `new` is a
/// `const fn`, so a queue can be a `static`.
///
/// A thread suspended between claiming a slot and finishing with it never makes others
/// fail on a queue that is not full or empty: other producers and consumers go past
/// it. Consumers do wait (see [`Queue::pop`]) for a message whose producer was
/// suspended mid-push, since FIFO order puts that message next.
///
/// `N` may be any capacity from 1 to [`crate::MAX_CAPACITY`]; a bad `N` fails to compile.
///
/// # Examples
///
/// ```
/// use ipc_core::Queue;
///
/// static EVENTS: Queue<u32, 4> = Queue::new();
///
/// EVENTS.push(1).unwrap();
/// EVENTS.push(2).unwrap();
/// assert_eq!(EVENTS.len(), 2);
/// assert_eq!(EVENTS.pop(), Some(1));
/// assert_eq!(EVENTS.pop(), Some(2));
/// assert_eq!(EVENTS.pop(), None);
/// ```
pub struct Queue<T, const N: usize> {
    head: CachePadded<AtomicWord>,
    tail: CachePadded<AtomicWord>,
    slots: [Slot<T>; N],
}

// SAFETY: a value moves into the queue on one thread and out on another, so `T: Send`
// suffices; the ring protocol gives each slot's value to one thread at a time.
unsafe impl<T: Send, const N: usize> Send for Queue<T, N> {}
// SAFETY: as above; `&Queue` only moves whole values in and out, never shares a `&T`.
unsafe impl<T: Send, const N: usize> Sync for Queue<T, N> {}

impl<T, const N: usize> Queue<T, N> {
    const GEOMETRY: Geometry = match Geometry::new(N) {
        Some(geometry) => geometry,
        None => panic!("Queue capacity N must be in 1..=ipc_core::MAX_CAPACITY"),
    };

    /// An empty queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: ipc_core::Queue<String, 2> = ipc_core::Queue::new();
    /// assert!(q.is_empty());
    /// ```
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        let _ = Self::GEOMETRY; // evaluates the capacity check at compile time
        Self {
            head: CachePadded::new(AtomicWord::new(0)),
            tail: CachePadded::new(AtomicWord::new(0)),
            slots: [const { Slot::new() }; N],
        }
    }

    /// An empty queue (loom build: loom's atomics are not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        let _ = Self::GEOMETRY;
        Self {
            head: CachePadded::new(AtomicWord::new(0)),
            tail: CachePadded::new(AtomicWord::new(0)),
            slots: core::array::from_fn(|_| Slot::new()),
        }
    }

    #[inline(always)]
    fn ring(&self) -> Ring<'_, [Slot<T>; N]> {
        Ring {
            head: &self.head,
            tail: &self.tail,
            slots: &self.slots,
            geometry: Self::GEOMETRY,
        }
    }

    /// Appends `value` at the back.
    ///
    /// # Errors
    ///
    /// Gives `value` back if the queue is full.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = ipc_core::Queue::<u8, 1>::new();
    /// assert_eq!(q.push(1), Ok(()));
    /// assert_eq!(q.push(2), Err(2));
    /// ```
    #[inline]
    pub fn push(&self, value: T) -> Result<(), T> {
        let ring = self.ring();
        match ring.claim_push(ANONYMOUS) {
            Ok(claimed) => {
                self.slots[claimed.index].value.with_mut(|cell| {
                    // SAFETY: the claim CAS made this thread the slot's only user until
                    // `publish`; the slot is empty (FREE), so nothing is overwritten.
                    unsafe { cell.write(MaybeUninit::new(value)) }
                });
                ring.publish(claimed);
                Ok(())
            }
            Err(stop) => {
                // Loom runs in release: check there too.
                if cfg!(any(debug_assertions, loom)) {
                    assert_eq!(stop, Stop::Blocked, "private slot words cannot be corrupt");
                }
                Err(value)
            }
        }
    }

    /// Removes the value at the front.
    ///
    /// Returns `None` if the queue is empty, or if the next value's producer has
    /// claimed its slot but not yet finished writing it (FIFO order puts that value
    /// next).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = ipc_core::Queue::<&str, 2>::new();
    /// q.push("a").unwrap();
    /// assert_eq!(q.pop(), Some("a"));
    /// assert_eq!(q.pop(), None);
    /// ```
    #[inline]
    pub fn pop(&self) -> Option<T> {
        let ring = self.ring();
        let claimed = match ring.claim_pop::<()>(ANONYMOUS, |_| Ok(())) {
            Ok(claimed) => claimed,
            Err(stop) => {
                if cfg!(any(debug_assertions, loom)) {
                    assert_eq!(stop, Stop::Blocked, "private slot words cannot be corrupt");
                }
                return None;
            }
        };
        let value = self.slots[claimed.index].value.with_mut(|cell| {
            // SAFETY: the claim CAS saw FULL, so the producer's write happened before
            // (Acquire) and this thread is the slot's only user until `release`.
            unsafe { cell.read().assume_init() }
        });
        ring.release(claimed);
        Some(value)
    }

    /// For a consumer about to sleep until the queue is not empty, after
    /// [`WaitWord::prepare_wait`](crate::WaitWord::prepare_wait) and a `pop` that found
    /// nothing: whether it may sleep until a producer that calls
    /// [`WaitWord::notify_marked`](crate::WaitWord::notify_marked) after its `push` wakes
    /// it. See [`ByteQueue::mark_empty_wait`](crate::ByteQueue::mark_empty_wait).
    pub fn mark_empty_wait(&self) -> bool {
        self.ring().mark_empty_wait()
    }

    /// The number of values in the queue (a snapshot; may be stale by the time it is read).
    pub fn len(&self) -> usize {
        self.ring().len()
    }

    /// Whether [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether [`len`](Self::len) is `N`.
    pub fn is_full(&self) -> bool {
        self.len() == N
    }

    /// The capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }
}

#[cfg(not(loom))]
impl<T, const N: usize> Default for Queue<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> Drop for Queue<T, N> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

impl<T, const N: usize> fmt::Debug for Queue<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.len())
            .field("capacity", &N)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

// Loom models of crash repair (`queue/crash_model.rs`).
#[cfg(all(test, loom, word64))]
mod crash_model;
