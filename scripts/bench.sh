#!/usr/bin/env bash
# `make bench`: builds the release bootstraps and a hello-world Lambda with cargo-lambda, starts
# the local stack and API (as `make dev` does, on free ports), then prints and writes:
#   init time and peak RSS of every function against the hello world (median of STARTS=20),
#   POST /sessions and GET /usage latency at 1, 8 and 32 clients through the runtime API and
#   through the gateway, bootstrap sizes, and the reset's throughput (BENCH_RESET_ACCOUNTS=20000,
#   three runs; make bench-reset does 100,000).
# Results: .local/bench/results.json
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
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
unset TAVUS_BASE_URL TAVUS_API_KEY PUBLIC_API_URL
trap 'scripts/dev.sh down >/dev/null 2>&1 || true' EXIT INT TERM
scripts/dev.sh up
set -a
# shellcheck disable=SC1090
. ".local/$AWAKNOW_ENV/endpoints.env"
set +a

BOOTSTRAP_DIR=$target/lambda BENCH_JSON=$out/lambda.json "$target/release/lambda-bench"
echo
ACCOUNTS=${BENCH_RESET_ACCOUNTS:-20000} RUNS=${BENCH_RESET_RUNS:-3} "$target/release/reset-bench" | tee "$out/reset.txt"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
results = json.load(open(f"{out}/lambda.json"))
results["reset"] = json.loads(open(f"{out}/reset.txt").read().strip().splitlines()[-1])
json.dump(results, open(f"{out}/results.json", "w"), indent=2)
print(f"\nbench: results in {out}/results.json")
PY
