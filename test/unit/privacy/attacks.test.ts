// The attacks on a protected set: FGSM's perturbation is radius·sign(∂lse/∂x) before clamping,
// the gradient of logsumexp for logistic regression derived by hand (∂/∂x_j lse(xW + b) =
// Σ_c W_jc·softmax(z)_c) in float64, then clamped to [0, 1], and runAttacks's figures for it
// recomputed in float64 from those images; PGD stays in the L∞ ball and the pixel range and never
// lowers logsumexp below the start; the Gaussian attack is seeded; a uniform-output model reports
// distance 0 before and after.
import { beforeAll, describe, expect, it } from 'vitest'
import { AttackConfig } from '../../../src/shared/privacy.js'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { disposeParams } from '../../../src/engine/classifiers/classifier.js'
import { batchTensor, rangeIndices } from '../../../src/engine/classifiers/rows.js'
import { fgsm, gaussianPerturbation, lsePerImage, pgd, runAttacks } from '../../../src/engine/privacy/attacks.js'
import { confidenceSummary } from '../../../src/engine/privacy/report.js'
import { forward64, logSoftmax64, pixels64, plantedRows, trainedClassifier, weights64 } from './reference.js'

beforeAll(async () => {
  await initBackend()
})

const train = plantedRows(30, 21)
const forget = plantedRows(5, 22) // 20 protected images
const D = 64
const K = 4

