//! The fast typed path of byte payloads (`Vec<u8>`, `String`, moved as blocks) and the reused
//! decode buffer, through [`Queue`], the channels and the pool: round trips at the sizes where
//! the path changes (inline/blob threshold, a 2-byte length, the maximum message size), the
//! same wire as postcard's, garbled messages refused with a typed error, and a reused buffer
//! that never lends one message's bytes to the next.
//!
//! Each test body runs under a watchdog, one at a time (`common::SERIAL`).

mod common;

use common::watchdog_secs;
use host_runtime::queue::DEFAULT_INLINE_MAX;
use host_runtime::{DecodeErrorKind, GetError, Process, PutError, Queue, RawQueue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

fn watchdog(body: impl FnOnce() + Send + 'static) {
    watchdog_secs(60, body);
}

/// A name for a named queue, unique to this test run.
fn unique_name(tag: &str) -> String {
    format!("host-runtime-typed-{}-{tag}", std::process::id())
}

/// A user's struct with bytes and text inside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    name: String,
    data: Vec<u8>,
    parts: Vec<Vec<u8>>,
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn text(n: usize) -> String {
    // Multi-byte characters too, cut to exactly `n` bytes of ASCII at the end.
    let mut s = "é→".repeat(n / 5);
    while s.len() < n {
        s.push('x');
    }
    s
}

/// The payload lengths around each place the path changes, for a queue whose longest message
/// is `max`: empty, the inline/blob threshold (a 1-byte length prefix), the 2-byte prefix
/// (128), and the largest message that fits.
fn sizes(max: usize) -> Vec<usize> {
    let inline = DEFAULT_INLINE_MAX;
    let mut v = vec![
        0,
        1,
        inline - 2,
        inline - 1,
        inline,
        inline + 1,
        127,
        128,
        129,
    ];
    v.extend([4096, max - 4, max - 3]);
    v
}

/// A queue holding messages up to `max` bytes encoded.
fn queue<T: Serialize + DeserializeOwned>(max: usize) -> Queue<T> {
    Queue::<T>::builder()
        .maxsize(8)
        .size_class(max.next_multiple_of(8), 4)
        .max_message_size(max)
        .build()
        .unwrap()
}

/// The postcard encoding of `item`: what must be on the wire whichever path wrote it.
fn wire<T: Serialize>(item: &T) -> Vec<u8> {
    postcard::to_allocvec(item).unwrap()
}

#[test]
fn byte_payloads_round_trip_at_every_threshold() {
    watchdog(|| {
        const MAX: usize = 70_000; // the largest payloads need a 3-byte length
        let q = queue::<Vec<u8>>(MAX);
        let s = queue::<String>(MAX);
        let raw = RawQueue::builder()
            .maxsize(8)
            .size_class(MAX.next_multiple_of(8), 4)
            .max_message_size(MAX)
            .build_raw()
            .unwrap();
        for n in sizes(MAX) {
            let v = bytes(n, n as u8);
            q.put(v.clone()).unwrap();
            assert_eq!(q.get().unwrap(), v, "Vec<u8> of {n}");
            let t = text(n);
            s.put(t.clone()).unwrap();
            assert_eq!(s.get().unwrap(), t, "String of {n}");
            // The same wire as postcard's, both ways.
            raw.put(wire(&v)).unwrap();
            let theirs = raw.get().unwrap();
            assert_eq!(postcard::from_bytes::<Vec<u8>>(&theirs).unwrap(), v);
        }
        // One byte over the maximum: handed back, the queue unchanged.
        let over = bytes(MAX - 2, 7); // 3-byte length + MAX - 2 bytes
        match q.put(over.clone()) {
            Err(PutError::TooLarge { item, len, max }) => {
                assert_eq!((item, len, max), (over, MAX + 1, MAX));
            }
            other => panic!("expected TooLarge, got {:?}", other.err()),
        }
        assert!(q.empty());
    });
}

#[test]
fn typed_puts_are_postcards_wire_and_read_postcards() {
    watchdog(|| {
        let name = unique_name("wire");
        let typed = Queue::<Vec<u8>>::builder()
            .maxsize(8)
            .create_named(&name)
            .unwrap();
        let raw = RawQueue::open_named(&name).unwrap();
        RawQueue::unlink_named(&name).unwrap();
        for n in [0, 5, DEFAULT_INLINE_MAX, 300, 20_000] {
            let v = bytes(n, 3);
            typed.put(v.clone()).unwrap();
            assert_eq!(raw.get().unwrap(), wire(&v), "typed put of {n}");
            raw.put(wire(&v)).unwrap();
            assert_eq!(typed.get().unwrap(), v, "postcard's message of {n}");
        }
    });
}

#[test]
fn structs_with_nested_bytes_round_trip() {
    watchdog(|| {
        const MAX: usize = 70_000;
        let q = queue::<Record>(MAX);
        let pairs = queue::<Vec<Vec<u8>>>(MAX);
        for n in [0, 40, 90, 100, 128, 5000, 40_000] {
            let r = Record {
                id: n as u64,
                name: text(n.min(50)),
                data: bytes(n, 1),
                parts: vec![bytes(n / 3, 2), Vec::new(), bytes(3, 9)],
            };
            q.put(r.clone()).unwrap();
            assert_eq!(q.get().unwrap(), r, "Record with {n} bytes");
            pairs.put(r.parts.clone()).unwrap();
            assert_eq!(pairs.get().unwrap(), r.parts);
        }
    });
}

#[test]
fn byte_payloads_cross_processes_and_channels() {
    watchdog(|| {
        let q = Queue::<Vec<u8>>::new(4).unwrap();
        let (tx, rx) = host_runtime::channel::channel::<String>(4).unwrap();
        let (q2, tx2) = (q.clone(), tx.clone());
        let p = Process::new(move || {
            for n in [0usize, 64, 110, 111, 1024, 100_000] {
                q2.put(bytes(n, 5)).unwrap();
                tx2.send(text(n)).unwrap();
            }
        });
        p.start().unwrap();
        for n in [0usize, 64, 110, 111, 1024, 100_000] {
            assert_eq!(q.get().unwrap(), bytes(n, 5));
            assert_eq!(rx.recv().unwrap(), text(n));
        }
        assert_eq!(p.join().unwrap(), 0);
    });
}

/// A typed queue of `T` and a raw handle on the same (named, unlinked) queue.
fn typed_and_raw<T: Serialize + DeserializeOwned>(tag: &str) -> (Queue<T>, RawQueue) {
    let name = unique_name(tag);
    let typed = Queue::<T>::builder()
        .maxsize(4)
        .create_named(&name)
        .unwrap();
    let raw = RawQueue::open_named(&name).unwrap();
    RawQueue::unlink_named(&name).unwrap();
    (typed, raw)
}

/// The decode error `typed` gives for the raw message `msg`, put through `raw`.
fn decode_kind<T: Serialize + DeserializeOwned + std::fmt::Debug>(
    (typed, raw): &(Queue<T>, RawQueue),
    msg: &[u8],
) -> DecodeErrorKind {
    raw.put(msg).unwrap();
    let kind = match typed.get() {
        Err(GetError::Decode(e)) => e.kind(),
        other => panic!("expected Decode, got {other:?}"),
    };
    assert!(typed.empty(), "the garbled message was taken off");
    kind
}

/// A type that nests without bound, as a message's item type.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum List {
    Cons(u32, Box<List>),
    Nil,
}

