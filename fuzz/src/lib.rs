//! Helpers shared by the fuzz targets of `ipc-core` (see `README.md`).
//!
//! * [`AlignedRegion`]: a heap region of an exact length, so AddressSanitizer reports any
//!   access past its end;
//! * [`install_panic_hook`] / [`provoke_panic`] / [`expect_panic`]: panics the targets
//!   provoke on purpose (a fill or read closure that fails) unwind quietly; any other
//!   panic still aborts, as libFuzzer wants;
//! * the shared-memory word encoding of `LAYOUT.md`, to corrupt regions on purpose.

use std::alloc::{self, Layout};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;

/// Alignment a `ByteQueue` region needs (`ipc_core::REGION_ALIGN`).
pub const ALIGN: usize = ipc_core::REGION_ALIGN;

/// A zeroed heap allocation of exactly `offset + len` bytes, aligned to [`ALIGN`]; the
/// region handed to the queue is its last `len` bytes. With the region's end being
/// the allocation's end, AddressSanitizer catches a read or write past it.
pub struct AlignedRegion {
    base: NonNull<u8>,
    layout: Layout,
    offset: usize,
    len: usize,
}

impl AlignedRegion {
    /// A zeroed region of `len` bytes starting `offset` bytes after a multiple of [`ALIGN`].
    pub fn new(offset: usize, len: usize) -> Self {
        let total = (offset + len).max(1);
        let layout = Layout::from_size_align(total, ALIGN).expect("small layout");
        // SAFETY: the layout has a non-zero size.
        let base = NonNull::new(unsafe { alloc::alloc_zeroed(layout) })
            .unwrap_or_else(|| alloc::handle_alloc_error(layout));
        Self {
            base,
            layout,
            offset,
            len,
        }
    }

    /// Start of the region.
    pub fn ptr(&self) -> NonNull<u8> {
        // SAFETY: offset ≤ the allocation's size.
        unsafe { self.base.add(self.offset) }
    }

    /// Length of the region.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A copy of the region's bytes.
    ///
    /// Reads bytes that queues access atomically; fine here, where every queue using the
    /// region lives on this thread.
    pub fn snapshot(&self) -> Vec<u8> {
        // SAFETY: `len` bytes from `ptr()` are allocated and initialised (zeroed at
        // first); no other thread uses the region.
        unsafe { std::slice::from_raw_parts(self.ptr().as_ptr(), self.len) }.to_vec()
    }

    /// Overwrites `bytes.len()` bytes at `at` (clamped to the region).
    pub fn write(&mut self, at: usize, bytes: &[u8]) {
        if at >= self.len {
            return;
        }
        let n = bytes.len().min(self.len - at);
        // SAFETY: `at + n ≤ len`, inside the allocation; `&mut self` and the single
        // thread mean no queue operation runs meanwhile.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr().as_ptr().add(at), n) };
    }

    /// Reads a native-endian `u32` at `at` (must lie inside the region).
    pub fn read_u32(&self, at: usize) -> u32 {
        assert!(at + 4 <= self.len);
        // SAFETY: in bounds (asserted); unaligned reads of an integer are allowed.
        unsafe { self.ptr().as_ptr().add(at).cast::<u32>().read_unaligned() }
    }

    /// Reads a native-endian `u64` at `at` (must lie inside the region).
    pub fn read_u64(&self, at: usize) -> u64 {
        assert!(at + 8 <= self.len);
        // SAFETY: in bounds (asserted); unaligned reads of an integer are allowed.
        unsafe { self.ptr().as_ptr().add(at).cast::<u64>().read_unaligned() }
    }
}

impl Drop for AlignedRegion {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { alloc::dealloc(self.base.as_ptr(), self.layout) }
    }
}

/// The panic payload [`provoke_panic`] raises.
pub struct ProvokedPanic;

