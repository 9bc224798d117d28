// A planted, perfectly separating unit: a transcoder whose unit 7 fires exactly at the positions
// of one token id that occurs only in class-A texts (its encoder column is built here in plain JS
// from the demo model's block-1 MLP inputs on these very texts, as the feature index's planted
// test does), and whose other units are a random encoder shrunk 1000-fold. Probing the task
// through the real job must choose unit 7 for class A with test F1 1 and balanced accuracy 1.
// The same construction checks the pooling on the real engine: unit 7's pooled code on a text is
// the sum of its hand-computed activations divided by the number of content positions (BOS and
// the padding of a batch of unequal texts excluded).
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pooledCodes, sequenceOf } from '../../../src/analysis/probe/pool.js'
import { Rng } from '../../../src/data/shuffle.js'
import { initBackend } from '../../../src/engine/backend.js'
import { hookNames } from '../../../src/engine/hooks.js'
import { createSparseLayer, sparseLayerFromTensors } from '../../../src/engine/layers/kinds.js'
import type { LayerTensors, SparseLayer } from '../../../src/engine/layers/sparse-layer.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import type { LanguageModel } from '../../../src/engine/models/model.js'
import { TextTokenizer } from '../../../src/engine/tokenizer.js'
import { Store } from '../../../src/store/store.js'
import { DEMO, importTestLayer } from '../features/helpers.js'
import { runProbe } from './helpers.js'

const BLOCK = 1
const WIDTH = 16
const D = 192
const PLANTED = 7
const WORDS = 'the of and to in is was that for on with as by at from his her they this which be or are an'.split(' ')
/** Candidate marker words (one token each after a space); the first one a direction separates is used. */
const MARKERS = [' LORD', ' king', ' house', ' water', ' God']

let dir: string
let store: Store
let model: LanguageModel
let layer: SparseLayer
let tokenizer: TextTokenizer
let layerRunId: number
const texts: { text: string; label: string }[] = []
let marker = -1
/** Unit 7's activation at each position of each text (BOS first), computed here. */
const acts: number[][] = []

beforeAll(async () => {
  await initBackend()
  dir = mkdtempSync(join(tmpdir(), 'mxd-probe-'))
  store = new Store({ dir: join(dir, 'store') })
  model = await loadLanguageModel(DEMO)
  tokenizer = TextTokenizer.fromFolder(DEMO)!
  const rng = new Rng(3)
  const sentence = (): string[] => Array.from({ length: 6 + rng.below(14) }, () => ' ' + WORDS[rng.below(WORDS.length)])
  const base = Array.from({ length: 60 }, sentence)
  for (const m of MARKERS) {
    const [id] = tokenizer.encode(m, { addSpecialTokens: false })
    // Texts 0…29 are class A and hold the marker once or twice; 30…59 are class B and never do.
    const withMarker = base.map((words, t) => {
      if (t >= 30) return words.join('')
      const w = words.slice()
      for (let r = 0; r < 1 + (t % 2); r++) w.splice(1 + rng.below(w.length - 1), 0, m)
      return w.join('')
    })
    const ids = withMarker.map((t) => sequenceOf(tokenizer.encode(t, { addSpecialTokens: false }), tokenizer.bosId, model.dims.maxPositions).ids)
    const rows: number[][][] = []
    for (const seq of ids) {
      const { cache } = model.forward([seq], { cacheNames: [hookNames.ln2(BLOCK)], stopAfterLayer: BLOCK })
      const x = Array.from((await cache[hookNames.ln2(BLOCK)]!.data()) as Float32Array)
      for (const t of Object.values(cache)) t.dispose()
      rows.push(seq.map((_, p) => x.slice(p * D, (p + 1) * D)))
    }
    const on = rows.flatMap((r, t) => r.filter((_, p) => ids[t]![p] === id))
    const off = rows.flatMap((r, t) => r.filter((_, p) => ids[t]![p] !== id))
    const mean = (xs: number[][]): number[] => xs.reduce((s, v) => s.map((a, i) => a + v[i]!), new Array<number>(D).fill(0)).map((v) => v / xs.length)
    const dirn = mean(on).map((v, i) => v - mean(off)[i]!)
    const dot = (a: number[], b: number[]): number => a.reduce((s, v, i) => s + v * b[i]!, 0)
    const minOn = Math.min(...on.map((r) => dot(r, dirn)))
    const maxOff = Math.max(...off.map((r) => dot(r, dirn)))
    if (!(minOn > maxOff)) continue
    marker = id!
    const scale = 1 / (minOn - maxOff)
    const w = dirn.map((v) => v * scale)
    const b = -((minOn + maxOff) / 2) * scale
    withMarker.forEach((text, t) => texts.push({ text, label: t < 30 ? 'A' : 'B' }))
    rows.forEach((r) => acts.push(r.map((x) => Math.max(0, dot(x, w) + b))))
    const random = createSparseLayer('transcoder', { dIn: D, dOut: D, width: WIDTH, k: 4, hidden: null, glu: false }, 5)
    const tensors: LayerTensors = {}
    for (const [name, t] of Object.entries(random.toTensors())) tensors[name] = { shape: t.shape, data: Float32Array.from(t.data as Float32Array) }
    random.dispose()
    const W = tensors.W_enc!.data
    for (let i = 0; i < W.length; i++) W[i]! *= 1e-3
    for (let i = 0; i < D; i++) W[i * WIDTH + PLANTED] = w[i]!
    tensors.b_enc!.data[PLANTED] = b
    layer = sparseLayerFromTensors('transcoder', { dIn: D, dOut: D, width: WIDTH, k: 4, hidden: null, glu: false }, tensors)
    layerRunId = importTestLayer(store, dir, layer, BLOCK, 'planted-probe')
    break
  }
  expect(marker, 'no marker word could be separated').toBeGreaterThanOrEqual(0)
}, 120_000)

