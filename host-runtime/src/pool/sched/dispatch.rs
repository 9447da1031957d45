//! Handing tasks out: [`Sched::dispatch`] gives backlog tasks to workers with room,
//! [`Sched::steal`] moves a task waiting behind another to an idle worker, and
//! [`Sched::retry_stranded`] is the backstop that checks nothing was left so.

use ipc_core::pool::PoolTables;

use super::{Job, Lane, Phase, Record, Sched};
use crate::pool::message::{set_handle, task_handle};
use crate::queue::RawQueue;
use crate::wait::Deadline;

impl Sched {
    /// The lane with room that holds the fewest tasks (round robin among equals).
    fn pick_lane(&mut self, prefetch: usize) -> Option<usize> {
        let n = self.lanes.len();
        let mut best: Option<(usize, usize)> = None;
        for k in 0..n {
            let i = (self.next_lane + k) % n;
            if let Some(lane) = &self.lanes[i] {
                if lane.has_room(prefetch) && best.is_none_or(|(_, c)| lane.custody < c) {
                    best = Some((i, lane.custody));
                    if lane.custody == 0 {
                        break;
                    }
                }
            }
        }
        let (i, _) = best?;
        self.next_lane = (i + 1) % n;
        Some(i)
    }

    /// Hands backlog tasks, oldest first, to workers with room, until the backlog is empty,
    /// no worker has room, or the task table is full. Returns how many it handed out.
    pub(in crate::pool) fn dispatch(&mut self, tables: &PoolTables<'_>, prefetch: usize) -> usize {
        let handed = self.dispatch_backlog(tables, prefetch);
        self.publish_queued();
        handed
    }

    /// [`dispatch`](Self::dispatch), without publishing the backlog's size.
    fn dispatch_backlog(&mut self, tables: &PoolTables<'_>, prefetch: usize) -> usize {
        let mut handed = 0;
        if self.phase >= Phase::Terminating {
            return handed;
        }
        while !self.backlog.is_empty() {
            let Some(i) = self.pick_lane(prefetch) else {
                return handed;
            };
            let Some(mut job) = self.backlog.pop_front() else {
                return handed;
            };
            let handle = match job.handle {
                Some(h) => h,
                None => match tables.submit_from(self.next_task) {
                    Ok(h) => {
                        self.next_task = h.index() + 1;
                        h
                    }
                    Err(_) => {
                        self.backlog.push_front(job);
                        return handed;
                    }
                },
            };
            set_handle(&mut job.msg, handle);
            let Some(lane) = self.lanes[i].as_mut() else {
                unreachable!("`pick_lane` returns an occupied lane")
            };
            if !put_task(&lane.inbox, &job.msg, job.tail.as_deref()) {
                // Room comes back with its next result (its worker has read a message then);
                // a jammed inbox's worker is dead and is found so. The task keeps its slot.
                lane.stalled = true;
                job.handle = Some(handle);
                self.backlog.push_front(job);
                continue;
            }
            lane.custody += 1;
            lane.assigned += 1;
            handed += 1;
            self.records[handle.index()] = Some(Record {
                msg: job.msg,
                tail: job.tail,
                handle,
                sink: job.sink,
                tag: job.tag,
                lane: i,
            });
        }
        handed
    }

