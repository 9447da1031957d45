//! [`wait()`](crate::wait()): which of several sources are ready, in one wait — Python's
//! `multiprocessing.connection.wait` — and [`Waitable`], what a source is.
//!
//! The design is described in the [`wait` module docs](mod@super#waiting-on-several-sources-wait).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::thread::{self, Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::backoff::{Backoff, Policy};
use super::deadline::Deadline;
use super::word::{BUSY_SLEEP_MAX, BUSY_SLEEP_MIN, MOVED_STREAK, STALL_CHECK};
use crate::channel::{ByteReceiver, Chan, Receiver};
use crate::pipe::{Connection, PipeError};
use crate::process::{child_exits, notify_child_exit, JoinHandle, Process};
use crate::queue::{Queue, RawQueue};
use crate::sys;
use crate::sys::futex::{futex_wait, futex_waitv, FutexWait, FUTEX_WAITV_MAX};

/// The longest sleep of a `wait` without `futex_waitv` (see the module docs).
pub const FALLBACK_SLICE: Duration = Duration::from_millis(1);

/// Set once `futex_waitv` failed with `ENOSYS`: later waits go straight to the fallback.
static WAITV_MISSING: AtomicBool = AtomicBool::new(false);

#[cfg(test)]
thread_local! {
    /// Makes this thread's waits take the fallback, as without `futex_waitv`.
    static FORCE_FALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether `futex_waitv` is to be tried.
fn waitv_usable() -> bool {
    #[cfg(test)]
    if FORCE_FALLBACK.get() {
        return false;
    }
    !WAITV_MISSING.load(Relaxed)
}

/// Something [`wait()`](crate::wait()) can wait on: a [`Queue`](crate::Queue) or
/// [`RawQueue`](crate::RawQueue) (ready when a get would find a message), a channel
/// [`Receiver`](crate::channel::Receiver) or [`ByteReceiver`](crate::channel::ByteReceiver)
/// or a pipe [`Connection`](crate::pipe::Connection) (ready when a receive would not block: a
/// message, or every sender gone; a write-only connection never is, a closed one always), a
/// [`Process`](crate::Process) or [`JoinHandle`](crate::process::JoinHandle) (ready once the
/// child has exited).
///
/// Sealed: its methods are the crate's own; see the
/// [`wait` module docs](mod@crate::wait#adding-a-source) for what a source provides.
pub trait Waitable: sealed::Source {}

pub(crate) mod sealed {
    use super::{Armed, Arming};

    /// The crate-private side of [`Waitable`](super::Waitable).
    pub trait Source {
        /// Registers the caller as a sleeper on the source's word(s), then checks readiness:
        /// [`Armed::Ready`], or [`Armed::Pending`] after telling `arming` what to sleep on.
        /// Always followed by one [`disarm`](Source::disarm), whatever it returned.
        fn arm<'a>(&'a self, arming: &mut Arming<'a>) -> Armed;

        /// Undoes the registration of the last [`arm`](Source::arm).
        fn disarm(&self);

        /// A cheap look without registering, for the spin before the first sleep: `Some(true)`
        /// if the source may be ready (an `arm` then decides), `None` if it can't tell cheaply.
        fn hint(&self) -> Option<bool> {
            None
        }

        /// Runs every 200 ms while the caller sleeps with this source pending (e.g. a queue's
        /// look for dead participants, as a blocked get does).
        fn stalled(&self) {}
    }
}

/// What an `arm` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Armed {
    /// The source is ready.
    Ready,
    /// Not ready; the caller may sleep on the words given to [`Arming`].
    Pending,
}

/// What the pending sources of one round sleep on.
#[derive(Default)]
pub struct Arming<'a> {
    words: Vec<FutexWait<'a>>,
    /// Some source's wakers may have missed its registration: sleep a busy sleep at most.
    brief: bool,
    /// Pidfds of children with no other notification (see the module docs).
    pidfds: Vec<BorrowedFd<'a>>,
    /// Some pending source is a child without a pidfd: only the child-exit word tells.
    word_children: bool,
}

impl<'a> Arming<'a> {
    /// Sleep while `word` holds `expected` (shared futex). A word given twice is slept on once,
    /// with the first value given.
    pub fn sleep_on(&mut self, word: &'a AtomicU32, expected: u32) {
        if !self.words.iter().any(|w| std::ptr::eq(w.word(), word)) {
            self.words.push(FutexWait::new(word, expected));
        }
    }

