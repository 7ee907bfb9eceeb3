#!/usr/bin/env bash
# Topology files with `ip` command lines: `rumpctl net up` runs each with
# the real iproute2 `ip` against its node, after the node's other keys, and
# a line `ip` refuses stops `net up` with ip's own message.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool ip iproute2
require_tool ping iputils-ping

topo=$WORKDIR/ip_lines.toml
cat > "$topo" <<'TOML'
[node.a]
ifaces = ["shmif0 bus1 10.0.1.1/24"]
ip = ["addr add 10.0.1.9/24 dev shmif0", "route add 10.9.0.0/16 via 10.0.1.2"]

[node.b]
ifaces = ["shmif0 bus1 10.0.1.2/24"]
ip = ["addr add 2001:db8::2/64 dev shmif0"]
TOML
net_up "$topo"
expect_match "a has the address its ip line added" '10\.0\.1\.9/24' rump a ip -br addr show dev shmif0
expect_match "a has the route its ip line added" '^10\.9\.0\.0/16 via 10\.0\.1\.2 dev shmif0' rump a ip route
expect_match "b has the IPv6 address its ip line added" '2001:db8::2/64' rump b ip -6 -br addr
expect_success "a pings b's address" rump a ping -c 1 -W 2 10.0.1.2
net_down

bad=$WORKDIR/ip_bad.toml
cat > "$bad" <<'TOML'
[node.a]
ifaces = ["shmif0 bus1 10.0.1.1/24"]
ip = ["addr add 10.0.1.1/24 dev shmif0"]
TOML
expect_failure "an ip line ip refuses stops net up" rumpctl net up -d "$WORKDIR/bad" "$bad"
expect_match "with the file's line and ip's own message" \
	'line 3: ip addr add 10\.0\.1\.1/24 dev shmif0: Error: ipv4: Address already assigned\.' echo "$LAST_OUTPUT"
expect_failure "and nothing is left up" rumpctl net status -d "$WORKDIR/bad"
