//! The shared core of a channel: a [`RawQueue`] for the messages, a [`Ledger`] counting the
//! senders and receivers of every process, and for a rendezvous channel two counters and a
//! wait word for the hand-over.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::AcqRel, Ordering::Acquire};
#[cfg(test)]
use std::time::Duration;

use ipc_core::WaitWord;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{RecvFail, SendFail};
use crate::ledger::Ledger;
use crate::queue::{
    decode_message, put_item, GetFail, Hooks, Message, PutFail, QueueError, RawQueue,
    UNBOUNDED_CAPACITY,
};
use crate::shared::region::{Part, SharedBytes, View};
use crate::shm::SharedRegion;
use crate::wait::{block_on, notify_all, Deadline, Wait};

/// Ledger kinds: handles of each side; both inherited by forked children.
pub(crate) const SENDERS: usize = 0;
pub(crate) const RECEIVERS: usize = 1;

/// Process entries of a channel's ledger (as the queues' default `max_processes`); processes
/// beyond count in the totals only (see the ledger's *Overflow*).
const LEDGER_ENTRIES: usize = 128;

/// The queue's bound of a rendezvous channel: one message offered at a time.
const RENDEZVOUS_RING: usize = 1;

/// One channel, shared by the handles of one process (each handle holds one count in the
/// ledger).
pub(crate) struct Chan {
    pub(crate) queue: RawQueue,
    pub(crate) ledger: Ledger,
    /// `Some(n)`: bounded by `n` (0: rendezvous); `None`: "unbounded".
    pub(crate) capacity: Option<usize>,
    rendezvous: Option<Rendezvous>,
}

/// A rendezvous channel's hand-over: `offered` counts puts (a ticket each, taken inside the
/// ring claim, so in ring order), `taken` counts gets (inside the get's claim, before the slot
/// is released); a sender waits on `acked` until `taken` passes its ticket.
struct Rendezvous {
    words: SharedBytes,
    _region: SharedRegion,
}

const OFFERED: usize = 0;
const TAKEN: usize = 8;
const ACKED: usize = 16;

impl Rendezvous {
    fn offered(&self) -> &AtomicU64 {
        self.words.u64_at(OFFERED)
    }
    fn taken(&self) -> &AtomicU64 {
        self.words.u64_at(TAKEN)
    }
    fn acked(&self) -> &WaitWord {
        &self.words.atomics::<WaitWord>(ACKED, 1)[0]
    }
}

impl Chan {
    /// A channel of `capacity` messages (`Some(0)`: rendezvous, `None`: unbounded); the
    /// creating process holds one sender and one receiver.
    pub(crate) fn new(capacity: Option<usize>) -> Result<Chan, QueueError> {
        let bound = match capacity {
            None => 0, // RawQueue's unbounded: UNBOUNDED_CAPACITY, committed as touched
            Some(0) => RENDEZVOUS_RING,
            Some(n) => n,
        };
        let queue = RawQueue::new(bound)?;
        let ledger = Ledger::new(2, (1 << SENDERS) | (1 << RECEIVERS), LEDGER_ENTRIES)?;
        let rendezvous = if capacity == Some(0) {
            let region = SharedRegion::new(4096)?;
            let View::Bytes(words) =
                region
                    .claim(Part::Bytes { offset: 0, len: 64 })
                    .map_err(|e| {
                        QueueError::from(crate::shm::ShmError::Os(std::io::Error::other(e)))
                    })?
            else {
                unreachable!("a Bytes part gives a Bytes view")
            };
            Some(Rendezvous {
                words,
                _region: region,
            })
        } else {
            None
        };
        ledger.add(SENDERS, 1);
        ledger.add(RECEIVERS, 1);
        Ok(Chan {
            queue,
            ledger,
            capacity,
            rendezvous,
        })
    }

