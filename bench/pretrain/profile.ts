// Where one pre-training step of bench/pretrain's GPT-2 block stack spends its time, by tfjs
// kernel: two warm-up steps, then --steps steps under tf.profile, the kernels summed by name and
// divided by the steps (one step alone is too noisy on a shared machine). With
// the native kernels in, those the addon computes are marked; the rest is single-threaded wasm.
//   MXD_THREADS=1 npx tsx bench/pretrain/profile.ts [--layers 4 --d-model 256 --heads 4 --ctx 128 --batch 8 --vocab 512 --steps 3 --top 25]
import { parseArgs } from 'node:util'
import { initBackend, tf } from '../../src/engine/backend.js'
import { TrainableGpt2 } from '../../src/engine/train/gpt2.js'
import { Pretrainer } from '../../src/engine/train/trainer.js'

const { values } = parseArgs({
  options: Object.fromEntries(
    ['layers', 'd-model', 'heads', 'ctx', 'batch', 'vocab', 'steps', 'top'].map((k) => [k, { type: 'string' as const }]),
  ),
})
const arg = (k: string, d: number): number => Number(values[k] ?? d)
const [L, d, H, C, B, V, steps, top] = [
  arg('layers', 4),
  arg('d-model', 256),
  arg('heads', 4),
  arg('ctx', 128),
  arg('batch', 8),
  arg('vocab', 512),
  arg('steps', 3),
  arg('top', 25),
]

const report = await initBackend()
const model = new TrainableGpt2(
  { vocabSize: V, nPositions: C, nLayer: L, nHead: H, nEmbd: d, mlp: { kind: 'dense' }, layerNormEps: 1e-5 },
  1,
)
const seqs = Array.from({ length: B * (steps + 2) }, (_, i) => Int32Array.from({ length: C + 1 }, (_, t) => (i * 7919 + t * 104729) % V))
const trainer = new Pretrainer(model, seqs, [], {
  batch: B,
  lr: 1e-3,
  minLrRatio: 0.1,
  warmupSteps: 0,
  totalSteps: steps + 2,
  weightDecay: 0.1,
  betas: [0.9, 0.95],
  gradClip: 1,
  seed: 0,
})
trainer.trainStep()
trainer.trainStep()
const start = performance.now()
const info = await tf.profile(() => {
  for (let i = 0; i < steps; i++) trainer.trainStep()
})
const wall = (performance.now() - start) / steps
const byKernel = new Map<string, { ms: number; count: number }>()
for (const k of info.kernels) {
  // tf.profile also lists custom-gradient scopes, whose time is their kernels' again.
  // ("forward", "fusedMatMul__op" …): only registered kernels count.
  if (!tf.getKernel(k.name, tf.getBackend())) continue
  const entry = byKernel.get(k.name) ?? { ms: 0, count: 0 }
  entry.ms += Number(k.kernelTimeMs) / steps
  entry.count += 1 / steps
  byKernel.set(k.name, entry)
}
const total = [...byKernel.values()].reduce((a, b) => a + b.ms, 0)
const native = report.native.kernels
console.log(
  `pretrain step (${L} layers, d ${d}, ctx ${C}, batch ${B}): ${wall.toFixed(0)} ms a step under the profiler (mean of ${steps}), kernels ${total.toFixed(0)} ms; ` +
    `native: ${native.length ? `${native.join(', ')} (${report.native.threads} thread(s))` : `none (${report.native.reason})`}`,
)
console.log('| kernel | ms | % | calls |')
console.log('|---|---:|---:|---:|')
for (const [name, { ms, count }] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
  const tag = native.includes(name) ? ' (native)' : ''
  console.log(`| ${name}${tag} | ${ms.toFixed(1)} | ${((100 * ms) / total).toFixed(1)} | ${Math.round(count)} |`)
}
model.dispose()
