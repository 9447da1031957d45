//! The blob pool of a queue: size classes of chunks for messages longer than the inline size,
//! with one **lease word** per chunk that says who holds it, so that no process's death can
//! leave a chunk out of circulation. The protocol and its crash argument are in `LAYOUT.md`
//! of this crate (*Blob chunks: leases*); in short:
//!
//! * producer: take a chunk (`FREE → HELD(me, n)`), write it, claim a ring slot, write the
//!   descriptor and `HELD(me, n) → RING(me, n)` inside that claim, publish;
//! * consumer, all inside its ring claim: `RING(p, n) → HELD(me, n)`, copy the chunk out,
//!   `→ FREE`, then release the ring slot;
//! * repair of a dead `X` (while its ring entry is still held): a descriptor `X` was reading
//!   → its lease back to `FREE` if it is still `RING(p, n)` or `HELD(X, n)`; a descriptor `X`
//!   was writing → `FREE` if its lease is exactly `RING(X, n)`; then every `HELD(X, _)` →
//!   `FREE`. `RING(X, _)` is never swept: its descriptor is published and a consumer frees it.
//!
//! Crash points (`ipc_core::crash::point`, for the fault-injection tests): a put passes
//! `blob.taken`, `blob.written`, then inside its ring claim `blob.described` and `blob.ringed`;
//! a get, inside its ring claim, `blob.leased`, `blob.read` and `blob.freed`.

use std::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};

use ipc_core::WaitWord;

use super::layout::{DESCRIPTOR_LEN, LEASES_AT};
use crate::shared::region::SharedBytes;
use crate::wait::notify;

/// A chunk's lease word: `nonce (49) | owner (13) | state (2)`; all-zero = free, so a fresh
/// mapping is all free.
///
/// * `FREE` (0): in the pool. Only the whole word 0 is free; a non-zero word with state 0
///   (written only by a broken process) is never taken.
/// * `HELD(owner, nonce)`: a process holds the chunk outside the ring (a producer writing it,
///   or a consumer copying it out), `owner` being its id in the ring's participant table
///   (0 = anonymous: not repairable).
/// * `RING(owner, nonce)`: its descriptor is in the ring (or being written into a ring slot
///   claimed by `owner`, the producer).
///
/// `nonce` names one long put: the header's nonce counter, taken once per put. A descriptor
/// carries the exact `RING` word its producer set, so a stale or torn descriptor cannot match
/// another put's lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lease(u64);

const STATE_BITS: u32 = 2;
const OWNER_BITS: u32 = 13;
const NONCE_SHIFT: u32 = STATE_BITS + OWNER_BITS;
/// Nonces are taken modulo 2^49.
pub(crate) const NONCE_MASK: u64 = (1 << (64 - NONCE_SHIFT)) - 1;
const HELD: u64 = 1;
const RING: u64 = 2;

const _: () = assert!(ipc_core::MAX_PARTICIPANTS < 1 << OWNER_BITS);

impl Lease {
    /// The free lease: the all-zero word.
    pub(crate) const FREE: Lease = Lease(0);

    const fn pack(state: u64, owner: u16, nonce: u64) -> Lease {
        Lease((nonce & NONCE_MASK) << NONCE_SHIFT | (owner as u64) << STATE_BITS | state)
    }

    /// `HELD(owner, nonce)`.
    pub(crate) const fn held(owner: u16, nonce: u64) -> Lease {
        Lease::pack(HELD, owner, nonce)
    }

    /// `RING(owner, nonce)`.
    pub(crate) const fn ring(owner: u16, nonce: u64) -> Lease {
        Lease::pack(RING, owner, nonce)
    }

    fn state(self) -> u64 {
        self.0 & ((1 << STATE_BITS) - 1)
    }

    /// Whether this is a `RING` word.
    pub(crate) fn is_ring(self) -> bool {
        self.state() == RING
    }

    /// Whether this is a `HELD` word.
    fn is_held(self) -> bool {
        self.state() == HELD
    }

    /// The owner field.
    pub(crate) fn owner(self) -> u16 {
        ((self.0 >> STATE_BITS) & ((1 << OWNER_BITS) - 1)) as u16
    }

    /// The nonce field.
    pub(crate) fn nonce(self) -> u64 {
        self.0 >> NONCE_SHIFT
    }
}

