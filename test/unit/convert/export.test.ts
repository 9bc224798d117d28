// Export / import of layer folders, the frontier, and the evaluation job through the API: an
// export imported back gives the same tensors and the same spliced forward; bad folders are
// refused with the file named and register nothing; a SAELens-style transcoder imports; a
// conversion run that succeeds gets its held-out evaluation queued, which writes eval.* onto it.
import { Worker } from 'node:worker_threads'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { EVAL_METRICS } from '../../../src/shared/convert-eval.js'
import { LAYER_WEIGHTS_FILE, loadLayerFolder, modelFingerprint, saveLayerFolder } from '../../../src/convert/layer-file.js'
import { forwardSpliced } from '../../../src/convert/splice.js'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { hookNames } from '../../../src/engine/hooks.js'
import { MxDLayer } from '../../../src/engine/layers/mxd.js'
import type { SparseLayer } from '../../../src/engine/layers/sparse-layer.js'
import { TranscoderLayer } from '../../../src/engine/layers/transcoder.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import type { LanguageModel } from '../../../src/engine/models/model.js'
import { SafetensorsFile, writeSafetensors, type WritableTensor } from '../../../src/engine/safetensors.js'
import { sourceWorkerFactory, type WorkerFactory } from '../../../src/jobs/spawn.js'
import type { WorkerData } from '../../../src/jobs/job.js'
import type { ApiEvent, Run, RunKind } from '../../../src/shared/api.js'
import { tinyModelWithByteTokenizer } from '../../helpers/byte-tokenizer.js'
import { uniform } from '../layers/helpers.js'

const CONVERT = 'convert' as RunKind

/** Runs whose job is faked: the worker reports success at once (a conversion "trained" by the test). */
const instantRuns = new Set<number>()
const workers: WorkerFactory = (kind, data) => {
  if (kind === 'job' && instantRuns.has((data as WorkerData).runId)) {
    return new Worker(`require('node:worker_threads').parentPort.postMessage({ type: 'done', status: 'succeeded' })`, { eval: true })
  }
  return sourceWorkerFactory(kind, data)
}

let modelDir: string
let dataFile: string
let model: LanguageModel
let backend: Backend | undefined

beforeAll(async () => {
  await initBackend()
  modelDir = tinyModelWithByteTokenizer()
  model = await loadLanguageModel(modelDir)
  // 600 short documents: about 30 held out (5%), enough for a few sequences of 32 bytes.
  const rand = uniform(42)
  const words = ['layer', 'sparse', 'expert', 'token', 'model', 'decoder', 'mixture', 'the', 'a', 'of', 'gate', 'value']
  const docs = Array.from({ length: 600 }, (_, i) =>
    Array.from({ length: 12 + (i % 9) }, () => words[Math.floor(rand(0, words.length))]).join(' '),
  )
  dataFile = join(mkdtempSync(join(tmpdir(), 'mxd-evaldata-')), 'corpus.txt')
  writeFileSync(dataFile, docs.join('\n\n') + '\n')
})
afterAll(() => model.dispose())
afterEach(async () => {
  await backend?.close()
  backend = undefined
})

async function open(): Promise<Backend> {
  backend = await Backend.create({ storeDir: mkdtempSync(join(tmpdir(), 'mxd-convert-eval-')), workerFactory: workers })
  return backend
}

function randomMxd(seed: number): MxDLayer {
  const cfg = { dIn: 32, dOut: 32, hidden: 128, experts: 24, k: 4 }
  const fresh = MxDLayer.create({ ...cfg, seed })
  const rand = uniform(seed)
  const tensors = Object.fromEntries(
    Object.entries(fresh.toTensors()).map(([n, t]) => [n, { shape: t.shape, data: Float32Array.from(t.data, () => rand(-0.3, 0.3)) }]),
  )
  fresh.dispose()
  return MxDLayer.fromTensors(cfg, tensors)
}

