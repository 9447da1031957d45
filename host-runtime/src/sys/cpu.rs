//! How many CPUs there are, and how many this process may run on.

// Unsafe here: `sysconf(3)` and `sched_getaffinity(2)` (FFI).
#![allow(unsafe_code)]

use std::io;
use std::num::NonZeroUsize;

use super::cvt;

/// `sysconf(_SC_NPROCESSORS_ONLN)`: the number of CPUs online in the system; see `sysconf(3)`.
///
/// This is what Python's `os.cpu_count()` (and so `multiprocessing.cpu_count()`) reports: all
/// the machine's online CPUs, whether or not this process may run on them (see
/// [`cpus_allowed`] for those).
///
/// # Errors
///
/// When the C library can't tell (it reads `/sys/devices/system/cpu/online`, then `/proc`).
///
/// # Examples
///
/// ```
/// let online = host_runtime::sys::cpus_online()?;
/// assert!(online.get() >= host_runtime::sys::cpus_allowed()?.get());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn cpus_online() -> io::Result<NonZeroUsize> {
    // SAFETY: `sysconf` takes an integer and reads no memory of ours.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n)
        .ok()
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| io::Error::other("sysconf(_SC_NPROCESSORS_ONLN) gave no count"))
}

/// `sched_getaffinity(0, …)`: the number of CPUs the calling thread may run on (its CPU
/// affinity mask, as set by `taskset` or `sched_setaffinity(2)`); see `sched_getaffinity(2)`.
///
/// This is Python 3.13's `os.process_cpu_count()`. It does not account for cgroup CPU quotas
/// (a container limited to 1.5 CPUs of 8 still reports 8); `std::thread::available_parallelism`
/// does. Counts up to 1024 CPUs (the size of glibc's `cpu_set_t`); on a larger machine the call
/// fails with `EINVAL`.
///
/// # Errors
///
/// `EINVAL` on a machine with more than 1024 CPUs; an error if the mask is empty.
///
/// # Examples
///
/// ```
/// assert!(host_runtime::sys::cpus_allowed()?.get() >= 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn cpus_allowed() -> io::Result<NonZeroUsize> {
    // SAFETY: `cpu_set_t` is a plain bit array for which all-zero bytes are a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed, for the whole call;
    // pid 0 is the calling thread.
    cvt(unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) })?;
    // SAFETY: `CPU_COUNT` only reads the initialised `set`.
    let n = unsafe { libc::CPU_COUNT(&set) };
    usize::try_from(n)
        .ok()
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| io::Error::other("sched_getaffinity gave an empty CPU mask"))
}

/// The CPU time the calling thread has used so far (user and system); see `clock_gettime(2)`.
/// For checks that a blocked call sleeps rather than spins.
///
/// # Errors
///
/// None expected on Linux (the clock always exists).
///
/// # Examples
///
/// ```
/// let t0 = host_runtime::sys::thread_cpu_time()?;
/// let mut x = 0u64;
/// for i in 0..1_000_000 { x = x.wrapping_add(std::hint::black_box(i)); }
/// assert!(host_runtime::sys::thread_cpu_time()? >= t0);
/// # let _ = x;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn thread_cpu_time() -> io::Result<std::time::Duration> {
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// The CPU time the whole process (every thread) has used so far, as
/// [`thread_cpu_time`] for one thread.
///
/// # Errors
///
/// None expected on Linux (the clock always exists).
pub fn process_cpu_time() -> io::Result<std::time::Duration> {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds: the clock every process of the machine
/// shares (in one time namespace; since boot, never set back), for the time stamps of a named
/// pool's status region.
/// 0 if the clock cannot be read (never on Linux).
pub(crate) fn monotonic_ns() -> u64 {
    cpu_clock(libc::CLOCK_MONOTONIC).map_or(0, |t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX))
}

fn cpu_clock(clock: libc::clockid_t) -> io::Result<std::time::Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` for the duration of the call.
    cvt(unsafe { libc::clock_gettime(clock, &mut ts) })?;
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(ts.tv_nsec).unwrap_or(0);
    Ok(std::time::Duration::new(secs, nanos))
}
