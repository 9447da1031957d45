use super::*;

extern crate std;
use std::vec::Vec;

fn tables<const W: usize, const T: usize>() -> ([WorkerSlot; W], [TaskSlot; T]) {
    (
        core::array::from_fn(|_| WorkerSlot::new()),
        core::array::from_fn(|_| TaskSlot::new()),
    )
}

fn ready_worker(pool: &PoolTables<'_>, pid: u32) -> WorkerId {
    let w = pool.add_worker().unwrap();
    pool.worker_started(w, pid).unwrap();
    w
}

#[test]
fn a_task_lives_and_is_released() {
    let (workers, tasks) = tables::<2, 4>();
    let pool = PoolTables::new(&workers, &tasks).unwrap();
    let w = ready_worker(&pool, 10);
    let t = pool.submit().unwrap();
    assert_eq!(pool.task_state(t), Ok(TaskState::Pending));
    assert_eq!(pool.release(t), Err(PoolError::WrongState), "not finished");
    pool.start(w, t).unwrap();
    let info = pool.worker(w.index()).unwrap();
    assert_eq!(
        (info.state, info.pid, info.task, info.tasks_done),
        (WorkerState::Running, Some(10), Some(t), 0)
    );
    pool.finish(w, t, false).unwrap();
    assert_eq!(pool.task_state(t), Ok(TaskState::Failed));
    let info = pool.worker(w.index()).unwrap();
    assert_eq!(
        (info.state, info.task, info.tasks_done),
        (WorkerState::Ready, None, 1)
    );
    assert_eq!(pool.release(t), Ok(TaskState::Failed));
    assert_eq!(pool.task_state(t), Err(PoolError::Stale));
    assert_eq!(pool.release(t), Err(PoolError::Stale));
}

#[test]
fn stale_handles_never_see_a_reused_slot() {
    let (workers, tasks) = tables::<1, 1>();
    let pool = PoolTables::new(&workers, &tasks).unwrap();
    let w = ready_worker(&pool, 1);
    let old = pool.submit().unwrap();
    pool.start(w, old).unwrap();
    pool.finish(w, old, true).unwrap();
    pool.release(old).unwrap();
    let new = pool.submit().unwrap();
    assert_eq!(new.index(), old.index());
    assert_ne!(new, old);
    assert_eq!(pool.task_state(old), Err(PoolError::Stale));
    assert_eq!(pool.start(w, old), Err(PoolError::Stale));
    assert_eq!(pool.release(old), Err(PoolError::Stale));
    assert_eq!(pool.task_state(new), Ok(TaskState::Pending));
    // Forged handles: a wrong generation, an index outside the table.
    assert_eq!(
        pool.task_state(TaskHandle::from_bits(new.to_bits() ^ (1 << 40))),
        Err(PoolError::Stale)
    );
    assert_eq!(
        pool.task_state(TaskHandle::from_bits(7)),
        Err(PoolError::Stale)
    );
    assert_eq!(TaskHandle::from_bits(new.to_bits()), new);
}

#[test]
fn generations_wrap() {
    let (workers, tasks) = tables::<1, 1>();
    tasks[0].word.store(task_word(u32::MAX, T_FREE, 0), Relaxed);
    let pool = PoolTables::new(&workers, &tasks).unwrap();
    let t = pool.submit().unwrap();
    assert_eq!(t.to_bits() >> 32, 0, "generation wrapped to 0");
    assert_eq!(pool.task_state(t), Ok(TaskState::Pending));
}

#[test]
fn tables_report_full() {
    let (workers, tasks) = tables::<1, 2>();
    let pool = PoolTables::new(&workers, &tasks).unwrap();
    pool.submit().unwrap();
    pool.submit().unwrap();
    assert_eq!(pool.submit(), Err(PoolError::NoFreeTask));
    ready_worker(&pool, 3);
    assert_eq!(pool.add_worker(), Err(PoolError::NoFreeWorker));
    assert!(PoolTables::new(&workers[..0], &tasks).is_err());
}

#[test]
fn only_one_worker_takes_a_task() {
    let (workers, tasks) = tables::<2, 2>();
    let pool = PoolTables::new(&workers, &tasks).unwrap();
    let (a, b) = (ready_worker(&pool, 1), ready_worker(&pool, 2));
    let t = pool.submit().unwrap();
    pool.start(a, t).unwrap();
    assert_eq!(pool.start(b, t), Err(PoolError::WrongState));
    assert_eq!(
        pool.finish(b, t, true),
        Err(PoolError::WrongState),
        "not b's task"
    );
    let t2 = pool.submit().unwrap();
    assert_eq!(pool.start(a, t2), Err(PoolError::WrongState), "a is busy");
}

