//! `close()` and `try_iter()` of [`Queue`] and [`RawQueue`], and [`SimpleQueue`]: CPython's
//! `_test_multiprocessing.py` cases for them (`test_closed_queue_put_get_exceptions`,
//! `test_closed_queue_empty_exceptions`, `TestSimpleQueue`), plus what "per process" means
//! across a fork.
//!
//! Each body runs under a watchdog; nothing sleeps to synchronise (processes hand each other
//! messages through queues).

mod common;

use common::{join_ok, spawn, watchdog_secs};

use host_runtime::queue::Builder;
use host_runtime::{
    GetError, GetNowaitError, GetTimeoutError, PutError, PutNowaitError, PutTimeoutError, Queue,
    RawGetError, RawGetNowaitError, RawGetTimeoutError, RawPutError, RawPutNowaitError,
    RawPutTimeoutError, RawQueue, SimpleQueue,
};
use std::time::Duration;

fn watchdog(body: impl FnOnce() + Send + 'static) {
    watchdog_secs(60, body);
}

const T: Duration = Duration::from_millis(1);

/// CPython `test_closed_queue_put_get_exceptions`: after `close()`, put and get raise
/// `ValueError('... is closed')`; here every form returns its `Closed` variant, and a put hands
/// the item back.
#[test]
fn closed_queue_put_get_errors() {
    watchdog(|| {
        let q = Queue::<String>::new(0).unwrap();
        q.close();
        let item = |e: PutError<String>| e.into_inner();
        assert!(matches!(q.put("foo".into()), Err(PutError::Closed(_))));
        assert_eq!(item(q.put("foo".into()).unwrap_err()), "foo");
        assert!(matches!(
            q.put_timeout("foo".into(), T),
            Err(PutTimeoutError::Closed(s)) if s == "foo"
        ));
        assert!(matches!(
            q.put_nowait("foo".into()),
            Err(PutNowaitError::Closed(s)) if s == "foo"
        ));
        assert!(matches!(q.get(), Err(GetError::Closed)));
        assert!(matches!(q.get_timeout(T), Err(GetTimeoutError::Closed)));
        assert!(matches!(q.get_nowait(), Err(GetNowaitError::Closed)));
        assert!(q
            .put("foo".into())
            .unwrap_err()
            .to_string()
            .contains("closed"));
        let kept = String::from("foo");
        assert!(matches!(q.put_ref(&kept), Err(PutError::Closed(()))));
        assert!(matches!(
            q.put_ref_timeout(&kept, T),
            Err(PutTimeoutError::Closed(()))
        ));
        assert!(matches!(
            q.put_ref_nowait(&kept),
            Err(PutNowaitError::Closed(()))
        ));

        let raw = RawQueue::new(4).unwrap();
        raw.close();
        assert!(matches!(raw.put(b"foo"), Err(RawPutError::Closed(b"foo"))));
        assert!(matches!(
            raw.put_timeout(b"foo", T),
            Err(RawPutTimeoutError::Closed(b"foo"))
        ));
        assert!(matches!(
            raw.put_nowait(b"foo"),
            Err(RawPutNowaitError::Closed(b"foo"))
        ));
        assert!(matches!(raw.get(), Err(RawGetError::Closed)));
        assert!(matches!(
            raw.get_timeout(T),
            Err(RawGetTimeoutError::Closed)
        ));
        assert!(matches!(raw.get_nowait(), Err(RawGetNowaitError::Closed)));
        let mut buf = b"kept".to_vec();
        assert!(matches!(raw.get_into(&mut buf), Err(RawGetError::Closed)));
        assert_eq!(buf, b"kept");
    });
}

/// CPython `test_closed_queue_empty_exceptions` (first half): `close()` of an unused queue,
/// twice, and `empty()` afterwards. (Python's second half, `empty()` raising `OSError` on a
/// used and closed queue, has no counterpart: the shared memory stays mapped, `empty` answers.)
#[test]
fn closing_twice_and_looking_afterwards() {
    watchdog(|| {
        let q = Queue::<u8>::new(2).unwrap();
        q.close();
        q.close();
        assert!(q.empty());
        assert_eq!(q.qsize(), 0);
        assert!(!q.full());
    });
}

/// Close is per process and queue object: every clone here is closed, the items put before
/// stay for the others, a child forked after the close has the queue open (Python's
/// `_after_fork`), and a child's close does not close the parent's.
#[test]
fn close_is_per_process() {
    watchdog(|| {
        let q = Queue::<u32>::new(0).unwrap();
        let reply = Queue::<u32>::new(0).unwrap();
        q.put(1).unwrap();
        let clone = q.clone();
        q.close();
        assert!(matches!(clone.put(2), Err(PutError::Closed(2))));
        assert!(matches!(clone.get_nowait(), Err(GetNowaitError::Closed)));
        assert_eq!(q.qsize(), 1);

        // Forked after the close: open in the child, which takes the item left and answers.
        let (child_q, child_reply) = (q.clone(), reply.clone());
        let p = spawn(move || {
            assert_eq!(child_q.get().unwrap(), 1);
            child_q.put(10).unwrap();
            child_q.close();
            assert!(matches!(child_q.put(11), Err(PutError::Closed(11))));
            child_reply.put(99).unwrap();
        });
        assert_eq!(reply.get().unwrap(), 99);
        join_ok(&p);
        assert_eq!(q.qsize(), 1);
        assert!(matches!(q.get(), Err(GetError::Closed)));

        // A child's close leaves the parent's queue open.
        let open = Queue::<u32>::new(0).unwrap();
        let child_open = open.clone();
        let p = spawn(move || {
            child_open.close();
            assert!(child_open.put(5).is_err());
        });
        join_ok(&p);
        open.put(6).unwrap();
        assert_eq!(open.get().unwrap(), 6);
    });
}

