//! [`ForkCall`]: a call of a plain `fn` that travels to a worker process as four numbers, the
//! way a process pool sends its tasks to its workers.
//!
//! The three functions of a call (a monomorphised entry point, the caller's `shim`, the caller's
//! `func`) travel as their distances from a fixed function of this crate (an *anchor*). A child
//! made by `fork(2)` runs the same program image at the same addresses, and a child that
//! re-executed the same executable (`spawn`, `forkserver`) has it loaded as one block elsewhere
//! (ASLR moves a position-independent executable as a whole): either way the distance names the
//! same function. Turning a number back into a function pointer is what needs `unsafe`, and a
//! number read from shared memory can be anything; this module makes that conversion sound for
//! numbers that were made by [`ForkCall::new`] in a process that holds the same [`CallKey`]:
//!
//! - The fourth number is a **tag**: a keyed hash (SipHash-2-4) of the three distances, with the
//!   128-bit random key of a [`CallKey`] (`getrandom(2)`). The key never leaves the processes'
//!   private memory: a forked child inherits it by `fork`; an exec'd worker receives it in its
//!   arguments file (a private memory file only the parent and the child hold, or a descriptor
//!   sent over the fork server's socket), never through shared memory. Nobody else has it.
//! - [`ForkCall::from_bits`] recomputes the tag and refuses numbers whose tag does not match.
//!   Numbers that do match were made by `new` from real function pointers of matching types,
//!   by a process that holds the key (unless someone guessed a 64-bit tag: probability 2⁻⁶⁴ per
//!   try; a process that can write our private memory can do worse anyway).
//! - A key made [`portable`](CallKey::portable) (for workers that re-execute the program) seals
//!   only calls whose three functions, and the anchor, lie in the main executable
//!   (`ForkCall::new` fails otherwise): a shared library may load at another distance in another
//!   run. The worker checks that it runs the same executable file before it takes a task (as
//!   every spawned child does).
//!
//! What remains assumed: a function address is valid in every process that shares the
//! program image: don't send a `fn` from a library loaded with `dlopen` after the child was
//! forked, or unloaded since. Since that rests on the caller, the module is private to the
//! crate: only the pool uses it, and it sends the `fn`s its own safe API was given, to
//! children forked from the process that holds them or spawned from its executable.

// Unsafe here: checked addresses turned back into function pointers (`transmute`).
#![allow(unsafe_code)]

use std::fmt;
#[allow(deprecated)] // std's only keyed SipHash; its deprecation names no replacement in std.
use std::hash::{Hash, Hasher, SipHasher};

use super::exec::{anchor_addr, in_main_executable};

/// What a [`ForkCall`] runs in the receiving process: `shim(func, input, output)`.
///
/// The shim decodes `input`, calls `func`, and encodes the outcome into `output`; an `Err`
/// carries a message for the caller (e.g. "the arguments could not be decoded").
pub type Shim<A, R> = fn(fn(A) -> R, Input<'_>, &mut Output<'_>) -> Result<(), String>;

/// The type-erased entry point: `erased::<A, R>(shim, func, input, output)`.
type Entry = fn(usize, usize, Input<'_>, &mut Output<'_>) -> Result<(), String>;

/// A call's encoded input, in private memory: `head`, followed by `tail` if there is one.
///
/// A long message's last part may come in an allocation of its own (read there straight out of
/// shared memory), so that a byte payload at its end (a `Vec<u8>` argument) can become the
/// value as it is, with no second copy; the shim decodes the two parts as if laid end to end.
#[derive(Debug)]
pub struct Input<'a> {
    /// The first part (all of it when `tail` is `None`).
    pub head: &'a [u8],
    /// The rest, if the input came in two parts.
    pub tail: Option<Vec<u8>>,
}

impl<'a> Input<'a> {
    /// An input in one part.
    pub fn whole(bytes: &'a [u8]) -> Input<'a> {
        Input {
            head: bytes,
            tail: None,
        }
    }
}

/// Where a shim writes its output: bytes appended to `head`, followed by `tail` if it sets one
/// (a long byte payload at the end of the output, moved there instead of copied).
#[derive(Debug)]
pub struct Output<'a> {
    /// The first part: what the shim appends to.
    pub head: &'a mut Vec<u8>,
    /// The rest, if the shim left its last part where it was.
    pub tail: Option<Vec<u8>>,
}

impl<'a> Output<'a> {
    /// An output that appends to `head`, with no tail yet.
    pub fn new(head: &'a mut Vec<u8>) -> Output<'a> {
        Output { head, tail: None }
    }
}

/// The secret that makes [`ForkCall`] numbers unforgeable: 128 random bits (`getrandom(2)`),
/// fresh for each `new`. Give the same key (a clone, the copy a forked child inherits, or
/// [`to_parts`](Self::to_parts) sent through private memory) to the process that makes calls
/// and the processes that run them.
/// (A call sealed with one key is refused with another: see the tests.)
#[derive(Clone)]
pub struct CallKey {
    k0: u64,
    k1: u64,
    /// Seals only calls that name the same functions in another run of the executable.
    portable: bool,
}

impl CallKey {
    /// A new random key, for calls run by forked children.
    pub fn new() -> CallKey {
        let (k0, k1) = random_pair();
        CallKey {
            k0,
            k1,
            portable: false,
        }
    }

