// The evaluation metrics against hand computations in plain JavaScript (float64), and the
// evaluation of spliced layers on a tiny model: a layer equal to the dense MLP recovers all of
// the loss, a zero layer none, and padding / a leading BOS are left out where they should be.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  EvalAccumulator,
  evaluateLayer,
  nextTokenNll,
  predictionWeights,
  reconstructionWeights,
  type EvalBatch,
} from '../../../src/convert/evaluate.js'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { MxDLayer } from '../../../src/engine/layers/mxd.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import type { LanguageModel } from '../../../src/engine/models/model.js'
import { uniform } from '../layers/helpers.js'
import { denseMlpAsMxd, NEOX, zeroMxd } from './helpers.js'

/** Plain-JS log-softmax cross-entropy of logits [B][T][V] for next tokens, over weighted positions. */
function referenceCe(logits: number[][][], ids: number[][], mask: number[][]): { sum: number; count: number } {
  let sum = 0
  let count = 0
  logits.forEach((seq, b) => {
    for (let t = 0; t + 1 < seq.length; t++) {
      if (!mask[b]![t] || !mask[b]![t + 1]) continue
      const row = seq[t]!
      const max = Math.max(...row)
      const lse = max + Math.log(row.reduce((acc, v) => acc + Math.exp(v - max), 0))
      sum += lse - row[ids[b]![t + 1]!]!
      count++
    }
  })
  return { sum, count }
}

beforeAll(async () => {
  await initBackend()
})

describe('EvalAccumulator', () => {
  it('matches NMSE, FVU, explained variance, L0 and dead fraction computed by hand over two batches', () => {
    const rand = uniform(7)
    const O = 5
    const width = 6
    // Two batches of 4 and 3 rows; the last row of batch 1 is excluded (e.g. padding).
    const batches = [4, 3].map((rows) => ({
      target: Array.from({ length: rows * O }, () => rand(-2, 3)),
      pred: Array.from({ length: rows * O }, () => rand(-2, 3)),
      codes: Array.from({ length: rows }, () => Array.from({ length: width }, (_, u) => (u < 4 && rand() > 0.2 ? rand(0, 2) : 0))),
      keep: Array.from({ length: rows }, (_, r): number => (rows === 4 && r === 3 ? 0 : 1)),
    }))
    const acc = new EvalAccumulator(O, width)
    for (const b of batches) {
      acc.addReconstruction(b.pred, b.target, b.keep)
      const counts = Array.from({ length: width }, (_, u) => b.codes.reduce((n, row, r) => n + (b.keep[r] && row[u] !== 0 ? 1 : 0), 0))
      acc.addFiring(counts, b.keep.reduce((x, y) => x + y, 0))
    }
    // By hand over the kept rows only.
    const rows: { y: number[]; p: number[]; a: number[] }[] = []
    for (const b of batches)
      b.keep.forEach((k, r) => {
        if (k) rows.push({ y: b.target.slice(r * O, r * O + O), p: b.pred.slice(r * O, r * O + O), a: b.codes[r]! })
      })
    const n = rows.length
    const mean = Array.from({ length: O }, (_, o) => rows.reduce((s, r) => s + r.y[o]!, 0) / n)
    let res = 0
    let sq = 0
    let centred = 0
    for (const r of rows)
      for (let o = 0; o < O; o++) {
        res += (r.y[o]! - r.p[o]!) ** 2
        sq += r.y[o]! ** 2
        centred += (r.y[o]! - mean[o]!) ** 2
      }
    const meanNormSq = mean.reduce((s, m) => s + m * m, 0)
    const ev = 1 - res / n / (sq / n - meanNormSq)
    const l0 = rows.reduce((s, r) => s + r.a.filter((v) => v !== 0).length, 0) / n
    const fired = Array.from({ length: width }, (_, u) => rows.some((r) => r.a[u] !== 0))
    const m = acc.result()
    expect(m.tokens).toBe(6)
    expect(m.nmse).toBeCloseTo(res / sq, 12)
    expect(m.fvu).toBeCloseTo(res / centred, 12)
    expect(m.explainedVariance).toBeCloseTo(ev, 12)
    expect(m.explainedVariance).toBeCloseTo(1 - m.fvu, 12) // SAELens' definition is 1 − FVU with the global mean
    expect(m.l0).toBeCloseTo(l0, 12)
    expect(m.deadFraction).toBeCloseTo(fired.filter((f) => !f).length / width, 12)
    expect(m.deadFraction).toBeGreaterThanOrEqual(2 / 6) // units 4 and 5 never fire
  })

  it('guards loss recovered when zero ablation does not change the loss', () => {
    const acc = new EvalAccumulator(1, 1)
    acc.addReconstruction([1], [1], [1])
    acc.addFiring([1], 1)
    acc.addCrossEntropy('clean', 2.5, 1)
    acc.addCrossEntropy('spliced', 2.6, 1)
    acc.addCrossEntropy('zero', 2.5, 1)
    const m = acc.result()
    expect(m.lossRecovered).toBeNull()
    expect(m.notes.join(' ')).toMatch(/loss recovered is undefined/)
    expect(new EvalAccumulator(1, 1).result().lossRecovered).toBeNull() // nothing scored: null, not NaN
  })
})

