//! [`JoinHandle<T>`]: a child that returns a value, and [`JoinError`]: why it did not.
//!
//! The value travels through a memory file (`memfd_create(2)`) made before the fork and shared
//! by parent and child: the child encodes what the closure returned (postcard, like the
//! queues' items) into it and exits; the parent, once it has reaped the child, reads the file
//! into a private buffer and decodes it. Any size fits, as long as memory does; nothing is
//! copied through a pipe while the child runs, and nothing is read before the child is gone,
//! so the bytes read are final.
//!
//! The record's format is documented on [`JoinHandle`].

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom};
use std::marker::PhantomData;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Builder, Process, ProcessError};
use crate::encoding::DecodeError;
use crate::sys::{self, Pid, Signal};

/// The first bytes of a result record.
const MAGIC: [u8; 4] = *b"hrjv";
/// Bytes before the payload.
const HEADER_LEN: u64 = 16;
/// Record kinds.
const KIND_VALUE: u32 = 1;
const KIND_PANIC: u32 = 2;
const KIND_ENCODE: u32 = 3;
/// The longest panic or encode-error message read back, in bytes; longer ones are cut.
pub const MESSAGE_MAX: usize = 64 * 1024;

/// A started child that runs a closure returning a `T`; [`join`](JoinHandle::join) gives the
/// value back. Made by [`Builder::start`] (or [`start`](super::start)).
///
/// It is a [`Process`] (see [`process`](JoinHandle::process)), with the same exit codes,
/// signals, fork-safety rules and drop behaviour (a running child is not killed, and is reaped
/// once it exits). Like a `Process` it is `Send + Sync`, whatever `T` is: the value exists only
/// as bytes until a `join` decodes it.
///
/// The value travels through a memory file (`memfd_create(2)`) made before the fork and shared
/// by parent and child: the child encodes what the closure returned (postcard, like the
/// queues' items) into it and exits; the parent, once it has reaped the child, reads the file
/// into a private buffer and decodes it. Any size fits, as long as memory does (the child
/// streams the encoding into the file, so it holds no second copy); nothing is read before the
/// child is gone, so the bytes read are final. The file is closed when the handle is dropped.
///
/// # The result record
///
/// ```text
/// offset  size  field
/// 0       4     magic b"hrjv"
/// 4       4     kind: u32 LE — 1 value, 2 panic message, 3 encode error message
/// 8       8     len: u64 LE — the payload's length
/// 16      len   payload: the encoded value, or the message's UTF-8 bytes
/// ```
///
/// The child writes the payload first and the header last, so a child killed while writing
/// leaves no header (the file is empty before). Every child forked while the handle lives
/// inherits the descriptor (as every descriptor), so the child or any other may have written
/// anything there. The parent trusts nothing in it: it checks the magic, the kind, and `len`
/// against the file's size and against the memory the file holds (a file grown with
/// `ftruncate` has holes, which would make the parent allocate what the child never wrote)
/// before reading, reads with
/// positioned reads into its own buffer, and decodes exactly one value from it (bytes left
/// over are a [`DecodeError`]). A message is read up to [`MESSAGE_MAX`] bytes and decoded
/// lossily.
///
/// # Examples
///
/// ```
/// use host_runtime::process;
///
/// let words = vec!["a", "bb", "ccc"];
/// let h = process::start(move || words.iter().map(|w| w.len()).sum::<usize>())?;
/// assert_eq!(h.join()?, 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JoinHandle<T> {
    process: Process,
    /// The result record's file; the child has its own reference (through the fork).
    result: Arc<File>,
    _value: PhantomData<fn() -> T>,
}

