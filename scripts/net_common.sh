# shellcheck shell=bash
# Helpers for network scenario scripts (scripts/net/*.sh), after the
# fashion of NetBSD's tests/net/net_common.sh: every "host" is one
# rump_server process listening on a unix socket in a private work
# directory, hosts meet on shmif bus files, and stock Linux tools
# (ifconfig, route, arp, ping, nc, ...) configure and use them through the
# hijack library. What crossed a bus is read back with `rumpctl dumpbus`
# and tcpdump.
#
# Source it from bash:   . "$(dirname "$0")/../net_common.sh"
#
# Sourcing it picks the binaries, makes the work directory and installs
# `trap cleanup EXIT`, so every server a script starts is halted however
# the script ends. Assertions print one TAP-like line each ("ok N - ...");
# the first failing one prints "not ok N - ...", what the command printed
# and its status, and ends the script with status 1. `skip REASON` ends it
# with status 77. At the end, cleanup halts the servers, checks that none
# survived and removes the work directory (kept with KEEP=1).
#
# Environment:
#   RUMP_BIN     directory holding rump_server, rumpctl and librumphijack.so
#                (default: target/release of this repository, else target/debug)
#   KEEP=1       keep the work directory (bus files, logs, server logs)
#   RUMP_TIMEOUT seconds a hijacked command may run before it is killed (120)
#   NET_DEBUG=1  echo every hijacked command before running it

if [ -z "${BASH_VERSION:-}" ]; then
	echo "net_common.sh: needs bash" >&2
	exit 2
fi
set -u

NET_COMMON_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NET_REPO_DIR=$(cd "$NET_COMMON_DIR/.." && pwd)

# --- binaries -------------------------------------------------------------

_net_has_bins() {
	[ -x "$1/rump_server" ] && [ -x "$1/rumpctl" ] && [ -f "$1/librumphijack.so" ]
}

if [ -n "${RUMP_BIN:-}" ]; then
	RUMP_BIN=$(cd "$RUMP_BIN" 2>/dev/null && pwd) || {
		echo "net_common.sh: RUMP_BIN=$RUMP_BIN is not a directory" >&2
		exit 2
	}
elif _net_has_bins "$NET_REPO_DIR/target/release"; then
	RUMP_BIN=$NET_REPO_DIR/target/release
elif _net_has_bins "$NET_REPO_DIR/target/debug"; then
	RUMP_BIN=$NET_REPO_DIR/target/debug
else
	echo "net_common.sh: no built binaries under $NET_REPO_DIR/target;" \
		"run: cargo build --release -p rump-hijack -p rump-tools" >&2
	exit 2
fi
if ! _net_has_bins "$RUMP_BIN"; then
	echo "net_common.sh: $RUMP_BIN lacks rump_server, rumpctl or librumphijack.so" >&2
	exit 2
fi
RUMP_SERVER_BIN=$RUMP_BIN/rump_server
RUMPCTL_BIN=$RUMP_BIN/rumpctl
HIJACK_LIB=$RUMP_BIN/librumphijack.so
: "${RUMP_TIMEOUT:=120}"

# --- the work directory ---------------------------------------------------

WORKDIR=$(mktemp -d /tmp/rumpnet.XXXXXX) || {
	echo "net_common.sh: mktemp failed" >&2
	exit 2
}
mkdir -p "$WORKDIR/nodes" "$WORKDIR/buses" "$WORKDIR/state"
NET_ASSERTIONS=0
NET_DIR=""          # set by net_up: the state directory of `rumpctl net`
NET_SERVER_PIDS=()  # rump_servers started here, halted by cleanup
NET_BG_PIDS=()      # background commands (nc servers, ...), killed by cleanup
NET_NC_PIDS=()      # the nc servers of start_nc_server
NET_NETNS=()        # Linux network namespaces made by netns_add, deleted by cleanup
NET_SERVER_NS=""    # set by the caller: rump_server_start runs the server in this netns
declare -A NET_NC_ERR # and where their stderr goes
LAST_OUTPUT=""      # what the last expect_* command printed (stdout+stderr)
LAST_STATUS=0       # and its exit status

