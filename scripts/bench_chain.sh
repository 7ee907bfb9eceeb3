#!/usr/bin/env bash
# NetBSD's chain experiment: N kernels in a line (default 255), each pair
# joined by its own bus, every inner node a router. Measures, in one run:
#   - start-up: `rumpctl net up` of the whole chain, configured;
#   - per-hop latency: an end-to-end ping round trip / (2 × hops);
#   - CPU per hop: what all the servers' threads ran during the pings
#     (/proc schedstat; their idle work too: timers, bus timeouts) /
#     (pings × 2 × hops), beside the floor's: it
#     tells work done per hop from waiting to be scheduled;
#   - memory per idle node (RSS, PSS, which splits shared pages, and
#     private memory), with what the RSS is (scripts/memory.sh: the
#     server's text and data, shared libraries, bus mappings, heap, stacks)
#     and the threads per node;
# beside the same chain built from network namespaces and veth pairs
# (when run as root with iproute2), a host loopback ping, and this host's
# floor for a chain of processes: one cross-process futex wake-up per hop
# (scripts/futex_chain.c, when a C compiler is there), which no chain of
# processes woken per frame can beat.
# Usage: scripts/bench_chain.sh [N]    (needs a release build; RUMP_BIN=DIR
# takes rumpctl and rump_server from DIR instead, to compare builds;
# PER_SERVER=K runs K nodes per rump_server, `net up --nodes-per-server`,
# e.g. 1 for a process per node as NetBSD's chain had)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-255}
[ "$N" -ge 3 ] && [ "$N" -le 256 ] || { echo "N must be 3..256" >&2; exit 2; }
BIN=${RUMP_BIN:-$PWD/target/release}
RUMPCTL=$BIN/rumpctl
WORK=$(mktemp -d /tmp/rumpchain.XXXXXX)
DIR=$WORK/net
last=$((N - 1))
hops=$((N - 1))
trap 'rm -rf "$WORK"' EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# "rtt min/avg/max/mdev = a/b/c/d ms" -> b
avg_rtt() { sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# Node i holds 10.0.(i-1).2 on its left bus and 10.0.i.1 on its right one.
topology() {
	cat <<EOF
[node.n0]
ifaces = ["shmif0 c0 10.0.0.1/24"]
routes = ["default 10.0.0.2"]
sysctl = ["net.inet.ip.ttl=255"]

[node."n{1..$((last - 2))}"]
ifaces = ["shmif0 c{i-1} 10.0.{i-1}.2/24", "shmif1 c{i} 10.0.{i}.1/24"]
routes = ["default 10.0.{i-1}.1", "10.0.$((last - 1)).0/24 10.0.{i}.2"]
sysctl = ["net.inet.ip.forwarding=1", "net.inet.ip.ttl=255"]

[node.n$((last - 1))]
ifaces = ["shmif0 c$((last - 2)) 10.0.$((last - 2)).2/24", "shmif1 c$((last - 1)) 10.0.$((last - 1)).1/24"]
routes = ["default 10.0.$((last - 2)).1"]
sysctl = ["net.inet.ip.forwarding=1", "net.inet.ip.ttl=255"]

[node.n$last]
ifaces = ["shmif0 c$((last - 1)) 10.0.$((last - 1)).2/24"]
routes = ["default 10.0.$((last - 1)).1"]
sysctl = ["net.inet.ip.ttl=255"]
EOF
}
far=10.0.$((last - 1)).2

topology >"$WORK/chain.toml"
t0=$(now_ms)
"$RUMPCTL" net up -d "$DIR" ${PER_SERVER:+--nodes-per-server "$PER_SERVER"} "$WORK/chain.toml" >/dev/null
up_ms=$(($(now_ms) - t0))
# At rest: each server lets go of the text its start-up and configuration
# mapped once its kernel has had no call for about 5 s.
sleep 7
servers=$(pgrep -f "$DIR/sock/" | tr '\n' ' ')
memory=$(NODES=$N scripts/memory.sh $servers)
# ns every thread of every server has run so far.
ran_ns() { for p in $servers; do cat /proc/$p/task/*/schedstat 2>/dev/null; done | awk '{ ns += $1 } END { print ns + 0 }'; }
ran0=$(ran_ns)
ping_out=$("$RUMPCTL" net exec -d "$DIR" n0 -- ping -c 20 -i 0.05 -t 255 -W 5 "$far" 2>&1 || true)
rump_rtt=$(avg_rtt <<<"$ping_out")
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$ping_out")
cpu_hop_us=$(awk -v ns=$(($(ran_ns) - ran0)) -v p="${received:-0}" -v h="$hops" 'BEGIN { if (p > 0) printf "%.1f", ns / 1000 / (p * 2 * h); else print "-" }')
t0=$(now_ms)
"$RUMPCTL" net down -d "$DIR" >/dev/null
down_ms=$(($(now_ms) - t0))
host_rtt=$(ping -c 20 -i 0.05 127.0.0.1 | avg_rtt)
floor_rtt_us="" floor_hop_us="" floor_cpu_us=""
if command -v "${CC:-cc}" >/dev/null && "${CC:-cc}" -O2 -o "$WORK/futex_chain" scripts/futex_chain.c; then
	read -r floor_rtt_us floor_hop_us floor_cpu_us < <("$WORK/futex_chain" "$N" 200)
fi

ns_up_ms="" ns_rtt="" ns_down_ms=""
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
	t0=$(now_ms)
	for i in $(seq 0 "$last"); do echo "netns add rc$i"; done | ip -b -
	for k in $(seq 0 $((last - 1))); do
		echo "link add v${k}a netns rc$k type veth peer name v${k}b netns rc$((k + 1))"
	done | ip -b -
	for i in $(seq 0 "$last"); do
		{
			[ "$i" -gt 0 ] && echo "addr add 10.0.$((i - 1)).2/24 dev v$((i - 1))b" && echo "link set v$((i - 1))b up"
			[ "$i" -lt "$last" ] && echo "addr add 10.0.$i.1/24 dev v${i}a" && echo "link set v${i}a up"
			[ "$i" -gt 0 ] && echo "route add default via 10.0.$((i - 1)).1"
			[ "$i" -eq 0 ] && echo "route add default via 10.0.0.2"
			[ "$i" -gt 0 ] && [ "$i" -lt $((last - 1)) ] && echo "route add 10.0.$((last - 1)).0/24 via 10.0.$i.2"
			true
		} >"$WORK/ns$i"
		ip netns exec "rc$i" sh -c "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.ip_default_ttl=255 && ip -b $WORK/ns$i"
	done
	ns_up_ms=$(($(now_ms) - t0))
	ns_rtt=$(ip netns exec rc0 ping -c 20 -i 0.05 -t 255 -W 5 "$far" | avg_rtt || true)
	t0=$(now_ms)
	for i in $(seq 0 "$last"); do echo "netns del rc$i"; done | ip -b -
	ns_down_ms=$(($(now_ms) - t0))
fi

per_hop() { awk -v r="$1" -v h="$hops" 'BEGIN { if (r != "") printf "%.1f", r * 1000 / (2 * h); else print "-" }'; }
rump_hop=$(per_hop "$rump_rtt")
echo "chain of $N kernels ($hops hops each way; $received of 20 pings answered)"
printf "%-34s %14s %26s %8s\n" measure rump "netns+veth (same run)" ratio
printf "%-34s %11s ms %23s ms %8s\n" "start-up, configured" "$up_ms" "${ns_up_ms:--}" "$(ratio "$up_ms" "${ns_up_ms:-0}")"
printf "%-34s %11s ms %23s ms %8s\n" "teardown" "$down_ms" "${ns_down_ms:--}" "$(ratio "$down_ms" "${ns_down_ms:-0}")"
printf "%-34s %11s ms %23s ms %8s\n" "end-to-end ping round trip" "${rump_rtt:--}" "${ns_rtt:--}" \
	"$(ratio "${rump_rtt:-0}" "${ns_rtt:-0}")"
printf "%-34s %11s us %23s us %8s\n" "per hop (rtt / 2 / hops)" "$rump_hop" "$(per_hop "${ns_rtt:-}")" \
	"$(ratio "$rump_hop" "$(per_hop "${ns_rtt:-}")")"
printf "%-34s %11s us %23s %8s\n" "floor: one futex wake-up per hop" "${floor_hop_us:--}" "(rump / floor)" \
	"$(ratio "$rump_hop" "${floor_hop_us:-0}")"
printf "%-34s %11s us %23s\n" "floor: its round trip" "${floor_rtt_us:--}" ""
printf "%-34s %11s us %23s %8s\n" "CPU per hop (servers, idle incl.)" "$cpu_hop_us" "${floor_cpu_us:--} us (floor's)" \
	"$(ratio "$cpu_hop_us" "${floor_cpu_us:-0}")"
printf "%-34s %11s us %23s\n" "host ping 127.0.0.1 round trip" "$(awk -v r="$host_rtt" 'BEGIN { printf "%.1f", r * 1000 }')" ""
echo "memory per idle node (scripts/memory.sh):"
echo "$memory"
