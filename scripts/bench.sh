#!/usr/bin/env bash
# Runs benchmarks on a release build; each writes docs/benchmarks/<name>.md.
#   scripts/bench.sh            # every benchmark
#   scripts/bench.sh search     # one of: search, cache, checkout, move, edge
#   scripts/bench.sh search --products 20000 --seconds 5   # extra arguments go to it
# Installs what is missing first (same bootstrap as the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
# The edge benchmark puts Debian's nginx-light in front of a pod.
if [ "${1:-all}" = edge ] || [ "${1:-all}" = all ]; then
  if [ ! -x /usr/sbin/nginx ]; then
    echo "bench: installing nginx-light"
    if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
    # Debian starts it as a service on port 80; the benchmark runs its own.
    $sudo service nginx stop >/dev/null 2>&1 || true
  fi
fi
cargo build --release --bin mercato
mercato="${CARGO_TARGET_DIR:-target}/release/mercato"
which="${1:-all}"
[ $# -gt 0 ] && shift
case "$which" in
  search) "$mercato" bench search "$@" ;;
  cache) "$mercato" bench cache "$@" ;;
  checkout) "$mercato" bench checkout "$@" ;;
  move) "$mercato" bench move "$@" ;;
  edge) "$mercato" bench edge "$@" ;;
  all)
    "$mercato" bench search
    "$mercato" bench cache
    "$mercato" bench checkout
    "$mercato" bench move
    "$mercato" bench edge
    ;;
  *) echo "usage: $0 [search|cache|checkout|move|edge|all] [args...]" >&2; exit 2 ;;
esac
