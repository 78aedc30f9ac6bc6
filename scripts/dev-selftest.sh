#!/usr/bin/env bash
# Proves `make dev-up` stops when a function would refuse to start, instead of reporting the
# stack up while every request to that function fails: real Tavus (a TAVUS_BASE_URL) without a
# persona or replica, which create-session refuses, must make `scripts/dev.sh up` exit non-zero
# with create-session's own reason naming TAVUS_PERSONA_ID_REFLECT, and leave nothing running.
# Reuses the binaries already built (`make test` runs it after its own `scripts/dev.sh up`); a
# stack of its own on free ports, under half a minute. Prints "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
env_name=dev-selftest-$$
work=$(mktemp -d)
trap 'AWAKNOW_ENV=$env_name scripts/dev.sh down >/dev/null 2>&1; rm -rf "$work"' EXIT
passed=0 failed=0

check() { # description, then a command that must succeed
  local what=$1; shift
  if "$@"; then echo "ok: $what"; passed=$((passed + 1)); else echo "FAILED: $what"; failed=$((failed + 1)); fi
}

# Whatever the caller's shell holds, no companion (the refusal must come from the function) and
# no fixed port (the caller's stack may be listening on it).
unset TAVUS_PERSONA_ID_REFLECT TAVUS_PERSONA_ID_RESOLVE TAVUS_REPLICA_ID_REFLECT TAVUS_REPLICA_ID_RESOLVE \
  GATEWAY_PORT FUNCTIONS_PORT TAVUS_SIM_PORT DDB_PORT MOTO_PORT
# Port 9 (discard): nothing is ever sent there, the check runs before any request.
AWAKNOW_ENV=$env_name PICK_FREE_PORTS=1 QUIET=1 WATCH_FLAGS=--ignore-changes \
  TAVUS_BASE_URL=http://127.0.0.1:9 TAVUS_API_KEY=dev-selftest \
  scripts/dev.sh up >"$work/up.out" 2>"$work/up.err"
status=$?

check "up without a persona exits non-zero (it exited $status)" [ "$status" -ne 0 ]
check "its error is create-session's own, naming TAVUS_PERSONA_ID_REFLECT" \
  grep -q 'create-session refuses to start: environment variable TAVUS_PERSONA_ID_REFLECT' "$work/up.err"
check "nothing of the stack is left (no .local/$env_name)" [ ! -e ".local/$env_name" ]
# DynamoDB Local and moto were started before the check: they must be stopped again.
closed() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
read -r -a ports <<<"$(sed -n 's/.*stack .* up: DynamoDB Local on 127\.0\.0\.1:\([0-9]*\), moto on 127\.0\.0\.1:\([0-9]*\).*/\1 \2/p' "$work/up.err")"
check "up said where DynamoDB Local and moto listened (${#ports[@]} ports)" [ "${#ports[@]}" -eq 2 ]
for port in "${ports[@]}"; do
  check "nothing listens on port $port any more" closed "$port"
done
if [ "$failed" -ne 0 ]; then
  echo "--- scripts/dev.sh up said:"
  cat "$work/up.err"
fi

echo "dev selftest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
