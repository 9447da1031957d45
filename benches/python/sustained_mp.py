"""CPython's multiprocessing.Queue in sustained streams: the peer of the Rust benches'
sustained groups (benches/src/sustained.rs), run by the report with python3.

A forked producer process puts as fast as it can into a Queue(1024); the parent gets. Three
streams, each timed after a warm-up of WARM messages, for N messages (env N_SUSTAINED,
default 200,000; CPython runs its own smaller count than the Rust peers):

- bytes of 64 B and of 1 KiB: the sequence number in the first and last 8 bytes, checked;
- a tuple (int, float, 16-character str): the sequence number, 3.25, "sixteen chars!!!".

Prints one line per figure: name, value, unit (msg/s).
"""
import multiprocessing as mp
import os
import time

N = int(os.environ.get("N_SUSTAINED", 200_000))
WARM = int(os.environ.get("WARM_SUSTAINED", 10_000))
CAPACITY = 1024
TEXT = "sixteen chars!!!"


def bytes_producer(q, n, size):
    fill = b"\xa5" * (size - 16)
    for seq in range(1, n + 1):
        s = seq.to_bytes(8, "little")
        q.put(s + fill + s)


def tuple_producer(q, n):
    text = TEXT
    for seq in range(1, n + 1):
        q.put((seq, 3.25, text))


def check_bytes(m, seq, size):
    s = seq.to_bytes(8, "little")
    assert len(m) == size and m[:8] == s and m[-8:] == s, "lost or garbled message"


def check_tuple(t, seq):
    assert t[0] == seq and t[1] == 3.25 and t[2] == TEXT, "lost or garbled tuple"


def stream(ctx, target, args, check):
    q = ctx.Queue(CAPACITY)
    p = ctx.Process(target=target, args=(q, WARM + N) + args)
    p.start()
    for seq in range(1, WARM + 1):
        check(q.get(), seq)
    t = time.perf_counter()
    for seq in range(WARM + 1, WARM + N + 1):
        check(q.get(), seq)
    dt = time.perf_counter() - t
    p.join()
    assert p.exitcode == 0
    return N / dt


def main():
    ctx = mp.get_context("fork")
    for size in (64, 1024):
        rate = stream(ctx, bytes_producer, (size,), lambda m, seq: check_bytes(m, seq, size))
        print(f"sustained_bytes_{size}B {rate:.0f} msg/s", flush=True)
    rate = stream(ctx, tuple_producer, (), check_tuple)
    print(f"sustained_tuple {rate:.0f} msg/s", flush=True)


if __name__ == "__main__":
    main()
