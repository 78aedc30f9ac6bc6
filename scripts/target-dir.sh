#!/usr/bin/env bash
# This checkout's cargo build directory, the one place it is decided (the Makefile and every
# script agree through it): $AWAKNOW_CACHE/targets/<checkout name>-<first 12 hex digits of the
# SHA-256 of the checkout's absolute path>. Two clones never share build output, so neither runs
# the other's binaries; downloads (DynamoDB Local, the venvs, cargo-lambda, npm) stay shared.
# A CARGO_TARGET_DIR already set wins.
#
#   scripts/target-dir.sh           print it
#   scripts/target-dir.sh prepare   create it, record this checkout in it (.awaknow-checkout), and
#                                   remove the build directories of checkouts that no longer exist
#   . scripts/target-dir.sh         (in a script) export CARGO_TARGET_DIR, and record the checkout
#
# Only directories with a .awaknow-checkout naming a path that is gone are ever removed.

awaknow_target_cache() {
  printf '%s\n' "${AWAKNOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/awaknow}"
}

awaknow_target_dir() {
  local root name hash
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
  name=$(basename "$root" | tr -c 'A-Za-z0-9._\n-' '_')
  hash=$(printf '%s' "$root" | sha256sum | cut -c1-12)
  printf '%s/targets/%s-%s\n' "$(awaknow_target_cache)" "$name" "$hash"
}

# Records the checkout in its build directory (only in one of ours, not a CARGO_TARGET_DIR of
# the developer's own).
awaknow_target_mark() {
  local dir=$1 root
  case $dir in "$(awaknow_target_cache)/targets/"*) ;; *) return 0 ;; esac
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
  if [ "$(cat "$dir/.awaknow-checkout" 2>/dev/null)" != "$root" ]; then
    mkdir -p "$dir" && printf '%s\n' "$root" >"$dir/.awaknow-checkout"
  fi
}

awaknow_target_prune() {
  local targets dir checkout freed=0 count=0 kb
  targets=$(awaknow_target_cache)/targets
  for dir in "$targets"/*/; do
    dir=${dir%/}
    [ -f "$dir/.awaknow-checkout" ] || continue
    checkout=$(cat "$dir/.awaknow-checkout")
    [ -n "$checkout" ] && [ ! -e "$checkout" ] || continue
    kb=$(du -sk "$dir" 2>/dev/null | cut -f1)
    rm -rf "$dir" && freed=$((freed + ${kb:-0})) count=$((count + 1))
  done
  if [ "$count" -gt 0 ]; then
    echo "target-dir: removed $count build director$([ "$count" = 1 ] && echo y || echo ies) of checkouts that are gone ($((freed / 1024)) MB freed)" >&2
  fi
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  # Sourced.
  CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(awaknow_target_dir)}
  export CARGO_TARGET_DIR
  awaknow_target_mark "$CARGO_TARGET_DIR"
else
  set -euo pipefail
  dir=${CARGO_TARGET_DIR:-$(awaknow_target_dir)}
  case "${1:-}" in
    "") printf '%s\n' "$dir" ;;
    prepare) awaknow_target_mark "$dir"; awaknow_target_prune ;;
    *) echo "usage: $0 [prepare]" >&2; exit 2 ;;
  esac
fi