/** A finished (or queued) conversion run with `layer` saved in runDir/layer, as the training job leaves it. */
function conversionRun(b: Backend, layer: SparseLayer, opts: { evaluate?: boolean; status?: 'queued' | 'succeeded'; step?: number } = {}): Run {
  const store = b.ctx.store
  const config = { model: modelDir, layer: 1, data: dataFile, kind: layer.kind, k: layer.k, ctx: 32, evaluate: opts.evaluate ?? true, evalTokens: 256 }
  const run = store.createRun(CONVERT, config, opts.status === 'succeeded' ? 'succeeded' : 'queued')
  saveLayerFolder(join(store.runDir(run.id), 'layer'), layer, {
    hook_name: hookNames.ln2(1),
    hook_name_out: hookNames.mlpOut(1),
    layer: 1,
    model_name: 'gpt2-tiny',
    model_hash: modelFingerprint(modelDir),
    training: { ...config, step: opts.step ?? 5 },
  })
  return run
}

function finished(b: Backend, id: number): Promise<Run> {
  const run = b.ctx.store.getRun(id)!
  if (!['queued', 'running'].includes(run.status)) return Promise.resolve(run)
  return new Promise((resolve) => {
    const off = b.subscribe((e: ApiEvent) => {
      if (e.event === 'run.changed' && e.data.id === id && !['queued', 'running'].includes(e.data.status)) {
        off()
        resolve(e.data)
      }
    })
  })
}

const ids = [
  [72, 101, 108, 108, 111, 32, 119, 111],
  [116, 104, 101, 32, 103, 97, 116, 101],
]

function splicedOutput(layer: SparseLayer): { mlpOut: Float32Array; logits: Float32Array } {
  const r = forwardSpliced(model, ids, { cacheNames: [hookNames.mlpOut(1)], splices: [{ block: 1, layer }] })
  const out = { mlpOut: r.cache[hookNames.mlpOut(1)]!.dataSync() as Float32Array, logits: r.logits!.dataSync() as Float32Array }
  tf.dispose([r.logits!, ...Object.values(r.cache)])
  return out
}

function tensorsOf(dir: string): Record<string, number[]> {
  const f = SafetensorsFile.open(join(dir, LAYER_WEIGHTS_FILE))
  try {
    return Object.fromEntries([...f.tensors.keys()].map((n) => [n, [...f.readFloat32(n)]]))
  } finally {
    f.close()
  }
}

