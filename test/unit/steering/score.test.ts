// The steering score on a planted transcoder: unit U's decoder row points along the demo model's
// unembedding of one token T (GPT-2 ties it to the embedding, wte[T]), at the last block, so
// steering U must make T more frequent in the generated text. The job runs through the back end
// (steering.score → queue → worker) with the real engine; the test generates the unsteered
// baseline itself with the same seeds and checks the job's counts against it, the perplexity
// against a float64 computation here, and that with the same seed a zero steer changes nothing.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { loadLayerFolder } from '../../../src/convert/layer-file.js'
import { runLayerDir } from '../../../src/convert/export.js'
import { splicedMlps } from '../../../src/convert/splice.js'
import { registerDataset } from '../../../src/data/registry.js'
import { initBackend } from '../../../src/engine/backend.js'
import { generate } from '../../../src/engine/generate.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import type { LanguageModel } from '../../../src/engine/models/model.js'
import { TextTokenizer } from '../../../src/engine/tokenizer.js'
import type { SteeringSettings, SteerScoreResult } from '../../../src/shared/steering.js'
import { waitFor } from '../../helpers/wait.js'
import { createSparseLayer, sparseLayerFromTensors } from '../../../src/engine/layers/kinds.js'
import type { LayerTensors } from '../../../src/engine/layers/sparse-layer.js'
import { DEMO, importTestLayer, runIndex, writeCorpus } from '../features/helpers.js'
import { plantTokenUnit } from './planted.js'

const WIDTH = 16
const BLOCK = 3
const U = 6
const OTHER = 9
const settings: SteeringSettings = {
  prompt: 'And the',
  steer: [],
  value: 100,
  maxTokens: 16,
  samples: 4,
  temperature: 1,
  topP: 0.9,
  frequencyPenalty: 0,
  seed: 11,
}

let backend: Backend
let layerRunId: number
let token: number
let model: LanguageModel
let tokenizer: TextTokenizer
let result: SteerScoreResult
let dir: string
let datasetId: number

beforeAll(async () => {
  await initBackend()
  dir = mkdtempSync(join(tmpdir(), 'mxd-steer-score-'))
  backend = await Backend.create({ storeDir: join(dir, 'store'), bundledModelsDir: join(tmpdir(), 'none') })
  const store = backend.ctx.store
  const ds = await registerDataset(store.db, writeCorpus(dir), { heldOutFraction: 0.5 })
  tokenizer = TextTokenizer.fromFolder(DEMO)!
  ;({ layerRunId, token } = plantTokenUnit(store, dir, { unit: U, width: WIDTH, block: BLOCK, token: ' LORD' }))
  datasetId = ds.id
  await runIndex({ store, dir, datasetId }, layerRunId, { tokens: 256, ctx: 32 })

  // The job's own preset, saved and named by id, so the test's sampling is the job's.
  const preset = await backend.call('steering.savePreset', { name: 'test', settings })
  const { runId } = await backend.call('steering.score', { layerRunId, units: [U, OTHER], presetId: preset.id })
  const run = await waitFor(
    `steer-score run ${runId}`,
    () => {
      const r = store.getRun(runId)!
      return ['succeeded', 'failed', 'cancelled'].includes(r.status) ? r : undefined
    },
    { timeoutMs: 300_000 },
  )
  expect(run.error).toBeNull()
  result = await backend.call('steering.getScore', { runId })
  model = await loadLanguageModel(DEMO)
}, 400_000)

afterAll(async () => {
  model?.dispose()
  await backend?.close()
})

/** Generates the S samples of `settings` with the layer spliced and `steer` applied. */
async function samples(steer: { unit: number; value: number }[]): Promise<number[][]> {
  const { layer, cfg } = loadLayerFolder(runLayerDir(backend.ctx.store, layerRunId))
  try {
    const mlps = splicedMlps(model, { block: cfg.layer, layer }, steer)
    const out: number[][] = []
    for (let i = 0; i < settings.samples; i++) {
      const r = await generate(model, tokenizer.encode(settings.prompt), {
        maxNewTokens: settings.maxTokens,
        temperature: settings.temperature,
        topP: settings.topP,
        frequencyPenalty: settings.frequencyPenalty,
        seed: settings.seed + i,
        forward: { mlpReplacements: mlps },
      })
      out.push(r.ids)
    }
    return out
  } finally {
    layer.dispose()
  }
}

const count = (seqs: number[][], ids: Set<number>): number => seqs.flat().filter((id) => ids.has(id)).length

