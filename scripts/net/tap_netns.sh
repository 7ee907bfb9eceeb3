#!/usr/bin/env bash
# A rump kernel on a Linux tap device inside network namespace A (a
# "host"): Linux in A and the rump kernel ping each other, and curl in A
# fetches a page from python3's http.server running on the rump kernel.
# The tap is persistent, made in A; the kernel runs in A (a tap name is
# looked up in the opener's namespace) and attaches with
# `rumpctl ifconfig tap0 create linkstr rtap0`.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_netns
require_tool ping iputils-ping
require_tool curl curl
require_tool python3 python3

netns_add a
ns=$NETNS_NAME
expect_success "A: persistent tap rtap0" ip -n "$ns" tuntap add dev rtap0 mode tap
expect_success "A: rtap0 10.9.0.1/24 up" sh -c "ip -n $ns addr add 10.9.0.1/24 dev rtap0 && ip -n $ns link set rtap0 up"

NET_SERVER_NS=$ns rump_server_start r
url=$(node_url r)
expect_success "r: tap0 attached to A's rtap0" rumpctl ifconfig -s "$url" tap0 create linkstr rtap0
expect_failure "r: a second tap0 on the same device is refused (busy)" \
	rumpctl ifconfig -s "$url" tap1 create linkstr rtap0
expect_match "the refusal says why" 'tap1 linkstr: .*busy' echo "$LAST_OUTPUT"
expect_success "r: tap0 10.9.0.2/24 up" rump r ifconfig tap0 10.9.0.2 netmask 255.255.255.0 up
expect_match "r: tap0 is up and running" 'UP,BROADCAST,RUNNING' rump r ifconfig tap0

expect_match "Linux in A pings r" '3 packets transmitted, 3 received, 0% packet loss' \
	in_ns "$ns" ping -c 3 -i 0.2 -W 2 10.9.0.2
expect_match "r pings Linux in A" '3 packets transmitted, 3 received, 0% packet loss' \
	rump r "$PING" -c 3 -i 0.2 -W 2 10.9.0.1
expect_match "A's neighbour table has r's MAC" "10.9.0.2 dev rtap0 lladdr $(get_macaddr r tap0)" \
	ip -n "$ns" neigh show 10.9.0.2

mkdir -p "$WORKDIR/www"
echo "hello from a rump kernel on a tap" >"$WORKDIR/www/hello.txt"
make_file "$WORKDIR/www/big.bin" 1048576
(cd "$WORKDIR/www" && rump_bg r python3 -m http.server 8000 --bind 0.0.0.0 >"$WORKDIR/http.log" 2>&1)
wait_listening r 8000
expect_match "curl in A gets the page from r" '^hello from a rump kernel on a tap$' \
	in_ns "$ns" curl -s --max-time 20 http://10.9.0.2:8000/hello.txt
expect_success "curl in A gets 1 MiB from r" in_ns "$ns" curl -s --max-time 30 -o "$WORKDIR/got.bin" http://10.9.0.2:8000/big.bin
expect_equal "the 1 MiB arrived intact" "$(sha256_of "$WORKDIR/www/big.bin")" "$(sha256_of "$WORKDIR/got.bin")"

# Without CAP_NET_ADMIN (a kernel run as nobody) the tap cannot be opened:
# the error says so and what to do. (-U: nobody's kernel serves root's
# rumpctl, another uid.)
if command -v setpriv >/dev/null 2>&1; then
	chmod 711 "$WORKDIR"
	mkdir -m 1777 "$WORKDIR/nobody"
	nb_url=unix://$WORKDIR/nobody/k.sock
	expect_success "a kernel run as nobody starts" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		env -u LD_PRELOAD "$RUMP_SERVER_BIN" -U "$nb_url"
	expect_failure "nobody's kernel cannot open a tap" rumpctl ifconfig -s "$nb_url" tap0 create linkstr rtap9
	expect_match "the error names the cause and the remedy" 'tap0 linkstr: Permission denied.*CAP_NET_ADMIN.*ip tuntap add dev NAME mode tap user' \
		echo "$LAST_OUTPUT"
	expect_success "nobody's kernel halts" rumpctl halt -s "$nb_url"
fi
