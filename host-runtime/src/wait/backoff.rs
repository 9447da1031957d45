//! [`Backoff`]: the spin and yield phases of every wait, tuned by a named [`Policy`].

use std::cell::Cell;
use std::hint::spin_loop;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use super::deadline::Deadline;

/// How a [`Backoff`] spins between attempts before it starts yielding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spin {
    /// `rounds` rounds, round `k` spinning `2^k` times (`spin_loop`): cheap looks at first,
    /// sparser ones later. `Doubling(0)`: no spinning.
    Doubling(u32),
    /// `rounds` rounds of one `spin_loop` each: a change is noticed within one `pause`.
    Flat(u32),
    /// One `spin_loop` per round, for this thread's adaptive budget on the clock (500 ns to
    /// 16 µs, starting at 2 µs), and at least until [`WAKE_LATENCY`] after this thread last
    /// woke a sleeper ([`Backoff`] describes both rules).
    Adaptive,
}

/// The parameters of a [`Backoff`]: how it spins, then how many times (and for how long, at
/// most) it yields the CPU before [`Backoff::is_completed`] says the caller should sleep.
///
/// One named set per kind of waiter; they differ because their peers answer differently
/// (see each constant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The spin phase.
    pub spin: Spin,
    /// `sched_yield` rounds after spinning (`u32::MAX`: yield for ever, never complete).
    pub yields: u32,
    /// The yield phase ends once it has lasted this long: when every core is busy with other
    /// processes, one yield can cost a whole time slice of theirs, and sleeping is then the
    /// cheaper wait.
    pub yield_budget: Option<Duration>,
}

impl Policy {
    /// The queues' blocking calls (and the benches' blocking `ByteQueue` peers), before they
    /// sleep on a futex: an adaptive spin ([`Spin::Adaptive`]), then 16 `sched_yield`s (none
    /// after a streak of waits whose yields ran another thread: see [`Backoff::is_completed`]).
    ///
    /// On an idle machine each yield returns at once (0.25 µs). On a busy one it lets the
    /// peer run if it waits for our core, which is much cheaper than a futex sleep: the peer
    /// would then pay a wake system call for every message until we run again. Measured on 2
    /// shared cores: 50–100 ns per message instead of 300–500 ns for a producer/consumer pair.
    pub const QUEUE: Policy = Policy {
        spin: Spin::Adaptive,
        yields: 16,
        yield_budget: None,
    };

    /// A thread waiting for a pool result (`AsyncResult::get`, `Imap::next`), before it
    /// sleeps on a condition variable: no spin (the result thread takes a lock to deliver),
    /// up to 32 yields within 200 µs. Results of short tasks come in batches, microseconds
    /// apart, and yielding lets the result thread run when they share a core: measured on 2
    /// shared cores with 10,000 trivial tasks, it takes throughput from ~0.4 M to ~2 M
    /// tasks/s.
    pub const POOL_RESULT: Policy = Policy {
        spin: Spin::Doubling(0),
        yields: 32,
        yield_budget: Some(Duration::from_micros(200)),
    };

    /// The pool's result thread, looking for results before it sleeps in `ppoll`: 6 doubling
    /// spin rounds (63 `spin_loop`s), then up to 32 yields within 200 µs (to a worker that is
    /// about to put one, on a busy machine). Results of short tasks come back within
    /// microseconds; a sleep and a wake-up (a system call on both sides, two context switches)
    /// would cost more than that.
    pub const POOL_COLLECTOR: Policy = Policy {
        spin: Spin::Doubling(6),
        yields: 32,
        yield_budget: Some(Duration::from_micros(200)),
    };

    /// A peer that never sleeps in the kernel (the benches' spinning peers): 7 doubling spin
    /// rounds (127 `spin_loop`s, a few microseconds), then a yield on every call.
    ///
    /// On a 2-core machine two spinning parties on one core would otherwise burn a whole time
    /// slice each time; the yield phase keeps a descheduled peer from stalling the other for
    /// milliseconds. The fast path (the other side answers within a few hundred nanoseconds)
    /// never reaches it.
    pub const SPIN_THEN_YIELD: Policy = Policy {
        spin: Spin::Doubling(7),
        yields: u32::MAX,
        yield_budget: None,
    };