# Processes get no input from the terminal (a hijacked tool reading stdin
# would wait forever).
exec </dev/null

# PING: iputils ping. LD_PRELOAD is honoured for root; a non-root user
# needs a copy without the file capability (cap_net_raw) of /usr/bin/ping,
# since the loader ignores LD_PRELOAD for programs that gain privileges.
PING=$(command -v ping 2>/dev/null || echo /usr/bin/ping)
if [ "$(id -u)" -ne 0 ] && [ -x "$PING" ]; then
	cp "$PING" "$WORKDIR/ping" && PING=$WORKDIR/ping
fi

# --- messages and assertions ---------------------------------------------

# note TEXT: a diagnostic line ("# TEXT").
note() {
	printf '# %s\n' "$*"
}

# ok DESC: records a passed assertion.
ok() {
	NET_ASSERTIONS=$((NET_ASSERTIONS + 1))
	printf 'ok %d - %s\n' "$NET_ASSERTIONS" "$*"
}

# fail DESC [DETAILS]: records a failed assertion and ends the script.
fail() {
	NET_ASSERTIONS=$((NET_ASSERTIONS + 1))
	printf 'not ok %d - %s\n' "$NET_ASSERTIONS" "$1"
	if [ $# -gt 1 ] && [ -n "$2" ]; then
		printf '%s\n' "$2" | sed 's/^/#   /'
	fi
	exit 1
}

# skip REASON: ends the script with status 77 (skipped), saying why.
skip() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}

# Runs "$@" with stdout and stderr captured in LAST_OUTPUT, its status in
# LAST_STATUS.
_net_capture() {
	local f=$WORKDIR/state/last.out
	"$@" >"$f" 2>&1
	LAST_STATUS=$?
	LAST_OUTPUT=$(cat "$f")
}

# The failure report: the command, its output and status.
_net_report() {
	printf '$ %s\n%s\n[exit %d]' "$*" "$LAST_OUTPUT" "$LAST_STATUS"
}

# expect_success DESC CMD ARGS...: CMD exits 0.
expect_success() {
	local desc=$1
	shift
	_net_capture "$@"
	[ "$LAST_STATUS" -eq 0 ] || fail "$desc" "$(_net_report "$@")"
	ok "$desc"
}

# expect_failure DESC CMD ARGS...: CMD exits non-zero.
expect_failure() {
	local desc=$1
	shift
	_net_capture "$@"
	[ "$LAST_STATUS" -ne 0 ] || fail "$desc (it succeeded)" "$(_net_report "$@")"
	ok "$desc"
}

# expect_match DESC REGEX CMD ARGS...: what CMD prints (stdout and stderr)
# matches the extended regular expression REGEX, whatever its status
# (check the status separately when it matters, or use $LAST_STATUS).
expect_match() {
	local desc=$1 re=$2
	shift 2
	_net_capture "$@"
	grep -Eq -- "$re" <<<"$LAST_OUTPUT" || fail "$desc (no match for /$re/)" "$(_net_report "$@")"
	ok "$desc"
}

# expect_no_match DESC REGEX CMD ARGS...: nothing CMD prints matches REGEX.
expect_no_match() {
	local desc=$1 re=$2
	shift 2
	_net_capture "$@"
	if grep -Eq -- "$re" <<<"$LAST_OUTPUT"; then
		fail "$desc (/$re/ matched)" "$(_net_report "$@")"
	fi
	ok "$desc"
}

# expect_equal DESC EXPECTED ACTUAL
expect_equal() {
	[ "$2" = "$3" ] || fail "$1" "expected: $2"$'\n'"actual:   $3"
	ok "$1"
}

# wait_for DESC TIMEOUT CMD ARGS...: retries CMD every 0.1 s until it exits
# 0, for at most TIMEOUT seconds; an assertion.
wait_for() {
	local desc=$1 timeout=$2
	shift 2
	local deadline=$((SECONDS + timeout))
	while :; do
		_net_capture "$@"
		[ "$LAST_STATUS" -eq 0 ] && break
		[ "$SECONDS" -ge "$deadline" ] && fail "$desc (not within ${timeout} s)" "$(_net_report "$@")"
		sleep 0.1
	done
	ok "$desc"
}