/// One byte per two levels (an option inside a newtype).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Chain(Option<Box<Chain>>);

#[test]
fn hostile_nesting_is_a_decode_error_not_a_stack_overflow() {
    watchdog(|| {
        // Postcard alone recurses once per level: a million nested cells would overflow the
        // stack of the thread that decodes them (an abort). The queue's decoder stops at 128.
        let list = typed_and_raw::<List>("nest-list");
        let hostile = [0u8, 0].repeat(1 << 20); // Cons(0, Cons(0, ...)), 2 MiB: a blob message
        assert_eq!(decode_kind(&list, &hostile), DecodeErrorKind::Invalid);
        let chain = typed_and_raw::<Chain>("nest-chain");
        let hostile = vec![1u8; DEFAULT_INLINE_MAX]; // Some(Chain(Some(...))): inline
        assert_eq!(decode_kind(&chain, &hostile), DecodeErrorKind::Invalid);
        // Honest nesting within the limit still travels, on the same queues.
        let short = (0..40).fold(List::Nil, |tail, i| List::Cons(i, Box::new(tail)));
        list.0.put(short).unwrap();
        let back = list.0.get().unwrap();
        assert_eq!(
            back,
            (0..40).fold(List::Nil, |tail, i| List::Cons(i, Box::new(tail)))
        );
        chain.0.put(Chain(Some(Box::new(Chain(None))))).unwrap();
        assert_eq!(chain.0.get().unwrap(), Chain(Some(Box::new(Chain(None)))));
    });
}

