#!/usr/bin/env bash
# iperf3 between rump kernels of a `rumpctl net` topology, beside iperf3
# between network namespaces joined by veth pairs, in the same run:
#   - TCP for SECS seconds, two nodes on one clean bus (retransmissions);
#   - UDP at 500 Mbit/s offered, the same two nodes (loss, what the
#     sender managed);
#   - TCP and UDP through one router (a -- r -- b);
#   - UDP at 500 Mbit/s offered over a 100 Mbit/s link (netem rate): the
#     sender should be held to the link's pace, losing nothing (Linux:
#     netem rate, or tbf where the kernel has no sch_netem);
#   - TCP with 1% loss on the sender's egress (netem: `rumpctl ifconfig
#     IF netem loss 1%` against `tc qdisc add dev IF root netem loss 1%`,
#     or, where the kernel has no sch_netem, an nftables rule (`nft`,
#     Debian's nftables) dropping 1% of the segments reaching b).
# Needs iperf3, jq, a release build; the Linux column needs root and
# iproute2 (it shows "-" otherwise).
# Usage: scripts/bench_iperf.sh [SECS]   (PER_SERVER=K: K nodes per
# rump_server, `net up --nodes-per-server`; 1 puts each node in a process)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
BIN=$PWD/target/release
RUMPCTL=$BIN/rumpctl
for t in iperf3 jq; do
	command -v "$t" >/dev/null || { echo "bench_iperf: needs $t" >&2; exit 2; }
done
WORK=$(mktemp -d /tmp/rumpiperf.XXXXXX)
NS=rbi$$
cleanup() {
	"$RUMPCTL" net down -d "$WORK/two" >/dev/null 2>&1 || true
	"$RUMPCTL" net down -d "$WORK/routed" >/dev/null 2>&1 || true
	for n in a b r; do ip netns del "$NS$n" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/two.toml" <<EOF
[node.a]
ifaces = ["shmif0 ab 10.0.0.1/24"]
[node.b]
ifaces = ["shmif0 ab 10.0.0.2/24"]
EOF
cat >"$WORK/routed.toml" <<EOF
[node.a]
ifaces = ["shmif0 ar 10.0.1.2/24"]
routes = ["default 10.0.1.1"]
[node.r]
ifaces = ["shmif0 ar 10.0.1.1/24", "shmif1 rb 10.0.2.1/24"]
sysctl = ["net.inet.ip.forwarding=1"]
[node.b]
ifaces = ["shmif0 rb 10.0.2.2/24"]
routes = ["default 10.0.2.1"]
EOF

# iperf3 -J from RUN_CLIENT to a one-shot server started by RUN_SERVER;
# prints the client's JSON.
iperf() { # SERVER_CMD CLIENT_CMD ARGS...
	local server=$1 client=$2
	shift 2
	$server iperf3 -s -1 >/dev/null 2>&1 &
	local srv=$!
	sleep 0.5
	$client iperf3 -J -t "$SECS" "$@" || true
	wait "$srv" 2>/dev/null || true
}
rump_on() { echo "$RUMPCTL net exec -d $1 $2 --"; }
ns_on() { echo "ip netns exec $NS$1"; }

# Figures out of iperf3's JSON: Gbit/s and retransmissions (TCP); Gbit/s
# received, the sender's Gbit/s and the loss in % (UDP).
tcp_fig() { jq -r '"\(.end.sum_received.bits_per_second / 1e9 | . * 1000 | round / 1000) \(.end.sum_sent.retransmits)"'; }
udp_fig() {
	jq -r '"\(.end.sum.bits_per_second * (100 - .end.sum.lost_percent) / 100 / 1e9 | . * 1000 | round / 1000) \(.end.sum.lost_percent | . * 100 | round / 100)"'
}

declare -A R L
measure() { # KEY SIDE(R|L) SERVER CLIENT DST
	local key=$1 side=$2 server=$3 client=$4 dst=$5 out
	case $key in
	udp*) out=$(iperf "$server" "$client" -c "$dst" -u -b 500M | udp_fig) ;;
	*) out=$(iperf "$server" "$client" -c "$dst" | tcp_fig) ;;
	esac
	if [ "$side" = R ]; then R[$key]=$out; else L[$key]=$out; fi
}

"$RUMPCTL" net up -d "$WORK/two" ${PER_SERVER:+--nodes-per-server "$PER_SERVER"} "$WORK/two.toml" >/dev/null
measure tcp R "$(rump_on "$WORK/two" b)" "$(rump_on "$WORK/two" a)" 10.0.0.2
measure udp R "$(rump_on "$WORK/two" b)" "$(rump_on "$WORK/two" a)" 10.0.0.2
"$RUMPCTL" net exec -d "$WORK/two" a -- "$RUMPCTL" ifconfig shmif0 netem rate 100mbit
measure udpslow R "$(rump_on "$WORK/two" b)" "$(rump_on "$WORK/two" a)" 10.0.0.2
"$RUMPCTL" net exec -d "$WORK/two" a -- "$RUMPCTL" ifconfig shmif0 netem loss 1%
measure tcploss R "$(rump_on "$WORK/two" b)" "$(rump_on "$WORK/two" a)" 10.0.0.2
"$RUMPCTL" net down -d "$WORK/two" >/dev/null
"$RUMPCTL" net up -d "$WORK/routed" ${PER_SERVER:+--nodes-per-server "$PER_SERVER"} "$WORK/routed.toml" >/dev/null
measure tcprouted R "$(rump_on "$WORK/routed" b)" "$(rump_on "$WORK/routed" a)" 10.0.2.2
measure udprouted R "$(rump_on "$WORK/routed" b)" "$(rump_on "$WORK/routed" a)" 10.0.2.2
"$RUMPCTL" net down -d "$WORK/routed" >/dev/null

