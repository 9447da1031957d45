//! How tasks become messages and reach the scheduler: a sealed call ([`ForkCall`]) and the
//! encoded arguments, one message per `apply`, or per chunk of a `map` (split in halves while
//! too long).

use std::cell::Cell;
use std::io;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::message::{begin_task, chunk_shim, encode_into, into_long_payload, TASK_HEADER};
use super::result::{Chunks, Sink};
use super::sched::{Job, Phase};
use super::{Imap, Pool, PoolError};
use crate::encoding::payload::{Varint, VARINT_MAX};
use crate::encoding::EncodeError;
use crate::lock::lock;
use crate::process::ProcessError;
use crate::sys::fncall::{ForkCall, Shim};

/// What identifies a sealed call: the pool's id, the shim's and the function's addresses.
type CallId = (u64, usize, usize);

thread_local! {
    /// The last call this thread sealed, by `(pool, shim, function)`: sealing computes a keyed
    /// hash, which a thread submitting the same function to the same pool again can skip.
    static CALL_CACHE: Cell<Option<(CallId, ForkCall)>> = const { Cell::new(None) };
}

/// Python's default `chunksize` for `map`: `len / (4 × processes)`, rounded up.
fn default_chunksize(len: usize, processes: usize) -> usize {
    len.div_ceil(4 * processes).max(1)
}

impl Pool {
    /// Encodes a task message for `shim(f, args)`, checking its size.
    pub(super) fn encode_task<A, R, T>(
        &self,
        shim: Shim<A, R>,
        f: fn(A) -> R,
        args: &T,
        msg: &mut Vec<u8>,
    ) -> Result<(), PoolError>
    where
        T: Serialize + ?Sized,
    {
        begin_task(msg, self.seal(shim, f)?);
        encode_into(args, msg).map_err(|e| PoolError::Encode(EncodeError::new(e)))?;
        if msg.len() > self.shared.max_message_size {
            return Err(PoolError::TooLarge {
                len: msg.len(),
                max: self.shared.max_message_size,
            });
        }
        Ok(())
    }

    /// The sealed call of `shim(f, ..)` (this thread's last one if it is the same).
    fn seal<A, R>(&self, shim: Shim<A, R>, f: fn(A) -> R) -> Result<ForkCall, PoolError> {
        let id = (self.shared.id, shim as usize, f as usize);
        CALL_CACHE.with(|cache| match cache.get() {
            Some((cached, call)) if cached == id => Ok::<_, PoolError>(call),
            _ => {
                // Fails for a pool of exec'd workers and a function outside the executable.
                let call = ForkCall::new(&self.shared.key, shim, f).map_err(|e| {
                    PoolError::Spawn(ProcessError::Os(io::Error::new(
                        io::ErrorKind::Unsupported,
                        e,
                    )))
                })?;
                cache.set(Some((id, call)));
                Ok(call)
            }
        })
    }

    /// Submits one task whose message is `msg`: copied into a recycled buffer if it is short,
    /// moved out of `msg` (left empty) otherwise (see `Sched::buffer`).
    pub(super) fn submit_message(
        &self,
        msg: &mut Vec<u8>,
        sink: Arc<dyn Sink>,
    ) -> Result<(), PoolError> {
        let tables = self.shared.tables.get();
        let mut s = lock(&self.shared.sched);
        if s.phase != Phase::Running {
            return Err(PoolError::NotRunning);
        }
        let msg = s.buffer(msg);
        s.backlog.push_back(Job {
            msg,
            tail: None,
            handle: None,
            sink,
            tag: 0,
        });
        s.dispatch(&tables, self.shared.prefetch);
        // A submit is an event too: leave no worker idle while a task waits behind another.
        s.steal(self.shared.prefetch);
        Ok(())
    }

