// No tensor leaks: 50 full training steps (forward, loss, backward, projection, clipping, AdamW,
// renormalisation) leave tf.memory().numTensors where it was, for each layer kind.
import { beforeAll, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { mxdLoss } from '../../../src/engine/layers/loss.js'
import { MxDLayer } from '../../../src/engine/layers/mxd.js'
import type { SparseLayer } from '../../../src/engine/layers/sparse-layer.js'
import { TranscoderLayer } from '../../../src/engine/layers/transcoder.js'
import { AdamW, clipGradNorm } from '../../../src/engine/optim/adamw.js'

beforeAll(async () => {
  await initBackend()
})

const layers: [string, () => SparseLayer][] = [
  ['mxd sparse', () => MxDLayer.create({ dIn: 8, dOut: 6, hidden: 12, experts: 20, k: 3, seed: 1 })],
  ['mxd dense glu', () => MxDLayer.create({ dIn: 8, dOut: 6, hidden: 12, experts: 20, k: 3, glu: true, expertProduct: 'dense', seed: 2 })],
  ['transcoder', () => TranscoderLayer.create({ dIn: 8, dOut: 6, width: 24, k: 3, seed: 3 })],
  ['skip transcoder', () => TranscoderLayer.create({ dIn: 8, dOut: 6, width: 24, k: 3, skip: true, seed: 4 })],
]

it.each(layers)('%s: 50 training steps leak no tensors, and the loss goes down', (_name, make) => {
  const layer = make()
  const opt = new AdamW(layer.params, { lr: 3e-3, weightDecay: 0 })
  const x = tf.randomNormal([32, 8], 0, 1, 'float32', 5) as tf.Tensor2D
  const target = tf.tidy(() => tf.tanh(tf.matMul(x, tf.randomNormal([8, 6], 0, 1, 'float32', 6)))) as tf.Tensor2D
  const before = tf.memory().numTensors
  const losses: number[] = []
  for (let step = 0; step < 50; step++) {
    const { loss, grads } = layer.valueAndGrads(x, ({ y }) => mxdLoss(y, target))
    losses.push(loss.dataSync()[0]!)
    const clipped = clipGradNorm(layer.projectGradients(grads), 1.0).grads
    opt.applyGradients(clipped)
    layer.afterStep()
    tf.dispose([loss, ...Object.values(clipped)])
  }
  expect(tf.memory().numTensors).toBe(before)
  expect(losses.at(-1)!).toBeLessThan(losses[0]!)
  tf.dispose([x, target])
  opt.dispose()
  layer.dispose()
})