    /// Sleep a busy sleep at most (20 µs doubling to 10 ms), then look again.
    pub fn sleep_briefly(&mut self) {
        self.brief = true;
    }

    /// Watch this pidfd with a helper thread while sleeping (see the module docs).
    fn watch(&mut self, pidfd: BorrowedFd<'a>) {
        self.pidfds.push(pidfd);
    }

    fn clear(&mut self) {
        self.words.clear();
        self.brief = false;
        self.pidfds.clear();
        self.word_children = false;
    }
}

/// Waits until at least one of `objects` is ready, or `timeout` passes (`None`: no limit), and
/// returns the indices of all that are ready, in order: Python's
/// `multiprocessing.connection.wait(object_list, timeout)`.
///
/// An empty result means the timeout passed (never before it, on the monotonic clock), as in
/// Python; `Some(Duration::ZERO)` only looks. Queues are ready when a get would find a message,
/// channel receivers and pipe connections when a receive would not block (a message, or
/// disconnection / end-of-file), processes when the child has exited (an unstarted
/// [`Process`] never is). Nothing is taken: call `get`/`recv`/`join` on the ready ones
/// (another thread or process may take a message first; then that get waits, or a
/// `get_nowait` says `Empty`).
///
/// One sleep on all the sources at once (`futex_waitv`); see the
/// [`wait` module docs](mod@crate::wait#waiting-on-several-sources-wait) for how each kind of
/// source wakes it, what it costs, and the fallback on kernels before 5.16. With no objects, sleeps until the timeout (for ever
/// without one), as Python does.
///
/// # Examples
///
/// ```
/// use host_runtime::{process, wait, Queue};
/// use std::time::Duration;
///
/// let (jobs, results) = (Queue::<u32>::new(8)?, Queue::<u32>::new(8)?);
/// let worker = process::start({
///     let (jobs, results) = (jobs.clone(), results.clone());
///     move || {
///         let n = jobs.get().unwrap();
///         results.put(n * n).unwrap();
///         "done".to_string()
///     }
/// })?;
/// jobs.put(12)?;
/// // Whichever comes first: a result, or the worker's end.
/// let ready = wait(&[&results, &worker], Some(Duration::from_secs(60)));
/// assert!(!ready.is_empty());
/// assert_eq!(results.get()?, 144);
/// assert_eq!(worker.join()?, "done");
/// // Nothing more will come: an empty result once the timeout has passed.
/// assert!(wait(&[&results], Some(Duration::from_millis(10))).is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Channels and pipes: ready on a message, and on disconnection (end-of-file):
///
/// ```
/// use host_runtime::channel::{self, TryRecvError};
/// use host_runtime::{pipe::pipe, wait};
///
/// let (tx, rx) = channel::channel::<u8>(4)?;
/// let (a, b) = pipe(true)?;
/// b.send_bytes(b"hi")?;
/// assert_eq!(wait(&[&rx, &a], None), [1]);
/// assert_eq!(a.recv_bytes()?, b"hi");
/// drop(tx); // the last sender
/// assert_eq!(wait(&[&rx, &a], None), [0]);
/// assert!(matches!(rx.try_recv(), Err(TryRecvError::Disconnected)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn wait(objects: &[&dyn Waitable], timeout: Option<Duration>) -> Vec<usize> {
    let deadline = Deadline::within(timeout);
    let mut arming = Arming::default();
    let ready = round(objects, &mut arming);
    disarm(objects);
    if !ready.is_empty() || deadline.has_passed() {
        return ready;
    }
    if objects.is_empty() {
        sleep_until(deadline);
        return ready;
    }
    // The spin of a blocked get, on the sources that can be looked at cheaply.
    if objects.iter().any(|o| o.hint().is_some()) {
        let mut backoff = Backoff::with_deadline(Policy::QUEUE, deadline);
        let hinted = backoff.run(|| objects.iter().any(|o| o.hint() == Some(true)).then_some(()));
        if hinted.is_some() {
            let ready = round(objects, &mut arming);
            disarm(objects);
            if !ready.is_empty() {
                return ready;
            }
        }
    }
    thread::scope(|scope| sleep_loop(scope, objects, deadline))
}