# pause_for SECONDS: sleeps, but a signal to the script (Ctrl-C, SIGTERM)
# ends it at once, and cleanup runs, instead of after the sleep.
pause_for() {
	sleep "$1" &
	NET_BG_PIDS+=("$!")
	wait "$!"
}

# require_tool PROGRAM PACKAGE: skips the scenario when PROGRAM is missing.
require_tool() {
	command -v "$1" >/dev/null 2>&1 || skip "host lacks $1 (apt-get install $2)"
}

# --- servers and nodes ----------------------------------------------------

# rumpctl ARGS...: the control tool, never hijacked itself.
rumpctl() {
	env -u LD_PRELOAD "$RUMPCTL_BIN" "$@"
}

# A node or bus name as a file name.
_net_name_ok() {
	case $1 in
	"" | */* | .*) echo "bad name: '$1'" >&2; return 1 ;;
	esac
}

# bus_path BUS: the bus file of BUS (this run's own, or the one of the
# `rumpctl net` topology when BUS belongs to it).
bus_path() {
	_net_name_ok "$1" || return 1
	local local_bus=$WORKDIR/buses/$1
	if [ -n "$NET_DIR" ] && [ ! -e "$local_bus" ]; then
		local p
		if p=$(rumpctl net bus -d "$NET_DIR" "$1" 2>/dev/null) && [ -n "$p" ]; then
			printf '%s\n' "$p"
			return 0
		fi
	fi
	printf '%s\n' "$local_bus"
}

# node_url NODE: the server URL of NODE.
node_url() {
	_net_name_ok "$1" || return 1
	local f=$WORKDIR/nodes/$1.url
	if [ ! -f "$f" ] && [ -n "$NET_DIR" ]; then
		rumpctl net url -d "$NET_DIR" "$1" >"$f.tmp" 2>/dev/null && [ -s "$f.tmp" ] && mv "$f.tmp" "$f"
		rm -f "$f.tmp"
	fi
	if [ ! -f "$f" ]; then
		echo "node_url: no node '$1'" >&2
		return 1
	fi
	cat "$f"
}

# rump_server_start NODE [IF BUS]...: boots a kernel for NODE with shmif
# interfaces IF attached to BUS (bus files in the work directory, created
# on demand); returns once its socket accepts. An assertion.
rump_server_start() {
	local node=$1
	shift
	_net_name_ok "$node" || fail "start $node"
	[ -e "$WORKDIR/nodes/$node.url" ] && fail "start $node (there is one already)"
	local sock=$WORKDIR/nodes/$node.sock log=$WORKDIR/nodes/$node.log
	local url=unix://$sock args=() desc="$node: rump_server started"
	while [ $# -ge 2 ]; do
		args+=(-i "$1 create linkstr $(bus_path "$2")")
		desc+=", $1 on $2"
		shift 2
	done
	[ $# -eq 0 ] || fail "rump_server_start $node: IF without a BUS ($1)"
	# -s keeps it in the foreground, so it is our child: its pid is known,
	# and `wait` reaps it (a zombie would look alive to kill -0). `ip netns
	# exec` execs it, so the pid stays the server's.
	local in_ns=()
	[ -n "$NET_SERVER_NS" ] && in_ns=(ip netns exec "$NET_SERVER_NS")
	"${in_ns[@]}" env -u LD_PRELOAD "$RUMP_SERVER_BIN" -s -v "${args[@]}" "$url" >"$log" 2>&1 &
	local pid=$!
	NET_SERVER_PIDS+=("$pid")
	echo "$pid" >"$WORKDIR/nodes/$node.pid"
	local i
	for ((i = 0; i < 200; i++)); do
		if grep -q '^rump_server: listening on ' "$log" 2>/dev/null && [ -S "$sock" ]; then
			echo "$url" >"$WORKDIR/nodes/$node.url"
			ok "$desc"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	fail "$desc" "$(cat "$log")"
}

# --- Linux network namespaces as "hosts" ------------------------------------

# require_netns: skips the scenario unless this process may make network
# namespaces and tap devices (root with iproute2 and /dev/net/tun).
require_netns() {
	require_tool ip iproute2
	[ "$(id -u)" -eq 0 ] || skip "host lacks root (network namespaces need it)"
	[ -c /dev/net/tun ] || skip "host lacks /dev/net/tun (modprobe tun)"
}

# netns_add NAME: makes network namespace NAME (prefixed with this run's
# id, in NETNS_NAME) with its loopback up; cleanup deletes it, and with it
# every interface inside.
netns_add() {
	NETNS_NAME=rn$$-$1
	expect_success "netns $NETNS_NAME made" ip netns add "$NETNS_NAME"
	NET_NETNS+=("$NETNS_NAME")
	ip -n "$NETNS_NAME" link set lo up || fail "netns $NETNS_NAME: lo up"
}

# in_ns NS CMD ARGS...: runs a host command in network namespace NS.
in_ns() {
	local ns=$1
	shift
	timeout -k 5 "$RUMP_TIMEOUT" ip netns exec "$ns" "$@"
}

# netns_link NS1 ADDR1 NS2 ADDR2: joins two namespaces by a veth pair
# (veth0 in each) with ADDR/PREFIX on either end, up.
netns_link() {
	expect_success "veth $1 ($2) <-> $3 ($4)" sh -c "
		ip link add veth0 netns $1 type veth peer name veth0 netns $3 &&
		ip -n $1 addr add $2 dev veth0 && ip -n $1 link set veth0 up &&
		ip -n $3 addr add $4 dev veth0 && ip -n $3 link set veth0 up"
}

# bus_bridge NS BUS ARGS...: `rumpctl bus bridge` for BUS in namespace NS,
# in the background (killed by cleanup); returns once it is bridging.
bus_bridge() {
	local ns=$1 bus=$2 log
	shift 2
	log=$WORKDIR/bridge-$ns-$bus.log
	ip netns exec "$ns" env -u LD_PRELOAD "$RUMPCTL_BIN" bus bridge "$(bus_path "$bus")" "$@" >"$log" 2>&1 &
	NET_BG_PIDS+=("$!")
	wait_for "$ns: $bus bridged ($*)" 10 grep -q '^rumpctl: bridging' "$log"
}

# rump_server_add_iface NODE IF BUS: creates shmif interface IF on BUS.
rump_server_add_iface() {
	local url
	url=$(node_url "$1") || fail "$1: add $2 on $3 (no such node)"
	expect_success "$1: $2 created on $3" rumpctl ifconfig -s "$url" "$2" create linkstr "$(bus_path "$3")"
}

# rump_server_halt NODE: halts NODE's kernel with `rumpctl halt`; an
# assertion (the server must exit).
rump_server_halt() {
	local url pid
	url=$(node_url "$1") || fail "halt $1 (no such node)"
	expect_success "$1: halted" rumpctl halt -s "$url"
	if [ -f "$WORKDIR/nodes/$1.pid" ]; then
		pid=$(cat "$WORKDIR/nodes/$1.pid")
		wait_bg "$pid" 10 || [ $? -ne 124 ] || fail "$1: rump_server exited within 10 s of the halt"
		rm -f "$WORKDIR/nodes/$1.pid"
		# Forget it, so that cleanup does not signal a reused pid.
		local others=() p
		for p in "${NET_SERVER_PIDS[@]}"; do
			[ "$p" = "$pid" ] || others+=("$p")
		done
		NET_SERVER_PIDS=("${others[@]}")
	fi
	rm -f "$WORKDIR/nodes/$1.url"
}

# rump NODE CMD ARGS...: runs an unmodified program against NODE's kernel
# through the hijack library (killed after RUMP_TIMEOUT seconds).
rump() {
	local url
	url=$(node_url "$1") || return 125
	shift
	[ "${NET_DEBUG:-0}" = 1 ] && echo "+ [$url] $*" >&2
	timeout -k 5 "$RUMP_TIMEOUT" env -u RUMPHIJACK RUMP_SERVER="$url" LD_PRELOAD="$HIJACK_LIB" "$@"
}

# --- `rumpctl net` topologies ---------------------------------------------

# net_up TOPOLOGY.toml: starts the topology with `rumpctl net up` (state in
# the work directory); nodes and buses are then known to rump, node_url
# and bus_path by their topology names. An assertion.
net_up() {
	NET_DIR=$WORKDIR/net
	expect_success "rumpctl net up $(basename "$1")" rumpctl net up -d "$NET_DIR" "$1"
}

# net_down: `rumpctl net down`; an assertion.
net_down() {
	[ -n "$NET_DIR" ] || return 0
	expect_success "rumpctl net down" rumpctl net down -d "$NET_DIR"
	NET_DIR_DOWN=1
}

# --- routes, addresses ----------------------------------------------------

# The dotted mask of a prefix length.
_net_mask() {
	local len=$1 m="" i bits
	for i in 1 2 3 4; do
		if [ "$len" -ge 8 ]; then
			bits=8
		elif [ "$len" -gt 0 ]; then
			bits=$len
		else
			bits=0
		fi
		len=$((len - bits))
		m+=$(((256 - (1 << (8 - bits))) & 255))
		[ $i -lt 4 ] && m+=.
	done
	echo "$m"
}

# Prints the route lines of NODE that match DST as check_route reads it,
# one per line as "DEST GATEWAY FLAGS IFACE".
#   IPv4: DST is default, ADDR/LEN or ADDR (a host route, /32); the table
#         is net-tools `route -n` (Destination Gateway Genmask Flags ... Iface).
#   IPv6: DST is ADDR/LEN as `route -A inet6 -n` prints it (default: ::/0).
_net_route_lines() {
	local node=$1 dst=$2 addr mask table
	case $dst in
	*:* | default6)
		[ "$dst" = default6 ] && dst=::/0
		table=$(rump "$node" route -A inet6 -n) || return 1
		awk -v d="$dst" '$1 == d { print $1, $2, $3, $NF }' <<<"$table"
		;;
	*)
		case $dst in
		default) addr=0.0.0.0 mask=0.0.0.0 ;;
		*/*) addr=${dst%/*} mask=$(_net_mask "${dst#*/}") ;;
		*) addr=$dst mask=255.255.255.255 ;;
		esac
		table=$(rump "$node" route -n) || return 1
		awk -v a="$addr" -v m="$mask" 'NR > 2 && $1 == a && $3 == m { print $1 "/" $3, $2, $4, $NF }' <<<"$table"
		;;
	esac
}

