#!/usr/bin/env bash
# `make bench`: builds the release bootstraps and a hello-world Lambda with cargo-lambda, starts
# the local stack and API (as `make dev` does, on free ports), then prints and writes:
#   init time and peak RSS of every function against the hello world (median of STARTS=20),
#   init plus the first request of create-session and get-usage against the hello world's,
#   POST /sessions and GET /usage latency at 1, 8 and 32 clients through the runtime API, each
#   beside its floor (the same ledger calls made directly with the functions' SDK configuration
#   against the same DynamoDB Local), and through the gateway, bootstrap sizes, and the reset's
#   throughput beside its floor (BENCH_RESET_ACCOUNTS=20000, three runs; make bench-reset does
#   100,000); then the goals, for this run and as the median of the runs of this commit kept.
# PHASES (init,cold,latency,gateway,reset) picks what runs; BOOTSTRAP_DIR_VS=<another build's
# target/lambda> also starts that build's functions in turn with these (see lambda-bench).
# Results: .local/bench/results.json; every run also in .local/bench/history/. docs/performance.md
# says what each figure means.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/target-dir.sh
. "$root/scripts/target-dir.sh"
target=$CARGO_TARGET_DIR
venv=$(scripts/local-stack.sh venv)
[ -x "$venv/bin/cargo-lambda" ] || scripts/local-stack.sh install
export PATH="$venv/bin:$PATH" CARGO_LAMBDA_COMPILER=cargo
out=.local/bench
mkdir -p "$out"

echo "bench: building release bootstraps (LTO; several minutes the first time)"
bins=(create-session get-usage tavus-webhook monthly-reset sweep-sessions set-plan hello-lambda)
args=()
for b in "${bins[@]}"; do args+=(--bin "$b"); done
cargo lambda build --release --locked "${args[@]}"
cargo build --locked --release -p bench --bin lambda-bench --bin reset-bench

# The simulator must not refuse for capacity: every bench client keeps its calls open.
export AWAKNOW_ENV=bench-$$ PICK_FREE_PORTS=1 QUIET=1 WATCH_FLAGS=--ignore-changes FUNCTION_CONCURRENCY=8 TAVUS_SIM_MAX_CONCURRENT=1000000
# Every bench client keeps the sessions it opens open: the cap on open sessions is raised out of
# the way (for the functions under the gateway, and for lambda-bench's own processes).
export MAX_OPEN_SESSIONS_PER_USER=1000000
# And the pace of creates per user: a bench client creates far faster than a person.
export CREATES_PER_USER_PER_MINUTE=60000
unset TAVUS_BASE_URL TAVUS_API_KEY PUBLIC_API_URL
trap 'scripts/dev.sh down >/dev/null 2>&1 || true' EXIT INT TERM
scripts/dev.sh up
set -a
# shellcheck disable=SC1090
. ".local/$AWAKNOW_ENV/endpoints.env"
set +a

# The floor builds its SDK client as the functions do, from the environment.
# DYNAMODB_PID: the benches report DynamoDB Local's CPU time per request.
DYNAMODB_PID=$(cat ".local/$AWAKNOW_ENV/dynamodb.pid" 2>/dev/null || true)
export DYNAMODB_PID
AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_ENDPOINT_URL_DYNAMODB=$DYNAMODB_ENDPOINT \
  BOOTSTRAP_DIR=$target/lambda BENCH_JSON=$out/lambda.json "$target/release/lambda-bench"
rm -f "$out/reset.txt"
case ${PHASES:-reset} in
  *reset*)
    echo
    ACCOUNTS=${BENCH_RESET_ACCOUNTS:-20000} RUNS=${BENCH_RESET_RUNS:-3} "$target/release/reset-bench" | tee "$out/reset.txt" ;;
esac
commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
python3 - "$out" "$commit" <<'PY'
import json, os, sys, time
out, commit = sys.argv[1], sys.argv[2]
results = json.load(open(f"{out}/lambda.json"))
if os.path.exists(f"{out}/reset.txt"):
    results["reset"] = json.loads(open(f"{out}/reset.txt").read().strip().splitlines()[-1])
results["commit"] = commit
json.dump(results, open(f"{out}/results.json", "w"), indent=2)
os.makedirs(f"{out}/history", exist_ok=True)
json.dump(results, open(f"{out}/history/{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json", "w"), indent=2)
print(f"\nbench: results in {out}/results.json")
PY
python3 tools/bench/goals.py "$out"
