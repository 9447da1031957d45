//! [`ForkCall`]: a call of a plain `fn` that travels to a forked child as four numbers, the way
//! a process pool sends its tasks to its workers.
//!
//! A child made by `fork(2)` runs the same program image at the same addresses as its parent,
//! so the address of a function in the parent names the same function in the child. Turning a
//! number back into a function pointer is what needs `unsafe`, and a number read from shared
//! memory can be anything; this module makes that conversion sound for numbers that were made
//! by [`ForkCall::new`] in a process that holds the same [`CallKey`]:
//!
//! - The four numbers are the addresses of a monomorphised entry point, of the caller's `shim`
//!   and of the caller's `func`, plus a **tag**: a keyed hash of the three addresses (std's
//!   `RandomState` hasher, SipHash-1-3 today, with the 128-bit random key of a [`CallKey`],
//!   drawn from the OS). The key never leaves the processes' private
//!   memory: a child inherits it by `fork`, nobody else has it.
//! - [`ForkCall::from_bits`] recomputes the tag and refuses numbers whose tag does not match.
//!   Numbers that do match were made by `new` from real function pointers of matching types,
//!   by this process or a relative forked with the key (unless someone guessed a 64-bit tag:
//!   probability 2⁻⁶⁴ per try; a process that can write our private memory can do worse
//!   anyway).
//!
//! What remains assumed: a function address is valid in every process that shares the
//! program image: don't send a `fn` from a library loaded with `dlopen` after the child was
//! forked, or unloaded since. Since that rests on the caller, the module is private to the
//! crate: only the pool uses it, and it sends the `fn`s its own safe API was given, to
//! children forked from the process that holds them.

// Unsafe here: checked addresses turned back into function pointers (`transmute`).
#![allow(unsafe_code)]

use std::fmt;
use std::hash::{BuildHasher, RandomState};

/// What a [`ForkCall`] runs in the receiving process: `shim(func, input, output)`.
///
/// The shim decodes `input`, calls `func`, and encodes the outcome into `output`; an `Err`
/// carries a message for the caller (e.g. "the arguments could not be decoded").
pub type Shim<A, R> = fn(fn(A) -> R, &[u8], &mut Vec<u8>) -> Result<(), String>;

/// The type-erased entry point: `erased::<A, R>(shim, func, input, output)`.
type Entry = fn(usize, usize, &[u8], &mut Vec<u8>) -> Result<(), String>;

/// The secret that makes [`ForkCall`] numbers unforgeable: 128 random bits, fresh for each
/// `new`. Give the same key (a clone, or the copy a forked child inherits) to the process that
/// makes calls and the processes that run them.
/// (A call sealed with one key is refused with another: see the tests.)
#[derive(Clone)]
pub struct CallKey(RandomState);

impl CallKey {
    /// A new random key.
    pub fn new() -> CallKey {
        CallKey(RandomState::new())
    }

    fn tag(&self, entry: usize, shim: usize, func: usize) -> u64 {
        self.0.hash_one((entry, shim, func))
    }
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
    input: &[u8],
    output: &mut Vec<u8>,
) -> Result<(), String> {
    // SAFETY: this function is only reached through `ForkCall::call` on a value from `new::<A,
    // R>` (in this process or one it shares the program image with, see the module docs):
    // `from_bits` refuses numbers whose keyed tag does not match, and `new` stores
    // `erased::<A, R>` together with a `Shim<A, R>` and an `fn(A) -> R` cast to `usize`. So both
    // numbers are addresses of functions of exactly these types; fn pointers and `usize` have
    // the same size.
    let (shim, func) = unsafe {
        (
            std::mem::transmute::<usize, Shim<A, R>>(shim),
            std::mem::transmute::<usize, fn(A) -> R>(func),
        )
    };
    shim(func, input, output)
}

