#!/usr/bin/env bash
# `make chaos` (SEED=, SESSIONS=, CONCURRENCY=): the fault campaign on a local stack of its own
# (DynamoDB Local and moto on free loopback ports; the campaign starts its own Tavus simulator
# in-process), then the reconciliation table. Exits non-zero on any difference. Without SEED a
# random one is picked and printed: replay a run with the SEED and SESSIONS it printed.
# When DYNAMODB_ENDPOINT and MOTO_ENDPOINT are set (make test's stack), it uses them instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. "$root/scripts/target-dir.sh"

if [ -z "${DYNAMODB_ENDPOINT:-}" ] || [ -z "${MOTO_ENDPOINT:-}" ]; then
  name=chaos-$$
  trap 'scripts/local-stack.sh stop "$name" >/dev/null 2>&1 || true' EXIT INT TERM
  scripts/local-stack.sh install >/dev/null
  PICK_FREE_PORTS=1 scripts/local-stack.sh start "$name"
  set -a
  # shellcheck disable=SC1090
  . ".local/$name/stack.env"
  set +a
fi
export DYNAMODB_ENDPOINT MOTO_ENDPOINT
cargo run --quiet --locked -p chaos
