// trainStep's code statistics (non-zeros for L0, fired units for the dead fraction) now come
// from the TopK's K selected values and indices a row; they must equal what the dense scan of
// the [B, N] code gave: Σ(a ≠ 0) and the units whose column maximum is positive. Checked over
// real training steps of an MxD layer and a transcoder (some gates pushed below zero, so ReLU
// leaves selected entries at 0), and on hand-made codes with zeros, −0, negatives and NaN.
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { selectedCodeStats, trainStep } from '../../../src/jobs/convert/step.js'
import { MxDLayer } from '../../../src/engine/layers/mxd.js'
import type { SparseLayer } from '../../../src/engine/layers/sparse-layer.js'
import { denseCodes } from '../../../src/engine/layers/sparse.js'
import { TranscoderLayer } from '../../../src/engine/layers/transcoder.js'
import { AdamW } from '../../../src/engine/optim/adamw.js'
import { createRng as rng } from '../../../src/engine/generate.js'

beforeAll(async () => {
  await initBackend()
})

/** The old computation: a scan of the dense code. */
function denseStats(codes: tf.Tensor2D): { nonZeros: number; fired: number[] } {
  const nonZeros = tf.tidy(() => tf.sum(tf.cast(tf.notEqual(codes, 0), 'float32')).dataSync()[0]!)
  const max = tf.tidy(() => tf.max(codes, 0).dataSync())
  const fired: number[] = []
  for (let u = 0; u < max.length; u++) if (max[u]! > 0) fired.push(u)
  return { nonZeros, fired }
}

describe('code statistics from the selected entries', () => {
  const layers: [string, () => SparseLayer, string][] = [
    ['mxd', () => MxDLayer.create({ dIn: 16, dOut: 16, hidden: 32, experts: 40, k: 6, seed: 5 }), 'b_G'],
    ['transcoder', () => TranscoderLayer.create({ dIn: 16, dOut: 16, width: 48, k: 5, seed: 6 }), 'b_enc'],
  ]
  it.each(layers)('%s: equal to the dense scan over training steps', (_, make, gateBias) => {
    const layer = make()
    const next = rng(42)
    // All but 4 gates far below zero (fewer than K): every row keeps some selected entries at 0,
    // and most units never fire, so both statistics differ from the trivial B·K and "all".
    const b = layer.params[gateBias]!
    b.assign(tf.tensor(Float32Array.from({ length: b.size }, (_, i) => (i < 4 ? 0 : -1e3)), b.shape, 'float32'))
    const opt = new AdamW(layer.params, { lr: 1e-2 })
    const rows = 37
    for (let step = 0; step < 5; step++) {
      const x = Float32Array.from({ length: rows * 16 }, () => next() * 4 - 2)
      const y = Float32Array.from({ length: rows * 16 }, () => next() * 2 - 1)
      const want = tf.tidy(() => {
        const out = layer.forward(tf.tensor2d(x, [rows, 16]))
        expect(out.selected).toBeDefined()
        return denseStats(out.codes)
      })
      const got = trainStep(layer, opt, { x, y }, rows, 16, 1e-2)
      expect(got.nonZeros).toBe(want.nonZeros)
      expect(got.fired).toEqual(want.fired)
      expect(got.nonZeros).toBeLessThan(rows * layer.k) // some selected entries are 0
      expect(got.fired.length).toBeLessThanOrEqual(4)
      expect(got.fired.length).toBeGreaterThan(0)
    }
    opt.dispose()
    layer.dispose()
  })

  it('hand-made codes with zeros, −0, negative values and NaN', () => {
    const values = Float32Array.of(0.5, 0, -0, -1, NaN, 2, 0, 3, -0.25)
    const indices = Int32Array.of(4, 1, 2, 0, 3, 1, 4, 0, 2)
    const want = tf.tidy(() => denseStats(denseCodes(tf.tensor2d(values, [3, 3]), tf.tensor2d(indices, [3, 3], 'int32'), 6)))
    expect(selectedCodeStats(values, indices, 6)).toEqual(want)
    expect(want).toEqual({ nonZeros: 6, fired: [0, 1, 4] })
  })
})
