// Training throughput of the trainable GPT-2 (src/engine/train) on this machine's tfjs backend:
// full optimizer steps (forward, backward, clipping, AdamW) on random tokens, timed after two
// warm-up steps. Prints one JSON line. Also times one linear layer's backward both ways, to show
// why src/engine/ops.ts writes its own matMul gradients (matMulT: plain matMuls on explicitly
// transposed operands on tfjs-wasm's kernels, GEMM transpose flags on the native ones) instead of
// tfjs's (matMul with transposeA/transposeB).
//   npx tsx bench/pretrain/trainer.ts [--layers 4 --d-model 256 --heads 4 --ctx 128 --batch 8 --vocab 512 --steps 5]
import { parseArgs } from 'node:util'
import { initBackend, tf } from '../../src/engine/backend.js'
import { TrainableGpt2 } from '../../src/engine/train/gpt2.js'
import { linear } from '../../src/engine/ops.js'
import { Pretrainer } from '../../src/engine/train/trainer.js'

const { values } = parseArgs({
  options: Object.fromEntries(['layers', 'd-model', 'heads', 'ctx', 'batch', 'vocab', 'steps'].map((k) => [k, { type: 'string' as const }])),
})
const arg = (k: string, d: number): number => Number(values[k] ?? d)
const [L, d, H, C, B, V, steps] = [arg('layers', 4), arg('d-model', 256), arg('heads', 4), arg('ctx', 128), arg('batch', 8), arg('vocab', 512), arg('steps', 5)]

const report = await initBackend()
const model = new TrainableGpt2({ vocabSize: V, nPositions: C, nLayer: L, nHead: H, nEmbd: d, mlp: { kind: 'dense' }, layerNormEps: 1e-5 }, 1)
const seqs = Array.from({ length: B * (steps + 2) }, (_, i) => Int32Array.from({ length: C + 1 }, (_, t) => (i * 7919 + t * 104729) % V))
const trainer = new Pretrainer(model, seqs, [], { batch: B, lr: 1e-3, minLrRatio: 0.1, warmupSteps: 0, totalSteps: steps + 2, weightDecay: 0.1, betas: [0.9, 0.95], gradClip: 1, seed: 0 })
trainer.trainStep()
trainer.trainStep()
const t0 = performance.now()
for (let i = 0; i < steps; i++) trainer.trainStep()
const seconds = (performance.now() - t0) / 1000
const tokensPerSecond = (steps * B * C) / seconds

// One linear layer's backward at the MLP's shape ([B·C, d] × [d, 4d]): ours vs tfjs's gradient.
function timeGrad(f: (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor): number {
  const x = tf.randomNormal([B * C, d]) as tf.Tensor2D
  const w = tf.randomNormal([d, 4 * d]) as tf.Tensor2D
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(f(a as tf.Tensor2D, b as tf.Tensor2D)))
  tf.dispose(g([x, w]))
  const start = performance.now()
  for (let i = 0; i < 3; i++) tf.dispose(g([x, w]).map((t) => (t.dataSync(), t)))
  tf.dispose([x, w])
  return (performance.now() - start) / 3
}
const zeros = tf.zeros([4 * d]) as tf.Tensor1D
const oursMs = timeGrad((x, w) => linear(x, { w, b: zeros }))
let tfjsMs: number | null = null
try {
  tfjsMs = timeGrad((x, w) => tf.add(tf.matMul(x, w), zeros))
} catch {
  // No matMul gradient registered in this process (tfjs-core alone registers none).
}
console.log(
  JSON.stringify({
    impl: 'mxd-trainer',
    backend: report.native.kernels.length > 0 ? `${report.backend} + native OpenBLAS, ${report.native.threads} thread(s)` : `${report.backend}, 1 thread`,
    shape: { layers: L, dModel: d, heads: H, ctx: C, batch: B, vocab: V },
    params: model.paramCount(),
    steps,
    seconds,
    tokensPerSecond,
    linearBackwardMs: { explicitTranspose: oursMs, tfjsBuiltin: tfjsMs },
  }),
)