/// A blob descriptor, the ring message of a long message: where it lies and the lease word
/// its chunk must hold.
///
/// ```text
/// 0   class: u32 LE    size class
/// 4   index: u32 LE    chunk index
/// 8   len:   u32 LE    message length
/// 12  0:     u32       reserved
/// 16  lease: u64 LE    RING(producer, nonce), as the producer set it
/// ```
#[derive(Clone, Copy, Debug)]
pub(crate) struct Descriptor {
    pub(crate) class: u32,
    pub(crate) index: u32,
    pub(crate) len: u32,
    pub(crate) lease: Lease,
}

impl Descriptor {
    /// The descriptor's bytes.
    pub(crate) fn encode(self) -> [u8; DESCRIPTOR_LEN] {
        let mut bytes = [0; DESCRIPTOR_LEN];
        bytes[0..4].copy_from_slice(&self.class.to_le_bytes());
        bytes[4..8].copy_from_slice(&self.index.to_le_bytes());
        bytes[8..12].copy_from_slice(&self.len.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.lease.0.to_le_bytes());
        bytes
    }

    /// Reads a descriptor from a private copy of a ring message's first bytes.
    pub(crate) fn decode(word: &[u8; DESCRIPTOR_LEN]) -> Descriptor {
        let u32_at =
            |i: usize| u32::from_le_bytes([word[i], word[i + 1], word[i + 2], word[i + 3]]);
        let mut lease = [0u8; 8];
        lease.copy_from_slice(&word[16..24]);
        Descriptor {
            class: u32_at(0),
            index: u32_at(4),
            len: u32_at(8),
            lease: Lease(u64::from_le_bytes(lease)),
        }
    }
}

/// A blob size class: `count` chunks of `chunk_size` bytes, a lease word per chunk, and a
/// wait word for puts waiting for a free chunk.
///
/// A put takes a free chunk below the class's high-water mark if there is one (from where its
/// last take left off), so the memory committed for a class is that of the most of its
/// messages in flight at once.
pub(crate) struct Class {
    pub(crate) chunk_size: usize,
    pub(crate) count: usize,
    /// The wait word at 0, the lease words (`AtomicU64` each) from [`LEASES_AT`].
    control: SharedBytes,
    /// The chunk array: chunk `i` at `i * chunk_size`.
    pub(crate) chunks: SharedBytes,
    /// The region's header, holding this class's high-water mark at byte `high_at`.
    header: SharedBytes,
    high_at: usize,
    /// A wake-up for a freed chunk found nobody asleep although the wait word counted
    /// sleepers (see `wait::notify`): the queue may look for a process that died asleep.
    woke_nobody: AtomicBool,
    /// Where this process's next take starts looking, below the high-water mark: the chunk
    /// after its last take (a hint, private to the process; any value is safe).
    cursor: AtomicU32,
}

impl Class {
    /// The class over `control` (wait word and leases) and `chunks`, with its high-water
    /// mark at byte `high_at` of `header`.
    pub(crate) fn new(
        chunk_size: usize,
        count: usize,
        control: SharedBytes,
        chunks: SharedBytes,
        header: &SharedBytes,
        high_at: usize,
    ) -> Class {
        Class {
            woke_nobody: AtomicBool::new(false),
            cursor: AtomicU32::new(0),
            chunk_size,
            count,
            control,
            chunks,
            header: header.clone(),
            high_at,
        }
    }

    #[inline(always)]
    fn leases(&self) -> &[AtomicU64] {
        self.control.atomics(LEASES_AT, self.count)
    }

    /// Notified whenever a chunk becomes free; puts waiting for a chunk sleep on it.
    #[inline(always)]
    pub(crate) fn freed(&self) -> &WaitWord {
        &self.control.atomics::<WaitWord>(0, 1)[0]
    }

    fn high_water(&self) -> &AtomicU64 {
        self.header.u64_at(self.high_at)
    }

    /// Leases that may ever have been taken: the high-water mark, at most `count`.
    pub(crate) fn used(&self) -> usize {
        (self.high_water().load(Acquire) as usize).min(self.count)
    }

    /// Byte offset of chunk `index` in [`chunks`](Self::chunks).
    pub(crate) fn offset(&self, index: u32) -> usize {
        index as usize * self.chunk_size
    }

