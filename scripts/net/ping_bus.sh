#!/usr/bin/env bash
# Two kernels on one shmif bus: ping works, and the bus carries exactly
# what a first ping should put on an Ethernet: ARP request and reply, then
# ICMP echo request and reply, between the interfaces' own MACs.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool ping iputils-ping
require_tool tcpdump tcpdump

rump_server_start a shmif0 bus1
rump_server_start b shmif0 bus1
expect_success "a: shmif0 10.0.0.1/24 up" rump a ifconfig shmif0 10.0.0.1 netmask 255.255.255.0 up
expect_success "b: shmif0 10.0.0.2/24 up" rump b ifconfig shmif0 10.0.0.2 netmask 255.255.255.0 up
mac_a=$(get_macaddr a shmif0)
mac_b=$(get_macaddr b shmif0)
expect_match "a and b have shmif MACs ($mac_a, $mac_b)" '^b2:a0:([0-9a-f]{2}:){3}[0-9a-f]{2} b2:a0:' echo "$mac_a $mac_b"
[ "$mac_a" != "$mac_b" ] || fail "a and b have different MACs"

# What configuring the addresses sent (if anything) is not the ping's.
extract_new_packets bus1 >"$WORKDIR/before.txt"
expect_no_match "no IPv4 traffic on bus1 before the ping" 'IPv4' cat "$WORKDIR/before.txt"

expect_match "a pings b: 3 sent, 3 received" '3 packets transmitted, 3 received, 0% packet loss' \
	rump a "$PING" -c 3 -i 0.2 -W 2 10.0.0.2
[ "$LAST_STATUS" -eq 0 ] || fail "ping exit status 0" "$LAST_OUTPUT"

extract_new_packets bus1 >"$WORKDIR/ping.txt"
pk() { cat "$WORKDIR/ping.txt"; }
expect_match "bus1: a asks who has 10.0.0.2, broadcast from its MAC" \
	"$mac_a > ff:ff:ff:ff:ff:ff, ethertype ARP .*Request who-has 10.0.0.2 tell 10.0.0.1" pk
expect_match "bus1: b answers with its MAC, to a" \
	"$mac_b > $mac_a, ethertype ARP .*Reply 10.0.0.2 is-at $mac_b" pk
expect_match "bus1: echo request 10.0.0.1 > 10.0.0.2 to b's MAC" \
	"$mac_a > $mac_b, ethertype IPv4 .*10.0.0.1 > 10.0.0.2: ICMP echo request, id [0-9]+, seq 3" pk
expect_match "bus1: echo reply 10.0.0.2 > 10.0.0.1 to a's MAC" \
	"$mac_b > $mac_a, ethertype IPv4 .*10.0.0.2 > 10.0.0.1: ICMP echo reply, id [0-9]+, seq 3" pk
n_req=$(grep -c 'ICMP echo request' "$WORKDIR/ping.txt")
n_rep=$(grep -c 'ICMP echo reply' "$WORKDIR/ping.txt")
n_arp=$(grep -c 'ARP' "$WORKDIR/ping.txt")
expect_equal "bus1: 3 echo requests, 3 replies, one ARP exchange" "3 3 2" "$n_req $n_rep $n_arp"

# The ARP entry is cached: a second ping goes out without asking again,
# and extract_new_packets shows only the new frames.
expect_success "a pings b once more" rump a "$PING" -c 1 -W 2 10.0.0.2
extract_new_packets bus1 >"$WORKDIR/again.txt"
expect_equal "bus1: only the new echo request and reply are new" "2" "$(grep -c . "$WORKDIR/again.txt")"
expect_no_match "bus1: no new ARP (the entry is cached)" 'ARP' cat "$WORKDIR/again.txt"
expect_match "a's ARP table has b" "^10\.0\.0\.2 +ether +$mac_b +C +shmif0" rump a arp -n
