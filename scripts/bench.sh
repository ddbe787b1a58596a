#!/usr/bin/env bash
# Runs benchmarks on a release build; each writes docs/benchmarks/<name>.md.
#   scripts/bench.sh            # every benchmark
#   scripts/bench.sh search     # one of: search, cache, checkout, move
#   scripts/bench.sh search --products 20000 --seconds 5   # extra arguments go to it
# Installs what is missing first (same bootstrap as the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
cargo build --release --bin mercato
mercato="${CARGO_TARGET_DIR:-target}/release/mercato"
which="${1:-all}"
[ $# -gt 0 ] && shift
case "$which" in
  search) "$mercato" bench search "$@" ;;
  cache) "$mercato" bench cache "$@" ;;
  checkout) "$mercato" bench checkout "$@" ;;
  move) "$mercato" bench move "$@" ;;
  all)
    "$mercato" bench search
    "$mercato" bench cache
    "$mercato" bench checkout
    "$mercato" bench move
    ;;
  *) echo "usage: $0 [search|cache|checkout|move|all] [args...]" >&2; exit 2 ;;
esac
