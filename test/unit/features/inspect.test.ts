// features.search and features.ablate through the back end's dispatch and the real engine worker,
// on the demo model with imported layers and a real index, against independent computations:
//   - search: the units per token against the dense codes of a fresh spliced forward (the codes
//     hook, cached: not the TopK selection the search reads), frequencies against features.list;
//   - ablate: the ablated log-prob against a forward where this test subtracts the unit's
//     contribution a_n·W_dec[n] (a float64 loop) from hook_mlp_out at the ranked position, with a
//     float64 log-softmax; and a planted unit that forces a wrong token, whose ablation must help.
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { importLayer } from '../../../src/convert/export.js'
import { modelFingerprint, saveLayerFolder } from '../../../src/convert/layer-file.js'
import { codesHookName, forwardSpliced } from '../../../src/convert/splice.js'
import { registerDataset } from '../../../src/data/registry.js'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { hookNames } from '../../../src/engine/hooks.js'
import { createSparseLayer, sparseLayerFromTensors } from '../../../src/engine/layers/kinds.js'
import type { SparseLayer } from '../../../src/engine/layers/sparse-layer.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import type { LanguageModel } from '../../../src/engine/models/model.js'
import { SafetensorsFile } from '../../../src/engine/safetensors.js'
import { TextTokenizer } from '../../../src/engine/tokenizer.js'
import { DEMO, importTestLayer, runIndex, writeCorpus } from './helpers.js'

const D = 192
const BLOCK = 1
const WIDTH = 48
const K = 4
let backend: Backend
let model: LanguageModel
let dir: string
let layer: SparseLayer
let layerRunId: number
let indexRunId: number
/** An MxD layer run with no index. */
let bareRunId: number
let datasetId: number

beforeAll(async () => {
  await initBackend()
  dir = mkdtempSync(join(tmpdir(), 'mxd-features-inspect-'))
  backend = await Backend.create({ storeDir: join(dir, 'store'), bundledModelsDir: join(tmpdir(), 'none') })
  const store = backend.ctx.store
  datasetId = (await registerDataset(store.db, writeCorpus(dir), { heldOutFraction: 0.5 })).id
  model = await loadLanguageModel(DEMO)
  layer = createSparseLayer('transcoder', { dIn: D, dOut: D, width: WIDTH, k: K, hidden: null, glu: false }, 11)
  layerRunId = importTestLayer(store, dir, layer, BLOCK, 'transcoder')
  indexRunId = await runIndex({ store, dir, datasetId }, layerRunId, { tokens: 512, ctx: 32 })
  const mxd = createSparseLayer('mxd', { dIn: D, dOut: D, width: WIDTH, k: K, hidden: 256, glu: false }, 11)
  bareRunId = importTestLayer(store, dir, mxd, BLOCK, 'mxd')
  mxd.dispose()
}, 180_000)

afterAll(async () => {
  await backend?.close()
  model?.dispose()
  layer?.dispose()
})

/** Dense codes [positions × width] of `l` at `block` over `ids`, through the spliced model's codes hook. */
async function denseCodes(l: SparseLayer, block: number, ids: number[]): Promise<Float32Array> {
  const name = codesHookName(l.kind, block)
  const { logits, cache } = forwardSpliced(model, [ids], { splices: [{ block, layer: l }], cacheNames: [name] })
  logits?.dispose()
  const data = (await cache[name]!.data()) as Float32Array
  for (const t of Object.values(cache)) t.dispose()
  return data
}

/** log p(next) at `position` in float64, from a forward with `l` spliced and optional hooks. */
async function logProb(l: SparseLayer, block: number, ids: number[], position: number, hooks: Record<string, (t: tf.Tensor) => tf.Tensor> = {}): Promise<number> {
  const { logits, cache } = forwardSpliced(model, [ids], { splices: [{ block, layer: l }], hooks })
  for (const t of Object.values(cache)) t.dispose()
  const all = (await logits!.data()) as Float32Array
  logits!.dispose()
  const V = model.vocabSize
  const row = Array.from(all.subarray(position * V, (position + 1) * V))
  const max = Math.max(...row)
  const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0))
  return row[ids[position + 1]!]! - lse
}

