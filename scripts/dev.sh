#!/usr/bin/env bash
# The local API, without Docker: DynamoDB Local and moto (scripts/local-stack.sh), the Tavus
# simulator, the functions under `cargo lambda watch`, and the local gateway on
# http://127.0.0.1:$GATEWAY_PORT.
#
#   scripts/dev.sh run           start everything, serve until Ctrl-C, then stop everything
#   scripts/dev.sh up            start everything in the background, return once healthy; a
#                                function that would refuse to start stops it (check_config)
#   scripts/dev.sh down          stop everything
#   scripts/dev.sh token USER    print a dev JWT for USER
#   scripts/dev.sh set-plan USER PLAN   move USER to PLAN through the set-plan function
#   scripts/dev.sh audit [ARGS]  the audit, once, against this stack (tools/audit-cli: --fix,
#                                --shards 3,4), with the environment the functions have
#
# AWAKNOW_ENV names the environment (default dev): its state lives in .local/$AWAKNOW_ENV, and
# `make test` runs its own one (test-<pid>) with PICK_FREE_PORTS=1 beside a developer's.
#
# Real Tavus: set TAVUS_BASE_URL (e.g. https://tavusapi.com) and TAVUS_API_KEY; the key is stored
# in the local Secrets Manager secret and the simulator is not started. Ports: GATEWAY_PORT
# (3000), FUNCTIONS_PORT (9000), TAVUS_SIM_PORT (4010), DDB_PORT (8000), MOTO_PORT (5050).
# MAX_OPEN_SESSIONS_PER_USER, CREATES_PER_USER_PER_MINUTE, AUDIT_SETTLING_SECONDS and
# EXPORT_INLINE_LIMIT_BYTES, when set, are passed to the functions (defaults there: 2 open
# sessions, 10 creates a minute, an hour, 6,000,000 bytes).
# Recordings: with the simulator, moto's S3 holds a bucket awaknow-$AWAKNOW_ENV-recordings that
# the functions use (RECORDINGS_BUCKET) and the simulator writes recorded calls into;
# RECORDINGS=0 leaves it out (a stack that records nothing: "record": true is a 400).
# TAVUS_SIM_API_KEY is the simulator's key (sim-key); `make test` makes it random, so a leak of
# it into a log can be told from any other text.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
env_name=${AWAKNOW_ENV:-dev}
state=.local/$env_name
stack=$env_name
venv=$(scripts/local-stack.sh venv)
# shellcheck source=scripts/target-dir.sh
. "$root/scripts/target-dir.sh"
target=$CARGO_TARGET_DIR
export PATH="$venv/bin:$PATH"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
if [ "${PICK_FREE_PORTS:-0}" = 1 ]; then
  default_gateway=$(free_port); default_functions=$(free_port); default_sim=$(free_port); default_ddb=; default_moto=
else
  default_gateway=3000; default_functions=9000; default_sim=4010; default_ddb=8000; default_moto=5050
fi
gateway_port=${GATEWAY_PORT:-$default_gateway}
functions_port=${FUNCTIONS_PORT:-$default_functions}
sim_port=${TAVUS_SIM_PORT:-$default_sim}
table=awaknow-$env_name
secret_id=awaknow/$env_name/tavus
recordings_bucket=
if [ -z "${TAVUS_BASE_URL:-}" ] && [ "${RECORDINGS:-1}" != 0 ]; then
  # Real Tavus could not reach a bucket on this machine; the simulator writes into it.
  recordings_bucket=awaknow-$env_name-recordings
fi

say() { printf 'dev: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # url name pidfile seconds
  local i
  for i in $(seq 1 $((${4:-60} * 5))); do
    curl -s -o /dev/null "$1" && return 0
    kill -0 "$(cat "$3")" 2>/dev/null || die "$2 exited while starting; see $state/$2.log"
    sleep 0.2
  done
  die "$2 did not answer at $1; see $state/$2.log"
}