describe('masks', () => {
  it('scores next-token predictions only between real tokens, and drops only a leading BOS from reconstruction', () => {
    const mask = [
      [1, 1, 1, 1],
      [0, 0, 1, 1],
    ]
    expect([...predictionWeights(mask)]).toEqual([1, 1, 1, 0, 0, 1])
    const ids = [
      [9, 5, 9, 6],
      [0, 0, 9, 7],
    ]
    expect([...reconstructionWeights(ids, mask, 9)]).toEqual([0, 1, 1, 1, 0, 0, 0, 1])
    expect([...reconstructionWeights(ids, mask, null)]).toEqual([1, 1, 1, 1, 0, 0, 1, 1])
  })
})

describe('nextTokenNll', () => {
  it('equals a plain-JS log-softmax cross-entropy', () => {
    const rand = uniform(11)
    const [B, T, V] = [2, 5, 7]
    const logits = Array.from({ length: B }, () => Array.from({ length: T }, () => Array.from({ length: V }, () => rand(-4, 4))))
    const ids = Array.from({ length: B }, () => Array.from({ length: T }, () => Math.floor(rand(0, V))))
    const mask = [
      [1, 1, 1, 1, 1],
      [0, 1, 1, 1, 1],
    ]
    const t = tf.tensor3d(logits)
    const got = nextTokenNll(t, ids, predictionWeights(mask))
    t.dispose()
    const want = referenceCe(logits, ids, mask)
    expect(got.count).toBe(want.count)
    expect(got.sum).toBeCloseTo(want.sum, 4)
  })
})

