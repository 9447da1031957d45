//! The code of the lock's acquire + release and of a queue's push + pop, each in one
//! `#[no_mangle]` function, for measuring code size on a bare-metal target:
//!
//! ```text
//! cargo build --release -p ipc-core --example code_size --target thumbv7em-none-eabihf \
//!     --config 'profile.release.opt-level="s"'
//! llvm-nm --print-size --size-sort --radix=d \
//!     target/thumbv7em-none-eabihf/release/examples/code_size | grep size_
//! ```
//!
//! On a hosted target it runs the same functions once, as an ordinary program.
#![cfg_attr(target_os = "none", no_std, no_main)]

use ipc_core::{LockOwner, LockWord, Queue};

static LOCK: LockWord = LockWord::new();
static QUEUE: Queue<u32, 16> = Queue::new();

/// `lock_spin` + `unlock` of a plain lock: what a bare-metal critical section costs.
#[no_mangle]
#[inline(never)]
pub extern "C" fn size_lock_acquire_release(id: u32) -> bool {
    let Some(me) = LockOwner::new(id, 0) else {
        return false;
    };
    LOCK.lock_spin(me, false).is_ok() && LOCK.unlock(me, false).is_ok()
}

/// `push` + `pop` of a `Queue<u32, 16>`.
#[no_mangle]
#[inline(never)]
pub extern "C" fn size_queue_push_pop(v: u32) -> u32 {
    let _ = QUEUE.push(v);
    QUEUE.pop().unwrap_or(0)
}

#[cfg(target_os = "none")]
mod bare_metal {
    /// Entry point: the reset handler of a real board would call this.
    #[no_mangle]
    pub extern "C" fn _start() -> ! {
        let _ = super::size_lock_acquire_release(1);
        let _ = super::size_queue_push_pop(7);
        loop {
            core::hint::spin_loop();
        }
    }

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    assert!(size_lock_acquire_release(1));
    assert_eq!(size_queue_push_pop(7), 7);
}