# check_route NODE DST GW FLAGS IF: NODE's table has a route to DST through
# gateway GW (0.0.0.0 or :: when none) with exactly FLAGS (U, UG, UGH, UH
# as route -n prints them) on interface IF. An assertion.
check_route() {
	local node=$1 dst=$2 gw=$3 flags=$4 ifname=$5 lines
	lines=$(_net_route_lines "$node" "$dst") || fail "$node: route to $dst (route failed)"
	if ! awk -v g="$gw" -v f="$flags" -v i="$ifname" '$2 == g && $3 == f && $4 == i { found = 1 } END { exit !found }' <<<"$lines"; then
		local v=""
		case $dst in *:*) v="-A inet6" ;; esac
		# shellcheck disable=SC2086
		fail "$node: route $dst via $gw flags $flags on $ifname" "$(rump "$node" route $v -n 2>&1)"
	fi
	ok "$node: route $dst via $gw flags $flags on $ifname"
	_net_ip_route_check "$node" "$dst" "$gw" "$ifname"
}

# The iproute2 side of check_route: `ip route` (netlink) shows the same
# route as DST [via GW] dev IF; with no GW, that no route to DST is listed.
_net_ip_route_check() {
	local node=$1 dst=$2 gw=${3:-} ifname=${4:-} fam=-4 table re
	case $dst in
	default6) fam=-6 dst=default ;;
	*:*) fam=-6 ;;
	*/32) dst=${dst%/32} ;;
	esac
	table=$(rump "$node" ip "$fam" route show table main 2>&1) || fail "$node: ip $fam route (failed)" "$table"
	if [ -z "$ifname" ]; then
		if awk -v d="$dst" '$1 == d { found = 1 } END { exit !found }' <<<"$table"; then
			fail "$node: ip $fam route lists nothing for $dst" "$table"
		fi
		ok "$node: ip $fam route lists nothing for $dst"
		return
	fi
	case $gw in
	0.0.0.0 | ::) re="^${dst//./\\.} dev $ifname( |$)" ;;
	*) re="^${dst//./\\.} via ${gw//./\\.} dev $ifname( |$)" ;;
	esac
	grep -Eq -- "$re" <<<"$table" || fail "$node: ip $fam route shows $dst via $gw dev $ifname" "$table"
	ok "$node: ip $fam route shows $dst via $gw dev $ifname"
}

