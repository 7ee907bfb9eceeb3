#!/usr/bin/env bash
# Runs the benchmarks; every figure is printed beside its host baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace
cargo bench -p rump-kernel --bench syscall
cargo bench -p rump-tools --bench remote
cargo bench -p rump-hijack --bench hijack
cargo bench -p rump-hijack --bench events
cargo bench -p rump-tools --bench net
scripts/bench_chain.sh 255
