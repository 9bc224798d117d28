// Where the engine's forward spends its time: one warm-up, then one forward under tf.profile,
// kernel times summed by kernel and input shapes. (The wasm backend runs kernels synchronously,
// so each kernel's time is its own.)
//   node --import tsx bench/forward/profile.ts [--batch 8] [--seq 128] [--top 25]
import { parseArgs } from 'node:util'
import { tf } from '../../src/engine/backend.js'
import { randomGpt2 } from './engine-model.js'
import { benchIds, forwardFlops, GPT2_SMALL } from './shape.js'

const { values: args } = parseArgs({
  options: { batch: { type: 'string', default: '8' }, seq: { type: 'string', default: '128' }, top: { type: 'string', default: '25' } },
})
const shape = { ...GPT2_SMALL, batch: Number(args.batch), seq: Number(args.seq) }
const model = await randomGpt2(shape)
const ids = benchIds(shape)
tf.dispose(model.forward(ids).logits!)

const start = performance.now()
const info = await tf.profile(() => model.forward(ids).logits!)
const wall = (performance.now() - start) / 1000
tf.dispose(info.result as tf.Tensor)

const byKey = new Map<string, { ms: number; count: number }>()
const byKernel = new Map<string, number>()
for (const k of info.kernels) {
  const ms = Number(k.kernelTimeMs)
  const key = `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join(' ')}`
  const entry = byKey.get(key) ?? { ms: 0, count: 0 }
  entry.ms += ms
  entry.count++
  byKey.set(key, entry)
  byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + ms)
}
const total = [...byKernel.values()].reduce((a, b) => a + b, 0)
console.log(`forward ${wall.toFixed(2)} s under the profiler, kernels ${(total / 1000).toFixed(2)} s, ${info.kernels.length} kernels,`)
console.log(`${(forwardFlops(shape) / 1e9 / wall).toFixed(1)} GFLOP/s (matMul FLOPs / wall time)\n`)
console.log('by kernel:')
for (const [name, ms] of [...byKernel].sort((a, b) => b[1] - a[1])) {
  console.log(`  ${(ms / 1000).toFixed(3).padStart(7)} s  ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${name}`)
}
console.log('\nby kernel and input shapes:')
for (const [key, { ms, count }] of [...byKey].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(args.top))) {
  console.log(`  ${(ms / 1000).toFixed(3).padStart(7)} s  ${((100 * ms) / total).toFixed(1).padStart(5)}%  ×${String(count).padEnd(4)} ${key}`)
}
model.dispose()
