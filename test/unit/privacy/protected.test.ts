// The protected set: selection by class (all, or COUNT drawn with a seed), by random draw and by
// explicit indices; the record's hashes recomputed here with node:crypto over bytes built by hand
// (little-endian uint32, written byte by byte); subsetRows copies the right images; and every
// refusal names what is wrong.
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { protectedInfo, ProtectedSetError, selectProtected, subsetRows } from '../../../src/jobs/privacy/protected.js'
import { ProtectSpec } from '../../../src/shared/privacy.js'

// 30 images of 3 classes: label i % 3, so class c is at c, c+3, c+6, ...
const labels = Uint8Array.from({ length: 30 }, (_, i) => i % 3)
const parse = (s: unknown) => ProtectSpec.parse(s)

/** sha256 of the numbers as little-endian uint32, bytes written by hand. */
function handHash(xs: number[]): string {
  const bytes: number[] = []
  for (const x of xs) bytes.push(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, (x >>> 24) & 0xff)
  return createHash('sha256').update(Uint8Array.from(bytes)).digest('hex')
}

describe('selectProtected', () => {
  it('protects every image of a class, and the rest is retained', () => {
    const sel = selectProtected(labels, 3, parse({ by: 'class', class: 1 }))
    expect([...sel.forget]).toEqual([1, 4, 7, 10, 13, 16, 19, 22, 25, 28])
    expect([...sel.retain]).toEqual(Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 3 !== 1))
  })

  it('draws COUNT images of a class with a seed: sorted, of that class, reproducible, seed-dependent', () => {
    const a = selectProtected(labels, 3, parse({ by: 'class', class: 2, count: 4, seed: 7 }))
    expect(a.forget).toHaveLength(4)
    expect([...a.forget].every((i) => labels[i] === 2)).toBe(true)
    expect([...a.forget]).toEqual([...a.forget].sort((x, y) => x - y))
    expect(new Set(a.forget).size).toBe(4)
    expect([...selectProtected(labels, 3, parse({ by: 'class', class: 2, count: 4, seed: 7 })).forget]).toEqual([...a.forget])
    const others = [1, 2, 3, 4, 5].map((seed) =>
      [...selectProtected(labels, 3, parse({ by: 'class', class: 2, count: 4, seed })).forget].join(),
    )
    expect(new Set([...others, [...a.forget].join()]).size).toBeGreaterThan(1)
    expect(a.retain).toHaveLength(26)
  })

  it('draws K random images: distinct, in range, disjoint from the retain set, which covers the rest', () => {
    const sel = selectProtected(labels, 3, parse({ by: 'random', count: 12, seed: 3 }))
    expect(sel.forget).toHaveLength(12)
    expect(new Set(sel.forget).size).toBe(12)
    const all = new Set([...sel.forget, ...sel.retain])
    expect(all.size).toBe(30)
    expect([...sel.retain]).toEqual([...sel.retain].sort((x, y) => x - y))
  })

  it('takes explicit indices in any order and sorts them', () => {
    const sel = selectProtected(labels, 3, parse({ by: 'indices', indices: [29, 0, 14] }))
    expect([...sel.forget]).toEqual([0, 14, 29])
    expect(sel.retain).toHaveLength(27)
  })

  it('refuses what the data cannot give, naming it', () => {
    const sel = (s: unknown, names?: string[]) => () => selectProtected(labels, 3, parse(s), names)
    expect(sel({ by: 'class', class: 3 }, ['cat', 'dog', 'bird'])).toThrow(/no class 3: its classes are 0–2 \(0 cat, 1 dog, 2 bird\)/)
    expect(sel({ by: 'indices', indices: [3, 30] })).toThrow(/Index 30 is past the end of the training split \(30 images, indices 0–29\)/)
    expect(sel({ by: 'indices', indices: [5, 2, 5] })).toThrow(/Index 5 is listed more than once/)
    expect(sel({ by: 'class', class: 0, count: 11 }, ['cat', 'dog', 'bird'])).toThrow(
      /11 images of class 0 \(cat\) were asked for but the training split has 10/,
    )
    expect(sel({ by: 'random', count: 30 })).toThrow(/30 random images were asked for but the training split has 30/)
    expect(() => selectProtected(Uint8Array.of(0, 0, 2), 3, parse({ by: 'class', class: 1 }))).toThrow(/no images of class 1/)
    expect(() => selectProtected(Uint8Array.of(1, 1), 2, parse({ by: 'class', class: 1 }))).toThrow(/whole training split/)
    expect(sel({ by: 'class', class: 3 })).toThrow(ProtectedSetError)
  })
})

describe('protectedInfo', () => {
  it('records sizes, per-class counts and the hashes of the sorted indices as little-endian uint32', () => {
    const spec = parse({ by: 'indices', indices: [300, 2, 1] })
    const big = Uint8Array.from({ length: 400 }, (_, i) => i % 3)
    const sel = selectProtected(big, 3, spec)
    const info = protectedInfo(spec, sel, big, 3)
    expect(info.forget).toBe(3)
    expect(info.retain).toBe(397)
    expect(info.classCounts).toEqual([1, 1, 1]) // 300 % 3 = 0, 1, 2
    expect(info.forgetHash).toBe(handHash([1, 2, 300]))
    expect(info.retainHash).toBe(handHash(Array.from({ length: 400 }, (_, i) => i).filter((i) => ![1, 2, 300].includes(i))))
    expect(info.spec).toEqual({ by: 'indices', indices: [300, 2, 1] })
    // 300 = 0x012c: the hash depends on the byte order (big-endian would differ).
    expect(info.forgetHash).not.toBe(
      createHash('sha256')
        .update(Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 1, 0x2c))
        .digest('hex'),
    )
  })
})

describe('subsetRows', () => {
  it('copies the images and labels at the indices, in order', () => {
    const rows = {
      images: Uint8Array.from({ length: 5 * 4 }, (_, i) => i),
      labels: Uint8Array.of(0, 1, 2, 0, 1),
      height: 2,
      width: 2,
      channels: 1,
    }
    const sub = subsetRows(rows, [4, 1])
    expect([...sub.images]).toEqual([16, 17, 18, 19, 4, 5, 6, 7])
    expect([...sub.labels]).toEqual([1, 1])
    expect(sub).toMatchObject({ height: 2, width: 2, channels: 1 })
    expect(() => subsetRows(rows, [5])).toThrow(/row 5 is past the end of 5 rows/)
  })
})
