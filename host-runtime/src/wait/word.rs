//! The one blocking loop on a shared [`WaitWord`]: try, back off ([`Policy::QUEUE`]: spin
//! briefly, yield the CPU a few times), then sleep in the kernel on the word until the attempt
//! succeeds or the deadline passes.

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use ipc_core::WaitWord;

use super::backoff::{woke_sleeper, Backoff, Policy};
use super::deadline::Deadline;
use crate::sys::futex::{futex_wait, futex_wake};
use crate::sys::monotonic_ns;

/// The first sleep of a [`block_on_marked`] wait whose mark failed (a waker may have missed it:
/// a put is being written where the get waits); it doubles up to [`BUSY_SLEEP_MAX`] each time
/// such a sleep runs its course, nobody waking the call (a put stopped mid-write), so such a
/// wait costs little CPU.
pub(super) const BUSY_SLEEP_MIN: Duration = Duration::from_micros(20);
pub(super) const BUSY_SLEEP_MAX: Duration = Duration::from_millis(10);

/// Futex sleeps in a row that may return at once (`EAGAIN`: the word moved) before a wait
/// sleeps a busy sleep regardless (see [`block_on_marked`]).
pub(super) const MOVED_STREAK: u32 = 16;

/// How long a call sleeps before it suspects a dead participant and calls its `on_stall`
/// (and then again every such interval): short enough that others resume well within a
/// second of a death, long enough that a blocked call costs nothing measurable (it wakes five
/// times a second, and looks at `/proc` only if the queue looks stuck).
pub(crate) const STALL_CHECK: Duration = Duration::from_millis(200);

/// Runs `attempt` until it returns `Some`, waiting on `word` in between, and returns that; or
/// returns `None` once `deadline` has passed (never before: the last attempt comes after the
/// deadline was seen to have passed on the monotonic clock).
///
/// `attempt` returns `None` for "must wait" (full, empty). It is tried once, then after each
/// step of a [`Backoff`] with [`Policy::QUEUE`] (an adaptive spin, longer just after this
/// thread woke a sleeper: see [`WAKE_LATENCY`](super::WAKE_LATENCY); then a few
/// `sched_yield`s), then under the [`WaitWord`] protocol: `prepare_wait`, re-try, sleep on
/// `seq` while it still holds the value seen (shared futex, the remaining time as timeout),
/// `finish_wait`. A wake-up, a timeout, `EAGAIN` or `EINTR` all lead to another attempt; a
/// signal never ends the wait early.
///
/// Once sleeping, `on_stall` runs every [`STALL_CHECK`] that passes without success: the
/// caller's chance to find and repair a dead participant that holds what it waits for (no one
/// notifies when a process dies).
#[inline(always)]
pub(crate) fn block_on<R>(
    wait: Wait<'_>,
    deadline: Deadline,
    attempt: impl FnMut() -> Option<R>,
    on_stall: impl FnMut(),
) -> Option<R> {
    block_on_marked(wait, deadline, attempt, || true, on_stall)
}

/// Runs `attempt` until it returns `Some`, waiting on `word` in between, and returns that: the
/// loop of the queues' blocking calls ([`Policy::QUEUE`], then futex sleeps on `word`), with
/// no deadline and no wait ledger, for a host that blocks on an ipc-core queue's
/// [`WaitWord`]s itself. Its wakers call [`notify`] after each event.
///
/// # Examples
///
/// ```
/// use host_runtime::wait::{notify, wait_on};
/// use ipc_core::WaitWord;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let word = WaitWord::new();
/// let ready = AtomicBool::new(false);
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         ready.store(true, Ordering::Release);
///         notify(&word);
///     });
///     wait_on(&word, || ready.load(Ordering::Acquire).then_some(()));
/// });
/// ```
pub fn wait_on<R>(word: &WaitWord, attempt: impl FnMut() -> Option<R>) -> R {
    let wait = Wait { word, ledger: None };
    match block_on(wait, Deadline::Never, attempt, || {}) {
        Some(r) => r,
        None => unreachable!("a wait without deadline ends only by success"),
    }
}

