#!/usr/bin/env bash
# Runs the benchmarks on a release build; each writes docs/benchmarks/<name>.md.
# Extra arguments go to `mercato bench search` (e.g. --products 20000 --seconds 5).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin mercato
"${CARGO_TARGET_DIR:-target}/release/mercato" bench search "$@"
