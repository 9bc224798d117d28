// The feature index against independent computations: the counts, means and maxima of every unit
// against a brute-force recount in plain JS over the dense codes of a fresh spliced forward
// (forwardSpliced with the layer's codes hook cached: a different path from the job's, which
// reads the TopK's K selected pairs), the units-by-token sketch against its guarantee over the
// same recount, and the stored contexts' value / values against a fresh
// forward over each context's own ids.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binOf, HISTOGRAM, histogramEdges, TOKEN_SLOTS, TOP_CONTEXTS } from '../../../src/analysis/features/accumulator.js'
import { FEATURE_FILES, unitPage, unitsOnToken } from '../../../src/analysis/features/read.js'
import { codesHookName, forwardSpliced } from '../../../src/convert/splice.js'
import { initBackend } from '../../../src/engine/backend.js'
import { createSparseLayer } from '../../../src/engine/layers/kinds.js'
import type { SparseLayer } from '../../../src/engine/layers/sparse-layer.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import { SafetensorsFile } from '../../../src/engine/safetensors.js'
import type { LanguageModel } from '../../../src/engine/models/model.js'
import { DEMO, importTestLayer, openFixture, runIndex, type Fixture } from './helpers.js'

let f: Fixture
let model: LanguageModel
const BLOCK = 1
const WIDTH = 48
const K = 4
const SEQ = 32
let layer: SparseLayer
let indexRunId: number
/** The transcoder (layer, indexRunId above) and an MxD of the same width, each indexed. */
const subjects: Record<string, { layer: SparseLayer; indexRunId: number }> = {}

/** Dense codes [positions × width] of `layer` at BLOCK over `ids`, via the spliced model's codes hook. */
async function denseCodes(layer: SparseLayer, ids: number[][]): Promise<Float32Array> {
  const name = codesHookName(layer.kind, BLOCK)
  const { logits, cache } = forwardSpliced(model, ids, { splices: [{ block: BLOCK, layer }], cacheNames: [name] })
  logits?.dispose()
  const data = (await cache[name]!.data()) as Float32Array
  for (const t of Object.values(cache)) t.dispose()
  return data
}

beforeAll(async () => {
  await initBackend()
  f = await openFixture()
  model = await loadLanguageModel(DEMO)
  layer = createSparseLayer('transcoder', { dIn: 192, dOut: 192, width: WIDTH, k: K, hidden: null, glu: false }, 7)
  const layerRunId = importTestLayer(f.store, f.dir, layer, BLOCK, 'random-transcoder')
  indexRunId = await runIndex(f, layerRunId, { tokens: 1024, ctx: SEQ })
  subjects.transcoder = { layer, indexRunId }
  const mxd = createSparseLayer('mxd', { dIn: 192, dOut: 192, width: WIDTH, k: K, hidden: 256, glu: false }, 7)
  subjects.mxd = { layer: mxd, indexRunId: await runIndex(f, importTestLayer(f.store, f.dir, mxd, BLOCK, 'random-mxd'), { tokens: 1024, ctx: SEQ }) }
}, 120_000)

afterAll(() => {
  model?.dispose()
  for (const s of Object.values(subjects)) s.layer.dispose()
  f?.store.close()
})

