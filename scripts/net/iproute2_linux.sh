#!/usr/bin/env bash
# iproute2 against Linux itself: the same two-host topology is built twice,
#
#   rump:  a (shmif0) --bus1-- b (shmif0)       two rump_servers on a bus
#   Linux: a (shmif0) --veth-- b (shmif0)       two network namespaces
#
# (the veth ends are named shmif0 too, so names need no mapping), the same
# `ip` commands are applied to both, and what each prints — its status,
# its error text, and `ip -j` views of links, addresses, routes and
# neighbours — must agree once what legitimately differs is normalised
# (see `normalise` below). Needs root for `ip netns`; skipped without it.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool ip iproute2
require_tool jq jq
require_tool ping iputils-ping
[ "$(id -u)" = 0 ] || skip "host lacks root (ip netns needs it)"

NS_A=rumpdiff_a_$$
NS_B=rumpdiff_b_$$
ip netns add "$NS_A" 2>/dev/null || skip "host lacks network namespaces (ip netns add failed)"
ip netns add "$NS_B"
linux_cleanup() {
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
	cleanup
}
trap linux_cleanup EXIT
for ns in "$NS_A" "$NS_B"; do
	# Linux probes a new IPv6 address before using it (DAD), which rump's
	# stack does not: without it Linux's addresses show no "tentative" phase.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
	ip -n "$ns" link set lo up
done
ip -n "$NS_A" link add shmif0 type veth peer name shmif0 netns "$NS_B"

rump_server_start a shmif0 bus1
rump_server_start b shmif0 bus1

ns_of() {
	if [ "$1" = a ]; then echo "$NS_A"; else echo "$NS_B"; fi
}