/// Arms every source; returns the ready ones. The caller disarms them all.
fn round<'a>(objects: &[&'a dyn Waitable], arming: &mut Arming<'a>) -> Vec<usize> {
    arming.clear();
    let mut ready = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        if o.arm(arming) == Armed::Ready {
            ready.push(i);
        }
    }
    ready
}

fn disarm(objects: &[&dyn Waitable]) {
    for o in objects {
        o.disarm();
    }
}

fn sleep_until(deadline: Deadline) {
    loop {
        match deadline.remaining() {
            Some(Duration::ZERO) => return,
            Some(left) => thread::sleep(left),
            None => thread::sleep(Duration::from_secs(3600)),
        }
    }
}

/// The sleeping part of [`wait`]: arm, sleep on all words, disarm, until something is ready
/// or the deadline passes. Runs in a thread scope, for the pidfd helper thread.
fn sleep_loop<'a, 'scope>(
    scope: &'scope Scope<'scope, '_>,
    objects: &[&'a dyn Waitable],
    deadline: Deadline,
) -> Vec<usize>
where
    'a: 'scope,
{
    let mut arming = Arming::default();
    let mut watcher: Option<Watcher<'scope>> = None;
    // Whether pidfds need watching without a helper (it could not be started): bounded sleeps.
    let mut unwatched = false;
    // A pool worker shows `blocked` while its task waits here.
    let _blocked = super::Blocked::enter();
    let mut check_at = Instant::now() + STALL_CHECK;
    let mut busy_sleep = BUSY_SLEEP_MIN;
    let mut moved = 0;
    let ready = loop {
        let ready = round(objects, &mut arming);
        if !ready.is_empty() {
            break ready;
        }
        let now = Instant::now();
        if let Deadline::At(at) = deadline {
            if now >= at {
                break ready;
            }
        }
        if now >= check_at {
            disarm(objects);
            for o in objects {
                o.stalled();
            }
            check_at = Instant::now() + STALL_CHECK;
            continue;
        }
        // Only children with pidfds pending: the waiting thread sleeps in `ppoll` on them
        // itself, no helper needed.
        let pidfds_only = !arming.pidfds.is_empty()
            && !arming.word_children
            && !arming.brief
            && arming
                .words
                .iter()
                .all(|w| std::ptr::eq(w.word(), child_exits().seq()));
        if !arming.pidfds.is_empty() && !unwatched && !pidfds_only {
            match &watcher {
                None => match Watcher::start(scope, arming.pidfds.clone()) {
                    Ok(w) => watcher = Some(w),
                    Err(_) => unwatched = true,
                },
                // It ended (a child exited, or its `ppoll` failed) and no source is ready:
                // the children left are watched by bounded sleeps from now on.
                Some(w) if w.helper.is_finished() => unwatched = true,
                Some(_) => {}
            }
        }
        let mut timeout = match deadline {
            Deadline::At(at) => (at - now).min(check_at - now),
            Deadline::Never | Deadline::NoWait => check_at - now,
        };
        let brief = arming.brief;
        if brief {
            timeout = timeout.min(busy_sleep);
        }
        if unwatched && !arming.pidfds.is_empty() {
            timeout = timeout.min(FALLBACK_SLICE);
        }
        let slept = if pidfds_only {
            match sys::poll_any_readable(&arming.pidfds, Some(timeout)) {
                Ok(true) => Ok(0),
                Ok(false) => Err(io::ErrorKind::TimedOut.into()),
                Err(e) => Err(e),
            }
        } else {
            sleep_on(&arming.words, timeout)
        };
        disarm(objects);
        // As in a blocked get (`word::wait_marked`): a brief sleep grows only if it ran its
        // course, the put it waits for unfinished all that time; one cut short (woken, or a word
        // moved) says nothing of how long that put takes.
        let timed_out = slept
            .as_ref()
            .is_err_and(|e| e.kind() == io::ErrorKind::TimedOut);
        if brief && timed_out {
            busy_sleep = (busy_sleep * 2).min(BUSY_SLEEP_MAX);
        }
        // And a word that keeps moving while nothing is ready must not make this loop spin (nor
        // a storm of signals, nor an error that returns at once).
        if slept.is_err_and(|e| e.kind() != io::ErrorKind::TimedOut) {
            moved += 1;
            if moved >= MOVED_STREAK {
                moved = 0;
                let nap = match deadline.remaining() {
                    Some(left) => busy_sleep.min(left),
                    None => busy_sleep,
                };
                thread::sleep(nap);
                busy_sleep = (busy_sleep * 2).min(BUSY_SLEEP_MAX);
            }
        } else {
            moved = 0;
        }
    };
    disarm(objects);
    if let Some(w) = watcher {
        w.stop();
    }
    ready
}

/// One sleep on `words` for at most `timeout`: `futex_waitv`, or the fallback (see the module
/// docs). Every outcome means "look again"; the error is returned for the caller's streak
/// count.
fn sleep_on(words: &[FutexWait<'_>], timeout: Duration) -> io::Result<usize> {
    let Some(first) = words.first() else {
        thread::sleep(timeout);
        return Ok(0);
    };
    if words.len() == 1 {
        // One word: the plain futex wait does it.
        return futex_wait(first.word(), first.expected(), Some(timeout)).map(|()| 0);
    }
    if words.len() <= FUTEX_WAITV_MAX && waitv_usable() {
        match futex_waitv(words, Some(timeout)) {
            Ok(i) => return Ok(i),
            Err(e) if is_look_again(&e) => return Err(e),
            // `ENOSYS` (kernel < 5.16), `EPERM` (a seccomp filter), or anything else
            // unexpected: a call that fails at once would make this loop spin, so the process
            // uses the fallback from now on.
            Err(_) => WAITV_MISSING.store(true, Relaxed),
        }
    }
    futex_wait(
        first.word(),
        first.expected(),
        Some(timeout.min(FALLBACK_SLICE)),
    )
    .map(|()| 0)
}

/// Whether a futex sleep's error is one of its ordinary outcomes (the word moved, the time
/// passed, a signal): look again.
fn is_look_again(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// The helper thread that turns a pidfd's readability (a child's exit) into a move of the
/// child-exit word, for one `wait`.
struct Watcher<'scope> {
    /// Written to stop the helper.
    stop: OwnedFd,
    helper: ScopedJoinHandle<'scope, ()>,
}

impl<'scope> Watcher<'scope> {
    fn start(
        scope: &'scope Scope<'scope, '_>,
        pidfds: Vec<BorrowedFd<'scope>>,
    ) -> io::Result<Watcher<'scope>> {
        let (rx, tx) = sys::pipe()?;
        let helper = thread::Builder::new()
            .name("wait-pidfds".into())
            .stack_size(64 * 1024)
            .spawn_scoped(scope, move || {
                let fds: Vec<BorrowedFd<'_>> = pidfds.iter().copied().chain([rx.as_fd()]).collect();
                // Readable: a child exited, or we are told to stop. Either way the waiter
                // looks again (waking it when stopping costs nothing: nobody sleeps then).
                let _ = sys::retry_on_intr(|| sys::poll_any_readable(&fds, None));
                notify_child_exit();
            })?;
        Ok(Watcher { stop: tx, helper })
    }

    /// Stops the helper and joins it.
    fn stop(self) {
        // If the write fails (it can't: a fresh pipe with room), dropping `stop` still ends
        // the helper's poll (end of file is readable too).
        let _ = sys::write_all(self.stop.as_fd(), b"x");
        let _ = self.helper.join();
    }
}

impl Waitable for RawQueue {}

impl sealed::Source for RawQueue {
    fn arm<'a>(&'a self, arming: &mut Arming<'a>) -> Armed {
        let wait = self.get_wait();
        let seen = wait.prepare();
        if self.mark_empty_wait() {
            // Registered and marked: the put that fills the head wakes us.
            arming.sleep_on(wait.word.seq(), seen);
            return Armed::Pending;
        }
        // The mark failed: a message is there, or is being written, or the head moved on.
        if !self.empty() {
            return Armed::Ready;
        }
        arming.sleep_on(wait.word.seq(), seen);
        arming.sleep_briefly();
        Armed::Pending
    }

    fn disarm(&self) {
        self.get_wait().finish();
    }

    fn hint(&self) -> Option<bool> {
        Some(!self.empty())
    }

    fn stalled(&self) {
        self.get_stalled();
    }
}