    /// Adds jobs to the backlog and hands out what fits.
    fn submit(&self, jobs: impl IntoIterator<Item = Job>) -> Result<(), PoolError> {
        let tables = self.shared.tables.get();
        let mut s = lock(&self.shared.sched);
        if s.phase != Phase::Running {
            return Err(PoolError::NotRunning);
        }
        s.backlog.extend(jobs);
        s.dispatch(&tables, self.shared.prefetch);
        // A submit is an event too: leave no worker idle while a task waits behind another.
        s.steal(self.shared.prefetch);
        Ok(())
    }

    /// Submits `items` in chunks for `map`/`imap`/`imap_unordered`.
    ///
    /// Chunks are submitted as they are encoded, in batches of [`SUBMIT_BYTES`] or
    /// [`SUBMIT_CHUNKS`] (whichever comes first), so workers start on the first ones while the
    /// rest are encoded. An item that can't be encoded (or a pool that stops running) fails the
    /// call; the chunks submitted before it still run, and their results are dropped.
    pub(super) fn start_map<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
        ordered: bool,
        throttle: bool,
    ) -> Result<Imap<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        if lock(&self.shared.sched).phase != Phase::Running {
            return Err(PoolError::NotRunning);
        }
        let sink = Arc::new(Chunks::<R>::new());
        let mut batch = Batch {
            sink: Arc::clone(&sink),
            jobs: Vec::new(),
            bytes: 0,
            throttle: throttle.then_some(self.shared.owner),
            chunks: 0,
            total: 0,
        };
        match chunksize {
            // Python's default needs the number of items first.
            0 => {
                let items: Vec<A> = items.into_iter().collect();
                let chunksize = default_chunksize(items.len(), self.processes);
                self.encode_chunks(f, items.into_iter(), chunksize, &mut batch)?;
            }
            // Read as encoded: each item is made (e.g. cloned by a `repeat_n`) just before it
            // is encoded and dropped just after, so the next one can take its memory, still
            // in the cache, instead of every item living at once beside its message.
            n => self.encode_chunks(f, items.into_iter(), n, &mut batch)?,
        }
        self.flush(&mut batch)?;
        Ok(Imap::new(sink, ordered, self.shared.owner))
    }

    /// Submits the jobs of `batch`, if any.
    fn flush<R>(&self, batch: &mut Batch<R>) -> Result<(), PoolError> {
        batch.bytes = 0;
        if batch.jobs.is_empty() {
            return Ok(());
        }
        self.submit(batch.jobs.drain(..))
    }

    /// Encodes `items` in chunks of `chunksize` items, in order, into `batch`, submitting it
    /// whenever it is full.
    fn encode_chunks<A, R>(
        &self,
        f: fn(A) -> R,
        mut items: impl Iterator<Item = A>,
        chunksize: usize,
        batch: &mut Batch<R>,
    ) -> Result<(), PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        // Each chunk's items are dropped as soon as it is encoded, so that the next message
        // (or item) can take their memory: with large items (1 MiB buffers) this halves the
        // memory a map holds at once, and spares fresh pages (a page fault each 4 KiB) for
        // every message.
        loop {
            let mut chunk: Vec<A> = items.by_ref().take(chunksize).collect();
            if chunk.is_empty() {
                return Ok(());
            }
            if chunk.len() == 1 {
                if let Some(item) = chunk.pop() {
                    match into_long_payload(item) {
                        Ok(bytes) => self.encode_one(f, bytes, batch)?,
                        Err(item) => self.encode_chunk(f, &[item], batch)?,
                    }
                    continue;
                }
            }
            self.encode_chunk(f, &chunk, batch)?;
        }
    }

    /// Encodes a chunk of one item, a long byte payload whose bytes are `bytes` (see
    /// [`into_long_payload`]): they are moved into the job as its message's tail instead of
    /// copied into the message (which holds the header, the count and the length); the
    /// dispatch writes both parts into shared memory. Same bytes as
    /// [`encode_chunk`](Self::encode_chunk) would send.
    fn encode_one<A, R>(
        &self,
        f: fn(A) -> R,
        bytes: Vec<u8>,
        batch: &mut Batch<R>,
    ) -> Result<(), PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        // A sequence of one, as postcard writes it.
        let msg = self.tail_head(chunk_shim::<A, R>, f, &[1], bytes.len())?;
        self.push_job(msg, Some(bytes), 1, batch)
    }

    /// The first part of a task message for `shim(f, ..)` whose arguments are `prefix` and a
    /// byte payload of `len` bytes that travels as the tail: the header, `prefix` and the
    /// payload's length. Checks the whole message's size.
    fn tail_head<A, R>(
        &self,
        shim: Shim<A, R>,
        f: fn(A) -> R,
        prefix: &[u8],
        len: usize,
    ) -> Result<Vec<u8>, PoolError> {
        let mut msg = Vec::with_capacity(TASK_HEADER + prefix.len() + VARINT_MAX);
        begin_task(&mut msg, self.seal(shim, f)?);
        msg.extend_from_slice(prefix);
        msg.extend_from_slice(Varint::new(len).as_bytes());
        let total = msg.len() + len;
        if total > self.shared.max_message_size {
            return Err(PoolError::TooLarge {
                len: total,
                max: self.shared.max_message_size,
            });
        }
        Ok(msg)
    }

    /// Submits one task of `shim(f, bytes)` (an `apply` of a long byte payload, see
    /// [`into_long_payload`]): `bytes` is moved into the job as its message's tail, not copied
    /// into the message.
    pub(super) fn submit_tail<A, R>(
        &self,
        shim: Shim<A, R>,
        f: fn(A) -> R,
        bytes: Vec<u8>,
        sink: Arc<dyn Sink>,
    ) -> Result<(), PoolError> {
        let msg = self.tail_head(shim, f, &[], bytes.len())?;
        self.submit(std::iter::once(Job {
            msg,
            tail: Some(bytes),
            handle: None,
            sink,
            tag: 0,
        }))
    }

    /// Encodes one chunk as a task message into `batch`; splits it in halves while it is too
    /// long. An item that can't be encoded fails the whole call at once (encoding it again
    /// would fail again).
    fn encode_chunk<A, R>(
        &self,
        f: fn(A) -> R,
        chunk: &[A],
        batch: &mut Batch<R>,
    ) -> Result<(), PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        // After the first chunks, a long buffer of a delivered one (see `Pool::throttle`).
        let mut msg = match batch.total / batch.chunks.max(1) {
            0..=4096 => Vec::new(),
            _ => lock(&self.shared.sched).take_long().unwrap_or_default(),
        };
        match self.encode_task(chunk_shim::<A, R>, f, chunk, &mut msg) {
            Ok(()) => self.push_job(msg, None, chunk.len(), batch),
            Err(PoolError::TooLarge { .. }) if chunk.len() > 1 => {
                let (a, b) = chunk.split_at(chunk.len() / 2);
                self.encode_chunk(f, a, batch)?;
                self.encode_chunk(f, b, batch)
            }
            Err(e) => Err(e),
        }
    }
}

