//! Crash points: named places in the protocol where a test can stop a participant
//! (e.g. `raise(SIGKILL)`) to prove that the others survive. Compiled in only with the
//! `crash-points` feature; without it, `crash_point!` expands to nothing.
//!
//! | point | where |
//! |---|---|
//! | `push.claimed` | after a push's claim CAS, before the tail hint moves |
//! | `push.filled` | after the payload is written, before it is published |
//! | `pop.claimed` | after a pop's claim CAS, before the head hint moves |
//! | `pop.read` | after the payload is read, before the slot is released |
//! | `repair.started` | after a repairer took the dead participant's entry |
//! | `repair.abandoned` | after a repair marked a slot abandoned |
//! | `repair.taken` | after a repair took over a slot being read |
//! | `repair.swept` | after a repair's `RepairHooks::before_release`, before the entry is freed |
//! | `lock.claimed` | after a `LockWord` acquire CAS, before the holder's stamp is stored |
//! | `lock.stamped` | after the stamp: the lock is held |
//! | `unlock.unstamped` | in an unlock, after the stamp is cleared, before the release CAS |
//! | `lock.taken_over` | after a take-over CAS, before the new holder's stamp is stored |
//!
//! A host crate passes its own points with [`point`], so one hook sees both.

#[cfg(feature = "crash-points")]
// The hook is a function pointer kept in an `AtomicPtr`, transmuted back to call it.
#[allow(unsafe_code)]
mod hook {
    use core::sync::atomic::{AtomicPtr, Ordering::*};

    static HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

    /// Installs `hook`, called with the point's name each time one is passed (in every
    /// thread of this process). `None` removes it.
    pub fn set_hook(hook: Option<fn(&'static str)>) {
        let ptr = hook.map_or(core::ptr::null_mut(), |f| f as *mut ());
        // Release: pairs with the Acquire in `hit()`.
        HOOK.store(ptr, Release);
    }

    #[doc(hidden)]
    #[inline]
    pub fn hit(point: &'static str) {
        // Acquire: pairs with the Release in `set_hook()`.
        let ptr = HOOK.load(Acquire);
        if !ptr.is_null() {
            // SAFETY: `HOOK` only ever holds null or a `fn(&'static str)` stored by
            // `set_hook`.
            let hook = unsafe { core::mem::transmute::<*mut (), fn(&'static str)>(ptr) };
            hook(point);
        }
    }
}

#[cfg(feature = "crash-points")]
pub use hook::{hit, set_hook};

/// Passes the crash point `name` from outside ipc-core (a host's own steps, e.g. between
/// two queues): calls the installed hook with the `crash-points` feature, does nothing
/// (and compiles to nothing) without it.
///
/// # Examples
///
/// ```
/// ipc_core::crash::point("host.step");
/// ```
#[inline(always)]
pub fn point(name: &'static str) {
    #[cfg(feature = "crash-points")]
    hit(name);
    #[cfg(not(feature = "crash-points"))]
    let _ = name;
}

/// Passes the named crash point (see the module docs).
macro_rules! crash_point {
    ($name:literal) => {
        #[cfg(feature = "crash-points")]
        $crate::crash::hit($name);
    };
}
pub(crate) use crash_point;
