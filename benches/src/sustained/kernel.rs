//! Byte streams through the kernel in sustained streams: a pipe and a Unix stream socket pair
//! with their default buffers, one `write` per message. The consumer reads one message per
//! `read_exact` (a message protocol's loop) or, for the pipe, 64 KiB at a time (the best case
//! for a byte stream). Writes of up to `PIPE_BUF` (4,096) bytes to a pipe are atomic, so two
//! producers' messages never interleave; the socket's are checked like every other message.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

use super::{boxed, ByteRx, ByteTx, BytesRx, BytesTx, Run};
use crate::roundtrip::pipe as pipe2;

/// Anything written with one `write_all` per message.
struct Writer<W>(W);

impl<W: Write> ByteTx for Writer<W> {
    #[inline]
    fn send_bytes(&mut self, m: &[u8]) {
        self.0.write_all(m).expect("write");
    }
}

/// Anything read with one `read_exact` per message.
struct Exact<R>(R, Vec<u8>);

impl<R: Read> ByteRx for Exact<R> {
    #[inline]
    fn recv_bytes(&mut self) -> &[u8] {
        self.0.read_exact(&mut self.1).expect("read");
        &self.1
    }
}

/// Reads up to 64 KiB per `read(2)` and hands out the `len`-byte messages in it.
struct Batched {
    file: File,
    len: usize,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
}

impl ByteRx for Batched {
    #[inline]
    fn recv_bytes(&mut self) -> &[u8] {
        while self.end - self.pos < self.len {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            let n = self.file.read(&mut self.buf[self.end..]).expect("read");
            assert!(n > 0, "unexpected end of stream");
            self.end += n;
        }
        self.pos += self.len;
        &self.buf[self.pos - self.len..self.pos]
    }
}

/// A pipe (default buffer), `len`-byte messages from `producers` processes; read one message
/// per `read_exact`, or 64 KiB at a time if `batched`.
///
/// # Errors
///
/// Those of `pipe2` and `fork`.
pub fn pipe(len: usize, producers: u32, batched: bool) -> io::Result<Box<dyn Run>> {
    let (r, w) = pipe2()?;
    let make_tx = |_| BytesTx::new(Writer(w.try_clone().expect("dup")), len);
    if batched {
        let rx = Batched {
            file: r,
            len,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            end: 0,
        };
        boxed(make_tx, BytesRx::new(rx, len), producers)
    } else {
        boxed(
            make_tx,
            BytesRx::new(Exact(r, vec![0; len]), len),
            producers,
        )
    }
}

/// A Unix stream socket pair (`socketpair(2)`, default buffers), `len`-byte messages from
/// `producers` processes, one `read_exact` per message.
///
/// # Errors
///
/// Those of `socketpair` and `fork`.
pub fn socketpair(len: usize, producers: u32) -> io::Result<Box<dyn Run>> {
    let (a, b) = UnixStream::pair()?;
    let make_tx = |_| BytesTx::new(Writer(a.try_clone().expect("dup")), len);
    boxed(
        make_tx,
        BytesRx::new(Exact(b, vec![0; len]), len),
        producers,
    )
}