    /// Gives idle workers tasks still waiting in the inbox of a busy one, so that a slow task
    /// does not hold up the tasks queued behind it while other workers have nothing to do.
    /// Only when the backlog is empty (otherwise [`dispatch`](Self::dispatch) feeds them).
    /// Returns how many tasks it moved.
    ///
    /// A victim holds at least two tasks and keeps one: a task is only taken from behind
    /// another (running, or ahead of it in the inbox), never the only task of a worker that
    /// has not started it yet, which would just make that worker the idle one. (Taking it, the
    /// old rule, could leave a worker idle while a task waited behind a blocked one, with no
    /// event to come: see the `tests` module.) It passes over the idle workers until a pass
    /// moves nothing, so on return no worker is idle while a task waits behind another, as
    /// far as its inbox's count shows; workers only take tasks from their inboxes in between,
    /// which keeps that so until the next event (a result, a death, a new worker, a submit),
    /// and every event runs this.
    pub(in crate::pool) fn steal(&mut self, prefetch: usize) -> usize {
        if !self.backlog.is_empty() || self.phase >= Phase::Terminating {
            return 0;
        }
        let mut moved = 0;
        // Each move turns an idle worker busy and leaves its victim busy: at most one move
        // per worker, so at most `lanes + 1` passes.
        for _ in 0..=self.lanes.len() {
            let before = moved;
            moved += self.steal_pass(prefetch);
            if moved == before || !self.backlog.is_empty() {
                break;
            }
        }
        moved
    }

    /// One pass of [`steal`](Self::steal) over the idle workers.
    fn steal_pass(&mut self, prefetch: usize) -> usize {
        let lanes = || self.lanes.iter().flatten();
        // Without a worker holding two tasks there is no victim: this is the common case,
        // and costs no look at the inboxes.
        if !lanes().any(|l| l.custody >= 2) || !lanes().any(|l| Self::is_thief(l, prefetch)) {
            return 0;
        }
        let mut moved = 0;
        for thief in 0..self.lanes.len() {
            if !self.lanes[thief]
                .as_ref()
                .is_some_and(|l| Self::is_thief(l, prefetch))
            {
                continue;
            }
            // The lane with the most tasks waiting in its inbox, among those holding at least
            // two (the first of equals).
            let mut victim: Option<(usize, usize)> = None;
            for (v, lane) in self.lanes.iter().enumerate() {
                let Some(lane) = lane else { continue };
                if v == thief || lane.custody < 2 {
                    continue;
                }
                let waiting = lane.inbox.qsize();
                if waiting > 0 && victim.is_none_or(|(_, w)| waiting > w) {
                    victim = Some((v, waiting));
                }
            }
            let Some((victim, _)) = victim else {
                return moved;
            };
            let mut buf = std::mem::take(&mut self.scratch);
            let taken = self.lanes[victim]
                .as_ref()
                .is_some_and(|l| l.inbox.get_into_nowait(&mut buf).is_ok());
            let handle = taken.then(|| task_handle(&buf)).flatten();
            self.scratch = buf;
            let Some(handle) = handle else {
                continue; // the victim took it first
            };
            let Some(record) = self.records[handle.index()]
                .as_mut()
                .filter(|r| r.handle == handle && r.lane == victim)
            else {
                continue; // not ours: cannot happen, drop it
            };
            if let Some(v) = self.lanes[victim].as_mut() {
                v.custody -= 1;
                v.assigned -= 1;
                v.stalled = false;
            }
            let Some(t) = self.lanes[thief].as_mut() else {
                continue;
            };
            moved += 1;
            if put_task(&t.inbox, &record.msg, record.tail.as_deref()) {
                t.custody += 1;
                t.assigned += 1;
                record.lane = thief;
            } else {
                // Back to the front of the line, keeping its task slot. (An idle worker's
                // inbox is empty: only a jam, by a worker killed in a `get`, gets here.)
                t.stalled = true;
                if let Some(r) = self.records[handle.index()].take() {
                    self.backlog.push_front(Job {
                        msg: r.msg,
                        tail: r.tail,
                        handle: Some(r.handle),
                        sink: r.sink,
                        tag: r.tag,
                    });
                }
                return moved;
            }
        }
        moved
    }

    /// Whether `lane`'s worker has nothing to do and may take a task.
    fn is_thief(lane: &Lane, prefetch: usize) -> bool {
        lane.custody == 0 && lane.has_room(prefetch)
    }