/// Garbled messages for a byte payload (`Vec<u8>`, `String`) and the error kind each must give;
/// `long_msg` is a well-formed long one (5,000 bytes) to cut or extend.
fn garbled_cases(long_msg: &[u8]) -> Vec<(&'static str, Vec<u8>, DecodeErrorKind)> {
    use DecodeErrorKind::*;
    vec![
        ("empty", vec![], Truncated),
        ("short", vec![10, 1, 2, 3], Truncated),
        ("endless-varint", vec![0xff; 12], Invalid),
        ("trailing", vec![2, 1, 2, 3], TrailingBytes),
        ("long-truncated", long_msg[..3000].to_vec(), Truncated),
        ("long-trailing", [long_msg, &[0, 0]].concat(), TrailingBytes),
        ("long-endless-varint", vec![0x80; 300], Invalid),
    ]
}

#[test]
fn garbled_byte_payloads_are_decode_errors() {
    watchdog(|| {
        use DecodeErrorKind::*;
        let v = typed_and_raw::<Vec<u8>>("garbled-v");
        let s = typed_and_raw::<String>("garbled-s");
        let long_msg = wire(&bytes(5000, 0));
        // Inline and blob messages alike (never 112 bytes long: a descriptor's length).
        let mut cases = garbled_cases(&long_msg);
        cases.push(("unfinished-varint", vec![0x80; 5], Truncated));
        for (tag, msg, kind) in &cases {
            assert_eq!(decode_kind(&v, msg), *kind, "Vec<u8>: {tag}");
            assert_eq!(decode_kind(&s, msg), *kind, "String: {tag}");
        }
        // Bytes that are not UTF-8, short and long: a String refuses them, a Vec<u8> takes them.
        for n in [3, 4000] {
            let mut msg = wire(&vec![b'a'; n]);
            let last = msg.len() - 1;
            msg[last] = 0xff;
            assert_eq!(decode_kind(&s, &msg), Invalid, "String of {n} bad bytes");
            v.1.put(&msg).unwrap();
            assert_eq!(v.0.get().unwrap().len(), n);
        }
        // The queues still work.
        v.0.put(bytes(10, 1)).unwrap();
        assert_eq!(v.0.get().unwrap(), bytes(10, 1));
    });
}

#[test]
fn a_reused_buffer_lends_no_bytes_to_the_next_message() {
    watchdog(|| {
        let (typed, raw) = typed_and_raw::<Record>("reuse");
        let r = Record {
            id: 1,
            name: "first".into(),
            data: bytes(6000, 4),
            parts: vec![bytes(2000, 8)],
        };
        let full = wire(&r);
        // A long message fills the decode buffer; then a prefix of the same message: decoding
        // it from the buffer's stale tail would succeed, from exactly its bytes it can't.
        typed.put(r.clone()).unwrap();
        assert_eq!(typed.get().unwrap(), r);
        for cut in [full.len() - 1, full.len() / 2, 200] {
            raw.put(&full[..cut]).unwrap();
            match typed.get() {
                Err(GetError::Decode(e)) => assert_eq!(e.kind(), DecodeErrorKind::Truncated),
                other => panic!("a prefix of {cut} bytes decoded: {other:?}"),
            }
        }
        // And a shorter valid message after a longer one decodes to itself.
        let small = Record {
            id: 2,
            name: "second".into(),
            data: bytes(300, 9),
            parts: Vec::new(),
        };
        typed.put(small.clone()).unwrap();
        assert_eq!(typed.get().unwrap(), small);
    });
}

