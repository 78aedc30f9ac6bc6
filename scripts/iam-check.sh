#!/usr/bin/env bash
# IAM proven both ways (make test, after every test has run against the local stack): the SAM
# transform of template.yaml, then scripts/iam-check.py on it and on the AWS calls the functions
# recorded (AWAKNOW_AWS_CALL_LOG), with the stack's names (TABLE_NAME, RECORDINGS_BUCKET,
# TAVUS_SECRET_ID). Needs the SAM venv scripts/validate.sh installs.
#   usage: scripts/iam-check.sh CALLS.jsonl
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${AWAKNOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/awaknow}
calls=${1:?usage: scripts/iam-check.sh CALLS.jsonl}
[ -s "$calls" ] || { echo "iam-check: no calls recorded in $calls (were the functions given AWAKNOW_AWS_CALL_LOG?)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$cache/venv-sam/bin/python" "$root/scripts/validate/transform.py" "$root/template.yaml" "$work/transformed.json"
python3 "$root/scripts/iam-check.py" --selftest
python3 "$root/scripts/iam-check.py" "$work/transformed.json" "$calls"
