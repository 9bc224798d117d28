#!/usr/bin/env bash
# Classifier training samples/s: MxD Studio's engine (tfjs wasm with its native OpenBLAS kernels
# where built) against PyTorch on the CPU, for the MLP and the small dense MLP-Mixer (plus ours
# for the CPμMoE mixer), at one thread and at every core, same shapes, same machine, same run,
# with the environment of bench/pretrain/run.sh (same thread counts, jemalloc where installed).
#   bash bench/classify/run.sh [--batch 128 --steps 10]
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/env.sh
for T in 1 "$N"; do
  LD_PRELOAD="$PRELOAD" MXD_THREADS="$T" npx tsx bench/classify/trainer.ts "$@" 2>/dev/null
  LD_PRELOAD="$PRELOAD" OPENBLAS_NUM_THREADS="$T" /usr/bin/python3 bench/classify/torch_bench.py --threads "$T" "$@"
done
bench_env_report