# check_route_no_entry NODE DST: NODE has no route for DST. An assertion.
check_route_no_entry() {
	local node=$1 dst=$2 lines
	lines=$(_net_route_lines "$node" "$dst") || fail "$node: no route to $dst (route failed)"
	if [ -n "$lines" ]; then
		local v=""
		case $dst in *:*) v="-A inet6" ;; esac
		# shellcheck disable=SC2086
		fail "$node: no route for $dst" "$(rump "$node" route $v -n 2>&1)"
	fi
	ok "$node: no route for $dst"
	_net_ip_route_check "$node" "$dst"
}

# get_macaddr NODE IF: the Ethernet address of IF, from ifconfig.
get_macaddr() {
	rump "$1" ifconfig "$2" | awk '$1 == "ether" { print $2; exit }'
}

# get_linklocal_addr NODE IF: the fe80:: address of IF (without %IF).
get_linklocal_addr() {
	rump "$1" ifconfig "$2" | awk '$1 == "inet6" && /<link>/ { print $2; exit }'
}

# snmp_counter NODE GROUP NAME: a counter of NODE's /proc/net/snmp, e.g.
# `snmp_counter r Ip ForwDatagrams` (found by name in the header line).
snmp_counter() {
	rump "$1" cat /proc/net/snmp | awk -v g="$2:" -v n="$3" '
		$1 == g && !seen { for (i = 2; i <= NF; i++) if ($i == n) col = i; seen = 1; next }
		$1 == g && seen && col { print $col; exit }'
}