start_bg() { # name command...
  local name=$1; shift
  nohup "$@" >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

up() {
  if [ -f "$state/running" ]; then
    say "already running (make dev-down to stop)"; print_help; return 0
  fi
  mkdir -p "$state"
  for p in "$gateway_port" "$functions_port"; do port_free "$p" || die "port $p is in use (set GATEWAY_PORT / FUNCTIONS_PORT)"; done
  if [ -z "${TAVUS_BASE_URL:-}" ]; then port_free "$sim_port" || die "port $sim_port is in use (set TAVUS_SIM_PORT)"; fi

  DDB_PORT=${DDB_PORT:-$default_ddb} MOTO_PORT=${MOTO_PORT:-$default_moto} TABLE_NAME=$table scripts/local-stack.sh start "$stack"
  # shellcheck disable=SC1090
  . ".local/$stack/stack.env"

  say "building the functions and tools (first time: a few minutes)"
  cargo build --locked --bins

  local tavus_url tavus_key persona_reflect persona_resolve
  if [ -n "${TAVUS_BASE_URL:-}" ]; then
    [ -n "${TAVUS_API_KEY:-}" ] || die "TAVUS_BASE_URL is set but TAVUS_API_KEY is not"
    # Real Tavus: the personas (or replicas) are yours; create-session refuses to start without,
    # which check_config reports below.
    persona_reflect=${TAVUS_PERSONA_ID_REFLECT:-}; persona_resolve=${TAVUS_PERSONA_ID_RESOLVE:-}
    tavus_url=$TAVUS_BASE_URL; tavus_key=$TAVUS_API_KEY
    say "using Tavus at $tavus_url"
  else
    # The simulator's personas, so no create goes out without one.
    persona_reflect=${TAVUS_PERSONA_ID_REFLECT:-p-sim-reflect}; persona_resolve=${TAVUS_PERSONA_ID_RESOLVE:-p-sim-resolve}
    tavus_url=http://127.0.0.1:$sim_port; tavus_key=${TAVUS_SIM_API_KEY:-sim-key}
    start_bg tavus-sim "$target/debug/tavus-sim" --port "$sim_port" --api-key "$tavus_key" --speedup "${TAVUS_SIM_SPEEDUP:-1}" \
      --max-concurrent "${TAVUS_SIM_MAX_CONCURRENT:-100}" --require-replica true --s3-endpoint "$MOTO_ENDPOINT" \
      --recording-shape "${TAVUS_SIM_RECORDING_SHAPE:-legacy}"
    wait_for "$tavus_url/_sim/health" tavus-sim "$state/tavus-sim.pid" 30
  fi

  if [ ! -f "$state/jwt-secret" ]; then
    python3 -c 'import secrets; print(secrets.token_hex(32))' >"$state/jwt-secret"
  fi
  local signing
  signing=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  MOTO_ENDPOINT=$MOTO_ENDPOINT SECRET_ID=$secret_id TAVUS_KEY=$tavus_key SIGNING=$signing \
    BUCKET=$recordings_bucket "$venv/bin/python" - <<'PY'
import json, os, boto3
sm = boto3.client("secretsmanager", endpoint_url=os.environ["MOTO_ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id="local", aws_secret_access_key="local")
value = json.dumps({"tavus_api_key": os.environ["TAVUS_KEY"], "webhook_signing_key": os.environ["SIGNING"]})
try:
    sm.create_secret(Name=os.environ["SECRET_ID"], SecretString=value)
except sm.exceptions.ResourceExistsException:
    sm.put_secret_value(SecretId=os.environ["SECRET_ID"], SecretString=value)
if os.environ["BUCKET"]:
    s3 = boto3.client("s3", endpoint_url=os.environ["MOTO_ENDPOINT"], region_name="us-east-1",
                      aws_access_key_id="local", aws_secret_access_key="local")
    try:
        s3.create_bucket(Bucket=os.environ["BUCKET"])
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    # Versioned, as the stack's bucket is by default (RecordingsBucketVersioning): erasure
    # deletes each version by its id here as there.
    s3.put_bucket_versioning(Bucket=os.environ["BUCKET"], VersioningConfiguration={"Status": "Enabled"})
PY

  cat >"$state/functions.env" <<ENV
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
AWS_ENDPOINT_URL_DYNAMODB=$DYNAMODB_ENDPOINT
AWS_ENDPOINT_URL_SECRETS_MANAGER=$MOTO_ENDPOINT
TABLE_NAME=$table
TAVUS_SECRET_ID=$secret_id
TAVUS_BASE_URL=$tavus_url
PUBLIC_API_URL=${PUBLIC_API_URL:-http://127.0.0.1:$gateway_port}
AUTH_MODE=authorizer
AWS_LAMBDA_LOG_LEVEL=${LOG_LEVEL:-info}
TAVUS_PERSONA_ID_REFLECT=$persona_reflect
TAVUS_PERSONA_ID_RESOLVE=$persona_resolve
TAVUS_REPLICA_ID_REFLECT=${TAVUS_REPLICA_ID_REFLECT:-}
TAVUS_REPLICA_ID_RESOLVE=${TAVUS_REPLICA_ID_RESOLVE:-}
TAVUS_PARTICIPANT_ABSENT_TIMEOUT=${TAVUS_PARTICIPANT_ABSENT_TIMEOUT:-120}
TAVUS_DELETE_AFTER_CALL=${TAVUS_DELETE_AFTER_CALL:-true}
ENV
  if [ -n "$recordings_bucket" ]; then
    # moto serves S3 too; the presigned playback links point at it, on 127.0.0.1.
    cat >>"$state/functions.env" <<ENV
AWS_ENDPOINT_URL_S3=$MOTO_ENDPOINT
RECORDINGS_BUCKET=$recordings_bucket
RECORDINGS_BUCKET_REGION=us-east-1
TAVUS_RECORDING_ROLE_ARN=arn:aws:iam::123456789012:role/awaknow-local-tavus-recordings
ENV
  fi
  if [ -n "${MAX_OPEN_SESSIONS_PER_USER:-}" ]; then
    echo "MAX_OPEN_SESSIONS_PER_USER=$MAX_OPEN_SESSIONS_PER_USER" >>"$state/functions.env"
  fi
  if [ -n "${CREATES_PER_USER_PER_MINUTE:-}" ]; then
    echo "CREATES_PER_USER_PER_MINUTE=$CREATES_PER_USER_PER_MINUTE" >>"$state/functions.env"
  fi
  if [ -n "${AUDIT_SETTLING_SECONDS:-}" ]; then
    echo "AUDIT_SETTLING_SECONDS=$AUDIT_SETTLING_SECONDS" >>"$state/functions.env"
  fi
  if [ -n "${EXPORT_INLINE_LIMIT_BYTES:-}" ]; then
    echo "EXPORT_INLINE_LIMIT_BYTES=$EXPORT_INLINE_LIMIT_BYTES" >>"$state/functions.env"
  fi
  # make test records every AWS call the functions make, for its IAM check (scripts/iam-check.py).
  if [ -n "${AWAKNOW_AWS_CALL_LOG:-}" ]; then
    echo "AWAKNOW_AWS_CALL_LOG=$AWAKNOW_AWS_CALL_LOG" >>"$state/functions.env"
  fi
  if ! check_config; then
    down
    die "a function would refuse to start with this configuration (its reason above); nothing was left running"
  fi
  # The gateway keeps each function below the emulator's queue of 100 (tools/local-gateway's
  # limit.rs says why); GATEWAY_MAX_IN_FLIGHT changes its cap. The supervisor starts watch
  # again when a function process dies, as Lambda replaces a dead environment (watch does not).
  start_bg functions python3 scripts/functions-supervisor.py -- cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$functions_port" \
    --env-file "$state/functions.env" --concurrency "${FUNCTION_CONCURRENCY:-4}" --quiet ${WATCH_FLAGS:-}
  start_bg gateway env GATEWAY_PORT="$gateway_port" GATEWAY_MAX_IN_FLIGHT="${GATEWAY_MAX_IN_FLIGHT:-48}" FUNCTIONS_URL="http://127.0.0.1:$functions_port" \
    DEV_JWT_SECRET="$(cat "$state/jwt-secret")" TEMPLATE="$root/template.yaml" "$target/debug/local-gateway" serve
  wait_for "http://127.0.0.1:$functions_port/" functions "$state/functions.pid" 120
  wait_for "http://127.0.0.1:$gateway_port/usage" gateway "$state/gateway.pid" 30
  # The first request starts the function; do it now rather than on the developer's first call.
  local warm answered=
  warm=$(token dev-warmup)
  for _ in $(seq 1 60); do
    probe "$warm" 15
    case $probe_result in
      ok) answered=1; break ;;
      answered) sleep 0.4 ;;
    esac
  done
  [ -n "$answered" ] || die "GET /usage never answered 200 while starting; see $state/functions.log and $state/gateway.log"
  cat >"$state/endpoints.env" <<ENV
GATEWAY_URL=http://127.0.0.1:$gateway_port
FUNCTIONS_URL=http://127.0.0.1:$functions_port
TAVUS_URL=$tavus_url
DYNAMODB_ENDPOINT=$DYNAMODB_ENDPOINT
MOTO_ENDPOINT=$MOTO_ENDPOINT
DDB_LOCAL_CLASSPATH='$DDB_LOCAL_CLASSPATH'
DDB_LOCAL_LIBRARY_PATH='$DDB_LOCAL_LIBRARY_PATH'
TABLE_NAME=$table
TAVUS_SECRET_ID=$secret_id
DEV_JWT_SECRET=$(cat "$state/jwt-secret")
ENV
  # Where every service of this environment logs (the tests read them), and the simulator's key.
  echo "LOG_DIR=$root/$state" >>"$state/endpoints.env"
  if [ -z "${TAVUS_BASE_URL:-}" ]; then echo "TAVUS_SIM_API_KEY=$tavus_key" >>"$state/endpoints.env"; fi
  if [ -n "$recordings_bucket" ]; then echo "RECORDINGS_BUCKET=$recordings_bucket" >>"$state/endpoints.env"; fi
  touch "$state/running"
  [ "${QUIET:-0}" = 1 ] || print_help
}

# Each function reads its configuration as at start and says whether it would start
# (AWAKNOW_CHECK_CONFIG=1: the binary reads it through the code it serves with, prints its own
# reason to stderr and exits, before the Lambda runtime starts), with the environment watch will
# give it: this shell's, and functions.env over it (watch adds only the runtime's AWS_LAMBDA_*
# variables, which no configuration reads). Under watch a function that refuses to start is only
# the gateway's 502/503 on every request, its reason in functions.log. Why the binaries rather
# than a first invocation through watch: `cargo build --bins` just built them from the source
# watch runs; it takes milliseconds, needs nothing running, and the reason is the process's own
# stderr, not lines picked out of watch's log between the supervisor's restarts. Every function
# under functions/ (a binary of the directory's name) is checked, so all refusals show at once.
check_config() {
  local vars=() line dir name reason failed=0
  while IFS= read -r line; do [ -z "$line" ] || vars+=("$line"); done <"$state/functions.env"
  for dir in functions/*/; do
    name=$(basename "$dir")
    # A timeout, should a binary ever ignore the variable and wait for a runtime API.
    if ! reason=$(env "${vars[@]}" AWAKNOW_CHECK_CONFIG=1 timeout 30 "$target/debug/$name" 2>&1 >/dev/null); then
      say "${reason:-$name refused to start (no reason given)}"
      failed=1
    fi
  done
  return "$failed"
}

# One trivial request through the gateway to a function, with TOKEN and at most SECONDS: sets
# probe_result to ok (200), answered (any other answer) or miss (no answer in time). After three
# misses in a row the stack is frozen: name the part at fault and its log, and stop.
probe_misses=0 probe_result=
probe() { # token seconds
  local out code type
  out=$(curl -s -o /dev/null -m "$2" -w '%{http_code} %{content_type}' -H "Authorization: Bearer $1" \
    "http://127.0.0.1:$gateway_port/usage" 2>/dev/null) || out="000 "
  code=${out%% *}; type=${out#* }
  # 000: no answer in time; the gateway's own plain 503: it gave up waiting for the function.
  if [ "$code" = 000 ] || { [ "$code" = 503 ] && [ "$type" != application/problem+json ]; }; then
    probe_misses=$((probe_misses + 1)) probe_result=miss
    [ "$probe_misses" -lt 3 ] || frozen
    return 0
  fi
  probe_misses=0
  if [ "$code" = 200 ]; then probe_result=ok; else probe_result=answered; fi
}

frozen() {
  if curl -s -o /dev/null -m 5 "http://127.0.0.1:$gateway_port/_watchdog/not-a-route"; then
    die "the local stack stopped answering: the functions under cargo lambda watch did not answer 3 requests in a row; see $state/functions.log (make dev-down, then start again)"
  fi
  die "the local stack stopped answering: the local gateway did not answer 3 requests in a row; see $state/gateway.log (make dev-down, then start again)"
}

print_help() {
  local t
  t=$(token demo-user)
  cat <<MSG

  AwakNow API: http://127.0.0.1:$gateway_port   (logs: $state/*.log; stop: make dev-down)

  A token for user demo-user (make token USER=<id> for others):
    export TOKEN=$t

  Create a session:
    curl -s -X POST http://127.0.0.1:$gateway_port/sessions -H "Authorization: Bearer \$TOKEN" \\
      -H 'Content-Type: application/json' -d '{"session_type": "reflect_alone", "prompt": "I want to reflect on my week", "max_minutes": 10}'
  Usage:
    curl -s http://127.0.0.1:$gateway_port/usage -H "Authorization: Bearer \$TOKEN"

MSG
}

stop_pid() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    # cargo lambda watch runs the functions as children: stop the whole group.
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

down() {
  # Once per run: `make dev` stops everything on exit too, after a start that stopped it already.
  [ -z "${stopped:-}" ] || return 0
  stopped=1
  for name in gateway functions tavus-sim; do stop_pid "$state/$name.pid"; done
  scripts/local-stack.sh stop "$stack" >/dev/null 2>&1 || true
  rm -f "$state/running" "$state/endpoints.env"
  # A throwaway environment (make test's) leaves nothing behind; dev keeps its logs and secret.
  if [ "$env_name" != dev ]; then rm -rf "$state" ".local/$stack"; fi
  say "stopped"
}

token() {
  [ -f "$state/jwt-secret" ] || die "no dev secret yet: run make dev or make dev-up first"
  DEV_JWT_SECRET=$(cat "$state/jwt-secret") "$target/debug/local-gateway" token "$1"
}

set_plan() {
  [ -f "$state/running" ] || die "the local API is not running: make dev-up first"
  # shellcheck disable=SC1091
  . "$state/endpoints.env"
  functions_port=${FUNCTIONS_URL##*:}
  cargo lambda invoke set-plan --invoke-address 127.0.0.1 --invoke-port "$functions_port" \
    --data-ascii "{\"user_id\": \"$1\", \"plan\": \"$2\"}" --output-format json
}

# The audit function's checks, run once by tools/audit-cli with the environment the functions
# get (functions.env: the endpoints of DynamoDB Local, moto's S3 and Secrets Manager, the Tavus
# simulator, the table, secret and bucket), so it reads the same configuration the `audit`
# function does. Not under watch: the function is read-only and reads one shard a day, this
# reads every shard by default and can fix. Its calls are not the function's, so they are left
# out of the IAM check's record.
audit() {
  [ -f "$state/running" ] || die "the local API is not running: make dev-up first"
  cargo build --locked --quiet -p audit-cli
  local vars=() line
  while IFS= read -r line; do
    case $line in ''|AWAKNOW_AWS_CALL_LOG=*) ;; *) vars+=("$line") ;; esac
  done <"$state/functions.env"
  env -u AWAKNOW_AWS_CALL_LOG "${vars[@]}" "$target/debug/audit-cli" "$@"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  run)
    trap down EXIT INT TERM
    up
    say "serving until Ctrl-C"
    watch_token=$(token stack-watchdog)
    ticks=0
    while kill -0 "$(cat "$state/gateway.pid")" 2>/dev/null && kill -0 "$(cat "$state/functions.pid")" 2>/dev/null; do
      sleep 1
      ticks=$((ticks + 1))
      # Every 10 s a trivial request: a frozen stack stops `make dev` with a message.
      if [ $((ticks % 10)) = 0 ]; then probe "$watch_token" 10; fi
    done
    die "a service stopped; see $state/*.log"
    ;;
  token) token "${2:?usage: dev.sh token USER}" ;;
  set-plan) set_plan "${2:?usage: dev.sh set-plan USER PLAN}" "${3:?usage: dev.sh set-plan USER PLAN}" ;;
  audit) shift; audit "$@" ;;
  *) echo "usage: $0 run | up | down | token USER | set-plan USER PLAN | audit [--fix] [--shards N,N]" >&2; exit 2 ;;
esac
