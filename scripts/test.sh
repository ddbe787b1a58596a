#!/usr/bin/env bash
# Installs what is missing and runs every test of the workspace: unit tests
# and the end-to-end tests that start real Postgres and Redis processes.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
# Every end-to-end test starts its own throwaway Postgres, Redis and broker
# under a temporary folder: in memory (tmpfs) they start and write about
# twice as fast as on disk on the CI machine.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi
exec cargo nextest run --workspace --no-fail-fast "$@"
