#!/usr/bin/env bash
# The local AWS stack, without Docker: DynamoDB Local (from Maven Central) and moto's server for
# Secrets Manager (from PyPI), both on 127.0.0.1.
#
#   scripts/local-stack.sh install        fetch what is missing into the cache (idempotent)
#   scripts/local-stack.sh start NAME     start a stack named NAME on free ports, create the table
#                                         $TABLE_NAME (if set) from template.yaml, and write the
#                                         endpoints to .local/NAME/stack.env
#   scripts/local-stack.sh stop NAME      stop it (safe when it is not running)
#
# Downloads live in the cache ($AWAKNOW_CACHE, default ~/.cache/awaknow) so a rerun or another
# clone is fast; what a running stack needs (pids, logs, ports) lives in .local/ in the clone.
# Ports: DDB_PORT and MOTO_PORT choose them; by default a free one is picked.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${AWAKNOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/awaknow}
ddb_version=3.3.1
ddb_dir=$cache/dynamodb-local-$ddb_version
ddb_lib=$ddb_dir/lib
launcher_dir=$ddb_dir/launcher
venv=$cache/venv
moto_version=5.2.5
cargo_lambda_version=1.9.2

say() { printf 'local-stack: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

need_java17() {
  command -v java >/dev/null || die "Java 17 or newer is needed for DynamoDB Local (install openjdk-17-jre-headless)"
  command -v javac >/dev/null || die "a JDK (javac) 17 or newer is needed to build the DynamoDB Local launcher (install openjdk-17-jdk-headless)"
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2}')
  [ "${major%%.*}" -ge 17 ] 2>/dev/null || die "DynamoDB Local needs Java 17 or newer; found ${major:-unknown}"
}

install_dynamodb_local() {
  if [ ! -f "$ddb_lib/DynamoDBLocal-$ddb_version.jar" ] || ! ls "$ddb_lib"/libsqlite4java-linux-amd64*.so >/dev/null 2>&1; then
    command -v mvn >/dev/null || die "Maven is needed to fetch DynamoDB Local from Maven Central (install maven)"
    say "fetching DynamoDB Local $ddb_version from Maven Central into $ddb_lib"
    local tmp=$ddb_dir.partial
    rm -rf "$tmp"
    mvn -B -q -f "$root/scripts/ddb-local/pom.xml" \
      org.apache.maven.plugins:maven-dependency-plugin:3.11.0:copy-dependencies \
      -DoutputDirectory="$tmp/lib" -DincludeScope=runtime \
      || die "Maven could not fetch DynamoDB Local (is Maven Central reachable?)"
    [ -f "$tmp/lib/DynamoDBLocal-$ddb_version.jar" ] || die "Maven did not deliver DynamoDBLocal-$ddb_version.jar"
    mkdir -p "$ddb_dir" && rm -rf "$ddb_lib" && mv "$tmp/lib" "$ddb_lib" && rm -rf "$tmp"
  fi
  local src=$root/scripts/ddb-local/LoopbackDynamoDbLocal.java
  if [ ! -f "$launcher_dir/LoopbackDynamoDbLocal.class" ] || [ "$src" -nt "$launcher_dir/LoopbackDynamoDbLocal.class" ]; then
    say "building the loopback launcher for DynamoDB Local"
    mkdir -p "$launcher_dir"
    javac -d "$launcher_dir" -cp "$ddb_lib/*" "$src" || die "could not compile $src"
  fi
}