    /// The backstop: hands out again what may be stranded, and tells whether a task still
    /// waits while a worker has nothing to do. Dispatch and steal run on every event (a
    /// result, a death, a new worker, a submit) and leave no worker idle while a task waits
    /// behind another (see [`steal`](Self::steal)); between events workers only take tasks
    /// from their inboxes, which keeps that so. So this should find nothing; the result thread
    /// still calls it before it sleeps, and while it returns `true` sleeps only briefly and
    /// calls it again, so that a missed dispatch (a bug) costs a delay, not a task stuck for
    /// ever behind a blocked one. What it moves is counted in [`rescued`](Self::rescued). A
    /// lane that was stalled by a failed put but holds nothing gets another chance here: no
    /// result of its would ever unstall it.
    pub(in crate::pool) fn retry_stranded(
        &mut self,
        tables: &PoolTables<'_>,
        prefetch: usize,
    ) -> bool {
        if self.phase >= Phase::Terminating {
            return false;
        }
        let mut idle = false;
        for lane in self.lanes.iter_mut().flatten() {
            if lane.custody == 0 {
                lane.stalled = false;
                idle |= lane.has_room(prefetch);
            }
        }
        if !idle {
            return false;
        }
        let moved = self.dispatch(tables, prefetch) + self.steal(prefetch);
        self.rescued += moved as u64;
        let idle = self
            .lanes
            .iter()
            .flatten()
            .any(|l| Self::is_thief(l, prefetch));
        let waiting = !self.backlog.is_empty()
            || self
                .lanes
                .iter()
                .flatten()
                .any(|l| l.custody >= 2 && l.inbox.qsize() > 0);
        idle && waiting
    }
}

