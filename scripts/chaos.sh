#!/usr/bin/env bash
# `make chaos` (SEED=, SESSIONS=, CONCURRENCY=): the fault campaign on a local stack of its own
# (moto on a free loopback port, and DynamoDB Local's jars: the campaign starts a DynamoDB Local
# of its own from them, to kill and restart mid-run, and its own Tavus simulator in-process),
# then the reconciliation table. Exits non-zero on any difference. Without SEED a random one is
# picked and printed: replay a run with the SEED and SESSIONS it printed.
# When MOTO_ENDPOINT and DDB_LOCAL_CLASSPATH are set (make test's stack), it uses them instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. "$root/scripts/target-dir.sh"

if [ -z "${MOTO_ENDPOINT:-}" ] || [ -z "${DDB_LOCAL_CLASSPATH:-}" ]; then
  name=chaos-$$
  trap 'scripts/local-stack.sh stop "$name" >/dev/null 2>&1 || true' EXIT INT TERM
  scripts/local-stack.sh install >/dev/null
  PICK_FREE_PORTS=1 scripts/local-stack.sh start "$name"
  set -a
  # shellcheck disable=SC1090
  . ".local/$name/stack.env"
  set +a
fi
export MOTO_ENDPOINT DDB_LOCAL_CLASSPATH DDB_LOCAL_LIBRARY_PATH
cargo run --quiet --locked -p chaos
