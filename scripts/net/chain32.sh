#!/usr/bin/env bash
# A chain of 32 routers, 34 kernels in all, brought up by `rumpctl net up`
# from one range table (chain32.toml):
#
#   a --c0-- r1 --c1-- r2 -- ... -- r32 --c32-- b (10.200.0.1 on bus stub)
#
# a pings b end to end (replies arrive with TTL 64 - 32 = 32); TTL 32
# dies at the last router and TTL 33 gets through; `rumpctl net status`
# lists every node running; `rumpctl net down` leaves no rump_server.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool ping iputils-ping
require_tool tcpdump tcpdump

topo=$(dirname "$0")/chain32.toml
net_up "$topo"

expect_success "rumpctl net status" rumpctl net status -d "$NET_DIR"
status=$LAST_OUTPUT
# The servers' table: NODE PID STATE SERVER, up to the first blank line.
servers=$(awk 'NR > 1 && NF == 0 { exit } NR > 1 { print }' <<<"$status")
expect_equal "status lists 34 nodes" 34 "$(grep -c . <<<"$servers")"
expect_equal "status lists a, r1 .. r32, b in order" \
	"a $(seq -f 'r%g' 1 32 | xargs) b" "$(awk '{ print $1 }' <<<"$servers" | xargs)"
expect_equal "every node is running" 34 "$(awk '$3 == "running"' <<<"$servers" | grep -c .)"
pids=$(awk '{ print $2 }' <<<"$servers" | xargs)
for pid in $pids; do
	_net_alive "$pid" || fail "server pid $pid from net status is alive"
done
ok "the 34 server pids net status shows are alive"
expect_match "status: r17 sits between c16 and c17" \
	'^r17 +shmif0 +c16 +b2:a0:.* 10\.0\.16\.2/24 .*' echo "$status"
expect_match "status: r17's route to 10.200.0.0/24 goes via 10.0.17.2" \
	'^r17 +10\.200\.0\.0/24 +10\.0\.17\.2 +shmif1' echo "$status"

# The node URL and bus path lookups.
expect_match "rumpctl net url r5" "^unix://.*r5\$" rumpctl net url -d "$NET_DIR" r5
expect_match "rumpctl net bus c5" "c5\$" rumpctl net bus -d "$NET_DIR" c5
expect_success "the c5 bus file exists" test -f "$(bus_path c5)"
check_route r5 default 10.0.4.1 UG shmif0
check_route r5 10.200.0.0/24 10.0.5.2 UG shmif1
expect_match "r5 forwards (net.inet.ip.forwarding=1 from the topology)" '= 1$' \
	rumpctl sysctl -s "$(node_url r5)" net.inet.ip.forwarding

# End to end, through `rumpctl net exec` and through the library's rump.
expect_match "a pings 10.200.0.1 across 32 routers (rumpctl net exec)" \
	'1 packets transmitted, 1 received' rumpctl net exec -d "$NET_DIR" a -- "$PING" -c 1 -W 5 10.200.0.1
expect_match "the reply arrives with TTL 32 (64 - 32 hops)" 'ttl=32 ' echo "$LAST_OUTPUT"
expect_match "a pings it 3 more times (rump a ping)" '3 packets transmitted, 3 received' \
	rump a "$PING" -c 3 -i 0.2 -W 5 10.200.0.1
expect_match "b pings a back, from 10.200.0.1 (ping -I)" '1 received' rump b "$PING" -c 1 -W 5 -I 10.200.0.1 10.0.0.1
expect_match "ping -t 32 dies at r32 (10.0.31.2): Time to live exceeded" \
	'From 10\.0\.31\.2 icmp_seq=1 Time to live exceeded' rump a "$PING" -c 1 -t 32 -W 5 10.200.0.1
expect_match "ping -t 33 gets through" '1 received' rump a "$PING" -c 1 -t 33 -W 5 10.200.0.1

# The middle of the chain saw it: c16 carries a's echo requests with TTL
# 64 - 16 = 48.
expect_match "bus c16: a's echo request passes with TTL 48" \
	'ttl 48, .*10\.0\.0\.1 > 10\.200\.0\.1: ICMP echo request' bus_text c16 -v
expect_match "status now counts frames sent on c16" '^c16 +[1-9][0-9]* ' rumpctl net status -d "$NET_DIR"

# Down: every server exits.
net_down
expect_match "net down stopped 34 nodes" '34 nodes stopped' echo "$LAST_OUTPUT"
still=""
for pid in $pids; do
	_net_alive "$pid" && still+=" $pid"
done
expect_equal "none of the 34 server pids is running after net down" "" "$still"
expect_equal "no process names the network directory" "" \
	"$(pgrep -f -- "$NET_DIR/" | xargs)"
expect_failure "net status says no network is up" rumpctl net status -d "$NET_DIR"
