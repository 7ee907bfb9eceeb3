#!/usr/bin/env bash
# ARP cache expiry: with net.inet.arp.keep=5 an entry learnt by a ping is
# in `arp -n` at once and gone 5 s later (plus 2 s of slack), and the next
# ping has to ask again on the bus.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool ping iputils-ping
require_tool arp net-tools
require_tool tcpdump tcpdump

keep=5
rump_server_start a shmif0 bus1
rump_server_start b shmif0 bus1
expect_success "a: 10.0.0.1/24" rump a ifconfig shmif0 10.0.0.1 netmask 255.255.255.0 up
expect_success "b: 10.0.0.2/24" rump b ifconfig shmif0 10.0.0.2 netmask 255.255.255.0 up
expect_success "a: net.inet.arp.keep=$keep" rumpctl sysctl -s "$(node_url a)" -w net.inet.arp.keep=$keep
expect_match "a: net.inet.arp.keep reads back $keep" "^net.inet.arp.keep = $keep\$" \
	rumpctl sysctl -s "$(node_url a)" net.inet.arp.keep
mac_b=$(get_macaddr b shmif0)

expect_no_match "a: no entry for 10.0.0.2 before any traffic" '^10\.0\.0\.2 ' rump a arp -n
expect_success "a pings b" rump a "$PING" -c 1 -W 2 10.0.0.2
expect_match "a: 10.0.0.2 is at $mac_b (a dynamic entry, flags C)" \
	"^10\\.0\\.0\\.2 +ether +$mac_b +C +shmif0" rump a arp -n
expect_match "a: /proc/net/arp has it complete (flags 0x2)" \
	"^10\\.0\\.0\\.2 +0x1 +0x2 +$mac_b " rump a cat /proc/net/arp
extract_new_packets bus1 >/dev/null

# Halfway, the entry is still there.
pause_for $((keep / 2))
expect_match "a: the entry is still there after $((keep / 2)) s" '^10\.0\.0\.2 ' rump a arp -n

pause_for $((keep - keep / 2 + 2))
expect_no_match "a: the entry is gone after $((keep + 2)) s" '^10\.0\.0\.2 .*shmif0' rump a arp -n
expect_no_match "a: /proc/net/arp no longer lists it" '^10\.0\.0\.2 ' rump a cat /proc/net/arp

# b kept its own entry for a (b's keep is the default, much longer).
expect_match "b: still has a (default keep)" '^10\.0\.0\.1 .*shmif0' rump b arp -n

# The next ping has to resolve again.
expect_success "a pings b again" rump a "$PING" -c 1 -W 2 10.0.0.2
expect_match "bus1: a asked again who has 10.0.0.2" 'Request who-has 10\.0\.0\.2 tell 10\.0\.0\.1' \
	extract_new_packets bus1
expect_match "a: the entry is back" "^10\\.0\\.0\\.2 +ether +$mac_b +C" rump a arp -n
