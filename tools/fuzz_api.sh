#!/usr/bin/env bash
# Fuzz the HTTP API from its own OpenAPI document with schemathesis, against a throw-away server
# that `mlgate demo` seeded: no operation may answer 5xx to any input, and every answer's status
# and content type must be documented. `make fuzz-api`; MAX_EXAMPLES=25 cases per operation.
#
# Not part of `make test`: schemathesis pins jsonschema-rs below the release mlgate runs on, so
# it gets a venv of its own (.venv-fuzz), and what a fuzzer finds varies from run to run. What
# it found is kept as ordinary tests (tests/test_api_input.py and others).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_VENV=${FUZZ_VENV:-.venv-fuzz}
MAX_EXAMPLES=${MAX_EXAMPLES:-25}
MLGATE=$PWD/.venv/bin/mlgate
[ -x "$MLGATE" ] || { echo "run 'make install' first" >&2; exit 1; }
if [ ! -x "$FUZZ_VENV/bin/st" ]; then
    python3 -m venv "$FUZZ_VENV"
    "$FUZZ_VENV/bin/pip" install --quiet 'schemathesis>=4.32,<5'
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
export MLGATE_DATA_DIR=$work/data MLGATE_DATABASE_URL=sqlite:///$work/mlgate.db MLGATE_PORT=$port
"$MLGATE" init >/dev/null
"$MLGATE" serve >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 300); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$base/healthz" >/dev/null || { cat "$work/server.log" >&2; exit 1; }
"$MLGATE" demo >/dev/null

# Names that exist, so generated calls reach the logic behind the 404s: model and route
# iris-demo ({name} is both a model's and a route's), route iris, version 1, incident 1.
key=$(cat "$MLGATE_DATA_DIR/admin.key")
call() { curl -sf -X POST -H "Authorization: Bearer $key" -H 'content-type: application/json' -d "$2" "$base$1" >/dev/null; }
call /api/v1/routes '{"name": "iris-demo", "model": "iris-demo"}'
call /api/v1/incidents '{"title": "fuzzing", "severity": "SEV3"}'
cat >"$work/schemathesis.toml" <<TOML
[parameters]
"path.model" = "iris-demo"
"path.name" = "iris-demo"
"path.version" = 1
"path.route" = "iris"
"path.alias" = "production"
"path.artifact" = "model.onnx"
"path.ref" = "1"
"path.subject" = "iris-demo"
TOML
status=0
"$FUZZ_VENV/bin/st" --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
    -H "Authorization: Bearer $key" --max-examples "$MAX_EXAMPLES" --workers 1 \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    || status=$?
if grep -q '"internal error"' "$work/server.log"; then
    echo "the server logged internal errors:" >&2
    grep '"internal error"' "$work/server.log" | head -5 >&2
    status=1
fi
exit $status
