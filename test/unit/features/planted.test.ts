// Planted units: a transcoder whose units 5 and 11 respond to one token each. Their encoder
// columns are built here, in plain JS, from the demo model's block-1 MLP inputs on the held-out
// text: the direction separating that token's positions from all others (mean difference) with
// the threshold halfway across the gap, so the unit fires at exactly that token's positions. The
// layer is written as a real layer folder (safetensors + cfg.json) and imported through the
// import path. The index must then show that token in every top context, a firing count equal to
// the token's count in the split, and the histogram of the activations computed here by hand.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { histogramEdges, TOKEN_SLOTS } from '../../../src/analysis/features/accumulator.js'
import { readTokens, unitPage, unitsOnToken } from '../../../src/analysis/features/read.js'
import { packSequences } from '../../../src/data/pack.js'
import { readDocuments } from '../../../src/data/read.js'
import { datasetOptions, getDataset } from '../../../src/data/registry.js'
import { initBackend } from '../../../src/engine/backend.js'
import { hookNames } from '../../../src/engine/hooks.js'
import { createSparseLayer, sparseLayerFromTensors } from '../../../src/engine/layers/kinds.js'
import type { LayerTensors } from '../../../src/engine/layers/sparse-layer.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import { TextTokenizer } from '../../../src/engine/tokenizer.js'
import { DEMO, importTestLayer, openFixture, runIndex, type Fixture } from './helpers.js'

const BLOCK = 1
const SEQ = 32
const SEQUENCES = 24
const WIDTH = 16
const D = 192
const PLANTED = [5, 11]

let f: Fixture
let indexRunId: number
/** Per planted unit: its token and the activation at each held-out position (0 elsewhere). */
const planted: { unit: number; token: number; acts: number[] }[] = []

beforeAll(async () => {
  await initBackend()
  f = await openFixture()
  const model = await loadLanguageModel(DEMO)
  const tokenizer = TextTokenizer.fromFolder(DEMO)!
  const ds = getDataset(f.store.db, f.datasetId)!
  const opts = datasetOptions(ds)
  const ids: number[][] = []
  for await (const s of packSequences(readDocuments(ds.path, opts), tokenizer, { ...opts, split: 'heldout', ctx: SEQ, addBos: true, bosId: tokenizer.bosId })) {
    ids.push(Array.from(s))
    if (ids.length === SEQUENCES) break
  }
  expect(ids.length).toBe(SEQUENCES)
  const { cache } = model.forward(ids, { cacheNames: [hookNames.ln2(BLOCK)], stopAfterLayer: BLOCK })
  const x = Array.from((await cache[hookNames.ln2(BLOCK)]!.data()) as Float32Array)
  for (const t of Object.values(cache)) t.dispose()
  model.dispose()
  const flat = ids.flat()
  const row = (p: number): number[] => x.slice(p * D, (p + 1) * D)
  const dot = (a: number[], b: number[]): number => a.reduce((s, v, i) => s + v * b[i]!, 0)

  // Candidate tokens, most frequent first (ties by id); the first two that a mean-difference direction separates.
  const counts = new Map<number, number>()
  for (const id of flat) counts.set(id, (counts.get(id) ?? 0) + 1)
  const candidates = [...counts.entries()].filter(([id, n]) => n >= 4 && id !== tokenizer.bosId).sort((a, b) => b[1] - a[1] || a[0] - b[0])
  const columns: { w: number[]; b: number }[] = []
  for (const [token] of candidates) {
    if (columns.length === PLANTED.length) break
    const mean = (want: boolean): number[] => {
      const m = new Array<number>(D).fill(0)
      let n = 0
      flat.forEach((id, p) => {
        if ((id === token) !== want) return
        row(p).forEach((v, i) => (m[i]! += v))
        n++
      })
      return m.map((v) => v / n)
    }
    const on = mean(true)
    const off = mean(false)
    const dir = on.map((v, i) => v - off[i]!)
    const scores = flat.map((_, p) => dot(row(p), dir))
    const minOn = Math.min(...scores.filter((_, p) => flat[p] === token))
    const maxOff = Math.max(...scores.filter((_, p) => flat[p] !== token))
    if (!(minOn > maxOff)) continue
    // Scaled so the weakest firing is 0.5 above zero and the strongest non-firing 0.5 below.
    const scale = 1 / (minOn - maxOff)
    const b = -((minOn + maxOff) / 2) * scale
    const w = dir.map((v) => v * scale)
    const unit = PLANTED[columns.length]!
    columns.push({ w, b })
    planted.push({ unit, token, acts: flat.map((_, p) => Math.max(0, dot(row(p), w) + b)) })
  }
  expect(planted.length).toBe(PLANTED.length)

  // The other units: a seeded random transcoder's encoder shrunk 1000-fold, so they stay far
  // below the planted units (which then always make the TopK where they fire).
  const base = createSparseLayer('transcoder', { dIn: D, dOut: D, width: WIDTH, k: 4, hidden: null, glu: false }, 3)
  const tensors: LayerTensors = {}
  for (const [name, t] of Object.entries(base.toTensors())) tensors[name] = { shape: t.shape, data: Float32Array.from(t.data as Float32Array) }
  base.dispose()
  const W = tensors.W_enc!.data
  for (let i = 0; i < W.length; i++) W[i]! *= 1e-3
  planted.forEach(({ unit }, j) => {
    for (let i = 0; i < D; i++) W[i * WIDTH + unit] = columns[j]!.w[i]!
    tensors.b_enc!.data[unit] = columns[j]!.b
  })
  const layer = sparseLayerFromTensors('transcoder', { dIn: D, dOut: D, width: WIDTH, k: 4, hidden: null, glu: false }, tensors)
  const layerRunId = importTestLayer(f.store, f.dir, layer, BLOCK, 'planted-transcoder')
  layer.dispose()
  indexRunId = await runIndex(f, layerRunId, { tokens: SEQUENCES * SEQ, ctx: SEQ })
}, 120_000)

