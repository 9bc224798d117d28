#!/usr/bin/env bash
# Before/after check of a change: our conversion training step (bench/mxd-train/trainer-step.ts)
# and our pre-training step (bench/pretrain/trainer.ts) from another checkout (the baseline, e.g.
# a worktree of the commit before the change) and from this one, alternating baseline, this,
# baseline, this … so drift in the machine's speed hits both alike; prints each run and the
# medians with the ratio this/baseline. One thread each, same environment (OPENBLAS_CORETYPE etc.
# pass through untouched; Debian's jemalloc where installed, as the other benches).
#   bash bench/compare-trees.sh BASELINE_DIR [rounds=5]
# The baseline checkout needs its node_modules (a link to this one's will do) and, for the native
# kernels, native/build. For the forward pass, bench/forward/run.sh --baseline DIR does the same.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=$(cd "${1:?usage: bash bench/compare-trees.sh BASELINE_DIR [rounds]}" && pwd)
R=${2:-5}
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
PRELOAD=""
[ -f "$JEMALLOC" ] && PRELOAD="$JEMALLOC"
out=$(mktemp)
run() { # tree label
  (cd "$1" && LD_PRELOAD="$PRELOAD" MXD_THREADS=1 node --import tsx bench/mxd-train/trainer-step.ts --batch 1024 --steps 3 2>/dev/null | tail -1 |
    sed "s/^/{\"tree\":\"$2\",\"bench\":\"mxd-train\",\"r\":/; s/$/}/") >>"$out"
  (cd "$1" && LD_PRELOAD="$PRELOAD" MXD_THREADS=1 npx tsx bench/pretrain/trainer.ts 2>/dev/null | tail -1 |
    sed "s/^/{\"tree\":\"$2\",\"bench\":\"pretrain\",\"r\":/; s/$/}/") >>"$out"
}
echo "baseline: $BASE ($(git -C "$BASE" rev-parse --short HEAD)); this: $(pwd) ($(git rev-parse --short HEAD)); $R rounds"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load at start $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$R"); do
  run "$BASE" baseline
  run . this
done
echo "load at end $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
# mxd-train: tokens per CPU-second (best of its steps; steadier under load); pretrain: tokens per wall-second.
metric = {'mxd-train': ('tokens_per_s', 'tokens / CPU-s'), 'pretrain': ('tokensPerSecond', 'tokens / s')}
print('| bench | figure | baseline runs | this runs | baseline median | this median | this / baseline |')
print('|---|---|---|---|---:|---:|---:|')
for bench, (key, label) in metric.items():
    vals = {t: [r['r'][key] for r in rows if r['bench'] == bench and r['tree'] == t] for t in ('baseline', 'this')}
    b, t = statistics.median(vals['baseline']), statistics.median(vals['this'])
    fmt = lambda xs: ', '.join(f'{x:.0f}' for x in xs)
    print(f"| {bench} | {label} | {fmt(vals['baseline'])} | {fmt(vals['this'])} | {b:.0f} | {t:.0f} | {t / b:.3f} |")
PY
rm -f "$out"