    /// As [`SPIN_THEN_YIELD`](Policy::SPIN_THEN_YIELD), with as many spins (127) one per round:
    /// it notices a change within one `pause`, where the doubling spin may look again only
    /// after 64 of them (about 3 µs). For the floors of a round-trip comparison, which must be
    /// the least the hardware does.
    pub const FLAT_SPIN_THEN_YIELD: Policy = Policy {
        spin: Spin::Flat(127),
        yields: u32::MAX,
        yield_budget: None,
    };

    /// Whether this policy spins at all.
    const fn spins(&self) -> bool {
        !matches!(self.spin, Spin::Doubling(0) | Spin::Flat(0))
    }
}

/// The longest [`Spin::Adaptive`] spins before it yields: enough for a peer on another core
/// that answers at once to hand over a message (a round trip through two queues takes 0.5–1 µs
/// on the 2-core VM we measure on), so an awake peer is caught while spinning, without
/// `sched_yield`'s system call (0.25 µs each) in the way.
const SPIN_MAX: Duration = Duration::from_micros(16);
/// The shortest adaptive spin, where a busy machine drives it: spinning then mostly burns the
/// time slice a peer waiting for our core could have used.
const SPIN_MIN: Duration = Duration::from_nanos(500);
/// A `sched_yield` that took longer than this ran another thread: our core is in demand.
const YIELD_RAN_OTHERS: Duration = Duration::from_micros(2);
/// Adaptive spin rounds between looks at the clock (a look costs about as much as a few
/// attempts).
const SPINS_PER_CLOCK: u32 = 16;

/// How long a thread that woke a sleeping peer keeps spinning in its next wait (counted from
/// the wake-up), whatever its budget: about twice what the woken process takes to run again
/// (a futex ping-pong between two processes takes 35–40 µs per round trip on the 2-core VM we
/// measure on, so ~20 µs per wake-up). Without it, one sleep spreads: the peer answers a
/// request that woke it only after its wake-up latency, longer than the longest spin (16 µs),
/// so the requester sleeps too, and must be woken in turn for the next reply, and so on, every
/// sleep halving both spin budgets. In a round-trip benchmark that made 1.4 % of the waits sleep and
/// doubled the mean round trip; with it, a sleep stays a single one.
pub const WAKE_LATENCY: Duration = Duration::from_micros(50);

/// [`Spin::Adaptive`] waits in a row whose yields ran another thread (our core is shared),
/// after which the next wait that gets past its spin sleeps at once, without yielding; this
/// streak doubles after each such sleep, up to [`SHARED_CORE_WAITS_MAX`], and is back to this
/// once a wait's yields find the core free.
///
/// Two processes in a round trip can end up on one core while the other is idle: a wake-up
/// placed one beside the other while the other core was busy for a moment (a kernel worker,
/// a third process). Neither ever sleeps then: each spins, then yields to the other, which
/// answers and yields back, a round trip of 3–4 µs instead of 0.3–1 µs, and the scheduler's
/// load balancer leaves the pair together (both always runnable, both cache-hot) for 10–60
/// ms on the 2-core VM we measure on (HZ=250), thousands of round trips: the slowest 1 % of a
/// round-trip benchmark (issue 17's p99). A futex sleep ends that at once: the peer runs on
/// our core, answers and wakes us, and the wake-up puts us on the idle core.
const SHARED_CORE_WAITS: u32 = 8;
/// The longest the streak of [`SHARED_CORE_WAITS`] grows to: when every core is busy, the sleep cannot move us
/// and costs a wake-up (tens of µs on one core: the waker spins [`WAKE_LATENCY`] first), so
/// it is tried ever more rarely, at worst once per this many waits (about 12 ms of 3 µs
/// round trips).
const SHARED_CORE_WAITS_MAX: u32 = 4096;

