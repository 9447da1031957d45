//! Integration tests for [`host_runtime::wait`] over channel receivers ([`Receiver`],
//! [`ByteReceiver`]) and pipe ends ([`Connection`]), alone and mixed with processes.
//!
//! Each body runs under the watchdog, one at a time (see `common`). No test sleeps to
//! synchronise: children and parent hand-shake over socket pairs; `wait` itself observes
//! messages, disconnections and exits. Processes a test waits on are forked before the
//! channels and pipes are made, so that they do not hold (inherit) their ends.

mod common;

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{release, waiting_child, watchdog_secs};
use host_runtime::channel::{self, ByteReceiver, Receiver, TryRecvError};
use host_runtime::pipe::{pipe, Connection, PipeError};
use host_runtime::process::{self, Builder};
use host_runtime::{wait, Waitable};

fn watchdog(body: impl FnOnce() + Send + 'static) {
    watchdog_secs(60, body);
}

/// Far above any expected wait: only a lost wake-up (or a death never noticed) reaches it.
const LONG: Duration = Duration::from_secs(30);

fn block_on(mut rx: &UnixStream) {
    let _ = rx.read(&mut [0u8]);
}

#[test]
fn wait_wakes_on_a_channel_message_from_another_process() {
    watchdog(|| {
        let (go_tx, go_rx) = UnixStream::pair().unwrap();
        let (tx, rx) = channel::channel::<String>(4).unwrap();
        let producer = process::start(move || {
            block_on(&go_rx);
            tx.send("hello".to_string()).unwrap();
            // Stays alive (holding `tx`) until told: the wake-up is the message's.
            block_on(&go_rx);
        })
        .unwrap();
        release(&go_tx);
        assert_eq!(wait(&[&rx], Some(LONG)), [0]);
        assert_eq!(rx.try_recv().unwrap(), "hello");
        release(&go_tx);
        producer.join().unwrap();
    });
}

#[test]
fn wait_wakes_when_the_last_sender_is_dropped() {
    watchdog(|| {
        let (go_tx, go_rx) = UnixStream::pair().unwrap();
        let (tx, rx) = channel::bytes(4).unwrap();
        let dropper = process::start(move || {
            block_on(&go_rx);
            drop(tx);
            // Alive after the drop: the drop, not the exit, ends the wait.
            block_on(&go_rx);
        })
        .unwrap();
        release(&go_tx);
        assert_eq!(wait(&[&rx], Some(LONG)), [0]);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Disconnected)));
        release(&go_tx);
        dropper.join().unwrap();
    });
}

/// No one notifies when a process dies: `wait` finds the dead last sender by its check every
/// 200 ms, as a blocked receive does (the deadline is far above that).
#[test]
fn wait_wakes_when_the_last_sender_is_killed() {
    watchdog(|| {
        let (go_tx, go_rx) = UnixStream::pair().unwrap();
        let (tx, rx) = channel::channel::<u8>(4).unwrap();
        let holder = process::start(move || {
            let _tx = tx;
            release(&go_rx);
            // Holds `tx` until killed.
            block_on(&go_rx);
        })
        .unwrap();
        // The child holds `tx` now (it started running).
        block_on(&go_tx);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        thread::scope(|s| {
            s.spawn(|| holder.kill().unwrap());
            assert_eq!(wait(&[&rx], Some(LONG)), [0]);
        });
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Disconnected)));
        assert!(holder.join().is_err(), "killed, no value");
    });
}

/// A rendezvous channel: a receiver inside `wait` is not one blocked in a receive, but a
/// `send` offers its message, which ends the wait; the receive then takes it.
#[test]
fn wait_wakes_on_a_rendezvous_send() {
    watchdog(|| {
        let (tx, rx) = channel::channel::<u8>(0).unwrap();
        thread::scope(|s| {
            s.spawn(|| tx.send(5).unwrap());
            assert_eq!(wait(&[&rx], Some(LONG)), [0]);
            assert_eq!(rx.recv().unwrap(), 5);
        });
    });
}

#[test]
fn wait_wakes_on_a_pipe_peers_message_then_on_its_close() {
    watchdog(|| {
        let (go_tx, go_rx) = UnixStream::pair().unwrap();
        let (a, b) = pipe(true).unwrap();
        let peer = process::start(move || {
            let mut b = b;
            block_on(&go_rx);
            b.send(&7u32).unwrap();
            block_on(&go_rx);
            b.close();
            // Alive after the close: the close, not the exit, is the end-of-file.
            block_on(&go_rx);
        })
        .unwrap();
        release(&go_tx);
        assert_eq!(wait(&[&a], Some(LONG)), [0]);
        assert_eq!(a.recv::<u32>().unwrap(), 7);
        release(&go_tx);
        assert_eq!(wait(&[&a], Some(LONG)), [0]);
        assert!(matches!(a.recv::<u32>(), Err(PipeError::Eof)));
        release(&go_tx);
        peer.join().unwrap();
    });
}

