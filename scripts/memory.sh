#!/usr/bin/env bash
# What a rump_server's memory is: RSS, PSS and private memory, and the RSS
# by kind of mapping, averaged over the processes given (or over one idle
# server started here, no client ever connected, with --idle-server):
#   program text    rump_server's read-only segments (code, constants)
#   program data    its relocated (RELRO) and writable segments, and bss
#   libraries       shared libraries' read-only segments (libc, ld.so, libgcc)
#   library data    their writable and relocated segments
#   heap            the brk heap and malloc's per-thread arenas
#   stacks          the main stack and each thread's
#   bus             shmif bus files mapped (shared with the bus's other nodes)
#   other           any other anonymous memory
# Text is the page cache's, one copy for all servers; a server maps it as
# it runs it, and lets go of it when at rest (tools/src/idle_text.rs).
# With NODES=N in the environment (the kernels the processes run in all,
# as `rumpctl net up` puts several nodes in one server), the figures are
# per node rather than per process.
# Usage: scripts/memory.sh PID...        scripts/memory.sh --idle-server
# (--idle-server needs a release build, or RUMP_BIN=DIR holding rump_server)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --idle-server ]; then
	dir=$(mktemp -d /tmp/rumpmem.XXXXXX)
	"${RUMP_BIN:-target/release}/rump_server" -s "unix://$dir/sock" &
	pid=$!
	trap 'kill $pid; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
	while [ ! -S "$dir/sock" ]; do sleep 0.01; done
	# At rest: a server never called lets go of start-up's text after 2 to
	# 2.5 s; a second later its idle threads have mapped what they run.
	sleep 4
	echo "idle rump_server (no client yet), pid $pid"
	"$0" "$pid"
	exit
fi
[ $# -gt 0 ] || { echo "usage: $0 PID... | --idle-server" >&2; exit 2; }

declare -A kb=()
n=0 threads=0
for p in "$@"; do
	while read -r k v; do kb[$k]=$((${kb[$k]:-0} + v)); done < <(
		awk '/^(Rss|Pss|Anonymous):/ { print $1, $2 }' "/proc/$p/smaps_rollup"
		awk '
		# Each mapping is classified at its last line (VmFlags), once its
		# Anonymous count is known: a read-only file mapping with private
		# copies was written (relocated) at start-up, so it is data.
		/^[0-9a-f]+-[0-9a-f]+ / { split($1, a, "-"); perm = $2; f = $6; rss = 0; anon_kb = 0 }
		/^Rss:/ { rss = $2 }
		/^Anonymous:/ { anon_kb = $2 }
		/^VmFlags:/ {
			anon = (f == "" || f ~ /^\[/)
			prog = (f ~ /\/rump_server$/)
			if (f ~ /^\// && perm ~ /s/) k = "bus"
			else if (f ~ /^\//) k = (perm ~ /w/ || anon_kb > 0) ? (prog ? "data" : "libdata") : (prog ? "text" : "libs")
			else if (f == "[heap]") k = "heap"
			else if (f == "[stack]") k = "stack"
			else if (anon && a[1] ~ /[048c]000000$/) k = "heap"
			else if (anon && prev_perm == "---p" && prev_anon && prev_end == a[1]) k = "stack"
			else if (anon && prev_end == a[1] && prev_file ~ /^\// && prev_perm ~ /w/) k = (prev_file ~ /\/rump_server$/) ? "data" : "libdata"
			else k = "other"
			s[k] += rss
			prev_perm = perm; prev_anon = anon; prev_end = a[2]; prev_file = f
		}
		END { for (k in s) print k, s[k] }' "/proc/$p/smaps"
		awk '/^Threads:/ { print "threads", $2 }' "/proc/$p/status"
	)
	n=$((n + 1))
done
per=${NODES:-$n}
what="per process (average of $n)"
[ -n "${NODES:-}" ] && what="per node ($per nodes in $n processes)"
avg() { echo $((${kb[$1]:-0} / per)); }
row() { printf "  %-44s %8s kB\n" "$1" "$(avg "$2")"; }
printf "%-46s %8s kB   (NetBSD rump_server: 700-1500 kB)\n" "RSS $what" "$(avg Rss:)"
row "PSS (shared pages split)" Pss:
row "private (anonymous: this process's alone)" Anonymous:
row "RSS: program text (shared)" text
row "RSS: program data (relocated, bss)" data
row "RSS: libraries' text (shared)" libs
row "RSS: libraries' data" libdata
row "RSS: heap and malloc arenas" heap
row "RSS: stacks (main and threads)" stack
row "RSS: bus mappings (shared)" bus
row "RSS: other anonymous" other
printf "  %-44s %8s\n" "threads" "$(awk -v t="${kb[threads]:-0}" -v n="$per" 'BEGIN { printf "%.1f", t / n }')"
