#!/usr/bin/env bash
# Unused dependencies fail `make lint`: cargo-machete, installed once into the cache.
set -euo pipefail
version=0.9.1
cache="${AWAKNOW_CACHE:-$HOME/.cache/awaknow}"
root="$cache/tools/cargo-machete-$version"
if [ ! -x "$root/bin/cargo-machete" ]; then
  echo "installing cargo-machete $version into $root (once)" >&2
  # Its own target dir, so the workspace's build cache is not disturbed.
  CARGO_TARGET_DIR="$cache/tools/build" cargo install --quiet --locked --root "$root" \
    cargo-machete --version "$version"
fi
exec "$root/bin/cargo-machete" --with-metadata
