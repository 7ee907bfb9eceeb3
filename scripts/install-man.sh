#!/bin/bash
# Installs the man pages of rump_server and rumpctl (one page per rumpctl
# subcommand, e.g. rumpctl-net-up(1)), generated from their command-line
# definitions by `rumpctl man`, into MANDIR/man1.
#
# usage: scripts/install-man.sh [MANDIR]    (default /usr/local/share/man)
# RUMPCTL names the rumpctl to use (default target/release/rumpctl).
set -euo pipefail
mandir=${1:-/usr/local/share/man}
rumpctl=${RUMPCTL:-$(dirname "$0")/../target/release/rumpctl}
[ -x "$rumpctl" ] || { echo "install-man.sh: $rumpctl is missing (cargo build --release)" >&2; exit 1; }
"$rumpctl" man "$mandir/man1" >/dev/null
echo "man pages in $mandir/man1 (man rumpctl, man rumpctl-net-up, man rump_server)"
