//! Named regions: their space is reserved up front (a small `/dev/shm` gives typed errors, never
//! a `SIGBUS`), and a stale named queue is reclaimed only when its creator and every participant
//! are dead.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use common::watchdog_secs;
use host_runtime::queue::Builder;
use host_runtime::shm::{SharedRegion, ShmError};
use host_runtime::sys::{self, Pid, Signal, WaitOptions, WaitStatus};
use host_runtime::{QueueError, RawQueue};

fn watchdog(body: impl FnOnce() + Send + 'static) {
    watchdog_secs(60, body);
}

fn unique_name(tag: &str) -> String {
    format!("host-runtime-named-{}-{tag}", std::process::id())
}

/// Forks a child that runs `setup` (creating or opening the queue), reports on `ready` with one
/// byte, then sleeps until it is killed.
fn start_user(ready: &OwnedFd, setup: impl FnOnce() -> RawQueue) -> Pid {
    let ready = ready.try_clone().unwrap();
    sys::fork_run(move || {
        // Gone with the test if it fails before killing us.
        sys::set_parent_death_signal(Some(Signal::KILL)).unwrap();
        let queue = setup();
        sys::write_all(std::os::fd::AsFd::as_fd(&ready), b"r").unwrap();
        loop {
            std::thread::park();
            let _ = queue.qsize();
        }
    })
    .unwrap()
}

/// Waits for one byte per child started on the pipe's write end.
fn await_ready(rx: &mut File, children: usize) {
    let mut bytes = vec![0u8; children];
    rx.read_exact(&mut bytes)
        .expect("a child died before it was ready");
}

fn kill_and_reap(pid: Pid) {
    sys::kill(pid, Signal::KILL).unwrap();
    assert_eq!(
        sys::waitpid(pid, WaitOptions::BLOCK).unwrap(),
        Some(WaitStatus::Signaled(Signal::KILL))
    );
}

fn reclaiming() -> Builder {
    Builder::new()
        .maxsize(4)
        .max_message_size(4096)
        .reclaim_stale(true)
}

#[test]
fn a_stale_queue_is_reclaimed_only_once_everyone_is_dead() {
    watchdog(|| {
        let name = unique_name("stale");
        let _ = RawQueue::unlink_named(&name);
        let (rx, tx) = sys::pipe().unwrap();
        let mut rx = File::from(rx);
        let made = name.clone();
        let creator = start_user(&tx, move || {
            let q = Builder::new().maxsize(4).create_named_raw(&made).unwrap();
            q.put(b"old").unwrap();
            q
        });
        await_ready(&mut rx, 1);
        let opened = name.clone();
        let participant = start_user(&tx, move || RawQueue::open_named(&opened).unwrap());
        await_ready(&mut rx, 1);

        // Everyone alive: refused, naming the creator; without the option, the name is taken.
        assert!(matches!(
            Builder::new().maxsize(4).create_named_raw(&name),
            Err(QueueError::Shm(ShmError::AlreadyExists(_)))
        ));
        match reclaiming().create_named_raw(&name) {
            Err(QueueError::InUse { pid: Some(pid), .. }) => {
                assert_eq!(pid, creator)
            }
            other => panic!("expected InUse naming the creator, got {other:?}"),
        }

        // The creator is dead, a participant lives: still refused, naming the participant.
        kill_and_reap(creator);
        match reclaiming().create_named_raw(&name) {
            Err(QueueError::InUse { pid: Some(pid), .. }) => {
                assert_eq!(pid, participant)
            }
            other => panic!("expected InUse naming the participant, got {other:?}"),
        }
        assert!(Path::new(&format!("/dev/shm/{name}")).exists());

        // Everyone dead: reclaimed; the new queue is empty and opens by name.
        kill_and_reap(participant);
        let q = reclaiming().create_named_raw(&name).unwrap();
        assert_eq!(q.qsize(), 0);
        q.put(b"new").unwrap();
        let again = RawQueue::open_named(&name).unwrap();
        assert_eq!(again.get().unwrap(), b"new");
        // We made it and live: not stale.
        assert!(matches!(
            reclaiming().create_named_raw(&name),
            Err(QueueError::InUse { .. })
        ));
        RawQueue::unlink_named(&name).unwrap();
        drop(tx);
    });
}