thread_local! {
    /// [`Spin::Adaptive`] waits of this thread in a row that succeeded only after a yield that
    /// ran another thread (reset by one that succeeded after yields that did not, and by a
    /// sleep): at `SHARED_CORE_LIMIT`, the next wait that gets past its spin sleeps at once.
    static SHARED_CORE: Cell<u32> = const { Cell::new(0) };
    /// This thread's streak of `SHARED_CORE` waits that makes it sleep: [`SHARED_CORE_WAITS`],
    /// doubled (up to [`SHARED_CORE_WAITS_MAX`]) by each such sleep, back to the minimum when
    /// a wait's yields found the core free.
    static SHARED_CORE_LIMIT: Cell<u32> = const { Cell::new(SHARED_CORE_WAITS) };
    /// This thread's adaptive spin budget, adapted after every wait that spun: doubled (up to
    /// [`SPIN_MAX`]) when the wait ended soon after the spin while yields found the core free
    /// (the peer was just a bit slower than the budget), halved (down to [`SPIN_MIN`]) when a
    /// yield ran another thread (spinning keeps a peer that waits for our core off it) or the
    /// wait went on to sleep (the peer is not answering at once; spinning is wasted).
    static SPIN: Cell<Duration> = const { Cell::new(Duration::from_micros(2)) };
    /// When this thread last woke a sleeper (see [`WAKE_LATENCY`]).
    static WOKE_AT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Records that this thread just woke a sleeping peer: its next [`Spin::Adaptive`] wait spins
/// until at least [`WAKE_LATENCY`] from now. `wait::notify` calls it; a caller that makes its
/// own wake system call should too.
#[inline]
pub fn woke_sleeper() {
    WOKE_AT.set(Some(Instant::now()));
}

/// Picoseconds one `spin_loop` takes on this machine, measured once per process (0: not yet).
static SPIN_LOOP_PS: AtomicU32 = AtomicU32::new(0);

/// The most `spin_loop`s [`spins_lasting`] returns.
const MAX_SPINS: u32 = 4096;

/// How many `spin_loop`s last about `d` on this machine: at least 1, at most 4,096.
///
/// What one costs differs more than tenfold between CPUs (x86's `pause`: 24.6-25.5 ns
/// measured on the AMD EPYC VM we measure on, ~140 cycles on Intel since Skylake, ~10 before),
/// so a pause meant as a length of time is counted here, not fixed. The first call in a process measures (the fastest of four
/// runs of 64 `spin_loop`s: a run the scheduler interrupted only makes the count smaller),
/// which takes a few microseconds; later calls read the figure.
pub(crate) fn spins_lasting(d: Duration) -> u32 {
    let mut ps = SPIN_LOOP_PS.load(Relaxed);
    if ps == 0 {
        ps = measure_spin_loop();
    }
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    // `ps` ≥ 1: `measure_spin_loop` clamps it.
    let spins = ns.saturating_mul(1000) / u64::from(ps);
    spins.clamp(1, u64::from(MAX_SPINS)) as u32
}

/// Measures and records [`SPIN_LOOP_PS`] (see [`spins_lasting`]).
#[cold]
fn measure_spin_loop() -> u32 {
    const RUN: u32 = 64;
    let fastest = (0..4)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..RUN {
                spin_loop();
            }
            start.elapsed()
        })
        .min()
        .unwrap_or_default();
    let ps = u64::try_from(fastest.as_nanos() * 1000 / u128::from(RUN)).unwrap_or(u64::MAX);
    let ps = ps.clamp(1, u64::from(u32::MAX)) as u32;
    SPIN_LOOP_PS.store(ps, Relaxed);
    ps
}

/// Where a [`Backoff`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Spin,
    Yield,
}

/// Waiting without sleeping in the kernel, step by step: spin, then yield the CPU, as its
/// [`Policy`] says; then [`is_completed`](Backoff::is_completed) tells the caller to sleep (on
/// a futex, a condition variable, `ppoll`: the caller's own). Every wait of this crate goes
/// through one (`queue`, `pool`), as do the benches' peers.
///
/// The loop it drives: try, and while that fails and the backoff is not completed, snooze.
/// A [`Spin::Adaptive`] policy also keeps a per-thread spin budget (see its doc), which
/// [`succeeded`](Backoff::succeeded) and [`sleeping`](Backoff::sleeping) adapt.
///
/// # Examples
///
/// ```
/// use host_runtime::wait::{Backoff, Policy};
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let ready = AtomicBool::new(true);
/// let mut backoff = Backoff::new(Policy::POOL_COLLECTOR);
/// while !ready.load(Ordering::Acquire) {
///     if backoff.is_completed() {
///         // Sleep here until woken (futex, condition variable, poll).
///         break;
///     }
///     backoff.snooze();
/// }
/// ```
#[derive(Debug)]
pub struct Backoff {
    policy: Policy,
    phase: Phase,
    /// Rounds done in this phase (saturating).
    step: u32,
    /// [`Spin::Adaptive`]: when the spin ends (set by the first snooze). Yield phase: when it
    /// began (set by the first yield, if the policy has a yield budget).
    since: Option<Instant>,
    /// [`Spin::Adaptive`]: the thread's spin budget when this wait began.
    budget: Duration,
    /// [`Spin::Adaptive`]: a yield ran another thread.
    others_ran: bool,
    deadline: Deadline,
}