#[test]
fn pool_moves_byte_payloads_as_blocks_and_other_types_as_before() {
    watchdog(|| {
        fn echo(v: Vec<u8>) -> Vec<u8> {
            v
        }
        fn shout(s: String) -> String {
            s.to_uppercase()
        }
        fn sum(r: Record) -> u64 {
            r.data.iter().map(|&b| u64::from(b)).sum::<u64>() + r.id
        }
        let pool = host_runtime::pool::Pool::new(2).unwrap();
        let big = bytes(1 << 20, 3);
        assert_eq!(pool.apply(echo, big.clone()).unwrap(), big);
        let items: Vec<Vec<u8>> = (0..9).map(|i| bytes(i * 1000, i as u8)).collect();
        assert_eq!(pool.map(echo, items.clone()).unwrap(), items);
        assert_eq!(pool.map_chunked(echo, items.clone(), 4).unwrap(), items);
        let words = vec!["ab".to_string(), text(200), String::new()];
        let upper: Vec<String> = words.iter().map(|w| w.to_uppercase()).collect();
        assert_eq!(pool.map(shout, words).unwrap(), upper);
        let r = Record {
            id: 5,
            name: "r".into(),
            data: bytes(1000, 1),
            parts: vec![],
        };
        let expected = sum(r.clone());
        assert_eq!(pool.apply(sum, r).unwrap(), expected);
    });
}

/// A typed queue of capacity 1 with the given inline size and one 4 KiB blob chunk, and a raw
/// handle on it.
fn one_slot<T: Serialize + DeserializeOwned>(inline_max: usize) -> (Queue<T>, RawQueue) {
    let name = unique_name("slot-wire");
    let typed = Queue::<T>::builder()
        .maxsize(1)
        .inline_max(inline_max)
        .size_class(4096, 1)
        .create_named(&name)
        .unwrap();
    let raw = RawQueue::open_named(&name).unwrap();
    RawQueue::unlink_named(&name).unwrap();
    (typed, raw)
}

#[test]
fn byte_payloads_written_into_the_slot_are_postcards_wire_at_every_length() {
    // A short byte payload's length and bytes are written straight into the ring slot: at every
    // length up to past the inline size (the default, and a larger one where 2-byte lengths go
    // inline), the message is postcard's, byte for byte, and it goes inline exactly when it
    // fits (a blob chunk is taken only past the inline size). Capacity 1: every message reuses
    // the one slot, over what the message before left there.
    fn check<T: Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug>(
        inline_max: usize,
        make: impl Fn(usize) -> T,
    ) {
        let (typed, raw) = one_slot::<T>(inline_max);
        for n in (0..=inline_max + 2).chain([4000]).rev().chain(0..=20) {
            let v = make(n);
            let encoded = wire(&v);
            typed.put(v.clone()).unwrap();
            let free = typed.pool_stats()[0].free;
            assert_eq!(free == 0, encoded.len() > inline_max, "{n} bytes inline?");
            assert_eq!(
                raw.get().unwrap(),
                encoded,
                "{n} bytes, inline {inline_max}"
            );
            // And back: postcard's message reads as the value.
            raw.put(&encoded).unwrap();
            assert_eq!(typed.get().unwrap(), v);
        }
        assert_eq!(typed.pool_stats()[0].free, 1);
        assert_eq!(typed.stats(), host_runtime::queue::QueueStats::default());
    }
    watchdog(|| {
        for inline_max in [DEFAULT_INLINE_MAX, 300] {
            check(inline_max, |n| bytes(n, n as u8));
            check(inline_max, text);
        }
    });
}

#[test]
fn larger_inline_sizes_take_the_heap_path() {
    // The thresholds above assume the default inline size; a queue built with a larger one
    // takes byte payloads inline too (other items through the heap path): the same values
    // come back.
    watchdog(|| {
        let q = Queue::<Vec<u8>>::builder()
            .maxsize(4)
            .inline_max(1000)
            .build()
            .unwrap();
        for n in [100, 126, 127, 200, 998, 999] {
            let v = bytes(n, 2);
            q.put(v.clone()).unwrap();
            assert_eq!(q.get().unwrap(), v, "{n} bytes, inline size 1000");
        }
        let s = Queue::<(u64, String)>::builder()
            .maxsize(4)
            .inline_max(1000)
            .build()
            .unwrap();
        for n in [10, 200, 900] {
            s.put((n as u64, text(n))).unwrap();
            assert_eq!(s.get().unwrap(), (n as u64, text(n)));
        }
    });
}

