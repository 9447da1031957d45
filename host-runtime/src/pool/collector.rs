//! The result thread: reads results, runs callbacks and completes results, hands backlog tasks
//! to workers as room appears, finds dead workers and replaces them, and carries out `close`
//! and `terminate`. It forks every worker, so that the workers' parent-death signal is tied to
//! a thread that lives as long as the pool (see `Process`'s daemon docs).

use std::io::Read;
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ipc_core::pool::{TaskState, WorkerId, WorkerState};

use super::error::{PoolError, TaskError};
use super::message::{
    self, head_len, parse_result, Reply, ENCODE, OK, PANICKED, RESULT_HEADER, STOP, TAIL_MIN,
};
use super::result::{Outcome, Sink};
use super::sched::{Job, Lane, Phase, Sched};
use super::shared::Shared;
use super::worker::{self, ExecArgs, Initializer, WorkerCtx};
use crate::lock::lock;
use crate::process::{self, Process};
use crate::queue::{self, Message, RawQueue};
use crate::sys;
use crate::wait::{Backoff, Deadline, Policy};

/// Results read from one worker's queue per turn, so that one busy worker can't starve the
/// others' results (and the dispatching) for long.
const BATCH: usize = 256;
/// How often, at the most, the result thread checks its workers while it has results to read
/// (it never sleeps then, so no pidfd wakes it). Deaths are found at once when it sleeps.
const CHECK_EVERY: Duration = Duration::from_millis(5);
/// How long the result thread sleeps when it can't rely on pidfds alone: some worker has no
/// pidfd (old kernel), or a worker could not be started and the start is to be retried.
const FALLBACK_POLL: Duration = Duration::from_millis(20);
/// How long the result thread sleeps while a task waits and a worker is idle (see
/// `Sched::retry_stranded`).
const STRANDED_POLL: Duration = Duration::from_millis(20);
/// The pause after a failed worker start before the next try.
const RESPAWN_BACKOFF: Duration = Duration::from_millis(100);

/// A running worker, as the result thread knows it.
struct Proc {
    process: Process,
    results: RawQueue,
    id: WorkerId,
}

/// What the result thread hands a sink once the pool's lock is released.
enum Delivery {
    /// A result message at this range of the arena (and the tail of a long one).
    Reply(Arc<dyn Sink>, u32, Range<usize>, Option<Vec<u8>>),
    /// An error the pool itself decided (worker died, terminated).
    Failed(Arc<dyn Sink>, u32, TaskError),
}

/// How the pool's workers are made.
pub(super) struct WorkerConfig {
    pub(super) processes: usize,
    pub(super) initializer: Option<Initializer>,
    pub(super) max_tasks: Option<u64>,
    pub(super) queues: queue::Builder,
    /// How workers (and their replacements) are started.
    pub(super) start_method: process::StartMethod,
}

/// The result thread's state (see the module docs).
pub(super) struct Collector {
    shared: Arc<Shared>,
    config: WorkerConfig,
    /// By worker slot index.
    procs: Vec<Option<Proc>>,
    wake_rx: UnixStream,
    /// Workers started so far (for their names).
    started: u64,
    /// The results of this turn laid end to end, at `spans` (what lies after the last span
    /// is left from earlier turns).
    arena: Vec<u8>,
    spans: Vec<Span>,
    deliveries: Vec<Delivery>,
    last_check: Instant,
    check_now: bool,
    /// `close()`: the stop messages went out.
    stops_sent: bool,
    spawn_failed_at: Option<Instant>,
}

