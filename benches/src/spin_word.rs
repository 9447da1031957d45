//! The floor of a round trip between two processes: one shared word, spun on by both sides
//! (`../shared/peers/baselines`, `spin_rtt`). Used by the round-trip groups of
//! `benches/ipc.rs` and `benches/typed.rs`.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use host_runtime::shared::region::{Part, SharedBytes, View};
use host_runtime::shm::SharedRegion;
use host_runtime::Process;

/// Value that tells the spinner to stop.
const STOP: u64 = u64::MAX;

/// The bench's side of the ping-pong: it writes an odd number, the forked spinner answers
/// with the next even one.
pub struct SpinPingPong {
    /// Keeps the mapping of `bytes`.
    _region: SharedRegion,
    bytes: SharedBytes,
    spinner: Process,
    next: u64,
}

impl SpinPingPong {
    /// Forks the spinner and checks that it answers 1,000 pings.
    ///
    /// # Panics
    ///
    /// If the region or the process cannot be made, or an answer is wrong.
    pub fn start() -> SpinPingPong {
        let region = SharedRegion::new(4096).expect("region");
        let View::Bytes(bytes) = region
            .claim(Part::Bytes { offset: 0, len: 64 })
            .expect("claim")
        else {
            unreachable!("a bytes part gives a bytes view")
        };
        let child_bytes = bytes.clone();
        let spinner = Process::new(move || {
            let f = child_bytes.u64_at(0);
            let mut expect = 1u64;
            loop {
                let v = f.load(Acquire);
                if v == STOP {
                    break;
                }
                if v == expect {
                    f.store(expect + 1, Release);
                    expect += 2;
                } else {
                    std::hint::spin_loop();
                }
            }
        });
        spinner.start().expect("start spinner");
        let mut floor = SpinPingPong {
            _region: region,
            bytes,
            spinner,
            next: 1,
        };
        for _ in 0..1000 {
            floor.ping();
        }
        let answered = floor.bytes.u64_at(0).load(Relaxed);
        assert_eq!(answered, 2000, "the spinner answers every ping");
        floor
    }

    /// One round trip: a ping, and the spinner's answer.
    #[inline]
    pub fn ping(&mut self) {
        let f = self.bytes.u64_at(0);
        f.store(self.next, Release);
        while f.load(Acquire) != self.next + 1 {
            std::hint::spin_loop();
        }
        self.next += 2;
    }

    /// Stops the spinner and checks that it exited cleanly.
    pub fn stop(self) {
        self.bytes.u64_at(0).store(STOP, Release);
        assert_eq!(self.spinner.join().expect("join"), 0);
    }
}
