#!/usr/bin/env bash
# Sets up a checkout: Debian's Chromium (web-mode app window and the end-to-end tests) and
# OpenBLAS (the native CPU kernels), the npm packages (better-sqlite3 compiles from source when no
# prebuilt binary can be fetched: about two minutes), the native kernel addon, and the app's
# build. Safe to run again.
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

# OpenBLAS's development package, for the native CPU kernels (native/). Optional: without it the
# addon does not build and the app computes on plain wasm, so a failure here does not stop setup.
if ! ls /usr/lib/*/libopenblas.so /usr/lib/libopenblas.so >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "setup: installing Debian's libopenblas-dev (for the native CPU kernels)"
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenblas-dev >/dev/null; } ||
      echo "setup: could not install libopenblas-dev; the app will compute on plain wasm" >&2
  else
    echo "setup: OpenBLAS not found and no apt-get; install OpenBLAS's development files for the native CPU kernels" >&2
  fi
fi

# Fashion-MNIST (image classifiers, docs/images.md): Debian's dataset-fashion-mnist puts its four
# IDX files in /usr/share/datasets/fashion-mnist, where the app looks. Optional: a failure prints
# one line and setup goes on (any MNIST-layout folder can be added by hand).
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian's dataset-fashion-mnist (Fashion-MNIST for the image classifiers)"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null; } ||
    echo "setup: could not install dataset-fashion-mnist; add an MNIST-layout folder with 'mxd images add PATH' instead" >&2
fi

# tfjs-node-gpu is optional: its install downloads libtensorflow and fails without a route to
# it (or without CUDA 11.2); npm then skips it and the app computes on WebAssembly.
npm ci --no-audit --no-fund
# The native kernel addon: a failure prints one line and the app falls back to plain wasm.
npm run --silent build:native || true
npx electron-vite build
echo "setup: done. Start the app with 'npm start' (or web mode: 'npm run web'); run the tests with 'npm test'."
