//! Payload bytes of a claimed slot: [`SlotReader`] and [`SlotWriter`], which copy them with
//! relaxed atomic word accesses, never through a Rust reference to the bytes; and
//! [`try_bulk_copy`], the `rep movsb` that host-runtime copies long messages with.
//!
//! A [`crate::ByteQueue`] may live in memory that other processes write, correctly or not:
//! a slot's payload can change under a reader whatever the ring says. A `&[u8]` into it
//! would be a data race (undefined behaviour, and a decoder's check-then-use would see two
//! different values); an atomic copy is not: at worst the copied bytes are garbled.
//!
//! Payloads start 8-aligned and every slot's payload room is a multiple of 8 bytes
//! (`byte_queue.rs` asserts both at compile time), so a copy moves whole [`Word`]s, the
//! last one possibly past the message's end but never past its slot.
// Raw pointers into the region: every access is an aligned atomic inside a slot.
#![allow(unsafe_code)]

use core::marker::PhantomData;
use core::mem::{size_of, MaybeUninit};
use core::ptr::NonNull;

use crate::sync::{AtomicWord, Ordering::Relaxed};
use crate::word::Word;

/// Bytes per copied word.
const W: usize = size_of::<Word>();

/// The payload of one claimed slot: `len` bytes from `start`.
///
/// Invariant (made by [`Payload::new`]'s caller): `start` is aligned to [`Word`], and the
/// `len.next_multiple_of(W)` bytes from it lie inside one slot of a live region, for as
/// long as the `Payload` is used.
#[derive(Clone, Copy)]
pub(crate) struct Payload {
    start: NonNull<AtomicWord>,
    len: usize,
}

impl Payload {
    /// # Safety
    ///
    /// `start` is aligned to [`Word`] and the `len.next_multiple_of(size_of::<Word>())`
    /// bytes from it lie in one slot of a region that outlives every use of the result.
    #[inline(always)]
    pub(crate) unsafe fn new(start: NonNull<u8>, len: usize) -> Self {
        Self {
            start: start.cast(),
            len,
        }
    }

    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Word `i` of the payload (`i * W < len` rounded up to `W`).
    #[inline(always)]
    fn word(&self, i: usize) -> &AtomicWord {
        debug_assert!(i * W < self.len.next_multiple_of(W));
        // SAFETY: callers pass `i < len.div_ceil(W)`, so the word lies in the slot (type
        // invariant), aligned (`start` is); any bits are a valid atomic integer.
        unsafe { self.start.add(i).as_ref() }
    }

    /// Word `i` of the payload, loaded (`i * W < len` rounded up to `W`).
    #[inline(always)]
    pub(crate) fn load(&self, i: usize) -> Word {
        self.word(i).load(Relaxed)
    }

    #[inline(always)]
    fn store(&self, i: usize, value: Word) {
        self.word(i).store(value, Relaxed);
    }

    /// Copies the first `dst.len()` (≤ `len`) bytes into `dst`: whole words, the last
    /// partial one by an overlapping store (no call to `memcpy`, whatever the length).
    #[inline(always)]
    pub(crate) fn read_prefix(&self, dst: &mut [u8]) {
        // SAFETY: `dst` is valid for writes of its `dst.len()` bytes.
        unsafe { self.read_prefix_raw(dst.as_mut_ptr(), dst.len()) }
    }

