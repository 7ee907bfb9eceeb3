"""mmap.mmap(f.fileno(), 0) on a file in the base (a rump file under the
hijack): writes through the shared mapping are read by other processes
(a forked child, a new interpreter), their writes (with write() and
through mappings of their own) show in the mapping, flush, resize (which
truncates the file and remaps), ACCESS_READ and ACCESS_COPY, and a
writable mapping of a read-only file refused.

Usage: mmap_shared.py BASE (BASE is created). Deterministic output.
"""

import mmap
import os
import subprocess
import sys


def say(*args):
    print(*args, flush=True)


def other(code, *args):
    """Runs `code` in a new interpreter (sys.argv[1:] = args); its output
    goes to ours. close_fds=False: the library's own descriptors must
    survive into the new image (closing them all is issue 16's fd part)."""
    r = subprocess.run([sys.executable, "-B", "-c", code, *args], check=False, close_fds=False)
    say("other process exited", r.returncode)


READ = "import sys; f = open(sys.argv[1], 'rb'); f.seek(int(sys.argv[2])); print('other reads', f.read(int(sys.argv[3])), flush=True)"
WRITE = "import sys; f = open(sys.argv[1], 'r+b'); f.seek(int(sys.argv[2])); f.write(sys.argv[3].encode())"
MAP_WRITE = (
    "import mmap, sys; f = open(sys.argv[1], 'r+b'); m = mmap.mmap(f.fileno(), 0); "
    "m[int(sys.argv[2]):int(sys.argv[2]) + len(sys.argv[3])] = sys.argv[3].encode(); m.flush(); m.close()"
)


def main():
    base = sys.argv[1]
    os.mkdir(base)
    path = os.path.join(base, "db")
    with open(path, "wb") as f:
        f.write(bytes(4096))
    f = open(path, "r+b")
    mm = mmap.mmap(f.fileno(), 0)
    say("length", len(mm))
    mm[0:5] = b"hello"
    mm.flush()
    other(READ, path, "0", "5")

    pid = os.fork()
    if pid == 0:
        fd = os.open(path, os.O_RDONLY)
        say("forked child reads", os.pread(fd, 5, 0))
        os._exit(0)
    os.waitpid(pid, 0)

    other(WRITE, path, "100", "world")
    say("mapping after the other's write", mm[100:105])
    other(MAP_WRITE, path, "200", "mapped")
    say("mapping after the other's mapping", mm[200:206])
    f.seek(200)
    say("read() agrees", f.read(6))

    mm.resize(8192)
    say("resized", len(mm), os.stat(path).st_size)
    mm[5000:5003] = b"big"
    other(READ, path, "5000", "3")
    mm.close()
    f.close()

    with open(path, "rb") as ro:
        m = mmap.mmap(ro.fileno(), 0, access=mmap.ACCESS_READ)
        say("read-only mapping", m[0:5], m[100:105])
        m.close()
        c = mmap.mmap(ro.fileno(), 0, access=mmap.ACCESS_COPY)
        c[0:5] = b"HELLO"
        say("copy mapping", c[0:5])
        c.close()
        try:
            mmap.mmap(ro.fileno(), 0, access=mmap.ACCESS_WRITE)
            say("writable mapping of a read-only file: allowed")
        except OSError as e:
            say("writable mapping of a read-only file:", type(e).__name__, os.strerror(e.errno))
    other(READ, path, "0", "5")


main()
