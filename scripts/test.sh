#!/usr/bin/env bash
# Installs what is missing and runs every test of the workspace: unit tests
# and the end-to-end tests that start real Postgres and Redis processes.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
exec cargo nextest run --workspace --no-fail-fast "$@"
