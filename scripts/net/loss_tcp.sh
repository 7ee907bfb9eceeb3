#!/usr/bin/env bash
# TCP over a lossy bus: `rumpctl ifconfig IF netem loss 10% delay 20ms 5ms
# seed N` on both ends drops a tenth of each side's frames (data and ACKs
# alike) and delays the rest by 15 to 25 ms; a 1 MiB nc transfer still
# arrives intact, and the interfaces' drop
# counters (/proc/net/dev, ifconfig) account for the frames netem threw
# away. The same seed drops the same frames again.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool ping iputils-ping
require_tool nc netcat-openbsd
require_tool tcpdump tcpdump

rump_server_start a shmif0 bus1
rump_server_start b shmif0 bus1
expect_success "a: 10.0.0.1/24" rump a ifconfig shmif0 10.0.0.1 netmask 255.255.255.0 up
expect_success "b: 10.0.0.2/24" rump b ifconfig shmif0 10.0.0.2 netmask 255.255.255.0 up
# Resolve the neighbours first, so that the frames counted below are the
# test's own.
expect_success "a pings b (no loss yet)" rump a "$PING" -c 1 -W 2 10.0.0.2
expect_equal "a: no frame dropped yet" 0 "$(if_counter a shmif0 tx_drop)"

# Repeatability: 40 pings through `loss 30% seed 7`, twice, lose the same
# sequence numbers (every decision depends only on the seed and the
# frame's number, which starts again when netem is set).
replies() {
	rump a "$PING" -c 40 -i 0.01 -W 1 10.0.0.2 |
		sed -n 's/.*icmp_seq=\([0-9]*\) .*/\1/p' | xargs
}
expect_success "a: netem loss 30% seed 7" rumpctl ifconfig -s "$(node_url a)" shmif0 netem loss 30% seed 7
first=$(replies)
expect_success "a: netem loss 30% seed 7 again" rumpctl ifconfig -s "$(node_url a)" shmif0 netem loss 30% seed 7
second=$(replies)
n=$(wc -w <<<"$first")
expect_success "some but not all of 40 pings came back ($n)" test "$n" -gt 10 -a "$n" -lt 40
expect_equal "the same seed lost the same pings" "$first" "$second"
expect_success "a: -netem" rumpctl ifconfig -s "$(node_url a)" shmif0 -netem
expect_match "a: without netem, 20 of 20 pings come back" '20 packets transmitted, 20 received' \
	rump a "$PING" -c 20 -i 0.01 -W 1 10.0.0.2

# 10% loss and 20 ms ± 5 ms each way, then 1 MiB with nc.
drop_a0=$(if_counter a shmif0 tx_drop)
drop_b0=$(if_counter b shmif0 tx_drop)
tx_a0=$(if_counter a shmif0 tx_packets)
expect_success "a: netem loss 10% delay 20ms 5ms seed 1" rumpctl ifconfig -s "$(node_url a)" shmif0 netem loss 10% delay 20ms 5ms seed 1
expect_success "b: netem loss 10% delay 20ms 5ms seed 1" rumpctl ifconfig -s "$(node_url b)" shmif0 \
	netem loss 10% delay 20ms 5ms seed 1

# With congestion control (CUBIC, as Linux's), a tenth of the frames lost
# and a 40 ms round trip hold TCP to roughly 100-150 KB/s (Mathis et al.'s
# MSS/RTT * 1.22/sqrt(p) gives 140 KB/s for Linux's), so 1 MiB takes about
# 10 s here; 120 s is generous.
size=$((1024 * 1024))
make_file "$WORKDIR/src.bin" $size
start_nc_server b 5000 "$WORKDIR/dst.bin"
rump_bg a nc -N 10.0.0.2 5000 <"$WORKDIR/src.bin" >"$WORKDIR/nc.out" 2>&1
sender=$RUMP_BG_PID
if ! wait_bg "$sender" 120; then
	got=$(stat -c %s "$WORKDIR/dst.bin")
	# The pauses on the bus: a's retransmission timeouts.
	gaps=$(bus_text bus1 | awk '{ if (p && $1 - p > 0.5) printf "%.1f s ", $1 - p; p = $1 }')
	fail "a sent 1 MiB to b over the lossy bus within 120 s" \
		"b got $got of $size bytes; silences of more than 0.5 s among the last frames on bus1: ${gaps:-none}"
fi
ok "a sent 1 MiB to b over the lossy bus"
wait_nc_server 10
expect_equal "b received the 1 MiB intact (sha256)" "$(sha256_of "$WORKDIR/src.bin")" "$(sha256_of "$WORKDIR/dst.bin")"

drop_a=$(($(if_counter a shmif0 tx_drop) - drop_a0))
drop_b=$(($(if_counter b shmif0 tx_drop) - drop_b0))
tx_a=$(($(if_counter a shmif0 tx_packets) - tx_a0))
note "a: $tx_a frames sent, $drop_a dropped by netem; b: $drop_b dropped"
expect_success "a: /proc/net/dev counts dropped frames ($drop_a)" test "$drop_a" -gt 0
expect_success "b: /proc/net/dev counts dropped frames ($drop_b) (its ACKs)" test "$drop_b" -gt 0
# About a tenth of what a sent is lost (a wide margin: the draw is random).
expect_success "a: the drops are roughly 10% of its $tx_a frames (5% to 20%)" \
	test "$((drop_a * 100))" -ge "$((tx_a * 5))" -a "$((drop_a * 100))" -le "$((tx_a * 20))"
expect_match "a: ifconfig shows the same drop count" "TX errors 0 +dropped $((drop_a + drop_a0)) " \
	rump a ifconfig shmif0

expect_success "a: -netem" rumpctl ifconfig -s "$(node_url a)" shmif0 -netem
expect_success "b: -netem" rumpctl ifconfig -s "$(node_url b)" shmif0 -netem
expect_match "a pings b cleanly again" '10 packets transmitted, 10 received' \
	rump a "$PING" -c 10 -i 0.01 -W 1 10.0.0.2
