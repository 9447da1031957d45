use super::*;
use crate::sys::{
    fork_run, kill, pipe, set_parent_death_signal, waitpid, write_all, Signal, WaitOptions,
    WaitStatus,
};
use crate::test_util::watchdog;
use std::io::Read;
use std::os::fd::AsFd;

const HANDLES: usize = 0;
const HELD_ITEMS: usize = 1;

fn ledger(entries: usize) -> Ledger {
    Ledger::new(2, 1 << HANDLES, entries).unwrap()
}

/// Runs `body` in a forked child, alone: a child forked by another test thread inherits
/// every ledger of the process (as it should), which would move the counts under test.
fn isolated(body: impl FnOnce() + Send + 'static) {
    watchdog(60, || {
        let child = fork_run(move || {
            body();
            0
        })
        .unwrap();
        assert_eq!(
            waitpid(child, WaitOptions::BLOCK).unwrap(),
            Some(WaitStatus::Exited(0)),
            "the isolated test body failed (its output is above)"
        );
    });
}

/// Forks a child that runs `body`, writes one byte to say it is done, and then parks
/// until killed; returns its pid once the byte arrived.
fn parked_child(body: impl FnOnce()) -> crate::sys::Pid {
    let (mut rx, tx) = {
        let (r, w) = pipe().unwrap();
        (std::fs::File::from(r), w)
    };
    let child = fork_run(move || {
        // Gone with its parent, should a failed test leave it.
        set_parent_death_signal(Some(Signal::KILL)).unwrap();
        body();
        write_all(tx.as_fd(), b"x").unwrap();
        loop {
            std::thread::park();
        }
    })
    .unwrap();
    let mut byte = [0u8; 1];
    rx.read_exact(&mut byte).unwrap();
    child
}

fn kill_and_reap(child: crate::sys::Pid) {
    kill(child, Signal::KILL).unwrap();
    waitpid(child, WaitOptions::BLOCK).unwrap();
}

#[test]
fn counts_add_up_and_a_drop_to_zero_rings() {
    isolated(|| {
        let l = ledger(4);
        let seq = l.doorbell().seq().load(Relaxed);
        l.add(HANDLES, 2);
        l.add(HELD_ITEMS, 1);
        assert_eq!((l.total(HANDLES), l.total(HELD_ITEMS)), (2, 1));
        assert!(!l.sub(HANDLES, 1));
        // Taking more than this process holds takes what it holds.
        assert!(l.sub(HANDLES, 5));
        assert_eq!(l.total(HANDLES), 0);
        assert_eq!(l.held(HANDLES), 0);
        assert!(!l.sub(HANDLES, 1), "nothing held: no change");
        assert_eq!(l.total(HELD_ITEMS), 1);
        // Nobody waited, so the doorbell's word is unchanged; the repair finds nobody dead.
        assert_eq!(l.doorbell().seq().load(Relaxed), seq);
        assert_eq!(l.repair_dead(), 0);
    });
}

#[test]
fn a_child_holds_inherited_handles_from_the_fork_until_it_dies() {
    isolated(|| {
        let l = ledger(4);
        l.add(HANDLES, 2);
        l.add(HELD_ITEMS, 3);
        // The child does nothing with the ledger.
        let child = parked_child(|| {});
        assert_eq!(l.total(HANDLES), 4, "the child's two count from the fork");
        assert_eq!(l.total(HELD_ITEMS), 3, "held items are not inherited");
        l.sub(HANDLES, 2);
        assert_eq!(l.total(HANDLES), 2);
        assert_eq!(l.repair_dead(), 0, "the child lives");
        kill_and_reap(child);
        assert_eq!(l.repair_dead(), 1);
        assert_eq!((l.total(HANDLES), l.lost(HANDLES)), (0, 2));
        assert_eq!(l.repair_dead(), 0, "counted once");
        l.sub(HELD_ITEMS, 3);
        assert_eq!(l.total(HELD_ITEMS), 0);
    });
}

