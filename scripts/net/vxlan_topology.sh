#!/usr/bin/env bash
# A topology split over two "hosts" (network namespaces h1 and h2 joined
# by a veth), one `rumpctl net up` per host: bus lan has a [bus.lan]
# vxlan table on both sides, so `net up` starts a bridge for it. Node a
# (h1) reaches node b (h2) through router r (h2), one hop (TTL 63);
# `net down` on each host stops the servers and the bridges and leaves
# no state behind.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_netns
require_tool ping iputils-ping

netns_add h1
h1=$NETNS_NAME
netns_add h2
h2=$NETNS_NAME
netns_link "$h1" 10.99.0.1/24 "$h2" 10.99.0.2/24

cat >"$WORKDIR/h1.toml" <<'TOML'
[bus.lan]
vxlan = { vni = 7, local = "10.99.0.1", peers = ["10.99.0.2"] }

[node.a]
ifaces = ["shmif0 lan 10.7.0.1/24"]
routes = ["default 10.7.0.254"]
TOML
cat >"$WORKDIR/h2.toml" <<'TOML'
[bus.lan]
vxlan = { vni = 7, local = "10.99.0.2", peers = ["10.99.0.1"] }

[node.r]
ifaces = ["shmif0 lan 10.7.0.254/24", "shmif1 far 10.8.0.254/24"]
sysctl = ["net.inet.ip.forwarding=1"]

[node.b]
ifaces = ["shmif0 far 10.8.0.1/24"]
routes = ["default 10.8.0.254"]
TOML
net1=$WORKDIR/net1
net2=$WORKDIR/net2
expect_success "h1: rumpctl net up h1.toml" in_ns "$h1" env -u LD_PRELOAD "$RUMPCTL_BIN" net up -d "$net1" "$WORKDIR/h1.toml"
expect_success "h2: rumpctl net up h2.toml" in_ns "$h2" env -u LD_PRELOAD "$RUMPCTL_BIN" net up -d "$net2" "$WORKDIR/h2.toml"
expect_match "h1: a bridge for lan runs" "bus bridge $net1/bus/lan --vni 7" pgrep -af "bus bridge $net1/"

expect_match "a (h1) pings b (h2) through r (h2), one hop" 'ttl=63.*' \
	rumpctl net exec -d "$net1" a -- "$PING" -c 3 -i 0.2 -W 2 10.8.0.1
expect_match "all 3 answered" '3 packets transmitted, 3 received' echo "$LAST_OUTPUT"
mac_r=$(rumpctl net exec -d "$net2" r -- ifconfig shmif0 | awk '$1 == "ether" { print $2; exit }')
expect_match "r has a MAC ($mac_r)" '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' echo "$mac_r"
expect_match "a's ARP table has r's MAC, learned across the VXLAN" "^10\.7\.0\.254 +ether +$mac_r" \
	rumpctl net exec -d "$net1" a -- arp -n

expect_success "h1: rumpctl net down" rumpctl net down -d "$net1"
expect_success "h2: rumpctl net down" rumpctl net down -d "$net2"
expect_failure "no server or bridge of either host is left" pgrep -f "$WORKDIR/net"
expect_failure "no state is left on either host" ls "$net1/state" "$net2/state"
