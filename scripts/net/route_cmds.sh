#!/usr/bin/env bash
# net-tools route on a host with two interfaces, each on a bus with a
# gateway behind it:
#
#   g1 (10.0.1.254; owns 10.9.1.1/24 on stub1) --bus1-- a --bus2-- g2 (10.0.2.254; owns 10.9.9.9/24 on stub2)
#
# Routes are added and deleted and read back with check_route. Which
# route a destination takes is shown by traffic — the bus the packet
# appears on, and the MAC it is addressed to — and by iproute2's `ip route
# get`, which asks the kernel's own lookup over netlink (net-tools has no
# `route get`).
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool ping iputils-ping
require_tool route net-tools
require_tool netstat net-tools
require_tool tcpdump tcpdump

rump_server_start a shmif0 bus1 shmif1 bus2
rump_server_start g1 shmif0 bus1 shmif1 stub1
rump_server_start g2 shmif0 bus2 shmif1 stub2
expect_success "a: shmif0 10.0.1.1/24" rump a ifconfig shmif0 10.0.1.1 netmask 255.255.255.0 up
expect_success "a: shmif1 10.0.2.1/24" rump a ifconfig shmif1 10.0.2.1 netmask 255.255.255.0 up
expect_success "g1: 10.0.1.254/24" rump g1 ifconfig shmif0 10.0.1.254 netmask 255.255.255.0 up
expect_success "g1: 10.9.1.1/24 behind it" rump g1 ifconfig shmif1 10.9.1.1 netmask 255.255.255.0 up
expect_success "g2: 10.0.2.254/24" rump g2 ifconfig shmif0 10.0.2.254 netmask 255.255.255.0 up
expect_success "g2: 10.9.9.9/24 behind it" rump g2 ifconfig shmif1 10.9.9.9 netmask 255.255.255.0 up
mac_g1=$(get_macaddr g1 shmif0)
mac_g2=$(get_macaddr g2 shmif0)

# The interface routes the addresses made.
check_route a 10.0.1.0/24 0.0.0.0 U shmif0
check_route a 10.0.2.0/24 0.0.0.0 U shmif1
check_route_no_entry a default
check_route_no_entry a 10.9.0.0/16
check_route_no_entry a 10.9.9.9
expect_match "a: without a route, 10.9.9.9 is unreachable" 'Network is unreachable' \
	rump a "$PING" -c 1 -W 1 10.9.9.9
[ "$LAST_STATUS" -ne 0 ] || fail "that ping fails" "$LAST_OUTPUT"

# A gateway that is not on a connected network is refused.
expect_failure "a: route add via an unreachable gateway (192.168.7.1) is refused" \
	rump a route add -net 10.50.0.0 netmask 255.255.0.0 gw 192.168.7.1
expect_match "that refusal says Network is unreachable" 'Network is unreachable' echo "$LAST_OUTPUT"
check_route_no_entry a 10.50.0.0/16

# A net route via g1 and a more specific host route via g2.
expect_success "a: route add -net 10.9.0.0/16 gw 10.0.1.254" \
	rump a route add -net 10.9.0.0 netmask 255.255.0.0 gw 10.0.1.254
expect_success "a: route add -host 10.9.9.9 gw 10.0.2.254" rump a route add -host 10.9.9.9 gw 10.0.2.254
check_route a 10.9.0.0/16 10.0.1.254 UG shmif0
check_route a 10.9.9.9 10.0.2.254 UGH shmif1
expect_match "a: ip route get 10.9.9.9 takes the host route" \
	'^10\.9\.9\.9 via 10\.0\.2\.254 dev shmif1 src 10\.0\.2\.1 ' rump a ip route get 10.9.9.9
expect_match "a: ip route get 10.9.1.1 takes the /16" \
	'^10\.9\.1\.1 via 10\.0\.1\.254 dev shmif0 src 10\.0\.1\.1 ' rump a ip route get 10.9.1.1
expect_match "a: netstat -rn agrees on the host route" '^10\.9\.9\.9 +10\.0\.2\.254 +255\.255\.255\.255 +UGH .* shmif1$' \
	rump a netstat -rn
expect_match "a: /proc/net/route has the host route (flags 0007 = U|G|H)" \
	'^shmif1[[:space:]]+0909090A[[:space:]]+FE02000A[[:space:]]+0007[[:space:]]' rump a cat /proc/net/route
