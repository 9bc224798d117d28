// The 1-D class-balanced logistic regression against closed forms, and the scores by hand.
import { describe, expect, it } from 'vitest'
import { binaryScores, fitLogistic1d, predict } from '../../../src/analysis/probe/logistic.js'

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z))

describe('fitLogistic1d', () => {
  it('on a binary feature, meets the closed form: σ(b) and σ(w + b) are the class-weighted positive shares of x = 0 and x = 1', () => {
    // x = 0: 3 positives, 5 negatives; x = 1: 6 positives, 2 negatives. n = 16, n₊ = 9, n₋ = 7.
    const x = [...new Array(8).fill(0), ...new Array(8).fill(1)]
    const y = [...[1, 1, 1, 0, 0, 0, 0, 0], ...[1, 1, 1, 1, 1, 1, 0, 0]].map((v) => v === 1)
    const wp = 16 / (2 * 9)
    const wn = 16 / (2 * 7)
    const share0 = (3 * wp) / (3 * wp + 5 * wn)
    const share1 = (6 * wp) / (6 * wp + 2 * wn)
    const fit = fitLogistic1d(x, y, { l2: 0 })
    expect(sigmoid(fit.bias)).toBeCloseTo(share0, 10)
    expect(sigmoid(fit.weight + fit.bias)).toBeCloseTo(share1, 10)
    expect(fit.steps).toBeLessThan(30)
  })

  it('on a continuous feature, sets the weighted score equations to zero (checked in a float64 loop)', () => {
    const x = [0.1, 0.4, 0.35, 0.8, 0.05, 0.9, 0.6, 0.2, 0.7, 0.55, 0.3]
    const y = [false, false, true, true, false, true, false, false, true, true, true]
    const fit = fitLogistic1d(x, y, { l2: 0 })
    const n = x.length
    const pos = y.filter(Boolean).length
    let gw = 0
    let gb = 0
    x.forEach((xi, i) => {
      const w = y[i] ? n / (2 * pos) : n / (2 * (n - pos))
      const r = w * (sigmoid(fit.weight * xi + fit.bias) - (y[i] ? 1 : 0))
      gw += r * xi
      gb += r
    })
    expect(Math.abs(gw)).toBeLessThan(1e-9)
    expect(Math.abs(gb)).toBeLessThan(1e-9)
  })

  it('stays finite on perfectly separated classes and separates them', () => {
    const x = [0, 0, 0, 0.2, 0.5, 0.7]
    const y = [false, false, false, true, true, true]
    const fit = fitLogistic1d(x, y)
    expect(Number.isFinite(fit.weight) && Number.isFinite(fit.bias)).toBe(true)
    expect(predict(fit, x)).toEqual(y)
  })

  it('refuses a single class', () => {
    expect(() => fitLogistic1d([1, 2], [true, true])).toThrow(/both classes/)
  })
})

describe('binaryScores', () => {
  it('counts F1 and balanced accuracy by hand', () => {
    // tp 2, fp 1, fn 1, tn 4: F1 = 4 / 6, TPR 2/3, TNR 4/5.
    const actual = [true, true, true, false, false, false, false, false]
    const predicted = [true, true, false, true, false, false, false, false]
    const s = binaryScores(predicted, actual)
    expect(s.f1).toBeCloseTo(4 / 6, 12)
    expect(s.balancedAccuracy).toBeCloseTo((2 / 3 + 4 / 5) / 2, 12)
    expect(binaryScores([false, false], [true, false])).toEqual({ f1: 0, balancedAccuracy: 0.5 })
  })
})