thread_local! {
    /// The side queue of [`Reentrant`]'s encode and decode.
    static SIDE: std::cell::RefCell<Option<Queue<Record>>> = const { std::cell::RefCell::new(None) };
}

/// An item whose `Serialize` puts its record into the side queue first, and whose
/// `Deserialize` gets one from it: a put inside a put, a get inside a get (each long, so each
/// wants the per-thread buffers that the outer call holds).
#[derive(Debug, Clone, PartialEq)]
struct Reentrant(Record);

impl Serialize for Reentrant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SIDE.with(|q| q.borrow().as_ref().unwrap().put(self.0.clone()).unwrap());
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Reentrant {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = Record::deserialize(d)?;
        let side = SIDE.with(|q| q.borrow().as_ref().unwrap().get().unwrap());
        assert_eq!(side, r);
        Ok(Reentrant(r))
    }
}

#[test]
fn puts_and_gets_inside_puts_and_gets() {
    watchdog(|| {
        let side = Queue::<Record>::new(0).unwrap();
        SIDE.with(|q| *q.borrow_mut() = Some(side.clone()));
        for inline_max in [DEFAULT_INLINE_MAX, 1000] {
            let q = Queue::<Reentrant>::builder()
                .maxsize(4)
                .inline_max(inline_max)
                .build()
                .unwrap();
            for n in [10, 3000] {
                let item = Reentrant(Record {
                    id: n as u64,
                    name: text(20),
                    data: bytes(n, 6),
                    parts: vec![bytes(n / 2, 1)],
                });
                q.put(item.clone()).unwrap();
                // The encode ran once or twice (a short attempt that did not fit, then the
                // long one): leave one record for the decode.
                while side.qsize() > 1 {
                    assert_eq!(side.get().unwrap(), item.0);
                }
                assert_eq!(
                    q.get().unwrap(),
                    item,
                    "{n} bytes, inline size {inline_max}"
                );
                assert!(side.empty());
            }
        }
    });
}

#[test]
fn get_into_gives_what_get_gives_and_keeps_the_allocation() {
    watchdog(|| {
        const MAX: usize = 70_000;
        let q = queue::<Vec<u8>>(MAX);
        let s = queue::<String>(MAX);
        let mut v_place = Vec::with_capacity(MAX);
        let mut s_place = String::with_capacity(MAX);
        let (v_at, s_at) = (v_place.as_ptr(), s_place.as_ptr());
        for n in sizes(MAX) {
            let v = bytes(n, n as u8);
            q.put(v.clone()).unwrap();
            q.get_into(&mut v_place).unwrap();
            assert_eq!(v_place, v, "Vec<u8> of {n}");
            let t = text(n);
            s.put(t.clone()).unwrap();
            s.get_into(&mut s_place).unwrap();
            assert_eq!(s_place, t, "String of {n}");
        }
        // Every message fitted: no new allocation, inline or blob.
        assert_eq!((v_place.as_ptr(), s_place.as_ptr()), (v_at, s_at));

        // Inside a tuple (serde decodes tuples and strings in place), and an integer.
        let t = Queue::<(u64, f64, String)>::new(4).unwrap();
        let mut place = (0, 0.0, String::with_capacity(64));
        let at = place.2.as_ptr();
        for i in 0..3u64 {
            let item = (i << 40, i as f64 / 4.0, format!("item {i} of three"));
            t.put(item.clone()).unwrap();
            t.get_into(&mut place).unwrap();
            assert_eq!(place, item);
        }
        assert_eq!(place.2.as_ptr(), at);
        // A struct without in-place decoding: decoded as by `get` and assigned.
        let r = Queue::<Record>::new(4).unwrap();
        let record = Record {
            id: 9,
            name: text(300),
            data: bytes(5000, 1),
            parts: vec![bytes(3, 2), vec![]],
        };
        r.put(record.clone()).unwrap();
        let mut place = Record {
            id: 0,
            name: "old".into(),
            data: vec![1; 10],
            parts: vec![vec![7]],
        };
        r.get_into(&mut place).unwrap();
        assert_eq!(place, record);
        // Integers, at their extremes.
        let u = Queue::<u64>::new(4).unwrap();
        let i = Queue::<i32>::new(4).unwrap();
        let (mut u_place, mut i_place) = (7u64, 7i32);
        for (a, b) in [(0, 0), (u64::MAX, i32::MIN), (300, i32::MAX), (1 << 63, -1)] {
            u.put(a).unwrap();
            u.get_into(&mut u_place).unwrap();
            assert_eq!(u_place, a);
            i.put(b).unwrap();
            i.get_into(&mut i_place).unwrap();
            assert_eq!(i_place, b);
        }
        // Nothing to take, or closed: the item is unchanged.
        assert!(u.get_into_nowait(&mut u_place).is_err());
        assert!(u
            .get_into_timeout(&mut u_place, std::time::Duration::from_millis(1))
            .is_err());
        assert_eq!(u_place, 1 << 63);
        u.close();
        assert!(matches!(u.get_into(&mut u_place), Err(GetError::Closed)));
        assert_eq!(u_place, 1 << 63);
    });
}