/// A source that is another source inside: `$inner` names it (`Queue` over its `RawQueue`, a
/// channel's receivers over their `Chan`).
macro_rules! forward_source {
    ($({$($generics:tt)*})? $ty:ty => $inner:ident) => {
        impl<$($($generics)*)?> Waitable for $ty {}

        impl<$($($generics)*)?> sealed::Source for $ty {
            fn arm<'a>(&'a self, arming: &mut Arming<'a>) -> Armed {
                self.$inner().arm(arming)
            }

            fn disarm(&self) {
                self.$inner().disarm();
            }

            fn hint(&self) -> Option<bool> {
                self.$inner().hint()
            }

            fn stalled(&self) {
                self.$inner().stalled();
            }
        }
    };
}

forward_source!({T: Serialize + DeserializeOwned} Queue<T> => raw);

impl Waitable for Process {}

impl sealed::Source for Process {
    fn arm<'a>(&'a self, arming: &mut Arming<'a>) -> Armed {
        let word = child_exits();
        let seen = word.prepare_wait();
        // Unstarted: never ready (`is_alive` is false then, but nothing will ever end).
        if self.pid().is_some() && !self.is_alive() {
            return Armed::Ready;
        }
        arming.sleep_on(word.seq(), seen);
        match self.sentinel() {
            Some(pidfd) => arming.watch(pidfd),
            None if self.pid().is_some() => arming.word_children = true,
            // Unstarted: nothing to watch.
            None => {}
        }
        Armed::Pending
    }

    fn disarm(&self) {
        child_exits().finish_wait();
    }
}

