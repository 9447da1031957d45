//! Stamps (head/tail values) and slot words: their bit layout, decoded in one place.
//!
//! See `LAYOUT.md` for the picture. In short:
//!
//! * a **stamp** is `lap << k | index`, `k = log2(next_power_of_two(capacity))`;
//! * a **slot word** is `lap (48 | 29 bits) | state (3) | owner (13 | 0)`, high to low.

/// The width of stamps and slot words: 64 bits where the target has 64-bit atomics.
#[cfg(word64)]
pub type Word = u64;
/// The width of stamps and slot words: 32 bits on targets without 64-bit atomics.
#[cfg(not(word64))]
pub type Word = u32;

/// Signed twin of [`Word`], for lap distances.
#[cfg(word64)]
pub(crate) type SignedWord = i64;
#[cfg(not(word64))]
pub(crate) type SignedWord = i32;

/// Bits of the owner field (participant id; 0 = anonymous).
pub(crate) const OWNER_BITS: u32 = if Word::BITS == 64 { 13 } else { 0 };
const STATE_BITS: u32 = 3;

/// The most participants a queue may have: owner ids are 13 bits in a slot word, and 0
/// means "anonymous" (0 on targets without 64-bit atomics: no crash repair there).
pub const MAX_PARTICIPANTS: usize = (1 << OWNER_BITS) - 1;
/// Where the lap field starts in a slot word.
const LAP_SHIFT: u32 = OWNER_BITS + STATE_BITS;
/// Width of the lap field of a slot word: 48 on 64-bit targets, 29 on 32-bit ones.
pub(crate) const WORD_LAP_BITS: u32 = Word::BITS - LAP_SHIFT;
const OWNER_MASK: Word = (1 << OWNER_BITS) - 1;
const STATE_MASK: Word = (1 << STATE_BITS) - 1;

/// Fewest lap bits a queue may compare: keeps a lap distance of ±[`MAX_LAPS_AHEAD`]
/// representable.
const MIN_LAP_BITS: u32 = 8;

/// The largest capacity a ring may have.
pub const MAX_CAPACITY: usize = 1
    << (if Word::BITS == 64 {
        30
    } else {
        Word::BITS - MIN_LAP_BITS
    });

/// The largest maximum message length a [`crate::ByteQueue`] accepts (1 GiB).
pub const MAX_MESSAGE_LEN: usize = 1 << 30;

/// How many laps ahead of a freshly read hint a slot may legitimately be (the real
/// bound is 3, see `ring.rs`); beyond this, a slot is reported corrupt.
pub(crate) const MAX_LAPS_AHEAD: SignedWord = 16;

/// The owner recorded by an operation that did not say who it is.
pub(crate) const ANONYMOUS: Word = 0;

/// What a slot holds. The numbering is part of the shared-memory format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Empty, waiting for the producer of its lap.
    Free = 0,
    /// Claimed by a producer that is writing the payload.
    Writing = 1,
    /// Published: holds the message of its lap.
    Full = 2,
    /// Claimed by a consumer that is reading the payload.
    Reading = 3,
    /// A push given up after its claim (its fill closure panicked, or, with crash
    /// repair, its producer died): it keeps its place in the ring until the next
    /// consumer passes and frees it, so producers can never lap the consumers.
    Abandoned = 4,
}

/// Builds and takes apart slot words.
pub(crate) struct SlotWord;

impl SlotWord {
    #[inline(always)]
    pub(crate) const fn pack(lap: Word, state: State, owner: Word) -> Word {
        (lap << LAP_SHIFT) | ((state as Word) << OWNER_BITS) | (owner & OWNER_MASK)
    }

    /// The state, or `None` for a reserved (corrupt) encoding.
    #[inline(always)]
    pub(crate) const fn state(word: Word) -> Option<State> {
        match (word >> OWNER_BITS) & STATE_MASK {
            0 => Some(State::Free),
            1 => Some(State::Writing),
            2 => Some(State::Full),
            3 => Some(State::Reading),
            4 => Some(State::Abandoned),
            _ => None,
        }
    }

    #[inline(always)]
    pub(crate) const fn lap(word: Word) -> Word {
        word >> LAP_SHIFT
    }

    /// The owner recorded by a claim (0 = anonymous, or no claim).
    #[cfg(word64)]
    #[cfg_attr(all(loom, not(test)), allow(dead_code))]
    #[inline(always)]
    pub(crate) const fn owner(word: Word) -> Word {
        word & OWNER_MASK
    }
}

/// A ring's shape: capacity and how stamps split into lap and index. Computed once,
/// at construction, and copied into each handle (never re-read from shared memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    capacity: Word,
    /// `k`: stamps are `lap << k | index`.
    index_bits: u32,
    /// Laps as slot words hold them: `lap_bits` = min(word lap field, stamp lap bits).
    lap_mask: Word,
    /// `Word::BITS - lap_bits`: shifting a lap difference left by this much and back
    /// (arithmetically) sign-extends it from `lap_bits` bits.
    lap_cmp_shift: u32,
}

