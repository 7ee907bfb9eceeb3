#!/usr/bin/env bash
# A rump bus joined over VXLAN to Linux's own `vxlan` device: host h1
# runs `rumpctl bus bridge` for bus b1 (VNI 42); host h2 has
# `ip link add vx0 type vxlan id 42 ...` in a Linux bridge with a veth to
# namespace l, where Linux has 10.50.0.1. The rump node (10.50.0.2 on b1)
# and Linux in l ping each other, full-size frames included, and h2's
# vxlan learned the rump node's MAC behind h1.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_netns
require_tool ping iputils-ping
require_tool bridge iproute2

netns_add h1
h1=$NETNS_NAME
netns_add h2
h2=$NETNS_NAME
netns_add l
l=$NETNS_NAME
netns_link "$h1" 10.99.0.1/24 "$h2" 10.99.0.2/24
expect_success "h2: vx0 (VNI 42, remote h1) and l's veth in bridge br0" sh -c "
	ip -n $h2 link add vx0 type vxlan id 42 local 10.99.0.2 remote 10.99.0.1 dstport 4789 dev veth0 &&
	ip -n $h2 link add br0 type bridge &&
	ip link add veth1 netns $h2 type veth peer name veth0 netns $l &&
	ip -n $h2 link set vx0 master br0 && ip -n $h2 link set veth1 master br0 &&
	ip -n $h2 link set vx0 up && ip -n $h2 link set veth1 up && ip -n $h2 link set br0 up &&
	ip -n $l addr add 10.50.0.1/24 dev veth0 && ip -n $l link set veth0 up"
bus_bridge "$h1" b1 --vni 42 --local 10.99.0.1 --peer 10.99.0.2

rump_server_start r shmif0 b1
expect_success "r: shmif0 10.50.0.2/24 up" rump r ifconfig shmif0 10.50.0.2 netmask 255.255.255.0 up
expect_match "r pings Linux in l" '3 packets transmitted, 3 received, 0% packet loss' \
	rump r "$PING" -c 3 -i 0.2 -W 2 10.50.0.1
expect_match "Linux in l pings r" '3 packets transmitted, 3 received, 0% packet loss' \
	in_ns "$l" ping -c 3 -i 0.2 -W 2 10.50.0.2
# VXLAN adds 50 bytes: Linux gives vx0 an MTU of 1450 on a 1500-byte
# underlay. With 1550 underneath, vx0 carries 1500-byte packets as the
# rump bus does (1472 bytes of ICMP payload make one).
expect_success "underlay MTU 1550, vx0 MTU 1500" sh -c "
	ip -n $h1 link set veth0 mtu 1550 && ip -n $h2 link set veth0 mtu 1550 && ip -n $h2 link set vx0 mtu 1500"
expect_match "Linux in l pings r with full-size packets" '2 packets transmitted, 2 received, 0% packet loss' \
	in_ns "$l" ping -c 2 -i 0.2 -W 2 -s 1472 10.50.0.2
mac_r=$(get_macaddr r shmif0)
expect_match "h2's vx0 learned r's MAC behind h1" "^$mac_r dst 10.99.0.1" bridge -n "$h2" fdb show dev vx0
expect_match "l's neighbour table has r's MAC" "10.50.0.2 dev veth0 lladdr $mac_r" ip -n "$l" neigh show 10.50.0.2
