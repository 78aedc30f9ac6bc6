#!/usr/bin/env bash
# `make test`: every test. Starts the local stack it needs on free loopback ports, runs the whole
# workspace's tests against it, and stops the stack however the run ends.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

stack=test-$$
trap 'scripts/local-stack.sh stop "$stack" >/dev/null 2>&1 || true' EXIT INT TERM
scripts/local-stack.sh start "$stack"
set -a
# shellcheck disable=SC1090
. ".local/$stack/stack.env"
set +a

# Tests are grouped into one binary per crate, so the workspace builds once for all of them.
cargo test --workspace --all-targets --locked "$@"
