# The native kernel addon (src/engine/native.ts loads it). Plain C against N-API only, so one
# build serves Node and Electron (no per-runtime rebuild). It links the system's OpenBLAS
# dynamically (Debian: libopenblas-dev at build time, libopenblas0 at run time), which keeps the
# user's choice of OpenBLAS variant (pthread/openmp, update-alternatives) and its environment
# variables in force. Where the library is missing the addon fails to load and the app computes
# on plain wasm. -ffp-contract=off: no a·b + c may become one FMA, so the AdamW kernel rounds
# after every operation as tfjs's separate ops do and matches them bit for bit. -fno-trapping-math
# (no change to any result, only no promise about floating-point exception flags) lets the
# compiler turn the clamps of mxd_layers.c's exp into vector min/max and vectorize the GELU.
# -fno-math-errno (sqrtf still gives the IEEE result, NaN included; only errno is not set) lets
# sqrtf be one vector instruction: with errno, AdamW's loop called libm per element and ran scalar.
{
  "targets": [
    {
      "target_name": "mxd_native",
      "sources": ["mxd_native.c", "mxd_common.c", "mxd_layers.c", "mxd_sparse.c"],
      "include_dirs": ["/usr/include/x86_64-linux-gnu/openblas-pthread", "/usr/include/openblas"],
      "cflags": ["-O3", "-std=c11", "-Wall", "-Wextra", "-ffp-contract=off", "-fno-trapping-math", "-fno-math-errno"],
      "libraries": ["-lopenblas", "-lpthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