impl Backoff {
    /// A fresh backoff: in its spin phase (its yield phase if the policy does not spin).
    #[inline]
    pub fn new(policy: Policy) -> Backoff {
        Backoff::with_deadline(policy, Deadline::Never)
    }

    /// A backoff whose yield phase also ends once `deadline` has passed.
    #[inline]
    pub(crate) fn with_deadline(policy: Policy, deadline: Deadline) -> Backoff {
        Backoff {
            policy,
            phase: if policy.spins() {
                Phase::Spin
            } else {
                Phase::Yield
            },
            step: 0,
            since: None,
            budget: Duration::ZERO,
            others_ran: false,
            deadline,
        }
    }

    /// Waits a little: one spin round, or one `sched_yield` once the spin phase is over.
    #[inline]
    pub fn snooze(&mut self) {
        match self.phase {
            Phase::Spin => self.spin(),
            Phase::Yield => self.yield_now(),
        }
    }

    #[inline]
    fn spin(&mut self) {
        match self.policy.spin {
            Spin::Doubling(rounds) => {
                for _ in 0..1u32 << self.step.min(31) {
                    spin_loop();
                }
                self.step += 1;
                if self.step >= rounds {
                    self.start_yielding();
                }
            }
            Spin::Flat(rounds) => {
                spin_loop();
                self.step += 1;
                if self.step >= rounds {
                    self.start_yielding();
                }
            }
            Spin::Adaptive => {
                let until = self.adaptive_until();
                spin_loop();
                self.step += 1;
                if self.step % SPINS_PER_CLOCK == 0 && Instant::now() >= until {
                    self.start_yielding();
                }
            }
        }
    }

    #[inline]
    fn start_yielding(&mut self) {
        self.phase = Phase::Yield;
        self.step = 0;
        self.since = None;
    }

    #[inline]
    fn yield_now(&mut self) {
        if self.policy.yield_budget.is_some() && self.since.is_none() {
            self.since = Some(Instant::now());
        }
        if self.policy.spin == Spin::Adaptive {
            let before = Instant::now();
            thread::yield_now();
            self.others_ran |= before.elapsed() > YIELD_RAN_OTHERS;
        } else {
            thread::yield_now();
        }
        self.step = self.step.saturating_add(1);
    }

    /// Whether the spin phase is over.
    #[inline]
    pub fn is_yielding(&self) -> bool {
        self.phase == Phase::Yield
    }

    /// Whether the caller should stop snoozing and sleep: the yield phase is over (its rounds
    /// done, its time budget spent, or the deadline passed). Never for a policy that yields
    /// for ever.
    ///
    /// A [`Spin::Adaptive`] wait also sleeps as soon as its spin is over, without yielding,
    /// after a streak of this thread's waits (8 at first) whose yields each ran another
    /// thread: a peer that shares our core while another core may be idle; the sleep, and the
    /// peer's wake-up, let the scheduler move us there (yielding never does). The streak
    /// doubles after each such sleep, up to 4096 (every core busy: the sleep moves nothing and
    /// costs a wake-up), and is back to 8 once a wait's yields find the core free.
    #[inline]
    pub fn is_completed(&self) -> bool {
        self.phase == Phase::Yield
            && (self.step >= self.policy.yields
                || self
                    .policy
                    .yield_budget
                    .zip(self.since)
                    .is_some_and(|(budget, since)| since.elapsed() > budget)
                || self.deadline.has_passed()
                || (self.policy.spin == Spin::Adaptive
                    && SHARED_CORE.get() >= SHARED_CORE_LIMIT.get()))
    }

    /// Back to the start of the spin phase, after progress.
    #[inline]
    pub fn reset(&mut self) {
        *self = Backoff::with_deadline(self.policy, self.deadline);
    }