describe('features.search', () => {
  it('gives the units active at each token, as the dense codes of a fresh spliced forward do, with the index frequencies', async () => {
    const text = 'And the LORD said unto Moses, the people of the land'
    const r = await backend.call('features.search', { runId: layerRunId, text })
    expect(r.layerRunId).toBe(layerRunId)
    expect(r.indexRunId).toBe(indexRunId)
    expect(r.truncated).toBe(false)
    const ids = r.tokens.map((t) => t.id)
    const tokenizer = TextTokenizer.fromFolder(DEMO)!
    // BOS first where the tokenizer has one, then the text's own tokens.
    const bos = tokenizer.bosId !== null ? [tokenizer.bosId] : []
    expect(ids.slice(0, bos.length)).toEqual(bos)
    expect(tokenizer.decode(ids.slice(bos.length))).toBe(text)
    const codes = await denseCodes(layer, BLOCK, ids)
    const list = await backend.call('features.list', { runId: indexRunId, limit: 1000 })
    const freq = new Map(list.units.map((u) => [u.unit, u.frequency]))
    r.tokens.forEach((t, i) => {
      const expected = Array.from(codes.subarray(i * WIDTH, (i + 1) * WIDTH))
        .map((value, unit) => ({ unit, value }))
        .filter((u) => u.value > 0)
        .sort((a, b) => b.value - a.value)
      expect(t.units.map((u) => u.unit), `token ${i}`).toEqual(expected.map((u) => u.unit))
      t.units.forEach((u, j) => expect(u.value).toBeCloseTo(expected[j]!.value, 4))
      // A unit that never fired in the index has no row among the live units: frequency 0 there.
      for (const u of t.units) expect(u.frequency).toBeCloseTo(freq.get(u.unit) ?? 0, 12)
      expect(t.text).toBe(tokenizer.decode([t.id]))
    })
    // The same ids given as ids, and the index named by its own run: the same answer.
    expect(await backend.call('features.search', { runId: indexRunId, ids })).toEqual(r)
  }, 120_000)

  it('reads a layer with no index (frequencies null) and cuts a text longer than the context', async () => {
    const long = 'the people of the land '.repeat(100)
    const r = await backend.call('features.search', { runId: bareRunId, text: long })
    expect(r.indexRunId).toBeNull()
    expect(r.truncated).toBe(true)
    expect(r.tokens.length).toBe(model.dims.maxPositions)
    expect(r.tokens.every((t) => t.units.every((u) => u.frequency === null))).toBe(true)
    expect(r.tokens.some((t) => t.units.length > 0)).toBe(true)
  }, 120_000)

  it('refuses ids outside the vocabulary, a run with no layer and a model folder that is gone, saying what to do', async () => {
    await expect(backend.call('features.search', { runId: layerRunId, ids: [1, model.vocabSize] })).rejects.toThrow(`Token id ${model.vocabSize} is outside the vocabulary`)
    await expect(backend.call('features.search', { runId: 999, text: 'x' })).rejects.toThrow('There is no run 999')
    await expect(backend.call('features.search', { runId: layerRunId })).rejects.toThrow('exactly one of text or ids')
    // A layer run whose layer file is gone.
    const lost = importTestLayer(backend.ctx.store, dir, layer, BLOCK, 'lost')
    rmSync(join(backend.ctx.store.runDir(lost), 'layer', 'cfg.json'))
    await expect(backend.call('features.search', { runId: lost, text: 'the' })).rejects.toThrow(new RegExp(`Run ${lost} .*has no trained layer yet`))
    // A layer trained on a copy of the demo model, the copy then deleted.
    const copy = join(dir, 'model-copy')
    cpSync(DEMO, copy, { recursive: true })
    const gone = createSparseLayer('transcoder', { dIn: D, dOut: D, width: 8, k: 2, hidden: null, glu: false }, 3)
    const folder = join(dir, 'gone-layer')
    saveLayerFolder(folder, gone, { hook_name: hookNames.ln2(0), hook_name_out: hookNames.mlpOut(0), layer: 0, model_name: 'copy', model_hash: modelFingerprint(copy), training: { model: copy } })
    gone.dispose()
    const goneRun = importLayer(backend.ctx.store, folder).run.id
    rmSync(copy, { recursive: true })
    await expect(backend.call('features.search', { runId: goneRun, text: 'the' })).rejects.toThrow(new RegExp(`run ${goneRun}'s layer was trained on .*model-copy.* Put that model folder back`))
  }, 120_000)
})

