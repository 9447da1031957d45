//! Integration tests for [`host_runtime::channel`]: channels between forked processes, their
//! disconnection by drop and by death, and the rendezvous.
//!
//! Each test body runs under a watchdog (a bug that blocks fails instead of hanging) and one
//! at a time. No test sleeps to synchronise: a child says where it is through another channel.

mod common;

use std::thread;
use std::time::Duration;

use common::watchdog_secs;
use host_runtime::channel::{
    self, bytes, channel, unbounded, RecvError, RecvTimeoutError, SendError, SendTimeoutError,
    TryRecvError, TrySendError,
};
use host_runtime::Process;

fn watchdog(body: impl FnOnce() + Send + 'static) {
    watchdog_secs(60, body);
}

#[test]
fn round_trip_and_iter_ends_when_the_child_is_done() {
    watchdog(|| {
        let (tx, rx) = channel::<(u32, String)>(4).unwrap();
        let p = Process::new(move || {
            for i in 0..100 {
                tx.send((i, format!("m{i}"))).unwrap();
            }
        });
        p.start().unwrap();
        let got: Vec<_> = rx.iter().collect();
        assert_eq!(got.len(), 100);
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, (n, s))| *n == i as u32 && *s == format!("m{i}")));
        assert!(matches!(rx.recv(), Err(RecvError::Disconnected)));
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Disconnected)));
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn a_handle_inherited_by_a_child_counts_until_the_child_exits() {
    watchdog(|| {
        let (tx, rx) = channel::<u8>(4).unwrap();
        let (go_tx, go_rx) = channel::<()>(1).unwrap();
        let held = tx.clone();
        // The child never touches `held`: it holds it from the fork on, and until it exits.
        let p = Process::new(move || {
            let _held = held;
            go_rx.recv().unwrap();
        });
        p.start().unwrap();
        tx.send(1).unwrap();
        drop(tx);
        assert_eq!(rx.recv().unwrap(), 1);
        // The child's copy is the last sender: not disconnected.
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        assert!(matches!(
            rx.recv_timeout(Duration::from_millis(50)),
            Err(RecvTimeoutError::Timeout)
        ));
        go_tx.send(()).unwrap();
        assert!(matches!(rx.recv(), Err(RecvError::Disconnected)));
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn clones_count_per_handle() {
    watchdog(|| {
        let (tx, rx) = channel::<u8>(4).unwrap();
        let tx2 = tx.clone();
        let rx2 = rx.clone();
        drop(tx);
        tx2.send(3).unwrap();
        drop(rx);
        assert_eq!(rx2.recv().unwrap(), 3);
        drop(tx2);
        assert!(rx2.recv().unwrap_err().is_disconnected());
    });
}

#[test]
fn a_blocked_recv_wakes_when_the_last_sender_is_dropped() {
    watchdog(|| {
        let (tx, rx) = channel::<u8>(1).unwrap();
        let (state_tx, state_rx) = channel::<String>(1).unwrap();
        let (end_tx, end_rx) = channel::<()>(1).unwrap();
        // The child drops its sender and lives on: the parent sees the drop, not a death.
        let p = Process::new(move || {
            tx.send(9).unwrap();
            drop(tx);
            state_tx.send("dropped".into()).unwrap();
            let _ = end_rx.recv();
        });
        p.start().unwrap();
        assert_eq!(rx.recv().unwrap(), 9);
        assert_eq!(state_rx.recv().unwrap(), "dropped");
        assert!(matches!(rx.recv(), Err(RecvError::Disconnected)));
        assert!(p.is_alive());
        end_tx.send(()).unwrap();
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn a_thread_blocked_in_recv_wakes_on_drop() {
    watchdog(|| {
        let (tx, rx) = channel::<u8>(1).unwrap();
        let t = thread::spawn(move || rx.recv());
        // Whether the thread is asleep yet or not, it must end with Disconnected.
        drop(tx);
        assert!(matches!(t.join().unwrap(), Err(RecvError::Disconnected)));
    });
}

#[test]
fn a_killed_producer_disconnects_the_channel() {
    watchdog(|| {
        let (tx, rx) = channel::<u32>(2).unwrap();
        let (ready_tx, ready_rx) = channel::<()>(1).unwrap();
        let p = Process::new(move || {
            tx.send(1).unwrap();
            ready_tx.send(()).unwrap();
            // Holds `tx` until killed.
            loop {
                thread::park();
            }
        });
        p.start().unwrap();
        ready_rx.recv().unwrap();
        p.kill().unwrap();
        p.join().unwrap();
        // No drop ever happened: the death is found by the blocked recv's repair.
        assert_eq!(rx.recv().unwrap(), 1);
        assert!(matches!(rx.recv(), Err(RecvError::Disconnected)));
    });
}

#[test]
fn a_killed_producer_disconnects_a_polling_receiver() {
    watchdog(|| {
        let (tx, rx) = channel::<u32>(2).unwrap();
        let (ready_tx, ready_rx) = channel::<()>(1).unwrap();
        let p = Process::new(move || {
            let _tx = tx;
            ready_tx.send(()).unwrap();
            loop {
                thread::park();
            }
        });
        p.start().unwrap();
        ready_rx.recv().unwrap();
        p.kill().unwrap();
        p.join().unwrap();
        // try_recv looks for the dead at most every 200 ms: poll until it does.
        loop {
            match rx.try_recv() {
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Disconnected) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
    });
}

#[test]
fn a_channel_without_receivers_refuses_sends() {
    watchdog(|| {
        let (tx, rx) = channel::<String>(4).unwrap();
        drop(rx);
        assert!(matches!(tx.send("a".into()), Err(SendError::Disconnected(s)) if s == "a"));
        assert!(matches!(
            tx.try_send("b".into()),
            Err(TrySendError::Disconnected(_))
        ));
        assert!(matches!(
            tx.send_timeout("c".into(), Duration::from_secs(1)),
            Err(SendTimeoutError::Disconnected(_))
        ));
    });
}

#[test]
fn a_blocked_sender_wakes_when_the_receiver_process_dies() {
    watchdog(|| {
        let (tx, rx) = channel::<u8>(1).unwrap();
        let (ready_tx, ready_rx) = channel::<()>(1).unwrap();
        let p = Process::new(move || {
            let _rx = rx;
            ready_tx.send(()).unwrap();
            loop {
                thread::park();
            }
        });
        p.start().unwrap();
        ready_rx.recv().unwrap();
        tx.send(1).unwrap(); // fills it
        let blocked = thread::spawn(move || tx.send(2));
        p.kill().unwrap();
        p.join().unwrap();
        assert!(matches!(
            blocked.join().unwrap(),
            Err(SendError::Disconnected(2))
        ));
    });
}

#[test]
fn a_blocked_sender_wakes_when_the_last_receiver_is_dropped() {
    watchdog(|| {
        let (tx, rx) = channel::<u8>(1).unwrap();
        tx.send(1).unwrap();
        let blocked = thread::spawn(move || tx.send(2));
        drop(rx);
        assert!(matches!(
            blocked.join().unwrap(),
            Err(SendError::Disconnected(2))
        ));
    });
}

#[test]
fn rendezvous_send_returns_once_the_message_was_taken() {
    watchdog(|| {
        let (tx, rx) = channel::<u32>(0).unwrap();
        assert_eq!(rx.capacity(), Some(0));
        assert!(tx.is_full() && rx.is_empty());
        // Nobody waits in a receive: try_send refuses.
        assert!(matches!(tx.try_send(1), Err(TrySendError::Full(1))));
        let (progress_tx, progress_rx) = channel::<u32>(4).unwrap();
        let p = Process::new(move || {
            for i in 0..3 {
                tx.send(i).unwrap();
                progress_tx.send(i).unwrap();
            }
        });
        p.start().unwrap();
        for i in 0..3 {
            assert_eq!(rx.recv().unwrap(), i);
            // Send `i` returned only after we took it ...
            assert_eq!(progress_rx.recv().unwrap(), i);
            // ... and send `i + 1` cannot return before we take that one (after the last,
            // the child may have exited: Disconnected).
            assert!(progress_rx.try_recv().is_err());
        }
        assert!(rx.recv().unwrap_err().is_disconnected());
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn rendezvous_sender_sees_the_receivers_go() {
    watchdog(|| {
        let (tx, rx) = channel::<u32>(0).unwrap();
        let t = thread::spawn(move || tx.send(1));
        drop(rx);
        assert!(matches!(t.join().unwrap(), Err(SendError::Disconnected(1))));
    });
}

#[test]
fn unbounded_and_bounded_report_their_state() {
    watchdog(|| {
        let (tx, rx) = unbounded::<u64>().unwrap();
        assert_eq!(tx.capacity(), None);
        for i in 0..5000 {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.len(), 5000);
        assert!(!rx.is_full());
        assert_eq!(rx.try_iter().count(), 5000);
        let (tx, rx) = channel::<u8>(2).unwrap();
        assert_eq!(rx.capacity(), Some(2));
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert!(tx.is_full());
        assert!(matches!(
            tx.send_timeout(3, Duration::from_millis(10)),
            Err(SendTimeoutError::Timeout(3))
        ));
        assert_eq!((&rx).into_iter().take(2).collect::<Vec<_>>(), [1, 2]);
        assert!(rx.is_empty());
    });
}

#[test]
fn byte_channels_carry_short_and_long_messages_between_processes() {
    watchdog(|| {
        let (tx, rx) = bytes(2).unwrap();
        let p = Process::new(move || {
            tx.send(b"short").unwrap();
            tx.send(vec![7u8; 100_000]).unwrap();
        });
        p.start().unwrap();
        let mut buf = Vec::new();
        assert_eq!(rx.recv_into(&mut buf).unwrap(), 5);
        assert_eq!(buf, b"short");
        assert_eq!(rx.recv_into(&mut buf).unwrap(), 100_000);
        assert!(buf.iter().all(|&b| b == 7));
        assert!(rx.recv_into(&mut buf).unwrap_err().is_disconnected());
        assert_eq!(p.join().unwrap(), 0);
        let (tx, rx) = channel::bytes_unbounded().unwrap();
        let too_long = vec![0u8; tx.max_message_size() + 1];
        assert!(matches!(tx.send(too_long), Err(SendError::TooLarge { .. })));
        drop(tx);
        assert!(rx.recv().unwrap_err().is_disconnected());
    });
}

#[test]
fn a_rendezvous_offer_that_times_out_stays_offered() {
    watchdog(|| {
        let (tx, rx) = channel::<u32>(0).unwrap();
        // Nobody takes it within the timeout: the message cannot be taken back from shared
        // memory, so it stays offered (documented), and the call says it was sent.
        assert!(tx.send_timeout(1, Duration::from_millis(20)).is_ok());
        assert_eq!(rx.try_recv().unwrap(), 1);
        // With the one slot taken by an offer, another send_timeout times out with its
        // message handed back.
        assert!(tx.send_timeout(2, Duration::from_millis(20)).is_ok());
        assert!(matches!(
            tx.send_timeout(3, Duration::from_millis(20)),
            Err(SendTimeoutError::Timeout(3))
        ));
        assert_eq!(rx.recv().unwrap(), 2);
    });
}
