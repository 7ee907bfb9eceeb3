#!/usr/bin/env python3
"""A rump kernel inside Python through ctypes: boot librump, use files on
its tmpfs and UDP and TCP sockets on its lo0, and see its errno values.

    python3 rump_ctypes.py PREFIX      # PREFIX as given to scripts/install.sh

Constants come from the installed, generated <rump/rumpdefs.h>; structs
are NetBSD's (sockaddr_in starts with its length byte)."""

import ctypes
import os
import re
import socket
import struct
import sys

prefix = sys.argv[1] if len(sys.argv) > 1 else "/usr/local"
rump = ctypes.CDLL(os.path.join(prefix, "lib", "librump.so"), use_errno=True)

# RUMP_* numbers from the generated header.
RUMP = {}
with open(os.path.join(prefix, "include", "rump", "rumpdefs.h")) as f:
    for name, value in re.findall(r"^#define RUMP_(\w+) \(?(-?(?:0x[0-9a-fA-F]+|\d+))\)?$", f.read(), re.M):
        octal = re.fullmatch(r"0[0-7]+", value)  # C's octal, as in RUMP_S_IFMT
        RUMP[name] = int(value, 8) if octal else int(value, 0)

for fn in ("open", "socket", "bind", "connect", "listen", "accept", "close", "mkdir", "getsockname"):
    getattr(rump, "rump_sys_" + fn).restype = ctypes.c_int
for fn in ("read", "write", "sendto", "recvfrom"):
    getattr(rump, "rump_sys_" + fn).restype = ctypes.c_ssize_t
for fn in ("read", "write"):
    getattr(rump, "rump_sys_" + fn).argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)


def check(r, what):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: rump errno %d" % (what, e))
    return r


def sockaddr_in(ip, port):
    """NetBSD's struct sockaddr_in: len, family, port, address, zero."""
    return struct.pack("BBH4s8x", 16, RUMP["AF_INET"], socket.htons(port), socket.inet_aton(ip))


def port_of(sa):
    return socket.ntohs(struct.unpack_from("H", sa, 2)[0])


check(rump.rump_init(), "rump_init")

# Files
check(rump.rump_sys_mkdir(b"/py", 0o755), "mkdir")
fd = check(rump.rump_sys_open(b"/py/hello", RUMP["O_CREAT"] | RUMP["O_RDWR"], 0o644), "open")
msg = b"hello from python"
check(rump.rump_sys_write(fd, msg, len(msg)), "write")
check(rump.rump_sys_close(fd), "close")
fd = check(rump.rump_sys_open(b"/py/hello", RUMP["O_RDONLY"]), "open")
buf = ctypes.create_string_buffer(64)
n = check(rump.rump_sys_read(fd, buf, 64), "read")
print("file:", buf.raw[:n].decode())
if rump.rump_sys_open(b"/py/missing", RUMP["O_RDONLY"]) == -1 and ctypes.get_errno() == RUMP["ENOENT"]:
    print("missing file: ENOENT")

# UDP on the kernel's lo0
a = check(rump.rump_sys_socket(RUMP["AF_INET"], RUMP["SOCK_DGRAM"], 0), "socket")
b = check(rump.rump_sys_socket(RUMP["AF_INET"], RUMP["SOCK_DGRAM"], 0), "socket")
check(rump.rump_sys_bind(a, sockaddr_in("127.0.0.1", 5353), 16), "bind")
dgram = b"datagram in the kernel"
check(rump.rump_sys_sendto(b, dgram, len(dgram), 0, sockaddr_in("127.0.0.1", 5353), 16), "sendto")
frm = ctypes.create_string_buffer(16)
flen = ctypes.c_uint32(16)
n = check(rump.rump_sys_recvfrom(a, buf, 64, 0, frm, ctypes.byref(flen)), "recvfrom")
print("udp:", buf.raw[:n].decode(), "from", socket.inet_ntoa(frm.raw[4:8]))

# TCP on lo0: listen, connect, accept, one exchange each way
ls = check(rump.rump_sys_socket(RUMP["AF_INET"], RUMP["SOCK_STREAM"], 0), "socket")
check(rump.rump_sys_bind(ls, sockaddr_in("127.0.0.1", 0), 16), "bind")
check(rump.rump_sys_listen(ls, 1), "listen")
name = ctypes.create_string_buffer(16)
nlen = ctypes.c_uint32(16)
check(rump.rump_sys_getsockname(ls, name, ctypes.byref(nlen)), "getsockname")
cs = check(rump.rump_sys_socket(RUMP["AF_INET"], RUMP["SOCK_STREAM"], 0), "socket")
check(rump.rump_sys_connect(cs, sockaddr_in("127.0.0.1", port_of(name.raw)), 16), "connect")
ss = check(rump.rump_sys_accept(ls, None, None), "accept")
check(rump.rump_sys_write(cs, b"ping", 4), "write")
n = check(rump.rump_sys_read(ss, buf, 64), "read")
check(rump.rump_sys_write(ss, buf.raw[:n].upper(), n), "write")
n = check(rump.rump_sys_read(cs, buf, 64), "read")
print("tcp:", buf.raw[:n].decode())
