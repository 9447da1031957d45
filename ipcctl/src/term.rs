//! Keys for `watch`: the terminal in raw mode (no echo, no line buffering, Ctrl-C as a byte),
//! restored when [`Keys`] is dropped; `poll(2)` on standard input between redraws.

use std::io;
use std::time::{Duration, Instant};

/// Standard input, in raw mode if it is a terminal (restored on drop).
pub struct Keys {
    /// The terminal's settings before, to restore; `None` if stdin is not a terminal.
    saved: Option<libc::termios>,
    /// Standard input reached end of file (not a terminal): stop polling it.
    eof: bool,
}

impl Keys {
    /// Puts a terminal on standard input into raw mode (`tcgetattr`/`tcsetattr`).
    ///
    /// # Errors
    ///
    /// `tcsetattr` failing.
    pub fn new() -> io::Result<Keys> {
        // SAFETY: an all-zero `termios` is a valid value of the plain C struct, overwritten by
        // `tcgetattr` before use.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 and a valid pointer to a `termios` we own; fails (ENOTTY) if not a tty.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
            return Ok(Keys {
                saved: None,
                eof: false,
            });
        }
        let mut raw = saved;
        // No line buffering, no echo, and Ctrl-C as byte 3 (so that we restore the terminal
        // before leaving); output processing kept (`\n` still returns the carriage).
        raw.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
        raw.c_cc[libc::VMIN] = 0;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: fd 0 and a valid `termios`.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Keys {
            saved: Some(saved),
            eof: false,
        })
    }

    /// Waits up to `timeout` for a key; `true` if it was `q`, `Q` or Ctrl-C (byte 3), or
    /// standard input is a terminal that hung up.
    ///
    /// # Errors
    ///
    /// `poll` or `read` failing (other than `EINTR`, retried).
    pub fn quit_within(&mut self, timeout: Duration) -> io::Result<bool> {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            if self.eof {
                std::thread::sleep(left);
                return Ok(false);
            }
            let mut fd = libc::pollfd {
                fd: libc::STDIN_FILENO,
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
            // SAFETY: one valid `pollfd` we own, count 1.
            let n = unsafe { libc::poll(&mut fd, 1, ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                return Ok(false);
            }
            let mut buf = [0u8; 64];
            // SAFETY: reads at most `buf.len()` bytes into `buf`, which we own.
            let got = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
            if got < 0 {
                let e = io::Error::last_os_error();
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) {
                    continue;
                }
                return Err(e);
            }
            if got == 0 {
                if self.saved.is_some() {
                    // The terminal hung up.
                    return Ok(true);
                }
                self.eof = true;
                continue;
            }
            let got = usize::try_from(got).unwrap_or(0).min(buf.len());
            if buf[..got].iter().any(|&b| matches!(b, b'q' | b'Q' | 3)) {
                return Ok(true);
            }
        }
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: fd 0 and the `termios` saved by `new`.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
        }
    }
}
