#!/usr/bin/env bash
# TCP through a router:  a --bus1-- r --bus2-- b
# nc carries a 4 MiB file from a to b across r, and another one back
# from b to a; both arrive byte for byte, and r's kernel counted the
# datagrams it forwarded.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool nc netcat-openbsd
require_tool tcpdump tcpdump

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

fwd_before=$(snmp_counter r Ip ForwDatagrams)

make_file "$WORKDIR/a2b.bin" $((4 * 1024 * 1024))
make_file "$WORKDIR/b2a.bin" $((4 * 1024 * 1024))

start_nc_server b 5000 "$WORKDIR/a2b.got"
expect_success "a sends 4 MiB to b:5000 through r" rump a nc -N 10.0.2.2 5000 <"$WORKDIR/a2b.bin"
wait_nc_server 60
expect_equal "b received the 4 MiB intact (sha256)" "$(sha256_of "$WORKDIR/a2b.bin")" "$(sha256_of "$WORKDIR/a2b.got")"
# The bus behind r carried a's segments (its latest ones: a bus is a
# 1 MiB ring), sent from r's bus2 MAC to b's.
mac_r2=$(get_macaddr r shmif1)
mac_b=$(get_macaddr b shmif0)
expect_match "bus2: a's segments to b:5000 went from r's MAC to b's" \
	"^[0-9.]+ $mac_r2 > $mac_b, .*10\\.0\\.1\\.2\\.[0-9]+ > 10\\.0\\.2\\.2\\.5000: Flags \\[F?P?\\.\\], seq" bus_text bus2

start_nc_server a 5001 "$WORKDIR/b2a.got"
expect_success "b sends 4 MiB to a:5001 through r" rump b nc -N 10.0.1.2 5001 <"$WORKDIR/b2a.bin"
wait_nc_server 60
expect_equal "a received the 4 MiB intact (sha256)" "$(sha256_of "$WORKDIR/b2a.bin")" "$(sha256_of "$WORKDIR/b2a.got")"

fwd_after=$(snmp_counter r Ip ForwDatagrams)
# 8 MiB in segments of at most 1448 bytes is at least 5793 data segments.
expect_success "r forwarded at least 5793 datagrams ($fwd_before -> $fwd_after)" \
	test "$((fwd_after - fwd_before))" -ge 5793

