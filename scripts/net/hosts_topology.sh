#!/usr/bin/env bash
# One topology file across two "hosts" (network namespaces h1 and h2
# joined by a veth), brought up by one `rumpctl net up`: [host.NAME]
# tables say how to run a command on each host (here `ip netns exec`; on
# real machines `ssh user@host`) and its VXLAN address. Bus lan has nodes
# on both hosts, so each host's share bridges it over VXLAN. a (h1)
# reaches b (h2) through router r (h2) (ping and traceroute); status and exec work across
# hosts; down leaves nothing on either. A host whose command fails is
# reported by name, and the other host is brought down again.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_netns
require_tool ping iputils-ping
require_tool traceroute traceroute

netns_add h1
h1=$NETNS_NAME
netns_add h2
h2=$NETNS_NAME
netns_link "$h1" 10.99.0.1/24 "$h2" 10.99.0.2/24

cat >"$WORKDIR/two.toml" <<TOML
[host.h1]
run = "ip netns exec $h1"
addr = "10.99.0.1"

[host.h2]
run = "ip netns exec $h2"
addr = "10.99.0.2"

[node.a]
host = "h1"
ifaces = ["shmif0 lan 10.7.0.1/24"]
routes = ["default 10.7.0.254"]

[node.r]
host = "h2"
ifaces = ["shmif0 lan 10.7.0.254/24", "shmif1 far 10.8.0.254/24"]
sysctl = ["net.inet.ip.forwarding=1"]

[node.b]
host = "h2"
ifaces = ["shmif0 far 10.8.0.1/24"]
routes = ["default 10.8.0.254"]
TOML
net=$WORKDIR/net
NET_DIR=$net # cleanup brings it down if the script fails
expect_success "rumpctl net up two.toml (2 hosts)" rumpctl net up -d "$net" "$WORKDIR/two.toml"
expect_match "h1 runs a bridge for lan" "bus bridge $net/hosts/h1/bus/lan --vni 1" pgrep -af "bus bridge $net/"
expect_match "h2 runs a bridge for lan" "bus bridge $net/hosts/h2/bus/lan --vni 1" pgrep -af "bus bridge $net/"
expect_match "a's server runs in h1's namespace" "$h1" sh -c \
	"ip netns identify \$(pgrep -f 'rump_server -s unix://$net/hosts/h1/sock/a\$')"
expect_match "status shows host h1 and node a" '^== host h1 ==$' rumpctl net status -d "$net"
expect_match "status shows host h2" '^== host h2 ==$' echo "$LAST_OUTPUT"
expect_match "status shows node b running on h2" '^b +[0-9]+ +running ' echo "$LAST_OUTPUT"
expect_match "a (h1) pings b (h2) through r (h2), one hop" 'ttl=63' \
	rumpctl net exec -d "$net" a -- "$PING" -c 3 -i 0.2 -W 2 10.8.0.1
expect_match "all 3 answered" '3 packets transmitted, 3 received' echo "$LAST_OUTPUT"
expect_match "traceroute from a (h1) to b (h2) passes r (h2) at hop 1" '^ 1  10\.7\.0\.254 ' \
	rumpctl net exec -d "$net" a -- traceroute -n -w 2 -q 1 10.8.0.1
expect_match "and reaches b at hop 2" '^ 2  10\.8\.0\.1 ' echo "$LAST_OUTPUT"
expect_match "b (h2) sees a's route back through r" '10\.7\.0\.0 +10\.8\.0\.254|0\.0\.0\.0 +10\.8\.0\.254' \
	rumpctl net exec -d "$net" b -- route -n
expect_success "rumpctl net down (both hosts)" rumpctl net down -d "$net"
NET_DIR_DOWN=1
expect_failure "no server or bridge is left on either host" pgrep -f "$net/"
expect_failure "no network directory is left" ls "$net"

# A host that cannot be reached fails alone, by name; the other goes down.
sed "s|run = \"ip netns exec $h2\"|run = \"ip netns exec rn$$-nosuchns\"|" "$WORKDIR/two.toml" >"$WORKDIR/bad.toml"
expect_failure "net up with an unreachable host h2 fails" rumpctl net up -d "$net" "$WORKDIR/bad.toml"
expect_match "the error names host h2" '^rumpctl: host h2: ' echo "$LAST_OUTPUT"
expect_match "h1's share, which came up, was brought down again" '^host h1: net down: 1 node stopped' echo "$LAST_OUTPUT"
expect_failure "nothing of it is left running" pgrep -f "$net/"
expect_failure "no network directory is left" ls "$net"