# if_counter NODE IF FIELD: a counter of IF from NODE's /proc/net/dev;
# FIELD is rx_bytes, rx_packets, rx_errs, rx_drop, tx_bytes, tx_packets,
# tx_errs or tx_drop.
if_counter() {
	local col
	case $3 in
	rx_bytes) col=1 ;; rx_packets) col=2 ;; rx_errs) col=3 ;; rx_drop) col=4 ;;
	tx_bytes) col=9 ;; tx_packets) col=10 ;; tx_errs) col=11 ;; tx_drop) col=12 ;;
	*) echo "if_counter: unknown field $3" >&2; return 1 ;;
	esac
	rump "$1" cat /proc/net/dev | awk -v i="$2" -v c="$col" '
		{ sub(/^ +/, "") }
		index($0, i ":") == 1 { sub(/^[^:]*:/, ""); split($0, f, " "); print f[c]; exit }'
}

# --- what crossed a bus ---------------------------------------------------

# bus_text BUS [TCPDUMP ARGS...]: every frame still on the bus, as
# `tcpdump -n -e -tt` text (plus the given arguments, e.g. -v), one line
# per frame (the continuation lines of -v are joined to their frame's).
bus_text() {
	local bus=$1 path pcap=$WORKDIR/state/dump.pcap
	shift
	path=$(bus_path "$bus") || return 1
	rumpctl dumpbus -o "$pcap" "$path" || return 1
	tcpdump -n -e -tt "$@" -r "$pcap" 2>/dev/null |
		awk '/^[0-9]/ { if (r != "") print r; r = $0; next }
			{ sub(/^[ \t]+/, ""); r = r " " $0 }
			END { if (r != "") print r }'
}