/// [`block_on`] for a wait whose wakers may use the fence-free
/// [`WaitWord::notify_marked`]: after registering and a failed attempt, the sleep is for as long
/// as needed only if `mark()` (e.g. `ByteQueue::mark_empty_wait`) returns `true`.
///
/// Otherwise the waker may have missed the registration: `mark()` fails while a put is being
/// written at the head (the slot says WRITING), and that put's fence-free wake check may come
/// before the registration is visible to it, so nobody would wake this call when the message
/// is published. So the call does not sleep then: it unregisters, yields the CPU (to the
/// writer, if it shares this core) and looks again, up to [`MARK_YIELDS`] times in a row;
/// only a mark that keeps failing beyond that (a put stopped mid-write: preempted for long,
/// killed, or memory written by a broken process) leads to a short sleep ([`BUSY_SLEEP_MIN`],
/// doubling up to [`BUSY_SLEEP_MAX`] each time one runs its course with nobody waking it).
#[inline(always)]
pub(crate) fn block_on_marked<R>(
    wait: Wait<'_>,
    deadline: Deadline,
    attempt: impl FnMut() -> Option<R>,
    mark: impl FnMut() -> bool,
    on_stall: impl FnMut(),
) -> Option<R> {
    block_on_marked_with(|| wait, deadline, attempt, mark, on_stall)
}

/// [`block_on_marked`] with the [`Wait`] made by `wait` only if the first attempt fails: the
/// fast path of a call that succeeds at once is that attempt and nothing else.
#[inline(always)]
pub(crate) fn block_on_marked_with<'w, R>(
    wait: impl FnOnce() -> Wait<'w>,
    deadline: Deadline,
    mut attempt: impl FnMut() -> Option<R>,
    mark: impl FnMut() -> bool,
    on_stall: impl FnMut(),
) -> Option<R> {
    if let Some(r) = attempt() {
        return Some(r);
    }
    if deadline.is_nowait() {
        return None;
    }
    wait_marked(wait(), deadline, attempt, mark, on_stall)
}

/// [`block_on`] with the [`Wait`] made by `wait` only if the first attempt fails.
#[inline(always)]
pub(crate) fn block_on_with<'w, R>(
    wait: impl FnOnce() -> Wait<'w>,
    deadline: Deadline,
    attempt: impl FnMut() -> Option<R>,
    on_stall: impl FnMut(),
) -> Option<R> {
    block_on_marked_with(wait, deadline, attempt, || true, on_stall)
}

/// Failed marks in a row after which a [`block_on_marked`] wait sleeps a short sleep instead of
/// yielding and looking again (see there).
pub(super) const MARK_YIELDS: u32 = 16;

