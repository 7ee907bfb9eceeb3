"""selectors over a FIFO in the base (a rump FIFO under the hijack) and a
host pipe in one selector: EpollSelector (the DefaultSelector on Linux),
PollSelector and SelectSelector, each with timeouts, readiness after a
write, a write end, modify/unregister, a thread's write waking a blocked
select, a hangup, and a loop reading messages that arrive on both.

Usage: selectors_mixed.py BASE (BASE is created). Deterministic output.
"""

import os
import selectors
import sys
import threading
import time


def say(*args):
    print(*args, flush=True)


def later(delay, fn, *args):
    """Runs fn(*args) in a thread after delay seconds; returns the thread."""

    def run():
        time.sleep(delay)
        fn(*args)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def ready(sel, timeout):
    """select(timeout) as sorted (label, events) pairs."""
    names = {selectors.EVENT_READ: "R", selectors.EVENT_WRITE: "W", selectors.EVENT_READ | selectors.EVENT_WRITE: "RW"}
    return sorted((key.data, names[ev]) for key, ev in sel.select(timeout))


def fifo(base, name):
    path = os.path.join(base, name)
    os.mkfifo(path)
    r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(path, os.O_WRONLY)
    return r, w


def exercise(cls, base, n):
    say(f"-- {cls.__name__}")
    fr, fw = fifo(base, f"f{n}")
    pr, pw = os.pipe()
    os.set_blocking(pr, False)
    sel = cls()
    sel.register(fr, selectors.EVENT_READ, "fifo")
    sel.register(pr, selectors.EVENT_READ, "pipe")
    say("select(0):", ready(sel, 0))
    say("select(0.02):", ready(sel, 0.02))
    os.write(fw, b"a")
    say("fifo written, select(0):", ready(sel, 0))
    os.write(pw, b"b")
    say("pipe written, select(1):", ready(sel, 1))
    say("read:", os.read(fr, 10), os.read(pr, 10))
    say("drained, select(0):", ready(sel, 0))

    # a thread's write wakes a blocked select
    t = later(0.02, os.write, fw, b"wake")
    say("fifo written by a thread, select(5):", ready(sel, 5))
    t.join()
    say("read:", os.read(fr, 10))
    t = later(0.02, os.write, pw, b"wake")
    say("pipe written by a thread, select():", ready(sel, None))
    t.join()
    say("read:", os.read(pr, 10))

    # write ends, modify, unregister
    sel.register(fw, selectors.EVENT_WRITE, "fifo-w")
    sel.register(pw, selectors.EVENT_WRITE, "pipe-w")
    say("write ends registered, select(0):", ready(sel, 0))
    sel.modify(fw, selectors.EVENT_READ, "fifo-w as reader")
    sel.modify(pw, selectors.EVENT_READ | selectors.EVENT_WRITE, "pipe-w both")
    say("modified, select(0):", ready(sel, 0))
    sel.unregister(fw)
    sel.unregister(pw)
    os.write(fw, b"x")
    say("unregistered, fifo written, select(0):", ready(sel, 0))
    os.read(fr, 10)
    try:
        sel.unregister(fw)
    except KeyError:
        say("unregister again: KeyError")
    say("keys:", sorted(k.data for k in sel.get_map().values()))

    # messages arriving on both, read in one loop until both ends close
    def writer():
        for i in range(200):
            os.write(fw if i % 2 else pw, b"%d;" % i)
            if i % 20 == 0:
                time.sleep(0.002)
        os.close(fw)
        os.close(pw)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    got = {"fifo": b"", "pipe": b""}
    open_ends = {"fifo": fr, "pipe": pr}
    while open_ends:
        events = sel.select(5)
        if not events:
            say("stalled: nothing ready for 5 s with", sorted(open_ends), "open")
            break
        for key, _ in events:
            data = os.read(key.fd, 4096)
            if data:
                got[key.data] += data
            else:
                sel.unregister(key.fd)
                del open_ends[key.data]
        if not sel.get_map():
            break
    t.join()
    for label in ("fifo", "pipe"):
        nums = [int(x) for x in got[label].split(b";") if x]
        say(f"{label}: {len(nums)} messages, in order: {nums == sorted(nums)}, sum {sum(nums)}")
    say("both ends closed, keys left:", len(sel.get_map()))
    sel.close()
    os.close(fr)
    os.close(pr)


def main():
    base = sys.argv[1]
    os.mkdir(base)
    say("DefaultSelector:", selectors.DefaultSelector.__name__)
    for n, cls in enumerate([selectors.DefaultSelector, selectors.PollSelector, selectors.SelectSelector]):
        # one selector failing does not hide what the others do
        try:
            exercise(cls, base, n)
        except Exception as e:
            say(f"{cls.__name__} failed: {type(e).__name__}: {e}")
    say("done")


main()
