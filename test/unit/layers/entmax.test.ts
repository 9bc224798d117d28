import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { entmax15 } from '../../../src/engine/layers/entmax.js'
import { randRows, refEntmax15, rng, type Rows } from './mumoe-reference.js'

beforeAll(async () => {
  await initBackend()
})

const run = (z: Rows): Rows => tf.tidy(() => entmax15(tf.tensor2d(z)).arraySync() as Rows)

describe('entmax15', () => {
  it('matches a hand-worked example', () => {
    // z = [1, 0, −1]  ⇒  x = z/2 = [0.5, 0, −0.5],  p_i = [x_i − τ]₊².
    // Try support {1, 2}: (0.5 − τ)² + τ² = 1  ⇔  2τ² − τ − 0.75 = 0  ⇔  τ = (1 ± √7)/4.
    // The root below both x₁, x₂ is τ = (1 − √7)/4 ≈ −0.4114, and x₃ = −0.5 < τ, so the third
    // entry is outside the support: consistent. (Support {1,2,3} would need 3τ² + 0.5 = 1,
    // τ = −1/√6 ≈ −0.408 > x₃: inconsistent.)
    //   p₁ = ((1 + √7)/4)² = (4 + √7)/8 ≈ 0.830719,   p₂ = ((1 − √7)/4)² = (4 − √7)/8 ≈ 0.169281,   p₃ = 0.
    const s7 = Math.sqrt(7)
    const [p] = run([[1, 0, -1]])
    expect(p![0]).toBeCloseTo((4 + s7) / 8, 6)
    expect(p![1]).toBeCloseTo((4 - s7) / 8, 6)
    expect(p![2]).toBe(0)

    // z = [3, 0, 0]: x − max = [0, −1.5, −1.5]; support {1} gives τ = −1 > −1.5, so p = [1, 0, 0].
    expect(run([[3, 0, 0]])[0]).toEqual([1, 0, 0])
    // Equal logits: τ = −1/√3, every p_i = 1/3 (what a zero-initialised gate produces).
    for (const v of run([[0, 0, 0]])[0]!) expect(v).toBeCloseTo(1 / 3, 6)
  })

  it('matches the bisection reference on random inputs, sums to 1, and is sparse for spread logits', () => {
    const rand = rng(1)
    for (const [rows, n, scale] of [
      [5, 7, 1],
      [4, 16, 3],
      [3, 64, 0.5],
      [6, 3, 10],
    ] as const) {
      const z = randRows(rand, rows, n, scale)
      const got = run(z)
      z.forEach((row, i) => {
        const want = refEntmax15(row)
        const p = got[i]!
        want.forEach((w, j) => expect(Math.abs(p[j]! - w)).toBeLessThan(2e-6))
        expect(Math.abs(p.reduce((s, v) => s + v, 0) - 1)).toBeLessThan(1e-5)
        // exact zeros exactly where the reference has them
        p.forEach((v, j) => expect(v === 0).toBe(want[j] === 0))
      })
    }
    // Widely spread logits leave most entries at exactly 0; nearly equal ones keep all.
    expect(run(randRows(rand, 1, 32, 10))[0]!.filter((v) => v === 0).length).toBeGreaterThan(20)
    expect(run(randRows(rand, 1, 32, 0.01))[0]!.every((v) => v > 0)).toBe(true)
  })

  it('works over the last axis of higher-rank tensors', () => {
    const z = randRows(rng(2), 6, 5, 2)
    const got = tf.tidy(() => entmax15(tf.tensor3d(z.flat(), [2, 3, 5])).arraySync() as number[][][])
    expect(got.flat().flatMap((r, i) => r.map((v, j) => Math.abs(v - refEntmax15(z[i]!)[j]!)))).toSatisfy((d: number[]) =>
      d.every((v) => v < 2e-6),
    )
  })

  it('has the exact entmax-1.5 gradient (vs central differences of the float64 reference)', () => {
    const rand = rng(3)
    const z = randRows(rand, 4, 9, 2)
    const w = randRows(rand, 4, 9)
    // loss = Σ w ∗ entmax15(z)
    const grad = tf.tidy(() => {
      const wt = tf.tensor2d(w)
      return tf
        .grad((zt: tf.Tensor) => tf.sum(tf.mul(entmax15(zt), wt)))(tf.tensor2d(z))
        .arraySync() as Rows
    })
    const h = 1e-6
    const loss = (row: number[], i: number): number => refEntmax15(row).reduce((s, p, j) => s + p * w[i]![j]!, 0)
    z.forEach((row, i) =>
      row.forEach((_, j) => {
        const up = row.slice()
        const down = row.slice()
        up[j]! += h
        down[j]! -= h
        const fd = (loss(up, i) - loss(down, i)) / (2 * h)
        expect(Math.abs(grad[i]![j]! - fd)).toBeLessThan(1e-5)
      }),
    )
    // Off the support the gradient is exactly 0 (the function is flat there).
    const p = run(z)
    p.forEach((row, i) => row.forEach((v, j) => v === 0 && expect(Math.abs(grad[i]![j]!)).toBe(0)))
  })

  it('leaks no tensors', () => {
    const z = tf.tensor2d(randRows(rng(4), 8, 12))
    const before = tf.memory().numTensors
    for (let i = 0; i < 50; i++) tf.dispose(tf.grad((t: tf.Tensor) => tf.sum(tf.square(entmax15(t))))(z))
    expect(tf.memory().numTensors).toBe(before)
    z.dispose()
  })
})
