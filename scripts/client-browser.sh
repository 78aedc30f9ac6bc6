#!/usr/bin/env bash
# The TypeScript client in a real browser: headless Chromium opens a page served from another
# origin than the API (a static server on a free loopback port) and runs the client's session
# flow from it against the running local gateway, so the CORS the template deploys (preflights
# with Authorization, Idempotency-Key and If-Match; ETag and Retry-After readable) is proven by a
# browser, not assumed (clients/typescript/test/browser.test.ts).
#
#   scripts/client-browser.sh           install Chromium if it is missing, then run the test:
#                                       needs GATEWAY_URL, DEV_JWT_SECRET and TAVUS_URL (the
#                                       simulator), as make test sets them (or beside make dev-up:
#                                       set -a; . .local/dev/endpoints.env; set +a)
#   scripts/client-browser.sh install   only install Chromium
#
# Chromium is Debian's `chromium` package, installed with apt-get (as root) when missing: the
# test drives the system browser and never downloads one of its own.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

say() { printf 'client-browser: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

apt_install_chromium() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >&2
}

install_chromium() {
  command -v chromium >/dev/null && return 0
  command -v apt-get >/dev/null || die "Chromium is needed: install your system's chromium package (this script installs Debian's with apt-get)"
  [ "$(id -u)" = 0 ] || die "Chromium is needed: run as root once, or: sudo apt-get install --no-install-recommends chromium"
  say "installing Debian's chromium package (apt-get, once)"
  # The package lists may be missing or stale on a fresh machine: update them only then.
  if ! apt_install_chromium; then
    say "apt-get install failed; updating the package lists and trying again"
    apt-get update -q >&2 || die "apt-get update failed"
    apt_install_chromium || die "apt-get could not install chromium"
  fi
  command -v chromium >/dev/null || die "the chromium package is installed but no chromium command is on PATH"
}

case "${1:-test}" in
  install) install_chromium ;;
  test)
    : "${GATEWAY_URL:?GATEWAY_URL is not set (run through make test, or beside make dev-up)}"
    : "${DEV_JWT_SECRET:?DEV_JWT_SECRET is not set}"
    : "${TAVUS_URL:?TAVUS_URL is not set (the Tavus simulator of the local stack)}"
    install_chromium
    CHROMIUM=$(command -v chromium)
    export CHROMIUM
    exec "$root/scripts/client-ts.sh" browser
    ;;
  *) echo "usage: $0 [test] | install" >&2; exit 2 ;;
esac