# extract_new_packets BUS [TCPDUMP ARGS...]: the frames added to BUS since
# the previous call for that bus (all of them the first time), as
# bus_text prints them. The previous call's newest frame is remembered by
# its timestamp, addresses and length; frames after it are new. When it
# has been overwritten (the bus is a 1 MiB ring), everything is new.
extract_new_packets() {
	local bus=$1 text mark=$WORKDIR/state/mark.$1
	shift
	text=$(bus_text "$bus" "$@") || {
		echo "extract_new_packets: cannot read bus $bus" >&2
		return 1
	}
	[ -f "$mark" ] || : >"$mark"
	awk -v markfile="$mark" '
		function key(line) {
			if (match(line, /length [0-9]+:/)) return substr(line, 1, RSTART + RLENGTH - 1)
			return line
		}
		BEGIN { getline old < markfile; n = 0 }
		{ n++; k[n] = key($0); rec[n] = $0 }
		END {
			start = 1
			if (old != "") for (i = n; i >= 1; i--) if (k[i] == old) { start = i + 1; break }
			for (i = start; i <= n; i++) print rec[i]
			if (n > 0) print k[n] > markfile
		}' <<<"$text"
}

# --- traffic --------------------------------------------------------------

# make_file PATH BYTES: a file of random bytes.
make_file() {
	head -c "$2" /dev/urandom >"$1"
}

# sha256_of FILE
sha256_of() {
	sha256sum "$1" | awk '{ print $1 }'
}

# wait_listening NODE PORT [TIMEOUT]: waits until a TCP socket in NODE's
# kernel listens on PORT (from /proc/net/tcp and tcp6). An assertion.
wait_listening() {
	local node=$1 port=$2 timeout=${3:-10}
	local hex
	hex=$(printf ':%04X' "$port")
	wait_for "$node: something listens on TCP port $port" "$timeout" \
		_net_listening "$node" "$hex"
}

_net_listening() {
	rump "$1" cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		awk -v p="$2" 'index($2, p) == length($2) - length(p) + 1 && $4 == "0A" { f = 1 } END { exit !f }'
}

# rump_bg NODE CMD ARGS...: like rump, in the background (redirect its
# input and output at the call); its pid is left in RUMP_BG_PID, and
# cleanup kills it if it is still running then.
rump_bg() {
	local url
	url=$(node_url "$1") || fail "rump_bg: no node $1"
	shift
	[ "${NET_DEBUG:-0}" = 1 ] && echo "+ [$url] $* &" >&2
	# <&0: a background command's input would otherwise be /dev/null,
	# not what the caller redirected.
	env -u RUMPHIJACK RUMP_SERVER="$url" LD_PRELOAD="$HIJACK_LIB" "$@" <&0 &
	RUMP_BG_PID=$!
	NET_BG_PIDS+=("$RUMP_BG_PID")
}

# wait_bg PID TIMEOUT: waits for a background command; prints nothing and
# returns its status, or 124 after killing it when TIMEOUT seconds pass.
wait_bg() {
	local pid=$1 deadline=$((SECONDS + $2))
	while _net_alive "$pid"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			kill "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			return 124
		fi
		sleep 0.05
	done
	wait "$pid"
}

# start_nc_server NODE PORT OUTFILE [NC OPTIONS...]: `nc -l PORT` in NODE's
# kernel writing what it receives to OUTFILE (its stderr to OUTFILE.err),
# in the background; returns once it listens.
start_nc_server() {
	local node=$1 port=$2 out=$3
	shift 3
	rump_bg "$node" nc "$@" -l "$port" >"$out" 2>"$out.err"
	NET_NC_PIDS+=("$RUMP_BG_PID")
	NET_NC_ERR[$RUMP_BG_PID]=$out.err
	wait_listening "$node" "$port"
}

# wait_nc_server [TIMEOUT]: waits for the nc servers to exit (their
# client closed); an assertion.
wait_nc_server() {
	local timeout=${1:-60} pid st
	for pid in "${NET_NC_PIDS[@]}"; do
		wait_bg "$pid" "$timeout"
		st=$?
		[ "$st" -eq 124 ] && fail "the nc server finished within ${timeout} s"
		[ "$st" -eq 0 ] || fail "the nc server exited with status 0" "[exit $st] $(cat "${NET_NC_ERR[$pid]}" 2>/dev/null)"
	done
	NET_NC_PIDS=()
	ok "the nc server received everything and exited"
}

