// Pooling by hand: BOS (position 0) and padding (after a text's end) are never read, and each
// text's sum is divided by its own content count.
import { describe, expect, it } from 'vitest'
import { poolRows, sequenceOf } from '../../../src/analysis/probe/pool.js'

describe('poolRows', () => {
  it('averages each unit over content positions only', () => {
    // Two texts in one batch of seqLen 4, k = 2. Text 0: BOS + 3 tokens. Text 1: BOS + 1 token + 2 padding.
    // Rows (unit:value): t0 p0 (BOS) 5:100 9:50 | p1 5:1 6:2 | p2 5:3 6:0 | p3 7:4 5:2
    //                    t1 p0 (BOS) 5:100      | p1 8:6 5:1 | p2 (pad) 8:70 | p3 (pad) 9:80
    const v = [100, 50, 1, 2, 3, 0, 4, 2, 100, 0, 6, 1, 70, 0, 80, 0]
    const u = [5, 9, 5, 6, 5, 6, 7, 5, 5, 1, 8, 5, 8, 2, 9, 3]
    const pooled = poolRows({ values: Float32Array.from(v), indices: Int32Array.from(u), k: 2 }, [{ first: 1, length: 4 }, { first: 1, length: 2 }], 4)
    expect(Array.from(pooled[0]!.units)).toEqual([5, 6, 7])
    expect(Array.from(pooled[0]!.values)).toEqual([(1 + 3 + 2) / 3, 2 / 3, 4 / 3])
    expect(Array.from(pooled[1]!.units)).toEqual([5, 8])
    expect(Array.from(pooled[1]!.values)).toEqual([1, 6])
  })

  it('reads every position of a text without BOS', () => {
    const pooled = poolRows({ values: Float32Array.from([2, 4]), indices: Int32Array.from([3, 3]), k: 1 }, [{ first: 0, length: 2 }], 2)
    expect(Array.from(pooled[0]!.values)).toEqual([3])
  })
})

describe('sequenceOf', () => {
  it('puts BOS first, cuts to the context and marks the first content position', () => {
    expect(sequenceOf([4, 5, 6], 9, 3)).toEqual({ ids: [9, 4, 5], first: 1, truncated: true })
    expect(sequenceOf([4, 5], null, 3)).toEqual({ ids: [4, 5], first: 0, truncated: false })
  })
})
