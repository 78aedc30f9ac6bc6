#!/usr/bin/env bash
# `make test`: every test. Starts what the tests need on free loopback ports (DynamoDB Local,
# moto, the Tavus simulator, the functions under `cargo lambda watch`, the local gateway), runs
# the whole workspace's tests, the OpenAPI check and the TypeScript client's tests against it,
# and stops all of it however the run ends.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/target-dir.sh
. "$root/scripts/target-dir.sh"

# What the browser test needs, first: a missing install step fails here, not after the build.
scripts/client-browser.sh install

# The template first: it is quick, and the stack below is built from it.
scripts/validate.sh template.yaml
scripts/validate-selftest.sh

export AWAKNOW_ENV=test-$$ PICK_FREE_PORTS=1 QUIET=1 WATCH_FLAGS=--ignore-changes
unset TAVUS_BASE_URL TAVUS_API_KEY PUBLIC_API_URL
# The stack's cap on open sessions per user: above the free plan's 25 one-minute sessions, so
# the end-to-end test racing 60 creates for one free user still shows the minutes holding;
# tests/e2e open_sessions.rs reads the cap back from GET /usage and shows the cap holding.
export MAX_OPEN_SESSIONS_PER_USER=30
# The pace of creates per user (10 a minute when deployed) out of the way for the same race and
# the fault campaign's stories; the pace itself is tested on DynamoDB Local (integration pace.rs)
# and in the functions' round trips (e2e round_trips.rs).
export CREATES_PER_USER_PER_MINUTE=60000
# The audit judges objects and conversations only once they are an hour old (a callback may
# still be on its way); the end-to-end test of the audit function (tests/e2e audit.rs) judges
# the object it has just written, so here nothing waits.
export AUDIT_SETTLING_SECONDS=0
# An account export larger than this is handed over through the bucket (6 MB when deployed):
# the end-to-end test of that way (tests/e2e account.rs) needs no 6 MB of data.
export EXPORT_INLINE_LIMIT_BYTES=200000
# Every AWS call the functions make is recorded, for the IAM check at the end (given to the
# functions only: the tests' own clients are not a function's).
aws_calls=$root/.local/$AWAKNOW_ENV/aws-calls.jsonl
# A simulator key no other text contains, so the log test can tell a leak of it.
TAVUS_SIM_API_KEY=sim-key-$(python3 -c 'import secrets; print(secrets.token_hex(12))')
export TAVUS_SIM_API_KEY
trap 'scripts/dev.sh down >/dev/null 2>&1 || true' EXIT INT TERM
AWAKNOW_AWS_CALL_LOG=$aws_calls scripts/dev.sh up
# A function that would refuse to start stops `scripts/dev.sh up` with its reason (reuses the
# binaries just built; a stack of its own).
scripts/dev-selftest.sh
set -a
# shellcheck disable=SC1090
. ".local/$AWAKNOW_ENV/endpoints.env"
set +a

# Tests are grouped into one binary per crate, so the workspace builds once for all of them.
cargo test --workspace --all-targets --locked "$@"

# A short fault campaign, one fixed seed: the books reconcile to zero (`make chaos` runs the
# long one with a random seed).
SEED=20261206 SESSIONS=300 scripts/chaos.sh

# The running API against openapi.yaml.
scripts/api-contract.sh

# The front end's TypeScript client (types generated from openapi.yaml, tsc --strict) against
# the running API: a change to either that breaks the front end fails here.
scripts/client-ts.sh test

# The same client in headless Chromium, from a page on another origin than the API: the CORS of
# template.yaml (which the local gateway serves) lets the front end's requests through and its
# headers be read. Installs Debian's chromium package first when it is missing.
scripts/client-browser.sh

# IAM proven both ways: every AWS call the functions made above is granted by their policies in
# the SAM-transformed template, and every permission granted was called (or excused with its
# reason in the template's IamNotCalled). Last, so it sees every test's calls.
scripts/iam-check.sh "$aws_calls"