impl Geometry {
    /// The geometry for `capacity`, or `None` if it is 0 or above [`MAX_CAPACITY`].
    pub(crate) const fn new(capacity: usize) -> Option<Self> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return None;
        }
        let index_bits = capacity.next_power_of_two().trailing_zeros();
        let stamp_lap_bits = Word::BITS - index_bits;
        let lap_bits = if stamp_lap_bits < WORD_LAP_BITS {
            stamp_lap_bits
        } else {
            WORD_LAP_BITS
        };
        Some(Self {
            capacity: capacity as Word,
            index_bits,
            lap_mask: Word::MAX >> (Word::BITS - lap_bits),
            lap_cmp_shift: Word::BITS - lap_bits,
        })
    }

    #[inline(always)]
    pub(crate) const fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// The slot index of a stamp (may be ≥ capacity if the stamp is corrupt).
    #[inline(always)]
    pub(crate) const fn index(&self, stamp: Word) -> usize {
        (stamp & ((1 << self.index_bits) - 1)) as usize
    }

    /// The lap of a stamp, as slot words record it (modulo 2^lap_bits).
    #[inline(always)]
    pub(crate) const fn lap(&self, stamp: Word) -> Word {
        self.stamp_lap(stamp) & self.lap_mask
    }

    /// The lap after `lap`, as slot words record it.
    #[inline(always)]
    pub(crate) const fn next_lap(&self, lap: Word) -> Word {
        lap.wrapping_add(1) & self.lap_mask
    }

    /// All the lap bits of a stamp (`Word::BITS - k` of them).
    #[inline(always)]
    pub(crate) const fn stamp_lap(&self, stamp: Word) -> Word {
        stamp >> self.index_bits
    }

    /// The stamp of the position after `stamp`.
    #[inline(always)]
    pub(crate) const fn next(&self, stamp: Word) -> Word {
        if (self.index(stamp) as Word) + 1 < self.capacity {
            stamp.wrapping_add(1)
        } else {
            (self.stamp_lap(stamp).wrapping_add(1)) << self.index_bits
        }
    }

    /// The stamp of the first position at or after `stamp` that maps to `index`.
    #[cfg(all(test, not(loom)))]
    pub(crate) const fn stamp_at_or_after(&self, stamp: Word, index: usize) -> Word {
        let lap = if index >= self.index(stamp) {
            self.lap(stamp)
        } else {
            self.lap(stamp).wrapping_add(1)
        };
        (lap << self.index_bits) | index as Word
    }

    /// `lap(word) - lap`, sign-extended: 0 = this lap, 1 = one lap later, -1 = the
    /// previous lap. Correct across the wrap of either field.
    #[inline(always)]
    pub(crate) const fn lap_distance(&self, word: Word, lap: Word) -> SignedWord {
        ((SlotWord::lap(word).wrapping_sub(lap) << self.lap_cmp_shift) as SignedWord)
            >> self.lap_cmp_shift
    }

    /// How many positions lie from `head` to `tail`, clamped to `0..=capacity`
    /// (hints may lag or briefly cross).
    pub(crate) const fn distance(&self, head: Word, tail: Word) -> usize {
        // Stamp laps are `Word::BITS - k` bits wide: sign-extend their difference from there.
        let k = self.index_bits;
        let laps =
            ((self.stamp_lap(tail).wrapping_sub(self.stamp_lap(head)) << k) as SignedWord) >> k;
        let len = laps as i128 * self.capacity as i128 + self.index(tail) as i128
            - self.index(head) as i128;
        if len < 0 {
            0
        } else if len > self.capacity as i128 {
            self.capacity as usize
        } else {
            len as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_word_round_trips() {
        let w = SlotWord::pack(12345, State::Reading, 7);
        assert_eq!(SlotWord::state(w), Some(State::Reading));
        assert_eq!(SlotWord::lap(w), 12345);
        assert_eq!(
            SlotWord::pack(0, State::Free, ANONYMOUS),
            0,
            "all-zero must be FREE(0)"
        );
        assert_eq!(SlotWord::state(5 << OWNER_BITS), None);
    }

    #[test]
    fn stamps_skip_unused_indices() {
        let g = Geometry::new(3).unwrap();
        let mut s = 0;
        let mut seen = [(0, 0); 7];
        for entry in &mut seen {
            *entry = (g.lap(s), g.index(s));
            s = g.next(s);
        }
        assert_eq!(
            seen,
            [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0)]
        );
    }

    #[test]
    fn lap_distance_survives_field_wrap() {
        let g = Geometry::new(4).unwrap();
        let max_lap = Word::MAX >> 2;
        let word = SlotWord::pack(max_lap.wrapping_add(1), State::Free, 0);
        assert_eq!(g.lap_distance(word, max_lap), 1);
        assert_eq!(
            g.lap_distance(SlotWord::pack(max_lap, State::Full, 0), 0),
            -1
        );
        assert_eq!(g.lap_distance(SlotWord::pack(5, State::Full, 0), 5), 0);
    }

    #[test]
    fn distance_handles_stamp_wrap_and_crossing() {
        let g = Geometry::new(3).unwrap();
        let head = (Word::MAX >> 2) << 2 | 2; // last lap, index 2
        let tail = g.next(g.next(head));
        assert_eq!(g.distance(head, tail), 2);
        assert_eq!(g.distance(tail, head), 0, "crossed hints clamp to 0");
        assert_eq!(g.distance(0, 3 << 2), 3, "clamped to capacity");
    }

    #[test]
    fn geometry_rejects_bad_capacity() {
        assert!(Geometry::new(0).is_none());
        assert!(Geometry::new(MAX_CAPACITY + 1).is_none());
        assert!(Geometry::new(MAX_CAPACITY).is_some());
    }
}
