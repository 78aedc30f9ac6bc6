#!/usr/bin/env bash
# Reset throughput on DynamoDB Local: starts a local stack of its own on free ports, runs the
# release build of tools/bench's reset-bench against it, and stops the stack.
# ACCOUNTS (100000), RUNS (3), SHARD_CONCURRENCY, ACCOUNT_CONCURRENCY, PAGE pass through; each run
# is paired with its floor (see tools/bench's reset-bench).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/target-dir.sh
. "$root/scripts/target-dir.sh"
stack=bench-$$
trap 'scripts/local-stack.sh stop "$stack" >/dev/null 2>&1 || true; rm -rf ".local/$stack"' EXIT INT TERM
scripts/local-stack.sh start "$stack"
set -a
# shellcheck disable=SC1090
. ".local/$stack/stack.env"
set +a
cargo build --locked --release -p bench --bin reset-bench
DYNAMODB_PID=$(cat ".local/$stack/dynamodb.pid") "$CARGO_TARGET_DIR/release/reset-bench" | tee "${BENCH_OUT:-/dev/null}"