    /// Copies the first `dst.len()` (≤ `len`) bytes into `dst` and returns them, now
    /// initialised.
    #[inline(always)]
    pub(crate) fn read_prefix_uninit<'d>(&self, dst: &'d mut [MaybeUninit<u8>]) -> &'d mut [u8] {
        let n = dst.len();
        let d = dst.as_mut_ptr().cast::<u8>();
        // SAFETY: `dst` is valid for writes of `n` bytes (MaybeUninit<u8> has u8's layout).
        unsafe { self.read_prefix_raw(d, n) };
        // SAFETY: `read_prefix_raw` wrote every byte of `0..n` (see there); `dst` is
        // borrowed mutably for 'd.
        unsafe { core::slice::from_raw_parts_mut(d, n) }
    }

    /// Copies the first `n` (≤ `len`) bytes to `d`, writing every byte of `d..d + n`.
    ///
    /// # Safety
    ///
    /// `d` is valid for writes of `n` bytes.
    #[inline(always)]
    unsafe fn read_prefix_raw(&self, d: *mut u8, n: usize) {
        assert!(n <= self.len);
        let full = n / W;
        let mut last = 0;
        let mut i = 0;
        // Two words per store: a reader of the copy that loads 16 bytes at once (memcpy,
        // a decoder) then finds them in one store and need not wait for the stores to
        // reach the cache (a failed store-to-load forwarding costs ~15 cycles).
        while i + 1 < full {
            let (a, b) = (self.load(i), self.load(i + 1));
            // SAFETY: bytes `i * W..(i + 2) * W` lie in `d..d + n` (i + 1 < n / W).
            unsafe { store_pair(d.add(i * W), a, b) };
            last = b;
            i += 2;
        }
        if i < full {
            last = self.load(i);
            // SAFETY: bytes `i * W..(i + 1) * W` lie in `d..d + n` (i < n / W).
            unsafe { d.add(i * W).cast::<Word>().write_unaligned(last) };
        }
        let rest = n % W;
        if rest == 0 {
            return;
        }
        let next = self.load(full);
        if full > 0 {
            // The `W` bytes ending at `n`: the top `W - rest` bytes of `last`, then the
            // first `rest` of `next` (shifts on the little-endian value of the bytes).
            let tail = (last.to_le() >> (8 * rest)) | (next.to_le() << (8 * (W - rest)));
            // SAFETY: n ≥ W, so bytes `n - W..n` lie in `d..d + n`.
            unsafe { d.add(n - W).cast::<Word>().write_unaligned(tail.to_le()) };
        } else {
            let bytes = next.to_ne_bytes();
            // SAFETY: `d..d + n` (n = rest < W) is valid for writes.
            unsafe { copy_short_to(&bytes, d, rest) };
        }
    }

    /// Writes `src` (≤ `len` bytes) at the payload's start: whole words; the bytes of the
    /// last word past `src` are zeroed (they lie in the slot, past the message).
    #[inline(always)]
    pub(crate) fn write_prefix(&self, src: &[u8]) {
        let n = src.len();
        assert!(n <= self.len);
        let full = n / W;
        let s = src.as_ptr();
        for i in 0..full {
            // SAFETY: bytes `i * W..(i + 1) * W` lie in `src` (i < n / W).
            self.store(i, unsafe { s.add(i * W).cast::<Word>().read_unaligned() });
        }
        let rest = n % W;
        if rest == 0 {
            return;
        }
        let word = if full > 0 {
            // SAFETY: n ≥ W, so bytes `n - W..n` lie in `src`.
            let tail = unsafe { s.add(n - W).cast::<Word>().read_unaligned() };
            // Its last `rest` bytes, moved to the front (little-endian value), zeros after.
            (tail.to_le() >> (8 * (W - rest))).to_le()
        } else {
            let mut bytes = [0; W];
            copy_short(src, &mut bytes[..rest]);
            Word::from_ne_bytes(bytes)
        };
        self.store(full, word);
    }

    /// Writes `head` then `body` (together ≤ `len` bytes) at the payload's start, as
    /// [`write_prefix`](Self::write_prefix) writes their concatenation, without staging it:
    /// each word is stored once, built from the bytes it holds (past the word the head ends
    /// in, each is one unaligned load from `body`). Nothing is read from the slot.
    #[inline(always)]
    pub(crate) fn write_parts(&self, head: &[u8], body: &[u8]) {
        assert!(head.len() + body.len() <= self.len);
        if head.len() >= W {
            return self.write_parts_long_head(head, body);
        }
        self.write_parts_from(0, head, body);
    }

    /// [`write_parts`](Self::write_parts) of a head of a word or more: its whole words as
    /// they are, then the rest.
    #[cold]
    #[inline(never)]
    fn write_parts_long_head(&self, head: &[u8], body: &[u8]) {
        let skip = head.len() / W;
        let hp = head.as_ptr();
        for i in 0..skip {
            // SAFETY: bytes `i * W..(i + 1) * W` lie in `head` (i < head.len() / W).
            self.store(i, unsafe { hp.add(i * W).cast::<Word>().read_unaligned() });
        }
        self.write_parts_from(skip, &head[skip * W..], body);
    }

    /// Writes `head` (shorter than a word) then `body` from word `at` on (checked by the
    /// caller: `at * W + head.len() + body.len() ≤ len`).
    #[inline(always)]
    fn write_parts_from(&self, at: usize, head: &[u8], body: &[u8]) {
        let (h, b) = (head.len(), body.len());
        debug_assert!(h < W && at * W + h + b <= self.len);
        let n = h + b;
        let s = body.as_ptr();
        // Word 0: the head, then the first `W - h` bytes of `body` (fewer if it is shorter),
        // zeros after.
        let mut first = [0; W];
        copy_short(head, &mut first[..h]);
        if b >= W {
            // SAFETY: b ≥ W, so bytes `0..W` lie in `body`.
            let start = unsafe { s.cast::<Word>().read_unaligned() };
            // Its first `W - h` bytes moved up past the head (little-endian values).
            let first = Word::from_ne_bytes(first).to_le();
            self.store(at, (first | (start.to_le() << (8 * h))).to_le());
        } else {
            if n == 0 {
                return;
            }
            let k = (W - h).min(b);
            copy_short(body, &mut first[h..h + k]);
            self.store(at, Word::from_ne_bytes(first));
            if n <= W {
                return;
            }
        }
        // Word i ≥ 1 holds bytes `i * W - h..` of `body`.
        let full = n / W;
        for i in 1..full {
            // SAFETY: `i * W - h + W ≤ full * W - h ≤ n - h = b`: the bytes lie in `body`.
            self.store(at + i, unsafe {
                s.add(i * W - h).cast::<Word>().read_unaligned()
            });
        }
        let rest = n % W;
        if rest == 0 {
            return;
        }
        // The last `rest` bytes of `body`, zeros after (as `write_prefix`'s last word).
        let word = if b >= W {
            // SAFETY: b ≥ W, so bytes `b - W..b` lie in `body`.
            let tail = unsafe { s.add(b - W).cast::<Word>().read_unaligned() };
            (tail.to_le() >> (8 * (W - rest))).to_le()
        } else {
            let mut bytes = [0; W];
            copy_short(&body[b - rest..], &mut bytes[..rest]);
            Word::from_ne_bytes(bytes)
        };
        self.store(at + full, word);
    }

    /// Copies bytes `offset..offset + dst.len()` (in bounds) into `dst`.
    pub(crate) fn read_range(&self, offset: usize, dst: &mut [u8]) {
        if offset == 0 {
            return self.read_prefix(dst);
        }
        let end = offset + dst.len();
        assert!(end <= self.len);
        let mut at = offset;
        while at < end {
            let (i, skip) = (at / W, at % W);
            let take = (W - skip).min(end - at);
            let bytes = self.load(i).to_ne_bytes();
            dst[at - offset..at - offset + take].copy_from_slice(&bytes[skip..skip + take]);
            at += take;
        }
    }

    /// Writes `src` at `offset` (in bounds); a word only partly covered keeps its other
    /// bytes (read, merged and stored again: this thread holds the slot's claim).
    pub(crate) fn write_range(&self, offset: usize, src: &[u8]) {
        if offset == 0 {
            // Bytes past `src` in its last word are this slot's, past the range: keep
            // them too, unless the range reaches the message's end.
            if src.len() % W == 0 || src.len() == self.len {
                return self.write_prefix(src);
            }
        }
        let end = offset + src.len();
        assert!(end <= self.len);
        let mut at = offset;
        while at < end {
            let (i, skip) = (at / W, at % W);
            let take = (W - skip).min(end - at);
            let mut bytes = if take == W {
                [0; W]
            } else {
                self.load(i).to_ne_bytes()
            };
            bytes[skip..skip + take].copy_from_slice(&src[at - offset..at - offset + take]);
            self.store(i, Word::from_ne_bytes(bytes));
            at += take;
        }
    }
}