afterAll(() => {
  layer?.dispose()
  model?.dispose()
  store?.close()
})

describe('a planted separating unit', () => {
  it('fires exactly at the marker, which only class-A texts hold', () => {
    texts.forEach((t, i) => {
      const ids = sequenceOf(tokenizer.encode(t.text, { addSpecialTokens: false }), tokenizer.bosId, model.dims.maxPositions).ids
      ids.forEach((id, p) => expect(acts[i]![p]! > 0).toBe(id === marker))
      expect(ids.includes(marker)).toBe(t.label === 'A')
    })
  })

  it('pools its code over content positions only: BOS and padding excluded', async () => {
    const seqs = texts.map((t) => sequenceOf(tokenizer.encode(t.text, { addSpecialTokens: false }), tokenizer.bosId, model.dims.maxPositions))
    // Batches of 7 unequal texts: most are padded.
    const codes = (await pooledCodes(model, layer, BLOCK, seqs, { batch: 7, padId: 0 }))!
    codes.forEach((c, i) => {
      const content = seqs[i]!.ids.length - 1
      const expected = acts[i]!.slice(1).reduce((s, v) => s + v, 0) / content
      const j = c.units.indexOf(PLANTED)
      if (expected === 0) expect(j).toBe(-1)
      else expect(c.values[j]!).toBeCloseTo(expected, 4)
    })
  })

  it('is the unit the probe chooses for class A, with test F1 1 and balanced accuracy 1', async () => {
    const file = join(dir, 'task.jsonl')
    writeFileSync(file, texts.map((t) => JSON.stringify({ sentence: t.text, topic: t.label })).join('\n'))
    const result = await runProbe(store, { layerRunId, data: file, textField: 'sentence', labelField: 'topic', seed: 1 })
    const a = result.classes.find((c) => c.label === 'A')!
    expect(a.unit).toBe(PLANTED)
    expect(a.test.f1).toBe(1)
    expect(a.test.balancedAccuracy).toBe(1)
    expect(a.validation.f1).toBe(1)
    expect(a.positives).toEqual({ train: 18, validation: 6, test: 6 })
    expect(result.split).toEqual({ seed: 1, train: 36, validation: 12, test: 12 })
    expect(result.layer).toMatchObject({ runId: layerRunId, kind: 'transcoder', block: BLOCK, k: 4, width: WIDTH })
  })
})