/// The waiting part of [`block_on_marked`], after a first attempt failed: out of line, so that
/// the callers' fast path stays small.
#[inline(never)]
fn wait_marked<R>(
    wait: Wait<'_>,
    deadline: Deadline,
    mut attempt: impl FnMut() -> Option<R>,
    mut mark: impl FnMut() -> bool,
    mut on_stall: impl FnMut(),
) -> Option<R> {
    let mut backoff = Backoff::with_deadline(Policy::QUEUE, deadline);
    // On a busy machine a yield may give the core away for a whole time slice: past the
    // deadline, the backoff completes (the sleep loop below makes the last attempt).
    if let Some(r) = backoff.run(&mut attempt) {
        return Some(r);
    }
    // From here on the call sleeps: a pool worker shows `blocked` until it returns.
    let _blocked = Blocked::enter();
    let mut check_at = Instant::now() + STALL_CHECK;
    let mut busy_sleep = BUSY_SLEEP_MIN;
    // Sleeps in a row that returned at once because `seq` had moved (see below).
    let mut moved = 0;
    // Marks in a row that failed (see the doc).
    let mut unmarked = 0;
    loop {
        let seen = wait.prepare();
        if let Some(r) = attempt() {
            wait.finish();
            return Some(r);
        }
        let now = Instant::now();
        if let Deadline::At(at) = deadline {
            if now >= at {
                wait.finish();
                return None;
            }
        }
        if now >= check_at {
            wait.finish();
            on_stall();
            check_at = Instant::now() + STALL_CHECK;
            continue;
        }
        let mut timeout = match deadline {
            Deadline::At(at) => (at - now).min(check_at - now),
            Deadline::Never | Deadline::NoWait => check_at - now,
        };
        // Whether this sleep is a busy sleep (the mark failed): cut short to `busy_sleep`.
        let busy = !mark();
        if busy {
            unmarked += 1;
            if unmarked <= MARK_YIELDS {
                // A put is being written where we wait, and may not see us: let it finish
                // (it may be waiting for this core), then look again.
                wait.finish();
                count_mark_yield();
                thread::yield_now();
                continue;
            }
            timeout = timeout.min(busy_sleep);
            count_busy_sleep(timeout);
        } else {
            unmarked = 0;
        }
        // Every outcome (woken, EAGAIN: seq moved, ETIMEDOUT, EINTR) means: look again. The
        // remaining time is recomputed from the deadline on the next turn.
        count_sleep();
        let slept = futex_wait(wait.word.seq(), seen, Some(timeout));
        wait.finish();
        // A busy sleep grows only if it ran its course: the put where we wait stayed unfinished
        // all that time and nobody woke us. One cut short (woken, or `seq` had moved) slept
        // little or not at all, and says nothing of how long that put takes. (Doubled on every
        // turn, it reached `BUSY_SLEEP_MAX` within microseconds while other puts moved `seq`,
        // and the streak rule below then napped 10 ms with the queue full: two producers, one
        // preempted mid-put at the head, the other putting behind it; issue 17's 2→1 stream
        // lost half its rate.)
        let timed_out = slept
            .as_ref()
            .is_err_and(|e| e.kind() == io::ErrorKind::TimedOut);
        if busy && timed_out {
            busy_sleep = (busy_sleep * 2).min(BUSY_SLEEP_MAX);
        }
        // EAGAIN returns at once, without sleeping: `seq` moved between our look and the
        // sleep. Honest wakers move it once per event, and then the next attempt mostly
        // succeeds; a word that keeps moving while attempts keep failing (a process writing
        // the shared word, or a storm of wake-ups for others) would turn this loop into a
        // spin, so after a streak of them the call sleeps a busy sleep instead.
        if slept.is_err_and(|e| e.kind() == io::ErrorKind::WouldBlock) {
            moved += 1;
            if moved >= MOVED_STREAK {
                moved = 0;
                let nap = match deadline {
                    Deadline::At(at) => {
                        busy_sleep.min(at.saturating_duration_since(Instant::now()))
                    }
                    Deadline::Never | Deadline::NoWait => busy_sleep,
                };
                thread::sleep(nap);
                busy_sleep = (busy_sleep * 2).min(BUSY_SLEEP_MAX);
            }
        } else {
            moved = 0;
        }
    }
}