describe('export and import', () => {
  it('round-trips a run’s layer: same tensors, same spliced forward, listed as a layer-import run', async () => {
    const b = await open()
    const layer = randomMxd(1)
    const run = conversionRun(b, layer, { status: 'succeeded' })
    const out = join(mkdtempSync(join(tmpdir(), 'mxd-export-')), 'my-layer')
    const exported = await b.call('convert.export', { runId: run.id, dir: out })
    expect(readdirSync(out).sort()).toEqual(['cfg.json', LAYER_WEIGHTS_FILE])
    expect(exported.files.length).toBe(2)
    const imported = await b.call('convert.import', { dir: out })
    expect(imported).toMatchObject({ architecture: 'mxd', layer: 1, k: 4, source: 'mxd-studio' })
    const importedRun = b.ctx.store.getRun(imported.runId)!
    expect(importedRun).toMatchObject({ kind: 'layer-import', status: 'succeeded' })
    expect((await b.call('runs.list', {})).map((r) => r.id)).toContain(imported.runId)

    const storedDir = join(b.ctx.store.dir, 'runs', String(imported.runId), 'layer')
    expect(tensorsOf(storedDir)).toEqual(tensorsOf(join(b.ctx.store.dir, 'runs', String(run.id), 'layer')))
    const back = loadLayerFolder(storedDir)
    const before = splicedOutput(layer)
    const after = splicedOutput(back.layer)
    expect([...after.mlpOut]).toEqual([...before.mlpOut])
    expect([...after.logits]).toEqual([...before.logits])
    back.layer.dispose()
    layer.dispose()
  })

  it('refuses to export into a folder that is not empty unless forced, and never deletes files it did not write', async () => {
    const b = await open()
    const layer = randomMxd(2)
    const run = conversionRun(b, layer, { status: 'succeeded' })
    layer.dispose()
    const out = mkdtempSync(join(tmpdir(), 'mxd-export-full-'))
    writeFileSync(join(out, 'notes.txt'), 'keep me')
    await expect(b.call('convert.export', { runId: run.id, dir: out })).rejects.toThrow(/not empty.*--force/)
    // --force replaces a previous export only: a user's file is named and kept.
    await expect(b.call('convert.export', { runId: run.id, dir: out, force: true })).rejects.toThrow(/"notes\.txt"/)
    expect(readdirSync(out)).toEqual(['notes.txt'])
    rmSync(join(out, 'notes.txt'))
    await b.call('convert.export', { runId: run.id, dir: out })
    await b.call('convert.export', { runId: run.id, dir: out, force: true })
    expect(readdirSync(out).sort()).toEqual(['cfg.json', LAYER_WEIGHTS_FILE])
    expect(readdirSync(join(out, '..')).filter((f) => f.includes('.partial'))).toEqual([])
    await expect(b.call('convert.export', { runId: 999, dir: out })).rejects.toThrow(/no run 999/)
  })

  it('refuses bad folders with the file and the fix named, registering nothing', async () => {
    const b = await open()
    const good = join(mkdtempSync(join(tmpdir(), 'mxd-bad-')), 'good')
    const layer = randomMxd(3)
    saveLayerFolder(good, layer, { hook_name: 'blocks.1.ln2.hook_normalized', hook_name_out: 'blocks.1.hook_mlp_out', layer: 1, model_name: 'x', model_hash: 'unknown', training: {} })
    const variant = (name: string, edit: (dir: string) => void): string => {
      const dir = join(good, '..', name)
      mkdirSync(dir)
      for (const f of readdirSync(good)) writeFileSync(join(dir, f), readFileSync(join(good, f)))
      edit(dir)
      return dir
    }
    const noCfg = variant('no-cfg', (d) => rmSync(join(d, 'cfg.json')))
    const wrongShape = variant('wrong-shape', (d) => {
      const t = layer.toTensors()
      t.G = { dtype: 'F32', shape: [32, 23], data: new Float32Array(32 * 23) }
      writeSafetensors(join(d, LAYER_WEIGHTS_FILE), t)
    })
    const unknownArch = variant('unknown-arch', (d) => {
      const cfg = JSON.parse(readFileSync(join(d, 'cfg.json'), 'utf8'))
      writeFileSync(join(d, 'cfg.json'), JSON.stringify({ ...cfg, architecture: 'jumprelu' }))
    })
    const foreignUnknown = variant('foreign-unknown', (d) => writeFileSync(join(d, 'cfg.json'), JSON.stringify({ architecture: 'standard', d_in: 32, d_sae: 64 })))
    const intWeights = variant('int-weights', (d) => {
      const t: Record<string, WritableTensor> = { ...layer.toTensors(), b_out: { dtype: 'I32', shape: [32], data: new Int32Array(32) } }
      writeSafetensors(join(d, LAYER_WEIGHTS_FILE), t)
    })
    layer.dispose()
    const cases: [string, RegExp][] = [
      [noCfg, /no-cfg has no cfg\.json/],
      [wrongShape, /wrong-shape\/sae_weights\.safetensors: tensor "G" has shape \[32, 23\] but cfg\.json implies \[32, 24\]/],
      [unknownArch, /unknown-arch\/cfg\.json: field "architecture"/],
      [foreignUnknown, /foreign-unknown\/cfg\.json: architecture "standard" is unknown/],
      [intWeights, /tensor "b_out" is I32.*float32/],
      [join(good, '..', 'missing'), /is not a folder/],
    ]
    for (const [dir, message] of cases) {
      await expect(b.call('convert.import', { dir }), dir).rejects.toThrow(message)
    }
    expect(b.ctx.store.listRuns()).toEqual([])
    expect(readdirSync(join(b.ctx.store.dir, 'runs')).filter((f) => f.startsWith('.import'))).toEqual([])
  })

  it('imports a SAELens-style skip transcoder (F16 weights, k in activation_fn_kwargs) and splices it as such', async () => {
    const b = await open()
    const rand = uniform(9)
    const [d, S] = [32, 48]
    const mk = (shape: number[]): { shape: number[]; data: Float32Array } => ({ shape, data: Float32Array.from({ length: shape.reduce((a, c) => a * c) }, () => rand(-0.4, 0.4)) })
    const w = { W_enc: mk([d, S]), b_enc: mk([S]), W_dec: mk([S, d]), b_dec: mk([d]), W_skip: mk([d, d]) }
    const dir = mkdtempSync(join(tmpdir(), 'saelens-'))
    writeSafetensors(
      join(dir, 'sae_weights.safetensors'),
      Object.fromEntries(Object.entries(w).map(([n, t]) => [n, { dtype: 'F16' as const, shape: t.shape, data: t.data }])),
    )
    writeFileSync(
      join(dir, 'cfg.json'),
      JSON.stringify({
        architecture: 'transcoder',
        d_in: d,
        d_sae: S,
        d_out: d,
        dtype: 'float16',
        hook_name: 'blocks.1.ln2.hook_normalized',
        hook_layer: 1,
        activation_fn_kwargs: { k: 5 },
        apply_b_dec_to_input: false,
        normalize_activations: 'none',
        model_name: 'gpt2-tiny',
      }),
    )
    const imported = await b.call('convert.import', { dir })
    expect(imported).toMatchObject({ architecture: 'skip_transcoder', layer: 1, k: 5, source: 'saelens' })
    const { layer, cfg } = loadLayerFolder(join(b.ctx.store.dir, 'runs', String(imported.runId), 'layer'))
    expect(cfg.training.source_cfg).toMatchObject({ architecture: 'transcoder' })
    // ŷ = W_decᵀ TopK(ReLU(W_encᵀx + b_enc)) + b_dec + W_skip x, by hand, with the stored (F16-rounded) weights.
    expect(layer.kind).toBe('skip_transcoder')
    const x = Float32Array.from({ length: d }, () => rand(-1, 1))
    const got = layer.forward(tf.tensor2d(x, [1, d]))
    const stored = loadLayerFolder(join(b.ctx.store.dir, 'runs', String(imported.runId), 'layer')).layer
    const p = Object.fromEntries(Object.entries(stored.params).map(([n, v]) => [n, v.dataSync() as Float32Array]))
    stored.dispose()
    const pre = Array.from({ length: S }, (_, s) => Math.max(0, p.b_enc![s]! + x.reduce((acc, xi, i) => acc + xi * p.W_enc![i * S + s]!, 0)))
    const keep = new Set([...pre.keys()].sort((a, c) => pre[c]! - pre[a]!).slice(0, 5))
    const want = Array.from({ length: d }, (_, o) => {
      let y = p.b_dec![o]!
      for (const s of keep) y += pre[s]! * p.W_dec![s * d + o]!
      for (let i = 0; i < d; i++) y += p.W_skip![o * d + i]! * x[i]!
      return y
    })
    const yHat = got.y.dataSync()
    for (let o = 0; o < d; o++) expect(yHat[o]).toBeCloseTo(want[o]!, 4)
    // The F16 values were widened exactly: stored weights equal the F16 rounding of the originals.
    expect(Math.max(...p.W_enc!.map((v, i) => Math.abs(v - w.W_enc.data[i]!)))).toBeLessThan(1e-3)
    tf.dispose([got.y, got.codes])
    layer.dispose()
  })
})