#[test]
fn of_reclaimers_racing_one_wins_and_the_rest_find_it_alive() {
    watchdog(|| {
        let name = unique_name("race");
        let _ = RawQueue::unlink_named(&name);
        let (rx, tx) = sys::pipe().unwrap();
        let mut rx = File::from(rx);
        let made = name.clone();
        let creator = start_user(&tx, move || {
            Builder::new().maxsize(4).create_named_raw(&made).unwrap()
        });
        await_ready(&mut rx, 1);
        kill_and_reap(creator);

        // Four processes reclaim the stale queue at once; each reports one byte: `w` won
        // (and stays alive, holding the new queue), `i` refused (InUse), `e` the name was
        // taken again (AlreadyExists after its retries), `?` anything else.
        let (go_rx, go_tx) = sys::pipe().unwrap();
        let racers: Vec<Pid> = (0..4)
            .map(|_| {
                let (report, go, name) = (
                    tx.try_clone().unwrap(),
                    go_rx.try_clone().unwrap(),
                    name.clone(),
                );
                sys::fork_run(move || {
                    sys::set_parent_death_signal(Some(Signal::KILL)).unwrap();
                    let mut byte = [0u8; 1];
                    File::from(go).read_exact(&mut byte).unwrap();
                    let result = reclaiming().create_named_raw(&name);
                    let code: &[u8] = match &result {
                        Ok(q) => {
                            q.put(b"winner").unwrap();
                            b"w"
                        }
                        Err(QueueError::InUse { .. }) => b"i",
                        Err(QueueError::Shm(ShmError::AlreadyExists(_))) => b"e",
                        Err(_) => b"?",
                    };
                    sys::write_all(std::os::fd::AsFd::as_fd(&report), code).unwrap();
                    loop {
                        std::thread::park();
                    }
                })
                .unwrap()
            })
            .collect();
        drop(go_rx);
        // All start together: one byte each (every child holds the write end too, so no
        // end-of-file would come).
        sys::write_all(std::os::fd::AsFd::as_fd(&go_tx), b"gggg").unwrap();
        let mut codes = [0u8; 4];
        rx.read_exact(&mut codes).unwrap();
        codes.sort_unstable();
        assert_eq!(codes[3], b'w', "no winner: {codes:?}");
        assert!(
            codes[..3].iter().all(|&c| c == b'i' || c == b'e'),
            "{:?}",
            String::from_utf8_lossy(&codes)
        );
        // The name is the winner's queue.
        assert_eq!(
            RawQueue::open_named(&name).unwrap().get().unwrap(),
            b"winner"
        );
        for racer in racers {
            kill_and_reap(racer);
        }
        RawQueue::unlink_named(&name).unwrap();
        drop(tx);
    });
}

#[test]
fn an_opener_racing_a_reclaim_never_ends_up_in_a_removed_queue() {
    watchdog(|| {
        let (rx, tx) = sys::pipe().unwrap();
        let mut rx = File::from(rx);
        let (mut reclaimed, mut kept) = (0, 0);
        for round in 0..50 {
            let name = unique_name(&format!("opener-{round}"));
            let _ = RawQueue::unlink_named(&name);
            let made = name.clone();
            let creator = start_user(&tx, move || {
                Builder::new().maxsize(16).create_named_raw(&made).unwrap()
            });
            await_ready(&mut rx, 1);
            kill_and_reap(creator);

            // Three openers start with the reclaim; each puts one message into the queue it
            // opened and stays alive (so a queue it registered in is never stale).
            let (go_rx, go_tx) = sys::pipe().unwrap();
            let openers: Vec<Pid> = (0..3)
                .map(|_| {
                    let go = go_rx.try_clone().unwrap();
                    let opened = name.clone();
                    start_user(&tx, move || {
                        let mut byte = [0u8; 1];
                        File::from(go).read_exact(&mut byte).unwrap();
                        loop {
                            // Refused while the queue is being reclaimed or made: again.
                            if let Ok(q) = RawQueue::open_named(&opened) {
                                q.put(b"opened").unwrap();
                                return q;
                            }
                            std::thread::yield_now();
                        }
                    })
                })
                .collect();
            drop(go_rx);
            sys::write_all(std::os::fd::AsFd::as_fd(&go_tx), b"ggg").unwrap();
            let ours = match reclaiming().maxsize(16).create_named_raw(&name) {
                Ok(q) => {
                    reclaimed += 1;
                    Some(q)
                }
                // An opener registered in the stale queue first: it is alive now.
                Err(QueueError::InUse { .. }) => {
                    kept += 1;
                    None
                }
                Err(e) => panic!("round {round}: {e}"),
            };
            await_ready(&mut rx, 3);
            // Every opener's message is in the queue the name names.
            assert_eq!(
                RawQueue::open_named(&name).unwrap().qsize(),
                3,
                "round {round}"
            );
            for opener in openers {
                kill_and_reap(opener);
            }
            drop(ours);
            RawQueue::unlink_named(&name).unwrap();
        }
        println!("reclaimed {reclaimed} times, kept for a live opener {kept} times");
        drop(tx);
    });
}

