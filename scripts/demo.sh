#!/usr/bin/env bash
# The main job: build everything in release mode and run the demo against
# an in-process rump kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace
cargo run --release -q -p rump-kernel --example demo

# A remote kernel: rump_server serves one over a unix socket; rumpctl talks
# to it with the same calls any client makes.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export RUMP_SERVER="unix://$dir/sock"
echo
echo "\$ rump_server -c 2 $RUMP_SERVER"
target/release/rump_server -c 2 "$RUMP_SERVER"
echo "\$ rumpctl sysctl kern.ostype kern.hostname hw.ncpu"
target/release/rumpctl sysctl kern.ostype kern.hostname hw.ncpu
echo "\$ rumpctl sysctl -w kern.hostname=demo"
target/release/rumpctl sysctl -w kern.hostname=demo
echo "\$ rumpctl halt"
target/release/rumpctl halt
if [ -e "$dir/sock" ]; then echo "socket left behind" >&2; exit 1; fi
echo "(the server has exited and removed its socket)"
