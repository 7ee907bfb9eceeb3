#!/usr/bin/env bash
# A router between two buses:  a --bus1-- r --bus2-- b
# Pings from a to b cross r only while r forwards; a ping with TTL 1 dies
# at r, which says so ("Time to live exceeded" from 10.0.1.1), and TTL 2
# is just enough.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool ping iputils-ping
require_tool tcpdump tcpdump

rump_server_start a shmif0 bus1
rump_server_start r shmif0 bus1 shmif1 bus2
rump_server_start b shmif0 bus2
expect_success "a: 10.0.1.2/24" rump a ifconfig shmif0 10.0.1.2 netmask 255.255.255.0 up
expect_success "r: 10.0.1.1/24 on bus1" rump r ifconfig shmif0 10.0.1.1 netmask 255.255.255.0 up
expect_success "r: 10.0.2.1/24 on bus2" rump r ifconfig shmif1 10.0.2.1 netmask 255.255.255.0 up
expect_success "b: 10.0.2.2/24" rump b ifconfig shmif0 10.0.2.2 netmask 255.255.255.0 up
expect_success "a: default route via r" rump a route add default gw 10.0.1.1
expect_success "b: default route via r" rump b route add default gw 10.0.2.1
check_route a default 10.0.1.1 UG shmif0
check_route b default 10.0.2.1 UG shmif0
check_route r 10.0.1.0/24 0.0.0.0 U shmif0
check_route r 10.0.2.0/24 0.0.0.0 U shmif1

# Forwarding off (the default of a host).
expect_match "r: forwarding is off by default" '= 0$' rumpctl sysctl -s "$(node_url r)" net.inet.ip.forwarding
expect_success "a reaches r's near address" rump a "$PING" -c 1 -W 2 10.0.1.1
expect_success "a reaches r's far address (a local address of r)" rump a "$PING" -c 1 -W 2 10.0.2.1
extract_new_packets bus2 >/dev/null
expect_failure "a cannot reach b while r does not forward" rump a "$PING" -c 2 -i 0.2 -W 1 10.0.2.2
expect_match "the echo requests were lost at r (0 received)" ', 0 received' echo "$LAST_OUTPUT"
expect_no_match "bus2: no echo request crossed r" 'ICMP echo request' extract_new_packets bus2

# Forwarding on, with Linux's sysctl name; NetBSD's name reads it back.
expect_success "r: sysctl -w net.ipv4.ip_forward=1" rump r sysctl -w net.ipv4.ip_forward=1
expect_match "r: net.inet.ip.forwarding = 1" '^net.inet.ip.forwarding = 1$' \
	rumpctl sysctl -s "$(node_url r)" net.inet.ip.forwarding
expect_match "a pings b through r" '3 packets transmitted, 3 received' \
	rump a "$PING" -c 3 -i 0.2 -W 2 10.0.2.2
expect_match "the replies come back with TTL 63 (one hop)" 'ttl=63' echo "$LAST_OUTPUT"
expect_match "bus2: r forwards the echo requests with TTL 63" \
	'ttl 63, .*proto ICMP .*10\.0\.1\.2 > 10\.0\.2\.2: ICMP echo request' extract_new_packets bus2 -v
expect_match "b pings a through r" '1 received' rump b "$PING" -c 1 -W 2 10.0.1.2

# TTL 1 dies at r.
expect_match "ping -t 1: Time to live exceeded, from r" \
	'From 10\.0\.1\.1 icmp_seq=1 Time to live exceeded' rump a "$PING" -c 1 -t 1 -W 2 10.0.2.2
[ "$LAST_STATUS" -ne 0 ] || fail "ping -t 1 exits non-zero" "$LAST_OUTPUT"
expect_match "bus1: r sends ICMP time exceeded to a" \
	'10\.0\.1\.1 > 10\.0\.1\.2: ICMP time exceeded in-transit' extract_new_packets bus1
expect_match "ping -t 2 gets through" '1 packets transmitted, 1 received' \
	rump a "$PING" -c 1 -t 2 -W 2 10.0.2.2
expect_match "the TTL 2 reply comes back with TTL 63" 'ttl=63' echo "$LAST_OUTPUT"

# Off again: the traffic stops.
expect_success "r: forwarding off again (NetBSD's name)" rumpctl sysctl -s "$(node_url r)" -w net.inet.ip.forwarding=0
expect_failure "a cannot reach b any more" rump a "$PING" -c 1 -W 1 10.0.2.2