/// Another `open_named` of the same queue is another object: closing one leaves the other open.
#[test]
fn another_open_of_a_named_queue_is_not_closed() {
    watchdog(|| {
        let name = format!("host-runtime-test-{}-close", std::process::id());
        let _ = RawQueue::unlink_named(&name);
        let a = Builder::new().maxsize(4).create_named_raw(&name).unwrap();
        let b = RawQueue::open_named(&name).unwrap();
        RawQueue::unlink_named(&name).unwrap();
        a.close();
        b.put(b"still open").unwrap();
        assert!(matches!(a.get_nowait(), Err(RawGetNowaitError::Closed)));
        assert_eq!(b.get().unwrap(), b"still open");
    });
}

/// `try_iter` takes what is there in order, ends at the first empty and stays ended; later
/// puts are taken by a new iterator.
#[test]
fn try_iter_drains_in_order_and_ends_at_empty() {
    watchdog(|| {
        let q = Queue::<u64>::new(0).unwrap();
        assert_eq!(q.try_iter().count(), 0);
        let tx = q.clone();
        let p = spawn(move || {
            for i in 0..1000 {
                tx.put(i).unwrap();
            }
        });
        join_ok(&p);
        let mut it = q.try_iter();
        let got: Vec<u64> = it.by_ref().map(Result::unwrap).collect();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        q.put(7).unwrap();
        assert!(it.next().is_none(), "fused: ended for good");
        let again: Vec<u64> = q.try_iter().map(Result::unwrap).collect();
        assert_eq!(again, [7]);

        let raw = RawQueue::new(8).unwrap();
        raw.put(b"a").unwrap();
        raw.put(vec![b'b'; 5000]).unwrap(); // a long one, through the blob pool
        let got: Vec<Vec<u8>> = raw.try_iter().map(Result::unwrap).collect();
        assert_eq!(got, [b"a".to_vec(), vec![b'b'; 5000]]);
        assert!(raw.empty());
    });
}

/// A message that is not a `T` is yielded as a decode error and the drain goes on; a closed
/// queue yields `Closed` once and ends.
#[test]
fn try_iter_yields_decode_errors_and_closed_once() {
    watchdog(|| {
        let name = format!("host-runtime-test-{}-tryiter", std::process::id());
        let _ = RawQueue::unlink_named(&name);
        let q = Queue::<bool>::builder()
            .maxsize(8)
            .create_named(&name)
            .unwrap();
        let raw = RawQueue::open_named(&name).unwrap();
        RawQueue::unlink_named(&name).unwrap();
        q.put(true).unwrap();
        raw.put([2]).unwrap(); // not a bool
        q.put(false).unwrap();
        let got: Vec<Result<bool, GetError>> = q.try_iter().collect();
        assert_eq!(got.len(), 3);
        assert!(matches!(got[0], Ok(true)));
        assert!(matches!(got[1], Err(GetError::Decode(_))));
        assert!(matches!(got[2], Ok(false)));

        q.put(true).unwrap();
        q.close();
        let mut it = q.try_iter();
        assert!(matches!(it.next(), Some(Err(GetError::Closed))));
        assert!(it.next().is_none());
        assert_eq!(raw.try_iter().count(), 1, "the item stays for the others");
    });
}

/// CPython `TestSimpleQueue.test_empty`: the child puts what `empty()` says before and after
/// its first put, once the parent saw the queue empty.
#[test]
fn simple_queue_empty_across_processes() {
    watchdog(|| {
        let queue = SimpleQueue::<bool>::new().unwrap();
        let child_can_start = SimpleQueue::<()>::new().unwrap();
        let parent_can_continue = SimpleQueue::<()>::new().unwrap();
        let (q, start, cont) = (
            queue.clone(),
            child_can_start.clone(),
            parent_can_continue.clone(),
        );
        let p = spawn(move || {
            start.get().unwrap();
            q.put(q.empty()).unwrap();
            q.put(q.empty()).unwrap();
            cont.put(()).unwrap();
        });
        assert!(queue.empty());
        child_can_start.put(()).unwrap();
        parent_can_continue.get().unwrap();
        assert!(!queue.empty());
        assert!(queue.get().unwrap());
        assert!(!queue.get().unwrap());
        assert!(queue.empty());
        join_ok(&p);
    });
}

/// CPython `TestSimpleQueue.test_close`: closing twice does not fail; afterwards this
/// process's put and get are refused (Python's raise `OSError`: the pipe is closed).
#[test]
fn simple_queue_close() {
    watchdog(|| {
        let queue = SimpleQueue::<String>::new().unwrap();
        queue.put("left".into()).unwrap();
        let other = queue.clone();
        queue.close();
        queue.close();
        assert!(matches!(other.put("x".into()), Err(PutError::Closed(s)) if s == "x"));
        assert!(matches!(other.get(), Err(GetError::Closed)));
        assert!(!queue.empty());
        // A child forked now has it open, and finds the item left.
        let p = spawn(move || assert_eq!(other.get().unwrap(), "left"));
        join_ok(&p);
        assert!(queue.empty());
    });
}