    /// A new random key whose calls can also run in a process that re-executed this program
    /// (see the [module docs](self)).
    pub fn portable() -> CallKey {
        CallKey {
            portable: true,
            ..CallKey::new()
        }
    }

    /// The key's bits and whether it is portable, to hand to a worker through *private* memory
    /// only.
    pub fn to_parts(&self) -> (u64, u64, bool) {
        (self.k0, self.k1, self.portable)
    }

    /// The key [`to_parts`](Self::to_parts) gave.
    pub fn from_parts((k0, k1, portable): (u64, u64, bool)) -> CallKey {
        CallKey { k0, k1, portable }
    }

    fn tag(&self, entry: u64, shim: u64, func: u64) -> u64 {
        #[allow(deprecated)]
        let mut h = SipHasher::new_with_keys(self.k0, self.k1);
        (entry, shim, func).hash(&mut h);
        h.finish()
    }
}

/// 128 random bits from the kernel (`getrandom(2)`), or, should it fail (it does not on Linux
/// ≥ 3.17 once the pool is seeded), std's per-process random hasher keys, hashed.
fn random_pair() -> (u64, u64) {
    let mut buf = [0u8; 16];
    // SAFETY: `buf` is a valid, writable buffer of 16 bytes for the call.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n == 16 {
        let (a, b) = buf.split_at(8);
        return (
            u64::from_ne_bytes(a.try_into().expect("8 bytes")),
            u64::from_ne_bytes(b.try_into().expect("8 bytes")),
        );
    }
    use std::hash::BuildHasher;
    let s = std::hash::RandomState::new();
    (s.hash_one(1u8), s.hash_one(2u8))
}

impl Default for CallKey {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CallKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallKey(..)")
    }
}

/// A call of `shim(func, input, output)` that can be sent to a forked child as four `u64`s
/// ([`to_bits`](Self::to_bits)) and run there after [`from_bits`](Self::from_bits) checked it.
/// See the [module docs](self) for why this is sound.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ForkCall {
    entry: usize,
    shim: usize,
    func: usize,
    tag: u64,
}

impl fmt::Debug for ForkCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForkCall")
            .field("shim", &format_args!("{:#x}", self.shim))
            .field("func", &format_args!("{:#x}", self.func))
            .finish_non_exhaustive()
    }
}

/// Turns the two addresses back into the pointers [`ForkCall::new`] took, and calls.
fn erased<A, R>(
    shim: usize,
    func: usize,
    input: Input<'_>,
    output: &mut Output<'_>,
) -> Result<(), String> {
    // SAFETY: this function is only reached through `ForkCall::call` on a value from `new::<A,
    // R>` (in this process or one it shares the program image with, see the module docs):
    // `from_bits` refuses numbers whose keyed tag does not match, and `new` stores
    // `erased::<A, R>` together with a `Shim<A, R>` and an `fn(A) -> R` (as distances from the
    // anchor, turned back into this process's addresses by `from_bits`). So both numbers are
    // addresses of functions of exactly these types; fn pointers and `usize` have the same size.
    let (shim, func) = unsafe {
        (
            std::mem::transmute::<usize, Shim<A, R>>(shim),
            std::mem::transmute::<usize, fn(A) -> R>(func),
        )
    };
    shim(func, input, output)
}

/// Why [`ForkCall::new`] refused to seal a call with a portable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotPortable;

impl fmt::Display for NotPortable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a pool whose workers re-execute the program (spawn, forkserver) runs only \
             functions of the main executable, not of a shared library",
        )
    }
}

impl std::error::Error for NotPortable {}

/// The distance of `addr` from the anchor, as sent.
fn distance(addr: usize) -> u64 {
    addr.wrapping_sub(anchor_addr()) as u64
}

/// The address at distance `d` from this process's anchor.
fn address(d: u64) -> Option<usize> {
    Some(anchor_addr().wrapping_add(usize::try_from(d).ok()?))
}

impl ForkCall {
    /// A call of `shim(func, input, output)`, sealed with `key`.
    ///
    /// # Errors
    ///
    /// [`NotPortable`] if `key` is [portable](CallKey::portable) and a function (or this
    /// crate's anchor) is not in the main executable.
    pub fn new<A, R>(
        key: &CallKey,
        shim: Shim<A, R>,
        func: fn(A) -> R,
    ) -> Result<ForkCall, NotPortable> {
        let entry = erased::<A, R> as Entry as usize;
        let (shim, func) = (shim as usize, func as usize);
        if key.portable
            && ![anchor_addr(), entry, shim, func]
                .into_iter()
                .all(in_main_executable)
        {
            return Err(NotPortable);
        }
        Ok(ForkCall {
            entry,
            shim,
            func,
            tag: key.tag(distance(entry), distance(shim), distance(func)),
        })
    }

