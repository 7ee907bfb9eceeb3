#!/usr/bin/env bash
# IPv6 through a router:  a --bus1-- r --bus2-- b
#   a 2001:db8:1::2/64, r 2001:db8:1::1/64 and 2001:db8:2::1/64, b 2001:db8:2::2/64
# Routes with `route -A inet6 add`, forwarding with
# `sysctl -w net.ipv6.conf.all.forwarding=1`: ping -6 crosses r only while
# r forwards, hop limit 1 dies at r with "Time exceeded: Hop limit", 2 is
# enough; routes are deleted again with `route -A inet6 del`.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool ping iputils-ping
require_tool route net-tools
require_tool tcpdump tcpdump

rump_server_start a shmif0 bus1
rump_server_start r shmif0 bus1 shmif1 bus2
rump_server_start b shmif0 bus2
for n in a:shmif0 r:shmif0 r:shmif1 b:shmif0; do
	expect_success "${n%%:*}: ${n#*:} up" rump "${n%%:*}" ifconfig "${n#*:}" up
done
expect_success "a: 2001:db8:1::2/64" rump a ifconfig shmif0 add 2001:db8:1::2/64
expect_success "r: 2001:db8:1::1/64 on bus1" rump r ifconfig shmif0 add 2001:db8:1::1/64
expect_success "r: 2001:db8:2::1/64 on bus2" rump r ifconfig shmif1 add 2001:db8:2::1/64
expect_success "b: 2001:db8:2::2/64" rump b ifconfig shmif0 add 2001:db8:2::2/64
check_route a 2001:db8:1::/64 :: U shmif0
check_route r 2001:db8:2::/64 :: U shmif1
check_route_no_entry a 2001:db8:2::/64

expect_match "a: without a route, b is unreachable" 'unreachable|Unreachable' \
	rump a "$PING" -6 -c 1 -W 1 2001:db8:2::2
[ "$LAST_STATUS" -ne 0 ] || fail "that ping fails" "$LAST_OUTPUT"

expect_success "a: route -A inet6 add 2001:db8:2::/64 gw 2001:db8:1::1" \
	rump a route -A inet6 add 2001:db8:2::/64 gw 2001:db8:1::1
expect_success "b: route -A inet6 add 2001:db8:1::/64 gw 2001:db8:2::1" \
	rump b route -A inet6 add 2001:db8:1::/64 gw 2001:db8:2::1
check_route a 2001:db8:2::/64 2001:db8:1::1 UG shmif0
check_route b 2001:db8:1::/64 2001:db8:2::1 UG shmif0
expect_match "a: /proc/net/ipv6_route has it" \
	'^20010db8000200000000000000000000 40 0+ 00 20010db8000100000000000000000001 .*shmif0$' \
	rump a cat /proc/net/ipv6_route

# Forwarding off.
expect_match "r: IPv6 forwarding is off by default" '= 0$' rump r sysctl net.ipv6.conf.all.forwarding
extract_new_packets bus2 >/dev/null
expect_failure "a cannot reach b while r does not forward" rump a "$PING" -6 -c 2 -i 0.2 -W 1 2001:db8:2::2
expect_no_match "bus2: no echo request crossed r" 'ICMP6, echo request' extract_new_packets bus2

# Forwarding on.
expect_success "r: sysctl -w net.ipv6.conf.all.forwarding=1" rump r sysctl -w net.ipv6.conf.all.forwarding=1
expect_match "r: net.inet6.ip6.forwarding = 1" '^net.inet6.ip6.forwarding = 1$' \
	rumpctl sysctl -s "$(node_url r)" net.inet6.ip6.forwarding
expect_match "a pings b through r" '3 packets transmitted, 3 received' \
	rump a "$PING" -6 -c 3 -i 0.2 -W 2 2001:db8:2::2
expect_match "the replies arrive with hop limit 63" 'ttl=63' echo "$LAST_OUTPUT"
mac_r2=$(get_macaddr r shmif1)
expect_match "bus2: r forwards the echo requests from its bus2 MAC, hop limit 63" \
	"^[0-9.]+ $mac_r2 > .*hlim 63, .*2001:db8:1::2 > 2001:db8:2::2: \\[icmp6 sum ok\\] ICMP6, echo request" \
	extract_new_packets bus2 -v
expect_success "b pings a through r" rump b "$PING" -6 -c 1 -W 2 2001:db8:1::2

# Hop limit 1 dies at r.
expect_match "ping -6 -t 1: Time exceeded from r" \
	'From 2001:db8:1::1 icmp_seq=1 Time exceeded: Hop limit' rump a "$PING" -6 -c 1 -t 1 -W 2 2001:db8:2::2
[ "$LAST_STATUS" -ne 0 ] || fail "ping -6 -t 1 exits non-zero" "$LAST_OUTPUT"
expect_match "bus1: r sends ICMP6 time exceeded to a" \
	'2001:db8:1::1 > 2001:db8:1::2: ICMP6, time exceeded in-transit' extract_new_packets bus1
expect_match "ping -6 -t 2 gets through" '1 packets transmitted, 1 received' \
	rump a "$PING" -6 -c 1 -t 2 -W 2 2001:db8:2::2

# Link-local: a's and r's fe80:: addresses on bus1 answer each other.
ll_r=$(get_linklocal_addr r shmif0)
expect_match "r has a link-local address on shmif0 ($ll_r)" '^fe80::' echo "$ll_r"
expect_success "a pings r's link-local address" rump a "$PING" -6 -c 1 -W 2 "$ll_r%shmif0"

# Deleting the route: unreachable again.
expect_success "a: route -A inet6 del 2001:db8:2::/64 gw 2001:db8:1::1" \
	rump a route -A inet6 del 2001:db8:2::/64 gw 2001:db8:1::1
check_route_no_entry a 2001:db8:2::/64
expect_failure "a cannot reach b any more" rump a "$PING" -6 -c 1 -W 1 2001:db8:2::2