describe('features.ablate', () => {
  it("equals a forward with the unit's contribution a_n·W_dec[n] taken out of hook_mlp_out at the ranked position", async () => {
    const list = await backend.call('features.list', { runId: layerRunId, limit: 1 })
    const unit = list.units[0]!.unit
    const page = await backend.call('features.get', { runId: layerRunId, unit })
    const r = await backend.call('features.ablate', { runId: layerRunId, unit })
    const withNext = page.top.map((c, rank) => ({ c, rank })).filter(({ c }) => c.position + 1 < c.ids.length)
    expect(r.contexts.map((c) => c.rank)).toEqual(withNext.map((x) => x.rank))
    expect(r.contexts.length).toBeGreaterThan(0)
    const W = (await layer.params.W_dec!.data()) as Float32Array
    for (const got of r.contexts) {
      const c = page.top[got.rank]!
      expect(got.nextId).toBe(c.ids[c.position + 1])
      // a_n·W_dec[n] in float64: what zeroing a_n removes from the (linear) decoder's output.
      const contribution = Array.from({ length: D }, (_, i) => c.value * W[unit * D + i]!)
      const mask = new Float32Array(c.ids.length * D)
      contribution.forEach((v, i) => (mask[c.position * D + i] = v))
      const subtract = (t: tf.Tensor): tf.Tensor => tf.sub(t, tf.tensor3d(mask, [1, c.ids.length, D]))
      const clean = await logProb(layer, BLOCK, c.ids, c.position)
      const ablated = await logProb(layer, BLOCK, c.ids, c.position, { [hookNames.mlpOut(BLOCK)]: subtract })
      expect(got.logProb).toBeCloseTo(clean, 4)
      expect(got.ablatedLogProb).toBeCloseTo(ablated, 4)
      expect(got.delta).toBeCloseTo(ablated - clean, 4)
    }
    // The unit moves the prediction by far more than the tolerance: the check can tell.
    expect(Math.max(...r.contexts.map((c) => Math.abs(c.delta)))).toBeGreaterThan(0.01)
    const mean = r.contexts.reduce((a, c) => a + c.delta, 0) / r.contexts.length
    expect(r.meanDelta).toBeCloseTo(mean, 9)
    expect(r.description).toContain('log-probability')
  }, 180_000)

  it('helps the next token when the planted unit pushes every position towards a token the text never has', async () => {
    // Unit 0 fires at every token with 60 (W_enc = 0, b_enc[0] = 60, K = 1) and writes the
    // direction of token X's embedding (the demo model ties its unembedding to it): the spliced
    // model then predicts X everywhere, so zeroing the unit at a position must raise log p of the
    // real next token there.
    const file = SafetensorsFile.open(join(DEMO, 'model.safetensors'))
    const wte = file.readFloat32('transformer.wte.weight')
    file.close()
    const tokenizer = TextTokenizer.fromFolder(DEMO)!
    const X = tokenizer.encode(' Zerubbabel', { addSpecialTokens: false })[0]!
    const row = Array.from(wte.subarray(X * D, (X + 1) * D))
    const norm = Math.sqrt(row.reduce((a, x) => a + x * x, 0))
    const width = 4
    const W_dec = new Float32Array(width * D)
    row.forEach((x, i) => (W_dec[i] = x / norm))
    for (let u = 1; u < width; u++) W_dec[u * D + u] = 1
    const planted = sparseLayerFromTensors(
      'transcoder',
      { dIn: D, dOut: D, width, k: 1, hidden: null, glu: false },
      {
        W_enc: { shape: [D, width], data: new Float32Array(D * width) },
        b_enc: { shape: [width], data: Float32Array.from([60, 0, 0, 0]) },
        W_dec: { shape: [width, D], data: W_dec },
        b_dec: { shape: [D], data: new Float32Array(D) },
      },
    )
    const runId = importTestLayer(backend.ctx.store, dir, planted, 3, 'planted')
    planted.dispose()
    await runIndex({ store: backend.ctx.store, dir, datasetId }, runId, { tokens: 256, ctx: 32 })
    const r = await backend.call('features.ablate', { runId, unit: 0 })
    expect(r.contexts.length).toBeGreaterThan(0)
    for (const c of r.contexts) {
      expect(c.nextId).not.toBe(X)
      expect(c.delta).toBeGreaterThan(1)
    }
    expect(r.meanDelta!).toBeGreaterThan(1)
  }, 180_000)
})