/// A named queue of 4 slots with one participant entry, made by a child started with
/// [`start_user`] (which is alive and ready): every entry is taken by the living.
struct OneEntryQueue {
    name: String,
    /// The read end of the children's ready pipe, and its write end (for more children).
    rx: File,
    tx: OwnedFd,
    creator: Pid,
}

/// Makes a [`OneEntryQueue`] under [`unique_name`]`(tag)` (unlinking any left over).
fn one_entry_queue(tag: &str) -> OneEntryQueue {
    let name = unique_name(tag);
    let _ = RawQueue::unlink_named(&name);
    let (rx, tx) = sys::pipe().unwrap();
    let mut rx = File::from(rx);
    let made = name.clone();
    // One participant entry: the creator's.
    let creator = start_user(&tx, move || {
        Builder::new()
            .maxsize(4)
            .max_processes(1)
            .create_named_raw(&made)
            .unwrap()
    });
    await_ready(&mut rx, 1);
    OneEntryQueue {
        name,
        rx,
        tx,
        creator,
    }
}

#[test]
fn a_process_that_could_not_register_keeps_the_queue() {
    watchdog(|| {
        // The opener finds the table full of the living.
        let OneEntryQueue {
            name,
            mut rx,
            tx,
            creator,
        } = one_entry_queue("unregistered");
        let opened = name.clone();
        let opener = start_user(&tx, move || {
            let q = RawQueue::open_named(&opened).unwrap();
            q.put(b"unregistered, but working").unwrap();
            q
        });
        await_ready(&mut rx, 1);
        kill_and_reap(creator);
        kill_and_reap(opener);

        // Both dead, but the opener's liveness could never be known: kept.
        match reclaiming().create_named_raw(&name) {
            Err(QueueError::InUse { pid: None, reason }) => {
                assert!(reason.contains("register"), "{reason}")
            }
            other => panic!("expected InUse for an unregistered user, got {other:?}"),
        }
        assert_eq!(RawQueue::open_named(&name).unwrap().qsize(), 1);
        RawQueue::unlink_named(&name).unwrap();
        drop(tx);
    });
}

#[test]
fn an_opener_that_drops_its_unregistered_handle_is_uncounted() {
    watchdog(|| {
        let OneEntryQueue {
            name,
            rx: _rx,
            tx,
            creator,
        } = one_entry_queue("uncounted");
        // This process opens while the table is full, then lets go.
        let q = RawQueue::open_named(&name).unwrap();
        q.put(b"x").unwrap();
        drop(q);
        kill_and_reap(creator);
        let q = reclaiming().create_named_raw(&name).unwrap();
        assert_eq!(q.qsize(), 0);
        RawQueue::unlink_named(&name).unwrap();
        drop(tx);
    });
}

#[test]
fn what_is_not_a_queue_is_never_reclaimed() {
    watchdog(|| {
        let name = unique_name("not-a-queue");
        let _ = RawQueue::unlink_named(&name);
        let region = SharedRegion::create_named(&name, 4096).unwrap();
        assert!(matches!(
            reclaiming().create_named_raw(&name),
            Err(QueueError::InUse { pid: None, .. })
        ));
        drop(region);
        SharedRegion::unlink_named(&name).unwrap();
    });
}