/// Puts the task message `msg`, followed by `tail` if there is one, into `inbox` if there is
/// room now; `false` if not (full, or jammed). The two parts are written straight into the
/// blob chunk: no copy of them joined first.
fn put_task(inbox: &RawQueue, msg: &[u8], tail: Option<&[u8]>) -> bool {
    match tail {
        None => inbox.put_nowait(msg).is_ok(),
        Some(tail) => {
            let len = msg.len() + tail.len();
            if len <= inbox.inline_max() {
                return inbox.put_nowait([msg, tail].concat()).is_ok();
            }
            inbox
                .put_blob(len, Deadline::NoWait, |chunks, offset| {
                    chunks.write(offset, msg);
                    chunks.write(offset + msg.len(), tail);
                    Ok(len)
                })
                .is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    //! The scheduler driven directly: real inboxes and pool tables, the workers played by the
    //! test (a worker starts a task by taking it from its inbox; its result comes back through
    //! [`Rig::finish`], as in `Collector::complete_spans`). Every step is a plain call on one
    //! thread: nothing races, nothing sleeps.

    use std::sync::Arc;

    use super::*;
    use crate::pool::builder::queue_builder;
    use crate::pool::message::{TASK, TASK_HEADER};
    use crate::pool::result::{Outcome, Sink};
    use crate::pool::tables::Tables;

    struct NoSink;

    impl Sink for NoSink {
        fn deliver(&self, _: u32, _: Outcome<'_>) -> bool {
            false
        }
        fn wake(&self) {}
    }

    struct Rig {
        sched: Sched,
        tables: Tables,
        prefetch: usize,
    }

    impl Rig {
        fn new(workers: usize, prefetch: usize) -> Rig {
            let tasks = 2 * workers * prefetch + 64;
            let tables = Tables::new(workers, tasks, None, false).unwrap();
            let mut sched = Sched::new(workers, tasks);
            for lane in &mut sched.lanes {
                let inbox = queue_builder(prefetch, 1 << 16).build_raw().unwrap();
                *lane = Some(Lane::new(inbox, None));
            }
            Rig {
                sched,
                tables,
                prefetch,
            }
        }

        /// Submits tasks tagged `tags`, as `Pool::submit` does.
        fn submit(&mut self, tags: impl IntoIterator<Item = u32>) {
            for tag in tags {
                let mut msg = vec![0; TASK_HEADER];
                msg[0] = TASK;
                self.sched.backlog.push_back(Job {
                    msg,
                    tail: None,
                    handle: None,
                    sink: Arc::new(NoSink),
                    tag,
                });
            }
            let tables = self.tables.get();
            self.sched.dispatch(&tables, self.prefetch);
            self.sched.steal(self.prefetch);
        }

        fn lane(&self, i: usize) -> &Lane {
            self.sched.lanes[i].as_ref().unwrap()
        }

        /// Worker `i` starts its next task, if it has one in its inbox; returns its tag.
        fn start(&mut self, i: usize) -> Option<u32> {
            let mut buf = Vec::new();
            self.lane(i).inbox.get_into_nowait(&mut buf).ok()?;
            let handle = task_handle(&buf).unwrap();
            let record = self.sched.records[handle.index()].as_ref().unwrap();
            assert_eq!(
                record.lane, i,
                "a task is in the custody of the worker that has it"
            );
            Some(record.tag)
        }

        /// The results of the tasks tagged `tags` come back in one batch; `steal` says
        /// whether the result thread then runs dispatch and steal (it always does: `false`
        /// plays a missed event).
        fn finish(&mut self, tags: &[u32], steal: bool) {
            let tables = self.tables.get();
            for &tag in tags {
                let handle = self
                    .sched
                    .records
                    .iter()
                    .flatten()
                    .find(|r| r.tag == tag)
                    .unwrap()
                    .handle;
                assert!(self.sched.complete(&tables, handle).is_some());
            }
            if steal {
                self.sched.dispatch(&tables, self.prefetch);
                self.sched.steal(self.prefetch);
            }
        }

        /// The backstop, as the result thread runs it before sleeping.
        fn retry_stranded(&mut self) -> bool {
            let tables = self.tables.get();
            self.sched.retry_stranded(&tables, self.prefetch)
        }

        /// The tags of the tasks in each worker's custody.
        fn custody(&self) -> Vec<Vec<u32>> {
            (0..self.sched.lanes.len())
                .map(|i| {
                    let mut tags: Vec<u32> = self
                        .sched
                        .records
                        .iter()
                        .flatten()
                        .filter(|r| r.lane == i)
                        .map(|r| r.tag)
                        .collect();
                    tags.sort_unstable();
                    tags
                })
                .collect()
        }

        /// Whether a task waits behind another one while some worker has nothing to do:
        /// what `retry_stranded` would have to rescue.
        fn stranded(&self) -> bool {
            let lanes = || self.sched.lanes.iter().flatten();
            lanes().any(|l| l.custody == 0 && l.has_room(self.prefetch))
                && lanes().any(|l| l.custody >= 2 && l.inbox.qsize() > 0)
        }
    }

    /// Issue 12's suspected missed dispatch, step by step. Workers 0, 1, 2 get two tasks
    /// each. Worker 0 starts task 0, which then blocks until task 3, queued behind it, has run
    /// (a rendezvous); worker 1 finishes task 1 but has not yet started task 4; worker 2
    /// finishes both of its tasks. When those three results come back, worker 2 is idle and
    /// must take task 3 — not task 4, which would leave worker 1 idle and task 3 stuck behind
    /// task 0 with no event to come (the old `steal` did that: it chose the last of the
    /// equally loaded victims, worker 1, and made one pass, in which worker 1 had already had
    /// its turn as a thief).
    #[test]
    fn an_idle_worker_takes_the_task_stuck_behind_a_running_one() {
        let mut rig = Rig::new(3, 2);
        rig.submit(0..6);
        assert_eq!(rig.custody(), [[0, 3], [1, 4], [2, 5]]);
        assert_eq!(rig.start(0), Some(0));
        assert_eq!(rig.start(1), Some(1));
        assert_eq!((rig.start(2), rig.start(2)), (Some(2), Some(5)));
        rig.finish(&[1, 2, 5], true);

        assert!(!rig.stranded(), "{:?}", rig.custody());
        assert_eq!(rig.custody(), [vec![0], vec![4], vec![3]]);
        assert!(!rig.retry_stranded());
        assert_eq!(rig.sched.rescued, 0, "nothing was left for the backstop");
        assert_eq!((rig.start(1), rig.start(2)), (Some(4), Some(3)));
    }

    /// Two idle workers both take from the one blocked worker, and again after their next
    /// results; the blocked worker keeps the task it runs.
    #[test]
    fn idle_workers_drain_a_blocked_worker_event_after_event() {
        let mut rig = Rig::new(3, 4);
        rig.submit(0..12);
        assert_eq!(rig.custody(), [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]);
        assert_eq!(rig.start(0), Some(0)); // blocks
        let mut done = Vec::new();
        for w in 1..3 {
            while let Some(t) = rig.start(w) {
                done.push(t);
            }
        }
        rig.finish(&done, true);
        assert_eq!(rig.custody(), [vec![0, 9], vec![3], vec![6]]);
        assert_eq!((rig.start(1), rig.start(2)), (Some(3), Some(6)));
        rig.finish(&[3, 6], true);
        assert_eq!(rig.custody(), [vec![0], vec![9], vec![]]);
        assert!(!rig.stranded());
        assert!(!rig.retry_stranded());
        assert_eq!(rig.sched.rescued, 0);
    }

    /// The backstop still works, and counts: a missed event (results read without the
    /// dispatch and steal that follow them) leaves a task behind a blocked one while a worker
    /// is idle; `retry_stranded` moves it and counts one rescue.
    #[test]
    fn the_backstop_counts_what_it_rescues() {
        let mut rig = Rig::new(2, 2);
        rig.submit(0..4);
        assert_eq!(rig.custody(), [[0, 2], [1, 3]]);
        assert_eq!(rig.start(0), Some(0)); // blocks until task 2 has run
        assert_eq!((rig.start(1), rig.start(1)), (Some(1), Some(3)));
        rig.finish(&[1, 3], false);
        assert!(rig.stranded());
        assert!(
            !rig.retry_stranded(),
            "nothing is left stranded once it ran"
        );
        assert_eq!(rig.sched.rescued, 1);
        assert_eq!(rig.custody(), [vec![0], vec![2]]);
    }

    /// A small deterministic random walk over submits, starts and batches of results, with
    /// workers that run one task at a time and some that block: after every step no worker
    /// is idle while a task waits behind another, and the backstop never has anything to do.
    #[test]
    fn random_schedules_never_strand_a_task() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..200 {
            let workers = 2 + next(4) as usize;
            let mut rig = Rig::new(workers, 1 + next(4) as usize);
            let mut running: Vec<Option<u32>> = vec![None; workers];
            let mut tag = 0u32;
            for step in 0..200 {
                match next(4) {
                    0 => {
                        let n = 1 + next(6) as u32;
                        rig.submit(tag..tag + n);
                        tag += n;
                    }
                    1 | 2 => {
                        let w = next(workers as u64) as usize;
                        if running[w].is_none() {
                            running[w] = rig.start(w);
                        }
                    }
                    _ => {
                        // Some running tasks finish (a task may stay blocked for long).
                        let mut batch = Vec::new();
                        for r in &mut running {
                            if r.is_some() && next(3) == 0 {
                                batch.extend(r.take());
                            }
                        }
                        rig.finish(&batch, true);
                    }
                }
                assert!(
                    !rig.stranded(),
                    "round {round}, step {step}: {:?}",
                    rig.custody()
                );
                rig.retry_stranded();
                assert_eq!(rig.sched.rescued, 0, "round {round}, step {step}");
            }
        }
    }
}