impl Builder {
    /// Starts a child that runs `f` and hands what it returns back to [`JoinHandle::join`].
    ///
    /// `T` travels encoded (serde, postcard), of any size (the child writes it into a memory
    /// file, see [`JoinHandle`]). A closure can only be forked (with another start method this
    /// fails with [`ProcessError::NeedsFork`]); [`Builder::run`] starts a `fn` item with any.
    ///
    /// # Errors
    ///
    /// As [`Process::start`]; also [`ProcessError::Os`] if the memory file could not be made
    /// (`EMFILE`, `ENOMEM`).
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::process::Builder;
    ///
    /// let h = Builder::new().name("squarer").start(|| (1..=4).map(|i| i * i).collect::<Vec<u64>>())?;
    /// assert_eq!(h.name(), "squarer");
    /// assert_eq!(h.join()?, [1, 4, 9, 16]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start<F, T>(self, f: F) -> Result<JoinHandle<T>, ProcessError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Serialize + DeserializeOwned,
    {
        let result = Arc::new(File::from(sys::memfd_create("host-runtime-result")?));
        let file = Arc::clone(&result);
        let process = self.build(move || run_child(f, &file));
        process.start()?;
        Ok(JoinHandle {
            process,
            result,
            _value: PhantomData,
        })
    }
}

/// Starts a child that runs `f` and hands what it returns back to [`JoinHandle::join`]; same as
/// `Builder::new().start(f)`.
///
/// # Errors
///
/// As [`Builder::start`].
///
/// # Examples
///
/// ```
/// use host_runtime::process::{self, JoinError};
///
/// let h = process::start(|| -> u8 { panic!("no value today") })?;
/// match h.join() {
///     Err(JoinError::Panicked { message }) => assert_eq!(message, "no value today"),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn start<F, T>(f: F) -> Result<JoinHandle<T>, ProcessError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Serialize + DeserializeOwned,
{
    Builder::new().start(f)
}

/// In the child: runs `f` and records what happened in `file`. A panic is recorded and then
/// resumed (the `Process` wrapper exits with code 1; the panic hook has printed it already).
pub(super) fn run_child<F, T>(f: F, file: &File)
where
    F: FnOnce() -> T,
    T: Serialize,
{
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => match write_value(file, &value) {
            Ok(()) => {}
            Err(WriteFailure::Encode(e)) => {
                let message = e.to_string();
                let _ = write_record(file, KIND_ENCODE, message.as_bytes());
                panic!("could not encode the return value: {message}");
            }
            Err(WriteFailure::Io(e)) => panic!("could not write the return value: {e}"),
        },
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("Box<dyn Any>");
            let _ = write_record(file, KIND_PANIC, message.as_bytes());
            panic::resume_unwind(payload);
        }
    }
}

/// Why the child could not record its value.
enum WriteFailure {
    Encode(postcard::Error),
    Io(io::Error),
}

/// The longest encoding [`write_value`] makes on its stack (then written with one `pwrite`);
/// longer ones are streamed.
const SMALL_VALUE: usize = 1024;

/// Encodes `value` into `file` after the header, then writes the header. A value whose
/// encoding fits in [`SMALL_VALUE`] bytes is encoded on the stack and written with one
/// positioned write; a longer one is encoded again, straight from the encoder into the file
/// (no copy of the whole encoding in memory).
fn write_value<T: Serialize>(file: &File, value: &T) -> Result<(), WriteFailure> {
    let mut small = [0u8; SMALL_VALUE];
    match postcard::to_slice(value, &mut small) {
        Ok(bytes) => {
            return write_record(file, KIND_VALUE, bytes).map_err(WriteFailure::Io);
        }
        Err(postcard::Error::SerializeBufferFull) => {}
        Err(e) => return Err(WriteFailure::Encode(e)),
    }
    let mut f = file;
    f.seek(SeekFrom::Start(HEADER_LEN))
        .map_err(WriteFailure::Io)?;
    let out =
        postcard::to_io(value, BufWriter::with_capacity(64 * 1024, f)).map_err(|e| match e {
            postcard::Error::SerializeBufferFull => WriteFailure::Io(io::Error::other(e)),
            e => WriteFailure::Encode(e),
        })?;
    let mut f = out
        .into_inner()
        .map_err(|e| WriteFailure::Io(e.into_error()))?;
    let end = f.stream_position().map_err(WriteFailure::Io)?;
    let len = end.saturating_sub(HEADER_LEN);
    file.write_all_at(&header(KIND_VALUE, len), 0)
        .map_err(WriteFailure::Io)
}

