#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 20) on
# its committed corpus (fuzz/corpus/TARGET, grown in place) and fails on
# the first crash, leak or timeout. Needs the nightly toolchain and
# cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}
cargo +nightly fuzz build -O
for target in $(cargo +nightly fuzz list); do
	mkdir -p "corpus/$target"
	echo "fuzz: $target for ${seconds}s"
	cargo +nightly fuzz run -O "$target" "corpus/$target" -- \
		-max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1
done
