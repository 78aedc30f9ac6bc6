#!/usr/bin/env bash
# Proves `make validate` can fail: each seeded mistake below, made in a copy of template.yaml,
# must be rejected. Prints "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

seed() { # name, python expression turning the template text `t` into the mistaken one
  local name=$1 expr=$2 copy=$work/$1.yaml
  python3 -c "import sys; t = open(sys.argv[1]).read(); m = $expr; assert m != t, 'the mistake was not seeded'; open(sys.argv[2], 'w').write(m)" \
    "$root/template.yaml" "$copy" || { echo "FAILED to seed: $name"; failed=$((failed + 1)); return; }
  if "$root/scripts/validate.sh" "$copy" >"$work/$name.log" 2>&1; then
    echo "FAILED: validate accepted $name"; failed=$((failed + 1))
  else
    echo "ok: validate rejects $name ($(grep -Eo '(E[0-9]{4}|Policy at index [0-9]+|is not valid|http api: [^:]+|FAILED CKV_AWS_[0-9]+ on [^ ]+|SKIPPED WITHOUT A REASON [^ ]+)[^:]*' "$work/$name.log" | head -1))"
    passed=$((passed + 1))
  fi
}

seed misspelled-policy-template "t.replace('AWSSecretsManagerGetSecretValuePolicy:', 'AWSSecretsManagerGetSecretValuePolicyy:', 1)"
seed cron-with-two-wildcards "t.replace('cron(0 0 1 * ? *)', 'cron(0 0 1 * * *)')"
seed scheduler-retries-over-185 "t.replace('MaximumRetryAttempts: 10', 'MaximumRetryAttempts: 500', 1)"
seed async-retries-over-2 "t.replace('MaximumRetryAttempts: 2\n        MaximumEventAgeInSeconds: 3600', 'MaximumRetryAttempts: 5\n        MaximumEventAgeInSeconds: 3600', 1)"
seed misspelled-property "t.replace('ScheduleExpressionTimezone: UTC', 'ScheduleExpressionTimeZone: UTC', 1)"
seed throttle-for-no-route "t.replace('\"POST /sessions\":', '\"POST /session\":', 1)"
seed no-reserved-concurrency "t.replace('      ReservedConcurrentExecutions: 30\n', '', 1)"
seed public-recordings-bucket "t.replace('        BlockPublicAcls: true\n', '        BlockPublicAcls: false\n', 1)"
seed checkov-skip-without-reason "__import__('re').sub(r'\n +comment: Encrypted at rest with SSE-SQS[^\n]*', '', t, count=1)"

echo "validate selftest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
