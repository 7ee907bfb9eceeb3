#!/usr/bin/env bash
# Static ARP entries with net-tools arp: `arp -s IP MAC` makes an entry
# that `arp -n` flags CM (complete, permanent; `arp -a` says PERM) and
# that outlives net.inet.arp.keep; frames to IP go to MAC without asking
# (to a MAC nobody has, so the ping fails while the bus shows the frame);
# `arp -d` removes it; `arp -s ... temp` makes one that expires (flags C).
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool ping iputils-ping
require_tool arp net-tools
require_tool tcpdump tcpdump

keep=5
bogus=b2:a0:de:ad:be:ef
rump_server_start a shmif0 bus1
rump_server_start b shmif0 bus1
expect_success "a: 10.0.0.1/24" rump a ifconfig shmif0 10.0.0.1 netmask 255.255.255.0 up
expect_success "b: 10.0.0.2/24" rump b ifconfig shmif0 10.0.0.2 netmask 255.255.255.0 up
expect_success "a: net.inet.arp.keep=$keep" rumpctl sysctl -s "$(node_url a)" -w net.inet.arp.keep=$keep
mac_a=$(get_macaddr a shmif0)
mac_b=$(get_macaddr b shmif0)

# A static entry for an address nobody has, with a MAC nobody has.
expect_success "a: arp -s 10.0.0.9 $bogus" rump a arp -s 10.0.0.9 $bogus
expect_match "a: arp -n shows it complete and permanent (CM)" \
	"^10\\.0\\.0\\.9 +ether +$bogus +CM +shmif0" rump a arp -n
expect_match "a: arp -an says PERM" "^\\? \\(10\\.0\\.0\\.9\\) at $bogus \\[ether\\] PERM on shmif0" rump a arp -an
expect_match "a: ip neigh says PERMANENT" "^10\\.0\\.0\\.9 dev shmif0 lladdr $bogus PERMANENT" rump a ip neigh show
expect_match "a: /proc/net/arp flags 0x6 (ATF_COM|ATF_PERM)" "^10\\.0\\.0\\.9 +0x1 +0x6 +$bogus " \
	rump a cat /proc/net/arp

extract_new_packets bus1 >/dev/null
expect_failure "a: ping 10.0.0.9 gets no answer" rump a "$PING" -c 1 -W 1 10.0.0.9
frames=$(extract_new_packets bus1)
expect_match "bus1: the echo request went to $bogus" \
	"^[0-9.]+ $mac_a > $bogus, ethertype IPv4 .*10\\.0\\.0\\.1 > 10\\.0\\.0\\.9: ICMP echo request" echo "$frames"
expect_no_match "bus1: a did not ask who has 10.0.0.9 (the entry answers)" 'who-has 10\.0\.0\.9' echo "$frames"

# A static entry for b with b's real MAC: ping works, with no ARP at all.
expect_success "a: arp -s 10.0.0.2 $mac_b" rump a arp -s 10.0.0.2 "$mac_b"
expect_success "a pings b through the static entry" rump a "$PING" -c 2 -i 0.2 -W 2 10.0.0.2
frames=$(extract_new_packets bus1)
expect_no_match "bus1: a sent no ARP request" "ARP.*Request who-has 10\\.0\\.0\\.2" echo "$frames"
expect_match "bus1: the echo requests went to b's MAC" "$mac_a > $mac_b, .*ICMP echo request" echo "$frames"

# `temp`: an entry set by hand that is not permanent, so it expires.
expect_success "a: arp -s 10.0.0.8 $bogus temp" rump a arp -s 10.0.0.8 $bogus temp
expect_match "a: the temp entry is complete but not permanent (C)" \
	"^10\\.0\\.0\\.8 +ether +$bogus +C +shmif0" rump a arp -n
expect_match "a: ip neigh says the temp entry is REACHABLE" "^10\\.0\\.0\\.8 dev shmif0 lladdr $bogus REACHABLE" rump a ip neigh show

# The permanent ones outlive the cache timeout; the temp one does not.
pause_for $((keep + 2))
expect_match "a: 10.0.0.9 is still there after $((keep + 2)) s (keep=$keep)" \
	"^10\\.0\\.0\\.9 +ether +$bogus +CM" rump a arp -n
expect_match "a: 10.0.0.2 (static) is still there too" "^10\\.0\\.0\\.2 +ether +$mac_b +CM" rump a arp -n
expect_no_match "a: the temp entry 10.0.0.8 has expired" '^10\.0\.0\.8 ' rump a arp -n

# arp -d removes an entry; the other stays.
expect_success "a: arp -d 10.0.0.9" rump a arp -d 10.0.0.9
expect_no_match "a: 10.0.0.9 is gone from arp -n" '^10\.0\.0\.9 ' rump a arp -n
expect_no_match "a: 10.0.0.9 is gone from ip neigh" '^10\.0\.0\.9 ' rump a ip neigh show
expect_match "a: arp -n 10.0.0.9 says no entry" 'no entry' rump a arp -n 10.0.0.9
expect_match "a: the static entry for b is still there" "^10\\.0\\.0\\.2 +ether +$mac_b +CM" rump a arp -n
expect_failure "a: arp -d 10.0.0.9 again fails (no such entry)" rump a arp -d 10.0.0.9

# After deleting b's static entry, a resolves b by asking again.
expect_success "a: arp -d 10.0.0.2" rump a arp -d 10.0.0.2
expect_success "a pings b" rump a "$PING" -c 1 -W 2 10.0.0.2
expect_match "bus1: a asked who has 10.0.0.2" 'Request who-has 10\.0\.0\.2 tell 10\.0\.0\.1' extract_new_packets bus1
expect_match "a: the learnt entry is dynamic (C, not CM)" "^10\\.0\\.0\\.2 +ether +$mac_b +C +shmif0" rump a arp -n

