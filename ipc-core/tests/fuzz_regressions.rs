//! Regression tests for bugs found by fuzzing `ipc-core` (`fuzz/`, issue 6) or while
//! writing its models. Each test is a minimal reproducer through the public API; the
//! comment above it says what goes wrong and which fuzz target reaches it.

use std::alloc::{self, Layout};
use std::panic;
use std::ptr::NonNull;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ipc_core::{ByteQueue, Config, PopError, Region, REGION_ALIGN};

/// A zeroed heap region of `len` bytes aligned to [`REGION_ALIGN`] (too big for the stack).
struct HeapRegion {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl HeapRegion {
    fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len, REGION_ALIGN).unwrap();
        // SAFETY: `len` is not zero in these tests.
        let ptr = NonNull::new(unsafe { alloc::alloc_zeroed(layout) }).unwrap();
        Self { ptr, layout }
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: allocated and zeroed for `layout.size()` bytes, borrowed through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for HeapRegion {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_ne_bytes());
}

/// Runs `f` on another thread and fails if it has not finished after `limit`: a
/// watchdog, so that a call that (nearly) never returns fails the test instead of
/// hanging CI. The limit is far above what the call should take (microseconds).
fn within<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (done, wait) = mpsc::channel();
    thread::spawn(move || done.send(f()).unwrap());
    wait.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("still running after {limit:?}"))
}

/// Bug: abandoned pushes let the slot words run more than `MAX_LAPS_AHEAD` (16) laps
/// ahead of an idle `head` hint; the next pop then reported `Corrupt`, and kept doing
/// so for good, although the queue held a message.
///
/// An abandoned push (its fill closure panicked) used to release its slot to the next
/// lap at once, so with no consumer running, producers could lap the head hint any
/// number of times. Fixed by marking the slot ABANDONED instead: the tombstone keeps
/// its place (and its capacity) until a consumer passes and frees it, so producers can
/// never lap the consumers. Crash repair (issue 5) makes the same transition.
///
/// Found by the `queue_ops` fuzz target (and reachable in `concurrent`); with capacity
/// `c`, `17 * c` abandoned pushes in a row sufficed.
#[test]
fn abandoned_pushes_wedge_consumers() {
    let mut region = Region::<4096>::new();
    let q = ByteQueue::init(region.as_mut_slice(), Config::new(1, 8)).unwrap();
    let quiet = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let mut buf = [0u8; 8];
    for round in 0..40 {
        let abandoned = panic::catch_unwind(|| q.try_push_with(1, |_| panic!("fill failed")));
        assert!(
            abandoned.is_err(),
            "round {round}: the fill closure ran and panicked"
        );
        // The tombstone holds the only slot: no producer can lap the consumers.
        assert_eq!(q.try_push(b"y"), Err(ipc_core::PushError::Full));
        // A consumer passes it, frees it, and finds nothing else.
        assert_eq!(q.try_pop(&mut buf), Err(PopError::Empty));
    }
    panic::set_hook(quiet);
    assert_eq!(q.stats().lost_in_push, 40);
    q.try_push(b"x").expect("the slot is free");
    assert_eq!(q.try_pop(&mut buf), Ok(1), "the one message is delivered");
    assert_eq!(&buf[..1], b"x");
    assert_eq!(q.try_pop(&mut buf), Err(PopError::Empty));
}

/// Bug: with more than 2^16 slots (`k = log2(next_power_of_two(capacity)) > 16`), a
/// queue breaks when its stamps wrap: every push then returns `Corrupt`.
///
/// `release()` stores `FREE(lap + 1)` with the lap packed into the slot word's 48-bit
/// lap field unmasked. Stamps keep only `64 - k < 48` lap bits, so after the last lap
/// the slot says `FREE(2^(64 - k))` while the wrapped tail expects `FREE(0)`: the
/// fast-path compare fails, and the lap distance (taken over `64 - k` bits) is 0 with
/// state FREE, which the slow path classifies as corrupt. `LAYOUT.md` promises that
/// stamps and lap fields may both wrap. On 64-bit targets the wrap needs 2^64
/// operations, so this test starts just before it (the state a real run reaches).
/// On 32-bit targets (`Word = u32`, 29 lap bits) the same happens for any capacity
/// above 8 after only 2^32 operations: hours of a busy interrupt-driven queue.
///
/// Found while writing the `attach` target's model of the slot words.
#[test]
fn stamps_wrap_with_more_than_65536_slots() {
    const CAPACITY: usize = (1 << 16) + 1; // k = 17: stamps keep 47 lap bits
    const K: u32 = 17;
    let size = ByteQueue::memory_size(Config::new(CAPACITY, 0)).unwrap();
    let mut region = HeapRegion::new(size);
    ByteQueue::init(region.bytes(), Config::new(CAPACITY, 0)).unwrap();
    // Move the empty queue to the start of the last lap: head = tail = stamp(lap, 0),
    // every slot FREE(lap) (offsets and encodings from LAYOUT.md).
    let last_lap: u64 = (1 << (64 - K)) - 1;
    let bytes = region.bytes();
    put_u64(bytes, 128, last_lap << K); // tail
    put_u64(bytes, 256, last_lap << K); // head
    for index in 0..CAPACITY {
        put_u64(bytes, 640 + index * 16, last_lap << 16); // FREE(last_lap), owner 0
    }
    let q = ByteQueue::attach(region.bytes()).unwrap();

    // One full lap of pushes and pops: every slot ends FREE(last_lap + 1), and the
    // tail wraps to stamp 0.
    let mut buf = [0u8; 1];
    for _ in 0..CAPACITY {
        q.try_push(&[]).unwrap();
        assert_eq!(q.try_pop(&mut buf), Ok(0));
    }
    assert_eq!(q.try_push(&[]), Ok(()), "push after the stamps wrap");
    assert_eq!(q.try_pop(&mut buf), Ok(0));
}

/// Bug: `init` over a region whose header is not zero (reused shared memory, a region
/// a crashed run left behind, a `Vec` with old contents) takes time proportional to
/// the stale waiter counts of the two wait words: it decrements them one by one, up to
/// 2 × 2^32 atomic operations, about a minute per word in a release build.
///
/// Found by the `attach` target (re-`init` of a corrupted region ran into libFuzzer's
/// timeout).
#[test]
fn init_over_a_dirty_header_is_slow() {
    let done = within(Duration::from_secs(20), || {
        let mut region = Box::new(Region::<4096>::new());
        let bytes = region.as_mut_slice();
        // `not_empty.waiters` (offset 384 + 4) and `not_full.waiters` (512 + 4).
        bytes[388..392].copy_from_slice(&u32::MAX.to_ne_bytes());
        bytes[516..520].copy_from_slice(&u32::MAX.to_ne_bytes());
        let q = ByteQueue::init(region.as_mut_slice(), Config::new(4, 8)).unwrap();
        (q.not_empty().waiters(), q.not_full().waiters())
    });
    assert_eq!(done, (0, 0));
}
