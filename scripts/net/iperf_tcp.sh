#!/usr/bin/env bash
# TCP with iperf3 between two rump_servers on one clean bus: 100 MiB go
# from a to b without a single retransmission (iperf3 reads the count
# from TCP_INFO), as between two Linux hosts on a quiet link, and without
# a frame lost on the way. A resend made by a retransmission timeout
# (TcpExt TCPTimeouts) is forgiven: only a host stalling a node past the
# 200 ms RTO makes one on a clean bus.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool iperf3 iperf3
require_tool jq jq

rump_server_start a shmif0 bus1
rump_server_start b shmif0 bus1
expect_success "a: 10.0.1.1/24" rump a ifconfig shmif0 10.0.1.1 netmask 255.255.255.0 up
expect_success "b: 10.0.1.2/24" rump b ifconfig shmif0 10.0.1.2 netmask 255.255.255.0 up
expect_success "a pings b" rump a ping -c 1 -W 2 10.0.1.2

# timeouts NODE: NODE's TcpExt TCPTimeouts.
timeouts() {
	rump "$1" cat /proc/net/netstat | awk '
		$1 == "TcpExt:" && !seen { for (i = 2; i <= NF; i++) if ($i == "TCPTimeouts") col = i; seen = 1; next }
		$1 == "TcpExt:" && seen && col { print $col; exit }'
}

json=$WORKDIR/iperf.json
timeouts0=$(timeouts a)
rump_bg b iperf3 -s -1 >"$WORKDIR/iperf-server.out" 2>&1
server=$RUMP_BG_PID
wait_listening b 5201
expect_success "a -> b: iperf3 -n 100M" rump a iperf3 -J -n 100M -c 10.0.1.2
printf '%s\n' "$LAST_OUTPUT" >"$json"
wait_bg "$server" 30 || fail "the iperf3 server on b ended" "$(cat "$WORKDIR/iperf-server.out")"
note "a -> b: $(jq -r '.end.sum_sent.bits_per_second / 1e6 | floor' "$json") Mbit/s"
# iperf3 stops at the first write that reaches 100 MiB, and its socket is
# non-blocking: a write the send buffer takes only in part (as Linux's may)
# still counts, and the next starts a whole 128 KiB block, so the total may
# pass 100 MiB by less than a block. (What the server counts is not checked:
# it stops counting at the client's end message, which may pass the last
# bytes still in flight, on Linux too.)
sent=$(jq -r '.end.sum_sent.bytes' "$json")
expect_equal "a -> b: 100 MiB sent, less than a block more" yes \
	"$([ "$sent" -ge $((100 << 20)) ] && [ "$sent" -lt $(((100 << 20) + (128 << 10))) ] && echo yes || echo "no: $sent bytes")"
retransmits=$(jq -r '.end.sum_sent.retransmits' "$json")
stalls=$(($(timeouts a) - timeouts0))
note "a: $retransmits retransmissions, $stalls of them by a timeout"
expect_equal "a -> b: no retransmission but by a timeout" 0 $((retransmits - stalls))
expect_equal "b: no frame dropped at its interface" 0 "$(if_counter b shmif0 rx_drop)"
expect_equal "a: no frame dropped at its interface" 0 "$(if_counter a shmif0 rx_drop)"