/// Wraps the panic hook (libFuzzer's, which aborts before unwinding) so that panics
/// raised by [`provoke_panic`] unwind silently; any other panic still aborts, with its
/// message. Call once, from `fuzz_target!(init: ...)`.
pub fn install_panic_hook() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !info.payload().is::<ProvokedPanic>() {
            previous(info);
        }
    }));
}

/// Panics with [`ProvokedPanic`]: a user closure that fails, on purpose.
pub fn provoke_panic() -> ! {
    panic::panic_any(ProvokedPanic)
}

/// Runs `f`, which may unwind with [`provoke_panic`]; returns `None` if it did, `Some`
/// of its result if it returned. Any other unwinding goes on.
pub fn expect_panic<R>(f: impl FnOnce() -> R) -> Option<R> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(payload) if payload.is::<ProvokedPanic>() => None,
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// The shared-memory format of `ipc-core/LAYOUT.md` (64-bit words), restated here so the
/// `attach` target can write plausible but wrong states into a region.
pub mod layout {
    /// Header size; the participant table, then the slots, start here.
    pub const HEADER: usize = 640;
    /// Offset of the `tail` hint.
    pub const TAIL: usize = 128;
    /// Offset of the `head` hint.
    pub const HEAD: usize = 256;
    /// Offset of the length field within a slot.
    pub const SLOT_LEN: usize = 8;
    /// Bytes before a slot's payload.
    pub const SLOT_HEADER: usize = 16;
    /// Offset of the `lost_in_push` counter.
    pub const LOST_IN_PUSH: usize = 40;
    /// Offset of the `lost_in_pop` counter.
    pub const LOST_IN_POP: usize = 48;
    /// Offset of the participant count (u32).
    pub const PARTICIPANTS: usize = 56;
    /// Bytes per participant entry.
    pub const ENTRY: usize = 32;
    /// Offset of the `not_empty` wait word.
    pub const NOT_EMPTY: usize = 384;
    /// Offset of the `not_full` wait word.
    pub const NOT_FULL: usize = 512;

    const OWNER_BITS: u32 = 13;
    const STATE_BITS: u32 = 3;

    /// Slot states (5–7 are reserved).
    pub const FREE: u64 = 0;
    /// A producer writes the slot.
    pub const WRITING: u64 = 1;
    /// The slot holds a published message.
    pub const FULL: u64 = 2;
    /// A consumer reads the slot.
    pub const READING: u64 = 3;
    /// A push was given up; the next consumer frees the slot.
    pub const ABANDONED: u64 = 4;

    /// `lap (48) | state (3) | owner (13)`.
    pub fn slot_word(lap: u64, state: u64, owner: u64) -> u64 {
        (lap << (OWNER_BITS + STATE_BITS))
            | ((state & ((1 << STATE_BITS) - 1)) << OWNER_BITS)
            | (owner & ((1 << OWNER_BITS) - 1))
    }

    /// The state field of a slot word.
    pub fn state_of(word: u64) -> u64 {
        (word >> OWNER_BITS) & ((1 << STATE_BITS) - 1)
    }

    /// `k`: stamps are `lap << k | index`.
    pub fn index_bits(capacity: usize) -> u32 {
        capacity.next_power_of_two().trailing_zeros()
    }

    /// The stamp of absolute position `pos` (positions count 0, 1, 2, ... from init).
    pub fn stamp(capacity: usize, pos: u64) -> u64 {
        let cap = capacity as u64;
        ((pos / cap) << index_bits(capacity)) | (pos % cap)
    }

    /// The lap of a stamp.
    pub fn lap_of(capacity: usize, stamp: u64) -> u64 {
        stamp >> index_bits(capacity)
    }

    /// `round_up(16 + max_message_len, 8)`.
    pub fn slot_stride(max_message_len: usize) -> usize {
        (SLOT_HEADER + max_message_len).next_multiple_of(8)
    }

    /// Offset of slot `index` of a queue with a table of `participants` entries.
    pub fn slot(participants: usize, max_message_len: usize, index: usize) -> usize {
        HEADER + participants * ENTRY + index * slot_stride(max_message_len)
    }

