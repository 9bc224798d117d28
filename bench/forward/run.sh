#!/usr/bin/env bash
# bench/forward: our engine vs PyTorch on a GPT-2-small-shaped forward. See bench/README.md.
#   bash bench/forward/run.sh [--reps 3] [--torch onednn,blas] [--torch-threads N] [--json out.json]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node --import tsx bench/forward/run.ts "$@"
