//! Long copies between shared and private memory in one `rep movsb` (x86-64).
//!
//! [`SharedBytes`](super::SharedBytes) copies with relaxed atomic loads and stores, which the
//! compiler may not merge into vector moves: a loop of 8-byte moves. For long copies (a blob
//! chunk of a 1 KiB message, the megabyte of a pool task's argument) that loop runs at about
//! half of `memcpy`'s speed. A `rep movsb` here runs at `memcpy`'s (2 vCPUs, AMD EPYC with
//! ERMS and FSRM, a source another core just wrote, median GB/s of 300-200,000 copies):
//!
//! | bytes | 8-byte loop | `rep movsb` | glibc `memcpy` |
//! |---|---|---|---|
//! | 256 | 4.8 | 4.4 | 5.2 |
//! | 512 | 6.2 | 8.1 | 9.9 |
//! | 1,024 | 6.9-8.9 | 12.5-14.4 | 13.1-16.1 |
//! | 4,096 | 13.9-14.4 | 24.8-25.4 | 26.0-26.4 |
//! | 1 MiB | 24.2-26.7 | 25.4-39.9 | 42.4-44.9 |
//!
//! `memcpy` itself may not be used: a plain Rust read of bytes that another process may be
//! writing is a data race, undefined behaviour whatever the bytes (the compiler may assume
//! they do not change, and act on two reads that differ). An `asm!` block is opaque to the
//! compiler, and the rule it must keep is that what it does is something Rust operations could
//! do: this one does what `len` relaxed atomic byte copies do, the operations the word loops
//! use (on x86-64 every byte a load returns is a byte some store wrote; a string
//! instruction's stores are not reordered with later stores, Intel SDM vol. 3A,
//! "Memory-Ordering Model for String Operations"). Within this process the queue protocols
//! order every access to a chunk (leases, ring claims); only another process, broken or
//! hostile, can race with a copy, and then the copied bytes may be garbled, as with the word
//! loops. This is not `AtomicPerByte` (RFC 3301): it adds no new kind of access, it is a
//! faster way to make the relaxed atomic ones. Elsewhere, and under Miri, the word loops do it
//! all.

/// The shortest copy done in bulk: below it the word loop is as fast (table above).
pub(super) const MIN_LEN: usize = 256;

/// Copies `len` bytes from `src` to `dst` with one `rep movsb`: to the language, `len` relaxed
/// atomic byte loads from `src` and as many relaxed atomic byte stores to `dst`, in no
/// particular order among themselves, all before any later store of this thread.
///
/// # Safety
///
/// `src` must be valid for reads and `dst` for writes of `len` bytes, the two ranges must not
/// overlap, and any other access to either range during the copy must be atomic (as
/// [`SharedBytes`](super::SharedBytes)' are) or a read of a range being read here.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline]
pub(super) unsafe fn copy(src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: the caller guarantees the ranges (valid, disjoint, accessed atomically by
    // others); `rep movsb` touches exactly `src..src + len` and `dst..dst + len`, forwards
    // since the direction flag is clear at every `asm!` entry (Rust's inline assembly rules),
    // and changes only `rcx`, `rsi` and `rdi`, which are declared clobbered.
    unsafe {
        core::arch::asm!(
            "rep movsb",
            inout("rcx") len => _,
            inout("rsi") src => _,
            inout("rdi") dst => _,
            options(nostack, preserves_flags),
        );
    }
}
