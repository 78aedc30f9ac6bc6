#!/usr/bin/env bash
# The TypeScript client (clients/typescript): installs its exact versions from package-lock.json
# (npm's download cache in $AWAKNOW_CACHE/npm, node_modules in the package, both reused), then
#   scripts/client-ts.sh typecheck   generates the types from openapi.yaml and runs tsc --strict
#   scripts/client-ts.sh test        the same, then its tests (node --test) against the running
#                                    API: needs GATEWAY_URL and DEV_JWT_SECRET (make test sets
#                                    both; or beside make dev-up: set -a; . .local/dev/endpoints.env)
#   scripts/client-ts.sh browser     the same, then the client's flow in headless Chromium from a
#                                    page on another origin (test/browser.test.ts): also needs
#                                    TAVUS_URL and CHROMIUM; scripts/client-browser.sh sets
#                                    CHROMIUM after installing Chromium, and is what make test runs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${AWAKNOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/awaknow}
dir=$root/clients/typescript
command -v node >/dev/null && command -v npm >/dev/null || { echo "client-ts: Node.js 20+ with npm is needed" >&2; exit 1; }
# 20.6: the browser test's static site resolves the client's modules with import.meta.resolve.
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 6) ? 0 : 1)' \
  || { echo "client-ts: Node.js 20.6+ is needed, found $(node --version)" >&2; exit 1; }
export npm_config_cache=$cache/npm
cd "$dir"

# npm ci when the lock changed since the last install (or there was none).
stamp=node_modules/.awaknow-lock
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  echo "client-ts: npm ci (package-lock.json)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" >"$stamp"
fi

case "${1:-test}" in
  typecheck) npm run --silent typecheck ;;
  test)
    : "${GATEWAY_URL:?GATEWAY_URL is not set (run through make test, or beside make dev-up)}"
    : "${DEV_JWT_SECRET:?DEV_JWT_SECRET is not set}"
    npm run --silent test
    ;;
  browser)
    : "${GATEWAY_URL:?GATEWAY_URL is not set (run through make test, or beside make dev-up)}"
    : "${DEV_JWT_SECRET:?DEV_JWT_SECRET is not set}"
    : "${TAVUS_URL:?TAVUS_URL is not set (the Tavus simulator of the local stack)}"
    : "${CHROMIUM:?CHROMIUM is not set (scripts/client-browser.sh installs Chromium and sets it)}"
    npm run --silent test:browser
    ;;
  *) echo "usage: $0 typecheck | test | browser" >&2; exit 2 ;;
esac