/// Copies `n` bytes from `src` to `dst` in one `rep movsb` where it can, and says whether it
/// did: on x86-64, whatever `n`; never on other targets, nor under Miri or loom (which cannot
/// run it). It pays from a few hundred bytes on (256 bytes: 4.8 against an atomic word loop's
/// 4.4 GB/s); for a few bytes its start-up costs more than a short loop of byte accesses,
/// which are the same size of access (host-runtime's `SharedBytes` copies under 32 bytes so).
/// To the language the copy is `n` relaxed atomic byte loads from `src` and as many relaxed
/// atomic byte stores to `dst`, in no order among themselves, all before any later store of
/// this thread; so it may copy bytes another process writes at the same time (they come out
/// garbled, never as undefined behaviour).
///
/// Why: an atomic word loop (what [`SlotReader`] and [`SlotWriter`] use, and the fallback here)
/// moves 8 bytes at a time, since the compiler may not merge atomic accesses into vector moves:
/// for long messages about half of `memcpy`'s speed (1 KiB from memory another core wrote:
/// 7-9 GB/s, `rep movsb` 12-15, `memcpy` 13-17; 1 MiB: 24-27, 25-40 and 42-45 GB/s, on a
/// 2-vCPU AMD EPYC VM with ERMS and FSRM). `memcpy` itself may not be used: a plain Rust read
/// of bytes another process may be writing is a data race (the compiler may assume they do
/// not change). An `asm!` block is opaque to the compiler, and the rule it must keep is that
/// what it does is something Rust operations could do: this one does what relaxed atomic byte
/// copies do (every byte an x86-64 load returns is a byte some store wrote; a string
/// instruction's stores are not reordered with later stores, Intel SDM vol. 3A,
/// "Memory-Ordering Model for String Operations"), so a Release store after it publishes the
/// bytes as after the word loop. It adds no new kind of access (it is not RFC 3301's
/// `AtomicPerByte`), only a faster way to make the relaxed atomic ones.
///
/// host-runtime's `SharedBytes` makes every byte copy with it (its blob chunks: long messages,
/// pool arguments and results). This crate's ring slots do not: their copies are all atomic
/// words, and a slot may be copied by two threads of one process at once if another process
/// breaks the protocol (rewrites a slot word under a writer), so one kind of access for every
/// copy of a slot is what keeps that garbling and not undefined behaviour (racing atomic
/// accesses of different sizes are). Taking it for long messages only, as `ByteQueue` did for
/// one release (1 KiB slots: 110 → 70 ns a message on one CPU), mixed the two.
///
/// # Safety
///
/// `src` must be valid for reads and `dst` for writes of `n` bytes, and the two ranges must not
/// overlap. In this process, any other access to either range during the copy must be atomic
/// (Rust's memory model also asks that racing atomic accesses have one size: the copy's are
/// bytes); other processes may do anything to them.
///
/// # Examples
///
/// ```
/// use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
///
/// // Memory other threads (or processes) reach only through atomics.
/// let shared: Vec<AtomicU64> = (0..64).map(|i| AtomicU64::new(i)).collect();
/// let mut copy = [0u8; 512];
/// // SAFETY: `shared` is 512 readable bytes, `copy` 512 writable ones, disjoint; every other
/// // access to `shared` is atomic.
/// if !unsafe { ipc_core::try_bulk_copy(shared.as_ptr().cast(), copy.as_mut_ptr(), 512) } {
///     for (d, w) in copy.chunks_exact_mut(8).zip(&shared) {
///         d.copy_from_slice(&w.load(Relaxed).to_ne_bytes());
///     }
/// }
/// assert_eq!(copy[8], 1); // word 1, little-endian
/// ```
#[inline(always)]
pub unsafe fn try_bulk_copy(src: *const u8, dst: *mut u8, n: usize) -> bool {
    #[cfg(all(target_arch = "x86_64", not(miri), not(loom)))]
    {
        // SAFETY: the caller guarantees the ranges (valid, disjoint, accessed atomically by
        // others); `rep movsb` touches exactly `src..src + n` and `dst..dst + n`, forwards
        // (the direction flag is clear at every `asm!` entry), and changes only the three
        // registers declared clobbered.
        unsafe {
            core::arch::asm!(
                "rep movsb",
                inout("rcx") n => _,
                inout("rsi") src => _,
                inout("rdi") dst => _,
                options(nostack, preserves_flags),
            );
        }
        true
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri), not(loom))))]
    {
        let _ = (src, dst, n);
        false
    }
}