/// Writes a whole record (payload, then header) at the start of `file`.
fn write_record(file: &File, kind: u32, payload: &[u8]) -> io::Result<()> {
    file.write_all_at(payload, HEADER_LEN)?;
    file.write_all_at(&header(kind, payload.len() as u64), 0)
}

fn header(kind: u32, len: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&kind.to_le_bytes());
    h[8..].copy_from_slice(&len.to_le_bytes());
    h
}

/// A result record, read back by the parent.
enum Record {
    /// None, or not a valid one.
    Missing,
    Value(Vec<u8>),
    Panic(String),
    Encode(String),
}

/// Reads the record the child left, checking each field against the file before using it.
fn read_record(file: &File) -> io::Result<Record> {
    let meta = file.metadata()?;
    let size = meta.len();
    if size < HEADER_LEN {
        return Ok(Record::Missing);
    }
    let mut h = [0u8; HEADER_LEN as usize];
    file.read_exact_at(&mut h, 0)?;
    let kind = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let len = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
    if h[..4] != MAGIC || len > size - HEADER_LEN {
        return Ok(Record::Missing);
    }
    // A record that was written holds memory for every byte; a file made large with
    // `ftruncate` (holes) does not, and reading it would cost us memory the child never spent.
    if meta.blocks().saturating_mul(512) < HEADER_LEN + len {
        return Ok(Record::Missing);
    }
    let read = |cap: u64| -> io::Result<Option<Vec<u8>>> {
        let Ok(n) = usize::try_from(len.min(cap)) else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        if buf.try_reserve_exact(n).is_err() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        buf.resize(n, 0);
        file.read_exact_at(&mut buf, HEADER_LEN)?;
        Ok(Some(buf))
    };
    let message = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    Ok(match kind {
        KIND_VALUE => read(u64::MAX)?.map_or(Record::Missing, Record::Value),
        KIND_PANIC => {
            read(MESSAGE_MAX as u64)?.map_or(Record::Missing, |b| Record::Panic(message(b)))
        }
        KIND_ENCODE => {
            read(MESSAGE_MAX as u64)?.map_or(Record::Missing, |b| Record::Encode(message(b)))
        }
        _ => Record::Missing,
    })
}

/// Decodes exactly one `T` from `bytes`.
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    match crate::encoding::depth::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok(_) => Err(DecodeError::trailing_bytes()),
        Err(e) => Err(DecodeError::new(e)),
    }
}

impl<T> JoinHandle<T> {
    /// A handle on `process`, started, whose child writes its record into `result`.
    pub(super) fn from_parts(process: Process, result: Arc<File>) -> JoinHandle<T> {
        JoinHandle {
            process,
            result,
            _value: PhantomData,
        }
    }
}

