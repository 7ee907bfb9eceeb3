#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 20) on
# its committed corpus (fuzz/corpus/TARGET, read only: new inputs go to a
# scratch directory) and fails on the first crash, leak or timeout; the
# crashing input is left in fuzz/artifacts/TARGET. Needs the nightly
# toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo +nightly fuzz build -O
for target in $(cargo +nightly fuzz list); do
	mkdir -p "corpus/$target" "$scratch/$target"
	echo "fuzz: $target for ${seconds}s"
	cargo +nightly fuzz run -O "$target" "$scratch/$target" "corpus/$target" -- \
		-max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1
done