impl Collector {
    /// Starts the result thread, which starts the workers; returns once they are started.
    pub(super) fn start(
        shared: Arc<Shared>,
        config: WorkerConfig,
        wake_rx: UnixStream,
    ) -> Result<JoinHandle<()>, PoolError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let workers = shared.tables.get().worker_capacity();
        lock(&shared.sched).status = Some(shared.tables.clone());
        let mut collector = Collector {
            shared,
            config,
            procs: (0..workers).map(|_| None).collect(),
            wake_rx,
            started: 0,
            arena: Vec::new(),
            spans: Vec::new(),
            deliveries: Vec::new(),
            last_check: Instant::now(),
            check_now: false,
            stops_sent: false,
            spawn_failed_at: None,
        };
        let handle = thread::Builder::new()
            .name("pool-results".into())
            .spawn(move || {
                let started = (0..collector.config.processes).try_for_each(|_| collector.spawn());
                let ok = started.is_ok();
                let _ = ready_tx.send(started);
                if ok {
                    collector.run();
                } else {
                    collector.terminate_now();
                    collector.finish();
                }
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(handle),
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(e)
            }
            Err(_) => {
                let _ = handle.join();
                Err(PoolError::InvalidConfig(
                    "the result thread failed while starting the workers".into(),
                ))
            }
        }
    }

    /// The main loop, then the end of the pool (also after a panic in here).
    fn run(&mut self) {
        if panic::catch_unwind(AssertUnwindSafe(|| self.main_loop())).is_err() {
            // A bug: stop everything rather than leave results waiting for ever.
            self.terminate_now();
        }
        self.finish();
    }

    fn main_loop(&mut self) {
        let shared = Arc::clone(&self.shared);
        loop {
            let mut did = self.collect();
            if self.check_now || self.last_check.elapsed() >= CHECK_EVERY {
                did |= self.check_workers();
            }
            let phase = lock(&shared.sched).phase;
            match phase {
                Phase::Terminating | Phase::Finished => {
                    self.terminate_now();
                    return;
                }
                Phase::Closed if self.stops_sent && self.procs.iter().all(Option::is_none) => {
                    return
                }
                _ => {}
            }
            did |= self.lifecycle(phase);
            if did || (self.expecting_results() && self.linger()) {
                continue;
            }
            // Nothing to do: sleep until a result (a worker writes to the wake-up socket when
            // it sees us registered on the doorbell), a worker's exit (its pidfd), or a
            // `close`/`terminate` (they write to the socket too).
            let doorbell = shared.tables.doorbell();
            doorbell.prepare_wait();
            if self.collect() {
                doorbell.finish_wait();
                continue;
            }
            let stranded = {
                let tables = shared.tables.get();
                lock(&shared.sched).retry_stranded(&tables, shared.prefetch)
            };
            self.sleep(phase, stranded);
            doorbell.finish_wait();
            self.drain_wake();
            self.check_now = true;
        }
    }

    /// Whether some worker holds tasks, so results are on the way.
    fn expecting_results(&self) -> bool {
        lock(&self.shared.sched)
            .lanes
            .iter()
            .flatten()
            .any(|l| l.custody > 0)
    }

    /// Before sleeping: looks for results a little longer, backing off with
    /// [`Policy::POOL_COLLECTOR`] (spinning, then yielding the CPU: on a busy machine, to a
    /// worker that is about to put one). Returns whether results came.
    fn linger(&mut self) -> bool {
        let mut backoff = Backoff::new(Policy::POOL_COLLECTOR);
        while !backoff.is_completed() {
            backoff.snooze();
            if self.collect() {
                return true;
            }
        }
        false
    }

    /// Sleeps in `ppoll` on the wake-up socket and the workers' pidfds; not long if a task is
    /// `stranded` (see `Sched::retry_stranded`).
    fn sleep(&self, phase: Phase, stranded: bool) {
        let mut fds: Vec<BorrowedFd<'_>> = vec![self.wake_rx.as_fd()];
        let mut all_pidfds = true;
        for p in self.procs.iter().flatten() {
            match p.process.sentinel() {
                Some(fd) => fds.push(fd),
                None => all_pidfds = false,
            }
        }
        let timeout = if stranded {
            Some(STRANDED_POLL)
        } else if all_pidfds && !self.short_of_workers(phase) {
            None
        } else {
            Some(FALLBACK_POLL)
        };
        // EINTR or ENOMEM: just look again.
        let _ = sys::poll_any_readable(&fds, timeout);
    }

    fn drain_wake(&self) {
        let mut bytes = [0u8; 64];
        // Non-blocking: ends with `WouldBlock` once empty.
        while matches!((&self.wake_rx).read(&mut bytes), Ok(n) if n > 0) {}
    }

    fn live(&self) -> usize {
        self.procs.iter().flatten().count()
    }

    /// Whether workers are missing and should be started.
    fn short_of_workers(&self, phase: Phase) -> bool {
        let wanted = match phase {
            Phase::Running => true,
            Phase::Closed => !lock(&self.shared.sched).idle(),
            Phase::Terminating | Phase::Finished => false,
        };
        wanted && self.live() < self.config.processes
    }

    /// Reads what the workers' result queues hold (up to [`BATCH`] each) into the arena.
    fn read_results(&mut self) {
        let Collector {
            procs,
            arena,
            spans,
            shared,
            ..
        } = self;
        for p in procs.iter().flatten() {
            read_queue(&p.results, arena, spans, &shared.sched);
        }
    }

    /// Reads and delivers results; returns whether there were any.
    fn collect(&mut self) -> bool {
        self.spans.clear();
        self.read_results();
        if self.spans.is_empty() {
            return false;
        }
        self.complete_spans();
        true
    }

    /// Takes the records of the results in the arena out of custody, hands out more work,
    /// then delivers the results (outside the lock).
    fn complete_spans(&mut self) {
        let tables = self.shared.tables.get();
        let prefetch = self.shared.prefetch;
        let mut deliveries = std::mem::take(&mut self.deliveries);
        {
            let mut s = lock(&self.shared.sched);
            for span in &mut self.spans {
                let Some(reply) = parse_result(&self.arena[span.range.clone()]) else {
                    continue;
                };
                if let Some((sink, tag)) = s.complete(&tables, reply.handle) {
                    let tail = span.tail.take();
                    deliveries.push(Delivery::Reply(sink, tag, span.range.clone(), tail));
                }
            }
            s.dispatch(&tables, prefetch);
            s.steal(prefetch);
        }
        self.deliver(&mut deliveries);
        self.deliveries = deliveries;
    }

    /// Delivers a batch, then wakes the threads that wait for any of it.
    fn deliver(&self, deliveries: &mut Vec<Delivery>) {
        // Allocates only if someone waits (rarely more than one per batch).
        let mut wake: Vec<Arc<dyn Sink>> = Vec::new();
        for d in deliveries.drain(..) {
            let (sink, waited) = match d {
                Delivery::Reply(sink, tag, span, tail) => {
                    let waited = parse_result(&self.arena[span]).is_some_and(|reply| {
                        self.shared.tables.count_finished(reply.status == OK);
                        sink.deliver(tag, outcome(&reply, tail))
                    });
                    (sink, waited)
                }
                Delivery::Failed(sink, tag, error) => {
                    self.shared.tables.count_finished(false);
                    let waited = sink.deliver(tag, Outcome::Error(error));
                    (sink, waited)
                }
            };
            if waited {
                wake.push(sink);
            }
        }
        for sink in wake {
            sink.wake();
        }
    }

    /// Finds workers that exited and deals with them ([`bury`](Self::bury)); returns whether
    /// there were any.
    fn check_workers(&mut self) -> bool {
        self.last_check = Instant::now();
        self.check_now = false;
        let mut pidfds = Vec::new();
        let mut all_pidfds = true;
        for p in self.procs.iter().flatten() {
            match p.process.sentinel() {
                Some(fd) => pidfds.push(fd),
                None => all_pidfds = false,
            }
        }
        // One `ppoll` tells whether any pidfd is readable (a worker exited).
        if all_pidfds
            && matches!(
                sys::poll_any_readable(&pidfds, Some(Duration::ZERO)),
                Ok(false)
            )
        {
            return false;
        }
        drop(pidfds);
        let dead: Vec<usize> = (0..self.procs.len())
            .filter(|&i| {
                self.procs[i]
                    .as_ref()
                    .is_some_and(|p| !p.process.is_alive())
            })
            .collect();
        for &slot in &dead {
            self.bury(slot);
        }
        !dead.is_empty()
    }

    /// A worker has exited (and was reaped): deliver the results it put, mark its running
    /// task lost in the tables, give the tasks it never started to other workers, and fail
    /// the others.
    fn bury(&mut self, slot: usize) {
        let Some(p) = self.procs[slot].take() else {
            return;
        };
        let pid = p
            .process
            .pid()
            .expect("a worker in `procs` was started, so it has a pid");
        let exitcode = p.process.exitcode().unwrap_or(0);
        self.spans.clear();
        while read_queue(
            &p.results,
            &mut self.arena,
            &mut self.spans,
            &self.shared.sched,
        ) {}
        self.complete_spans();

        let tables = self.shared.tables.get();
        // Running → Lost: its result can never come.
        if tables.worker_died(p.id, |_| {}).is_ok() {
            self.shared.tables.stamp(p.id, WorkerState::Dead);
        }
        let mut failed = Vec::new();
        {
            let mut s = lock(&self.shared.sched);
            // Its inbox goes with it: the tasks in it are taken back below from the records.
            s.lanes[slot] = None;
            let mut requeue = Vec::new();
            for i in 0..s.records.len() {
                if s.records[i].as_ref().is_none_or(|r| r.lane != slot) {
                    continue;
                }
                let Some(r) = s.records[i].take() else {
                    continue;
                };
                if tables.task_state(r.handle) == Ok(TaskState::Pending) {
                    // Never started: nothing ran, so run it elsewhere.
                    requeue.push(Job {
                        msg: r.msg,
                        tail: r.tail,
                        handle: Some(r.handle),
                        sink: r.sink,
                        tag: r.tag,
                    });
                } else {
                    // Lost (it ran it), or finished with the result not delivered.
                    let _ = tables.release(r.handle);
                    failed.push(Delivery::Failed(
                        r.sink,
                        r.tag,
                        TaskError::WorkerDied { pid, exitcode },
                    ));
                }
            }
            for job in requeue.into_iter().rev() {
                s.backlog.push_front(job);
            }
            s.dispatch(&tables, self.shared.prefetch);
            s.steal(self.shared.prefetch);
        }
        self.deliver(&mut failed);
    }

    /// Starts missing workers, or sends the stop messages once a closed pool is idle.
    fn lifecycle(&mut self, phase: Phase) -> bool {
        if self.short_of_workers(phase) {
            if self
                .spawn_failed_at
                .is_some_and(|at| at.elapsed() < RESPAWN_BACKOFF)
            {
                return false;
            }
            while self.live() < self.config.processes {
                if self.spawn().is_err() {
                    // Retried after the back-off; the pool runs short meanwhile.
                    self.spawn_failed_at = Some(Instant::now());
                    break;
                }
            }
            return true;
        }
        if phase == Phase::Closed && !self.stops_sent {
            let mut s = lock(&self.shared.sched);
            if !s.idle() {
                return false;
            }
            for lane in s.lanes.iter_mut().flatten() {
                lane.open = false;
                // The inbox is empty (nothing in custody): there is room. If it is jammed,
                // its worker is dead and is reaped without it.
                let _ = lane.inbox.put_nowait([STOP]);
            }
            self.stops_sent = true;
            return true;
        }
        false
    }

    /// Starts a worker in a free (or dead) worker slot.
    fn spawn(&mut self) -> Result<(), PoolError> {
        let tables = self.shared.tables.get();
        let id = tables
            .add_worker()
            .map_err(|e| PoolError::InvalidConfig(format!("worker table: {e}")))?;
        self.shared.tables.stamp(id, WorkerState::New);
        let method = self.config.start_method;
        let fork = method == process::StartMethod::Fork;
        let made = (|| -> Result<_, PoolError> {
            // Exec'd workers are handed the queues' memory files (they inherit no mapping).
            let build = |q: &queue::Builder| {
                if fork {
                    q.build_raw()
                } else {
                    q.build_raw_shareable()
                }
            };
            let inbox = build(&self.config.queues)?;
            let results = build(&self.config.queues)?;
            Ok((inbox, results))
        })();
        let (inbox, results) = match made {
            Ok(parts) => parts,
            Err(e) => {
                let _ = tables.worker_died(id, |_| {});
                return Err(e);
            }
        };
        self.started += 1;
        let prefix = match method {
            process::StartMethod::Fork => "ForkPoolWorker",
            process::StartMethod::Spawn => "SpawnPoolWorker",
            process::StartMethod::Forkserver => "ForkServerPoolWorker",
        };
        // A daemon: killed if this thread (and so the pool's process) dies. (A forkserver
        // worker can't be one: it watches this process itself, see `worker::exec_main`.)
        let builder = process::Builder::new()
            .name(format!("{prefix}-{}", self.started))
            .daemon(true)
            .start_method(method);
        let started = if fork {
            let ctx = WorkerCtx {
                id,
                tables: self.shared.tables.clone(),
                key: self.shared.key.clone(),
                inbox: inbox.clone(),
                results: results.clone(),
                wake: Arc::clone(&self.shared.wake_tx),
                initializer: self.config.initializer.clone(),
                max_tasks: self.config.max_tasks,
            };
            let process = builder.build(move || worker::main(ctx));
            process.start().map(|()| process)
        } else {
            self.start_exec(builder, id, &inbox, &results, method)
        };
        let process = match started {
            Ok(process) => process,
            Err(e) => {
                let _ = tables.worker_died(id, |_| {});
                return Err(e.into());
            }
        };
        {
            let mut s = lock(&self.shared.sched);
            s.lanes[id.index()] = Some(Lane::new(inbox, self.config.max_tasks));
            s.dispatch(&tables, self.shared.prefetch);
            // A new worker with nothing to do takes over tasks waiting behind busy ones.
            s.steal(self.shared.prefetch);
        }
        self.procs[id.index()] = Some(Proc {
            process,
            results,
            id,
        });
        self.spawn_failed_at = None;
        Ok(())
    }

    /// Starts a worker with `Spawn` or `Forkserver`: its [`ExecArgs`] go through its private
    /// arguments file, the memory files of the tables and its queues and the wake-up socket
    /// as descriptors.
    fn start_exec(
        &self,
        builder: process::Builder,
        id: WorkerId,
        inbox: &RawQueue,
        results: &RawQueue,
        method: process::StartMethod,
    ) -> Result<Process, process::ProcessError> {
        let missing = || {
            process::ProcessError::Os(std::io::Error::other(
                "the pool's shared memory has no memory file to hand on",
            ))
        };
        let tables = &self.shared.tables;
        let (workers, tasks) = tables.counts();
        let init = match &self.config.initializer {
            None => None,
            Some(Initializer::Call { call, args }) => Some((call.to_bits(), args.to_vec())),
            // Refused by `Builder::build`.
            Some(Initializer::Closure(_)) => {
                return Err(process::ProcessError::NeedsFork { method })
            }
        };
        let args = ExecArgs {
            index: id.index(),
            key: self.shared.key.to_parts(),
            workers,
            tasks,
            named: tables.is_named(),
            max_tasks: self.config.max_tasks,
            init,
            owner: sys::getpid().as_raw(),
            watch_owner: method == process::StartMethod::Forkserver,
        };
        let fds: [BorrowedFd<'_>; ExecArgs::FDS] = [
            tables.fd().ok_or_else(missing)?,
            inbox.region_fd().ok_or_else(missing)?,
            results.region_fd().ok_or_else(missing)?,
            self.shared.wake_tx.as_fd(),
        ];
        process::start_with_fds(builder, worker::exec_main, &args, &fds, method)
    }

    /// `terminate()`: cancel what has not started, kill and reap every worker, deliver the
    /// results that made it, and fail everything else with [`TaskError::Terminated`].
    fn terminate_now(&mut self) {
        let shared = Arc::clone(&self.shared);
        let tables = shared.tables.get();
        let backlog = {
            let mut s = lock(&self.shared.sched);
            if s.phase < Phase::Terminating {
                s.phase = Phase::Terminating;
            }
            for lane in s.lanes.iter_mut().flatten() {
                lane.open = false;
            }
            let backlog = std::mem::take(&mut s.backlog);
            s.publish_queued();
            backlog
        };
        // Pending → Cancelled: a worker that gets to one of them skips it.
        tables.cancel_pending();
        for p in self.procs.iter().flatten() {
            let _ = p.process.kill();
        }
        for p in self.procs.iter().flatten() {
            let _ = p.process.join();
        }
        for slot in 0..self.procs.len() {
            if let Some(p) = &self.procs[slot] {
                if tables.worker_died(p.id, |_| {}).is_ok() {
                    shared.tables.stamp(p.id, WorkerState::Dead);
                }
            }
        }
        // Results put before the kill are real results.
        self.collect();
        self.procs.iter_mut().for_each(|p| *p = None);
        let mut failed = Vec::new();
        {
            let mut s = lock(&self.shared.sched);
            s.lanes.iter_mut().for_each(|l| *l = None);
            for r in s.records.iter_mut().filter_map(Option::take) {
                let _ = tables.release(r.handle);
                failed.push(Delivery::Failed(r.sink, r.tag, TaskError::Terminated));
            }
        }
        for job in backlog {
            if let Some(h) = job.handle {
                let _ = tables.release(h);
            }
            failed.push(Delivery::Failed(job.sink, job.tag, TaskError::Terminated));
        }
        self.deliver(&mut failed);
    }

    /// The end of the result thread: nothing may be left running or waiting.
    fn finish(&mut self) {
        // Normally there is nothing left here; this covers a panic of the main loop.
        for p in self.procs.iter().flatten() {
            let _ = p.process.kill();
            let _ = p.process.join();
        }
        self.procs.iter_mut().for_each(|p| *p = None);
        let mut failed = Vec::new();
        {
            let mut s = lock(&self.shared.sched);
            s.phase = Phase::Finished;
            s.lanes.iter_mut().for_each(|l| *l = None);
            for r in s.records.iter_mut().filter_map(Option::take) {
                failed.push(Delivery::Failed(r.sink, r.tag, TaskError::Terminated));
            }
            for job in std::mem::take(&mut s.backlog) {
                failed.push(Delivery::Failed(job.sink, job.tag, TaskError::Terminated));
            }
            s.publish_queued();
        }
        self.deliver(&mut failed);
        *lock(&self.shared.finished) = true;
        self.shared.finished_cond.notify_all();
    }
}