#[cfg(test)]
thread_local! {
    /// This thread's yields after a failed mark (see [`block_on_marked`]), for tests.
    static MARK_YIELDED: Cell<u32> = const { Cell::new(0) };
    /// This thread's futex sleeps in [`block_on_marked`], for tests.
    static SLEPT: Cell<u32> = const { Cell::new(0) };
    /// The longest busy sleep (after a failed mark) this thread asked for, for tests.
    static BUSY_LONGEST: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

#[inline(always)]
fn count_mark_yield() {
    #[cfg(test)]
    MARK_YIELDED.with(|n| n.set(n.get() + 1));
}

#[inline(always)]
fn count_busy_sleep(_timeout: Duration) {
    #[cfg(test)]
    BUSY_LONGEST.with(|n| n.set(n.get().max(_timeout)));
}

#[inline(always)]
fn count_sleep() {
    #[cfg(test)]
    SLEPT.with(|n| n.set(n.get() + 1));
}

/// Told when a blocking call of this thread starts sleeping and when it returns: how a pool
/// worker shows `blocked` (`pool/worker.rs` installs one around each task).
pub(crate) trait OnBlock: Sync {
    /// The thread is about to sleep inside one of our blocking calls.
    fn blocked(&self);
    /// That call returns (its sleeps are over).
    fn unblocked(&self);
}

thread_local! {
    /// This thread's [`OnBlock`] hook, if any: a blocking call without one pays a TLS load.
    static ON_BLOCK: Cell<Option<&'static dyn OnBlock>> = const { Cell::new(None) };
}

/// Installs `hook` for this thread's blocking calls (`None` removes it); returns the previous.
pub(crate) fn set_on_block(hook: Option<&'static dyn OnBlock>) -> Option<&'static dyn OnBlock> {
    ON_BLOCK.with(|cell| cell.replace(hook))
}

/// A blocking call's sleeping part, for the thread's [`OnBlock`] hook: `blocked` when made,
/// `unblocked` when dropped. Every sleeping loop holds one (queues and channels here, the
/// `sync` primitives in their `Sleeper`, `wait()` in its sleep loop).
pub(crate) struct Blocked(Option<&'static dyn OnBlock>);

impl Blocked {
    /// Tells the hook, if one is installed, that this thread sleeps from now on.
    #[inline]
    pub(crate) fn enter() -> Blocked {
        let hook = ON_BLOCK.with(Cell::get);
        if let Some(hook) = hook {
            hook.blocked();
        }
        Blocked(hook)
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        if let Some(hook) = self.0 {
            hook.unblocked();
        }
    }
}

/// A wait word to sleep on, and this process's counter of its sleepers on it in the queue's
/// wait ledger (`None` for an unregistered process).
///
/// A process killed while asleep never unregisters from the word: its waiter count would stay
/// up for ever, and every later put or get would make a wake system call for nobody. The
/// ledger says how many of the count are the dead process's, so its repair can take them out
/// (`WaitWord::finish_wait` once each). The order of the two counts makes a death between
/// them leave at most one sleeper too many, never one too few (which could lose a wake-up):
/// the word's count goes up first and down last.
#[derive(Clone, Copy)]
pub(crate) struct Wait<'a> {
    pub(crate) word: &'a WaitWord,
    pub(crate) ledger: Option<&'a AtomicU32>,
}

impl Wait<'_> {
    /// Registers a sleeper (`WaitWord::prepare_wait`, then the ledger) and returns the `seq` to
    /// sleep on.
    pub(crate) fn prepare(&self) -> u32 {
        let seen = self.word.prepare_wait();
        if let Some(count) = self.ledger {
            count.fetch_add(1, Relaxed);
        }
        seen
    }

    /// Unregisters the sleeper [`prepare`](Wait::prepare) registered.
    pub(crate) fn finish(&self) {
        if let Some(count) = self.ledger {
            count.fetch_sub(1, Relaxed);
        }
        self.word.finish_wait();
    }
}

/// Rate limit for the dead-participant check after failed non-blocking calls (a caller that
/// polls with `get_nowait` never sleeps in [`block_on`], so it would never check otherwise).
pub(crate) struct Stall {
    /// The `CLOCK_MONOTONIC` millisecond after which the next check is due.
    next_ms: AtomicU64,
}

impl Stall {
    pub(crate) fn new() -> Stall {
        Stall {
            next_ms: AtomicU64::new(0),
        }
    }

    /// Makes the next check due at once: the last one found a dead process, so another may
    /// not be far (a check costs only when it finds nothing).
    pub(crate) fn reset(&self) {
        self.next_ms.store(0, Relaxed);
    }

    /// Whether a check is due; if so, the next one is due a [`STALL_CHECK`] from now.
    pub(crate) fn due(&self) -> bool {
        // The machine's clock, not one counted from a first use: nothing lazily set that a
        // child forked mid-initialisation could wait on for ever.
        let now = monotonic_ns() / 1_000_000;
        let next = self.next_ms.load(Relaxed);
        now >= next
            && self
                .next_ms
                .compare_exchange(next, now + STALL_CHECK.as_millis() as u64, Relaxed, Relaxed)
                .is_ok()
    }
}

/// Wakes every waiter on `word` (after a repair, which may have unblocked any of them).
pub(crate) fn notify_all(word: &WaitWord) {
    if word.notify() {
        let _ = futex_wake(word.seq(), u32::MAX);
    }
}

/// Wakes one waiter on `word` after [`WaitWord::notify_marked`] (or a fused push such as
/// `ByteQueue::try_push_notify`) said someone waits. Returns `true` if it woke nobody (see
/// [`notify`]).
#[inline]
pub(crate) fn wake_one(word: &WaitWord) -> bool {
    match futex_wake(word.seq(), 1) {
        Ok(0) => true,
        Ok(_) => {
            woke_sleeper();
            false
        }
        Err(_) => false,
    }
}

/// Tells waiters on `word` that its condition may hold now; makes the wake system call only if
/// someone waits ([`WaitWord::notify`]). Returns `true` if the call woke nobody although the
/// word counted waiters: usually a waiter that had not yet gone to sleep, but perhaps one that
/// died asleep (see `Wait`), which the caller may want to look for.
///
/// A wake-up it makes counts for the waker's next wait (see
/// [`WAKE_LATENCY`](super::WAKE_LATENCY)).
#[inline]
pub fn notify(word: &WaitWord) -> bool {
    if word.notify() {
        // One waiter per event: each put (get) makes room for one get (put). A waiter that
        // wakes and loses the race re-checks and sleeps again; nobody is left asleep with an
        // item ready, because every later event wakes another.
        return wake_one(word);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Lock;
    use crate::Queue;
    use std::sync::atomic::AtomicUsize;

    /// Counts what it is told (leaked: a hook lives for ever).
    #[derive(Default)]
    struct Count {
        blocked: AtomicUsize,
        unblocked: AtomicUsize,
    }

    impl OnBlock for Count {
        fn blocked(&self) {
            self.blocked.fetch_add(1, Relaxed);
        }
        fn unblocked(&self) {
            self.unblocked.fetch_add(1, Relaxed);
        }
    }

    fn counts(c: &Count) -> (usize, usize) {
        (c.blocked.load(Relaxed), c.unblocked.load(Relaxed))
    }

    /// (yields after a failed mark, futex sleeps) of this thread so far.
    fn waits() -> (u32, u32) {
        (MARK_YIELDED.with(Cell::get), SLEPT.with(Cell::get))
    }

    /// Issue 17's latency case: the get found the ring empty because a put was being written
    /// at the head, so its mark failed; the put then publishes, and its fence-free wake check
    /// may not have seen the getter registered, so no wake-up comes. The get must not sleep
    /// then (it used to sleep a busy sleep, a message waiting all along): it looks again.
    #[test]
    fn a_failed_mark_looks_again_without_sleeping() {
        let word = WaitWord::new();
        let failed_marks = Cell::new(0u32);
        let before = waits();
        let got = block_on_marked(
            Wait {
                word: &word,
                ledger: None,
            },
            Deadline::Never,
            // Published once the getter's mark has failed (the put was mid-write then).
            || (failed_marks.get() >= 1).then_some(7),
            || {
                failed_marks.set(failed_marks.get() + 1);
                false
            },
            || {},
        );
        assert_eq!(got, Some(7));
        assert_eq!(failed_marks.get(), 1);
        let after = waits();
        assert_eq!(
            (after.0 - before.0, after.1 - before.1),
            (1, 0),
            "one yield, no sleep"
        );
        assert_eq!(word.waiters(), 0, "unregistered");
    }

    /// A mark that keeps failing (a put stopped mid-write) is not a spin: after `MARK_YIELDS`
    /// yields in a row the wait sleeps (short sleeps, see `BUSY_SLEEP_MIN`).
    #[test]
    fn a_mark_that_keeps_failing_ends_in_short_sleeps() {
        let word = WaitWord::new();
        let failed_marks = Cell::new(0u32);
        let before = waits();
        let got = block_on_marked(
            Wait {
                word: &word,
                ledger: None,
            },
            Deadline::Never,
            || (failed_marks.get() > MARK_YIELDS + 1).then_some(()),
            || {
                failed_marks.set(failed_marks.get() + 1);
                false
            },
            || {},
        );
        assert_eq!(got, Some(()));
        let after = waits();
        assert_eq!(after.0 - before.0, MARK_YIELDS, "yields, then sleeps");
        assert_eq!(after.1 - before.1, 2);
        assert_eq!(word.waiters(), 0, "unregistered");
    }

    /// Issue 17's 2→1 case: the put at the head is unfinished, so the mark keeps failing,
    /// while another producer keeps putting behind it, each put moving `seq` (the get is
    /// registered): every busy sleep returns at once (`EAGAIN`). They must not grow then, only
    /// with the naps of the `MOVED_STREAK` rule: they used to double on every turn, reaching
    /// `BUSY_SLEEP_MAX` within microseconds, and the first nap then slept 10 ms, the queue
    /// full and the preempted put long finished.
    #[test]
    fn busy_sleeps_cut_short_do_not_grow() {
        let word = WaitWord::new();
        let turns = Cell::new(0u32);
        BUSY_LONGEST.with(|n| n.set(Duration::ZERO));
        let got = block_on_marked(
            Wait {
                word: &word,
                ledger: None,
            },
            Deadline::Never,
            || {
                // Registered (a turn of the sleep loop): another put moves `seq` now.
                if word.waiters() > 0 {
                    assert!(word.notify());
                    turns.set(turns.get() + 1);
                }
                (turns.get() > MARK_YIELDS + 2 * MOVED_STREAK).then_some(())
            },
            || false,
            || {},
        );
        assert_eq!(got, Some(()));
        // Two naps (20 µs, then 40 µs) at most: no busy sleep asked for more than the last.
        let longest = BUSY_LONGEST.with(Cell::get);
        assert!(longest <= 2 * BUSY_SLEEP_MIN, "{longest:?}");
        assert_eq!(word.waiters(), 0, "unregistered");
    }

    #[test]
    fn the_hook_hears_each_sleeping_call_once_and_only_on_its_thread() {
        let count: &'static Count = Box::leak(Box::default());
        let q = Queue::<u8>::new(1).unwrap();
        let lock = Lock::new().unwrap();
        assert!(set_on_block(Some(count)).is_none());

        // A call that does not sleep says nothing.
        q.put(1).unwrap();
        assert_eq!(q.get().unwrap(), 1);
        assert_eq!(counts(count), (0, 0));

        // A get on an empty queue sleeps (until its deadline): once blocked, once unblocked.
        assert!(q.get_timeout(Duration::from_millis(30)).is_err());
        assert_eq!(counts(count), (1, 1));

        // A lock held by another thread: the acquire sleeps (many futex sleeps, one report).
        assert!(lock.acquire(true, None).unwrap());
        std::thread::scope(|s| {
            s.spawn(|| {
                // Another thread: no hook there.
                assert!(!lock.acquire(true, Some(Duration::from_millis(30))).unwrap());
            });
        });
        assert_eq!(counts(count), (1, 1));
        lock.release().unwrap();
        let held = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(lock.acquire(true, None).unwrap());
                held.wait();
                // Lets go once the main thread sleeps in its acquire.
                while count.blocked.load(Relaxed) < 2 {
                    std::thread::yield_now();
                }
                lock.release().unwrap();
            });
            held.wait();
            assert!(lock.acquire(true, Some(Duration::from_secs(60))).unwrap());
        });
        lock.release().unwrap();
        assert_eq!(counts(count), (2, 2));

        // `wait()` on an empty queue, until its timeout.
        assert!(crate::wait(&[&q], Some(Duration::from_millis(30))).is_empty());
        assert_eq!(counts(count), (3, 3));

        assert!(set_on_block(None).is_some());
        assert!(q.get_timeout(Duration::from_millis(5)).is_err());
        assert_eq!(counts(count), (3, 3));
    }
}
