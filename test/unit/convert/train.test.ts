// Conversion training: the layer folder (export format) round-trips; the config's parameter
// formulas agree with the layers'; training reduces NMSE with the unit-norm rows kept after every
// step; a NaN loss stops the run and keeps the last good checkpoint; a cancelled run resumes to
// the very same result as an uninterrupted one.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { MxDLayer } from '../../../src/engine/layers/mxd.js'
import type { SparseLayer } from '../../../src/engine/layers/sparse-layer.js'
import { TranscoderLayer } from '../../../src/engine/layers/transcoder.js'
import { LAYER_CONFIG_FILE, LAYER_WEIGHTS_FILE, loadLayerFolder, readLayerConfig, saveLayerFolder } from '../../../src/convert/layer-file.js'
import { SafetensorsFile } from '../../../src/engine/safetensors.js'
import { parameterMatchedExperts } from '../../../src/engine/layers/mxd.js'
import { ConvertConfig, ConvertSweep, matchedExperts, mxdParams, previewConversion, sweepConfigs, transcoderParams } from '../../../src/shared/convert.js'
import { trainConversion, type TrainHooks } from '../../../src/jobs/convert/train.js'
import { trainStep } from '../../../src/jobs/convert/step.js'
import { ActivationBuffer } from '../../../src/convert/activation-buffer.js'
import { harvestSequences } from '../../../src/convert/harvest.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import { AdamW } from '../../../src/engine/optim/adamw.js'
import { JobError } from '../../../src/jobs/job.js'
import { Store } from '../../../src/store/store.js'
import { tinyModelWithByteTokenizer } from '../../helpers/byte-tokenizer.js'
import { jobContext, writeTrainCorpus } from './helpers.js'
import { existsSync } from 'node:fs'

const tmp = mkdtempSync(join(tmpdir(), 'mxd-convert-'))
beforeAll(async () => {
  await initBackend()
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const meta = { hook_name: 'blocks.1.ln2.hook_normalized', hook_name_out: 'blocks.1.hook_mlp_out', layer: 1, model_name: 'tiny', model_hash: 'fp1:x', training: { lr: 1e-3 } }

function outputs(layer: SparseLayer, x: tf.Tensor2D): Float32Array {
  return tf.tidy(() => layer.forward(x).y.dataSync() as Float32Array)
}

describe('layer folder (export format)', () => {
  const layers: [string, () => SparseLayer][] = [
    ['mxd gelu', () => MxDLayer.create({ dIn: 8, dOut: 6, hidden: 12, experts: 20, k: 3, seed: 1 })],
    ['mxd glu', () => MxDLayer.create({ dIn: 8, dOut: 6, hidden: 12, experts: 20, k: 3, glu: true, seed: 1 })],
    ['transcoder', () => TranscoderLayer.create({ dIn: 8, dOut: 6, width: 32, k: 4, seed: 1 })],
    ['skip transcoder', () => TranscoderLayer.create({ dIn: 8, dOut: 6, width: 32, k: 4, skip: true, seed: 1 })],
  ]
  it.each(layers)('%s: save then load gives identical outputs and the issue\'s tensor names', (name, make) => {
    const layer = make()
    // Non-zero D / W_dec / W_skip so the output depends on every tensor.
    for (const v of Object.values(layer.params)) tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.1, 'float32', 5))))
    const dir = join(tmp, name.replace(' ', '-'))
    const cfg = saveLayerFolder(dir, layer, meta)
    const x = tf.randomNormal([5, 8], 0, 1, 'float32', 3) as tf.Tensor2D
    const { layer: back, cfg: cfg2 } = loadLayerFolder(dir)
    expect(cfg2).toEqual(cfg)
    expect(back.kind).toBe(layer.kind)
    expect(outputs(back, x)).toEqual(outputs(layer, x))
    const file = SafetensorsFile.open(join(dir, LAYER_WEIGHTS_FILE))
    const shapes = Object.fromEntries([...file.tensors.values()].map((t) => [t.name, t.shape]))
    file.close()
    if (layer.kind === 'mxd') {
      expect(shapes).toMatchObject({ E: [8, 12], b_E: [12], G: [8, 20], b_G: [20], C: [20, 6], D: [12, 6], b_out: [6] })
      expect(cfg.n_experts).toBe(20)
      expect(cfg.activation).toBe(name.includes('glu') ? 'glu' : 'gelu')
      if (cfg.activation === 'glu') expect(shapes).toMatchObject({ E_glu: [8, 12], b_glu: [12] })
    } else {
      expect(shapes).toMatchObject({ W_enc: [8, 32], b_enc: [32], W_dec: [32, 6], b_dec: [6] })
      if (layer.kind === 'skip_transcoder') expect(shapes.W_skip).toEqual([6, 8])
      expect(cfg.d_sae).toBe(32)
    }
    tf.dispose(x)
    layer.dispose()
    back.dispose()
  })

  it('names the problem when files are missing or disagree', () => {
    expect(() => loadLayerFolder(join(tmp, 'nope'))).toThrow(/does not exist/)
    const dir = join(tmp, 'bad')
    const layer = MxDLayer.create({ dIn: 8, dOut: 6, hidden: 12, experts: 20, k: 3, seed: 1 })
    saveLayerFolder(dir, layer, meta)
    layer.dispose()
    const cfg = readLayerConfig(dir)
    writeFileSync(join(dir, LAYER_CONFIG_FILE), JSON.stringify({ ...cfg, n_experts: 21 }))
    expect(() => loadLayerFolder(dir)).toThrow(/tensor "G" has shape \[8, 20\] but cfg.json implies \[8, 21\]/)
    writeFileSync(join(dir, LAYER_CONFIG_FILE), JSON.stringify({ ...cfg, architecture: 'transcoder', d_sae: 20, activation: 'topk_relu' }))
    expect(() => loadLayerFolder(dir)).toThrow(/does not have/)
    // An activation the kind does not have is refused before the weights are read.
    writeFileSync(join(dir, LAYER_CONFIG_FILE), JSON.stringify({ ...cfg, architecture: 'transcoder', d_sae: 20 }))
    expect(() => loadLayerFolder(dir)).toThrow('a "transcoder" layer needs "d_sae" and activation "topk_relu".')
    rmSync(join(dir, LAYER_WEIGHTS_FILE))
    writeFileSync(join(dir, LAYER_CONFIG_FILE), JSON.stringify(cfg))
    expect(() => loadLayerFolder(dir)).toThrow(/no sae_weights.safetensors/)
  })
})