impl<T: DeserializeOwned> Waitable for JoinHandle<T> {}

impl<T: DeserializeOwned> sealed::Source for JoinHandle<T> {
    fn arm<'a>(&'a self, arming: &mut Arming<'a>) -> Armed {
        self.process().arm(arming)
    }

    fn disarm(&self) {
        self.process().disarm();
    }
}

/// A channel's receive side: the protocol of `Chan::recv_waits`.
impl sealed::Source for Chan {
    fn arm<'a>(&'a self, arming: &mut Arming<'a>) -> Armed {
        let waits = self.recv_waits();
        let seen = waits.map(|w| w.prepare());
        // Registered first, then looked: a send or a last drop after this look moves a word.
        if self.recv_ready() {
            return Armed::Ready;
        }
        let marked = self.mark_recv_wait();
        // The mark failed: a message is there now, or is being written, or the head moved on.
        if !marked && self.recv_ready() {
            return Armed::Ready;
        }
        for (w, seen) in waits.iter().zip(seen) {
            arming.sleep_on(w.word.seq(), seen);
        }
        if !marked {
            arming.sleep_briefly();
        }
        Armed::Pending
    }

    fn disarm(&self) {
        for w in self.recv_waits() {
            w.finish();
        }
    }

    fn hint(&self) -> Option<bool> {
        Some(self.recv_ready())
    }

    fn stalled(&self) {
        self.recv_stalled();
    }
}

forward_source!({T: DeserializeOwned} Receiver<T> => chan);

forward_source!(ByteReceiver => chan);

impl Waitable for Connection {}

