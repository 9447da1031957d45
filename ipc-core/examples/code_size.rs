//! The code of the lock's acquire + release and of a queue's push + pop, each in one
//! `#[no_mangle]` function, for measuring code size on a bare-metal target, beside the same
//! work with heapless's queues (the `no_std` queues embedded users pick today):
//!
//! ```text
//! cargo build --release -p ipc-core --example code_size --target thumbv7em-none-eabihf \
//!     --config 'profile.release.opt-level="s"'
//! llvm-nm --print-size --size-sort --radix=d \
//!     target/thumbv7em-none-eabihf/release/examples/code_size | grep size_
//! ```
//!
//! `benches`' report (`benches/src/bin/report/code_size.rs`) runs exactly this and shows each
//! function's size with those of the functions it calls out of line added (found in the
//! disassembly), so that code the compiler did not inline is counted too. Each function does
//! the whole operation pair on `u32` items and 16 slots (measured on 2026-12-05: our queue
//! 792 bytes, heapless's mpmc queue 192, its spsc queue 80; the lock 328, of which 170 in
//! `lock_spin` and `LockOwner`'s functions).
//!
//! On a hosted target it runs the same functions once, as an ordinary program.
#![cfg_attr(target_os = "none", no_std, no_main)]

use ipc_core::{LockOwner, LockWord, Queue};

static LOCK: LockWord = LockWord::new();
static QUEUE: Queue<u32, 16> = Queue::new();
// heapless's MPMC queue is deprecated (a stalled thread makes others fail, see STYLE.md); it
// is the one that, like ours, works through `&self` from a `static`.
#[allow(deprecated)]
static HEAPLESS_MPMC: heapless::mpmc::Queue<u32, 16> = heapless::mpmc::Queue::new();

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

/// `enqueue` + `dequeue` of heapless's `mpmc::Queue<u32, 16>` (in a `static`, as ours).
#[no_mangle]
#[inline(never)]
pub extern "C" fn size_heapless_mpmc_enqueue_dequeue(v: u32) -> u32 {
    let _ = HEAPLESS_MPMC.enqueue(v);
    HEAPLESS_MPMC.dequeue().unwrap_or(0)
}

/// `enqueue` + `dequeue` of heapless's `spsc::Queue<u32, 16>` (single producer and consumer:
/// it takes `&mut`, so the caller owns it; 15 usable slots).
#[no_mangle]
#[inline(never)]
pub fn size_heapless_spsc_enqueue_dequeue(q: &mut heapless::spsc::Queue<u32, 16>, v: u32) -> u32 {
    let _ = q.enqueue(v);
    q.dequeue().unwrap_or(0)
}

#[cfg(target_os = "none")]
mod bare_metal {
    /// Entry point: the reset handler of a real board would call this.
    #[no_mangle]
    pub extern "C" fn _start() -> ! {
        let _ = super::size_lock_acquire_release(1);
        let _ = super::size_queue_push_pop(7);
        let _ = super::size_heapless_mpmc_enqueue_dequeue(7);
        let mut q = heapless::spsc::Queue::new();
        let _ = super::size_heapless_spsc_enqueue_dequeue(&mut q, 7);
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
    assert_eq!(size_heapless_mpmc_enqueue_dequeue(7), 7);
    let mut q = heapless::spsc::Queue::new();
    assert_eq!(size_heapless_spsc_enqueue_dequeue(&mut q, 7), 7);
}
