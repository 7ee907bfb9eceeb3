"""inotify through ctypes on the base directory and, on the same fd, a
host directory: inotify_init1, inotify_add_watch, reads parsed as struct
inotify_event records, FIONREAD, a read too short (EINVAL), poll and
epoll readiness from either side, a blocking read woken by a thread,
rm_watch of each watch (IN_IGNORED). Watch descriptors print as the
order they were first seen in; events print grouped by watch, so the
interleaving of the two directories does not matter."""

import ctypes
import errno
import fcntl
import os
import select
import shutil
import struct
import sys
import tempfile
import termios
import threading
import time

IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x1, 0x2, 0x4, 0x8
IN_CLOSE_NOWRITE, IN_OPEN, IN_MOVED_FROM, IN_MOVED_TO = 0x10, 0x20, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
IN_IGNORED, IN_ISDIR, IN_NONBLOCK, IN_CLOEXEC = 0x8000, 0x40000000, 0o4000, 0o2000000
IN_ALL_EVENTS = 0xFFF
NAMES = {
    IN_ACCESS: "ACCESS", IN_MODIFY: "MODIFY", IN_ATTRIB: "ATTRIB", IN_CLOSE_WRITE: "CLOSE_WRITE",
    IN_CLOSE_NOWRITE: "CLOSE_NOWRITE", IN_OPEN: "OPEN", IN_MOVED_FROM: "MOVED_FROM",
    IN_MOVED_TO: "MOVED_TO", IN_CREATE: "CREATE", IN_DELETE: "DELETE",
    IN_DELETE_SELF: "DELETE_SELF", IN_MOVE_SELF: "MOVE_SELF", IN_IGNORED: "IGNORED", IN_ISDIR: "ISDIR",
}
HEADER = struct.Struct("iIII")

libc = ctypes.CDLL(None, use_errno=True)
libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]


def call(what, r):
    if r < 0:
        e = ctypes.get_errno()
        print(f"{what} = -1 {errno.errorcode[e]}")
    return r


seen = []


def wd_name(wd):
    if wd < 0:
        return str(wd)
    if wd not in seen:
        seen.append(wd)
    return f"w{seen.index(wd) + 1}"


def add(fd, path, label, mask):
    wd = call(f"inotify_add_watch({label})", libc.inotify_add_watch(fd, path.encode(), mask))
    if wd >= 0:
        print(f"inotify_add_watch({label}) = {wd_name(wd)}")
    return wd


def parse(buf):
    out, at, cookies = [], 0, {}
    while at < len(buf):
        wd, mask, cookie, length = HEADER.unpack_from(buf, at)
        name = buf[at + HEADER.size:at + HEADER.size + length].rstrip(b"\0").decode()
        names = "|".join(n for bit, n in NAMES.items() if mask & bit) or hex(mask)
        tag = "0" if cookie == 0 else cookies.setdefault(cookie, f"c{len(cookies) + 1}")
        out.append((wd_name(wd), f"{names} cookie={tag} len={length} name={name!r}"))
        at += HEADER.size + length
    return out


def show(what, buf):
    print(f"{what}: {len(buf)} bytes")
    for wd, text in sorted(parse(buf), key=lambda e: e[0]):
        print(f"  {wd} {text}")


def read_all(fd, what):
    try:
        show(what, os.read(fd, 65536))
    except OSError as e:
        print(f"{what}: {errno.errorcode[e.errno]}")


def fionread(fd):
    n = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return struct.unpack("i", n)[0]


def touch(path, text=""):
    with open(path, "w") as f:
        f.write(text)


def main():
    base = sys.argv[1]
    os.mkdir(base)
    host = tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        run(base, host)
    finally:
        shutil.rmtree(host)


def run(base, host):
    fd = call("inotify_init1", libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC))
    read_all(fd, "nothing yet")
    wb = add(fd, base, "base", IN_ALL_EVENTS)
    wh = add(fd, host, "host", IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO)
    add(fd, base + "/.", "base/.", IN_ALL_EVENTS)
    add(fd, base + "/missing", "base/missing", IN_ALL_EVENTS)

    touch(os.path.join(base, "r"), "rump")
    touch(os.path.join(host, "h"), "host")
    print("FIONREAD:", fionread(fd))
    try:
        os.read(fd, 8)
    except OSError as e:
        print("short read:", errno.errorcode[e.errno])
    read_all(fd, "a file on each side")

    p = select.poll()
    p.register(fd, select.POLLIN)
    print("poll, nothing:", p.poll(0))
    os.rename(os.path.join(base, "r"), os.path.join(base, "r2"))
    print("poll, rump side:", [(f == fd, ev) for f, ev in p.poll(1000)])
    read_all(fd, "renamed")
    os.unlink(os.path.join(host, "h"))
    print("poll, host side:", [(f == fd, ev) for f, ev in p.poll(1000)])
    read_all(fd, "deleted")

    ep = select.epoll()
    ep.register(fd, select.EPOLLIN)
    print("epoll, nothing:", ep.poll(0))
    os.mkdir(os.path.join(base, "sub"))
    print("epoll, rump side:", [(f == fd, ev) for f, ev in ep.poll(1)])
    read_all(fd, "mkdir")
    ep.close()

    blocking = call("inotify_init1", libc.inotify_init1(0))
    add(blocking, base, "base", IN_CREATE)

    def later():
        time.sleep(0.05)
        touch(os.path.join(base, "late"))

    t = threading.Thread(target=later)
    t.start()
    show("blocking read", os.read(blocking, 4096))
    t.join()
    os.close(blocking)

    call("inotify_rm_watch(base)", libc.inotify_rm_watch(fd, wb))
    call("inotify_rm_watch(host)", libc.inotify_rm_watch(fd, wh))
    call("inotify_rm_watch(base) again", libc.inotify_rm_watch(fd, wb))
    read_all(fd, "after rm_watch")
    os.close(fd)
    print("done")


main()