impl<T: DeserializeOwned> JoinHandle<T> {
    /// Waits for the child to exit, reaps it, and returns the value its closure returned.
    ///
    /// May be called again (by any thread): each call decodes the value anew from the child's
    /// record, which stays until the handle is dropped.
    ///
    /// # Errors
    ///
    /// - [`JoinError::Panicked`]: the closure panicked (exit code 1), with its message.
    /// - [`JoinError::Exited`]: the child exited with a code before its closure returned
    ///   (`std::process::exit`), or its record could not be written.
    /// - [`JoinError::Signaled`]: a signal killed it (also a panic under `panic = "abort"`:
    ///   `SIGABRT`).
    /// - [`JoinError::Encode`]: the value's `Serialize` failed in the child.
    /// - [`JoinError::Decode`]: the bytes the child wrote are not one `T`.
    /// - [`JoinError::Corrupt`]: the child exited 0 without a readable record (only a child
    ///   that wrote over it, or closed it, does this).
    /// - [`JoinError::Process`]: as [`Process::join`] ([`ProcessError::NotParent`],
    ///   [`ProcessError::Lost`], [`ProcessError::Os`]), or the record could not be read.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::process::{self, JoinError};
    ///
    /// let big = process::start(|| vec![7u8; 8 << 20])?; // 8 MiB back from the child
    /// assert_eq!(big.join()?.len(), 8 << 20);
    ///
    /// let quits = process::start(|| -> String { std::process::exit(3) })?;
    /// assert!(matches!(quits.join(), Err(JoinError::Exited { code: 3 })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join(&self) -> Result<T, JoinError> {
        let code = self.process.join()?;
        self.outcome(code)
    }

    /// Waits at most `timeout` for the child to exit, then returns as [`join`](Self::join).
    ///
    /// # Errors
    ///
    /// - [`JoinError::Timeout`] if it still runs after `timeout` (never sooner; it runs on,
    ///   and a later `join` still returns its value).
    /// - As [`join`](Self::join) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::process::{self, JoinError};
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    /// use std::time::Duration;
    ///
    /// let (mut tx, mut rx) = UnixStream::pair()?;
    /// let h = process::start(move || {
    ///     let mut byte = [0u8];
    ///     rx.read_exact(&mut byte).unwrap();
    ///     byte[0]
    /// })?;
    /// assert!(matches!(h.join_timeout(Duration::from_millis(10)), Err(JoinError::Timeout)));
    /// tx.write_all(&[42])?;
    /// assert_eq!(h.join_timeout(Duration::from_secs(60))?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<T, JoinError> {
        let code = match self.process.join_timeout(timeout) {
            Err(ProcessError::Timeout) => return Err(JoinError::Timeout),
            other => other?,
        };
        self.outcome(code)
    }

    /// What the child's exit `code` (Python's convention) and its record say.
    fn outcome(&self, code: i32) -> Result<T, JoinError> {
        if code < 0 {
            let signal = Signal::from_raw(-code).ok_or(JoinError::Exited { code })?;
            return Err(JoinError::Signaled { signal });
        }
        let record = read_record(&self.result).map_err(ProcessError::Os)?;
        match (code, record) {
            (0, Record::Value(bytes)) => decode(&bytes).map_err(JoinError::Decode),
            (0, _) => Err(JoinError::Corrupt),
            (1, Record::Panic(message)) => Err(JoinError::Panicked { message }),
            (1, Record::Encode(message)) => Err(JoinError::Encode { message }),
            (code, _) => Err(JoinError::Exited { code }),
        }
    }
}

impl<T> JoinHandle<T> {
    /// The child as a [`Process`]: its exit code, sentinel, and everything else.
    pub fn process(&self) -> &Process {
        &self.process
    }

    /// The child's name: given to [`Builder::name`], or `Process-N`.
    pub fn name(&self) -> &str {
        self.process.name()
    }

    /// The child's pid (also after it exited).
    pub fn pid(&self) -> Pid {
        self.process
            .pid()
            .expect("a JoinHandle is made once its process started")
    }

    /// Whether the child has not exited yet; reaps it if it has. As [`Process::is_alive`].
    pub fn is_alive(&self) -> bool {
        self.process.is_alive()
    }

    /// The child's pidfd, readable once it exited; as [`Process::sentinel`].
    pub fn sentinel(&self) -> Option<BorrowedFd<'_>> {
        self.process.sentinel()
    }

    /// Sends `SIGTERM` to the child; as [`Process::terminate`]. A later `join` then returns
    /// [`JoinError::Signaled`] (unless the child caught the signal).
    ///
    /// # Errors
    ///
    /// As [`Process::terminate`].
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.process.terminate()
    }

    /// Sends `SIGKILL` to the child; as [`Process::kill`].
    ///
    /// # Errors
    ///
    /// As [`Process::kill`].
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.process.kill()
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("process", &self.process)
            .finish_non_exhaustive()
    }
}