impl Pool {
    /// Adds the job of a chunk of `items` items whose message is `msg` followed by `tail` to
    /// `batch`, which it submits if full, then throttles (see [`Pool::throttle`]).
    fn push_job<R>(
        &self,
        msg: Vec<u8>,
        tail: Option<Vec<u8>>,
        items: usize,
        batch: &mut Batch<R>,
    ) -> Result<(), PoolError>
    where
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let index = batch.sink.add(items);
        let len = msg.len() + tail.as_ref().map_or(0, Vec::len);
        batch.bytes += len;
        batch.chunks += 1;
        batch.total += len;
        batch.jobs.push(Job {
            msg,
            tail,
            handle: None,
            sink: Arc::clone(&batch.sink) as Arc<dyn Sink>,
            tag: u32::try_from(index).unwrap_or(u32::MAX),
        });
        if batch.bytes >= SUBMIT_BYTES || batch.jobs.len() >= SUBMIT_CHUNKS {
            self.flush(batch)?;
        }
        self.throttle(batch)
    }
}

/// Encoded chunk messages of a `map` not yet submitted: submitted once they hold
/// [`SUBMIT_BYTES`] bytes or [`SUBMIT_CHUNKS`] chunks, and at the end.
struct Batch<R> {
    sink: Arc<Chunks<R>>,
    jobs: Vec<Job>,
    /// The length of the messages in `jobs`.
    bytes: usize,
    /// `map` (which waits for every result anyway) keeps at most about [`IN_FLIGHT_BYTES`]
    /// of messages undelivered: the pool's process id. `None` for `imap`, which submits
    /// everything at once.
    throttle: Option<u32>,
    /// Chunks encoded so far, and the length of their messages.
    chunks: usize,
    total: usize,
}

