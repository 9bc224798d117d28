#!/usr/bin/env bash
# Training tokens/s of a GPT-2 block stack: MxD Studio's trainer (tfjs, wasm, one thread) against
# PyTorch on the CPU (one thread, and every core), same shapes, same machine, same run.
#   bash bench/pretrain/run.sh [--layers 4 --d-model 256 --heads 4 --ctx 128 --batch 8 --vocab 512 --steps 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
load="$(cut -d" " -f1-3 /proc/loadavg)"
ours=$(npx tsx bench/pretrain/trainer.ts "$@" 2>/dev/null | tail -1)
# torch.set_num_threads does not reach an OpenBLAS that Debian's torch loads as plain libblas.
torch1=$(OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/pretrain/torch_bench.py --threads 1 "$@" | tail -1)
torchN=$(OPENBLAS_NUM_THREADS="$(nproc)" /usr/bin/python3 bench/pretrain/torch_bench.py --threads "$(nproc)" "$@" | tail -1)
echo "blas: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
echo "load average at start: $load on $(nproc) cores (other processes share them: compare figures from one run only)"
echo "$ours"
echo "$torch1"
echo "$torchN"
node -e '
const [a, b, c] = process.argv.slice(1).map((s) => JSON.parse(s))
const f = (x) => x.toFixed(0)
console.log(`mxd trainer (${a.backend}): ${f(a.tokensPerSecond)} tokens/s; PyTorch ${b.torch} 1 thread: ${f(b.tokensPerSecond)} tokens/s, ${c.threads} threads: ${f(c.tokensPerSecond)} tokens/s`)
console.log(`ratio mxd / PyTorch: ${(a.tokensPerSecond / b.tokensPerSecond).toFixed(2)} (1 thread), ${(a.tokensPerSecond / c.tokensPerSecond).toFixed(2)} (${c.threads} threads)`)
const l = a.linearBackwardMs
if (l.tfjsBuiltin !== null) console.log(`linear backward [${a.shape.batch * a.shape.ctx}x${a.shape.dModel}]x[${a.shape.dModel}x${4 * a.shape.dModel}]: explicit transposes ${l.explicitTranspose.toFixed(1)} ms, tfjs built-in gradient ${l.tfjsBuiltin.toFixed(1)} ms (${(l.tfjsBuiltin / l.explicitTranspose).toFixed(1)}x)`)
' "$ours" "$torch1" "$torchN"