/// A channel, a pipe end and a process: each event in turn ends a wait, with only its source
/// ready.
#[test]
fn wait_returns_the_first_of_three_sources() {
    watchdog(|| {
        let (p, child_go) = waiting_child(Builder::new());
        let (tx, rx) = channel::channel::<u8>(4).unwrap();
        let (a, b) = pipe(true).unwrap();
        let objects: [&dyn Waitable; 3] = [&rx, &a, &p];
        thread::scope(|s| {
            s.spawn(|| tx.send(1).unwrap());
            assert_eq!(wait(&objects, Some(LONG)), [0]);
        });
        assert_eq!(rx.try_recv().unwrap(), 1);
        thread::scope(|s| {
            s.spawn(|| b.send_bytes(b"two").unwrap());
            assert_eq!(wait(&objects, Some(LONG)), [1]);
        });
        assert_eq!(a.recv_bytes().unwrap(), b"two");
        thread::scope(|s| {
            s.spawn(|| release(&child_go));
            assert_eq!(wait(&objects, Some(LONG)), [2]);
        });
        assert_eq!(p.exitcode(), Some(0), "reaped by the check");
        drop((tx, b));
    });
}

#[test]
fn wait_returns_every_ready_source_and_takes_nothing() {
    watchdog(|| {
        let done = process::start(|| 3u8).unwrap();
        done.process().join().unwrap();
        let (tx, rx) = channel::channel::<u8>(4).unwrap();
        let (btx, brx) = channel::bytes(4).unwrap();
        let (a, b) = pipe(true).unwrap();
        let (empty_tx, empty_rx) = channel::channel::<u8>(4).unwrap();
        tx.send(1).unwrap();
        btx.send(b"2").unwrap();
        b.send(&3u8).unwrap();
        let objects: [&dyn Waitable; 5] = [&rx, &empty_rx, &brx, &a, &done];
        assert_eq!(wait(&objects, Some(Duration::ZERO)), [0, 2, 3, 4]);
        assert_eq!(wait(&objects, None), [0, 2, 3, 4]);
        // Nothing was taken.
        assert_eq!(rx.try_recv().unwrap(), 1);
        assert_eq!(brx.try_recv().unwrap(), b"2");
        assert_eq!(a.recv::<u8>().unwrap(), 3);
        assert_eq!(done.join().unwrap(), 3);
        drop(empty_tx);
    });
}

/// A write-only end is never ready (it has nothing to receive from); a closed end always is
/// (a receive fails at once with `Closed`).
#[test]
fn a_write_only_end_is_never_ready_and_a_closed_one_always() {
    watchdog(|| {
        let (reader, writer) = pipe(false).unwrap();
        let (mut closed, _peer) = pipe(true).unwrap();
        closed.close();
        let timeout = Duration::from_millis(50);
        let t = Instant::now();
        assert!(wait(&[&writer], Some(timeout)).is_empty());
        assert!(t.elapsed() >= timeout);
        writer.send(&1u8).unwrap();
        assert_eq!(wait(&[&writer, &reader], Some(LONG)), [1]);
        assert_eq!(wait(&[&writer, &closed], Some(Duration::ZERO)), [1]);
        assert!(matches!(closed.recv::<u8>(), Err(PipeError::Closed)));
    });
}

#[test]
fn wait_times_out_with_an_empty_result() {
    watchdog(|| {
        let (p, child_go) = waiting_child(Builder::new());
        let (_tx, rx) = channel::channel::<u8>(4).unwrap();
        let (_btx, brx) = channel::bytes(4).unwrap();
        let (a, _b) = pipe(true).unwrap();
        let timeout = Duration::from_millis(50);
        let all: [&dyn Waitable; 4] = [&rx, &brx, &a, &p];
        for objects in [&all[..], &all[..1], &all[1..2], &all[2..3]] {
            let t = Instant::now();
            assert!(wait(objects, Some(timeout)).is_empty());
            assert!(t.elapsed() >= timeout);
        }
        release(&child_go);
        p.join().unwrap();
    });
}

/// CPU time (user + system) of the whole process so far.
fn cpu_time() -> Duration {
    host_runtime::sys::process_cpu_time().unwrap()
}

/// A blocked `wait` on channels and pipes sleeps: over half a second (two dead-sender checks),
/// the process uses a small fraction of that in CPU (a bound far above an honest sleep's cost,
/// far below a spin's).
#[test]
fn a_blocked_wait_on_channels_and_pipes_does_not_spin() {
    watchdog(|| {
        let (p, child_go) = waiting_child(Builder::new());
        let (_tx, rx): (_, Receiver<u8>) = channel::channel(4).unwrap();
        let (_btx, brx): (_, ByteReceiver) = channel::bytes(4).unwrap();
        let (a, _b): (Connection, _) = pipe(true).unwrap();
        let wall = Duration::from_millis(500);
        let (t, cpu) = (Instant::now(), cpu_time());
        assert!(wait(&[&rx, &brx, &a, &p], Some(wall)).is_empty());
        let (elapsed, used) = (t.elapsed(), cpu_time() - cpu);
        assert!(elapsed >= wall);
        assert!(
            used < elapsed / 4,
            "a blocked wait used {used:?} of CPU in {elapsed:?}"
        );
        release(&child_go);
        p.join().unwrap();
    });
}
