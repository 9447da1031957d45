//! The ready handshake of a daemon's start: how the child tells [`Process::start`] that its
//! parent-death signal is armed (see [Daemon processes](super#daemon-processes)).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::shared::region::{Mapping, Part, SharedBytes, View};
use crate::sys::{self, Pid};

#[cfg(doc)]
use super::Process;

/// How a daemon tells [`Process::start`] that its parent-death signal is armed: the parent's
/// end ([`ReadyRx`]) and the child's ([`ReadyTx`]).
///
/// Normally a socket pair: the child writes a byte, the parent polls its end and the child's
/// pidfd (a dead child shows as end of file if there is no pidfd). Without a descriptor free
/// for one (`EMFILE`, `ENFILE`: the workers of a pool under a low `RLIMIT_NOFILE`), a word in
/// an anonymous shared page: the child sets it to 1 and wakes its futex; the parent waits on
/// the futex, and between waits checks whether the child exited instead.
pub(super) fn handshake(socket: bool) -> io::Result<(ReadyRx, ReadyTx)> {
    if socket {
        match UnixStream::pair() {
            Ok((rx, tx)) => return Ok((ReadyRx::Socket(rx), ReadyTx::Socket(tx))),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {}
            Err(e) => return Err(e),
        }
    }
    let mapping = Arc::new(Mapping::anonymous(8)?);
    match Mapping::claim(&mapping, Part::Bytes { offset: 0, len: 8 }) {
        Ok(View::Bytes(word)) => Ok((ReadyRx::Word(word.clone()), ReadyTx::Word(word))),
        _ => Err(io::Error::other("the handshake word could not be claimed")),
    }
}

/// The parent's end of a [`handshake`].
pub(super) enum ReadyRx {
    Socket(UnixStream),
    Word(SharedBytes),
}

/// The child's end of a [`handshake`].
pub(super) enum ReadyTx {
    Socket(UnixStream),
    Word(SharedBytes),
}

/// The longest pause between two checks of a daemon that has not armed its signal yet, when
/// the handshake is a shared word (it normally arms within microseconds; this bounds how long
/// a daemon killed before arming keeps `start` waiting).
const HANDSHAKE_MAX_PAUSE: Duration = Duration::from_millis(10);

/// The handshake word: 0 until the child has armed its signal, then 1.
fn handshake_word(bytes: &SharedBytes) -> &AtomicU32 {
    &bytes.atomics::<AtomicU32>(0, 1)[0]
}

impl ReadyTx {
    /// The same signal, for a child made by [`sys::spawn_exec`] (which shares our memory until
    /// its `execve`, so it may not consume or drop anything).
    pub(super) fn exec_ready(&self) -> sys::ExecReady<'_> {
        match self {
            ReadyTx::Socket(tx) => sys::ExecReady::Write(tx.as_fd()),
            ReadyTx::Word(bytes) => sys::ExecReady::Wake(handshake_word(bytes)),
        }
    }

    /// In the child: tells the parent the signal is armed. Allocates nothing.
    pub(super) fn armed(self) {
        match self {
            ReadyTx::Socket(tx) => {
                let _ = sys::write_all(tx.as_fd(), b"r");
            }
            ReadyTx::Word(bytes) => {
                let word = handshake_word(&bytes);
                // Release: pairs with the Acquire load in `ReadyRx::wait` (publishes nothing
                // else; the order only makes the word's meaning plain).
                word.store(1, Ordering::Release);
                let _ = sys::futex::futex_wake(word, 1);
            }
        }
    }
}

impl ReadyRx {
    /// In the parent: returns once the child `pid` has armed its signal or has exited. On an
    /// error of the wait itself (`ENOMEM`) it returns at once: the daemon still arms itself,
    /// only perhaps after `start` returned.
    pub(super) fn wait(self, pid: Pid, pidfd: Option<&OwnedFd>) {
        match self {
            ReadyRx::Socket(rx) => {
                let mut fds = vec![rx.as_fd()];
                fds.extend(pidfd.map(AsFd::as_fd));
                let _ = sys::retry_on_intr(|| sys::poll_any_readable(&fds, None));
            }
            ReadyRx::Word(bytes) => {
                let word = handshake_word(&bytes);
                let mut pause = Duration::from_micros(50);
                // Acquire: pairs with the Release store in `ReadyTx::armed`.
                while word.load(Ordering::Acquire) == 0 {
                    // A child dies before arming only if killed, or if its `prctl` failed.
                    // Not reaped yet (we are its only reaper), so `pid` is still our child.
                    if sys::has_exited(pid).unwrap_or(true) {
                        return;
                    }
                    // Woken by the child, or after `pause` to look again.
                    let _ = sys::futex::futex_wait(word, 0, Some(pause));
                    pause = (pause * 2).min(HANDSHAKE_MAX_PAUSE);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::process::Builder;
    use crate::test_util::watchdog;

    /// The start-up handshake of a daemon without a socket (as when no descriptor is free):
    /// `start` returns only once the daemon has armed its parent-death signal, so the end of
    /// the thread that started it kills it, with a pidfd or without.
    #[test]
    fn a_daemon_started_without_a_socket_dies_with_its_thread() {
        watchdog(30, || {
            for pidfd in [true, false] {
                let mut builder = Builder::new().daemon(true).without_socket();
                if !pidfd {
                    builder = builder.without_pidfd();
                }
                let p = std::thread::spawn(move || {
                    builder
                        .spawn(|| loop {
                            // Until killed.
                            std::thread::sleep(Duration::from_secs(3600));
                        })
                        .unwrap()
                })
                .join()
                .unwrap();
                assert_eq!(p.sentinel().is_some(), pidfd);
                assert_eq!(p.join().unwrap(), -9, "pidfd: {pidfd}");
            }
        });
    }
}