    /// The call as four numbers, for a message: the three distances from the anchor, the tag.
    pub fn to_bits(self) -> [u64; 4] {
        [
            distance(self.entry),
            distance(self.shim),
            distance(self.func),
            self.tag,
        ]
    }

    /// The call [`to_bits`](Self::to_bits) made, if `bits` carry the tag `key` gives them;
    /// `None` for anything else (forged, corrupt, or sealed with another key).
    pub fn from_bits(key: &CallKey, bits: [u64; 4]) -> Option<ForkCall> {
        let [entry, shim, func, tag] = bits;
        if key.tag(entry, shim, func) != tag {
            return None;
        }
        Some(ForkCall {
            entry: address(entry)?,
            shim: address(shim)?,
            func: address(func)?,
            tag,
        })
    }

    /// Runs `shim(func, input, output)` in this process.
    ///
    /// # Errors
    ///
    /// Whatever the shim returns.
    pub fn call(self, input: Input<'_>, output: &mut Output<'_>) -> Result<(), String> {
        // SAFETY: `self` was made by `new` (directly, or through `from_bits`, which checked
        // the keyed tag; see the module docs), which stored the address of an `Entry`.
        let entry = unsafe { std::mem::transmute::<usize, Entry>(self.entry) };
        entry(self.shim, self.func, input, output)
    }
}

#[cfg(test)]
mod tests {
    use super::{CallKey, ForkCall, Input, Output};
    use crate::sys::{fork_run, waitpid, WaitOptions, WaitStatus};

    fn shim(f: fn(u64) -> u64, input: Input<'_>, output: &mut Output<'_>) -> Result<(), String> {
        let x = u64::from_le_bytes(
            input
                .head
                .try_into()
                .map_err(|_| "eight bytes".to_string())?,
        );
        output.head.extend_from_slice(&f(x).to_le_bytes());
        Ok(())
    }

    /// Runs `call` on `input` (one part); the output.
    fn run(call: ForkCall, input: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        call.call(Input::whole(input), &mut Output::new(&mut out))?;
        Ok(out)
    }

    fn square(x: u64) -> u64 {
        x * x
    }

    #[test]
    fn a_call_runs_and_another_key_refuses_it() {
        let (key, other) = (CallKey::new(), CallKey::new());
        let bits = ForkCall::new(&key, shim, square).unwrap().to_bits();
        assert!(ForkCall::from_bits(&other, bits).is_none());
        let call = ForkCall::from_bits(&key, bits).expect("made with this key");
        assert_eq!(
            run(call, &21u64.to_le_bytes()).unwrap(),
            441u64.to_le_bytes()
        );
    }

    #[test]
    fn a_key_crosses_as_parts_and_calls_travel_as_distances() {
        let key = CallKey::portable();
        let bits = ForkCall::new(&key, shim, square).unwrap().to_bits();
        // What a worker that re-executed the program rebuilds from its arguments file.
        let theirs = CallKey::from_parts(key.to_parts());
        let call = ForkCall::from_bits(&theirs, bits).expect("the same key");
        assert_eq!(run(call, &3u64.to_le_bytes()).unwrap(), 9u64.to_le_bytes());
        // Distances from the anchor, not addresses: the function's own address is not sent.
        let f = square as fn(u64) -> u64 as usize;
        assert_eq!(bits[2], f.wrapping_sub(super::anchor_addr()) as u64);
        assert_ne!(bits[2], f as u64);
        // A portable key and a fork key never accept each other's calls.
        assert!(ForkCall::from_bits(&CallKey::new(), bits).is_none());
    }

    #[test]
    fn every_changed_number_is_refused() {
        let key = CallKey::new();
        let bits = ForkCall::new(&key, shim, square).unwrap().to_bits();
        for i in 0..4 {
            for bit in [0, 1, 17, 63] {
                let mut forged = bits;
                forged[i] ^= 1 << bit;
                assert!(ForkCall::from_bits(&key, forged).is_none());
            }
        }
        let call = ForkCall::from_bits(&key, bits).unwrap();
        assert!(run(call, b"short").is_err());
    }

    #[test]
    fn a_forked_child_runs_the_call() {
        let key = CallKey::new();
        let bits = ForkCall::new(&key, shim, square).unwrap().to_bits();
        let child_key = key.clone();
        let pid = fork_run(move || {
            let Some(call) = ForkCall::from_bits(&child_key, bits) else {
                return 2;
            };
            match run(call, &12u64.to_le_bytes()) {
                Ok(out) if out == 144u64.to_le_bytes() => 0,
                _ => 1,
            }
        })
        .unwrap();
        assert_eq!(
            waitpid(pid, WaitOptions::BLOCK).unwrap(),
            Some(WaitStatus::Exited(0))
        );
    }
}