/// Stores `a` then `b` (native byte order each) at `d`, unaligned: one 16-byte store on
/// x86-64 (SSE2 is part of its baseline), two word stores elsewhere.
///
/// # Safety
///
/// `d` is valid for writes of `2 * W` bytes.
#[inline(always)]
unsafe fn store_pair(d: *mut u8, a: Word, b: Word) {
    #[cfg(all(target_arch = "x86_64", word64))]
    {
        use core::arch::x86_64::{__m128i, _mm_set_epi64x, _mm_storeu_si128};
        // SAFETY: `d` is valid for 16 bytes (caller); `storeu` allows any alignment. The low
        // lane is stored first (x86 is little-endian), so `a`'s bytes come first.
        unsafe { _mm_storeu_si128(d.cast::<__m128i>(), _mm_set_epi64x(b as i64, a as i64)) }
    }
    #[cfg(not(all(target_arch = "x86_64", word64)))]
    // SAFETY: `d` is valid for `2 * W` bytes (caller); unaligned writes are allowed.
    unsafe {
        d.cast::<[Word; 2]>().write_unaligned([a, b])
    }
}

/// Copies `src[..n]` to `d..d + n` for `n < W`, in at most three moves (a variable-length
/// `copy_nonoverlapping` could become a call to `memcpy`).
///
/// # Safety
///
/// `d` is valid for writes of `n` bytes.
#[inline(always)]
unsafe fn copy_short_to(src: &[u8; W], d: *mut u8, n: usize) {
    debug_assert!(n < W);
    let s = src.as_ptr();
    let mut at = 0;
    // SAFETY: (each move) bytes `at..at + k` with `at + k ≤ n < W` lie in both `src` and
    // `d..d + n`; unaligned moves of plain integers are allowed.
    unsafe {
        if n & 4 != 0 {
            d.cast::<u32>()
                .write_unaligned(s.cast::<u32>().read_unaligned());
            at = 4;
        }
        if n & 2 != 0 {
            let v = s.add(at).cast::<u16>().read_unaligned();
            d.add(at).cast::<u16>().write_unaligned(v);
            at += 2;
        }
        if n & 1 != 0 {
            d.add(at).write(s.add(at).read());
        }
    }
}

