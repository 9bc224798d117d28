// The split and the choice of unit: stratified, seeded sizes; candidates ranked on the training
// split; the unit chosen on the validation split, not the test split, in a task built so that
// the two choices differ.
import { describe, expect, it } from 'vitest'
import type { PooledCodes } from '../../../src/analysis/probe/pool.js'
import { probeClasses, rankCandidates, stratifiedSplit, type SplitName } from '../../../src/analysis/probe/probe.js'

const codes = (rows: Record<number, number>[]): PooledCodes[] =>
  rows.map((r) => {
    const units = Int32Array.from(Object.keys(r).map(Number)).sort()
    return { units, values: Float64Array.from(units, (u) => r[u]!) }
  })

describe('stratifiedSplit', () => {
  it('cuts each class 60 / 20 / 20, the same for the same seed', () => {
    const labels = [...new Array(10).fill('a'), ...new Array(25).fill('b')]
    const s = stratifiedSplit(labels, 4)
    const count = (label: string, part: SplitName): number => s.filter((v, i) => v === part && labels[i] === label).length
    expect([count('a', 'train'), count('a', 'validation'), count('a', 'test')]).toEqual([6, 2, 2])
    expect([count('b', 'train'), count('b', 'validation'), count('b', 'test')]).toEqual([15, 5, 5])
    expect(stratifiedSplit(labels, 4)).toEqual(s)
    expect(stratifiedSplit(labels, 5)).not.toEqual(s)
  })
})

describe('the choice of unit', () => {
  it('ranks candidates by mean(positive) − mean(negative) on the training split only', () => {
    const c = codes([{ 1: 2, 2: 1 }, { 1: 2 }, { 2: 3 }, { 3: 9 }])
    // Training: examples 0 (positive), 1 and 2 (negative); example 3 is outside it.
    const ranked = rankCandidates(c, [0, 1, 2], [true, false, false, false])
    expect(ranked).toEqual([
      { unit: 1, difference: 2 - 1 },
      { unit: 2, difference: 1 - 1.5 },
    ])
  })

  it('is made on the validation split: unit 1 wins there, unit 2 only on test', () => {
    // 8 examples per split, 4 positives each. Unit 1 separates training and validation but
    // fires on no test positive; unit 2 is weaker on training and validation (one error each)
    // but perfect on test. The official code (choice by test F1) would report unit 2.
    const split: SplitName[] = []
    const labels: string[] = []
    const rows: Record<number, number>[] = []
    const add = (part: SplitName, positive: boolean, u1: number, u2: number): void => {
      split.push(part)
      labels.push(positive ? 'pos' : 'neg')
      const r: Record<number, number> = {}
      if (u1) r[1] = u1
      if (u2) r[2] = u2
      rows.push(r)
    }
    for (const part of ['train', 'validation'] as const) {
      for (let i = 0; i < 4; i++) add(part, true, 1, i === 0 ? 0 : 1)
      for (let i = 0; i < 4; i++) add(part, false, 0, i === 0 ? 1 : 0)
    }
    for (let i = 0; i < 4; i++) add('test', true, 0, 1)
    for (let i = 0; i < 4; i++) add('test', false, 0, 0)
    const [, pos] = probeClasses(codes(rows), labels, split)!
    expect(pos!.label).toBe('pos')
    expect(pos!.unit).toBe(1)
    expect(pos!.validation.f1).toBe(1)
    expect(pos!.test.f1).toBe(0)
    expect(pos!.test.balancedAccuracy).toBe(0.5)
    expect(pos!.testChosen.unit).toBe(2)
    expect(pos!.testChosen.f1).toBe(1)
    expect(pos!.positives).toEqual({ train: 4, validation: 4, test: 4 })
  })
})
