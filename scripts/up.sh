#!/usr/bin/env bash
# Installs what is missing, builds Mercato and starts the whole platform on
# loopback: `./scripts/up.sh [mercato up options]` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
cargo build --bin mercato
exec ./target/debug/mercato up "$@"
