#!/usr/bin/env bash
# Builds better-sqlite3 for Electron's ABI into build/electron/better_sqlite3.node, leaving the
# Node build in node_modules untouched (the CLI, web mode and tests keep using that one).
# Needs Electron's headers, which node-gyp downloads; where that is impossible this fails and
# `npm start` falls back to web mode.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="$(node -p "require('$root/node_modules/electron/package.json').version")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$root/node_modules/better-sqlite3" "$work/"
cd "$work/better-sqlite3"
npx --prefix "$root" node-gyp rebuild --release --runtime=electron --target="$version" \
  --dist-url=https://electronjs.org/headers >"$work/build.log" 2>&1 || {
  echo "Could not build better-sqlite3 for Electron $version (see the end of the log below)." >&2
  tail -5 "$work/build.log" >&2
  exit 1
}
mkdir -p "$root/build/electron"
cp build/Release/better_sqlite3.node "$root/build/electron/better_sqlite3.node"
echo "Built build/electron/better_sqlite3.node for Electron $version."