#[test]
fn a_dead_workers_task_is_lost_and_its_slot_reused() {
    let (workers, tasks) = tables::<1, 4>();
    let pool = PoolTables::new(&workers, &tasks).unwrap();
    let w = ready_worker(&pool, 100);
    let running = pool.submit().unwrap();
    let pending = pool.submit().unwrap();
    pool.start(w, running).unwrap();
    pool.worker_blocked(w).unwrap();
    assert_eq!(pool.worker(0).unwrap().state, WorkerState::Blocked);
    let mut lost = Vec::new();
    assert_eq!(pool.worker_died(w, |t| lost.push(t)), Ok(1));
    assert_eq!(lost, [running]);
    assert_eq!(pool.worker_died(w, |_| unreachable!()), Ok(0), "idempotent");
    assert_eq!(pool.task_state(running), Ok(TaskState::Lost));
    assert_eq!(
        pool.task_state(pending),
        Ok(TaskState::Pending),
        "others untouched"
    );
    assert_eq!(
        pool.finish(w, running, true),
        Err(PoolError::WrongState),
        "a late result is refused"
    );
    assert_eq!(pool.worker(0).unwrap().state, WorkerState::Dead);

    let replacement = ready_worker(&pool, 101);
    assert_eq!(replacement.index(), w.index());
    assert_ne!(replacement, w);
    assert_eq!(pool.worker_died(w, |_| {}), Err(PoolError::Stale), "old id");
    assert_eq!(pool.worker_blocked(w), Err(PoolError::Stale));
    pool.start(replacement, pending).unwrap();
    pool.finish(replacement, pending, true).unwrap();
    let info = pool.worker(0).unwrap();
    assert_eq!(
        (info.pid, info.tasks_done, info.state),
        (Some(101), 1, WorkerState::Ready)
    );
}

#[test]
fn cancel_pending_spares_running_and_finished_tasks() {
    let (workers, tasks) = tables::<1, 4>();
    let pool = PoolTables::new(&workers, &tasks).unwrap();
    let w = ready_worker(&pool, 1);
    let (a, b, c) = (
        pool.submit().unwrap(),
        pool.submit().unwrap(),
        pool.submit().unwrap(),
    );
    pool.start(w, a).unwrap();
    assert_eq!(pool.cancel_pending(), 2);
    assert_eq!(pool.task_state(b), Ok(TaskState::Cancelled));
    assert_eq!(pool.task_state(c), Ok(TaskState::Cancelled));
    assert_eq!(pool.start(w, b), Err(PoolError::WrongState));
    assert_eq!(pool.task_state(a), Ok(TaskState::Running(0)));
    let mut on = Vec::new();
    pool.running_on(0, |t| on.push(t));
    assert_eq!(on, [a]);
    assert_eq!(pool.release(b), Ok(TaskState::Cancelled));
}

#[test]
fn worker_transitions_check_their_start_state() {
    let (workers, tasks) = tables::<1, 1>();
    let pool = PoolTables::new(&workers, &tasks).unwrap();
    let w = pool.add_worker().unwrap();
    assert_eq!(pool.worker(0).unwrap().state, WorkerState::New);
    let t = pool.submit().unwrap();
    assert_eq!(
        pool.start(w, t),
        Err(PoolError::WrongState),
        "not ready yet"
    );
    assert_eq!(pool.worker_blocked(w), Err(PoolError::WrongState));
    pool.worker_started(w, 5).unwrap();
    assert_eq!(pool.worker_started(w, 5), Err(PoolError::WrongState));
    assert_eq!(pool.worker_unblocked(w), Err(PoolError::WrongState));
    assert!(pool.worker(1).is_none());
}

#[test]
fn submit_from_starts_where_asked_and_wraps_round() {
    let (workers, tasks) = tables::<1, 4>();
    let pool = PoolTables::new(&workers, &tasks).unwrap();
    let a = pool.submit_from(2).unwrap();
    let b = pool.submit_from(a.index() + 1).unwrap();
    let c = pool.submit_from(99).unwrap(); // out of range: from 0
    let d = pool.submit_from(3).unwrap(); // 3 taken: wraps to the first free
    let taken: Vec<usize> = [a, b, c, d].iter().map(|h| h.index()).collect();
    assert_eq!(taken, [2, 3, 0, 1]);
    assert_eq!(pool.submit_from(1), Err(PoolError::NoFreeTask));
    let w = ready_worker(&pool, 10);
    pool.start(w, b).unwrap();
    pool.finish(w, b, true).unwrap();
    pool.release(b).unwrap();
    assert_eq!(pool.submit_from(0).unwrap().index(), 3);
}