impl ForkCall {
    /// A call of `shim(func, input, output)`, sealed with `key`.
    pub fn new<A, R>(key: &CallKey, shim: Shim<A, R>, func: fn(A) -> R) -> ForkCall {
        let entry = erased::<A, R> as Entry as usize;
        let (shim, func) = (shim as usize, func as usize);
        ForkCall {
            entry,
            shim,
            func,
            tag: key.tag(entry, shim, func),
        }
    }

    /// The call as four numbers, for a message.
    pub fn to_bits(self) -> [u64; 4] {
        [
            self.entry as u64,
            self.shim as u64,
            self.func as u64,
            self.tag,
        ]
    }

    /// The call [`to_bits`](Self::to_bits) made, if `bits` carry the tag `key` gives them;
    /// `None` for anything else (forged, corrupt, or sealed with another key).
    pub fn from_bits(key: &CallKey, bits: [u64; 4]) -> Option<ForkCall> {
        let [entry, shim, func, tag] = bits;
        let entry = usize::try_from(entry).ok()?;
        let shim = usize::try_from(shim).ok()?;
        let func = usize::try_from(func).ok()?;
        (key.tag(entry, shim, func) == tag).then_some(ForkCall {
            entry,
            shim,
            func,
            tag,
        })
    }

    /// Runs `shim(func, input, output)` in this process.
    ///
    /// # Errors
    ///
    /// Whatever the shim returns.
    pub fn call(self, input: &[u8], output: &mut Vec<u8>) -> Result<(), String> {
        // SAFETY: `self` was made by `new` (directly, or through `from_bits`, which checked
        // the keyed tag; see the module docs), which stored the address of an `Entry`.
        let entry = unsafe { std::mem::transmute::<usize, Entry>(self.entry) };
        entry(self.shim, self.func, input, output)
    }
}

#[cfg(test)]
mod tests {
    use super::{CallKey, ForkCall};
    use crate::sys::{fork_run, waitpid, WaitOptions, WaitStatus};

    fn shim(f: fn(u64) -> u64, input: &[u8], output: &mut Vec<u8>) -> Result<(), String> {
        let x = u64::from_le_bytes(input.try_into().map_err(|_| "eight bytes".to_string())?);
        output.extend_from_slice(&f(x).to_le_bytes());
        Ok(())
    }

    fn square(x: u64) -> u64 {
        x * x
    }

    #[test]
    fn a_call_runs_and_another_key_refuses_it() {
        let (key, other) = (CallKey::new(), CallKey::new());
        let bits = ForkCall::new(&key, shim, square).to_bits();
        assert!(ForkCall::from_bits(&other, bits).is_none());
        let call = ForkCall::from_bits(&key, bits).expect("made with this key");
        let mut out = Vec::new();
        call.call(&21u64.to_le_bytes(), &mut out).unwrap();
        assert_eq!(out, 441u64.to_le_bytes());
    }

    #[test]
    fn every_changed_number_is_refused() {
        let key = CallKey::new();
        let bits = ForkCall::new(&key, shim, square).to_bits();
        for i in 0..4 {
            for bit in [0, 1, 17, 63] {
                let mut forged = bits;
                forged[i] ^= 1 << bit;
                assert!(ForkCall::from_bits(&key, forged).is_none());
            }
        }
        let call = ForkCall::from_bits(&key, bits).unwrap();
        let mut out = Vec::new();
        assert!(call.call(b"short", &mut out).is_err());
    }

    #[test]
    fn a_forked_child_runs_the_call() {
        let key = CallKey::new();
        let bits = ForkCall::new(&key, shim, square).to_bits();
        let child_key = key.clone();
        let pid = fork_run(move || {
            let Some(call) = ForkCall::from_bits(&child_key, bits) else {
                return 2;
            };
            let mut out = Vec::new();
            match call.call(&12u64.to_le_bytes(), &mut out) {
                Ok(()) if out == 144u64.to_le_bytes() => 0,
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
