//! Integration tests for [`host_runtime::pipe`], after CPython's `test_connection`,
//! `test_duplex_false` and `test_spawn_close` (`Lib/test/_test_multiprocessing.py`), plus
//! end-of-file on a peer's close and death.
//!
//! Each test body runs under a watchdog and one at a time; no test sleeps to synchronise.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::watchdog_secs;
use host_runtime::pipe::{pipe, Connection, PipeError};
use host_runtime::Process;

fn watchdog(body: impl FnOnce() + Send + 'static) {
    watchdog_secs(60, body);
}

const SENTINEL: &[u8] = b"SENTINEL";

/// CPython's `_echo`: sends back every message's bytes until the sentinel.
fn echo(conn: Connection) {
    loop {
        let msg = conn.recv_bytes().unwrap();
        if msg == SENTINEL {
            break;
        }
        conn.send_bytes(&msg).unwrap();
    }
}

#[test]
fn connection_round_trips_through_an_echoing_child() {
    watchdog(|| {
        let (conn, child_conn) = pipe(true).unwrap();
        let p = Process::new(move || echo(child_conn));
        p.start().unwrap();

        let seq = (1u8, 2.25f64, None::<u8>);
        conn.send(&seq).unwrap();
        assert_eq!(conn.recv::<(u8, f64, Option<u8>)>().unwrap(), seq);
        conn.send_bytes(b"hello world").unwrap();
        assert_eq!(conn.recv_bytes().unwrap(), b"hello world");
        let mut buf = vec![0u8; 40];
        conn.send_bytes(&[1, 2, 3, 4]).unwrap();
        assert_eq!(conn.recv_bytes_into(&mut buf).unwrap(), 4);
        assert_eq!(buf, [1, 2, 3, 4]);

        assert!(!conn.poll(Some(Duration::ZERO)).unwrap());
        let start = Instant::now();
        assert!(!conn.poll(Some(Duration::from_millis(100))).unwrap());
        assert!(
            start.elapsed() >= Duration::from_millis(100),
            "poll returned early"
        );
        conn.send(&()).unwrap();
        assert!(conn.poll(None).unwrap());
        conn.recv::<()>().unwrap();

        let big = vec![b'X'; 3 << 20];
        conn.send_bytes(&big).unwrap();
        assert_eq!(conn.recv_bytes().unwrap(), big);

        conn.send_bytes(SENTINEL).unwrap();
        assert!(conn.readable() && conn.writable());
        // The child exits after the sentinel: end-of-file, for objects and bytes alike.
        assert!(matches!(conn.recv::<u8>(), Err(PipeError::Eof)));
        assert!(matches!(conn.recv_bytes(), Err(PipeError::Eof)));
        assert!(
            conn.poll(Some(Duration::ZERO)).unwrap(),
            "poll is true at end-of-file"
        );
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn simplex_ends_refuse_the_wrong_direction() {
    watchdog(|| {
        let (reader, writer) = pipe(false).unwrap();
        writer.send(&1u32).unwrap();
        assert_eq!(reader.recv::<u32>().unwrap(), 1);
        assert!(reader.readable() && !reader.writable());
        assert!(!writer.readable() && writer.writable());
        assert!(matches!(reader.send(&2u32), Err(PipeError::NotWritable)));
        assert!(matches!(writer.recv::<u32>(), Err(PipeError::NotReadable)));
        assert!(matches!(writer.poll(None), Err(PipeError::NotReadable)));
        drop(writer);
        assert!(matches!(reader.recv::<u32>(), Err(PipeError::Eof)));
    });
}

#[test]
fn the_parent_may_drop_the_childs_end_at_once() {
    watchdog(|| {
        let (conn, child_conn) = pipe(true).unwrap();
        // The end is moved into the child: `start` drops the parent's copy.
        let p = Process::new(move || echo(child_conn));
        p.start().unwrap();
        conn.send_bytes(b"hello").unwrap();
        assert_eq!(conn.recv_bytes().unwrap(), b"hello");
        conn.send_bytes(SENTINEL).unwrap();
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn a_peer_that_closes_gives_end_of_file_and_broken_pipe() {
    watchdog(|| {
        let (conn, child_conn) = pipe(true).unwrap();
        let (reader, writer) = pipe(false).unwrap();
        let p = Process::new(move || {
            let mut child_conn = child_conn;
            child_conn.send(&"last words").unwrap();
            child_conn.close();
            assert!(matches!(child_conn.recv::<u8>(), Err(PipeError::Closed)));
            // Alive until the parent says so: the parent sees the close, not an exit.
            let _ = reader.recv_bytes();
        });
        p.start().unwrap();
        assert_eq!(conn.recv::<String>().unwrap(), "last words");
        assert!(matches!(conn.recv::<String>(), Err(PipeError::Eof)));
        assert!(matches!(conn.send(&1u8), Err(PipeError::BrokenPipe)));
        assert!(p.is_alive());
        writer.send_bytes(b"go").unwrap();
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn a_killed_peer_gives_end_of_file() {
    watchdog(|| {
        let (conn, child_conn) = pipe(true).unwrap();
        let p = Process::new(move || {
            child_conn.send(&1u8).unwrap();
            loop {
                thread::park();
            }
        });
        p.start().unwrap();
        assert_eq!(conn.recv::<u8>().unwrap(), 1);
        p.kill().unwrap();
        p.join().unwrap();
        // Found by the blocked receive's look for the dead.
        assert!(matches!(conn.recv::<u8>(), Err(PipeError::Eof)));
        assert!(matches!(conn.send(&2u8), Err(PipeError::BrokenPipe)));
    });
}

#[test]
fn a_closed_end_refuses_everything() {
    watchdog(|| {
        let (mut a, b) = pipe(true).unwrap();
        assert!(!a.closed());
        a.close();
        assert!(a.closed());
        assert!(matches!(a.send(&1u8), Err(PipeError::Closed)));
        assert!(matches!(a.recv::<u8>(), Err(PipeError::Closed)));
        assert!(matches!(a.poll(None), Err(PipeError::Closed)));
        assert!(matches!(b.recv_bytes(), Err(PipeError::Eof)));
        assert!(b.poll(None).unwrap());
    });
}

#[test]
fn a_message_of_another_type_is_a_decode_error() {
    watchdog(|| {
        let (a, b) = pipe(true).unwrap();
        a.send(&300u64).unwrap();
        assert!(matches!(b.recv::<u8>(), Err(PipeError::Decode(_))));
        a.send_bytes(&[0xff; 3]).unwrap();
        assert!(matches!(b.recv::<String>(), Err(PipeError::Decode(_))));
    });
}
