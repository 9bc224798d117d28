#!/usr/bin/env bash
# Sets up a checkout: Debian's Chromium (web-mode app window and the end-to-end tests), the npm
# packages (better-sqlite3 compiles from source when no prebuilt binary can be fetched: about
# two minutes), and the app's build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "setup: installing Debian's chromium (for web mode's app window and the browser tests)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: chromium not found and no apt-get; install Chromium yourself for the browser tests" >&2
  fi
fi

# tfjs-node-gpu is optional: its install downloads libtensorflow and fails without a route to
# it (or without CUDA 11.2); npm then skips it and the app computes on WebAssembly.
npm ci --no-audit --no-fund
npx electron-vite build
echo "setup: done. Start the app with 'npm start' (or web mode: 'npm run web'); run the tests with 'npm test'."
