//! `pool_tables`: arbitrary transitions on ipc-core's pool bookkeeping (`PoolTables`),
//! with every handle and worker id ever issued kept (so stale and forged ones are
//! used too), checked step by step against a model: same results and errors, no task
//! slot handed out twice, no result readable through a stale handle, no task lost
//! without `worker_died` saying so, and every worker's reported state, pid, task and
//! count of tasks done as the model says.
#![no_main]

use arbitrary::Arbitrary;
use ipc_core::pool::{
    PoolError, PoolTables, TaskHandle, TaskSlot, TaskState, WorkerId, WorkerSlot, WorkerState,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// 1..=4 worker slots, 1..=8 task slots after reduction.
    workers: u8,
    tasks: u8,
    ops: Vec<Op>,
}

/// Handles and worker ids are picked by index (modulo) from all those ever issued.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    Submit,
    Start { worker: u8, task: u8 },
    Finish { worker: u8, task: u8, ok: bool },
    Release { task: u8 },
    State { task: u8 },
    Forged { bits: u64 },
    AddWorker,
    Started { worker: u8, pid: u16 },
    Blocked { worker: u8 },
    Unblocked { worker: u8 },
    Died { worker: u8 },
    CancelPending,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct TaskModel {
    handle: TaskHandle,
    state: TaskState,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct WorkerModel {
    id: WorkerId,
    state: WorkerState,
    pid: Option<u32>,
    task: Option<TaskHandle>,
    done: u64,
}

struct Model {
    tasks: Vec<Option<TaskModel>>,
    workers: Vec<Option<WorkerModel>>,
}

impl Model {
    fn task(&self, h: TaskHandle) -> Option<TaskModel> {
        self.tasks
            .get(h.index())
            .copied()
            .flatten()
            .filter(|t| t.handle == h)
    }

    fn worker(&self, w: WorkerId) -> Option<WorkerModel> {
        self.workers[w.index()].filter(|m| m.id == w)
    }
}

fn pick<T: Copy>(all: &[T], at: u8) -> Option<T> {
    (!all.is_empty()).then(|| all[at as usize % all.len()])
}

fuzz_target!(|input: Input| {
    let workers: Vec<WorkerSlot> = (0..1 + input.workers % 4)
        .map(|_| WorkerSlot::new())
        .collect();
    let tasks: Vec<TaskSlot> = (0..1 + input.tasks % 8).map(|_| TaskSlot::new()).collect();
    let pool = PoolTables::new(&workers, &tasks).unwrap();
    let mut model = Model {
        tasks: vec![None; tasks.len()],
        workers: vec![None; workers.len()],
    };
    let mut handles: Vec<TaskHandle> = Vec::new();
    let mut ids: Vec<WorkerId> = Vec::new();

    for op in input.ops.into_iter().take(256) {
        match op {
            Op::Submit => {
                let free = model.tasks.iter().position(Option::is_none);
                match (pool.submit(), free) {
                    (Ok(h), Some(index)) => {
                        assert_eq!(h.index(), index, "the first free slot");
                        assert!(!handles.contains(&h), "a handle issued twice: {h:?}");
                        model.tasks[index] = Some(TaskModel {
                            handle: h,
                            state: TaskState::Pending,
                        });
                        handles.push(h);
                    }
                    (Err(PoolError::NoFreeTask), None) => {}
                    (got, want) => panic!("submit: {got:?}, model free slot {want:?}"),
                }
            }
            Op::Start { worker, task } => {
                let (Some(w), Some(h)) = (pick(&ids, worker), pick(&handles, task)) else {
                    continue;
                };
                let want = match (model.worker(w), model.task(h)) {
                    (None, _) => Err(PoolError::Stale),
                    (Some(m), _) if m.state != WorkerState::Ready => Err(PoolError::WrongState),
                    (_, None) => Err(PoolError::Stale),
                    (_, Some(t)) if t.state != TaskState::Pending => Err(PoolError::WrongState),
                    _ => Ok(()),
                };
                assert_eq!(pool.start(w, h), want, "start({w:?}, {h:?})");
                if want.is_ok() {
                    model.tasks[h.index()].as_mut().unwrap().state = TaskState::Running(w.index());
                    let m = model.workers[w.index()].as_mut().unwrap();
                    m.state = WorkerState::Running;
                    m.task = Some(h);
                }
            }
            Op::Finish { worker, task, ok } => {
                let (Some(w), Some(h)) = (pick(&ids, worker), pick(&handles, task)) else {
                    continue;
                };
                let want = match (model.worker(w), model.task(h)) {
                    (None, _) => Err(PoolError::Stale),
                    (_, None) => Err(PoolError::Stale),
                    (_, Some(t)) if t.state != TaskState::Running(w.index()) => {
                        Err(PoolError::WrongState)
                    }
                    _ => Ok(()),
                };
                assert_eq!(pool.finish(w, h, ok), want, "finish({w:?}, {h:?})");
                if want.is_ok() {
                    let end = if ok {
                        TaskState::Done
                    } else {
                        TaskState::Failed
                    };
                    model.tasks[h.index()].as_mut().unwrap().state = end;
                    let m = model.workers[w.index()].as_mut().unwrap();
                    m.task = None;
                    m.done += 1;
                    if matches!(m.state, WorkerState::Running | WorkerState::Blocked) {
                        m.state = WorkerState::Ready;
                    }
                }
            }
            Op::Release { task } => {
                let Some(h) = pick(&handles, task) else {
                    continue;
                };
                let want = match model.task(h) {
                    None => Err(PoolError::Stale),
                    Some(t) if !t.state.is_finished() => Err(PoolError::WrongState),
                    Some(t) => Ok(t.state),
                };
                assert_eq!(pool.release(h), want, "release({h:?})");
                if want.is_ok() {
                    model.tasks[h.index()] = None;
                }
            }
            Op::State { task } => {
                let Some(h) = pick(&handles, task) else {
                    continue;
                };
                let want = model.task(h).map(|t| t.state).ok_or(PoolError::Stale);
                assert_eq!(
                    pool.task_state(h),
                    want,
                    "a stale handle must never read a state"
                );
            }
            Op::Forged { bits } => {
                let h = TaskHandle::from_bits(bits);
                let want = model.task(h).map(|t| t.state).ok_or(PoolError::Stale);
                assert_eq!(pool.task_state(h), want, "forged {h:?}");
            }
            Op::AddWorker => {
                let free = model
                    .workers
                    .iter()
                    .position(|m| m.is_none_or(|m| m.state == WorkerState::Dead));
                match (pool.add_worker(), free) {
                    (Ok(w), Some(index)) => {
                        assert_eq!(w.index(), index);
                        assert!(!ids.contains(&w), "a worker id issued twice: {w:?}");
                        model.workers[index] = Some(WorkerModel {
                            id: w,
                            state: WorkerState::New,
                            pid: None,
                            task: None,
                            done: 0,
                        });
                        ids.push(w);
                    }
                    (Err(PoolError::NoFreeWorker), None) => {}
                    (got, want) => panic!("add_worker: {got:?}, model free slot {want:?}"),
                }
            }
            Op::Started { worker, pid } => {
                let Some(w) = pick(&ids, worker) else {
                    continue;
                };
                let pid = u32::from(pid) + 1;
                let want = transition(&model, w, WorkerState::New);
                assert_eq!(pool.worker_started(w, pid), want);
                if want.is_ok() {
                    let m = model.workers[w.index()].as_mut().unwrap();
                    m.state = WorkerState::Ready;
                    m.pid = Some(pid);
                }
            }
            Op::Blocked { worker } => {
                let Some(w) = pick(&ids, worker) else {
                    continue;
                };
                let want = transition(&model, w, WorkerState::Running);
                assert_eq!(pool.worker_blocked(w), want);
                if want.is_ok() {
                    model.workers[w.index()].as_mut().unwrap().state = WorkerState::Blocked;
                }
            }
            Op::Unblocked { worker } => {
                let Some(w) = pick(&ids, worker) else {
                    continue;
                };
                let want = transition(&model, w, WorkerState::Blocked);
                assert_eq!(pool.worker_unblocked(w), want);
                if want.is_ok() {
                    model.workers[w.index()].as_mut().unwrap().state = WorkerState::Running;
                }
            }
            Op::Died { worker } => {
                let Some(w) = pick(&ids, worker) else {
                    continue;
                };
                let mut reported = Vec::new();
                let got = pool.worker_died(w, |h| reported.push(h));
                let Some(m) = model.worker(w) else {
                    assert_eq!(got, Err(PoolError::Stale));
                    continue;
                };
                let mut lost: Vec<TaskHandle> = model
                    .tasks
                    .iter()
                    .flatten()
                    .filter(|t| t.state == TaskState::Running(w.index()))
                    .map(|t| t.handle)
                    .collect();
                assert_eq!(got, Ok(lost.len()), "worker_died({w:?})");
                reported.sort_by_key(|h| h.index());
                lost.sort_by_key(|h| h.index());
                assert_eq!(reported, lost, "exactly its running tasks are lost");
                for h in lost {
                    model.tasks[h.index()].as_mut().unwrap().state = TaskState::Lost;
                }
                model.workers[w.index()] = Some(WorkerModel {
                    state: WorkerState::Dead,
                    task: None,
                    ..m
                });
            }
            Op::CancelPending => {
                let pending: Vec<usize> = (0..model.tasks.len())
                    .filter(|&i| model.tasks[i].is_some_and(|t| t.state == TaskState::Pending))
                    .collect();
                assert_eq!(pool.cancel_pending(), pending.len());
                for i in pending {
                    model.tasks[i].as_mut().unwrap().state = TaskState::Cancelled;
                }
            }
        }
        // The whole worker table reads as the model says.
        for (index, m) in model.workers.iter().enumerate() {
            let info = pool.worker(index);
            match m {
                None => assert!(info.is_none()),
                Some(m) => {
                    let info = info.expect("an allocated worker slot");
                    assert_eq!(
                        (info.id, info.state, info.pid, info.task, info.tasks_done),
                        (m.id, m.state, m.pid, m.task, m.done),
                        "worker {index}"
                    );
                }
            }
        }
    }
});

/// The result of a worker transition that starts from `from`, per the model.
fn transition(model: &Model, w: WorkerId, from: WorkerState) -> Result<(), PoolError> {
    match model.worker(w) {
        None => Err(PoolError::Stale),
        Some(m) if m.state != from => Err(PoolError::WrongState),
        Some(_) => Ok(()),
    }
}