# stop_nc_server: kills the nc servers still running.
stop_nc_server() {
	local pid
	for pid in "${NET_NC_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	NET_NC_PIDS=()
}

# --- the end --------------------------------------------------------------

# Whether process PID is still running (a zombie counts as gone).
_net_alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

# What the nodes and buses looked like, for a failed run.
_net_dump() {
	local f node bus
	echo "# --- state at failure (work directory $WORKDIR) ---"
	for f in "$WORKDIR"/nodes/*.url; do
		[ -e "$f" ] || continue
		node=$(basename "$f" .url)
		{
			echo "[$node] ifconfig -a"; rump "$node" ifconfig -a 2>&1
			echo "[$node] route -n"; rump "$node" route -n 2>&1
			echo "[$node] arp -n"; rump "$node" arp -n 2>&1
		} | sed 's/^/#   /'
	done
	for f in "$WORKDIR"/buses/*; do
		[ -e "$f" ] || continue
		bus=$(basename "$f")
		echo "#   [bus $bus] last frames"
		bus_text "$bus" 2>&1 | tail -n 20 | sed 's/^/#   /'
	done
	if [ -n "$NET_DIR" ] && [ -z "${NET_DIR_DOWN:-}" ] && [ -d "$NET_DIR" ]; then
		echo "#   [rumpctl net status]"
		rumpctl net status -d "$NET_DIR" 2>&1 | sed 's/^/#   /'
	fi
}

# cleanup: kills background commands, takes a `rumpctl net` topology down,
# halts every server (SIGTERM, SIGKILL after 10 s), checks that none of
# them (nor anything naming the work directory) is left, and removes the
# work directory unless KEEP=1. Installed as the EXIT trap; keeps the
# script's status, or makes it 1 when something survived.
cleanup() {
	local rc=$? pid left=() i
	trap - EXIT
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "${NET_DUMP:-1}" = 1 ]; then
		_net_dump
	fi
	for pid in "${NET_BG_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${NET_BG_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	if [ -n "$NET_DIR" ] && [ -z "${NET_DIR_DOWN:-}" ] && [ -d "$NET_DIR" ]; then
		timeout 60 env -u LD_PRELOAD "$RUMPCTL_BIN" net down -d "$NET_DIR" >/dev/null 2>&1
	fi
	for pid in "${NET_SERVER_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for ((i = 0; i < 100; i++)); do
		left=()
		for pid in "${NET_SERVER_PIDS[@]}"; do
			_net_alive "$pid" && left+=("$pid")
		done
		[ ${#left[@]} -eq 0 ] && break
		sleep 0.1
	done
	if [ ${#left[@]} -gt 0 ]; then
		echo "# rump_server ${left[*]} ignored SIGTERM for 10 s; killing" >&2
		kill -KILL "${left[@]}" 2>/dev/null
		rc=1
	fi
	for pid in "${NET_SERVER_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	for pid in "${NET_NETNS[@]}"; do
		ip netns del "$pid" 2>/dev/null
	done
	# Servers started by `rumpctl net` are not our children: find them by
	# the work directory their command lines name.
	left=()
	for ((i = 0; i < 50; i++)); do
		mapfile -t left < <(pgrep -f -- "$WORKDIR/" 2>/dev/null | grep -vx "$$")
		[ ${#left[@]} -eq 0 ] && break
		sleep 0.1
	done
	if [ ${#left[@]} -gt 0 ]; then
		echo "# still running after cleanup:" >&2
		ps -o pid,args -p "$(IFS=,; echo "${left[*]}")" >&2
		kill -KILL "${left[@]}" 2>/dev/null
		rc=1
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		echo "# kept $WORKDIR"
	else
		rm -rf "$WORKDIR"
	fi
	if [ "$rc" -eq 0 ]; then
		if [ ${#NET_SERVER_PIDS[@]} -gt 0 ] || [ -n "$NET_DIR" ]; then
			ok "cleanup: every rump_server of this run has exited"
		fi
		echo "1..$NET_ASSERTIONS"
	fi
	exit "$rc"
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