    /// Takes a free chunk as `held` (`FREE → held`), or `None` if every chunk is leased.
    ///
    /// The chunk this process took last comes first if it is free again (a request/reply
    /// reuses it while it is in cache); then the chunks below the high-water mark, from this
    /// process's cursor (the one after its last take) round to it; only if all of them are
    /// leased does the take go past the mark, to the lowest free chunk above it. So the mark still rises only when every
    /// chunk below it is in flight (the memory committed is that of the most messages in
    /// flight at once), and a stream that keeps the class full finds the chunk freed last
    /// (the oldest message's, right after its previous take) at its first look instead of
    /// scanning from 0 (issue 17, item 2: figures in `benches/benches/batch.rs`).
    #[inline]
    pub(crate) fn try_take(&self, held: Lease) -> Option<u32> {
        let leases = self.leases();
        let mut high = (self.high_water().load(Relaxed) as usize).min(self.count);
        let cursor = self.cursor.load(Relaxed) as usize;
        let from = if cursor < high { cursor } else { 0 };
        let take = |index: usize, lease: &AtomicU64| {
            // Acquire: pairs with the Release that freed the chunk (a consumer's or a
            // repairer's): the last reader's loads come before our writes.
            let taken = lease.load(Relaxed) == 0
                && lease.compare_exchange(0, held.0, Acquire, Relaxed).is_ok();
            if taken {
                self.cursor.store(index as u32 + 1, Relaxed);
            }
            taken
        };
        // The chunk this process took last, if it is free again: a request/reply (a pool's
        // tasks and results) reuses one chunk, still in cache, instead of cycling through every
        // chunk below the mark (1 MiB pool tasks: 17 % slower that way). In a stream that keeps
        // the class full it is still in flight: one look at a word beside the cursor's.
        if let Some(last) = cursor.checked_sub(1).filter(|&last| last < high) {
            if take(last, &leases[last]) {
                return Some(last as u32);
            }
        }
        // Below the mark: `from..high`, then `0..from` (`high` ≤ `count`, the leases' length).
        for index in (from..high).chain(0..from) {
            if take(index, &leases[index]) {
                return Some(index as u32);
            }
        }
        for (index, lease) in leases.iter().enumerate().skip(high) {
            if lease.load(Relaxed) != 0 {
                continue;
            }
            if index >= high {
                // Raised before the lease is taken, so a lease that is not free always lies
                // below the mark (the repair sweep and `free_count` look no further).
                // Release: pairs with the Acquire in `used()`.
                high = (self.high_water().fetch_max(index as u64 + 1, Release) as usize)
                    .max(index + 1);
            }
            if take(index, lease) {
                return Some(index as u32);
            }
        }
        None
    }

    /// [`try_take`](Self::try_take)'s first looks only: the chunk this process took last and
    /// the one at its cursor (chunk 0 once the cursor reached the high-water mark), for a put
    /// waiting for a chunk while it spins. In a stream that keeps the class full the cursor's
    /// chunk holds the oldest message in flight, the next one a consumer frees; a
    /// request/reply frees the one taken last. Two lease words instead of every one below the
    /// mark, but it can miss a free chunk elsewhere: a put must not sleep on a `None` from it
    /// (see `put_blob_with`).
    #[inline]
    pub(crate) fn try_take_next(&self, held: Lease) -> Option<u32> {
        let leases = self.leases();
        let high = (self.high_water().load(Relaxed) as usize).min(self.count);
        let cursor = self.cursor.load(Relaxed) as usize;
        let last = cursor.checked_sub(1).filter(|&last| last < high);
        let next = Some(if cursor < high { cursor } else { 0 }).filter(|&next| next < high);
        // `last` and `next` lie below `high` ≤ `count`, the leases' length.
        for index in [last, next].into_iter().flatten() {
            let lease = &leases[index];
            // Acquire: as in `try_take`.
            if lease.load(Relaxed) == 0
                && lease.compare_exchange(0, held.0, Acquire, Relaxed).is_ok()
            {
                self.cursor.store(index as u32 + 1, Relaxed);
                return Some(index as u32);
            }
        }
        None
    }

