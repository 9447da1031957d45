//! [`cpu_count`] and [`process_cpu_count`]: Python's `os.cpu_count()` and (3.13)
//! `os.process_cpu_count()`.

use crate::sys;

/// The number of CPUs online in the system (`sysconf(_SC_NPROCESSORS_ONLN)`), at least 1:
/// Python's `multiprocessing.cpu_count()` (which is `os.cpu_count()`).
///
/// This counts the machine's CPUs, not those this process may use: a process pinned to two
/// CPUs of sixteen (`taskset`, a container's cpuset) still gets 16. To size a pool for what
/// the process can actually run on, use [`process_cpu_count`] (or
/// `std::thread::available_parallelism`, which also honours cgroup CPU quotas). If the count
/// can't be had (no `/sys` nor `/proc`), 1; Python raises `NotImplementedError` instead.
///
/// # Examples
///
/// ```
/// use host_runtime::process::{cpu_count, process_cpu_count};
///
/// assert!(cpu_count() >= 1);
/// assert!(process_cpu_count() <= cpu_count());
/// ```
pub fn cpu_count() -> usize {
    sys::cpus_online().map_or(1, |n| n.get())
}

/// The number of CPUs the calling thread may run on (its affinity mask,
/// `sched_getaffinity(2)`), at least 1: Python 3.13's `os.process_cpu_count()`.
///
/// Threads inherit the mask, and a forked child its forking thread's, so this is the process's
/// share unless a thread changed its own. CPU quotas of cgroups (a container limited to 1.5
/// CPUs) are not counted. Falls back to [`cpu_count`] if the mask can't be read (more than
/// 1024 CPUs).
///
/// # Examples
///
/// ```
/// assert!(host_runtime::process::process_cpu_count() >= 1);
/// ```
pub fn process_cpu_count() -> usize {
    sys::cpus_allowed().map_or_else(|_| cpu_count(), |n| n.get())
}
