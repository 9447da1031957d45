//! A trap for ipc-core's crash points, shared by the crash tests: armed in a child, it kills
//! (`SIGKILL`) or stops (`SIGSTOP`) the child at the `n`-th crash point it passes, after
//! writing which point that was into word 0 of a shared board (its index in the test's list
//! of point names, plus 1; 99 for a point not in the list).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::OnceLock;

use host_runtime::shared::region::SharedBytes;
use host_runtime::sys::{self, Signal};

/// One per test binary, in a `static`, with a plain `fn` hook that calls [`Trap::hit`]
/// (ipc-core's hook is a `fn(&'static str)`, not a closure).
pub struct Trap {
    points: &'static [&'static str],
    target: AtomicU64,
    passed: AtomicU64,
    stop: AtomicBool,
    board: OnceLock<SharedBytes>,
}

impl Trap {
    /// A trap that names the points in `points` on its board.
    pub const fn new(points: &'static [&'static str]) -> Trap {
        Trap {
            points,
            target: AtomicU64::new(0),
            passed: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            board: OnceLock::new(),
        }
    }

    /// In a child: kill (or, with `stop`, stop) this process at its `n`-th crash point,
    /// recording the point in `board`'s word 0; `hook` is the binary's `fn` that calls
    /// [`hit`](Self::hit).
    pub fn arm(&self, n: u64, stop: bool, board: SharedBytes, hook: fn(&'static str)) {
        self.target.store(n, SeqCst);
        self.stop.store(stop, SeqCst);
        let _ = self.board.set(board);
        ipc_core::crash::set_hook(Some(hook));
    }

    /// The hook's body: counts `point`, and at the armed one records it and signals.
    pub fn hit(&self, point: &'static str) {
        if self.passed.fetch_add(1, SeqCst) + 1 != self.target.load(SeqCst) {
            return;
        }
        if let Some(board) = self.board.get() {
            let index = self
                .points
                .iter()
                .position(|&p| p == point)
                .map_or(99, |i| i + 1);
            board.u64_at(0).store(index as u64, SeqCst);
        }
        let signal = if self.stop.load(SeqCst) {
            Signal::from_raw(libc::SIGSTOP).unwrap()
        } else {
            Signal::KILL
        };
        sys::kill(sys::getpid(), signal).unwrap();
    }
}
