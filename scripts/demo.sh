#!/usr/bin/env bash
# The main job: build everything in release mode and run the demo against
# an in-process rump kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace
cargo run --release -q -p rump-kernel --example demo