/// The decode errors `typed.get()` and `typed.get_into(place)` give for the raw message `msg`
/// (put twice through `raw`): they must agree.
fn decode_kind_into<T: Serialize + DeserializeOwned + std::fmt::Debug>(
    (typed, raw): &(Queue<T>, RawQueue),
    msg: &[u8],
    place: &mut T,
) -> DecodeErrorKind {
    let kind = decode_kind(&(typed.clone(), raw.clone()), msg);
    raw.put(msg).unwrap();
    match typed.get_into(place) {
        Err(GetError::Decode(e)) => assert_eq!(e.kind(), kind, "get and get_into disagree"),
        other => panic!("expected Decode, got {other:?}"),
    }
    assert!(typed.empty(), "the garbled message was taken off");
    kind
}

#[test]
fn get_into_refuses_garbled_messages_as_get_does() {
    watchdog(|| {
        use DecodeErrorKind::*;
        let v = typed_and_raw::<Vec<u8>>("into-v");
        let s = typed_and_raw::<String>("into-s");
        let t = typed_and_raw::<(u64, f64, String)>("into-t");
        let u = typed_and_raw::<u64>("into-u");
        let long_msg = wire(&bytes(5000, 0));
        let bad_utf8 = |n: usize| {
            let mut msg = wire(&vec![b'a'; n]);
            let last = msg.len() - 1;
            msg[last] = 0xff;
            msg
        };
        let cases = garbled_cases(&long_msg);
        let (mut vp, mut sp, mut up) = (vec![1u8; 10], "x".repeat(10), 5u64);
        let mut tp = (1u64, 1.0f64, "x".to_string());
        for (tag, msg, kind) in &cases {
            assert_eq!(decode_kind_into(&v, msg, &mut vp), *kind, "Vec<u8>: {tag}");
            assert_eq!(decode_kind_into(&s, msg, &mut sp), *kind, "String: {tag}");
        }
        for n in [3, 4000] {
            let msg = bad_utf8(n);
            assert_eq!(
                decode_kind_into(&s, &msg, &mut sp),
                Invalid,
                "String of {n}"
            );
            let msg = [&wire(&(1u64, 2.0f64))[..], &msg].concat();
            assert_eq!(decode_kind_into(&t, &msg, &mut tp), Invalid, "tuple, {n}");
        }
        for (msg, kind) in [
            (vec![0xff; 12], Invalid),
            (vec![0x80], Truncated),
            (vec![1, 2], TrailingBytes),
            (vec![0x80; 10], Invalid),
        ] {
            assert_eq!(
                decode_kind_into(&u, &msg, &mut up),
                kind,
                "u64 from {msg:x?}"
            );
        }
        // Hostile nesting: the same limit as `get`'s.
        let list = typed_and_raw::<List>("into-nest");
        let hostile = [0u8, 0].repeat(1 << 20);
        let mut lp = List::Nil;
        assert_eq!(decode_kind_into(&list, &hostile, &mut lp), Invalid);
        // The places are valid values still, and the queues work.
        assert!(vp.len() <= 10 && sp.len() <= 10 && tp.2.len() <= 19);
        v.0.put(bytes(10, 1)).unwrap();
        v.0.get_into(&mut vp).unwrap();
        assert_eq!(vp, bytes(10, 1));
        s.0.put(text(5000)).unwrap();
        s.0.get_into(&mut sp).unwrap();
        assert_eq!(sp, text(5000));
    });
}
