#!/usr/bin/env bash
# The main job: build everything in release mode, then run unmodified
# tools, a shell pipeline and python3 against a rump kernel booted inside
# the shell (the embedded default), and finally against a rump_server.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace
lib=$PWD/target/release/librumphijack.so

echo "== the embedded default: LD_PRELOAD=librumphijack.so, no RUMP_SERVER"
LD_PRELOAD=$lib bash -c '
set -e
show() { echo "\$ $*"; "$@"; }
show mkdir -p /rump/demo/docs
cd /rump/demo
show pwd
echo "hello from a rump kernel" > hello.txt
show cp -r /usr/share/doc/bash /rump/demo/docs/
seq 1 5 | sort -r > numbers
show ls -la --time-style=+%F /rump/demo
echo "\$ cat hello.txt numbers | tr a-z A-Z | wc -l"
cat hello.txt numbers | tr a-z A-Z | wc -l
show tar cf /rump/demo.tar -C /rump demo
echo "\$ tar tf /rump/demo.tar | head -n 4"
tar tf /rump/demo.tar | head -n 4
echo "\$ find /rump -type f | sort | head -n 5"
find /rump -type f | sort | head -n 5
show python3 -c "import os; print(sorted(os.listdir(\"/rump/demo\")))"
show df -h /rump
show ls /rump
echo "(the host has no /rump:)"
show env -u LD_PRELOAD ls -d /rump || true
'

echo
echo "== one asyncio loop over a FIFO in the rump kernel and a host pipe (in-process kernel)"
echo "\$ python3 ctests/py/asyncio_mixed.py /rump/loop"
LD_PRELOAD=$lib python3 ctests/py/asyncio_mixed.py /rump/loop | tail -n 4

echo
echo "== rumpctl run: a kernel hosted by rumpctl for a whole process tree"
echo "\$ rumpctl run -- sh -c 'echo hi > /rump/x; cat /rump/x; ls -l /rump'"
target/release/rumpctl run -- sh -c 'echo hi > /rump/x; cat /rump/x; ls -l --time-style=+ /rump'

# A remote kernel: rump_server serves one over a unix socket; separate
# processes, and rumpctl, share it.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export RUMP_SERVER="unix://$dir/sock"
echo
echo "== a remote kernel"
echo "\$ rump_server -c 2 $RUMP_SERVER"
target/release/rump_server -c 2 "$RUMP_SERVER"
echo "\$ LD_PRELOAD=librumphijack.so sh -c 'echo kept > /rump/kept'"
LD_PRELOAD=$lib sh -c 'echo kept > /rump/kept'
echo "\$ LD_PRELOAD=librumphijack.so cat /rump/kept        # a later, separate process"
LD_PRELOAD=$lib cat /rump/kept
echo "\$ rumpctl sysctl kern.ostype kern.hostname hw.ncpu"
target/release/rumpctl sysctl kern.ostype kern.hostname hw.ncpu
echo "\$ rumpctl sysctl -w kern.hostname=demo"
target/release/rumpctl sysctl -w kern.hostname=demo
echo "\$ rumpctl halt"
target/release/rumpctl halt
if [ -e "$dir/sock" ]; then echo "socket left behind" >&2; exit 1; fi
echo "(the server has exited and removed its socket)"

# Networking: two kernels joined by a shmif bus (a plain file), configured
# and exercised with the ordinary tools; no root needed for the kernels.
echo
echo "== two kernels on one Ethernet bus file"
a="unix://$dir/a" b="unix://$dir/b" bus="$dir/bus1"
echo "\$ rump_server -i 'shmif0 create linkstr $bus' $a   (and the same for $b)"
target/release/rump_server -i "shmif0 create linkstr $bus" "$a"
target/release/rump_server -i "shmif0 create linkstr $bus" "$b"
net() { local url=$1; shift; echo "\$ RUMP_SERVER=${url##*/} $*"; RUMP_SERVER=$url LD_PRELOAD=$lib "$@"; }
net "$a" ifconfig shmif0 10.0.0.1 netmask 255.255.255.0 up
net "$b" ifconfig shmif0 10.0.0.2 netmask 255.255.255.0 up
net "$a" ifconfig -a
net "$a" route -n
if [ "$(id -u)" = 0 ] && command -v ping >/dev/null; then
    net "$a" ping -c 3 -i 0.2 10.0.0.2
else
    echo "(ping skipped: it needs root and iputils-ping, as on a real host)"
fi
if command -v nc >/dev/null; then
    head -c 1048576 /dev/urandom > "$dir/payload"
    RUMP_SERVER=$b LD_PRELOAD=$lib nc -l 5000 > "$dir/received" &
    sleep 0.5
    net "$a" nc -N 10.0.0.2 5000 < "$dir/payload"
    wait
    echo "sha256 sent:     $(sha256sum < "$dir/payload" | cut -c1-16)"
    echo "sha256 received: $(sha256sum < "$dir/received" | cut -c1-16)"
fi
echo "\$ rumpctl dumpbus -o bus1.pcap $bus; tcpdump -c 4 -n -r bus1.pcap"
target/release/rumpctl dumpbus -o "$dir/bus1.pcap" "$bus"
if command -v tcpdump >/dev/null; then tcpdump -c 4 -n -r "$dir/bus1.pcap" 2>/dev/null; else echo "(install tcpdump to read it)"; fi
target/release/rumpctl halt -s "$a"
target/release/rumpctl halt -s "$b"
