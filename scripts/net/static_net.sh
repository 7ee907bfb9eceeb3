#!/usr/bin/env bash
# Static binaries on a `rumpctl net` topology (static_net.toml: a and b
# on one bus), started with `rumpctl net exec` and served by the node's
# seccomp supervisor (no preload library can enter them):
# - a Go HTTP server (CGO_ENABLED=0) on a answers curl on b;
# - a Go TCP client on b talks to `nc -l` on a, both ways;
# - busybox-static's wget on b fetches from `python3 -m http.server` on a;
# - busybox's ip addr, ip route and ifconfig on b show b's kernel, not
#   the host's interfaces.
# shellcheck source=scripts/net_common.sh
. "$(dirname "$0")/../net_common.sh"
require_tool go golang-go
require_tool busybox busybox-static
require_tool curl curl
require_tool nc netcat-openbsd
require_tool python3 python3
BUSYBOX=$(command -v busybox)
ldd "$BUSYBOX" >/dev/null 2>&1 && skip "$BUSYBOX is dynamic (apt-get install busybox-static)"

for p in httpd tcpclient; do
	expect_success "go build $p.go (static: CGO_ENABLED=0)" \
		env GO111MODULE=off CGO_ENABLED=0 go build -o "$WORKDIR/$p" "$NET_REPO_DIR/tools/tests/static/$p.go"
done

net_up "$(dirname "$0")/static_net.toml"

# net_exec_bg NODE CMD ARGS...: `rumpctl net exec` in the background
# (output where the caller redirects it), killed by cleanup.
net_exec_bg() {
	local node=$1
	shift
	env -u LD_PRELOAD "$RUMPCTL_BIN" net exec -d "$NET_DIR" "$node" -- "$@" &
	NET_BG_PIDS+=("$!")
}

net_exec_bg a "$WORKDIR/httpd" 10.0.0.1:8080 >"$WORKDIR/httpd.out" 2>&1
wait_listening a 8080
expect_match "curl on b gets the page of the Go server on a" \
	'^hello from go, path /hello, client 10\.0\.0\.2$' rump b curl -sS --max-time 10 http://10.0.0.1:8080/hello
expect_match "and again, on a new connection" \
	'^hello from go, path /again, client 10\.0\.0\.2$' rump b curl -sS --max-time 10 http://10.0.0.1:8080/again

start_nc_server a 5000 "$WORKDIR/nc.got" <<<"reply from nc"
expect_match "a Go TCP client on b gets nc's reply from a" \
	'^sent 14 bytes from 10\.0\.0\.2, got "reply from nc\\n", err <nil>$' \
	rumpctl net exec -d "$NET_DIR" b -- "$WORKDIR/tcpclient" 10.0.0.1:5000
wait_nc_server 20
expect_equal "nc on a received the Go client's line" "hello from go" "$(cat "$WORKDIR/nc.got")"

mkdir -p "$WORKDIR/www"
echo "page from python" >"$WORKDIR/www/p.txt"
rump_bg a python3 -m http.server --bind 10.0.0.1 8000 --directory "$WORKDIR/www" >"$WORKDIR/py.log" 2>&1
wait_listening a 8000
expect_match "busybox wget on b fetches python's file on a" '^page from python$' \
	rumpctl net exec -d "$NET_DIR" b -- busybox wget -q -O- http://10.0.0.1:8000/p.txt
expect_match "python on a logged b's request" '^10\.0\.0\.2 .*"GET /p.txt HTTP/1.1" 200' cat "$WORKDIR/py.log"

expect_match "busybox ip addr on b: 10.0.0.2/24 on shmif0 (netlink served by b's kernel)" \
	'inet 10\.0\.0\.2/24 brd 10\.0\.0\.255 scope global shmif0' rumpctl net exec -d "$NET_DIR" b -- busybox ip addr
ip_addr=$LAST_OUTPUT
expect_equal "busybox ip addr on b lists lo0 and shmif0 only" "lo0 shmif0" \
	"$(awk -F': ' '/^[0-9]+: / { print $2 }' <<<"$ip_addr" | xargs)"
expect_match "busybox ip route on b: the bus's subnet on shmif0" '^10\.0\.0\.0/24 dev shmif0 .*src 10\.0\.0\.2' \
	rumpctl net exec -d "$NET_DIR" b -- busybox ip route
expect_match "busybox ifconfig on b: shmif0 holds 10.0.0.2 (ioctls served by b's kernel)" \
	'inet addr:10\.0\.0\.2 +Bcast:10\.0\.0\.255 +Mask:255\.255\.255\.0' \
	rumpctl net exec -d "$NET_DIR" b -- busybox ifconfig shmif0

# Once its static programs have exited, b's server is idle: their
# supervisors ended with them (no thread left on a hung-up listener).
pid_b=$(rumpctl net status -d "$NET_DIR" | awk '$1 == "b" { print $2; exit }')
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ticks_before=$(cpu_ticks "$pid_b")
pause_for 1
ticks_after=$(cpu_ticks "$pid_b")
expect_success "b's server is idle after its static programs ($ticks_before -> $ticks_after CPU ticks in 1 s)" \
	test $((ticks_after - ticks_before)) -le 5
net_down