describe('evaluateLayer on the NeoX fixture', () => {
  let model: LanguageModel
  beforeAll(async () => {
    model = await loadLanguageModel(NEOX)
  })
  afterAll(() => model.dispose())

  const rand = uniform(5)
  const batches: EvalBatch[] = [0, 1].map(() => ({ ids: Array.from({ length: 3 }, () => Array.from({ length: 12 }, () => Math.floor(rand(0, 300)))) }))

  it('CE_clean and CE_zero equal plain-JS cross-entropies of the model’s own logits', async () => {
    const layer = MxDLayer.create({ dIn: 32, dOut: 32, hidden: 128, experts: 16, k: 4, seed: 1 })
    const m = await evaluateLayer({ model, layer, block: 1, batches, bosId: null })
    layer.dispose()
    let clean = { sum: 0, count: 0 }
    let zero = { sum: 0, count: 0 }
    for (const b of batches) {
      const mask = b.ids.map((r) => r.map(() => 1))
      const c = model.forward(b.ids)
      const z = model.forward(b.ids, { mlpReplacements: { 1: (x) => tf.zerosLike(x) } })
      const rc = referenceCe(c.logits!.arraySync() as number[][][], b.ids, mask)
      const rz = referenceCe(z.logits!.arraySync() as number[][][], b.ids, mask)
      clean = { sum: clean.sum + rc.sum, count: clean.count + rc.count }
      zero = { sum: zero.sum + rz.sum, count: zero.count + rz.count }
      c.logits!.dispose()
      z.logits!.dispose()
    }
    expect(m.predictions).toBe(2 * 3 * 11)
    expect(m.tokens).toBe(2 * 3 * 12)
    expect(m.ceClean).toBeCloseTo(clean.sum / clean.count, 5)
    expect(m.ceZero).toBeCloseTo(zero.sum / zero.count, 5)
    expect(m.l0).toBeLessThanOrEqual(4)
    expect(m.deadFraction).toBeGreaterThanOrEqual(0)
    expect(m.deadFraction).toBeLessThanOrEqual(1)
    // A fresh MxD outputs b_out = 0: its NMSE is 1 and splicing it is zero ablation.
    expect(m.nmse).toBeCloseTo(1, 6)
    expect(m.ceSpliced).toBeCloseTo(m.ceZero, 5)
  })

  it('splicing the dense MLP itself gives CE_spliced = CE_clean and loss recovered 1', async () => {
    const layer = denseMlpAsMxd(1)
    const m = await evaluateLayer({ model, layer, block: 1, batches, bosId: null })
    layer.dispose()
    expect(Math.abs(m.ceSpliced - m.ceClean)).toBeLessThan(1e-5)
    expect(m.lossRecovered).not.toBeNull()
    expect(m.lossRecovered!).toBeCloseTo(1, 4)
    expect(m.nmse).toBeLessThan(1e-10)
    expect(m.explainedVariance).toBeCloseTo(1, 8)
    expect(m.l0).toBe(1)
    expect(m.deadFraction).toBe(0)
  })

  it('splicing a zero layer gives CE_spliced = CE_zero and loss recovered 0', async () => {
    const layer = zeroMxd(32)
    const m = await evaluateLayer({ model, layer, block: 0, batches, bosId: null })
    layer.dispose()
    expect(Math.abs(m.ceSpliced - m.ceZero)).toBeLessThan(1e-6)
    expect(m.lossRecovered!).toBeCloseTo(0, 5)
  })

  it('ignores padding: a left-padded batch scores as the sequences alone, and is deterministic', async () => {
    const layer = MxDLayer.create({ dIn: 32, dOut: 32, hidden: 128, experts: 16, k: 4, seed: 2 })
    const a = [5, 17, 200, 3, 44, 90, 12, 7]
    const b = [61, 2, 150, 9, 33]
    const padded: EvalBatch = {
      ids: [a, [0, 0, 0, ...b]],
      attentionMask: [a.map(() => 1), [0, 0, 0, ...b.map(() => 1)]],
    }
    const separate: EvalBatch[] = [{ ids: [a] }, { ids: [b] }]
    const one = await evaluateLayer({ model, layer, block: 1, batches: [padded], bosId: null })
    const two = await evaluateLayer({ model, layer, block: 1, batches: separate, bosId: null })
    const again = await evaluateLayer({ model, layer, block: 1, batches: [padded], bosId: null })
    layer.dispose()
    expect(one.tokens).toBe(a.length + b.length)
    expect(one.predictions).toBe(a.length - 1 + b.length - 1)
    for (const key of ['ceClean', 'ceSpliced', 'ceZero', 'nmse', 'fvu', 'l0'] as const) {
      expect(one[key], key).toBeCloseTo(two[key], 5)
    }
    expect(again).toEqual(one)
  })

  it('leaves a leading BOS out of the reconstruction metrics but keeps it as context', async () => {
    const layer = zeroMxd(32)
    const ids = [[0, 5, 17, 200, 3]]
    const withBos = await evaluateLayer({ model, layer, block: 1, batches: [{ ids }], bosId: 0 })
    const without = await evaluateLayer({ model, layer, block: 1, batches: [{ ids }], bosId: null })
    layer.dispose()
    expect(withBos.tokens).toBe(4)
    expect(without.tokens).toBe(5)
    expect(withBos.predictions).toBe(4)
    expect(withBos.ceClean).toBe(without.ceClean)
  })
})