/// `dst.copy_from_slice(&src[..dst.len()])` for `dst.len() < W`, in at most three moves.
#[inline(always)]
fn copy_short(src: &[u8], dst: &mut [u8]) {
    let n = dst.len();
    debug_assert!(n < W && src.len() >= n);
    let mut at = 0;
    if n & 4 != 0 {
        dst[..4].copy_from_slice(&src[..4]);
        at = 4;
    }
    if n & 2 != 0 {
        dst[at..at + 2].copy_from_slice(&src[at..at + 2]);
        at += 2;
    }
    if n & 1 != 0 {
        dst[at] = src[at];
    }
}

/// The message of a slot this thread has claimed to pop, as [`ByteQueue::try_pop_with`]
/// and the repair hooks see it: its length, and copies of its bytes.
///
/// The bytes are read with atomic loads from memory other processes may write, so two
/// reads may disagree if a process breaks the queue's protocol (never otherwise: the
/// claim keeps well-behaved processes off the slot). Copy what you need once, then
/// check and use the copy.
///
/// [`ByteQueue::try_pop_with`]: crate::ByteQueue::try_pop_with
///
/// # Examples
///
/// ```
/// # use ipc_core::{ByteQueue, Config, Region};
/// # let mut region = Box::new(Region::<4096>::new());
/// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16))?;
/// queue.try_push(b"id:42;rest")?;
/// let id = queue.try_pop_with(|message| {
///     let mut id = [0; 5];
///     message.read_at(0, &mut id);
///     (message.len(), id)
/// })?;
/// assert_eq!(id, (10, *b"id:42"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SlotReader<'s> {
    payload: Payload,
    _claim: PhantomData<&'s ()>,
}