    /// Runs `attempt` after each step until it returns `Some` (then as
    /// [`succeeded`](Backoff::succeeded)) or the backoff is completed (`None`, as
    /// [`sleeping`](Backoff::sleeping): the caller sleeps next). The same steps as a
    /// `snooze`/`is_completed` loop, with a [`Spin::Adaptive`] spin phase in one tight loop
    /// (16 attempts between looks at the clock), as hot as the queues' round trips need.
    #[inline]
    pub fn run<R>(&mut self, mut attempt: impl FnMut() -> Option<R>) -> Option<R> {
        if self.phase == Phase::Spin && self.policy.spin == Spin::Adaptive {
            let until = self.adaptive_until();
            loop {
                for _ in 0..SPINS_PER_CLOCK {
                    spin_loop();
                    if let Some(r) = attempt() {
                        return Some(r);
                    }
                }
                if Instant::now() >= until {
                    break;
                }
            }
            self.start_yielding();
        }
        while !self.is_completed() {
            self.snooze();
            if let Some(r) = attempt() {
                self.succeeded();
                return Some(r);
            }
        }
        self.sleeping();
        None
    }

    /// [`Spin::Adaptive`]: when the spin phase ends, taken at its start (this thread's budget
    /// from now, at least [`WAKE_LATENCY`] after its last wake-up, which this uses up).
    #[inline]
    fn adaptive_until(&mut self) -> Instant {
        if let Some(until) = self.since {
            return until;
        }
        self.budget = SPIN.get();
        let start = Instant::now() + self.budget;
        let until = match WOKE_AT.take() {
            Some(woke) => start.max(woke + WAKE_LATENCY),
            None => start,
        };
        self.since = Some(until);
        until
    }

    /// The attempt after the last snooze succeeded: a [`Spin::Adaptive`] wait that got as far
    /// as yielding doubles this thread's spin budget (the peer was just a bit slower than it),
    /// or halves it if a yield ran another thread (spinning keeps a peer that waits for our
    /// core off it).
    #[inline]
    pub fn succeeded(&self) {
        if self.policy.spin == Spin::Adaptive && self.phase == Phase::Yield {
            if self.others_ran {
                SHARED_CORE.set(SHARED_CORE.get().saturating_add(1));
            } else {
                SHARED_CORE.set(0);
                SHARED_CORE_LIMIT.set(SHARED_CORE_WAITS);
            }
            SPIN.set(if self.others_ran {
                (self.budget / 2).max(SPIN_MIN)
            } else {
                (self.budget * 2).min(SPIN_MAX)
            });
        }
    }

