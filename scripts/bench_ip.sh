#!/usr/bin/env bash
# `ip -j addr` on many interfaces: a rump_server with N shmif interfaces
# (default 100), each up with a v4 address, read through the hijack, beside
# a network namespace with N dummy interfaces configured the same way,
# measured in the same run. Prints the mean time per `ip -j addr` of each
# and their ratio, and checks both listed N+1 interfaces.
# Usage: scripts/bench_ip.sh [N] [RUNS]   (root for the namespace; uses
# target/release when built, else target/debug)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
RUNS=${2:-20}
BIN=${RUMP_BIN:-$PWD/target/release}
[ -x "$BIN/rump_server" ] && [ -f "$BIN/librumphijack.so" ] || BIN=$PWD/target/debug
WORK=$(mktemp -d /tmp/rumpbenchip.XXXXXX)
NS=rumpbenchip_$$
SOCK=unix://$WORK/k.sock
cleanup() {
	env -u LD_PRELOAD "$BIN/rumpctl" halt -s "$SOCK" >/dev/null 2>&1 || true
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

now_ns() { date +%s%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# mean_ms RUNS CMD...: mean wall time of CMD over RUNS runs, in ms.
mean_ms() {
	local runs=$1 t0 t1 i
	shift
	t0=$(now_ns)
	for ((i = 0; i < runs; i++)); do "$@" >/dev/null; done
	t1=$(now_ns)
	awk -v d=$((t1 - t0)) -v n="$runs" 'BEGIN { printf "%.2f", d / n / 1e6 }'
}

args=()
for ((i = 0; i < N; i++)); do args+=(-i "shmif$i create linkstr $WORK/bus$i"); done
env -u LD_PRELOAD "$BIN/rump_server" "${args[@]}" "$SOCK" >"$WORK/server.log" 2>&1
rump() { RUMP_SERVER=$SOCK LD_PRELOAD=$BIN/librumphijack.so "$@"; }
batch=$WORK/setup.ip
for ((i = 0; i < N; i++)); do
	echo "link set shmif$i up"
	echo "addr add 10.$((i / 250)).$((i % 250)).1/24 dev shmif$i"
done >"$batch"
rump ip -batch "$batch"
[ "$(rump ip -j addr | jq length)" = $((N + 1)) ] || { echo "rump: not $((N + 1)) interfaces" >&2; exit 1; }
rump_ms=$(mean_ms "$RUNS" rump ip -j addr)

linux_ms=-
kind=-
if [ "$(id -u)" = 0 ] && ip netns add "$NS" 2>/dev/null; then
	# dummy devices, or where the kernel lacks them ifb ones (as trivial:
	# no queue, no carrier logic).
	kind=dummy
	ip -n "$NS" link add probe type dummy 2>/dev/null || kind=ifb
	ip -n "$NS" link del probe 2>/dev/null || true
	sed 's/shmif/d/g' "$batch" | sed "s/^link set \(d[0-9]*\) up/link add \1 type $kind\nlink set \1 up/" >"$WORK/ns.ip"
	ip -n "$NS" link set lo up
	ip -n "$NS" -batch "$WORK/ns.ip"
	[ "$(ip -n "$NS" -j addr | jq length)" = $((N + 1)) ] || { echo "netns: not $((N + 1)) interfaces" >&2; exit 1; }
	linux_ms=$(mean_ms "$RUNS" ip -n "$NS" -j addr)
fi

printf '%-44s %10s\n' "ip -j addr, $N interfaces (mean of $RUNS)" "ms"
printf '%-44s %10s\n' "rump kernel (rump_server, hijacked ip)" "$rump_ms"
printf '%-44s %10s\n' "Linux netns with $N $kind devices (host ip)" "$linux_ms"
printf '%-44s %10s\n' "ratio rump / netns" "$(ratio "$rump_ms" "$linux_ms")"