    /// The capacity reported to users.
    pub(crate) fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        if self.rendezvous.is_some() {
            return 0;
        }
        self.queue.qsize()
    }

    pub(crate) fn is_full(&self) -> bool {
        match self.capacity {
            Some(0) => true,
            None => self.queue.qsize() >= UNBOUNDED_CAPACITY,
            Some(_) => self.queue.full(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rendezvous.is_some() || self.queue.empty()
    }

    pub(crate) fn senders_gone(&self) -> bool {
        self.ledger.total(SENDERS) == 0
    }

    pub(crate) fn receivers_gone(&self) -> bool {
        self.ledger.total(RECEIVERS) == 0
    }

    /// One more handle of `side` in this process.
    pub(crate) fn acquire(&self, side: usize) {
        self.ledger.add(side, 1);
    }

    /// A handle of `side` dropped: if it was the last one anywhere, wake every blocked call
    /// (they find the other side gone).
    pub(crate) fn release(&self, side: usize) {
        if self.ledger.sub(side, 1) {
            self.wake_all();
        }
    }

    fn wake_all(&self) {
        self.queue.wake_all();
        if let Some(r) = &self.rendezvous {
            notify_all(r.acked());
        }
    }

    /// Repairs the ledger entries of dead processes; wakes everyone if it found some.
    pub(crate) fn repair_dead(&self) -> usize {
        let repaired = self.ledger.repair_dead();
        if repaired > 0 {
            self.wake_all();
        }
        repaired
    }

    /// After a call that could not wait any longer: a rate-limited look for dead holders of
    /// `side` (for callers that poll), and whether that side is gone now.
    fn gone_after_look(&self, side: usize) -> bool {
        if self.ledger.look_for_dead() > 0 {
            self.wake_all();
        }
        self.ledger.total(side) == 0
    }

    /// How a waiter for this channel's receive side sleeps (for `host_runtime::wait`): on the
    /// ring's `not_empty` word, registered as a blocked receive registers (counted in the
    /// queue's wait ledger; every put and every last-sender drop moves it), and on the
    /// ledger's doorbell (every count of a process dropping to zero and every repair moves
    /// it). `prepare` both, look with [`recv_ready`](Self::recv_ready), then
    /// [`mark_recv_wait`](Self::mark_recv_wait) before sleeping; `finish` both after.
    ///
    /// The doorbell has no per-process count of sleepers: a waiter killed while registered
    /// leaves its `waiters` one too high for ever, which costs a `futex_wake` for nobody on
    /// each later drop to zero or repair (rare events), never a lost wake-up.
    pub(crate) fn recv_waits(&self) -> [Wait<'_>; 2] {
        let ring = self.queue.get_wait();
        // The word the ring's puts and `wake_all` move (`RawQueue::wait_words`).
        debug_assert!(std::ptr::eq(ring.word, self.queue.wait_words().0));
        [
            ring,
            Wait {
                word: self.ledger.doorbell(),
                ledger: None,
            },
        ]
    }

    /// For a waiter on [`recv_waits`](Self::recv_waits): after `prepare` on both and a
    /// [`recv_ready`](Self::recv_ready) that said no, before sleeping (see
    /// `RawQueue::mark_empty_wait`). `false`: sleep briefly only.
    pub(crate) fn mark_recv_wait(&self) -> bool {
        self.queue.mark_empty_wait()
    }

    /// Whether a receive would not block now: a message is there, or every sender is gone.
    pub(crate) fn recv_ready(&self) -> bool {
        !self.queue.empty() || self.senders_gone()
    }

    /// For a waiter on [`recv_waits`](Self::recv_waits), every 200 ms while it sleeps: what a
    /// blocked receive does then (repairs a ring stuck by a dead process, and the ledger
    /// entries of dead processes, waking everyone if it found some). No one notifies when a
    /// sender dies: without this, a waiter would never see a killed last sender.
    pub(crate) fn recv_stalled(&self) {
        self.queue.get_stalled();
        self.repair_dead();
    }

    /// Puts `bytes` (or, with `encode`, the encoding of an item) into the queue.
    pub(crate) fn send_bytes(&self, bytes: &[u8], deadline: Deadline) -> Result<(), SendFail> {
        self.before_put(deadline)?;
        if self.rendezvous.is_some() {
            let hooks = SendHooks::<true>::new(self);
            let put = self.put_bytes(bytes, deadline, &hooks);
            self.after_put(put, hooks.ticket.get(), deadline)
        } else {
            let put = self.put_bytes(bytes, deadline, &SendHooks::<false>::new(self));
            self.after_put(put, 0, deadline)
        }
    }

    fn put_bytes<H: Hooks>(
        &self,
        bytes: &[u8],
        deadline: Deadline,
        hooks: &H,
    ) -> Result<(), PutFail> {
        if bytes.len() <= self.queue.inline_max() {
            self.queue.put_inline_with(bytes, deadline, hooks)
        } else {
            self.queue
                .put_blob_with(bytes.len(), deadline, hooks, |chunks, offset| {
                    chunks.write(offset, bytes);
                    Ok(bytes.len())
                })
        }
    }

    /// What every send checks first: receivers left, and for a rendezvous `try_send`, a
    /// receiver waiting.
    #[inline]
    fn before_put(&self, deadline: Deadline) -> Result<(), SendFail> {
        if self.receivers_gone() {
            return Err(SendFail::Disconnected);
        }
        if self.rendezvous.is_some() && deadline.is_nowait() && self.queue.waiters().getters == 0 {
            return Err(SendFail::Waited);
        }
        Ok(())
    }

    /// Encodes `item` into the queue, by the shortest way its length allows (as
    /// `Queue::put`).
    pub(crate) fn send_item<T: Serialize + ?Sized>(
        &self,
        item: &T,
        deadline: Deadline,
    ) -> Result<(), SendFail> {
        self.before_put(deadline)?;
        if self.rendezvous.is_some() {
            let hooks = SendHooks::<true>::new(self);
            let put = self.put_encoded(item, deadline, &hooks);
            self.after_put(put, hooks.ticket.get(), deadline)
        } else {
            let put = self.put_encoded(item, deadline, &SendHooks::<false>::new(self));
            self.after_put(put, 0, deadline)
        }
    }

    fn put_encoded<T: Serialize + ?Sized, H: Hooks>(
        &self,
        item: &T,
        deadline: Deadline,
        hooks: &H,
    ) -> Result<(), PutFail> {
        put_item(&self.queue, item, deadline, hooks)
    }

    /// The end of a send: the error mapped, and for a rendezvous channel the wait for a
    /// receiver to take the message.
    #[inline]
    fn after_put(
        &self,
        put: Result<(), PutFail>,
        ticket: u64,
        deadline: Deadline,
    ) -> Result<(), SendFail> {
        match put {
            Ok(()) => {}
            Err(PutFail::Stopped) => return Err(SendFail::Disconnected),
            Err(PutFail::Waited) => {
                return Err(if self.gone_after_look(RECEIVERS) {
                    SendFail::Disconnected
                } else {
                    SendFail::Waited
                })
            }
            Err(PutFail::TooLarge { len, max }) => return Err(SendFail::TooLarge { len, max }),
            Err(PutFail::Encode(e)) => return Err(SendFail::Encode(e)),
            Err(PutFail::Corrupt) => return Err(SendFail::Corrupt),
        }
        let Some(r) = &self.rendezvous else {
            return Ok(());
        };
        // Taken once `taken` passes our ticket (gets are counted in ring order, as tickets
        // are). Receivers all gone: nobody will take it; it is handed back. The deadline
        // passed: it stays offered, and is the next message received (see `Sender`'s docs).
        let lost = Cell::new(false);
        let done = block_on(
            Wait {
                word: r.acked(),
                ledger: None,
            },
            deadline,
            || {
                if r.taken().load(Acquire) > ticket || lost.get() {
                    Some(Ok(()))
                } else if self.receivers_gone() {
                    Some(Err(SendFail::Disconnected))
                } else {
                    None
                }
            },
            || {
                self.repair_dead();
                // A get killed after its claim (repaired: `lost_in_get`) never counts as
                // taken: an empty ring with our ticket not passed means our message went
                // that way (or is being taken right now).
                lost.set(self.queue.empty() && r.taken().load(Acquire) <= ticket);
            },
        );
        done.unwrap_or(Ok(()))
    }

    /// Takes a message and hands it to `read` (inside the ring claim).
    pub(crate) fn recv_with<R>(
        &self,
        deadline: Deadline,
        mut read: impl FnMut(Message<'_>) -> R,
    ) -> Result<R, RecvFail> {
        let hooks = RecvHooks { chan: self };
        let taken = |m: Message<'_>, read: &mut dyn FnMut(Message<'_>) -> R| {
            if let Some(r) = &self.rendezvous {
                // Inside the claim: counted before the slot is released.
                r.taken().fetch_add(1, AcqRel);
            }
            read(m)
        };
        let got = match self
            .queue
            .get_with_hooks(deadline, &hooks, |m| taken(m, &mut read))
        {
            Ok(r) => Ok(r),
            Err(GetFail::Stopped) => {
                // Every sender is gone; a message put before the last one left is still
                // delivered.
                match self
                    .queue
                    .get_with(Deadline::NoWait, |m| taken(m, &mut read))
                {
                    Ok(r) => Ok(r),
                    Err(GetFail::Corrupt) => Err(RecvFail::Corrupt),
                    Err(_) => Err(RecvFail::Disconnected),
                }
            }
            Err(GetFail::Waited) => {
                if self.gone_after_look(SENDERS) {
                    match self
                        .queue
                        .get_with(Deadline::NoWait, |m| taken(m, &mut read))
                    {
                        Ok(r) => Ok(r),
                        Err(GetFail::Corrupt) => Err(RecvFail::Corrupt),
                        Err(_) => Err(RecvFail::Disconnected),
                    }
                } else {
                    Err(RecvFail::Waited)
                }
            }
            Err(GetFail::Corrupt) => Err(RecvFail::Corrupt),
        };
        if got.is_ok() {
            if let Some(r) = &self.rendezvous {
                notify_all(r.acked());
            }
        }
        got
    }

    /// Takes an item of type `T`.
    pub(crate) fn recv_item<T: DeserializeOwned>(&self, deadline: Deadline) -> Result<T, RecvFail> {
        self.recv_with(deadline, decode_message::<T>)?
            .map_err(RecvFail::Decode)
    }

    /// Takes a message's bytes into `buf` (replacing its contents); returns the length.
    pub(crate) fn recv_into(
        &self,
        buf: &mut Vec<u8>,
        deadline: Deadline,
    ) -> Result<usize, RecvFail> {
        self.recv_with(deadline, |message| match message {
            Message::Inline(m) => {
                let len = m.len();
                if buf.len() < len {
                    buf.resize(len, 0);
                }
                buf.truncate(len);
                m.read(buf)
            }
            Message::Blob(chunks, offset, len) => {
                buf.clear();
                buf.resize(len, 0);
                chunks.read(offset, buf);
                len
            }
        })
    }

    /// Waits until a receive would not block (a message, or every sender gone), at most
    /// until `deadline`; returns whether it would not.
    pub(crate) fn wait_recv_ready(&self, deadline: Deadline) -> bool {
        let hooks = RecvHooks { chan: self };
        self.queue.wait_not_empty(deadline, &hooks) || self.gone_after_look(SENDERS)
    }
}

/// A send's hooks: stop when every receiver is gone; look for dead processes while blocked;
/// in a rendezvous channel, take a ticket inside the ring claim.
struct SendHooks<'a, const RENDEZVOUS: bool> {
    chan: &'a Chan,
    ticket: Cell<u64>,
}

