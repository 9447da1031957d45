use super::*;

#[test]
fn a_message_that_is_not_an_item_counts_done() {
    let q = JoinableQueue::<bool>::new(0).unwrap();
    // A counted put of bytes that are no `bool`, as a broken producer would make.
    q.counted(|| q.queue.raw.put([2]).map_err(drop)).unwrap();
    assert_eq!(q.unfinished_tasks(), 1);
    assert!(matches!(q.get_nowait(), Err(GetNowaitError::Decode(_))));
    assert_eq!(q.unfinished_tasks(), 0);
    assert_eq!(q.counts.ledger.held(HELD), 0);
    q.join().unwrap();
}

#[test]
fn garbage_counts_cannot_panic_nor_hang_a_timed_join() {
    let q = JoinableQueue::<u8>::new(4).unwrap();
    let c = &q.counts;
    for garbage in [u64::MAX, u64::MAX - 1, 1 << 63, 0, 1] {
        c.unfinished().store(garbage, Relaxed);
        c.foreign().store(garbage.rotate_left(7), Relaxed);
        let _ = q.put(1);
        let _ = q.get_nowait();
        let _ = q.task_done();
        let _ = q.task_done();
        let _ = q.join_timeout(Duration::ZERO);
        let _ = q.unfinished_tasks();
        let _ = format!("{q:?}");
    }
    // An honest state again: everything works.
    c.unfinished().store(0, Relaxed);
    c.foreign().store(0, Relaxed);
    q.try_iter().for_each(drop);
    q.put(3).unwrap();
    assert_eq!(q.get().unwrap(), 3);
    q.task_done().unwrap();
    assert_eq!(q.join_timeout(Duration::ZERO), Ok(()));
}
