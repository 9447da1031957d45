//! Inheritance at the fork (module docs of [`ledger`](super), *Kinds inherited by fork*): the
//! registry of this process's ledgers, the `pthread_atfork` handlers, and the two parts a
//! ledger plays in them: the parent reserves an entry for its child, the child adopts it.

use std::cell::RefCell;
use std::sync::atomic::{
    AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst},
};
use std::sync::{Mutex, MutexGuard, Once, PoisonError, Weak};

use super::*;
use crate::liveness;

/// Forks seen by this module's child handler: a `mine` word of another tag was copied from a
/// parent, and is not this process's.
static FORKS: AtomicU64 = AtomicU64::new(0);

pub(super) fn tag() -> u64 {
    FORKS.load(Relaxed) + 1
}

/// The ledgers alive in this process (dead `Weak`s are pruned as new ones come). Its lock is
/// held by every change of an inherited kind and across each `fork` (see the module docs).
static REGISTRY: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());
pub(super) static HANDLERS: Once = Once::new();

thread_local! {
    /// The registry lock, held from the prepare handler to the parent's or child's handler.
    static HELD: RefCell<Option<MutexGuard<'static, Vec<Weak<Shared>>>>> =
        const { RefCell::new(None) };
}

/// This process's identity ([`liveness::own_identity`], a read of `/proc`), once per process:
/// the prepare handler needs it at every fork. `OWN_PID` is stored after `OWN_IDENTITY`
/// (Release), so a reader that sees its own pid there (Acquire) sees its own identity; a
/// forked child sees its parent's pid and computes its own.
static OWN_IDENTITY: AtomicU64 = AtomicU64::new(0);
static OWN_PID: AtomicU64 = AtomicU64::new(0);

pub(super) fn own_identity() -> u64 {
    let pid = u64::from(std::process::id());
    if OWN_PID.load(Acquire) == pid {
        return OWN_IDENTITY.load(Relaxed);
    }
    let identity = liveness::own_identity();
    OWN_IDENTITY.store(identity, Relaxed);
    OWN_PID.store(pid, Release);
    identity
}

pub(super) fn registry() -> MutexGuard<'static, Vec<Weak<Shared>>> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Prepare handler's part: reserve an entry for the child if this process holds some of
    /// an inherited kind. Runs with the registry lock held.
    pub(super) fn reserve_for_child(&self) {
        let mut inherit = [0u64; MAX_KINDS];
        let mut any = false;
        for (kind, n) in inherit.iter_mut().enumerate().take(self.kinds) {
            if self.inherited & (1 << kind) != 0 {
                *n = self.local[kind].load(Relaxed);
                any |= *n != 0;
            }
        }
        if !any {
            self.child_slot.store(0, Relaxed);
            return;
        }
        // Totals first (module docs).
        for (kind, &n) in inherit.iter().enumerate() {
            if n != 0 {
                self.total_word(kind).fetch_add(n, SeqCst);
            }
        }
        // The parent's pid and identity: the entry is judged by the parent's life until the
        // child takes it over.
        let reserved = self.claim_entry(std::process::id(), own_identity());
        let (slot, word) = match reserved {
            Some((entry, word)) => {
                for (kind, &n) in inherit.iter().enumerate() {
                    self.count(entry, kind).store(n, Release);
                }
                (entry as u64 + 1, word)
            }
            None => (OVERFLOW, 0),
        };
        self.child_slot.store(slot, Relaxed);
        self.child_owner.store(word, Relaxed);
    }

    /// Child handler's part: take the reserved entry over. Only atomics and `getpid`.
    pub(super) fn adopt(&self, tag: u64) {
        for kind in 0..self.kinds {
            if self.inherited & (1 << kind) == 0 {
                self.local[kind].store(0, Relaxed);
            }
        }
        let mut slot = self.child_slot.load(Relaxed);
        if let Some(entry) = self.entry_index(slot) {
            let reserved = self.child_owner.load(Relaxed);
            // Identity unknown here (reading it needs /proc): 0, judged by pid alone, until
            // the first call in the child writes it.
            self.identity(entry).store(0, Release);
            let word = (reserved & !PID_MASK) | u64::from(std::process::id());
            if self
                .owner(entry)
                .compare_exchange(reserved, word, AcqRel, Relaxed)
                .is_err()
            {
                // The parent died and its reservation was repaired: count in the totals only.
                for kind in 0..self.kinds {
                    let n = self.local[kind].load(Relaxed);
                    if n != 0 {
                        self.total_word(kind).fetch_add(n, SeqCst);
                    }
                }
                slot = OVERFLOW;
            }
        }
        let pending = if slot != 0 && slot != OVERFLOW {
            PENDING_IDENTITY
        } else {
            0
        };
        // Slot 0 (nothing inherited): registers on first use.
        self.mine
            .store((tag << TAG_SHIFT) | pending | slot, Release);
    }
}

pub(super) extern "C" fn prepare() {
    let guard = registry();
    for ledger in guard.iter().filter_map(Weak::upgrade) {
        ledger.reserve_for_child();
    }
    HELD.with(|h| *h.borrow_mut() = Some(guard));
}

pub(super) extern "C" fn parent() {
    drop(HELD.with(|h| h.borrow_mut().take()));
}

pub(super) extern "C" fn child() {
    FORKS.fetch_add(1, Relaxed);
    let tag = tag();
    let guard = HELD.with(|h| h.borrow_mut().take());
    if let Some(ledgers) = &guard {
        for ledger in ledgers.iter().filter_map(Weak::upgrade) {
            ledger.adopt(tag);
        }
    }
    drop(guard);
}
