#!/usr/bin/env bash
# Checks the running API against openapi.yaml with schemathesis (from PyPI): generated valid and
# invalid requests against every operation; every answer must be documented (status, content
# type, body schema) and none a server error. Needs GATEWAY_URL and DEV_JWT_SECRET (make test
# sets both; or run it beside `make dev-up` with `set -a; . .local/dev/endpoints.env`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${AWAKNOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/awaknow}
venv=$cache/venv-st
version=4.32.5
: "${GATEWAY_URL:?GATEWAY_URL is not set (run through make test, or beside make dev-up)}"
: "${DEV_JWT_SECRET:?DEV_JWT_SECRET is not set}"
if [ ! -x "$venv/bin/st" ] || [ "$("$venv/bin/pip" show schemathesis 2>/dev/null | awk '/^Version/ {print $2}')" != "$version" ]; then
  echo "api-contract: installing schemathesis $version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version"
fi
# shellcheck source=scripts/target-dir.sh
. "$root/scripts/target-dir.sh"
target=$CARGO_TARGET_DIR
user=contract-$(date +%s)-$$
token=$(DEV_JWT_SECRET=$DEV_JWT_SECRET "$target/debug/local-gateway" token "$user")
# schemathesis keeps a cache in its working directory: give it one outside the clone.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
SCHEMATHESIS_TELEMETRY=false "$venv/bin/st" run "$root/openapi.yaml" \
  --url "$GATEWAY_URL" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples "${CONTRACT_EXAMPLES:-25}" \
  --seed "${CONTRACT_SEED:-20261124}" \
  --workers 2 \
  --request-timeout 30 \
  --no-color