afterAll(() => f?.store.close())

describe('planted units', () => {
  it('show their token as every top context, fire exactly as often as the token occurs, with the histogram of their activations', () => {
    const index = f.store.getFeatureIndex(indexRunId)!
    const runDir = f.store.runDir(indexRunId)
    const tokens = readTokens(runDir, 0, index.tokens)
    const edges = histogramEdges()
    for (const { unit, token, acts } of planted) {
      const occurrences = tokens.filter((id) => id === token).length
      const page = unitPage(runDir, index, f.store.getFeatureUnit(indexRunId, unit)!)
      expect(page.stats.count, `unit ${unit}`).toBe(occurrences)
      expect(page.stats.frequency).toBeCloseTo(occurrences / index.tokens, 12)
      expect(page.top.length).toBe(Math.min(20, occurrences))
      for (const c of page.top) expect(c.ids[c.position], `unit ${unit}`).toBe(token)
      for (const c of page.bands.flatMap((b) => b.contexts)) expect(c.ids[c.position]).toBe(token)
      expect(page.stats.maxActivation).toBeCloseTo(Math.max(...acts), 3)
      // The histogram binned here from the hand-computed activations, by the documented edges.
      const expected = new Array<number>(edges.length - 1).fill(0)
      for (const a of acts) {
        if (a <= 0) continue
        let bin = 0
        while (bin < expected.length - 1 && a >= edges[bin + 1]!) bin++
        expected[bin]!++
      }
      expect(page.histogram).toEqual(expected)
      // And by token: the planted unit is the one firing most on its token, on every occurrence
      // (no other unit fires there more often than it does, so Misra–Gries may only undercount it
      // by the n/(slots+1) bound, n ≤ K firings per occurrence).
      const onToken = unitsOnToken(runDir, token)
      expect(onToken.occurrences).toBe(occurrences)
      expect(onToken.units[0]!.unit).toBe(unit)
      expect(onToken.units[0]!.count).toBeLessThanOrEqual(occurrences)
      expect(onToken.units[0]!.count).toBeGreaterThanOrEqual(occurrences - (4 * occurrences) / (TOKEN_SLOTS + 1))
    }
  })
})
