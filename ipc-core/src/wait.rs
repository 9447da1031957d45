//! [`WaitWord`]: what a host needs to sleep on a queue condition without ipc-core
//! calling the OS.

use crate::sync::{fence, AtomicU32, Ordering::*};

/// An event count for one condition ("not empty" or "not full") of a queue.
///
/// ipc-core never sleeps or wakes; a host does, on [`seq`](Self::seq) (e.g. a Linux
/// futex, shared, not private, when the queue is shared between processes). The
/// protocol, which makes a lost wake-up impossible and skips the wake syscall when
/// nobody waits:
///
/// * waiter: `let seen = w.prepare_wait();` re-check the condition (e.g. `try_pop`);
///   if it still has to wait, sleep while `seq == seen`; then `w.finish_wait()`.
/// * waker: make the condition true (e.g. `try_push`), then `if w.notify() { wake }`.
///
/// # Examples
///
/// ```
/// use ipc_core::WaitWord;
///
/// let w = WaitWord::new();
/// assert!(!w.notify(), "nobody waits: no wake needed");
/// let seen = w.prepare_wait();
/// assert!(w.notify(), "a waiter is registered: wake it");
/// assert_ne!(w.seq().load(core::sync::atomic::Ordering::Relaxed), seen, "its sleep would not start");
/// w.finish_wait();
/// ```
#[derive(Debug)]
#[repr(C)]
pub struct WaitWord {
    seq: AtomicU32,
    waiters: AtomicU32,
}

impl Default for WaitWord {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitWord {
    crate::sync::const_fn! {
        /// A word with no waiters.
        pub fn new() -> Self {
            Self { seq: AtomicU32::new(0), waiters: AtomicU32::new(0) }
        }
    }

    /// The 32-bit word to sleep on; it changes on every [`notify`](Self::notify) that
    /// found a waiter.
    pub fn seq(&self) -> &AtomicU32 {
        &self.seq
    }

    /// Registers a waiter and returns the value of `seq` to sleep on. The caller must
    /// re-check its condition after this and call [`finish_wait`](Self::finish_wait)
    /// when done waiting.
    pub fn prepare_wait(&self) -> u32 {
        self.waiters.fetch_add(1, Relaxed);
        // SeqCst: pairs with the fence in `notify()`. Either the notifier sees our
        // waiter count, or our re-check of the condition sees its change.
        fence(SeqCst);
        // Acquire: pairs with the Release bump in `notify()`; if we already read a
        // bumped value, our re-check sees the change that came before the bump.
        self.seq.load(Acquire)
    }

    /// Unregisters a waiter registered by [`prepare_wait`](Self::prepare_wait).
    pub fn finish_wait(&self) {
        self.waiters.fetch_sub(1, Relaxed);
    }

    /// Records that the condition may have become true. Returns `true` when someone
    /// waits, and so the host must wake the sleepers on [`seq`](Self::seq).
    pub fn notify(&self) -> bool {
        // SeqCst: pairs with the fence in `prepare_wait()` (see there).
        fence(SeqCst);
        if self.waiters.load(Relaxed) == 0 {
            return false;
        }
        // Release: a sleeper that wakes on the new value also sees the condition's change.
        self.seq.fetch_add(1, Release);
        true
    }

    /// [`notify`](Self::notify) without its fence, for a waker whose change of the condition
    /// began with a claim that waiters *mark* before they sleep: a push into a
    /// [`ByteQueue`](crate::ByteQueue) or [`Queue`](crate::Queue), whose consumers call
    /// `mark_empty_wait` after `prepare_wait` and a failed pop, and sleep only if it returns
    /// `true`. Call it after the push, on the queue's "not empty" word. Returns `true` when
    /// someone waits, and so the host must wake the sleepers on [`seq`](Self::seq).
    ///
    /// Why no wake-up is lost: a consumer sleeps only after its mark (an RMW) took the head
    /// slot while still FREE, so the claim CAS of the push that fills that slot reads the
    /// mark (Acquire) and sees the registration made before it; a consumer whose mark
    /// failed does not sleep for long. On x86 this saves a `mfence` (10–20 ns) per push.
    pub fn notify_marked(&self) -> bool {
        // Relaxed: the claim CAS before it acquired every marking waiter's registration.
        if self.waiters.load(Relaxed) == 0 {
            return false;
        }
        // Release: a sleeper that wakes on the new value also sees the condition's change.
        self.seq.fetch_add(1, Release);
        true
    }

    /// Back to no waiters and `seq == 0`, for a region being initialised (nobody may
    /// be using it).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn reset(&self) {
        self.seq.store(0, Relaxed);
        self.waiters.store(0, Relaxed);
    }

    /// The number of registered waiters (a snapshot).
    pub fn waiters(&self) -> u32 {
        self.waiters.load(Relaxed)
    }
}