    /// Offset of participant entry `index` (its word; the identity follows).
    pub fn entry(index: usize) -> usize {
        HEADER + index * ENTRY
    }

    /// An entry word: `pid (32) | generation (30) | state (2)`; states 0 free, 1 alive,
    /// 2 repairing (3 unused).
    pub fn entry_word(pid: u32, generation: u32, state: u8) -> u64 {
        ((pid as u64) << 32) | (((generation as u64) & ((1 << 30) - 1)) << 2) | (state as u64 & 3)
    }
}

/// A private copy of a message a closure or repair hook sees (all of it, through
/// [`ipc_core::SlotReader::read`]).
pub fn copy_out(message: &ipc_core::SlotReader<'_>) -> Vec<u8> {
    let mut copy = vec![0; message.len()];
    assert_eq!(message.read(&mut copy), message.len());
    copy
}

/// A handle the targets claim through: the anonymous view, or a registered participant.
pub enum Handle<'a> {
    /// `ByteQueue` itself: claims record no owner.
    Anonymous(ipc_core::ByteQueue<'a>),
    /// A participant's one handle.
    Member(ipc_core::Registered<'a>),
}

impl<'a> Handle<'a> {
    /// The anonymous view.
    pub fn queue(&self) -> &ipc_core::ByteQueue<'a> {
        match self {
            Handle::Anonymous(q) => q,
            Handle::Member(m) => m.queue(),
        }
    }

    /// The participant id, if registered.
    pub fn participant(&self) -> Option<ipc_core::ParticipantId> {
        match self {
            Handle::Anonymous(_) => None,
            Handle::Member(m) => Some(m.participant()),
        }
    }

    /// `try_push` through this handle.
    pub fn try_push(&self, message: &[u8]) -> Result<(), ipc_core::PushError> {
        match self {
            Handle::Anonymous(q) => q.try_push(message),
            Handle::Member(m) => m.try_push(message),
        }
    }

    /// `try_push_with` through this handle.
    pub fn try_push_with(
        &self,
        len: usize,
        fill: impl FnOnce(&mut ipc_core::SlotWriter<'_>),
    ) -> Result<(), ipc_core::PushError> {
        match self {
            Handle::Anonymous(q) => q.try_push_with(len, fill),
            Handle::Member(m) => m.try_push_with(len, fill),
        }
    }

    /// `try_push_many` through this handle.
    pub fn try_push_many<M: AsRef<[u8]>>(
        &self,
        messages: &[M],
    ) -> Result<usize, ipc_core::PushError> {
        match self {
            Handle::Anonymous(q) => q.try_push_many(messages),
            Handle::Member(m) => m.try_push_many(messages),
        }
    }

    /// `try_pop_many` through this handle.
    pub fn try_pop_many(
        &self,
        max: usize,
        room: usize,
        read: impl FnMut(usize, &ipc_core::SlotReader<'_>),
    ) -> Result<usize, ipc_core::PopError> {
        match self {
            Handle::Anonymous(q) => q.try_pop_many(max, room, read),
            Handle::Member(m) => m.try_pop_many(max, room, read),
        }
    }

    /// `try_pop` through this handle.
    pub fn try_pop(&self, buf: &mut [u8]) -> Result<usize, ipc_core::PopError> {
        match self {
            Handle::Anonymous(q) => q.try_pop(buf),
            Handle::Member(m) => m.try_pop(buf),
        }
    }

    /// `try_pop_with` through this handle.
    pub fn try_pop_with<R>(
        &self,
        read: impl FnOnce(&ipc_core::SlotReader<'_>) -> R,
    ) -> Result<R, ipc_core::PopError> {
        match self {
            Handle::Anonymous(q) => q.try_pop_with(read),
            Handle::Member(m) => m.try_pop_with(read),
        }
    }
}