describe('evaluation job and follow-up', () => {
  it('queues a held-out evaluation when a conversion succeeds, writing eval.* onto the training run at its step', async () => {
    const b = await open()
    const layer = randomMxd(4)
    const run = conversionRun(b, layer, { step: 7 })
    const skipped = conversionRun(b, layer, { evaluate: false })
    layer.dispose()
    instantRuns.add(run.id)
    instantRuns.add(skipped.id)
    b.ctx.queue.enqueue(run.id)
    b.ctx.queue.enqueue(skipped.id)
    expect((await finished(b, run.id)).status).toBe('succeeded')
    const evals = b.ctx.store.listRuns({ kind: 'convert-eval' })
    expect(evals.map((r) => r.config.trainRunId)).toEqual([run.id]) // none for evaluate: false
    expect(evals[0]!.config).toMatchObject({ trainRunId: run.id, tokens: 256 })
    const done = await finished(b, evals[0]!.id)
    expect(done.status, done.error ?? '').toBe('succeeded')
    const onTraining = Object.fromEntries(b.ctx.store.getMetrics(run.id).map((m) => [m.name, m]))
    const onEval = Object.fromEntries(b.ctx.store.getMetrics(done.id).map((m) => [m.name, m.value]))
    for (const name of Object.values(EVAL_METRICS)) {
      expect(onTraining[name], name).toBeDefined()
      expect(onTraining[name]!.step).toBe(7)
      expect(onEval[name]).toBe(onTraining[name]!.value)
    }
    expect(onEval[EVAL_METRICS.tokens]).toBe(8 * 32) // 256 tokens = 8 sequences of 32 (no BOS: the byte tokenizer has none)
    expect(onEval[EVAL_METRICS.l0]).toBeLessThanOrEqual(4)
    expect(onEval[EVAL_METRICS.ceSpliced]).toBeGreaterThan(0)

    // On demand, with the same config: the same numbers (deterministic).
    const again = await b.call('convert.evaluate', { runId: run.id, tokens: 256 })
    expect((await finished(b, again.runId)).status).toBe('succeeded')
    const second = Object.fromEntries(b.ctx.store.getMetrics(again.runId).map((m) => [m.name, m.value]))
    expect(second).toEqual(onEval)

    // The frontier reads them back.
    const frontier = await b.call('convert.getFrontier', { modelPath: modelDir, layer: 1 })
    expect(frontier.series.map((s) => s.kind)).toEqual(['mxd'])
    const point = frontier.series[0]!.points.find((p) => p.runId === run.id)!
    expect(point).toMatchObject({ k: 4, width: 24, nmse: onEval[EVAL_METRICS.nmse], ce_spliced: onEval[EVAL_METRICS.ceSpliced] })
    expect(frontier.series[0]!.points.find((p) => p.runId === skipped.id)!.nmse).toBeNull()
    // The reference lines of the CE chart: the evaluation's clean and zero-ablated CE.
    expect(frontier.reference).toEqual({ ceClean: onEval[EVAL_METRICS.ceClean], ceZero: onEval[EVAL_METRICS.ceZero], runId: run.id })
    expect((await b.call('convert.getFrontier', { modelPath: modelDir, layer: 0 })).series).toEqual([])
    expect((await b.call('convert.getFrontier', { modelPath: modelDir, layer: 0 })).reference).toBeNull()
  })

  it('evaluates an imported transcoder with an explicit model and data, and refuses runs without a layer', async () => {
    const b = await open()
    const layer = TranscoderLayer.create({ dIn: 32, dOut: 32, width: 64, k: 3, seed: 6 })
    const dir = join(mkdtempSync(join(tmpdir(), 'mxd-tc-')), 'tc')
    saveLayerFolder(dir, layer, { hook_name: 'blocks.0.ln2.hook_normalized', hook_name_out: 'blocks.0.hook_mlp_out', layer: 0, model_name: 'x', model_hash: 'unknown', training: {} })
    layer.dispose()
    const { runId } = await b.call('convert.import', { dir })
    const bench = await b.call('bench.start', { sizes: [8], repeats: 1 })
    await expect(b.call('convert.evaluate', { runId: bench.runId })).rejects.toThrow(/bench-backend run/)
    const evalRun = await b.call('convert.evaluate', { runId, model: modelDir, data: dataFile, ctx: 16, tokens: 64, batch: 2 })
    const done = await finished(b, evalRun.runId)
    expect(done.status, done.error ?? '').toBe('succeeded')
    const m = Object.fromEntries(b.ctx.store.getMetrics(runId).map((x) => [x.name, x]))
    expect(m[EVAL_METRICS.tokens]!.value).toBe(64)
    expect(m[EVAL_METRICS.nmse]!.step).toBe(0)
    const frontier = await b.call('convert.getFrontier', { modelPath: modelDir, layer: 0 })
    // No model_hash, but evaluated on this model: it is on this model's frontier.
    expect(frontier.series.map((s) => s.kind)).toEqual(['transcoder'])
    expect(frontier.series[0]!.points[0]).toMatchObject({ runId, k: 3, width: 64, nmse: m[EVAL_METRICS.nmse]!.value })
    expect(existsSync(join(b.ctx.store.dir, 'runs', String(runId), 'layer', 'cfg.json'))).toBe(true)
  })
})
