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
