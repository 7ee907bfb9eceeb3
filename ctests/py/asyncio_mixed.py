"""asyncio over a FIFO in the base (a rump FIFO under the hijack) and a
host pipe in one event loop (the default loop, epoll on Linux):
loop.add_reader on both with a ping-pong that alternates between them,
connect_read_pipe on both read ends fed by a thread until EOF, and
connect_write_pipe on both write ends.

Usage: asyncio_mixed.py BASE (BASE is created). Deterministic output.
"""

import asyncio
import os
import sys
import threading
import time


def say(*args):
    print(*args, flush=True)


def fifo(base, name):
    path = os.path.join(base, name)
    os.mkfifo(path)
    r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(path, os.O_WRONLY)
    return r, w


async def readers_ping_pong(base):
    """add_reader on a FIFO and a pipe; each message read on one is
    answered on the other, 500 times."""
    say("-- add_reader ping-pong")
    loop = asyncio.get_running_loop()
    fr, fw = fifo(base, "pingpong")
    pr, pw = os.pipe()
    os.set_blocking(pr, False)
    done = loop.create_future()
    seen = {"fifo": 0, "pipe": 0}
    total = [0]

    def on_readable(label, fd, other_w):
        data = os.read(fd, 64)
        n = int(data)
        seen[label] += 1
        total[0] += n
        if n >= 500:
            if not done.done():
                done.set_result(n)
            return
        os.write(other_w, b"%d" % (n + 1))

    loop.add_reader(fr, on_readable, "fifo", fr, pw)
    loop.add_reader(pr, on_readable, "pipe", pr, fw)
    os.write(fw, b"1")
    try:
        last = await asyncio.wait_for(done, 10)
        say("last message:", last)
    except asyncio.TimeoutError:
        say("timed out")
    say("read from the fifo:", seen["fifo"], "from the pipe:", seen["pipe"], "sum:", total[0])
    say("remove_reader:", loop.remove_reader(fr), loop.remove_reader(pr), loop.remove_reader(pr))

    # a thread's write wakes the loop blocked on both
    got = loop.create_future()
    loop.add_reader(fr, lambda: got.done() or got.set_result(("fifo", os.read(fr, 64))))
    loop.add_reader(pr, lambda: got.done() or got.set_result(("pipe", os.read(pr, 64))))
    t = threading.Thread(target=lambda: (time.sleep(0.02), os.write(fw, b"from a thread")), daemon=True)
    t.start()
    say("woken by:", await asyncio.wait_for(got, 5))
    t.join()
    loop.remove_reader(fr)
    loop.remove_reader(pr)
    for fd in (fr, fw, pr, pw):
        os.close(fd)


class Collect(asyncio.Protocol):
    def __init__(self, label, done):
        self.label = label
        self.data = b""
        self.eof = None
        self.done = done

    def connection_made(self, transport):
        say(self.label, "connected")

    def data_received(self, data):
        self.data += data

    def eof_received(self):
        self.eof = len(self.data)

    def connection_lost(self, exc):
        self.done.set_result(exc)


async def read_pipes(base):
    """connect_read_pipe on a FIFO's and a pipe's read ends, written by a
    thread that then closes the write ends."""
    say("-- connect_read_pipe")
    loop = asyncio.get_running_loop()
    fr, fw = fifo(base, "readpipe")
    pr, pw = os.pipe()
    protos = {}
    for label, fd in (("fifo", fr), ("pipe", pr)):
        done = loop.create_future()
        transport, proto = await loop.connect_read_pipe(lambda: Collect(label, done), os.fdopen(fd, "rb", 0))
        protos[label] = (transport, proto, done)

    def writer():
        for i in range(300):
            os.write(fw if i % 3 else pw, b"line %d\n" % i)
            if i % 50 == 0:
                time.sleep(0.002)
        os.close(fw)
        os.close(pw)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    for label in ("fifo", "pipe"):
        transport, proto, done = protos[label]
        try:
            say(label, "connection_lost:", await asyncio.wait_for(done, 10))
        except asyncio.TimeoutError:
            say(label, "timed out")
        lines = proto.data.decode().splitlines()
        nums = [int(x.split()[1]) for x in lines]
        say(label, len(lines), "lines, in order:", nums == sorted(nums), "sum:", sum(nums))
        say(label, "no EOF" if proto.eof is None else f"EOF after {proto.eof} bytes")
    t.join()


async def write_pipes(base):
    """connect_write_pipe on a FIFO's and a pipe's write ends, read back
    with add_reader."""
    say("-- connect_write_pipe")
    loop = asyncio.get_running_loop()
    fr, fw = fifo(base, "writepipe")
    pr, pw = os.pipe()
    os.set_blocking(pr, False)
    got = {"fifo": b"", "pipe": b""}
    eof = {"fifo": loop.create_future(), "pipe": loop.create_future()}

    def on_readable(label, fd):
        data = os.read(fd, 65536)
        got[label] += data
        if not data:
            loop.remove_reader(fd)
            eof[label].set_result(True)

    loop.add_reader(fr, on_readable, "fifo", fr)
    loop.add_reader(pr, on_readable, "pipe", pr)
    for label, fd in (("fifo", fw), ("pipe", pw)):
        done = loop.create_future()
        transport, _ = await loop.connect_write_pipe(lambda: Collect(label + " writer", done), os.fdopen(fd, "wb", 0))
        # more than a pipe holds, so the transport has to wait for room
        transport.write(bytes(range(256)) * 1024)
        transport.close()
        await asyncio.wait_for(done, 10)
    for label in ("fifo", "pipe"):
        try:
            await asyncio.wait_for(eof[label], 10)
        except asyncio.TimeoutError:
            say(label, "timed out")
        say(label, "read", len(got[label]), "bytes, right:", got[label] == bytes(range(256)) * 1024)
    os.close(fr)
    os.close(pr)


async def main():
    base = sys.argv[1]
    os.mkdir(base)
    for part in (readers_ping_pong, read_pipes, write_pipes):
        # one part failing does not hide what the others do
        try:
            await part(base)
        except Exception as e:
            say(f"{part.__name__} failed: {type(e).__name__}: {e}")
    say("done")


asyncio.run(main())