impl Pool {
    /// For `map` ([`Batch::throttle`]): the first `limit` chunks go out at once, `limit`
    /// being about [`IN_FLIGHT_BYTES`] of messages by their average length, never fewer than
    /// [`MIN_IN_FLIGHT_PER_WORKER`] chunks per worker; after that, each new chunk is submitted
    /// and waits until no more than `limit / 2` are undelivered, so at most `limit / 2 + 1`
    /// are in flight (3 for 1 MiB messages on 2 workers: one running in each, one waiting).
    /// The messages of delivered tasks are freed, and the next ones take their memory instead
    /// of fresh pages (a page fault each 4 KiB): with long messages the encoding stays a few
    /// MiB ahead of the workers instead of holding the whole input encoded at once, and what
    /// the pool moves (arguments, blob chunks, results) stays small enough to be found in the
    /// cache by the next copy.
    fn throttle<R>(&self, batch: &mut Batch<R>) -> Result<(), PoolError> {
        let Some(owner) = batch.throttle else {
            return Ok(());
        };
        let average = (batch.total / batch.chunks.max(1)).max(1);
        let limit = (IN_FLIGHT_BYTES / average).max(MIN_IN_FLIGHT_PER_WORKER * self.processes);
        if batch.chunks <= limit {
            return Ok(());
        }
        self.flush(batch)?;
        // Down to half the limit (returns at once if it is there already). Waiting down to
        // half once per `limit / 2` chunks instead (in flight between `limit / 2` and
        // `limit`) was tried for 1 MiB messages, and was not faster.
        batch.sink.wait_delivered(batch.chunks - limit / 2, owner);
        Ok(())
    }
}

/// A `map` submits its chunks once their messages add up to this many bytes...
const SUBMIT_BYTES: usize = 64 << 10;
/// ... or once there are this many (fewer, larger batches for short chunks: one lock each).
const SUBMIT_CHUNKS: usize = 256;
/// How many bytes of messages a `map` keeps encoded and undelivered ([`Pool::throttle`])...
///
/// Measured with `map` of 1 MiB echoes on 2 workers (tasks/s, pairs in the same runs): 4 MiB
/// and 2 chunks per worker (3 chunks in flight) gave 4,545–5,001 where 16 MiB and 16 chunks
/// (9 in flight) gave 3,830–4,190, with less CPU per task in the parent and in the workers
/// (their copies hit the cache more).
const IN_FLIGHT_BYTES: usize = 4 << 20;
/// ... but at least this many chunks per worker.
const MIN_IN_FLIGHT_PER_WORKER: usize = 2;

#[cfg(test)]
mod tests {
    use super::default_chunksize;

    #[test]
    fn chunksize_is_pythons() {
        // Python: divmod(len, 4 * processes), plus one if there is a remainder.
        assert_eq!(default_chunksize(100_000, 2), 12_500);
        assert_eq!(default_chunksize(100_001, 2), 12_501);
        assert_eq!(default_chunksize(3, 2), 1);
        assert_eq!(default_chunksize(0, 2), 1);
    }
}