impl<'a, const RENDEZVOUS: bool> SendHooks<'a, RENDEZVOUS> {
    fn new(chan: &'a Chan) -> Self {
        SendHooks {
            chan,
            ticket: Cell::new(0),
        }
    }
}

impl<const RENDEZVOUS: bool> Hooks for SendHooks<'_, RENDEZVOUS> {
    const IN_PUT_CLAIM: bool = RENDEZVOUS;

    fn stopped(&self) -> bool {
        self.chan.receivers_gone()
    }

    fn on_stall(&self) {
        self.chan.repair_dead();
    }

    fn in_put_claim(&self) {
        if let Some(r) = &self.chan.rendezvous {
            self.ticket.set(r.offered().fetch_add(1, AcqRel));
        }
    }
}

/// A receive's hooks: stop when every sender is gone; look for dead processes while blocked.
struct RecvHooks<'a> {
    chan: &'a Chan,
}

impl Hooks for RecvHooks<'_> {
    fn stopped(&self) -> bool {
        self.chan.senders_gone()
    }

    fn on_stall(&self) {
        self.chan.repair_dead();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::watchdog;
    use std::sync::atomic::Ordering::Relaxed;

    /// A process that writes garbage over the ledger: calls may fail with a typed error (or
    /// see the channel disconnected, or never), but none panics or hangs.
    #[test]
    fn garbage_in_the_ledger_cannot_panic_or_hang() {
        watchdog(60, || {
            let chan = Chan::new(Some(4)).unwrap();
            let words = chan.ledger.bytes().len() / 8;
            let mut x = 0x2545_f491_4f6c_dd1du64;
            for round in 0..20 {
                for i in 0..words {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let v = if round % 2 == 0 { x } else { x & 0x3_ffff_ffff };
                    chan.ledger.bytes().u64_at(8 * i).store(v, Relaxed);
                }
                let _ = chan.send_bytes(b"x", Deadline::NoWait);
                let mut buf = Vec::new();
                let _ = chan.recv_into(&mut buf, Deadline::NoWait);
                let _ = chan.recv_into(&mut buf, Deadline::after(Duration::from_millis(1)));
                let _ = chan.recv_ready();
                let _ = chan.repair_dead();
                chan.acquire(SENDERS);
                chan.release(SENDERS);
            }
        });
    }
}
