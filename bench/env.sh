# The environment every bench/*/run.sh runs both sides in, sourced (not run) from the repo root:
# the same thread count on both sides is the caller's (ours: MXD_THREADS; torch: torch threads and
# OPENBLAS_NUM_THREADS, since torch.set_num_threads does not reach an OpenBLAS that Debian's torch
# loads as plain libblas); OPENBLAS_CORETYPE etc. pass through untouched; every process runs with
# Debian's jemalloc where installed (glibc returns PyTorch's large buffers to the system every
# step on this VM, a 2–4× handicap for the peer).
#   PRELOAD   LD_PRELOAD value for every process ("" without libjemalloc2)
#   N         every core (nproc)
#   LOAD0     the load average when the bench started
#   bench_env_report   prints the BLAS, core type, allocator and load lines for the README
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
PRELOAD=""
[ -f "$JEMALLOC" ] && PRELOAD="$JEMALLOC"
N="$(nproc)"
LOAD0="$(cut -d" " -f1-3 /proc/loadavg)"
# OpenBLAS's idle-thread spin time: the app's default (src/engine/native/addon.ts) unless set, and
# exported so that the peer's OpenBLAS runs with the same setting.
export OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-22}"
bench_env_report() {
  echo "blas: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; OPENBLAS_THREAD_TIMEOUT=$OPENBLAS_THREAD_TIMEOUT; malloc: ${PRELOAD:-glibc}"
  echo "machine: $N cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "load average at start: $LOAD0, at end: $(cut -d" " -f1-3 /proc/loadavg) on $N cores (other processes share them: compare figures from one run only)"
}
