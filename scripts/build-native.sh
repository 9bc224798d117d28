#!/usr/bin/env bash
# Builds the native kernel addon (native/*.c, listed in native/binding.gyp) into native/build/Release/mxd_native.node
# with node-gyp, against the running Node's own headers when it ships them (no download), and
# links the system OpenBLAS (Debian: libopenblas-dev). N-API: the same file loads in Electron.
# Exits non-zero with one line on stderr when it cannot build; callers treat that as "no native
# kernels" and the app computes on plain wasm.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/native"
nodedir="$(dirname "$(dirname "$(node -p process.execPath)")")"
args=(rebuild --release)
# Node's release tarballs carry include/node; with it node-gyp needs no network.
[ -f "$nodedir/include/node/node_api.h" ] && args+=("--nodedir=$nodedir")
# npm puts its bundled node-gyp on PATH for npm scripts; outside npm, fall back to npm's copy.
if command -v node-gyp >/dev/null 2>&1; then gyp=(node-gyp)
else gyp=(node "$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js"); fi
log="$(mktemp)"
if "${gyp[@]}" "${args[@]}" >"$log" 2>&1; then
  rm -f "$log"
  echo "build-native: built native/build/Release/mxd_native.node (OpenBLAS, system library)"
else
  # The most telling line: a missing header or library first, else the first error, else the end.
  why="$(grep -m1 -E 'fatal error|cannot find|No such file|not found' "$log" || grep -m1 -iE 'error' "$log" || tail -1 "$log")"
  why="$(echo "$why" | sed -E 's/^ *(gyp ERR! )?//' | cut -c1-200)"
  echo "build-native: could not build the native kernels (${why}); the app will compute on plain wasm. Full log: $log" >&2
  exit 1
fi
