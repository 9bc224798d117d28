#!/usr/bin/env bash
# The certified path's curvature work, ours against PyTorch on the same machine in the same run:
# the gradient of the privacy objective F, one Hessian-vector product, and a full Newton step
# w⁻ = w* − (H + sI)⁻¹g by conjugate gradient to relative residual 1e-6, for logistic regression
# (P = 7,850) and the MLP with 100 hidden units (P = 79,510), at one thread and at every core.
# Same data (the first --rows Fashion-MNIST training images, D_f the first 100), the same fixed
# weights (one safetensors file per model, written once here, read by both sides), θ = 0.75,
# λ = 1e-2, forward-KL; bench/env.sh's environment (threads, jemalloc, OPENBLAS_* untouched).
#   bash bench/privacy/run.sh [--quick] [--rows 10000] [--data DIR]
# --quick: 2,000 rows (about a fifth of the time). Prints a markdown table of seconds and ratios,
# how far apart the two sides' g and w⁻ are, and the environment.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/env.sh
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) ARGS+=(--rows 2000) ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
OUT="$(mktemp -d "${TMPDIR:-/tmp}/mxd-privacy-bench.XXXXXX")"
RESULTS="$OUT/results.jsonl"
# The weights, and the shift s = λ − λ_min(H) (Lanczos) that makes H + sI positive definite where F
# is not convex at w* (newtonStep's rule); both sides solve with the same s.
LD_PRELOAD="$PRELOAD" node --import tsx bench/privacy/newton.ts --out "$OUT" --prepare "${ARGS[@]}" | tee -a "$RESULTS"
for T in 1 "$N"; do
  LD_PRELOAD="$PRELOAD" MXD_THREADS="$T" node --import tsx bench/privacy/newton.ts --out "$OUT" "${ARGS[@]}" | tee -a "$RESULTS"
  LD_PRELOAD="$PRELOAD" OPENBLAS_NUM_THREADS="$T" /usr/bin/python3 bench/privacy/newton_torch.py --out "$OUT" --threads "$T" "${ARGS[@]}" | tee -a "$RESULTS"
done
echo
/usr/bin/python3 bench/privacy/newton_torch.py --summary "$RESULTS"
bench_env_report
echo "results and vectors: $OUT"
