// The shuffled activation buffer: every row harvested is yielded exactly once; batches are
// shuffled across chunks; the order is a function of the seed; a saved state restores the very
// same stream of batches; no row waits more than maxAge refills.
import { describe, expect, it } from 'vitest'
import { ActivationBuffer } from '../../../src/convert/activation-buffer.js'
import type { ActivationRows } from '../../../src/convert/harvest.js'

const D = 2
/** Chunk c: `n` rows, sequence c, positions 0…n−1; x = (id, −id), y = (2·id, id) with id = 1000c + pos. */
function chunk(c: number, n: number): ActivationRows {
  const rows: ActivationRows = { rows: n, x: new Float32Array(n * D), y: new Float32Array(n * D), seq: new Int32Array(n).fill(c), pos: new Int32Array(n) }
  for (let p = 0; p < n; p++) {
    const id = 1000 * c + p
    rows.x.set([id, -id], p * D)
    rows.y.set([2 * id, id], p * D)
    rows.pos[p] = p
  }
  return rows
}

/** Drives a buffer like the trainer: refill whole chunks of 8 rows when half read, batches of 5. */
function drive(seed: number, batches: number, buf = new ActivationBuffer({ capacity: 32, dIn: D, dOut: D, seed }), next = { chunk: 0 }): { ids: number[][]; buf: ActivationBuffer; next: { chunk: number } } {
  const ids: number[][] = []
  while (ids.length < batches) {
    if (buf.needsRefill(5)) {
      const chunks: ActivationRows[] = []
      for (let i = 0; i < Math.floor(buf.free / 8); i++) chunks.push(chunk(next.chunk++, 8))
      buf.refill(chunks)
      continue
    }
    const b = buf.take(5)
    const batch: number[] = []
    for (let r = 0; r < 5; r++) {
      const id = b.x[r * D]!
      expect(b.x[r * D + 1]).toBe(-id)
      expect([b.y[r * D], b.y[r * D + 1]]).toEqual([2 * id, id]) // x and y stay paired
      batch.push(id)
    }
    ids.push(batch)
  }
  return { ids, buf, next }
}

describe('ActivationBuffer', () => {
  it('yields every row of a fill exactly once, shuffled across chunks', () => {
    const buf = new ActivationBuffer({ capacity: 32, dIn: D, dOut: D, seed: 1 })
    buf.refill([0, 1, 2, 3].map((c) => chunk(c, 8)))
    expect(buf.available).toBe(32)
    const seen: number[] = []
    while (buf.available > 0) {
      const b = buf.take(Math.min(6, buf.available))
      for (let r = 0; r < b.x.length / D; r++) seen.push(b.x[r * D]!)
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3].flatMap((c) => Array.from({ length: 8 }, (_, p) => 1000 * c + p)))
    expect(seen).not.toEqual([...seen].sort((a, b) => a - b))
    expect(new Set(seen.slice(0, 6).map((id) => Math.floor(id / 1000))).size).toBeGreaterThan(1)
    expect(() => buf.take(1)).toThrow(/holding 0/)
  })

  it('refills when half read, and every row harvested over many refills comes out exactly once', () => {
    const { ids, next } = drive(3, 200)
    const all = ids.flat()
    expect(new Set(all).size).toBe(all.length)
    // Everything harvested is either yielded or still in the buffer (at most 32 rows).
    expect(next.chunk * 8 - all.length).toBeLessThanOrEqual(32)
  })

  it('is deterministic per seed', () => {
    expect(drive(7, 50).ids).toEqual(drive(7, 50).ids)
    expect(drive(7, 50).ids).not.toEqual(drive(8, 50).ids)
  })

  it('a saved state restores the same stream of batches', () => {
    const whole = drive(5, 120).ids
    const first = drive(5, 47)
    const state = first.buf.state()
    const restored = new ActivationBuffer({ capacity: 32, dIn: D, dOut: D, seed: 5 })
    restored.restore(state, (seq, pos) => {
      const c = chunk(seq, 8)
      return { x: c.x.subarray(pos * D, (pos + 1) * D), y: c.y.subarray(pos * D, (pos + 1) * D) }
    })
    const rest = drive(5, 120 - 47, restored, { chunk: first.next.chunk }).ids
    expect([...first.ids, ...rest]).toEqual(whole)
  })

  it('no row waits more than maxAge refills', () => {
    const buf = new ActivationBuffer({ capacity: 32, dIn: D, dOut: D, seed: 9, maxAge: 2 })
    const out = drive(9, 400, buf).ids
    // Chunk c arrives in refill ≈ c/2 (two chunks per refill after the first); with at most
    // maxAge refills of waiting, a row comes out before chunks much later than its own arrive.
    const firstSeenBatch = new Map<number, number>()
    out.forEach((b, i) => b.forEach((id) => firstSeenBatch.set(Math.floor(id / 1000), Math.min(firstSeenBatch.get(Math.floor(id / 1000)) ?? i, i))))
    for (const [i, b] of out.entries()) for (const id of b) expect(i - firstSeenBatch.get(Math.floor(id / 1000))!).toBeLessThanOrEqual(20)
  })
})
