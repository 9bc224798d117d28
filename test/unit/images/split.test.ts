// The stratified, seeded split: counts per class from a direct count, determinism, and the
// official test split left alone.
import { describe, expect, it } from 'vitest'
import { countBySplit, SPLIT_CODE, splitCodes } from '../../../src/data/images/split.js'

// 10 classes of unequal sizes (class c has 50 + 17c images), interleaved, then 100 official test images.
function planted(): { labels: Uint8Array; perClass: number[]; officialTest: number } {
  const perClass = Array.from({ length: 10 }, (_, c) => 50 + 17 * c)
  const train: number[] = []
  const left = [...perClass]
  while (left.some((n) => n > 0)) {
    for (let c = 0; c < 10; c++) {
      if (left[c]! === 0) continue
      train.push(c)
      left[c]!--
    }
  }
  const test = Array.from({ length: 100 }, (_, i) => i % 10)
  return { labels: Uint8Array.from([...train, ...test]), perClass, officialTest: 100 }
}

describe('splitCodes', () => {
  it('holds out round(fraction · n_c) of each class for validation and never touches the official test images', () => {
    const { labels, perClass, officialTest } = planted()
    const codes = splitCodes(labels, officialTest, { validationFraction: 0.1, testFraction: null, seed: 3 })
    const n = labels.length - officialTest
    for (let c = 0; c < 10; c++) {
      let validation = 0
      let train = 0
      for (let i = 0; i < n; i++) {
        if (labels[i] !== c) continue
        if (codes[i] === SPLIT_CODE.validation) validation++
        else if (codes[i] === SPLIT_CODE.train) train++
      }
      expect(validation).toBe(Math.round(0.1 * perClass[c]!))
      expect(train + validation).toBe(perClass[c])
    }
    expect([...codes.subarray(n)].every((c) => c === SPLIT_CODE.test)).toBe(true)
    const counts = countBySplit(labels, codes, 10)
    expect(counts.test).toEqual(new Array(10).fill(10))
    expect(counts.validation).toEqual(perClass.map((p) => Math.round(0.1 * p)))
  })

  it('is the same for the same seed and differs for another', () => {
    const { labels, officialTest } = planted()
    const plan = { validationFraction: 0.2, testFraction: null, seed: 7 }
    const a = splitCodes(labels, officialTest, plan)
    expect([...splitCodes(labels, officialTest, plan)]).toEqual([...a])
    const b = splitCodes(labels, officialTest, { ...plan, seed: 8 })
    expect([...b]).not.toEqual([...a])
    // Another seed moves images, not counts.
    expect(countBySplit(labels, b, 10)).toEqual(countBySplit(labels, a, 10))
  })

  it('draws a stratified test part first when there is no official one, disjoint from validation', () => {
    const { labels, perClass } = planted()
    const train = labels.subarray(0, labels.length - 100)
    const codes = splitCodes(train, 0, { validationFraction: 0.1, testFraction: 0.2, seed: 0 })
    const counts = countBySplit(train, codes, 10)
    for (let c = 0; c < 10; c++) {
      const test = Math.round(0.2 * perClass[c]!)
      expect(counts.test[c]).toBe(test)
      expect(counts.validation[c]).toBe(Math.round(0.1 * (perClass[c]! - test)))
      expect(counts.train[c]! + counts.validation[c]! + counts.test[c]!).toBe(perClass[c])
    }
  })

  it('refuses a fraction outside [0, 1)', () => {
    expect(() => splitCodes(Uint8Array.of(0, 1), 0, { validationFraction: 1, testFraction: null, seed: 0 })).toThrow(/in \[0, 1\)/)
  })
})