# normalise: what may differ between a rump kernel and a Linux netns.
#   - the loopback interface is lo0 here and lo on Linux (renamed);
#   - ifindex, MACs and the link-local addresses made from them, and
#     veth's peer fields (link, link_index, link_netnsid) differ by nature
#     (deleted; link-local addresses become fe80::LL);
#   - a shmif interface's alias is the bus file it is attached to, which a
#     veth has not (deleted);
#   - a lifetime that counts down reads differently a second later (a
#     finite valid_life_time/preferred_life_time becomes LEFT, checked
#     separately);
#   - loopback's MTU is 33624 here (NetBSD's) and 65536 on Linux (deleted);
#   - the MACs a neighbour entry learnt are the peer's (become MAC);
#   - Linux dumps neighbours in the order of a randomly keyed hash (sorted).
normalise() {
	sed -e 's/\blo0\b/lo/g' |
		jq -S 'if type == "array" then map(
			del(.ifindex, .link, .link_index, .link_netnsid, .address, .broadcast, .link_type, .ifalias)
			| if .ifname == "lo" then del(.mtu) else . end
			| if .addr_info then .addr_info |= map(
				if (.local // "" | startswith("fe80:")) then .local = "fe80::LL" else . end
				| if (.valid_life_time // 0) < 4294967295 and .valid_life_time then .valid_life_time = "LEFT" else . end
				| if (.preferred_life_time // 0) < 4294967295 and .preferred_life_time then .preferred_life_time = "LEFT" else . end) else . end
			| if (.dst // "" | startswith("fe80:")) then .dst = "fe80::LL" else . end
			| if (.lladdr and (.state | index("PERMANENT") | not)) then .lladdr = "MAC" else . end
		)
		| if (length > 0 and (.[0] | has("state") and has("dst"))) then sort_by(.dst) else . end
		else . end'
}

# both NODE DESC IP-ARGS...: runs `ip IP-ARGS` on NODE's rump kernel and
# in its namespace; their status and output (stderr included) must agree.
both() {
	local node=$1 desc=$2
	shift 2
	_net_capture rump "$node" ip "$@"
	local rs=$LAST_STATUS ro
	ro=$(sed 's/\blo0\b/lo/g' <<<"$LAST_OUTPUT")
	_net_capture ip -n "$(ns_of "$node")" "$@"
	local ls=$LAST_STATUS lo=$LAST_OUTPUT
	[ "$rs" = "$ls" ] && [ "$ro" = "$lo" ] ||
		fail "$node: ip $* — $desc" "rump [exit $rs]:"$'\n'"$ro"$'\n'"Linux [exit $ls]:"$'\n'"$lo"
	ok "$node: ip $* — $desc (exit $rs)"
}

# same_view NODE DESC IP-ARGS...: `ip -j IP-ARGS` agree once normalised.
same_view() {
	local node=$1 desc=$2
	shift 2
	local r l
	r=$(rump "$node" ip -j "$@" 2>&1 | normalise) || fail "$node: ip -j $* (rump)" "$r"
	l=$(ip -n "$(ns_of "$node")" -j "$@" 2>&1 | normalise) || fail "$node: ip -j $* (Linux)" "$l"
	[ "$r" = "$l" ] || fail "$node: ip -j $* — $desc" "$(diff -u <(echo "$l") <(echo "$r") | sed '1s/.*/--- Linux/;2s/.*/+++ rump/')"
	ok "$node: ip -j $* — $desc"
}

note "links"
both a "link up" link set shmif0 up
both b "link up" link set shmif0 up
both a "MTU change" link set shmif0 mtu 1400
both a "MTU too big" link set shmif0 mtu 70000
both a "MTU too small" link set shmif0 mtu 60
both a "no such device" link set nosuch up
same_view a "links agree" link show

note "addresses"
both a "add" addr add 10.0.0.1/24 brd + dev shmif0
both b "add" addr add 10.0.0.2/24 brd + dev shmif0
both a "second address elsewhere" addr add 10.1.0.1/16 dev shmif0
both a "add twice: File exists (ext-ack text)" addr add 10.0.0.1/24 dev shmif0
both a "add v6" addr add fd00::1/64 dev shmif0
both b "add v6" addr add fd00::2/64 dev shmif0
both a "add v6 twice" addr add fd00::1/64 dev shmif0
both a "delete a missing one" addr del 10.3.0.1/24 dev shmif0
both a "delete a missing v6 one" addr del fd00::9/64 dev shmif0
both a "bad prefix length (ip's own check)" addr add 10.0.0.1/33 dev shmif0
same_view a "addresses agree" addr
same_view a "v4 addresses of one device agree" -4 addr show dev shmif0
both a "delete" addr del 10.1.0.1/16 dev shmif0
same_view a "addresses agree after the delete" addr
both a "an address that expires" addr add 10.2.0.1/16 dev shmif0 valid_lft 1000 preferred_lft 0
same_view a "it is dynamic and deprecated on both" -4 addr show dev shmif0
expect_match "rump a: its valid lifetime counts down from 1000 s" 'valid_lft (99[0-9]|1000)sec preferred_lft 0sec' \
	rump a ip -4 addr show dev shmif0
both a "made permanent" addr replace 10.2.0.1/16 dev shmif0 valid_lft forever preferred_lft forever
same_view a "addresses agree after the replace" -4 addr show dev shmif0
both a "an address that expires in 1 s" addr add 10.3.0.1/16 dev shmif0 valid_lft 1 preferred_lft 1
pause_for 2.5
same_view a "it is gone on both after 2.5 s" -4 addr show dev shmif0
both a "delete the permanent one" addr del 10.2.0.1/16 dev shmif0

note "routes"
both a "via a gateway" route add 10.9.0.0/16 via 10.0.0.2
both a "again: File exists" route add 10.9.0.0/16 via 10.0.0.2
both a "via an unreachable gateway" route add 10.8.0.0/16 via 10.5.0.254
both a "host bits set" route add 10.7.0.5/16 dev shmif0
both a "device route" route add 10.7.0.0/16 dev shmif0
both a "default" route add default via 10.0.0.2
both a "replace" route replace 10.9.0.0/16 via 10.0.0.3
both a "change a missing one" route change 10.77.0.0/16 via 10.0.0.4
both a "v6 via a gateway" route add fd09::/64 via fd00::2
both a "v6 via an unreachable gateway" route add fd08::/64 via fd07::1
same_view a "v4 routes agree" route
same_view a "v6 routes agree" -6 route
same_view a "local table agrees" route show table local
both a "route get via a gateway" route get 10.9.1.1
both a "route get on the link" route get 10.0.0.2
both a "route get of a local address" route get 10.0.0.1
both a "delete" route del 10.7.0.0/16
both a "delete again: No such process" route del 10.7.0.0/16
same_view a "v4 routes agree after the delete" route

note "neighbours"
both a "permanent entry" neigh add 10.0.0.7 lladdr 02:00:00:00:00:07 dev shmif0 nud permanent
both a "again: File exists" neigh add 10.0.0.7 lladdr 02:00:00:00:00:07 dev shmif0 nud permanent
both a "replace" neigh replace 10.0.0.7 lladdr 02:00:00:00:00:08 dev shmif0 nud permanent
expect_success "rump a: ping b" rump a "$PING" -c 1 -W 2 10.0.0.2
expect_success "Linux a: ping b" ip netns exec "$NS_A" "$PING" -c 1 -W 2 10.0.0.2
same_view a "neighbours agree (the peer learnt by the ping is REACHABLE)" -4 neigh
both a "delete a missing entry" neigh del 10.0.0.99 dev shmif0
both a "delete" neigh del 10.0.0.7 dev shmif0
both a "flush" neigh flush dev shmif0
same_view a "neighbours agree after the flush" -4 neigh

note "ip monitor"
# A monitor in one process sees the address another adds and deletes,
# as Linux's does (interface numbers differ: cut).
monitor() {
	"$@" monitor address route >"$WORKDIR/state/monitor.out" 2>&1 &
	local pid=$!
	sleep 0.5
	"$@" addr add 10.0.0.42/24 dev shmif0
	"$@" addr del 10.0.0.42/24 dev shmif0
	sleep 0.5
	kill "$pid"
	wait "$pid" 2>/dev/null
	sed -e 's/^\(Deleted \)\?[0-9]*: /\1/' -e 's/\blo0\b/lo/g' "$WORKDIR/state/monitor.out"
}
rump_monitor=$(monitor rump b ip)
linux_monitor=$(monitor ip -n "$NS_B")
expect_match "rump b: ip monitor printed the address added" '^shmif0 +inet 10\.0\.0\.42/24 scope global secondary shmif0|^shmif0 +inet 10\.0\.0\.42/24' echo "$rump_monitor"
expect_equal "ip monitor prints what Linux's prints" "$linux_monitor" "$rump_monitor"

note "ss"
# The same sockets in both worlds: on b a TCP listener with one connection
# from a, a TCP listener on v6, a bound UDP socket; then `ss` on each side.
# Ephemeral ports differ by nature (become EPH); Linux lists sockets in
# hash order (lines sorted); column padding follows the widest entry
# (blanks squeezed).
ss_view() {
	sed -E -e 's/:(3[2-9][0-9]{3}|[4-5][0-9]{4}|60[0-9]{3})\b/:EPH/g' -e 's/[[:space:]]+/ /g' | sort
}
rump_bg b nc -l 10.0.0.2 5001 >/dev/null 2>&1
rump_bg b nc -6 -l fd00::2 5003 >/dev/null 2>&1
rump_bg b nc -u -l 10.0.0.2 5002 >/dev/null 2>&1
for args in "-l 10.0.0.2 5001" "-6 -l fd00::2 5003" "-u -l 10.0.0.2 5002"; do
	# shellcheck disable=SC2086
	ip netns exec "$NS_B" nc $args >/dev/null 2>&1 &
	NET_BG_PIDS+=("$!")
done
sleep 0.5
rump_bg a nc 10.0.0.2 5001 < <(sleep 20) >/dev/null 2>&1
ip netns exec "$NS_A" nc 10.0.0.2 5001 < <(sleep 20) >/dev/null 2>&1 &
NET_BG_PIDS+=("$!")
sleep 0.5
for args in -tanH -tlnH -uanH -tuanH "-tanH state established" "-6 -tlnH"; do
	# shellcheck disable=SC2086
	r=$(rump b ss $args 2>&1 | ss_view)
	# shellcheck disable=SC2086
	l=$(ip netns exec "$NS_B" ss $args 2>&1 | ss_view)
	expect_equal "b: ss $args lists what Linux's lists" "$l" "$r"
done
r=$(rump a ss -tanH 2>&1 | ss_view)
l=$(ip netns exec "$NS_A" ss -tanH 2>&1 | ss_view)
expect_equal "a: ss -tanH lists the connection as Linux's does" "$l" "$r"

note "ICMP datagram sockets"
# socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) is for the groups of
# net.ipv4.ping_group_range (per namespace on Linux, per kernel here).
ping_socket='import socket
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    print("made")
except OSError as e:
    print(e.strerror)'
in_both() { # DESC CMD...: CMD prints the same on a's kernel and in a's namespace
	local desc=$1 r l
	shift
	r=$(rump a "$@" 2>&1)
	l=$(ip netns exec "$NS_A" "$@" 2>&1)
	expect_equal "a: $desc" "$l" "$r"
}
in_both "the default range admits nobody" python3 -c "$ping_socket"
in_both "/proc/sys/net/ipv4/ping_group_range says so" cat /proc/sys/net/ipv4/ping_group_range
in_both "writing 0 0" sh -c 'echo "0 0" > /proc/sys/net/ipv4/ping_group_range; cat /proc/sys/net/ipv4/ping_group_range'
in_both "now root's group may make one" python3 -c "$ping_socket"
expect_match "rump a: ping over an ICMP datagram socket" '1 received' rump a "$PING" -c 1 -W 2 10.0.0.2
in_both "a range upside down admits nobody again" sh -c 'echo "5 2" > /proc/sys/net/ipv4/ping_group_range; cat /proc/sys/net/ipv4/ping_group_range'

note "flush and down"
both a "an unknown link type" link add foo type bogus
both a "address flush" addr flush dev shmif0
same_view a "addresses agree after the flush" addr
both a "link down" link set shmif0 down
same_view a "links agree" link show
# Not compared: the routes through a link taken down. Linux deletes them;
# the stack keeps them, unused until the link is up again (NetBSD's way).