    /// Moves chunk `index`'s lease from `from` to `to`, for the one process that may move it
    /// now (a check, then a plain store: no read-modify-write); whether the lease held `from`.
    ///
    /// Only the take (`FREE → HELD`) races with other live processes. A `HELD(x, _)` lease is
    /// moved only by `x`, or by `x`'s repair once `x` is dead; a `RING(p, n)` lease only by
    /// the holder of the ring claim of the one slot that names it (the producer `p` while
    /// the slot is WRITING, then the consumer that claimed it), or by that claimer's repair
    /// once it is dead. So the caller must be `x`, or hold that claim; a repair, which acts
    /// for another process, uses [`free_if`](Self::free_if) instead.
    #[inline]
    pub(crate) fn hand_over(&self, index: u32, from: Lease, to: Lease) -> bool {
        self.leases().get(index as usize).is_some_and(|lease| {
            // Acquire: pairs with the Release store that set `from` (the producer's mark; the
            // chunk's bytes also come with the ring slot's publish).
            if lease.load(Acquire) != from.0 {
                return false;
            }
            // Release: a mark publishes the chunk's bytes with the lease; a move to FREE puts
            // the holder's accesses before the next taker's (its Acquire CAS in `try_take`).
            lease.store(to.0, Release);
            true
        })
    }

    /// Frees chunk `index`, held as `held` by this process, and wakes a put waiting for a
    /// chunk; whether the lease still said `held`.
    #[inline]
    pub(crate) fn release(&self, index: u32, held: Lease) -> bool {
        let freed = self.hand_over(index, held, Lease::FREE);
        if freed {
            self.wake();
        }
        freed
    }

    /// Wakes a put waiting for a chunk, noting if the wake-up found nobody.
    fn wake(&self) {
        if notify(self.freed()) {
            self.woke_nobody.store(true, Relaxed);
        }
    }

    /// Whether a wake-up found nobody asleep since the last call.
    pub(crate) fn woke_nobody(&self) -> bool {
        self.woke_nobody.load(Relaxed) && self.woke_nobody.swap(false, Relaxed)
    }

    /// Frees chunk `index` for a repair: CAS from exactly `seen` to `FREE` (so a repeated
    /// repair changes nothing twice), waking a put waiting for a chunk; whether it did.
    pub(crate) fn free_if(&self, index: u32, seen: Lease) -> bool {
        let freed = self.leases().get(index as usize).is_some_and(|lease| {
            // AcqRel: acquires the dead holder's last accesses, releases the chunk to the
            // next taker (its Acquire CAS in `try_take`).
            lease
                .compare_exchange(seen.0, Lease::FREE.0, AcqRel, Relaxed)
                .is_ok()
        });
        if freed {
            self.wake();
        }
        freed
    }

    /// Chunks free now: free leases below the high-water mark, and the untouched ones above.
    pub(crate) fn free_count(&self) -> usize {
        let used = self.used();
        let taken = self.leases()[..used]
            .iter()
            .filter(|lease| lease.load(Relaxed) != 0)
            .count();
        self.count - taken
    }

    /// Frees every chunk held (`HELD`, never `RING`) by the dead participant `owner`, for a
    /// repair that still holds `owner`'s ring entry; returns how many.
    pub(crate) fn sweep(&self, owner: u16) -> usize {
        let used = self.used();
        let mut freed = 0;
        for (index, lease) in self.leases()[..used].iter().enumerate() {
            let seen = Lease(lease.load(Acquire));
            if seen.is_held() && seen.owner() == owner && self.free_if(index as u32, seen) {
                freed += 1;
            }
        }
        freed
    }
}

/// Frees a chunk held by this process when dropped (unless disarmed): covers every error
/// path and a panic in a `fill`/`read` closure, and the normal end of a get.
pub(crate) struct LeaseGuard<'a> {
    pub(crate) class: &'a Class,
    pub(crate) index: u32,
    pub(crate) held: Lease,
    pub(crate) armed: bool,
}

impl Drop for LeaseGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.class.release(self.index, self.held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_words_pack_and_unpack() {
        assert_eq!(Lease::FREE.0, 0);
        let held = Lease::held(8191, NONCE_MASK);
        assert!(held.is_held() && !held.is_ring());
        assert_eq!((held.owner(), held.nonce()), (8191, NONCE_MASK));
        let ring = Lease::ring(3, NONCE_MASK + 5);
        assert!(ring.is_ring());
        assert_eq!((ring.owner(), ring.nonce()), (3, 4), "nonces wrap at 2^49");
        assert_ne!(Lease::held(0, 0), Lease::FREE);
    }

    #[test]
    fn descriptors_round_trip() {
        let d = Descriptor {
            class: 2,
            index: 77,
            len: 5000,
            lease: Lease::ring(12, 1 << 40),
        };
        let e = Descriptor::decode(&d.encode());
        assert_eq!((e.class, e.index, e.len, e.lease), (2, 77, 5000, d.lease));
    }
}
