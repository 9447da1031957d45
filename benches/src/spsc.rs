//! The floor for streaming between processes: a single-producer single-consumer ring of
//! fixed-size slots in `MAP_SHARED` memory, rtrb's design (each side owns one index, and caches
//! the other's so it reads that shared line only when its cached copy says full or empty).
//!
//! No lengths, no claims, no crash recovery, no checks of what the other process wrote: the
//! least any queue of fixed-size messages between two processes can do. It trusts its peer
//! process (the other end of the same bench), so it is a bench, not an API.
//!
//! Layout (one mapping): `head` (the consumer's next slot) at byte 0, `tail` (the producer's
//! next slot) at byte 128, each on its own pair of cache lines; `capacity` slots of `len`
//! bytes from byte 4,096. Both indices only grow; slot `i % capacity` holds message `i`.
#![allow(unsafe_code)] // Plain copies in and out of `MAP_SHARED` memory (`mmap(2)` direct).

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;

use host_runtime::wait::{Backoff, Policy};

use crate::sustained::{boxed, ByteRx, ByteTx, BytesRx, BytesTx, Run};

const HEAD_AT: usize = 0;
const TAIL_AT: usize = 128;
const SLOTS_AT: usize = 4096;

/// The mapping: its address and length, unmapped on drop.
#[derive(Debug)]
struct Ring {
    base: NonNull<u8>,
    map_len: usize,
    capacity: u64,
    /// `capacity - 1`: the slot of message `i` is `i & mask` (no division per message).
    mask: u64,
    len: usize,
}

// SAFETY: the mapping is plain memory usable from any thread; every access to it goes through
// the atomics `head`/`tail` or the slot copies the SPSC protocol orders.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Ring {
    #[inline(always)]
    fn index(&self, at: usize) -> &AtomicU64 {
        // SAFETY: `at` is HEAD_AT or TAIL_AT, 8-aligned and inside the first page of a live
        // mapping (page-aligned); any bits are a valid `AtomicU64`.
        unsafe { &*self.base.as_ptr().add(at).cast::<AtomicU64>() }
    }

    /// The address of the slot of message `i`.
    #[inline(always)]
    fn slot(&self, i: u64) -> *mut u8 {
        let k = (i & self.mask) as usize;
        // SAFETY: k <= mask < capacity, so `SLOTS_AT + k * len + len <= map_len` (the mapping's size).
        unsafe { self.base.as_ptr().add(SLOTS_AT + k * self.len) }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `ends`, unmapped once (the last `Arc` is dropping it).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.map_len) };
    }
}

/// The producer's end: its own tail, and its cached copy of the consumer's head.
#[derive(Debug)]
pub struct Producer {
    ring: Arc<Ring>,
    tail: u64,
    cached_head: u64,
}

/// The consumer's end: its own head, its cached copy of the producer's tail, and the buffer a
/// message is copied into.
#[derive(Debug)]
pub struct Consumer {
    ring: Arc<Ring>,
    head: u64,
    cached_tail: u64,
    buf: Vec<u8>,
}

/// A ring of `capacity` slots of `len` bytes in a fresh shared mapping: (producer, consumer).
///
/// # Errors
///
/// Those of `mmap`.
///
/// # Panics
///
/// If `len` is 0 or `capacity` is not a power of two.
///
/// # Safety
///
/// At most one process (and thread) uses the [`Producer`] and at most one the [`Consumer`]: a
/// `fork` copies both ends, and a second user of either would race on the slots.
pub unsafe fn ends(len: usize, capacity: usize) -> io::Result<(Producer, Consumer)> {
    assert!(
        len > 0 && capacity.is_power_of_two(),
        "slots of at least a byte, a power-of-two count"
    );
    let map_len = (SLOTS_AT + capacity * len).div_ceil(4096) * 4096;
    // SAFETY: a fresh anonymous mapping; no memory of ours is touched.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            map_len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let ring = Arc::new(Ring {
        base: NonNull::new(p.cast()).expect("mmap returns no null mapping"),
        map_len,
        capacity: capacity as u64,
        mask: capacity as u64 - 1,
        len,
    });
    Ok((
        Producer {
            ring: Arc::clone(&ring),
            tail: 0,
            cached_head: 0,
        },
        Consumer {
            ring,
            head: 0,
            cached_tail: 0,
            buf: vec![0; len],
        },
    ))
}

impl ByteTx for Producer {
    #[inline]
    fn send_bytes(&mut self, m: &[u8]) {
        let r = &*self.ring;
        assert_eq!(m.len(), r.len, "message of the slot's length");
        if self.tail - self.cached_head == r.capacity {
            let mut backoff = Backoff::new(Policy::SPIN_THEN_YIELD);
            loop {
                // Acquire: pairs with the consumer's Release store of `head`; its copy out of
                // the slot is done before we write over it.
                self.cached_head = r.index(HEAD_AT).load(Acquire);
                if self.tail - self.cached_head < r.capacity {
                    break;
                }
                backoff.snooze();
            }
        }
        // SAFETY: the slot of message `tail` is free (tail - head < capacity, the consumer is
        // past it) and only this producer writes slots (`ends`' contract); `m` has `len` bytes.
        unsafe { std::ptr::copy_nonoverlapping(m.as_ptr(), r.slot(self.tail), r.len) };
        self.tail += 1;
        // Release: pairs with the consumer's Acquire load of `tail`; publishes the slot bytes.
        r.index(TAIL_AT).store(self.tail, Release);
    }
}

impl ByteRx for Consumer {
    #[inline]
    fn recv_bytes(&mut self) -> &[u8] {
        let r = &*self.ring;
        if self.head == self.cached_tail {
            let mut backoff = Backoff::new(Policy::SPIN_THEN_YIELD);
            loop {
                // Acquire: pairs with the producer's Release store of `tail`; the slot bytes
                // of every message before it are visible.
                self.cached_tail = r.index(TAIL_AT).load(Acquire);
                if self.cached_tail != self.head {
                    break;
                }
                backoff.snooze();
            }
        }
        // SAFETY: message `head` is published (head < tail) and the producer won't touch its
        // slot until `head` moves past it; only this consumer reads slots (`ends`' contract).
        unsafe { std::ptr::copy_nonoverlapping(r.slot(self.head), self.buf.as_mut_ptr(), r.len) };
        self.head += 1;
        // Release: pairs with the producer's Acquire load of `head`; frees the slot.
        r.index(HEAD_AT).store(self.head, Release);
        &self.buf
    }
}

/// A sustained stream through the ring: `len`-byte messages, `capacity` slots, one producer.
///
/// # Errors
///
/// Those of `mmap` and `fork`.
pub fn stream(len: usize, capacity: usize) -> io::Result<Box<dyn Run>> {
    // SAFETY: the one forked producer uses only the producer's end (its copy of the consumer's
    // end is never used: the child leaves with `_exit`), this process only the consumer's.
    let (tx, rx) = unsafe { ends(len, capacity)? };
    let tx = std::cell::Cell::new(Some(tx));
    boxed(
        |_| BytesTx::new(tx.take().expect("one producer"), len),
        BytesRx::new(rx, len),
        1,
    )
}