/// A result read by [`read_queue`]: its range of the arena, and the tail of a long one, read
/// into an allocation of its own (see [`tail_start`]).
struct Span {
    range: Range<usize>,
    tail: Option<Vec<u8>>,
}

/// The bytes of a long result read to find its tail.
const SPLIT_HEAD: usize = head_len(RESULT_HEADER);

/// Reads up to [`BATCH`] messages of `queue` into `arena` after the last of `spans`, recording
/// each one's range; returns whether it read a full batch (more may wait). Each message is
/// copied once, from shared memory straight into the arena, whose bytes past the last span
/// are left from earlier turns (overwritten, never read: no need to zero them first) — but
/// the tail of a long successful result that ends in a byte payload ([`tail_start`]) is
/// copied into an allocation of its own instead, which a `Vec<u8>` or `String` result then
/// takes as it is (one copy out of shared memory in all, and no second one into the value).
/// That allocation is one of a long argument the pool sent and was done with, if one fits
/// ([`Sched::take_tail`]): its pages are already in memory.
fn read_queue(
    queue: &RawQueue,
    arena: &mut Vec<u8>,
    spans: &mut Vec<Span>,
    sched: &Mutex<Sched>,
) -> bool {
    for _ in 0..BATCH {
        let start = spans.last().map_or(0, |span| span.range.end);
        let got = queue.get_with(Deadline::NoWait, |message| match message {
            Message::Inline(m) => (m.read(room(arena, start, m.len())), None),
            Message::Blob(chunks, offset, len) => {
                if len >= TAIL_MIN {
                    // Read once into this private copy, which decides the split and is the
                    // arena's part.
                    let mut head = [0u8; SPLIT_HEAD];
                    chunks.read(offset, &mut head);
                    if let Some(at) = tail_start(&head, len) {
                        room(arena, start, at).copy_from_slice(&head[..at]);
                        // The memory of a long argument sent before, if the pool kept one that
                        // fits: already faulted in, unlike a fresh allocation.
                        let mut tail = lock(sched).take_tail(len - at).unwrap_or_default();
                        chunks.read_append(offset + at, len - at, &mut tail);
                        return (at, Some(tail));
                    }
                }
                chunks.read(offset, room(arena, start, len));
                (len, None)
            }
        });
        match got {
            Ok((len, tail)) => spans.push(Span {
                range: start..start + len,
                tail,
            }),
            Err(_) => return false,
        }
    }
    true
}