impl SlotReader<'_> {
    #[inline(always)]
    pub(crate) fn new(payload: Payload) -> Self {
        Self {
            payload,
            _claim: PhantomData,
        }
    }

    #[inline(always)]
    pub(crate) fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The message's length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// Whether the message is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the message into the start of `dst`, as much as fits, and returns how many
    /// bytes it copied: `min(len, dst.len())`.
    #[inline]
    pub fn read(&self, dst: &mut [u8]) -> usize {
        let n = self.len().min(dst.len());
        self.payload.read_prefix(&mut dst[..n]);
        n
    }

    /// Copies the message into the start of `dst`, as much as fits, and returns the bytes
    /// copied (`min(len, dst.len())` of them): a private copy without zeroing `dst` first,
    /// e.g. into a stack buffer to decode from.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::mem::MaybeUninit;
    /// # use ipc_core::{ByteQueue, Config, Region};
    /// # let mut region = Box::new(Region::<4096>::new());
    /// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16))?;
    /// queue.try_push(b"42")?;
    /// let n: u32 = queue.try_pop_with(|message| {
    ///     let mut buf = [MaybeUninit::uninit(); 16];
    ///     let copy = message.read_uninit(&mut buf);
    ///     core::str::from_utf8(copy).ok()?.parse().ok()
    /// })?.unwrap();
    /// assert_eq!(n, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn read_uninit<'d>(&self, dst: &'d mut [MaybeUninit<u8>]) -> &'d mut [u8] {
        let n = self.len().min(dst.len());
        self.payload.read_prefix_uninit(&mut dst[..n])
    }

    /// Copies the message's bytes from `offset` on into the start of `dst`, as many as fit,
    /// and returns how many it copied (0 if `offset` is at or past the end).
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> usize {
        let n = self.len().saturating_sub(offset).min(dst.len());
        if n > 0 {
            self.payload.read_range(offset, &mut dst[..n]);
        }
        n
    }
}

impl core::fmt::Debug for SlotReader<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlotReader")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The payload of a slot this thread has claimed to push, as [`ByteQueue::try_push_with`]
/// hands it out: a message of a fixed length, written with atomic stores.
///
/// It starts with stale bytes (whatever an earlier message left); write all of it.
///
/// [`ByteQueue::try_push_with`]: crate::ByteQueue::try_push_with
///
/// # Examples
///
/// ```
/// # use ipc_core::{ByteQueue, Config, Region};
/// # let mut region = Box::new(Region::<4096>::new());
/// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16))?;
/// queue.try_push_with(6, |slot| {
///     slot.write_at(0, b"ab");
///     slot.write_at(2, &7u32.to_le_bytes());
/// })?;
/// let mut buf = [0; 16];
/// assert_eq!(queue.try_pop(&mut buf)?, 6);
/// assert_eq!(buf[..6], *b"ab\x07\0\0\0");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SlotWriter<'s> {
    payload: Payload,
    _claim: PhantomData<&'s mut ()>,
}

impl SlotWriter<'_> {
    #[inline(always)]
    pub(crate) fn new(payload: Payload) -> Self {
        Self {
            payload,
            _claim: PhantomData,
        }
    }

    #[inline(always)]
    pub(crate) fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The message's length in bytes (what the push asked for).
    #[inline]
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// Whether the message is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes `src` at the start of the message, as much as fits, and returns how many
    /// bytes it wrote: `min(len, src.len())`.
    #[inline]
    pub fn write(&mut self, src: &[u8]) -> usize {
        self.write_at(0, src)
    }

    /// Writes `head` then `body` at the start of the message, as one block: a message made of
    /// a short header (e.g. a length) and a body, written without first copying the two into
    /// one buffer. Bytes of the slot's last written word past the body are zeroed (they lie
    /// past the message, or are written next).
    ///
    /// # Panics
    ///
    /// If `head.len() + body.len()` is more than [`len`](Self::len).
    ///
    /// # Examples
    ///
    /// ```
    /// # use ipc_core::{ByteQueue, Config, Region};
    /// # let mut region = Box::new(Region::<4096>::new());
    /// let queue = ByteQueue::init(region.as_mut_slice(), Config::new(4, 16))?;
    /// queue.try_push_with(6, |slot| slot.write_parts(&[5], b"hello"))?;
    /// let mut buf = [0; 16];
    /// assert_eq!(queue.try_pop(&mut buf)?, 6);
    /// assert_eq!(buf[..6], *b"\x05hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn write_parts(&mut self, head: &[u8], body: &[u8]) {
        self.payload.write_parts(head, body);
    }

    /// Writes `src` at `offset`, as much as fits, and returns how many bytes it wrote (0 if
    /// `offset` is at or past the end). Bytes outside the range are left as they are.
    pub fn write_at(&mut self, offset: usize, src: &[u8]) -> usize {
        let n = self.len().saturating_sub(offset).min(src.len());
        if n > 0 {
            self.payload.write_range(offset, &src[..n]);
        }
        n
    }
}

impl core::fmt::Debug for SlotWriter<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlotWriter")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}