#[test]
fn a_child_that_drops_what_it_inherited_and_takes_items() {
    isolated(|| {
        let l = ledger(4);
        l.add(HANDLES, 1);
        let c = l.clone();
        let child = parked_child(move || {
            assert_eq!(c.held(HANDLES), 1);
            assert_eq!(c.held(HELD_ITEMS), 0);
            c.add(HELD_ITEMS, 5);
            c.sub(HANDLES, 1);
        });
        assert_eq!(l.total(HANDLES), 1);
        assert_eq!(l.total(HELD_ITEMS), 5);
        kill_and_reap(child);
        assert_eq!(l.repair_dead(), 1);
        assert_eq!((l.total(HELD_ITEMS), l.lost(HELD_ITEMS)), (0, 5));
        assert_eq!((l.total(HANDLES), l.lost(HANDLES)), (1, 0));
    });
}

#[test]
fn a_child_of_a_full_table_counts_in_the_totals_only() {
    isolated(|| {
        let l = ledger(1);
        l.add(HANDLES, 1);
        let c = l.clone();
        drop(l);
        // One entry: ours. The child's reservation finds the table full: it counts in
        // the totals only, and so never lets the total reach zero.
        let child = fork_run(move || {
            c.sub(HANDLES, 1);
            i32::from(c.total(HANDLES) != 1)
        })
        .unwrap();
        assert_eq!(
            waitpid(child, WaitOptions::BLOCK).unwrap(),
            Some(WaitStatus::Exited(0))
        );
    });
}

#[test]
fn overflow_never_reports_zero_for_a_dead_holder() {
    isolated(|| {
        let l = ledger(1);
        l.add(HELD_ITEMS, 1); // takes the one entry
        l.add(HANDLES, 1);
        let child = parked_child(|| {});
        assert_eq!(l.total(HANDLES), 2);
        kill_and_reap(child);
        assert_eq!(l.repair_dead(), 0, "the child had no entry");
        l.sub(HANDLES, 1);
        assert_eq!(l.total(HANDLES), 1, "the dead child's handle stays counted");
    });
}

#[test]
fn ledgers_within_one_region_share_it_and_hand_the_dead_counts_over() {
    isolated(|| {
        let region = SharedRegion::new(64 + ledger_len(4)).unwrap();
        let View::Bytes(bytes) = region
            .claim(Part::Bytes {
                offset: 0,
                len: 64 + ledger_len(4),
            })
            .unwrap()
        else {
            unreachable!()
        };
        // Two handles over the same bytes at 64, as two opens of a named object make.
        let a = Ledger::within(&bytes, 64, 1, 0, 4);
        let b = Ledger::within(&bytes, 64, 1, 0, 4);
        a.add(0, 2);
        assert_eq!(b.total(0), 2);
        assert_eq!(bytes.u64_at(0).load(Relaxed), 0, "nothing below the base");
        let c = a.clone();
        let child = parked_child(move || c.add(0, 3));
        assert_eq!(b.total(0), 5, "not inherited: the child's own 3 only");
        kill_and_reap(child);
        let mut seen = Vec::new();
        assert_eq!(b.repair_dead_with(|counts| seen.push(counts.to_vec())), 1);
        assert_eq!(seen, [vec![3]]);
        assert_eq!((a.total(0), a.lost(0)), (2, 3));
    });
}

#[test]
fn garbage_in_the_region_cannot_panic() {
    isolated(|| {
        let l = ledger(3);
        l.add(HANDLES, 1);
        let words = l.bytes().len() / 8;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..50 {
            for i in 0..words {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Now and then an owner that names a dead pid, or ours, or nobody.
                let v = match round % 4 {
                    0 => x,
                    1 => x & (STATE_MASK | 0xffff),
                    2 => ALIVE | u64::from(std::process::id()),
                    _ => u64::MAX,
                };
                l.bytes().u64_at(8 * i).store(v, Relaxed);
            }
            l.add(HANDLES, 1);
            l.add(HELD_ITEMS, 2);
            let _ = l.total(HANDLES);
            let _ = l.repair_dead();
            l.sub(HANDLES, 1);
            l.sub(HELD_ITEMS, 3);
            let _ = l.lost(HELD_ITEMS);
        }
        // This process's own truth is intact.
        assert_eq!(l.held(HANDLES), 1);
        assert_eq!(l.held(HELD_ITEMS), 0);
    });
}