describe('config: parameter counts and defaults', () => {
  it('counts exactly the parameters the layers have', () => {
    // The formula exists once (src/shared/layer-kinds/mxd.ts); checked against live variables.
    for (const glu of [false, true]) {
      const layer = MxDLayer.create({ dIn: 8, dOut: 6, hidden: 12, experts: 20, k: 3, glu })
      expect(mxdParams(8, 6, 12, 20, glu)).toBe(layer.parameterCount())
      layer.dispose()
    }
    expect(matchedExperts(768, 768, 3072, false)).toBe(21_490)
    const t = TranscoderLayer.create({ dIn: 8, dOut: 6, width: 32, k: 4, skip: true })
    expect(transcoderParams(8, 6, 32, true)).toBe(t.parameterCount())
    t.dispose()
  })

  it('previews the demo-sized layer: N matched to a 32× transcoder, counts against the dense MLP', () => {
    const config = ConvertConfig.parse({ model: '/m', layer: 2, data: '/d' })
    const p = previewConversion(config, { architecture: 'gpt2', layers: 4, dModel: 192, mlpWidth: 768, contextLength: 128 })
    expect(p.width).toBe(parameterMatchedExperts(192, 192, 768, false))
    expect(p.params.denseMlp).toBe(2 * 192 * 768 + 768 + 192)
    expect(p.params.transcoder32x).toBe(transcoderParams(192, 192, 32 * 192, false))
    expect(Math.abs(p.params.layer - p.params.transcoder32x) / p.params.transcoder32x).toBeLessThan(0.01)
    expect(p.warnings).toEqual([])
    expect(p.bufferRows % (2 * 16 * 128)).toBe(0) // whole chunks of 16 sequences × 128 rows (BOS rows included)
    const bad = previewConversion({ ...config, layer: 9, ctx: 512 }, { architecture: 'gpt2', layers: 4, dModel: 192, mlpWidth: 768, contextLength: 128 })
    expect(bad.warnings.join(' ')).toMatch(/layer 9 does not exist.*ctx 512 exceeds/)
  })

  it('gives every kind the same parameters by default: the skip transcoder pays for W_skip in latents', () => {
    const shape = { architecture: 'gpt2', layers: 4, dModel: 192, mlpWidth: 768, contextLength: 128 }
    const sweep = ConvertSweep.parse({ model: '/m', layer: 2, data: '/d', ks: [8], kinds: ['mxd', 'transcoder', 'skip_transcoder'] })
    const [mxd, tc, skip] = sweepConfigs(sweep).map((c) => previewConversion(c, shape))
    // By hand (docs/frontier.md): d² = 36,864 at 2d + 1 = 385 per latent is 95.75 → 96 latents.
    expect(tc!.width).toBe(6144)
    expect(skip!.width).toBe(6048)
    expect(tc!.params.layer).toBe(2 * 192 * 6144 + 6144 + 192)
    expect(skip!.params.layer).toBe(2 * 192 * 6048 + 6048 + 192 + 192 * 192)
    for (const p of [mxd!, skip!]) expect(Math.abs(p.params.layer - tc!.params.layer) / tc!.params.layer).toBeLessThan(0.003)
    // A width the user gives is kept as given.
    expect(previewConversion(ConvertConfig.parse({ model: '/m', layer: 2, data: '/d', kind: 'skip_transcoder', width: 6144 }), shape).width).toBe(6144)
  })

  it('a sweep is one config per (kind, K), everything else shared', () => {
    const sweep = ConvertSweep.parse({ model: '/m', layer: 1, data: '/d', ks: [4, 8], kinds: ['mxd', 'transcoder'], seed: 3 })
    const configs = sweepConfigs(sweep)
    expect(configs.map((c) => [c.kind, c.k])).toEqual([['mxd', 4], ['mxd', 8], ['transcoder', 4], ['transcoder', 8]])
    expect(new Set(configs.map((c) => c.seed))).toEqual(new Set([3]))
    expect(() => ConvertConfig.parse({ model: '/m', layer: 1, data: '/d', ks: [4] })).toThrow()
  })
})

