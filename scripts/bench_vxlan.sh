#!/usr/bin/env bash
# Rump networks beyond one machine, measured in one run against Linux on
# the same veth (needs root, iproute2, /dev/net/tun; a release build is
# used when there is one, see net_common.sh):
#   - rump <-> rump across a VXLAN-joined bus (a bus on each of two netns
#     "hosts", `rumpctl bus bridge` on each) vs Linux <-> Linux with
#     Linux's vxlan devices over the same veth;
#   - rump <-> Linux over a tap vs Linux <-> Linux over a veth.
# Figures: ping round trip (average of COUNT pings) and TCP throughput
# (nc, SIZE MiB), each printed beside its Linux baseline as a ratio.
# Usage: scripts/bench_vxlan.sh [SIZE_MIB] [COUNT]
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/net_common.sh"
require_netns
require_tool nc netcat-openbsd
SIZE=${1:-20}
COUNT=${2:-20}
make_file "$WORKDIR/data.bin" $((SIZE * 1024 * 1024))

# "rtt min/avg/max/mdev = a/b/c/d ms" -> b (ms)
avg_rtt() { sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p'; }
now_ns() { date +%s%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
mib_s() { awk -v ns="$1" -v m="$SIZE" 'BEGIN { printf "%.1f", m / (ns / 1e9) }'; }
report() { # WHAT FIGURE BASELINE UNIT
	printf '%-44s %10s %s   baseline %10s %s   ratio %s\n' "$1" "$2" "$4" "$3" "$4" "$(ratio "$2" "$3")"
}

# Linux TCP throughput: nc from namespace $1 to $3:5000 in namespace $2.
linux_tcp() {
	ip netns exec "$2" nc -l 5000 >/dev/null &
	local srv=$! t0
	sleep 0.3
	t0=$(now_ns)
	ip netns exec "$1" nc -N "$3" 5000 <"$WORKDIR/data.bin" || fail "linux nc to $3"
	wait "$srv"
	echo $(($(now_ns) - t0))
}

# rump TCP throughput: nc from node $1 to $3:5000 on node $2.
rump_tcp() {
	start_nc_server "$2" 5000 /dev/null >/dev/null
	local t0
	t0=$(now_ns)
	rump "$1" nc -N "$3" 5000 <"$WORKDIR/data.bin" || fail "rump nc to $3"
	wait_nc_server 120 >/dev/null
	echo $(($(now_ns) - t0))
}

# --- VXLAN: two hosts on one veth -------------------------------------------
netns_add h1
h1=$NETNS_NAME
netns_add h2
h2=$NETNS_NAME
netns_link "$h1" 10.99.0.1/24 "$h2" 10.99.0.2/24
# Room for 1500-byte inner packets plus 50 bytes of VXLAN on both stacks.
ip -n "$h1" link set veth0 mtu 1550 && ip -n "$h2" link set veth0 mtu 1550 || fail "underlay mtu"
for side in "1 $h1 10.99.0.1 10.99.0.2" "2 $h2 10.99.0.2 10.99.0.1"; do
	read -r n ns local peer <<<"$side"
	ip -n "$ns" link add vx0 type vxlan id 42 local "$local" remote "$peer" dstport 4789 dev veth0 &&
		ip -n "$ns" link set vx0 mtu 1500 && ip -n "$ns" addr add "10.42.0.$n/24" dev vx0 &&
		ip -n "$ns" link set vx0 up || fail "$ns: vx0"
	# Linux's vx0 holds port 4789 in this namespace; the bridge takes 4790.
	bus_bridge "$ns" "b$n" --vni 43 --local "$local:4790" --peer "$peer:4790" >/dev/null
	rump_server_start "r$n" shmif0 "b$n" >/dev/null
	rump "r$n" ifconfig shmif0 "10.43.0.$n" netmask 255.255.255.0 up || fail "r$n: shmif0 up"
done
rump r1 "$PING" -c 2 -W 2 10.43.0.2 >/dev/null || fail "r1 reaches r2 over VXLAN"
ip netns exec "$h1" ping -c 2 -W 2 10.42.0.2 >/dev/null || fail "h1 reaches h2 over vx0"
rtt_rump=$(rump r1 "$PING" -c "$COUNT" -i 0.05 -W 2 10.43.0.2 | avg_rtt)
rtt_linux=$(ip netns exec "$h1" ping -c "$COUNT" -i 0.05 -W 2 10.42.0.2 | avg_rtt)
tcp_rump=$(mib_s "$(rump_tcp r1 r2 10.43.0.2)")
tcp_linux=$(mib_s "$(linux_tcp "$h1" "$h2" 10.42.0.2)")

# --- tap vs veth -------------------------------------------------------------
netns_add t
t=$NETNS_NAME
ip -n "$t" tuntap add dev rtap0 mode tap && ip -n "$t" addr add 10.9.0.1/24 dev rtap0 &&
	ip -n "$t" link set rtap0 up || fail "$t: rtap0"
NET_SERVER_NS=$t rump_server_start rt >/dev/null
rumpctl ifconfig -s "$(node_url rt)" tap0 create linkstr rtap0 || fail "rt: tap0"
rump rt ifconfig tap0 10.9.0.2 netmask 255.255.255.0 up || fail "rt: tap0 up"
netns_add v
v=$NETNS_NAME
ip link add veth1 netns "$t" type veth peer name veth1 netns "$v" &&
	ip -n "$t" addr add 10.10.0.1/24 dev veth1 && ip -n "$t" link set veth1 up &&
	ip -n "$v" addr add 10.10.0.2/24 dev veth1 && ip -n "$v" link set veth1 up || fail "veth t-v"
ip netns exec "$t" ping -c 2 -W 2 10.9.0.2 >/dev/null || fail "Linux reaches rt over the tap"
ip netns exec "$t" ping -c 2 -W 2 10.10.0.2 >/dev/null || fail "t reaches v over veth"
rtt_tap=$(ip netns exec "$t" ping -c "$COUNT" -i 0.05 -W 2 10.9.0.2 | avg_rtt)
rtt_veth=$(ip netns exec "$t" ping -c "$COUNT" -i 0.05 -W 2 10.10.0.2 | avg_rtt)
start_nc_server rt 5000 /dev/null >/dev/null
t0=$(now_ns)
ip netns exec "$t" nc -N 10.9.0.2 5000 <"$WORKDIR/data.bin" || fail "Linux nc to rt"
wait_nc_server 120 >/dev/null
tcp_tap=$(mib_s $(($(now_ns) - t0)))
tcp_veth=$(mib_s "$(linux_tcp "$t" "$v" 10.10.0.2)")

echo "# bench_vxlan: $SIZE MiB per transfer, $COUNT pings per RTT; binaries $RUMP_BIN"
report "ping RTT rump<->rump over VXLAN (vs Linux vxlan)" "$rtt_rump" "$rtt_linux" ms
report "TCP rump->rump over VXLAN (vs Linux vxlan)" "$tcp_rump" "$tcp_linux" MiB/s
report "ping RTT Linux<->rump over tap (vs veth)" "$rtt_tap" "$rtt_veth" ms
report "TCP Linux->rump over tap (vs veth)" "$tcp_tap" "$tcp_veth" MiB/s
