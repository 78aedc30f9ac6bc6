#!/usr/bin/env bash
# `make build`: release bootstraps of every function with cargo-lambda, without Zig (the host's
# x86_64 glibc target, which AL2023's provided runtime runs), and their sizes.
# `sam build` works too: it calls cargo-lambda the same way (see docs/operations.md, "Deploying").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=$(scripts/local-stack.sh venv)
[ -x "$venv/bin/cargo-lambda" ] || scripts/local-stack.sh install
export PATH="$venv/bin:$PATH" CARGO_LAMBDA_COMPILER=cargo
# shellcheck source=scripts/target-dir.sh
. "$root/scripts/target-dir.sh"
target=$CARGO_TARGET_DIR
functions=(create-session get-usage tavus-webhook monthly-reset sweep-sessions set-plan audit)
args=()
for f in "${functions[@]}"; do args+=(--bin "$f"); done
cargo lambda build --release --locked "${args[@]}"
printf '%-16s %10s\n' function "bootstrap"
for f in "${functions[@]}"; do
  file=$target/lambda/$f/bootstrap
  [ -f "$file" ] || { echo "build: $file is missing" >&2; exit 1; }
  awk -v f="$f" -v b="$(stat -c %s "$file")" 'BEGIN { printf "%-16s %8.1f MB  (%d bytes)\n", f, b / 1048576, b }'
done