install_venv() {
  command -v python3 >/dev/null || die "Python 3 is needed for moto's server and cargo-lambda (install python3 python3-venv)"
  if [ ! -x "$venv/bin/python" ]; then
    say "creating the Python venv in $venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (install python3-venv)"
  fi
  if ! "$venv/bin/python" -c "import moto, flask" 2>/dev/null || [ "$("$venv/bin/python" -c 'import moto; print(moto.__version__)')" != "$moto_version" ]; then
    say "installing moto[server] $moto_version"
    "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$moto_version" || die "pip could not install moto[server]"
  fi
  if [ ! -x "$venv/bin/cargo-lambda" ]; then
    # --no-deps: the wheel carries the binary; its ziglang dependency (411 MB) is only needed for
    # cross-compiling, and `watch` and `build --compiler cargo` work without it.
    say "installing cargo-lambda $cargo_lambda_version"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "cargo-lambda==$cargo_lambda_version" \
      || die "pip could not install cargo-lambda"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # url, name, pid
  local i
  for i in $(seq 1 150); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    kill -0 "$3" 2>/dev/null || die "$2 exited while starting; see its log in $state"
    sleep 0.2
  done
  die "$2 did not answer at $1 within 30 s; see its log in $state"
}

start() {
  local name=$1
  state=$root/.local/$name
  if [ -f "$state/stack.env" ]; then
    # shellcheck disable=SC1091
    . "$state/stack.env"
    if curl -s -o /dev/null "$DYNAMODB_ENDPOINT" && curl -s -o /dev/null "$MOTO_ENDPOINT/moto-api/"; then
      say "stack $name already running ($DYNAMODB_ENDPOINT, $MOTO_ENDPOINT)"
      return 0
    fi
    stop "$name"
  fi
  need_java17
  install_dynamodb_local
  install_venv
  mkdir -p "$state"
  local ddb_port=${DDB_PORT:-$(free_port)} moto_port=${MOTO_PORT:-$(free_port)}

  DDB_LOCAL_TELEMETRY=0 nohup java -Djava.library.path="$ddb_lib" -cp "$launcher_dir:$ddb_lib/*" \
    LoopbackDynamoDbLocal -inMemory -sharedDb -port "$ddb_port" -disableTelemetry \
    >"$state/dynamodb.log" 2>&1 &
  echo $! >"$state/dynamodb.pid"
  # moto reads MOTO_PORT itself and fails on an empty one; the flag below is what counts.
  env -u MOTO_PORT nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$state/moto.log" 2>&1 &
  echo $! >"$state/moto.pid"

  wait_http "http://127.0.0.1:$ddb_port" "DynamoDB Local" "$(cat "$state/dynamodb.pid")"
  wait_http "http://127.0.0.1:$moto_port/moto-api/" "moto" "$(cat "$state/moto.pid")"
  # The classpath lets tests start a DynamoDB Local of their own (the fault tests stop one).
  cat >"$state/stack.env" <<ENV
DYNAMODB_ENDPOINT=http://127.0.0.1:$ddb_port
MOTO_ENDPOINT=http://127.0.0.1:$moto_port
DDB_LOCAL_CLASSPATH='$launcher_dir:$ddb_lib/*'
DDB_LOCAL_LIBRARY_PATH='$ddb_lib'
ENV
  if [ -n "${TABLE_NAME:-}" ]; then
    # The table comes from template.yaml, its only definition; built where the checkout builds.
    # shellcheck source=scripts/target-dir.sh
    . "$root/scripts/target-dir.sh"
    (cd "$root" && cargo run -q -p local-stack -- create-table \
      --endpoint "http://127.0.0.1:$ddb_port" --table "$TABLE_NAME" --template "$root/template.yaml") \
      || die "could not create table $TABLE_NAME"
    echo "TABLE_NAME=$TABLE_NAME" >>"$state/stack.env"
  fi
  say "stack $name up: DynamoDB Local on 127.0.0.1:$ddb_port, moto on 127.0.0.1:$moto_port"
}

stop() {
  local name=$1 pidfile pid
  state=$root/.local/$name
  for pidfile in "$state"/*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
  rm -f "$state/stack.env"
}

case "${1:-}" in
  install) need_java17; install_dynamodb_local; install_venv; say "installed (cache: $cache)" ;;
  start) start "${2:?usage: local-stack.sh start NAME}" ;;
  stop) stop "${2:?usage: local-stack.sh stop NAME}"; say "stack $2 stopped" ;;
  venv) echo "$venv" ;;
  *) echo "usage: $0 install | start NAME | stop NAME | venv" >&2; exit 2 ;;
esac
