#!/usr/bin/env bash
# UDP with iperf3 on clean buses:  a --bus1-- r --bus2-- b
# r and b are two nodes of one bus; a reaches b through r. At a rate the
# receiver keeps up with, and with 4 MiB socket buffers (`-w 2M`, doubled
# as Linux doubles SO_RCVBUF) to ride out a busy host's scheduling, iperf3
# loses nothing, directly and through the router. At 500 Mbit/s offered, whatever iperf3 counts as lost was
# dropped by b's full receive socket (Udp RcvbufErrors, as Linux's) and
# nowhere on the way: no interface drop or error, no other UDP error.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool iperf3 iperf3
require_tool jq jq

rump_server_start a shmif0 bus1
rump_server_start r shmif0 bus1 shmif1 bus2
rump_server_start b shmif0 bus2
expect_success "a: 10.0.1.2/24" rump a ifconfig shmif0 10.0.1.2 netmask 255.255.255.0 up
expect_success "r: 10.0.1.1/24 on bus1" rump r ifconfig shmif0 10.0.1.1 netmask 255.255.255.0 up
expect_success "r: 10.0.2.1/24 on bus2" rump r ifconfig shmif1 10.0.2.1 netmask 255.255.255.0 up
expect_success "b: 10.0.2.2/24" rump b ifconfig shmif0 10.0.2.2 netmask 255.255.255.0 up
expect_success "a: default route via r" rump a route add default gw 10.0.1.1
expect_success "b: default route via r" rump b route add default gw 10.0.2.1
expect_success "r: forwarding on" rump r sysctl -w net.ipv4.ip_forward=1

# udp_run FROM DST RATE [IPERF3 ARGS...]: iperf3 -u from FROM to a one-shot
# server on b for 2 s at RATE; sets SENT and LOST (datagrams, the
# receiver's count) and DROPPED (b's Udp RcvbufErrors during the run).
udp_run() {
	local from=$1 dst=$2 rate=$3 json=$WORKDIR/iperf.json drops0
	shift 3
	drops0=$(snmp_counter b Udp RcvbufErrors)
	rump_bg b iperf3 -s -1 >"$WORKDIR/iperf-server.out" 2>&1
	local server=$RUMP_BG_PID
	wait_listening b 5201
	expect_success "$from -> $dst: iperf3 -u -b $rate -t 2${*:+ $*}" rump "$from" iperf3 -J -u -b "$rate" -t 2 "$@" -c "$dst"
	printf '%s\n' "$LAST_OUTPUT" >"$json"
	wait_bg "$server" 30 || fail "the iperf3 server on b ended" "$(cat "$WORKDIR/iperf-server.out")"
	SENT=$(jq -r '.end.sum.packets' "$json")
	LOST=$(jq -r '.end.sum.lost_packets' "$json")
	DROPPED=$(($(snmp_counter b Udp RcvbufErrors) - drops0))
	note "$from -> $dst at $rate: $SENT datagrams, $LOST lost, $DROPPED dropped by b's full socket"
}

# Resolve the neighbours first, so that the first datagrams wait for no ARP.
expect_success "a pings b through r" rump a ping -c 1 -W 2 10.0.2.2
expect_success "r pings b" rump r ping -c 1 -W 2 10.0.2.2

udp_run r 10.0.2.2 10M -w 2M
expect_success "r -> b: datagrams went ($SENT)" test "$SENT" -gt 1000
expect_equal "r -> b at 10 Mbit/s: none lost" 0 "$LOST"

fwd0=$(snmp_counter r Ip ForwDatagrams)
udp_run a 10.0.2.2 10M -w 2M
expect_equal "a -> r -> b at 10 Mbit/s: none lost" 0 "$LOST"
fwd=$(($(snmp_counter r Ip ForwDatagrams) - fwd0))
expect_success "r forwarded every datagram a sent ($fwd >= $SENT)" test "$fwd" -ge "$SENT"

for from in r a; do
	udp_run "$from" 10.0.2.2 500M
	# iperf3 counts a gap in the sequence numbers it read; a full socket
	# may also have dropped some of the last ones, after which nothing
	# was read.
	expect_success "$from -> b at 500 Mbit/s: the $LOST lost were dropped by b's full socket ($DROPPED)" \
		test "$LOST" -le "$DROPPED"
done
expect_equal "b: no frame dropped at its interface" 0 "$(if_counter b shmif0 rx_drop)"
expect_equal "b: no receive errors at its interface" 0 "$(if_counter b shmif0 rx_errs)"
expect_equal "b: no UDP datagram lost but to a full socket" "$(snmp_counter b Udp RcvbufErrors)" \
	"$(snmp_counter b Udp InErrors)"