    /// The backoff is completed and the caller goes to sleep: a [`Spin::Adaptive`] wait halves
    /// this thread's spin budget (the peer is not answering at once; spinning is wasted).
    #[inline]
    pub fn sleeping(&self) {
        if self.policy.spin == Spin::Adaptive {
            let limit = SHARED_CORE_LIMIT.get();
            if SHARED_CORE.replace(0) >= limit {
                SHARED_CORE_LIMIT.set(limit.saturating_mul(2).min(SHARED_CORE_WAITS_MAX));
            }
            SPIN.set((self.budget / 2).max(SPIN_MIN));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spins_lasting_counts_within_bounds_and_grows_with_the_time() {
        let short = spins_lasting(Duration::from_nanos(250));
        assert!((1..=MAX_SPINS).contains(&short), "{short}");
        assert_ne!(SPIN_LOOP_PS.load(Relaxed), 0, "measured once, then kept");
        assert_eq!(spins_lasting(Duration::ZERO), 1);
        assert!(spins_lasting(Duration::from_nanos(1000)) >= short);
        assert_eq!(spins_lasting(Duration::from_secs(1)), MAX_SPINS);
        assert_eq!(spins_lasting(Duration::MAX), MAX_SPINS);
    }

    /// Snoozes until completed (or `cap` rounds); returns (spin rounds, yield rounds).
    fn phases(policy: Policy, cap: u32) -> (u32, u32) {
        let mut b = Backoff::new(policy);
        let (mut spins, mut yields) = (0, 0);
        while !b.is_completed() && spins + yields < cap {
            if b.is_yielding() {
                yields += 1;
            } else {
                spins += 1;
            }
            b.snooze();
        }
        (spins, yields)
    }

    #[test]
    fn fixed_policies_spin_then_yield_their_rounds() {
        assert_eq!(phases(Policy::SPIN_THEN_YIELD, 100), (7, 93));
        assert_eq!(phases(Policy::FLAT_SPIN_THEN_YIELD, 200), (127, 73));
        // The time budget (200 µs) may end the yields sooner on a busy machine.
        let (spins, yields) = phases(Policy::POOL_COLLECTOR, 1000);
        assert_eq!(spins, 6);
        assert!((1..=32).contains(&yields), "{yields}");
        let (spins, yields) = phases(Policy::POOL_RESULT, 1000);
        assert_eq!(spins, 0);
        assert!((1..=32).contains(&yields), "{yields}");
    }

    #[test]
    fn adaptive_spins_then_yields_sixteen_times() {
        let (spins, yields) = phases(Policy::QUEUE, u32::MAX);
        assert!(spins >= SPINS_PER_CLOCK, "{spins}");
        assert_eq!(yields, 16);
    }

    #[test]
    fn a_passed_deadline_ends_the_yields() {
        let mut b = Backoff::with_deadline(Policy::POOL_RESULT, Deadline::At(Instant::now()));
        assert!(b.is_completed());
        b.reset();
        assert!(b.is_completed());
        let b = Backoff::with_deadline(Policy::POOL_RESULT, Deadline::after(Duration::MAX));
        assert!(!b.is_completed());
    }

    #[test]
    fn run_returns_the_first_success_or_none_once_completed() {
        // Every policy makes one attempt at least; the adaptive spin makes `SPINS_PER_CLOCK`
        // before it looks at the clock. (More attempts than that are not promised: a policy
        // with a time budget may give up after one attempt if the thread was preempted.)
        for (policy, succeeds_at) in [
            (Policy::QUEUE, 3),
            (Policy::POOL_COLLECTOR, 1),
            (Policy::POOL_RESULT, 1),
        ] {
            let mut calls = 0;
            let got = Backoff::new(policy).run(|| {
                calls += 1;
                (calls == succeeds_at).then_some(calls)
            });
            assert_eq!(got, Some(succeeds_at));
            let mut b = Backoff::new(policy);
            assert_eq!(b.run(|| None::<()>), None);
            assert!(b.is_completed());
        }
    }

    /// After `SHARED_CORE_WAITS` waits whose yields ran another thread, the next wait sleeps
    /// without yielding; the streak needed then doubles, and is back to the minimum after a
    /// wait whose yields found the core free.
    #[test]
    fn a_wait_on_a_shared_core_sleeps_without_yielding() {
        let (spins, yields) = phases(Policy::QUEUE, u32::MAX);
        assert!(spins >= SPINS_PER_CLOCK, "{spins}");
        assert_eq!(yields, 16);
        // As after that many waits that succeeded after a yield that ran another thread.
        let mut ran_others = Backoff::new(Policy::QUEUE);
        ran_others.phase = Phase::Yield;
        ran_others.others_ran = true;
        for _ in 0..SHARED_CORE_WAITS {
            ran_others.succeeded();
        }
        let (spins, yields) = phases(Policy::QUEUE, u32::MAX);
        assert!(spins >= SPINS_PER_CLOCK, "{spins}");
        assert_eq!(yields, 0);
        let mut b = Backoff::new(Policy::QUEUE);
        assert_eq!(b.run(|| None::<()>), None);
        assert_eq!(SHARED_CORE.get(), 0);
        assert_eq!(SHARED_CORE_LIMIT.get(), 2 * SHARED_CORE_WAITS);
        assert_eq!(phases(Policy::QUEUE, u32::MAX).1, 16);
        // The other policies never count.
        assert_eq!(phases(Policy::SPIN_THEN_YIELD, 100), (7, 93));
        let mut free = Backoff::new(Policy::QUEUE);
        free.phase = Phase::Yield;
        free.succeeded();
        assert_eq!(SHARED_CORE_LIMIT.get(), SHARED_CORE_WAITS);
    }

    #[test]
    fn reset_goes_back_to_spinning() {
        let mut b = Backoff::new(Policy::SPIN_THEN_YIELD);
        for _ in 0..10 {
            b.snooze();
        }
        assert!(b.is_yielding());
        b.reset();
        assert!(!b.is_yielding());
    }
}
