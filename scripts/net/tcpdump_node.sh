#!/usr/bin/env bash
# tcpdump inside a node, live: b captures on its shmif0 (and on lo0) with
# the kernel's packet sockets while a pings it,
#
#   a (10.0.0.1) --bus1-- b (10.0.0.2)
#
# The capture is compared with what crossed the bus (read back from the
# bus file with rumpctl dumpbus), a capture written with -w reads back
# with -r as the live one printed it, and a filter keeps what it says.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool tcpdump tcpdump
require_tool ping iputils-ping

rump_server_start a shmif0 bus1
rump_server_start b shmif0 bus1
expect_success "a: 10.0.0.1/24" rump a ip addr add 10.0.0.1/24 dev shmif0
expect_success "a: up" rump a ip link set shmif0 up
expect_success "b: 10.0.0.2/24" rump b ip addr add 10.0.0.2/24 dev shmif0
expect_success "b: up" rump b ip link set shmif0 up

OUT=$WORKDIR/state
# capture NAME ARGS...: tcpdump ARGS in b's kernel, in the background,
# its output in $OUT/NAME.out (stderr in NAME.err); returns once listening.
capture() {
	local name=$1
	shift
	rump_bg b tcpdump "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
	eval "PID_$name=\$RUMP_BG_PID"
	wait_for "b: tcpdump $* is listening" 10 grep -q 'listening on' "$OUT/$name.err"
}
# finished NAME: the capture exited 0 within 20 s.
finished() {
	local pid
	eval "pid=\$PID_$1"
	wait_bg "$pid" 20 || fail "b: tcpdump ($1) exits 0 once it has its packets" "$(cat "$OUT/$1.err")"
	ok "b: tcpdump ($1) exits 0 once it has its packets"
}

note "shmif0"
extract_new_packets bus1 >/dev/null
capture live -i shmif0 -c 10 -n -l icmp
capture file -i shmif0 -c 10 -n -w "$OUT/f.pcap" icmp
expect_success "a pings b five times" rump a "$PING" -c 5 -i 0.2 -W 2 10.0.0.2
finished live
finished file
expect_equal "b: tcpdump -c 10 printed ten packets" 10 "$(wc -l <"$OUT/live.out")"
expect_equal "b: five echo requests from a" 5 \
	"$(grep -Ec '^[0-9:.]+ IP 10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request' "$OUT/live.out")"
expect_equal "b: five echo replies to a" 5 \
	"$(grep -Ec '^[0-9:.]+ IP 10\.0\.0\.2 > 10\.0\.0\.1: ICMP echo reply' "$OUT/live.out")"
expect_match "b: tcpdump counts ten captured" '^10 packets captured' cat "$OUT/live.err"
expect_no_match "b: the filter kept ARP out" 'ARP' cat "$OUT/live.out"
expect_equal "tcpdump -r of the -w file shows what the live capture printed" \
	"$(cat "$OUT/live.out")" "$(tcpdump -r "$OUT/f.pcap" -n 2>/dev/null)"
# The bus saw the same ICMP packets (its own timestamps; compare the rest).
expect_equal "the capture shows the ICMP packets that crossed the bus, in order" \
	"$(extract_new_packets bus1 | grep -o '10\.0\.0\.[12] > 10\.0\.0\.[12]: ICMP.*')" \
	"$(grep -o '10\.0\.0\.[12] > 10\.0\.0\.[12]: ICMP.*' "$OUT/live.out")"

note "lo0"
capture lo -i lo0 -c 4 -n -l icmp
expect_success "b pings itself twice" rump b "$PING" -c 2 -i 0.2 -W 2 127.0.0.1
finished lo
expect_equal "b: tcpdump -i lo0 printed each request and reply once" \
	"request reply request reply" \
	"$(grep -Eo 'IP 127\.0\.0\.1 > 127\.0\.0\.1: ICMP echo (request|reply)' "$OUT/lo.out" | awk '{ print $NF }' | xargs)"

note "any"
# Every interface, cooked (SOCK_DGRAM): libpcap's filter then asks the
# kernel for the protocol with an ancillary load.
capture any -i any -c 2 -n -l icmp
expect_success "a pings b once" rump a "$PING" -c 1 -W 2 10.0.0.2
finished any
expect_match "b: tcpdump -i any saw the request come in on shmif0" \
	'shmif0 +In +IP 10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request' cat "$OUT/any.out"
expect_match "b: and the reply go out" 'shmif0 +Out +IP 10\.0\.0\.2 > 10\.0\.0\.1: ICMP echo reply' cat "$OUT/any.out"

note "filters"
capture arp -i shmif0 -c 2 -n -l arp
expect_success "a forgets b, so that it asks again" rump a ip neigh flush dev shmif0
expect_success "a pings b" rump a "$PING" -c 1 -W 2 10.0.0.2
finished arp
expect_match "b: tcpdump arp saw a ask for b" 'ARP, Request who-has 10\.0\.0\.2 tell 10\.0\.0\.1' cat "$OUT/arp.out"
expect_no_match "b: and nothing but ARP" 'ICMP' cat "$OUT/arp.out"
