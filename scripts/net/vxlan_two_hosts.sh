#!/usr/bin/env bash
# One bus spanning two "hosts" over VXLAN: hosts h1 and h2 are network
# namespaces joined by a veth pair; each has its own bus file and a rump
# node on it, and `rumpctl bus bridge` in each namespace joins its bus to
# VXLAN segment 42 with the other host as peer. The nodes ping, carry
# 10 MiB over TCP intact, and learn each other's MAC by ARP across.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_netns
require_tool ping iputils-ping
require_tool nc netcat-openbsd

netns_add h1
h1=$NETNS_NAME
netns_add h2
h2=$NETNS_NAME
netns_link "$h1" 10.99.0.1/24 "$h2" 10.99.0.2/24
bus_bridge "$h1" b1h1 --vni 42 --local 10.99.0.1 --peer 10.99.0.2
bus_bridge "$h2" b1h2 --vni 42 --local 10.99.0.2 --peer 10.99.0.1

rump_server_start a shmif0 b1h1
rump_server_start b shmif0 b1h2
expect_success "a: shmif0 10.0.0.1/24 up" rump a ifconfig shmif0 10.0.0.1 netmask 255.255.255.0 up
expect_success "b: shmif0 10.0.0.2/24 up" rump b ifconfig shmif0 10.0.0.2 netmask 255.255.255.0 up

expect_match "a pings b across the VXLAN" '3 packets transmitted, 3 received, 0% packet loss' \
	rump a "$PING" -c 3 -i 0.2 -W 2 10.0.0.2
expect_match "a's ARP table has b's MAC, learned across" "^10\.0\.0\.2 +ether +$(get_macaddr b shmif0) +C +shmif0" \
	rump a arp -n
expect_match "b's ARP table has a's MAC" "^10\.0\.0\.1 +ether +$(get_macaddr a shmif0) +C +shmif0" rump b arp -n
expect_match "the VXLAN packets crossed the veth (h2 received UDP to 4789)" '[1-9]' \
	sh -c "ip -n $h2 -s link show veth0 | awk '/RX:/ { getline; print \$2 }'"

make_file "$WORKDIR/a2b.bin" $((10 * 1024 * 1024))
start_nc_server b 5000 "$WORKDIR/a2b.got"
expect_success "a sends 10 MiB to b:5000" rump a nc -N 10.0.0.2 5000 <"$WORKDIR/a2b.bin"
wait_nc_server 60
expect_equal "b received the 10 MiB intact (sha256)" "$(sha256_of "$WORKDIR/a2b.bin")" "$(sha256_of "$WORKDIR/a2b.got")"
