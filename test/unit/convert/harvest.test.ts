// Harvesting: the rows are exactly the engine's hook activations (ln2.hook_normalized as x,
// hook_mlp_out as y*) of a full forward pass, in sequence-major order, named by (sequence, position).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { harvestSequences, SequenceStream } from '../../../src/convert/harvest.js'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { hookNames } from '../../../src/engine/hooks.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import type { LanguageModel } from '../../../src/engine/models/model.js'
import { MODELS } from './helpers.js'
import { join } from 'node:path'

let model: LanguageModel
beforeAll(async () => {
  await initBackend()
  model = await loadLanguageModel(join(MODELS, 'gpt2-tiny-f32'))
})
afterAll(() => model.dispose())

const seqs = [0, 1, 2].map((s) => Int32Array.from({ length: 10 }, (_, i) => (s * 37 + i * 11) % 300))

function reference(layer: number): { x: Float32Array; y: Float32Array } {
  // A full forward (no stopAfterLayer), one sequence at a time.
  const xs: number[] = []
  const ys: number[] = []
  for (const s of seqs) {
    const { logits, cache } = model.forward([Array.from(s)], { cacheNames: [hookNames.ln2(layer), hookNames.mlpOut(layer)] })
    xs.push(...cache[hookNames.ln2(layer)]!.dataSync())
    ys.push(...cache[hookNames.mlpOut(layer)]!.dataSync())
    tf.dispose([logits!, ...Object.values(cache)])
  }
  return { x: Float32Array.from(xs), y: Float32Array.from(ys) }
}

describe('harvestSequences', () => {
  it.each([0, 1])('block %i: rows are the hook activations of the engine', (layer) => {
    const ref = reference(layer)
    const rows = harvestSequences(model, layer, seqs, { skipFirst: false, firstSeq: 5 })
    expect(rows.rows).toBe(30)
    expect(rows.x.length).toBe(30 * 32)
    for (let i = 0; i < ref.x.length; i++) expect(rows.x[i]).toBeCloseTo(ref.x[i]!, 5)
    for (let i = 0; i < ref.y.length; i++) expect(rows.y[i]).toBeCloseTo(ref.y[i]!, 5)
    expect(Array.from(rows.seq.slice(8, 12))).toEqual([5, 5, 6, 6])
    expect(Array.from(rows.pos.slice(8, 12))).toEqual([8, 9, 0, 1])
  })

  it('skips position 0 (BOS) when asked, keeping the rest in place', () => {
    const all = harvestSequences(model, 1, seqs, { skipFirst: false })
    const noBos = harvestSequences(model, 1, seqs, { skipFirst: true })
    expect(noBos.rows).toBe(27)
    expect(Array.from(noBos.pos.slice(0, 10))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 1])
    // Row 9 of noBos is sequence 1, position 1 = row 11 of all.
    expect(Array.from(noBos.x.subarray(9 * 32, 10 * 32))).toEqual(Array.from(all.x.subarray(11 * 32, 12 * 32)))
    expect(Array.from(noBos.y.subarray(9 * 32, 10 * 32))).toEqual(Array.from(all.y.subarray(11 * 32, 12 * 32)))
  })
})

describe('SequenceStream', () => {
  it('numbers sequences globally across epochs and seeks without losing count', async () => {
    const epochs: number[] = []
    const open = async function* (epoch: number): AsyncGenerator<Int32Array> {
      for (let i = 0; i < 3; i++) yield Int32Array.of(epoch * 10 + i)
    }
    const s = new SequenceStream(open, (e) => epochs.push(e))
    const got: number[] = []
    for (let i = 0; i < 7; i++) got.push((await s.next())[0]!)
    expect(got).toEqual([0, 1, 2, 10, 11, 12, 20])
    expect(epochs).toEqual([1, 2])
    const t = new SequenceStream(open)
    const kept: number[] = []
    await t.seek(5, (i, ids) => i >= 3 && kept.push(ids[0]!))
    expect(kept).toEqual([10, 11])
    expect((await t.next())[0]).toBe(12)
    const empty = new SequenceStream(async function* () {})
    await expect(empty.next()).rejects.toThrow(/too small/)
  })
})