describe('steer-score on a planted transcoder', () => {
  it('finds the planted token among the unit’s top output tokens', () => {
    const u = result.units.find((x) => x.unit === U)!
    expect(u.topTokens.map((t) => t.id)).toContain(token)
    expect(u.topTokens).toHaveLength(10)
  })

  it('raises the planted token’s rate over the unsteered baseline generated here with the same seeds', async () => {
    const baseline = await samples([])
    const steered = await samples([{ unit: U, value: settings.value }])
    // The job's baseline is exactly this one (same seeds, same sampling, same splice).
    expect(result.baseline.samples.map((s) => s.ids)).toEqual(baseline)
    expect(result.baseline.samples.map((s) => s.seed)).toEqual([11, 12, 13, 14])
    const u = result.units.find((x) => x.unit === U)!
    expect(u.samples.map((s) => s.ids)).toEqual(steered)
    const top = new Set(u.topTokens.map((t) => t.id))
    const tokens = baseline.flat().length
    expect(u.unsteered).toEqual({ hits: count(baseline, top), tokens, rate: count(baseline, top) / tokens })
    expect(u.steered.hits).toBe(count(steered, top))
    expect(u.score).toBeCloseTo(u.steered.rate - u.unsteered.rate, 12)
    // The planted token itself: rare unsteered, most of the text steered.
    const only = new Set([token])
    const before = count(baseline, only) / tokens
    const after = count(steered, only) / steered.flat().length
    expect(after).toBeGreaterThan(before + 0.5)
    expect(u.score).toBeGreaterThan(0.5)
    expect(u.ratio).toBeGreaterThan(2)
  })

  it('gives the same text for a zero steer, and differs only by steering with the same seed', async () => {
    const plain = await samples([])
    expect(await samples([{ unit: U, value: 0 }])).toEqual(plain)
    expect(await samples([{ unit: U, value: 100 }])).not.toEqual(plain)
  })

  it('reports the clean model’s perplexity of the text (float64 check)', async () => {
    const prompt = tokenizer.encode(settings.prompt)
    let nll = 0
    let n = 0
    for (const s of result.baseline.samples) {
      const seq = [...prompt, ...s.ids]
      const { logits } = model.forward([seq])
      const v = logits!.shape[2]
      const data = Float64Array.from(logits!.dataSync() as Float32Array)
      logits!.dispose()
      for (let t = prompt.length; t < seq.length; t++) {
        let z = 0
        const m = Math.max(...data.subarray((t - 1) * v, t * v))
        for (let j = 0; j < v; j++) z += Math.exp(data[(t - 1) * v + j]! - m)
        nll -= data[(t - 1) * v + seq[t]!]! - m - Math.log(z)
        n++
      }
    }
    expect(result.baseline.perplexity).toBeCloseTo(Math.exp(nll / n), 3)
    for (const u of result.units) expect(Number.isFinite(u.perplexity) && u.perplexity > 1).toBe(true)
  })

  it('refuses units without an output effect or outside the layer, naming the fix', async () => {
    const reply = await backend.dispatch('steering.score', { layerRunId: 999_999, units: [1] })
    expect(!reply.ok && reply.error).toEqual({ code: 'not_found', message: 'There is no run 999999.' })
    // An MxD expert that never fires (its gate bias far below any gate value) has no output
    // effect, whether or not the index computes MxD effects: refused before any generation.
    const store = backend.ctx.store
    const spec = { dIn: 192, dOut: 192, width: 8, k: 2, hidden: 64, glu: false }
    const random = createSparseLayer('mxd', spec, 4)
    const tensors: LayerTensors = {}
    for (const [name, t] of Object.entries(random.toTensors())) tensors[name] = { shape: t.shape, data: Float32Array.from(t.data as Float32Array) }
    random.dispose()
    tensors.b_G!.data[0] = -1e6
    tensors.b_G!.data[1] = -1e6
    const mxdLayer = sparseLayerFromTensors('mxd', spec, tensors)
    const mxdRun = importTestLayer(store, dir, mxdLayer, BLOCK, 'mxd')
    mxdLayer.dispose()
    const before = store.listRuns({ kind: 'steer-score' }).length
    const none = await backend.dispatch('steering.score', { layerRunId: mxdRun, units: [0] })
    expect(!none.ok && none.error.message).toMatch(new RegExp(`Run ${mxdRun} has no feature index.*mxd features index --run ${mxdRun}`))
    await runIndex({ store, dir, datasetId }, mxdRun, { tokens: 64, ctx: 32 })
    const noEffect = await backend.dispatch('steering.score', { layerRunId: mxdRun, units: [0, 1] })
    expect(!noEffect.ok && noEffect.error.message).toMatch(/has no output effect for unit\(s\) 0, 1: .*mxd features index --run/)
    expect(store.listRuns({ kind: 'steer-score' }).length).toBe(before)
    const big = await backend.dispatch('steering.score', { layerRunId, units: [WIDTH] })
    expect(!big.ok && big.error.message).toMatch(/Unit 16 does not exist: run \d+'s layer has units 0…15/)
  })
})
