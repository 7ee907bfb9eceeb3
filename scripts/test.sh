#!/usr/bin/env bash
# The whole test suite: formatting, lints, every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
# Strict: a test may skip only for a host fact that is really missing.
export RUMP_STRICT_TESTS="${RUMP_STRICT_TESTS:-1}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# Remote kernels on the same host talk through shared memory by default;
# the client, the hijack's C programs and its real tools once more over
# plain sockets, the fallback.
RUMP_TRANSPORT=socket cargo test -p rumpclient
RUMP_TRANSPORT=socket cargo test -p rump-hijack --test ctests --test tools
# Syscall User Dispatch armed in every hijacked process (the default arms
# it only where code makes its own syscalls): the C programs, the
# real tools (and sqlite) once more with every raw syscall caught.
RUMP_TEST_SYSCALLS=all cargo test -p rump-hijack --test ctests --test tools --test sqlite
