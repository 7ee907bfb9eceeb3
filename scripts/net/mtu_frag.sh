#!/usr/bin/env bash
# Interface MTU and IPv4 fragmentation on one bus: with `ifconfig shmif0
# mtu 1280`, a 2000-byte ping leaves in fragments no larger than
# 1280 + 14 bytes on the wire, b answers and the reply is reassembled;
# with `ping -M do` (don't fragment) the same ping is refused locally
# ("message too long"); TCP keeps its segments within the MTU by itself.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool ping iputils-ping
require_tool nc netcat-openbsd
require_tool tcpdump tcpdump

rump_server_start a shmif0 bus1
rump_server_start b shmif0 bus1
expect_success "a: 10.0.0.1/24" rump a ifconfig shmif0 10.0.0.1 netmask 255.255.255.0 up
expect_success "b: 10.0.0.2/24" rump b ifconfig shmif0 10.0.0.2 netmask 255.255.255.0 up
mac_a=$(get_macaddr a shmif0)

# What shmif accepts: 68 (IPv4's minimum) to 1500 (the bus's frame size).
expect_failure "a: mtu 1501 is refused (shmif carries at most 1500)" rump a ifconfig shmif0 mtu 1501
expect_failure "a: mtu 67 is refused (below IPv4's 68)" rump a ifconfig shmif0 mtu 67
expect_success "a: ifconfig shmif0 mtu 1280" rump a ifconfig shmif0 mtu 1280
expect_match "a: ifconfig shows mtu 1280" '^shmif0: flags=.*  mtu 1280$' rump a ifconfig shmif0
expect_match "a: netstat -i shows MTU 1280" '^shmif0 +1280 ' rump a netstat -i

# Largest frame a put on the bus among the new ones, and the new frames.
frames_of_a() { grep -F " $mac_a > " "$WORKDIR/frames.txt"; }
max_len_of_a() {
	frames_of_a | sed -n 's/.*ethertype [^,]*, length \([0-9]*\):.*/\1/p' | sort -n | tail -n 1
}

# A ping bigger than the MTU is fragmented.
extract_new_packets bus1 >/dev/null
expect_match "a: ping -s 2000 gets its 2008-byte reply" '^2008 bytes from 10\.0\.0\.2: icmp_seq=1 ' \
	rump a "$PING" -c 1 -s 2000 -W 2 10.0.0.2
extract_new_packets bus1 -v >"$WORKDIR/frames.txt"
expect_match "bus1: a's first fragment: offset 0, more fragments (flags [+])" \
	'offset 0, flags \[\+\], proto ICMP \(1\), length 1276\).* 10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request' frames_of_a
expect_match "bus1: a's last fragment: offset 1256, no more fragments" \
	'offset 1256, flags \[none\], proto ICMP \(1\), length 772\).* 10\.0\.0\.1 > 10\.0\.0\.2' frames_of_a
len=$(max_len_of_a)
expect_success "bus1: a's largest frame ($len bytes) is within 1280 + 14" test "${len:-9999}" -le 1294
expect_match "bus1: b's reply is fragmented too (b's MTU is 1500)" \
	'offset 0, flags \[\+\], proto ICMP \(1\), length 1500\).* 10\.0\.0\.2 > 10\.0\.0\.1: ICMP echo reply' \
	cat "$WORKDIR/frames.txt"

# A ping that fits exactly: 1280 - 20 (IP) - 8 (ICMP) = 1252 bytes.
extract_new_packets bus1 >/dev/null
expect_success "a: ping -M do -s 1252 fits the MTU" rump a "$PING" -c 1 -M "do" -s 1252 -W 2 10.0.0.2
extract_new_packets bus1 -v >"$WORKDIR/frames.txt"
expect_match "bus1: sent whole, with DF set" 'flags \[DF\], proto ICMP \(1\), length 1280\).* ICMP echo request' frames_of_a

# Don't fragment: the kernel refuses to send it.
extract_new_packets bus1 >/dev/null
expect_match "a: ping -M do -s 2000 says the message is too long" '[Mm]essage too long|mtu ?= ?1280|[Ff]rag needed' \
	rump a "$PING" -c 1 -M "do" -s 2000 -W 2 10.0.0.2
[ "$LAST_STATUS" -ne 0 ] || fail "a: ping -M do -s 2000 fails" "$LAST_OUTPUT"
extract_new_packets bus1 >"$WORKDIR/frames.txt"
expect_no_match "bus1: nothing of it was sent" 'ICMP|ip-proto-1' frames_of_a

# TCP: segments sized to the MTU, never fragmented.
make_file "$WORKDIR/src.bin" $((256 * 1024))
start_nc_server b 5000 "$WORKDIR/dst.bin"
extract_new_packets bus1 >/dev/null
expect_success "a: 256 KiB to b with nc" rump a nc -N 10.0.0.2 5000 <"$WORKDIR/src.bin"
wait_nc_server 30
expect_equal "b received the file intact (sha256)" "$(sha256_of "$WORKDIR/src.bin")" "$(sha256_of "$WORKDIR/dst.bin")"
extract_new_packets bus1 -v >"$WORKDIR/frames.txt"
expect_match "bus1: a sent TCP segments" 'proto TCP' frames_of_a
expect_no_match "bus1: no TCP segment of a's was fragmented" 'flags \[\+\]|offset [1-9]' frames_of_a
expect_equal "bus1: a's largest frame is 1294 bytes (MSS 1240)" 1294 "$(max_len_of_a)"

# Back to 1500: no fragments any more.
expect_success "a: mtu 1500 again" rump a ifconfig shmif0 mtu 1500
extract_new_packets bus1 >/dev/null
expect_success "a: ping -s 1472 (a full 1500-byte packet)" rump a "$PING" -c 1 -s 1472 -W 2 10.0.0.2
extract_new_packets bus1 -v >"$WORKDIR/frames.txt"
expect_no_match "bus1: a's echo request went whole" 'flags \[\+\]' frames_of_a
expect_equal "bus1: as one 1514-byte frame" 1514 "$(max_len_of_a)"