/// A closed end is ready (a receive fails at once with [`PipeError::Closed`]); a write-only
/// end never is (it has nothing to receive from, as a Python write-only `Connection`'s
/// descriptor never becomes readable).
impl sealed::Source for Connection {
    fn arm<'a>(&'a self, arming: &mut Arming<'a>) -> Armed {
        match self.wait_receiver() {
            Ok(rx) => rx.arm(arming),
            Err(PipeError::Closed) => Armed::Ready,
            Err(_) => Armed::Pending,
        }
    }

    fn disarm(&self) {
        if let Ok(rx) = self.wait_receiver() {
            rx.disarm();
        }
    }

    fn hint(&self) -> Option<bool> {
        match self.wait_receiver() {
            Ok(rx) => rx.hint(),
            Err(PipeError::Closed) => Some(true),
            Err(_) => Some(false),
        }
    }

    fn stalled(&self) {
        if let Ok(rx) = self.wait_receiver() {
            rx.stalled();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::Builder;
    use crate::test_util::watchdog;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    /// Waits until `q` counts a sleeping (or about to sleep) get: `wait` registered on it.
    fn until_registered(q: &RawQueue) {
        while q.waiters().getters == 0 {
            thread::yield_now();
        }
    }

    #[test]
    fn without_futex_waitv_a_put_on_any_queue_still_ends_the_wait() {
        watchdog(30, || {
            FORCE_FALLBACK.set(true);
            let (q1, q2) = (RawQueue::new(4).unwrap(), RawQueue::new(4).unwrap());
            thread::scope(|s| {
                s.spawn(|| {
                    until_registered(&q2);
                    q2.put(b"x").unwrap();
                });
                // q2 is not the word the fallback sleeps on: a slice ends each sleep.
                assert_eq!(wait(&[&q1, &q2], Some(Duration::from_secs(20))), [1]);
            });
            assert_eq!(q2.get().unwrap(), b"x");
            // The first source's word is the one the fallback sleeps on.
            thread::scope(|s| {
                s.spawn(|| {
                    until_registered(&q1);
                    q1.put(b"x").unwrap();
                });
                assert_eq!(wait(&[&q1, &q2], Some(Duration::from_secs(20))), [0]);
            });
        });
    }

    #[test]
    fn a_child_reaped_by_its_waiter_thread_ends_the_wait() {
        watchdog(30, || {
            let (tx, rx) = UnixStream::pair().unwrap();
            let p = Builder::new()
                .without_pidfd()
                .spawn(move || {
                    let mut rx = rx;
                    let _ = rx.read(&mut [0u8]);
                })
                .unwrap();
            assert!(p.sentinel().is_none());
            let q = RawQueue::new(4).unwrap();
            thread::scope(|s| {
                s.spawn(|| {
                    until_registered(&q);
                    (&tx).write_all(b"x").unwrap();
                });
                assert_eq!(wait(&[&q, &p], Some(Duration::from_secs(20))), [1]);
            });
            assert_eq!(p.exitcode(), Some(0));
        });
    }

    /// A process that writes garbage over a channel's ledger (its totals, entries and
    /// doorbell): `wait` on the receiver may find it ready (disconnected) or not, but it
    /// returns by its deadline, never panics or hangs, and its stall check (repair) copes.
    #[test]
    fn garbage_in_a_channels_ledger_cannot_make_wait_panic_or_hang() {
        watchdog(60, || {
            let (_tx, rx) = crate::channel::bytes(4).unwrap();
            let ledger = &rx.chan().ledger;
            let words = ledger.bytes().len() / 8;
            let mut x = 0x2545_f491_4f6c_dd1du64;
            for round in 0..20 {
                for i in 0..words {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let v = if round % 2 == 0 { x } else { x & 0x3_ffff_ffff };
                    ledger.bytes().u64_at(8 * i).store(v, Relaxed);
                }
                let _ = wait(&[&rx], Some(Duration::ZERO));
                let _ = wait(&[&rx], Some(Duration::from_millis(1)));
                sealed::Source::stalled(&rx);
            }
            // Past a stall check with a garbled ledger: still returns by the deadline.
            let _ = wait(&[&rx], Some(STALL_CHECK + Duration::from_millis(50)));
        });
    }

    fn thread_cpu() -> Duration {
        crate::sys::thread_cpu_time().unwrap()
    }

    /// A process that keeps moving a queue's wait word (as a hostile one may) makes `wait` look
    /// again, never spin: the waiting thread's CPU time stays a fraction of the wall time.
    #[test]
    fn a_word_that_keeps_moving_does_not_make_wait_spin() {
        watchdog(30, || {
            let (q1, q2) = (RawQueue::new(4).unwrap(), RawQueue::new(4).unwrap());
            let stop = AtomicBool::new(false);
            thread::scope(|s| {
                s.spawn(|| {
                    let word = q2.get_wait().word;
                    while !stop.load(Relaxed) {
                        word.seq().fetch_add(1, Relaxed);
                        let _ = crate::sys::futex::futex_wake(word.seq(), u32::MAX);
                    }
                });
                let wall = Duration::from_millis(400);
                let (t, cpu) = (Instant::now(), thread_cpu());
                assert!(wait(&[&q1, &q2], Some(wall)).is_empty());
                let (elapsed, used) = (t.elapsed(), thread_cpu() - cpu);
                stop.store(true, Relaxed);
                assert!(elapsed >= wall);
                assert!(used < elapsed / 2, "used {used:?} of CPU in {elapsed:?}");
            });
        });
    }
}