describe('feature index', () => {
  it.each(['transcoder', 'mxd'])('counts, means and maxima equal a brute-force recount over dense codes of a fresh spliced forward (%s)', async (kind) => {
    const { layer, indexRunId } = subjects[kind]!
    const index = f.store.getFeatureIndex(indexRunId)!
    expect(index).toMatchObject({ width: WIDTH, k: K, seqLen: SEQ, tokens: 1024, block: BLOCK, kind })
    const file = readFileSync(join(f.store.runDir(indexRunId), FEATURE_FILES.dir, FEATURE_FILES.tokens))
    const tokens = new Uint32Array(file.buffer, file.byteOffset, file.byteLength / 4)
    expect(tokens.length).toBe(index.tokens)
    const count = new Array<number>(WIDTH).fill(0)
    const sum = new Array<number>(WIDTH).fill(0)
    const max = new Array<number>(WIDTH).fill(0)
    // Per token id: how often each unit fires on it.
    const onToken = new Map<number, number[]>()
    for (let s = 0; s < tokens.length / SEQ; s += 8) {
      const ids = Array.from({ length: Math.min(8, tokens.length / SEQ - s) }, (_, b) => Array.from(tokens.subarray((s + b) * SEQ, (s + b + 1) * SEQ)))
      const codes = await denseCodes(layer, ids)
      for (let p = 0; p < codes.length / WIDTH; p++) {
        for (let u = 0; u < WIDTH; u++) {
          const v = codes[p * WIDTH + u]!
          if (v > 0) {
            const id = tokens[s * SEQ + p]!
            if (!onToken.has(id)) onToken.set(id, new Array<number>(WIDTH).fill(0))
            onToken.get(id)![u]!++
            count[u]!++
            sum[u]! += v
            max[u] = Math.max(max[u]!, v)
          }
        }
      }
    }
    let live = 0
    for (let u = 0; u < WIDTH; u++) {
      const row = f.store.getFeatureUnit(indexRunId, u)!
      expect(row.count, `unit ${u}`).toBe(count[u])
      if (count[u]! > 0) {
        live++
        // No indexed token has a higher activation than the stored max (float32 rounding aside), and the max is attained.
        expect(row.max, `unit ${u}`).toBeCloseTo(max[u]!, 4)
        expect(row.mean, `unit ${u}`).toBeCloseTo(sum[u]! / count[u]!, 4)
        const page = unitPage(f.store.runDir(indexRunId), index, row)
        expect(page.histogram.reduce((a, b) => a + b, 0)).toBe(count[u])
        expect(page.stats.frequency).toBeCloseTo(count[u]! / index.tokens, 12)
        expect(page.top.length).toBe(Math.min(TOP_CONTEXTS, count[u]!))
        expect(page.top[0]!.value).toBeCloseTo(max[u]!, 4)
        // Every live unit has an effect: a transcoder latent's decoder row, an MxD expert's mean
        // contribution (checked by hand in mxd-effect.test.ts).
        expect(page.effect.top.length).toBe(10)
        if (kind === 'mxd') expect(page.effect.description).toContain('mean contribution')
        // Quantile-band samples cover every firing once at most and stay inside their band's bins.
        // Band samples lie inside their band's bins (the first and last bins are open-ended).
        for (const band of page.bands) {
          for (const c of band.contexts) {
            expect(c.value >= band.lo || binOf(c.value) === 0).toBe(true)
            expect(c.value < band.hi || binOf(c.value) === HISTOGRAM.bins - 1).toBe(true)
          }
        }
      }
    }
    expect(live).toBeGreaterThan(WIDTH / 2)
    expect(index.dead).toBe(count.filter((c) => c === 0).length)

    // Units by token: Misra–Gries with TOKEN_SLOTS counters over the n firings on a token keeps
    // every unit firing on it more than n/(slots+1) times, each count low by at most that.
    const runDir = f.store.runDir(indexRunId)
    for (const [id, perUnit] of onToken) {
      const n = perUnit.reduce((a, b) => a + b, 0)
      const bound = n / (TOKEN_SLOTS + 1)
      const got = unitsOnToken(runDir, id)
      expect(got.occurrences).toBe(tokens.filter((t) => t === id).length)
      for (const { unit, count: c } of got.units) {
        expect(c).toBeLessThanOrEqual(perUnit[unit]!)
        expect(c).toBeGreaterThanOrEqual(perUnit[unit]! - bound)
      }
      perUnit.forEach((c, unit) => {
        if (c > bound) expect(got.units.map((x) => x.unit), `token ${id} unit ${unit}`).toContain(unit)
      })
    }
  }, 120_000)

  it.each(['transcoder', 'mxd'])("reproduces each listed context's value and values with a fresh forward over its ids (%s)", async (kind) => {
    const { layer, indexRunId } = subjects[kind]!
    const index = f.store.getFeatureIndex(indexRunId)!
    const units = f.store.listFeatureUnits(indexRunId, { sort: 'count', desc: true, minCount: 1, maxCount: index.tokens, offset: 0, limit: WIDTH }).units
    // Sampled units: the most and the least frequent live ones and one in the middle.
    const sampled = [units[0]!, units[Math.floor(units.length / 2)]!, units[units.length - 1]!]
    let checked = 0
    for (const s of sampled) {
      const page = unitPage(f.store.runDir(indexRunId), index, f.store.getFeatureUnit(indexRunId, s.unit)!)
      const contexts = [...page.top.slice(0, 5), ...page.bands.flatMap((b) => b.contexts.slice(0, 1))]
      for (const c of contexts) {
        const codes = await denseCodes(layer, [c.ids])
        const fresh = c.ids.map((_, i) => codes[i * WIDTH + s.unit]!)
        expect(c.values.length).toBe(c.ids.length)
        for (let i = 0; i < fresh.length; i++) expect(c.values[i], `unit ${s.unit} index ${i}`).toBeCloseTo(fresh[i]!, 4)
        expect(c.value).toBeCloseTo(fresh[c.position]!, 4)
        expect(c.value).toBeGreaterThan(0)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(5)
  }, 120_000)

  it('writes nothing when cancelled mid-pass; resumed, it starts over and gives the same index', async () => {
    const layerRunId = f.store.getFeatureIndex(indexRunId)!.layerRunId
    let asked = 0
    // Cancelled at the third check: after the streaming pass has read some batches.
    const cancelledRun = await runIndex(f, layerRunId, { tokens: 1024, ctx: SEQ, cancelled: () => ++asked >= 3 })
    expect(asked).toBeGreaterThanOrEqual(3)
    expect(f.store.getFeatureIndex(cancelledRun)).toBeUndefined()
    expect(f.store.getFeatureUnit(cancelledRun, 0)).toBeUndefined()
    expect(existsSync(join(f.store.runDir(cancelledRun), FEATURE_FILES.dir, FEATURE_FILES.tokens))).toBe(false)
    // The newest finished index of the layer is still the first one.
    expect(f.store.latestFeatureIndex(layerRunId)!.runId).toBe(indexRunId)
    // Resumed (the same run again, no checkpoint): a full index, unit for unit the first one.
    await runIndex(f, layerRunId, { tokens: 1024, ctx: SEQ, runId: cancelledRun })
    expect(f.store.getFeatureIndex(cancelledRun)).toEqual({ ...f.store.getFeatureIndex(indexRunId)!, runId: cancelledRun })
    for (let u = 0; u < WIDTH; u++) expect(f.store.getFeatureUnit(cancelledRun, u)).toEqual(f.store.getFeatureUnit(indexRunId, u))
    expect(f.store.latestFeatureIndex(layerRunId)!.runId).toBe(cancelledRun)
  }, 120_000)

  it("gives each latent's output effect: W_U·(γ ∗ LayerNorm-normalised W_dec[n]), recomputed in plain JS from the model file", async () => {
    const index = f.store.getFeatureIndex(indexRunId)!
    const file = SafetensorsFile.open(join(DEMO, 'model.safetensors'))
    const gamma = file.readFloat32('transformer.ln_f.weight')
    const wte = file.readFloat32('transformer.wte.weight')
    file.close()
    const d = 192
    const vocab = wte.length / d
    const W = (await layer.params.W_dec!.data()) as Float32Array
    for (const unit of [0, 17, WIDTH - 1]) {
      const v = Array.from(W.subarray(unit * d, (unit + 1) * d))
      const mean = v.reduce((a, b) => a + b, 0) / d
      const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / d
      const h = v.map((x, i) => ((x - mean) / Math.sqrt(variance + 1e-5)) * gamma[i]!)
      const logits = Array.from({ length: vocab }, (_, t) => h.reduce((a, x, i) => a + x * wte[t * d + i]!, 0))
      const ranked = logits.map((value, id) => ({ id, value })).sort((a, b) => b.value - a.value)
      const page = unitPage(f.store.runDir(indexRunId), index, f.store.getFeatureUnit(indexRunId, unit)!)
      expect(page.effect.description).toContain('W_dec[n]')
      expect(page.effect.top.map((t) => t.id)).toEqual(ranked.slice(0, 10).map((t) => t.id))
      expect(page.effect.bottom.map((t) => t.id)).toEqual(ranked.slice(-10).reverse().map((t) => t.id))
      page.effect.top.forEach((t, i) => expect(t.value).toBeCloseTo(ranked[i]!.value, 3))
      expect(page.effect.top[0]!.text).not.toBeNull()
    }
  })

  it('documents fixed histogram edges', () => {
    const edges = histogramEdges()
    expect(edges).toHaveLength(HISTOGRAM.bins + 1)
    expect(edges[0]).toBeCloseTo(1e-4, 12)
    expect(edges[HISTOGRAM.bins]).toBeCloseTo(100, 9)
  })
})
