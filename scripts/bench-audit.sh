#!/usr/bin/env bash
# The audit's accounts check on DynamoDB Local: starts a local stack of its own on free ports,
# runs the release build of tools/bench's audit-bench against it, and stops the stack.
# ACCOUNTS (5000), SESSIONS (12), RUNS (3) and CONCURRENCY pass through.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/target-dir.sh
. "$root/scripts/target-dir.sh"
stack=bench-audit-$$
trap 'scripts/local-stack.sh stop "$stack" >/dev/null 2>&1 || true; rm -rf ".local/$stack"' EXIT INT TERM
scripts/local-stack.sh start "$stack"
set -a
# shellcheck disable=SC1090
. ".local/$stack/stack.env"
set +a
cargo build --locked --release -p bench --bin audit-bench
"$CARGO_TARGET_DIR/release/audit-bench" | tee "${BENCH_OUT:-/dev/null}"