/// Exit codes of the child of [`a_small_dev_shm_gives_typed_errors_never_sigbus`].
const SKIPPED: i32 = 77;

/// In the child: a private mount namespace with a 16 MiB tmpfs on `/dev/shm`. `Err` says why
/// it could not be set up (not root, no user namespaces...).
fn private_small_dev_shm() -> Result<(), String> {
    let os = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: `unshare` takes flags only; this child is single-threaded.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(os("unshare(CLONE_NEWNS)"));
    }
    // SAFETY: all pointers are NUL-terminated literals or null, as `mount(2)` allows.
    let private = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if private != 0 {
        return Err(os("mount(/, MS_REC | MS_PRIVATE)"));
    }
    // SAFETY: as above; the data is a NUL-terminated option string.
    let tmpfs = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c"/dev/shm".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c"size=16m,mode=1777".as_ptr().cast(),
        )
    };
    if tmpfs != 0 {
        return Err(os("mount(tmpfs, /dev/shm, size=16m)"));
    }
    Ok(())
}

/// The child's checks; `Err` names the first that failed.
fn fill_a_small_dev_shm() -> Result<(), String> {
    let fail = |what: &str| Err(what.to_owned());
    // A default named queue fits (about 13 MiB), and every size of message goes through it.
    let wanted = Builder::new().named_size().unwrap();
    let q = Builder::new()
        .create_named_raw("small-default")
        .map_err(|e| format!("default named queue: {e}"))?;
    for len in [50, 3000, 60_000, 1 << 20, 4 << 20] {
        let message = vec![7u8; len];
        q.put(&message).map_err(|e| format!("put {len}: {e}"))?;
        if q.get().map_err(|e| format!("get {len}: {e}"))? != message {
            return fail("a message came back changed");
        }
    }
    // A second one does not fit in what is left: a typed error at create, nothing left behind.
    match Builder::new().create_named_raw("small-second") {
        Err(QueueError::Shm(ShmError::OutOfSpace { wanted: w })) if w == wanted => {}
        other => return Err(format!("second default queue: {other:?}")),
    }
    if Path::new("/dev/shm/small-second").exists() {
        return fail("the refused queue was left in /dev/shm");
    }
    RawQueue::unlink_named("small-default").map_err(|e| e.to_string())?;
    drop(q);
    // A queue larger than the whole tmpfs: refused at create.
    let big = Builder::new().maxsize(64).size_class(1 << 20, 32);
    match big.create_named_raw("small-big") {
        Err(QueueError::Shm(ShmError::OutOfSpace { wanted })) if wanted > 32 << 20 => {}
        other => return Err(format!("32 MiB queue: {other:?}")),
    }
    // A named SharedRegion larger than the tmpfs: refused at create.
    match SharedRegion::create_named("small-region", 32 << 20) {
        Err(ShmError::OutOfSpace { wanted }) if wanted == 32 << 20 => {}
        other => return Err(format!("32 MiB region: {other:?}")),
    }
    if std::fs::read_dir("/dev/shm").map_or(1, |d| d.count()) != 0 {
        return fail("/dev/shm is not empty after the refusals");
    }
    Ok(())
}

#[test]
fn a_small_dev_shm_gives_typed_errors_never_sigbus() {
    watchdog(|| {
        let child = sys::fork_run(|| {
            let mut stderr = std::io::stderr();
            if let Err(why) = private_small_dev_shm() {
                let _ = writeln!(stderr, "skipped: cannot set up a private /dev/shm: {why}");
                return SKIPPED;
            }
            match fill_a_small_dev_shm() {
                Ok(()) => 0,
                Err(what) => {
                    let _ = writeln!(stderr, "small /dev/shm: {what}");
                    1
                }
            }
        })
        .unwrap();
        match sys::waitpid(child, WaitOptions::BLOCK).unwrap() {
            Some(WaitStatus::Exited(0)) => {}
            Some(WaitStatus::Exited(SKIPPED)) => {
                println!("skipped: unshare/mount refused (not root?); nothing checked");
            }
            other => panic!("the child failed or died of a signal: {other:?}"),
        }
    });
}