// ------------------------------------------------------------------------------ training

const modelDir = tinyModelWithByteTokenizer()
const corpus = writeTrainCorpus(tmp)

const small = (extra: Record<string, unknown> = {}): ConvertConfig =>
  ConvertConfig.parse({ model: modelDir, layer: 1, data: corpus, k: 4, experts: 64, ctx: 32, batch: 64, tokens: 64 * 24, bufferRows: 512, harvestBatch: 4, lr: 3e-3, metricsEvery: 2, ...extra })

describe('training', () => {
  it('reduces NMSE below half its start and keeps every c_n at unit norm after every step', async () => {
    const model = await loadLanguageModel(modelDir)
    const seqs = Array.from({ length: 32 }, (_, s) => Int32Array.from({ length: 33 }, (_, i) => 97 + ((s * 7 + i * 3) % 26)))
    const rows = harvestSequences(model, 1, seqs, { skipFirst: false })
    model.dispose()
    const buf = new ActivationBuffer({ capacity: 2 * rows.rows, dIn: 32, dOut: 32, seed: 0 })
    const layer = MxDLayer.create({ dIn: 32, dOut: 32, hidden: 128, experts: 64, k: 4, seed: 2 })
    const opt = new AdamW(layer.params, { lr: 3e-3, weightDecay: 0 })
    const nmse: number[] = []
    for (let step = 0; step < 60; step++) {
      if (buf.free >= rows.rows) buf.refill([rows]) // the same rows again: a second epoch
      const s = trainStep(layer, opt, buf.take(64), 64, 32, 3e-3)
      nmse.push(s.residual / s.targetSquares)
      expect(s.nonZeros / s.tokens).toBeLessThanOrEqual(4)
      const norms = tf.tidy(() => tf.sqrt(tf.sum(tf.square(layer.params.C!), 1)).dataSync())
      for (const n of norms) expect(n).toBeCloseTo(1, 5)
    }
    expect(nmse[0]).toBeCloseTo(1, 1) // D = 0 at init: ŷ = 0
    expect(Math.min(...nmse.slice(-5))).toBeLessThan(0.5 * nmse[0]!)
    opt.dispose()
    layer.dispose()
  }, 60_000)

  it('a job run trains, stores metrics and leaves the layer folder as its final checkpoint', async () => {
    const store = new Store({ dir: join(tmp, 'store-run') })
    const config = small()
    const run = store.createRun('convert', config, 'running')
    const result = await trainConversion(jobContext(store, config, run.id))
    expect(result!.step).toBe(24)
    const metrics = store.getMetrics(run.id)
    const nmse = metrics.filter((m) => m.name === 'nmse')
    expect(nmse.map((m) => m.step)).toEqual(Array.from({ length: 12 }, (_, i) => 2 * (i + 1)))
    expect(nmse.at(-1)!.value).toBeLessThan(nmse[0]!.value)
    for (const name of ['loss', 'l0', 'dead_fraction', 'tokens_per_s', 'harvest_tokens_per_s', 'lr']) expect(metrics.some((m) => m.name === name)).toBe(true)
    const last = store.latestCheckpoint(run.id)!
    expect(last.path).toBe(join(store.runDir(run.id), 'layer', LAYER_WEIGHTS_FILE))
    const { layer, cfg } = loadLayerFolder(join(store.runDir(run.id), 'layer'))
    expect(cfg).toMatchObject({ architecture: 'mxd', n_experts: 64, k: 4, layer: 1, hook_name: 'blocks.1.ln2.hook_normalized' })
    layer.dispose()
    store.close()
  }, 120_000)

  it('a NaN loss stops the run with a clear message and keeps the last good checkpoint', async () => {
    const store = new Store({ dir: join(tmp, 'store-nan') })
    const config = small({ checkpointSteps: 4 })
    const run = store.createRun('convert', config, 'running')
    const hooks: TrainHooks = {
      transformBatch: (b, step) => (step === 9 ? { x: b.x, y: b.y.map(() => Number.NaN) } : b),
    }
    const err = await trainConversion(jobContext(store, config, run.id), hooks).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(JobError)
    expect((err as Error).message).toBe(
      `loss became NaN at step 10; the last good checkpoint (step 8) is kept: resume it with a lower learning rate than 0.003, e.g. 0.0003 (mxd train --resume ${run.id} --lr 0.0003).`,
    )
    const last = store.latestCheckpoint(run.id)!
    expect(last.step).toBe(8)
    expect(existsSync(last.path)).toBe(true)
    store.close()
  }, 120_000)

  it('a cancelled run resumes from its checkpoint to exactly the uninterrupted result', async () => {
    const config = small({ tokens: 64 * 30 })
    const a = new Store({ dir: join(tmp, 'store-whole') })
    const runA = a.createRun('convert', config, 'running')
    const whole = await trainConversion(jobContext(a, config, runA.id))

    const b = new Store({ dir: join(tmp, 'store-resumed') })
    const runB = b.createRun('convert', config, 'running')
    let polls = 0
    // Cancel part-way (after several refills); the job checkpoints and returns null.
    expect(await trainConversion(jobContext(b, config, runB.id, () => ++polls > 17))).toBeNull()
    const stoppedAt = b.latestCheckpoint(runB.id)!.step
    expect(stoppedAt).toBeGreaterThan(0)
    expect(stoppedAt).toBeLessThan(30)
    const resumed = await trainConversion(jobContext(b, config, runB.id))
    expect(resumed!.step).toBe(whole!.step)
    // The loss curve continues: no step is reported twice, none restarts at 0.
    const steps = b.getMetrics(runB.id).filter((m) => m.name === 'loss').map((m) => m.step)
    expect(steps).toEqual(a.getMetrics(runA.id).filter((m) => m.name === 'loss').map((m) => m.step))
    // Same data stream, same optimizer state: the same weights, bit for bit.
    const wa = loadLayerFolder(whole!.layerDir)
    const wb = loadLayerFolder(resumed!.layerDir)
    for (const [name, t] of Object.entries(wa.layer.toTensors())) expect(wb.layer.toTensors()[name]!.data).toEqual(t.data)
    wa.layer.dispose()
    wb.layer.dispose()
    a.close()
    b.close()
  }, 180_000)
})
