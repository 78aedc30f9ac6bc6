#!/usr/bin/env bash
# `make validate`: checks a SAM template offline, with no AWS credentials:
#   1. sam validate (the SAM translator: policy templates, event shapes),
#   2. the SAM transform, then cfn-lint on the CloudFormation it produces (schedules, retry
#      limits, cron fields: what cfn-lint cannot see before the transform),
#   3. cfn-lint on the template itself,
#   4. checkov (policy checks) on the template and on the transform's output: no failed check,
#      and every skip (`Metadata: checkov: skip:` in the template) with its reason.
# usage: scripts/validate.sh [TEMPLATE]   (default template.yaml)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
template=$(cd "$(dirname "${1:-$root/template.yaml}")" && pwd)/$(basename "${1:-template.yaml}")
cache=${AWAKNOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/awaknow}
venv=$cache/venv-sam
sam_version=1.170.0
cfn_lint_version=1.58.0
# checkov has a venv of its own: it pins its own versions of boto3 and others.
checkov_venv=$cache/venv-checkov
checkov_version=3.3.30

if [ ! -x "$venv/bin/sam" ] || [ "$("$venv/bin/pip" show aws-sam-cli 2>/dev/null | awk '/^Version/ {print $2}')" != "$sam_version" ] \
  || [ "$("$venv/bin/pip" show cfn-lint 2>/dev/null | awk '/^Version/ {print $2}')" != "$cfn_lint_version" ]; then
  echo "validate: installing aws-sam-cli $sam_version and cfn-lint $cfn_lint_version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "aws-sam-cli==$sam_version" "cfn-lint==$cfn_lint_version"
fi

if [ ! -x "$checkov_venv/bin/checkov" ] || [ "$("$checkov_venv/bin/pip" show checkov 2>/dev/null | awk '/^Version/ {print $2}')" != "$checkov_version" ]; then
  echo "validate: installing checkov $checkov_version into $checkov_venv" >&2
  python3 -m venv "$checkov_venv"
  "$checkov_venv/bin/pip" install -q --disable-pip-version-check "checkov==$checkov_version"
fi

export AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "validate: sam validate $template"
"$venv/bin/sam" validate --region us-east-1 --template "$template" >"$work/sam.log" 2>&1 || { cat "$work/sam.log" >&2; exit 1; }
echo "validate: SAM transform, then cfn-lint on its output"
"$venv/bin/python" "$root/scripts/validate/transform.py" "$template" "$work/transformed.json"
# W2001 (unused parameter): the translator resolves some parameters into their values.
"$venv/bin/cfn-lint" --format parseable --ignore-checks W2001 -- "$work/transformed.json"
echo "validate: cfn-lint on the template"
"$venv/bin/cfn-lint" --format parseable "$template"
echo "validate: checkov on the template (as given, and with every optional feature on) and the transform's output"
# checkov resolves conditions from the parameters' defaults: a copy with the on/off switches on
# (Recordings) lets it check the resources they create.
python3 - "$template" "$work/features-on.yaml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text = re.sub(r'(\n  Recordings:\n(?:    .*\n)*?    Default: )"off"', r'\1"on"', text, count=1)
open(sys.argv[2], "w").write(text)
PY
# --skip-download and no update check: offline, nothing sent anywhere. --soft-fail: the report
# below decides (and also refuses a skip without a reason).
(cd "$work" && CKV_SKIP_PACKAGE_UPDATE_CHECK=true "$checkov_venv/bin/checkov" --skip-download --soft-fail \
  --framework cloudformation -f "$template" -f "$work/features-on.yaml" -f "$work/transformed.json" -o json >"$work/checkov.json") \
  || { echo "validate: checkov did not run" >&2; exit 1; }
python3 "$root/scripts/validate/checkov_report.py" "$work/checkov.json"
echo "validate: $template is valid"
