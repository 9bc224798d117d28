#!/usr/bin/env bash
# MxD training throughput at GPT-2-small shape (d = 768, H = 3072, N = 21,490, K = 32): our
# trainer's step against the same layer and step in PyTorch (sparse and the official dense Cᵀa),
# one after the other on this machine, plus torch.mm sgemm. Prints a markdown table.
#   bash bench/mxd-train/run.sh [batch=1024] [steps=3] [threads=1]
# Both sides get the same thread count (ours: MXD_THREADS for the native OpenBLAS kernels; torch:
# torch threads and OPENBLAS_NUM_THREADS) and the same OpenBLAS environment (OPENBLAS_CORETYPE etc.
# are passed through untouched). Ours runs twice: with the native kernels, and on plain wasm
# (MXD_NATIVE=0, always one thread). Where Debian's libjemalloc2 is installed, every process runs
# with it (LD_PRELOAD): glibc otherwise returns PyTorch's large buffers to the system every step,
# which slows the peer 2–4× on this VM; the line "malloc:" says which allocator was used.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-1024}
S=${2:-3}
T=${3:-1}
PY=/usr/bin/python3 # the system Python with torch (not a venv's python3)
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
# OpenBLAS's idle-thread spin time: the app's default unless set, the same for both sides.
export OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-22}"
PRELOAD=""
[ -f "$JEMALLOC" ] && PRELOAD="$JEMALLOC"
{
  LD_PRELOAD="$PRELOAD" MXD_THREADS="$T" node --import tsx bench/mxd-train/trainer-step.ts --batch "$B" --steps "$S"
  LD_PRELOAD="$PRELOAD" MXD_NATIVE=0 node --import tsx bench/mxd-train/trainer-step.ts --batch "$B" --steps "$S"
  # torch.set_num_threads does not reach an OpenBLAS that Debian's torch loads as plain libblas.
  LD_PRELOAD="$PRELOAD" OPENBLAS_NUM_THREADS="$T" $PY bench/mxd-train/torch_mxd.py --batch "$B" --steps "$S" --expert-product sparse --threads "$T"
  LD_PRELOAD="$PRELOAD" OPENBLAS_NUM_THREADS="$T" $PY bench/mxd-train/torch_mxd.py --batch "$B" --steps "$S" --expert-product dense --threads "$T"
} > /tmp/mxd-train-bench.jsonl
echo "blas: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; OPENBLAS_THREAD_TIMEOUT=$OPENBLAS_THREAD_TIMEOUT"
echo "malloc: ${PRELOAD:-glibc}; threads: $T"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
$PY - <<'PY'
import json
rows = [json.loads(l) for l in open('/tmp/mxd-train-bench.jsonl')]
sgemm = next((r['sgemm_gflops'] for r in rows if 'sgemm_gflops' in r), None)
print('| implementation | batch | tokens / CPU-s (best) | median | tokens / wall-s (best) | GFLOP/s | of torch.mm sgemm | peak RSS MB |')
print('|---|---|---|---|---|---|---|---|')
for r in rows:
    ref = r.get('sgemm_gflops', sgemm)
    print(f"| {r['impl']} | {r['batch']} | {r['tokens_per_s']:.1f} | {r['tokens_per_s_median']:.1f} | {r['tokens_per_wall_s']:.1f} | "
          f"{r['gflops']:.2f} | {100 * r['gflops'] / ref:.0f}% of {ref:.1f} | {r['peak_rss_mb']:.0f} |")
PY