/// Where the tail of a long result message starts, read from its first bytes `head` (see
/// [`message::tail_start`]), if it is successful.
fn tail_start(head: &[u8], len: usize) -> Option<usize> {
    if head.get(RESULT_HEADER - 1) != Some(&OK) {
        return None;
    }
    message::tail_start(head, RESULT_HEADER, len)
}

/// `arena[start..start + len]`, grown first if it is shorter.
fn room(arena: &mut Vec<u8>, start: usize, len: usize) -> &mut [u8] {
    if arena.len() < start + len {
        arena.resize(start + len, 0);
    }
    &mut arena[start..start + len]
}

/// What a result message (with the tail [`read_queue`] split off, if any) means for its sink.
fn outcome<'a>(reply: &Reply<'a>, tail: Option<Vec<u8>>) -> Outcome<'a> {
    if reply.status == OK {
        return match tail {
            Some(tail) => Outcome::Split(reply.payload, tail),
            None => Outcome::Value(reply.payload),
        };
    }
    let mut text = String::from_utf8_lossy(reply.payload).into_owned();
    text.push_str(&String::from_utf8_lossy(
        tail.as_deref().unwrap_or_default(),
    ));
    match reply.status {
        PANICKED => Outcome::Error(TaskError::Panicked(text)),
        ENCODE => Outcome::Error(TaskError::Encode(text)),
        _ => Outcome::Error(TaskError::Decode(text)),
    }
}