/// Why a [`JoinHandle`] gave no value.
#[derive(Debug)]
#[non_exhaustive]
pub enum JoinError {
    /// The closure panicked; `message` is the panic's message if it was a string (as
    /// `panic!("…")` makes), else `"Box<dyn Any>"`; cut to [`MESSAGE_MAX`] bytes.
    Panicked {
        /// The panic's message.
        message: String,
    },
    /// The child exited with `code` without returning a value: the closure called
    /// `std::process::exit(code)`, or (code 1) the child could not record its value or its
    /// panic.
    Exited {
        /// The exit code (0–255).
        code: i32,
    },
    /// A signal killed the child (`terminate()`: `SIGTERM`, `kill()`: `SIGKILL`).
    Signaled {
        /// The signal.
        signal: Signal,
    },
    /// The value could not be encoded in the child: its `Serialize` implementation failed.
    Encode {
        /// The encoder's message.
        message: String,
    },
    /// The child's bytes are not one value of type `T`.
    Decode(DecodeError),
    /// The child exited 0 but left no valid result record.
    Corrupt,
    /// [`JoinHandle::join_timeout`] waited in vain: the child still runs.
    Timeout,
    /// Waiting for or reaping the child failed, or reading its record did.
    Process(ProcessError),
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked { message } => write!(f, "child process panicked: {message}"),
            JoinError::Exited { code } => {
                write!(f, "child process exited with code {code} without a value")
            }
            JoinError::Signaled { signal } => {
                write!(f, "child process killed by signal {}", signal.as_raw())
            }
            JoinError::Encode { message } => {
                write!(f, "child process could not encode its value: {message}")
            }
            JoinError::Decode(e) => write!(f, "child process's value: {e}"),
            JoinError::Corrupt => f.write_str("child process left no valid result"),
            JoinError::Timeout => f.write_str("timed out waiting for the child process to exit"),
            JoinError::Process(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for JoinError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JoinError::Decode(e) => Some(e),
            JoinError::Process(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ProcessError> for JoinError {
    fn from(e: ProcessError) -> JoinError {
        match e {
            ProcessError::Timeout => JoinError::Timeout,
            e => JoinError::Process(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(bytes: &[u8]) -> File {
        let f = File::from(sys::memfd_create("test").unwrap());
        f.write_all_at(bytes, 0).unwrap();
        f
    }

    #[test]
    fn records_round_trip_and_bad_ones_are_missing() {
        let f = File::from(sys::memfd_create("test").unwrap());
        assert!(matches!(read_record(&f).unwrap(), Record::Missing));
        write_value(&f, &(7u32, String::from("seven")))
            .ok()
            .unwrap();
        let Record::Value(bytes) = read_record(&f).unwrap() else {
            panic!("a value record")
        };
        assert_eq!(
            decode::<(u32, String)>(&bytes).unwrap(),
            (7, "seven".into())
        );
        assert!(decode::<u8>(&bytes).is_err(), "trailing bytes");

        // A length past the end of the file, a bad magic, an unknown kind.
        let mut h = header(KIND_VALUE, 1000);
        assert!(matches!(
            read_record(&file_with(&h)).unwrap(),
            Record::Missing
        ));
        h = header(KIND_VALUE, 0);
        h[0] = b'x';
        assert!(matches!(
            read_record(&file_with(&h)).unwrap(),
            Record::Missing
        ));
        h = header(9, 0);
        assert!(matches!(
            read_record(&file_with(&h)).unwrap(),
            Record::Missing
        ));
        // A length within the file's size, but the file is a hole (`ftruncate`).
        let f = file_with(&header(KIND_VALUE, 1 << 40));
        f.set_len(HEADER_LEN + (1 << 40)).unwrap();
        assert!(matches!(read_record(&f).unwrap(), Record::Missing));
        // A huge message is cut.
        let f = File::from(sys::memfd_create("test").unwrap());
        write_record(&f, KIND_PANIC, &vec![b'a'; MESSAGE_MAX + 10]).unwrap();
        let Record::Panic(m) = read_record(&f).unwrap() else {
            panic!("a panic record")
        };
        assert_eq!(m.len(), MESSAGE_MAX);
    }
}