describe('attacks', () => {
  it('FGSM on logreg: x + r·sign(W·softmax(z)) clamped to [0, 1]; runAttacks measures those images', () => {
    const { model, params } = trainedClassifier('logreg', train, 100)
    const w = weights64(params)
    const W = w['head.weight']!
    const n = forget.labels.length
    const x = pixels64(forget)
    const z = forward64('logreg', w, x, n, D, K)
    const r = 0.1
    const expected = new Float64Array(n * D)
    let clamped = 0
    const ambiguous = new Set<number>()
    for (let i = 0; i < n; i++) {
      const p = logSoftmax64(z.subarray(i * K, (i + 1) * K)).map(Math.exp)
      for (let j = 0; j < D; j++) {
        let g = 0
        for (let c = 0; c < K; c++) g += W[j * K + c]! * p[c]!
        if (Math.abs(g) < 1e-6) ambiguous.add(i * D + j) // float32 may round the sign of a near-zero gradient either way
        const moved = x[i * D + j]! + r * Math.sign(g)
        if (moved < 0 || moved > 1) clamped++
        expected[i * D + j] = Math.min(1, Math.max(0, moved))
      }
    }
    expect(clamped).toBeGreaterThan(0) // the clamp is exercised
    expect(ambiguous.size).toBeLessThan(n) // almost every entry is checked
    const { images } = batchTensor(forget, rangeIndices(0, n))
    const attacked = fgsm(model, params, images, r)
    const got = attacked.dataSync()
    for (let k = 0; k < n * D; k++) if (!ambiguous.has(k)) expect(Math.abs(got[k]! - expected[k]!), `entry ${k}`).toBeLessThan(1e-6)

    // runAttacks' FGSM figures, recomputed in float64 from the hand-perturbed images.
    const config = AttackConfig.parse({ fgsm: { radius: r }, confidentAbove: 0.9 })
    const [result] = runAttacks(model, params, forget, config)
    const zAfter = forward64('logreg', w, expected, n, D, K)
    let dist = 0
    let confident = 0
    for (let i = 0; i < n; i++) {
      const pmax = Math.max(...logSoftmax64(zAfter.subarray(i * K, (i + 1) * K)).map(Math.exp))
      dist += Math.max(0, pmax - 1 / K) / n
      if (pmax > 0.9) confident++
    }
    expect(result).toMatchObject({ kind: 'fgsm', radius: r, steps: 1, confidentAbove: 0.9 })
    expect(result!.distanceBefore).toBeCloseTo(confidenceSummary(model, params, forget).distance, 6)
    expect(result!.distanceAfter).toBeCloseTo(dist, 5)
    expect(result!.confidentFraction).toBeCloseTo(confident / n, 12)
    tf.dispose([images, attacked])
    disposeParams(params)
  })

  for (const kind of ['logreg', 'mlp'] as const) {
    it(`PGD (${kind}) stays in the ball and [0, 1] and does not lower logsumexp`, () => {
      const { model, params } = trainedClassifier(kind, train, 40, kind === 'mlp' ? { hidden: 16 } : {})
      const n = forget.labels.length
      const { images } = batchTensor(forget, rangeIndices(0, n))
      const o = { radius: 0.05, steps: 20, stepSize: 0.01 }
      const attacked = pgd(model, params, images, o)
      const x = images.dataSync()
      const y = attacked.dataSync()
      let moved = 0
      for (let k = 0; k < x.length; k++) {
        expect(Math.abs(y[k]! - x[k]!)).toBeLessThanOrEqual(o.radius + 1e-6)
        expect(y[k]!).toBeGreaterThanOrEqual(0)
        expect(y[k]!).toBeLessThanOrEqual(1)
        moved = Math.max(moved, Math.abs(y[k]! - x[k]!))
      }
      expect(moved).toBeGreaterThan(o.radius - 1e-6) // it does reach the ball's edge
      const before = lsePerImage(model, params, images)
      const after = lsePerImage(model, params, attacked)
      let gain = 0
      for (let i = 0; i < n; i++) {
        expect(after[i]!).toBeGreaterThanOrEqual(before[i]! - 1e-4)
        gain += after[i]! - before[i]!
      }
      expect(gain / n).toBeGreaterThan(0.01)
      tf.dispose([images, attacked])
      disposeParams(params)
    })
  }

  it('Gaussian noise: clamped, seeded, N(0, r²) where not clamped', () => {
    const n = forget.labels.length
    const { images } = batchTensor(forget, rangeIndices(0, n))
    const r = 0.1
    const a = gaussianPerturbation(images, r, 5)
    const b = gaussianPerturbation(images, r, 5)
    const c = gaussianPerturbation(images, r, 6)
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()))
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()))
    const x = images.dataSync()
    const y = a.dataSync()
    const e: number[] = []
    for (let k = 0; k < x.length; k++) {
      expect(y[k]!).toBeGreaterThanOrEqual(0)
      expect(y[k]!).toBeLessThanOrEqual(1)
      if (y[k]! > 0 && y[k]! < 1 && x[k]! > 0.3 && x[k]! < 0.6) e.push((y[k]! - x[k]!) / r) // far from the clamps: unclamped draws
    }
    // Pixels in (0.3, 0.6) only clamp beyond 3σ; the conditional mean is ~0 and std ~1.
    expect(e.length).toBeGreaterThan(50)
    const mean = e.reduce((s, v) => s + v, 0) / e.length
    const sd = Math.sqrt(e.reduce((s, v) => s + (v - mean) ** 2, 0) / e.length)
    expect(Math.abs(mean)).toBeLessThan(0.4)
    expect(Math.abs(sd - 1)).toBeLessThan(0.3)
    tf.dispose([images, a, b, c])
  })

  it('a uniform-output model: distance 0 before and after every attack, nothing confident', () => {
    const { model, params } = trainedClassifier('logreg', train, 0)
    for (const v of Object.values(params.weights)) v.assign(tf.zerosLike(v))
    const config = AttackConfig.parse({ gaussian: {}, fgsm: {}, pgd: { steps: 5 } })
    const results = runAttacks(model, params, forget, config)
    expect(results.map((r) => r.kind)).toEqual(['gaussian', 'fgsm', 'pgd'])
    for (const r of results) {
      expect(r.distanceBefore).toBeLessThan(1e-7)
      expect(r.distanceAfter).toBeLessThan(1e-7)
      expect(r.confidentFraction).toBe(0)
      expect(r.confidentAbove).toBe(0.5)
    }
    expect(results[2]).toMatchObject({ radius: 0.1, steps: 5, stepSize: 1e-3 })
    disposeParams(params)
  })

  it('the Gaussian attack is seeded through runAttacks and leaks no tensors', () => {
    const { model, params } = trainedClassifier('mlp', train, 40, { hidden: 16 })
    const before = tf.memory().numTensors
    const a = runAttacks(model, params, forget, AttackConfig.parse({ gaussian: { radius: 0.3, seed: 1 }, pgd: { steps: 3 } }))
    const b = runAttacks(model, params, forget, AttackConfig.parse({ gaussian: { radius: 0.3, seed: 1 } }))
    const c = runAttacks(model, params, forget, AttackConfig.parse({ gaussian: { radius: 0.3, seed: 2 } }))
    expect(tf.memory().numTensors).toBe(before)
    expect(a[0]!.distanceAfter).toBe(b[0]!.distanceAfter)
    expect(a[0]!.distanceAfter).not.toBe(c[0]!.distanceAfter)
    disposeParams(params)
  })
})
