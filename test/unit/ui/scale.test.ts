// The chart ticks: nice steps, labels that never repeat, and a minimum span so that tiny
// differences are not blown up. Expectations computed by hand.
import { describe, expect, it } from 'vitest'
import { formatLinearTick, niceTicks, tickDecimals } from '../../../src/shared/ticks.js'

describe('niceTicks', () => {
  it('steps of 1, 2, 2.5 or 5 × 10^k covering the range', () => {
    // span 10 / 5 = 2 → step 2; 0..10
    expect(niceTicks(0, 10, 5)).toEqual({ lo: 0, hi: 10, step: 2, ticks: [0, 2, 4, 6, 8, 10] })
    // span 0.7 / 5 = 0.14 → 0.2; floor(0.1/0.2) = 0, ceil(0.8/0.2) = 4
    expect(niceTicks(0.1, 0.8, 5)).toEqual({ lo: 0, hi: 0.8, step: 0.2, ticks: [0, 0.2, 0.4, 0.6, 0.8] })
    // span 9 / 4 = 2.25 → 2.5; 0..10
    expect(niceTicks(1, 10, 4).ticks).toEqual([0, 2.5, 5, 7.5, 10])
  })

  it('a narrow CE range: ticks 0.0002 apart, all distinct', () => {
    // span 0.001 / 5 = 0.0002 → step 0.0002; 4.1455/0.0002 = 20727.5 → 20727 → 4.1454; 4.1465 → 20733 → 4.1466
    const t = niceTicks(4.1455, 4.1465, 5)
    expect(t.step).toBeCloseTo(0.0002, 12)
    expect(t.ticks).toEqual([4.1454, 4.1456, 4.1458, 4.146, 4.1462, 4.1464, 4.1466])
    const labels = t.ticks.map((v) => formatLinearTick(v, t.step))
    expect(labels).toEqual(['4.1454', '4.1456', '4.1458', '4.1460', '4.1462', '4.1464', '4.1466'])
    expect(new Set(labels).size).toBe(labels.length)
  })

  it('minStep 1 (counts such as steps): whole-number ticks only', () => {
    // One point at step 1: ±10% → 0.9..1.1, span 0.2 / 5 = 0.04 → 0.05 without the bound; with it
    // step 1, floor(0.9) = 0, ceil(1.1) = 2
    expect(niceTicks(0.9, 1.1, 5).ticks[1]).toBe(0.95)
    expect(niceTicks(1, 1, 5, 0, 1)).toEqual({ lo: 0, hi: 2, step: 1, ticks: [0, 1, 2] })
    // span 3 / 5 = 0.6 → 1 anyway (the bound changes nothing once the nice step is ≥ 1)
    expect(niceTicks(1, 4, 5, 0, 1)).toEqual(niceTicks(1, 4, 5))
    // 1..3 over 8 ticks: 2 / 8 = 0.25 → 1
    expect(niceTicks(1, 3, 8, 0, 1).ticks).toEqual([1, 2, 3])
  })

  it('widens a range narrower than minSpan around its middle', () => {
    // mid 4.146, ±0.005 → 4.141..4.151; step 0.01 / 5 = 0.002; 4.140..4.152
    const t = niceTicks(4.1455, 4.1465, 5, 0.01)
    expect(t.ticks).toEqual([4.14, 4.142, 4.144, 4.146, 4.148, 4.15, 4.152])
    expect(t.ticks.map((v) => formatLinearTick(v, t.step))).toEqual(['4.140', '4.142', '4.144', '4.146', '4.148', '4.150', '4.152'])
    // A wide enough range is left alone.
    expect(niceTicks(0, 10, 5, 0.01).ticks).toEqual([0, 2, 4, 6, 8, 10])
  })

  it('gives a single value a range', () => {
    // 5 ± 0.5 → span 1 / 5 = 0.2 → 4.4..5.6
    expect(niceTicks(5, 5, 5).ticks).toEqual([4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6])
    expect(niceTicks(0, 0, 4).ticks).toEqual([-1, -0.5, 0, 0.5, 1])
  })
})

describe('tickDecimals and labels', () => {
  it('counts the decimals a step needs', () => {
    expect(tickDecimals(50)).toBe(0)
    expect(tickDecimals(1)).toBe(0)
    expect(tickDecimals(2.5)).toBe(1)
    expect(tickDecimals(0.25)).toBe(2)
    expect(tickDecimals(0.0002)).toBe(4)
    expect(tickDecimals(0.1)).toBe(1)
  })
  it('labels thousands with separators and zero as 0', () => {
    expect(formatLinearTick(2000, 500)).toBe('2,000')
    expect(formatLinearTick(0, 0.5)).toBe('0')
    expect(formatLinearTick(1.5, 0.5)).toBe('1.5')
  })
})

describe('the CE axis of the frontier', () => {
  it('spans at least minSpan around clean and zero-ablated CE', () => {
    // mid 4.08485 ± 0.025 → 4.05985..4.10985; 0.05 / 5 = 0.01 → 4.05..4.11
    const t = niceTicks(4.0734, 4.0963, 5, 0.05)
    expect(t.step).toBeCloseTo(0.01, 12)
    expect(t.lo).toBeCloseTo(4.05, 12)
    expect(t.hi).toBeCloseTo(4.11, 12)
    expect(t.ticks).toEqual([4.05, 4.06, 4.07, 4.08, 4.09, 4.1, 4.11])
    expect(t.ticks.map((v) => formatLinearTick(v, t.step))).toEqual(['4.05', '4.06', '4.07', '4.08', '4.09', '4.10', '4.11'])
  })
})