if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
	for n in a b r; do ip netns add "$NS$n"; done
	# a -- b directly (veth ab), and a -- r -- b (veths ar, rb).
	ip link add vab netns "${NS}a" type veth peer name vba netns "${NS}b"
	ip link add var netns "${NS}a" type veth peer name vra netns "${NS}r"
	ip link add vrb netns "${NS}r" type veth peer name vbr netns "${NS}b"
	ip -n "${NS}a" addr add 10.0.0.1/24 dev vab
	ip -n "${NS}b" addr add 10.0.0.2/24 dev vba
	ip -n "${NS}a" addr add 10.0.1.2/24 dev var
	ip -n "${NS}r" addr add 10.0.1.1/24 dev vra
	ip -n "${NS}r" addr add 10.0.2.1/24 dev vrb
	ip -n "${NS}b" addr add 10.0.2.2/24 dev vbr
	for l in a:vab a:var b:vba b:vbr r:vra r:vrb a:lo b:lo r:lo; do ip -n "$NS${l%%:*}" link set "${l#*:}" up; done
	ip -n "${NS}a" route add 10.0.2.0/24 via 10.0.1.1
	ip -n "${NS}b" route add 10.0.1.0/24 via 10.0.2.1
	ip netns exec "${NS}r" sysctl -qw net.ipv4.ip_forward=1
	measure tcp L "$(ns_on b)" "$(ns_on a)" 10.0.0.2
	measure udp L "$(ns_on b)" "$(ns_on a)" 10.0.0.2
	measure tcprouted L "$(ns_on b)" "$(ns_on a)" 10.0.2.2
	measure udprouted L "$(ns_on b)" "$(ns_on a)" 10.0.2.2
	# This host's kernel may lack sch_netem: the link's rate then comes
	# from tbf, and the loss from an nftables rule dropping 1% of what
	# reaches b (with segmentation offloads off, so that a dropped packet
	# is one segment, as a frame on a bus is: netem on a veth drops whole
	# 64 KiB TSO packets); without either the rows show "-".
	if ip netns exec "${NS}a" tc qdisc add dev vab root netem rate 100mbit 2>/dev/null; then
		measure udpslow L "$(ns_on b)" "$(ns_on a)" 10.0.0.2
		ip netns exec "${NS}a" tc qdisc replace dev vab root netem loss 1%
		measure tcploss L "$(ns_on b)" "$(ns_on a)" 10.0.0.2
	else
		if ip netns exec "${NS}a" tc qdisc add dev vab root tbf rate 100mbit burst 32kbit latency 50ms 2>/dev/null; then
			L_SLOW_BY="tbf"
			measure udpslow L "$(ns_on b)" "$(ns_on a)" 10.0.0.2
			ip netns exec "${NS}a" tc qdisc del dev vab root
		fi
		if command -v nft >/dev/null; then
			ip -n "${NS}a" link set vab gso_max_segs 1
			ip -n "${NS}b" link set vba gro_max_size 1500
			ip netns exec "${NS}b" nft -f - <<-'EOF'
				table inet loss {
					chain in {
						type filter hook prerouting priority 0; policy accept;
						iifname "vba" numgen random mod 100 < 1 drop
					}
				}
			EOF
			L_LOSS_BY="nft"
			measure tcploss L "$(ns_on b)" "$(ns_on a)" 10.0.0.2
		fi
	fi
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
row() { # TITLE KEY UNIT2
	local r=${R[$2]:-"- -"} l=${L[$2]:-"- -"}
	printf '%-40s %9s Gbit/s %8s %-7s %9s Gbit/s %8s %-7s %7s\n' "$1" "${r% *}" "${r#* }" "$3" "${l% *}" "${l#* }" "$3" \
		"$(ratio "${r% *}" "${l% *}")"
}
echo "iperf3, $SECS s each; rump: rumpctl net nodes on shmif buses; Linux: netns + veth (same run)"
printf '%-40s %25s %25s %7s\n' measure rump "Linux netns+veth" ratio
row "TCP, two nodes on a clean bus" tcp retr
row "UDP -b 500M, two nodes (received)" udp "% lost"
row "TCP through one router" tcprouted retr
row "UDP -b 500M through one router" udprouted "% lost"
row "UDP -b 500M over a 100 Mbit/s link" udpslow "% lost"
row "TCP with netem loss 1% (goodput)" tcploss retr
[ -n "${L_SLOW_BY:-}" ] && echo "(Linux's 100 Mbit/s link: tbf rate 100mbit; this kernel has no sch_netem)"
[ -n "${L_LOSS_BY:-}" ] && echo "(Linux's 1% loss: nftables drops 1% of the packets reaching b, offloads off so each is one segment; this kernel has no sch_netem)"
true
