#!/usr/bin/env bash
# `make chaos` (SEED=, SESSIONS=, CONCURRENCY=): the fault campaign, then its reconciliation
# tables; exits non-zero on any difference. Without SEED a random one is picked and printed:
# replay a run with the SEED and SESSIONS it printed.
#
# It needs a local stack (scripts/dev.sh up: moto, DynamoDB Local's jars, the functions under
# cargo lambda watch behind the local gateway, that stack's Tavus simulator): make test's, when
# its endpoints are in the environment (GATEWAY_URL), or one of its own on free loopback ports,
# stopped at the end. The in-process phase starts its own DynamoDB Local (from the jars, to kill
# and restart it) and its own simulator; the phase through the gateway uses the stack's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. "$root/scripts/target-dir.sh"

if [ -z "${GATEWAY_URL:-}" ]; then
  export AWAKNOW_ENV=chaos-$$ PICK_FREE_PORTS=1 QUIET=1 WATCH_FLAGS=--ignore-changes
  # As in make test's stack: the stories create faster than a person would.
  export CREATES_PER_USER_PER_MINUTE=${CREATES_PER_USER_PER_MINUTE:-60000}
  trap 'scripts/dev.sh down >/dev/null 2>&1 || true' EXIT INT TERM
  scripts/dev.sh up
  set -a
  # shellcheck disable=SC1090
  . ".local/$AWAKNOW_ENV/endpoints.env"
  set +a
fi
cargo run --quiet --locked -p chaos
