// The loss and metrics against hand computations on a tiny batch.
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { fvu, l0, mxdLoss, normalizedMse } from '../../../src/engine/layers/loss.js'

beforeAll(async () => {
  await initBackend()
})

// Two tokens, two dims: y* = [[3, 4], [0, 2]], ŷ = [[2, 4], [1, 1]].
const target = [
  [3, 4],
  [0, 2],
]
const pred = [
  [2, 4],
  [1, 1],
]

describe('losses', () => {
  it('the paper loss: mean of (ŷ − y*)² / ‖y*_b‖', () => {
    // token 0: errors² [1, 0] / 5; token 1: [1, 1] / 2 → mean of [0.2, 0, 0.5, 0.5] = 0.3
    const v = tf.tidy(() => mxdLoss(tf.tensor2d(pred), tf.tensor2d(target)).dataSync()[0])
    expect(v).toBeCloseTo(0.3, 6)
  })

  it('normalised MSE Σ‖ŷ−y‖² / Σ‖y‖² and FVU Σ‖y−ŷ‖² / Σ‖y−ȳ‖²', () => {
    // residual 3; Σ‖y‖² = 29; ȳ = [1.5, 3] → Σ‖y−ȳ‖² = 2.25·2 + 1·2 = 6.5
    expect(tf.tidy(() => normalizedMse(tf.tensor2d(pred), tf.tensor2d(target)).dataSync()[0])).toBeCloseTo(3 / 29, 6)
    expect(tf.tidy(() => fvu(tf.tensor2d(pred), tf.tensor2d(target)).dataSync()[0])).toBeCloseTo(3 / 6.5, 6)
  })

  it('L0 is the mean count of non-zeros per token', () => {
    expect(tf.tidy(() => l0(tf.tensor2d([[0, 1, 2, 0], [0, 0, 0, 5]])).dataSync()[0])).toBe(1.5)
  })
})
