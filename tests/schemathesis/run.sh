#!/usr/bin/env bash
# schemathesis against the real `gp-online serve` binary (debug build) holding the demo practice,
# authenticated in turn as a patient, a proxy, a clinician, an admin and the clinical system's
# integration key, with the checks `not_a_server_error` and `response_schema_conformance`. Exits
# non-zero when any role's run finds a failure. Results: docs/RELIABILITY.md.
#
#   tests/schemathesis/run.sh                      # SQLite, every role, 25 examples per operation
#   SCHEMATHESIS_MAX_EXAMPLES=200 tests/schemathesis/run.sh
#   SCHEMATHESIS_ROLES="PROXY INTEGRATION" tests/schemathesis/run.sh
#   GP_ONLINE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres tests/schemathesis/run.sh
#
# schemathesis and its dependencies (tests/schemathesis/requirements.txt, pinned) are installed
# into target/schemathesis/venv; each role's JUnit report goes to target/schemathesis/<role>/.
set -euo pipefail
cd "$(dirname "$0")/../.."

max_examples=${SCHEMATHESIS_MAX_EXAMPLES:-25}
roles=${SCHEMATHESIS_ROLES:-"PATIENT PROXY CLINICIAN ADMIN INTEGRATION"}
out=target/schemathesis
venv=$out/venv

mkdir -p "$out"
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --requirement tests/schemathesis/requirements.txt
fi
cargo build --quiet -p gp-online -p gp-online-tests --example schemathesis-credentials

work=$(mktemp -d)
server=
database=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    if [ -n "$database" ]; then
        psql --quiet "$GP_ONLINE_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $database" >/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${GP_ONLINE_TEST_DATABASE_URL:-}" ]; then
    database=gp_schemathesis_$$
    psql --quiet "$GP_ONLINE_TEST_DATABASE_URL" -c "CREATE DATABASE $database" >/dev/null
    url="${GP_ONLINE_TEST_DATABASE_URL%/*}/$database"
else
    url="sqlite://$work/gp-online.db?mode=rwc"
fi
export GP_ONLINE__DATABASE__URL=$url GP_ONLINE__LOG__FILTER=warn
target/debug/gp-online demo >/dev/null
target/debug/examples/schemathesis-credentials --database-url "$url" >"$work/credentials"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target/debug/gp-online serve --http --listen "127.0.0.1:$port" --data-dir "$work/data" \
    >"$out/server.log" 2>&1 &
server=$!
base=http://127.0.0.1:$port
for _ in $(seq 100); do
    curl --silent --fail "$base/readyz" >/dev/null && break
    sleep 0.2
done

failed=()
for role in $roles; do
    token=$(sed -n "s/^${role}_TOKEN=//p" "$work/credentials")
    patient=$(sed -n "s/^${role}_PATIENT_ID=//p" "$work/credentials")
    device=$(sed -n "s/^${role}_DEVICE_ID=//p" "$work/credentials")
    echo "== $role"
    started=$(date +%s)
    if GP_TOKEN=$token GP_PATIENT_ID=$patient GP_DEVICE_ID=${device:-00000000-0000-4000-8000-000000000000} \
        "$venv/bin/schemathesis" --config-file tests/schemathesis/schemathesis.toml \
        run "$base/api/openapi.json" \
        --checks not_a_server_error,response_schema_conformance \
        --max-examples "$max_examples" --seed 18 --workers 2 --no-color \
        --report junit --report-junit-path "$out/$role/junit.xml"; then
        echo "== $role passed in $(($(date +%s) - started)) s"
    else
        echo "== $role FAILED in $(($(date +%s) - started)) s"
        failed+=("$role")
    fi
done
if grep -q "panicked" "$out/server.log"; then
    echo "the server panicked: $out/server.log"
    failed+=(panic)
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}"
    exit 1
fi
echo "every role passed"