expect_failure "a: adding the same host route twice is refused" rump a route add -host 10.9.9.9 gw 10.0.2.254

# Which route is used: the longest prefix.
extract_new_packets bus1 >/dev/null
extract_new_packets bus2 >/dev/null
expect_success "a pings 10.9.9.9 (host route, via g2)" rump a "$PING" -c 1 -W 2 10.9.9.9
expect_match "bus2: the echo request went to g2's MAC" \
	"> $mac_g2, ethertype IPv4 .*10\\.0\\.2\\.1 > 10\\.9\\.9\\.9: ICMP echo request" extract_new_packets bus2
expect_no_match "bus1: nothing for 10.9.9.9" '10\.9\.9\.9' extract_new_packets bus1
expect_success "a pings 10.9.1.1 (net route, via g1)" rump a "$PING" -c 1 -W 2 10.9.1.1
expect_match "bus1: the echo request went to g1's MAC" \
	"> $mac_g1, ethertype IPv4 .*10\\.0\\.1\\.1 > 10\\.9\\.1\\.1: ICMP echo request" extract_new_packets bus1
expect_no_match "bus2: nothing for 10.9.1.1" '10\.9\.1\.1' extract_new_packets bus2

# Deleting the host route: 10.9.9.9 now follows the net route to g1,
# which does not have it (and does not forward), so the ping fails.
expect_success "a: route del -host 10.9.9.9" rump a route del -host 10.9.9.9
check_route_no_entry a 10.9.9.9
check_route a 10.9.0.0/16 10.0.1.254 UG shmif0
expect_failure "a: 10.9.9.9 is not answered via g1" rump a "$PING" -c 1 -W 1 10.9.9.9
expect_match "bus1: the echo request for 10.9.9.9 went to g1's MAC instead" \
	"> $mac_g1, ethertype IPv4 .*10\\.0\\.1\\.1 > 10\\.9\\.9\\.9: ICMP echo request" extract_new_packets bus1
expect_failure "a: deleting it again fails (no such route)" rump a route del -host 10.9.9.9

# A host route straight onto an interface (no gateway): a asks on bus2
# for the address itself.
expect_success "a: route add -host 10.0.3.3 dev shmif1" rump a route add -host 10.0.3.3 dev shmif1
check_route a 10.0.3.3 0.0.0.0 UH shmif1
expect_failure "a: ping 10.0.3.3 (nobody has it)" rump a "$PING" -c 1 -W 1 10.0.3.3
expect_match "bus2: a asks who has 10.0.3.3" 'Request who-has 10\.0\.3\.3 tell 10\.0\.2\.1' extract_new_packets bus2

# A default route via g2: 10.9.1.1 still follows the /16 to g1 (the
# longer prefix wins); once the /16 is gone, everything off-link goes to
# g2, which answers for 10.9.9.9 but not for 10.9.1.1.
expect_success "a: route add default gw 10.0.2.254" rump a route add default gw 10.0.2.254
check_route a default 10.0.2.254 UG shmif1
expect_success "a reaches 10.9.1.1 by the /16 rather than the default" rump a "$PING" -c 1 -W 2 10.9.1.1
expect_success "a: route del -net 10.9.0.0/16" rump a route del -net 10.9.0.0 netmask 255.255.0.0
check_route_no_entry a 10.9.0.0/16
extract_new_packets bus2 >/dev/null
expect_success "a pings 10.9.9.9 by the default route" rump a "$PING" -c 1 -W 2 10.9.9.9
expect_failure "a: 10.9.1.1 is not answered via g2" rump a "$PING" -c 1 -W 1 10.9.1.1
expect_match "bus2: the echo request for 10.9.1.1 went to g2's MAC" \
	"> $mac_g2, ethertype IPv4 .*10\\.0\\.2\\.1 > 10\\.9\\.1\\.1: ICMP echo request" extract_new_packets bus2
expect_success "a: route del default" rump a route del default
expect_success "a: route del -host 10.0.3.3" rump a route del -host 10.0.3.3 dev shmif1
check_route_no_entry a default
check_route_no_entry a 10.0.3.3
expect_equal "a: the table is back to its two interface routes and lo0" \
	"10.0.1.0 10.0.2.0 127.0.0.0" "$(rump a route -n | awk 'NR > 2 { print $1 }' | sort | xargs)"
