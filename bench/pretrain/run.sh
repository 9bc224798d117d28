#!/usr/bin/env bash
# Training tokens/s of a GPT-2 block stack: MxD Studio's trainer (tfjs wasm, with its native
# OpenBLAS kernels where built) against PyTorch on the CPU, at one thread and at every core, same
# shapes, same machine, same run. Both sides get the same thread count (ours: MXD_THREADS; torch:
# torch threads and OPENBLAS_NUM_THREADS) and the same environment: OPENBLAS_CORETYPE etc. pass
# through untouched, and every process runs with Debian's jemalloc where installed (glibc returns
# PyTorch's large buffers to the system every step on this VM).
#   bash bench/pretrain/run.sh [--layers 4 --d-model 256 --heads 4 --ctx 128 --batch 8 --vocab 512 --steps 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/env.sh
ours1=$(LD_PRELOAD="$PRELOAD" MXD_THREADS=1 npx tsx bench/pretrain/trainer.ts "$@" 2>/dev/null | tail -1)
# torch.set_num_threads does not reach an OpenBLAS that Debian's torch loads as plain libblas.
torch1=$(LD_PRELOAD="$PRELOAD" OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/pretrain/torch_bench.py --threads 1 "$@" | tail -1)
oursN=$(LD_PRELOAD="$PRELOAD" MXD_THREADS="$N" npx tsx bench/pretrain/trainer.ts "$@" 2>/dev/null | tail -1)
torchN=$(LD_PRELOAD="$PRELOAD" OPENBLAS_NUM_THREADS="$N" /usr/bin/python3 bench/pretrain/torch_bench.py --threads "$N" "$@" | tail -1)
bench_env_report
echo "$ours1"
echo "$torch1"
echo "$oursN"
echo "$torchN"
node -e '
const [a, b, c, e] = process.argv.slice(1).map((s) => JSON.parse(s))
const f = (x) => x.toFixed(0)
console.log(`1 thread: mxd trainer (${a.backend}) ${f(a.tokensPerSecond)} tokens/s; PyTorch ${b.torch} ${f(b.tokensPerSecond)} tokens/s; mxd / PyTorch ${(a.tokensPerSecond / b.tokensPerSecond).toFixed(2)}`)
console.log(`${e.threads} threads: mxd trainer (${c.backend}) ${f(c.tokensPerSecond)} tokens/s; PyTorch ${f(e.tokensPerSecond)} tokens/s; mxd / PyTorch ${(c.tokensPerSecond / e.tokensPerSecond).toFixed(2)}`)
const l = a.linearBackwardMs
if (l.tfjsBuiltin !== null) console.log(`linear backward [${a.shape.batch * a.shape.ctx}x${a.shape.dModel}]x[${a.shape.dModel}x${4 * a.shape.dModel}] (1 thread): ours (ops.ts) ${l.explicitTranspose.toFixed(1)} ms, tfjs built-in gradient ${l.tfjsBuiltin.toFixed(1)} ms (${(l.tfjsBuiltin / l.explicitTranspose).toFixed(1)}x)`)
' "$ours1" "$torch1" "$oursN" "$torchN"
