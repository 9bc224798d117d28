// Where one MxD training step (trainStep, the convert job's code, at GPT-2-small shape) spends
// its time, by tfjs kernel: one warm-up step, then one step under tf.profile. With the native
// kernels in, BatchMatMul/_FusedMatMul are OpenBLAS, the kernels marked (native) are C
// (src/engine/native/) and the rest is single-threaded wasm, so this says what to make native next.
//   MXD_THREADS=1 node --import tsx bench/mxd-train/profile.ts [--batch 1024] [--top 12]
import { trainStep } from '../../src/jobs/convert/step.js'
import { initBackend, tf } from '../../src/engine/backend.js'
import { MxDLayer } from '../../src/engine/layers/mxd.js'
import { AdamW } from '../../src/engine/optim/adamw.js'

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}

const [batch, top] = [arg('batch', 1024), arg('top', 12)]
const [d, H, N, K] = [768, 3072, 21_490, 32]
const report = await initBackend()
const layer = MxDLayer.create({ dIn: d, dOut: d, hidden: H, experts: N, k: K, seed: 1 })
tf.tidy(() => layer.params.D!.assign(tf.randomNormal([H, d], 0, 0.02, 'float32', 2)))
const opt = new AdamW(layer.params, { lr: 4e-4, weightDecay: 0 })
const rand = (n: number, seed: number): Float32Array =>
  tf.tidy(() => tf.randomNormal([n], 0, 1, 'float32', seed).dataSync() as Float32Array)
const x = rand(batch * d, 3)
const y = rand(batch * d, 4)
trainStep(layer, opt, { x, y }, batch, d, 4e-4) // warm-up: wasm memory growth, kernel set-up

const start = performance.now()
const info = await tf.profile(() => {
  trainStep(layer, opt, { x, y }, batch, d, 4e-4)
})
const wall = (performance.now() - start) / 1000
const byKernel = new Map<string, { ms: number; count: number }>()
for (const k of info.kernels) {
  // tf.profile also lists custom-gradient scopes, whose time is their kernels' again.
  if (k.name === 'unnamed scope') continue
  const entry = byKernel.get(k.name) ?? { ms: 0, count: 0 }
  entry.ms += Number(k.kernelTimeMs)
  entry.count++
  byKernel.set(k.name, entry)
}
const total = [...byKernel.values()].reduce((a, b) => a + b.ms, 0)
const native = report.native.kernels
console.log(
  `MxD step, batch ${batch}: ${wall.toFixed(2)} s under the profiler, kernels ${(total / 1000).toFixed(2)} s; ` +
    `native: ${native.length ? `${native.join(', ')} (${report.native.threads} thread(s))` : `none (${report.native.reason})`}`,
)
for (const [name, { ms, count }] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
  const tag = native.includes(name) ? ' (native)' : ''
  console.log(`  ${(ms / 1000).toFixed(3).padStart(7)} s  ${((100 * ms) / total).toFixed(1).padStart(5)}%  ×${count}  ${name}${tag}`)
}
opt.dispose()
layer.dispose()
