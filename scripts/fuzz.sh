#!/usr/bin/env bash
# Fuzzes the HTTP APIs with Schemathesis, driven by the OpenAPI documents the
# processes serve: the store API (a pod's `/openapi.json`, on a store's
# domain) with an owner token, a customer token and no token, and the control
# plane's API (`/openapi.json` on the platform domain) with the operator
# token and no token. Every request goes through the router, as a client's
# would. Any 5xx, an undocumented status or content type, a response that
# does not match its schema, or a request the document allows but a handler
# refuses fails the run.
#
#   ./scripts/fuzz.sh                 # the bounded run CI does (.ci/run)
#   FUZZ_EXAMPLES=200 FUZZ_SEED=$RANDOM ./scripts/fuzz.sh   # a longer hunt
#
# Schemathesis is installed from PyPI into target/fuzz/venv the first time.
# The stack is `mercato up --pods 1` in a throwaway folder on free ports,
# with the router's rate limits off (a fuzzer is one client sending
# thousands of requests); it is stopped when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
# Examples per operation and phase; 15 keeps the whole step within about
# two minutes on a 2-core machine.
EXAMPLES="${FUZZ_EXAMPLES:-15}"
# A fixed seed by default, so CI is repeatable; set FUZZ_SEED to explore.
SEED="${FUZZ_SEED:-20261206}"
PLATFORM=localhost

work=target/fuzz
venv="$work/venv"
st="$venv/bin/schemathesis"
mkdir -p "$work"
if ! "$st" --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then
  echo "fuzz: installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

./scripts/bootstrap.sh
cargo build --quiet --bin mercato

# A folder for the stack and 34 free consecutive ports (the control plane,
# the pod, Postgres, Redis, the gateway, Kafka and the mailbox sit at fixed
# offsets up to +33), and the router just above them.
data="$(mktemp -d /tmp/mercato-fuzz.XXXXXX)"
# Postgres runs as its own user when we are root: it must reach the folder.
chmod 755 "$data"
read -r base listen < <(python3 - <<'EOF'
import random, socket
def free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
while True:
    base = random.randrange(20000, 60000, 100)
    if all(free(p) for p in range(base, base + 35)):
        print(base, base + 34)
        break
EOF
)
router="http://127.0.0.1:$listen"

up_pid=
stop() {
  if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then
    kill -TERM "$up_pid"
    wait "$up_pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap stop EXIT

echo "fuzz: starting a one-pod stack in $data (router on $listen)"
started=$SECONDS
MERCATO_ROUTER_LIMITS__ENABLED=false ./target/debug/mercato up --pods 1 \
  --data-dir "$data" --listen "127.0.0.1:$listen" --port-base "$base" \
  --platform-domain "$PLATFORM" >"$data/up.log" 2>&1 &
up_pid=$!
until grep -q "mercato is up" "$data/up.log"; do
  if ! kill -0 "$up_pid" 2>/dev/null || [ $((SECONDS - started)) -gt 120 ]; then
    echo "fuzz: the stack did not start:" >&2
    cat "$data/up.log" >&2
    tail -n 20 "$data"/logs/*.log >&2 || true
    exit 1
  fi
  sleep 0.2
done
echo "fuzz: stack up in $((SECONDS - started)) s"

operator="$(cat "$data/operator.token")"
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# An HTTP call through the router: HOST METHOD PATH [JSON] [TOKEN].
call() {
  local args=(-sS --fail-with-body -X "$2" -H "Host: $1" "$router$3")
  [ -n "${4:-}" ] && args+=(-H "content-type: application/json" -d "$4")
  [ -n "${5:-}" ] && args+=(-H "Authorization: Bearer $5")
  curl "${args[@]}"
}

# The demo store `up` seeded with products; a customer of it.
store="$(call "$PLATFORM" GET "/v1/stores?handle=demo" "" "$operator" | json_field '["items"][0]["id"]')"
host="demo.$PLATFORM"
# Registration answers 202 and mails a confirmation token; the script reads
# it from the pod's outbox (its Postgres: port base + 11, the password kept
# in the cluster's folder) and confirms, as the shopper would.
call "$host" POST /api/customers \
  '{"email":"fuzz@demo.example","password":"fuzz-password-1","first_name":"Fuzz"}' >/dev/null
confirmation="$(PGPASSWORD="$(cat "$data/pg-pod-1/mercato.password")" \
  "$(pg_config --bindir)/psql" -h 127.0.0.1 -p $((base + 11)) -U mercato -d mercato -Atc \
  "SELECT payload->>'token' FROM outbox WHERE type = 'customer.confirmation_requested' ORDER BY id DESC LIMIT 1")"
customer="$(call "$host" POST /api/customers/confirm \
  "{\"token\":\"$confirmation\",\"password\":\"fuzz-password-1\"}" | json_field '["customer"]["id"]')"

# Tokens come from the control plane's operator API (one place to change
# when signing changes). Sessionless, so the fuzzer's own logouts do not
# end them; a staff token without a session acts as the store's owner.
mint() {
  call "$PLATFORM" POST "/v1/stores/$store/tokens" "{\"role\":\"$1\",\"subject\":\"$2\"}" "$operator" |
    json_field '["token"]'
}
owner="$(mint staff fuzz-owner)"
customer_token="$(mint customer "$customer")"

call "$host" GET /openapi.json >"$work/store-api.json"
call "$PLATFORM" GET /openapi.json >"$work/control-plane-api.json"

failed=()
# One Schemathesis run: NAME DOCUMENT HOST [TOKEN].
fuzz() {
  local name=$1 doc=$2 on=$3 token=${4:-}
  local auth=()
  [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
  local t0=$SECONDS
  echo "fuzz: $name ..."
  # One worker: as fast here (the stack shares the two cores), and two
  # threads once tripped Hypothesis' own lambda-source cache (a runtime error
  # of the tool, not of the API).
  if "$st" --config-file scripts/fuzz.toml run "$doc" --url "$router" -H "Host: $on" "${auth[@]}" \
    --max-examples "$EXAMPLES" --seed "$SEED" --workers 1 \
    --request-timeout 15 --generation-database none --no-color \
    --report junit --report-junit-path "$work/reports/$name.xml" \
    >"$work/$name.log" 2>&1; then
    echo "fuzz: $name passed in $((SECONDS - t0)) s ($(grep -Eo '[0-9]+ generated' "$work/$name.log" | head -n 1) cases)"
  else
    echo "fuzz: $name FAILED in $((SECONDS - t0)) s; $work/$name.log:" >&2
    sed -n '/FAILURES/,$p' "$work/$name.log" | head -n 300 >&2 || true
    failed+=("$name")
  fi
}
mkdir -p "$work/reports"
fuzz store-owner "$work/store-api.json" "$host" "$owner"
fuzz store-customer "$work/store-api.json" "$host" "$customer_token"
fuzz store-anonymous "$work/store-api.json" "$host"
fuzz control-plane-operator "$work/control-plane-api.json" "$PLATFORM" "$operator"
fuzz control-plane-anonymous "$work/control-plane-api.json" "$PLATFORM"

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} of 5 runs failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all 5 runs passed"
