// Issue 10's acceptance test for the layer-kind registry: a kind that exists only in this file
// (a descriptor and an implementation, registered at run time, no edit under src/) goes through
// the real parts end to end. The conversion job trains it on the fixture model's block 1 with a
// real store; its folder is exported and imported back (and drawn on the frontier as a series of
// its own); the imported layer is spliced into the model, whose forward then differs from the
// dense model's and writes exactly the layer's own output for the activations the hook saw.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exportLayerFolder, importLayer, runLayerDir } from '../../../src/convert/export.js'
import { layerFrontier } from '../../../src/convert/frontier.js'
import { checkLayerModel, LAYER_CONFIG_FILE, loadLayerFolder, modelFingerprint } from '../../../src/convert/layer-file.js'
import { codesHookName, forwardSpliced } from '../../../src/convert/splice.js'
import { trainConversion } from '../../../src/jobs/convert/train.js'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { hookNames } from '../../../src/engine/hooks.js'
import { registerSparseLayerKind } from '../../../src/engine/layers/kinds.js'
import { denseCodes, linearInit, unitRows } from '../../../src/engine/layers/sparse.js'
import {
  SparseLayerBase,
  variablesFromTensors,
  variablesOf,
  type ForwardOptions,
  type LayerKindImpl,
  type LayerSize,
  type LayerTensors,
  type SparseForward,
} from '../../../src/engine/layers/sparse-layer.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import { ConvertConfig, previewConversion } from '../../../src/shared/convert.js'
import type { LayerKindDescriptor } from '../../../src/shared/layer-kinds/index.js'
import { Store } from '../../../src/store/store.js'
import { tinyModelWithByteTokenizer } from '../../helpers/byte-tokenizer.js'
import { expectClose } from '../layers/helpers.js'
import { jobContext, writeTrainCorpus } from './helpers.js'

// ------------------------------------------------------------------ the toy kind, data half

/**
 * "Gained TopK": a = TopK(ReLU(xW_in + b_in)), ŷ = (aW_out) ∗ g + b_out, W_out's rows at unit
 * norm, g a per-output gain. Not any built-in kind: other tensor names, an extra parameter.
 */
const toyKind: LayerKindDescriptor = {
  id: 'toy_gained',
  name: 'Gained TopK (test)',
  short: 'Toy',
  unit: { one: 'unit', many: 'units' },
  help: 'A test-only kind.',
  chartSlot: 4,
  usesHidden: false,
  widthField: 'width',
  sizeField: { label: 'Units', defaultText: '4·d' },
  defaultWidth: ({ d }) => 4 * d,
  parameters: (s) => s.dIn * s.width + s.width + s.width * s.dOut + 2 * s.dOut,
  forwardMacs: (s) => s.dIn * s.width + s.k * s.dOut + s.dOut,
  codesHook: (block) => `blocks.${block}.toy.hook_codes`,
  file: {
    widthKey: 'd_sae',
    activation: () => 'topk_relu',
    activations: ['topk_relu'],
    tensors: (s) => ({ W_in: [s.dIn, s.width], b_in: [s.width], W_out: [s.width, s.dOut], g: [s.dOut], b_out: [s.dOut] }),
    unitNorm: 'W_out',
    saelensArchitectures: [],
  },
}

// ------------------------------------------------------------------ the toy kind, compute half

class ToyLayer extends SparseLayerBase {
  readonly kind = toyKind.id
  readonly width: number
  readonly k: number

  constructor(
    readonly size: LayerSize,
    params: Record<string, tf.Variable>,
  ) {
    super(params, toyKind.file.unitNorm)
    this.width = size.width
    this.k = size.k
  }

  forward(x: tf.Tensor2D, options?: ForwardOptions): SparseForward {
    return tf.tidy(() => {
      const p = this.params as Record<string, tf.Tensor>
      const pre = tf.relu(tf.add(tf.matMul(x, p.W_in as tf.Tensor2D), p.b_in!)) as tf.Tensor2D
      // The selection, read back as plain numbers: tfjs has no TopK gradient, and a mask built
      // from fresh data is a constant to autodiff, so ReLU and the matMuls carry the gradient.
      const top = tf.topk(pre, this.k)
      const indices = tf.tensor2d(top.indices.dataSync() as Int32Array, top.indices.shape, 'int32')
      const values = tf.tensor2d(top.values.dataSync() as Float32Array, top.values.shape)
      const mask = denseCodes(tf.onesLike(values) as tf.Tensor2D, indices, this.width)
      const codes = tf.mul(pre, mask) as tf.Tensor2D
      const a = options?.codeHook ? options.codeHook(codes) : codes
      const y = tf.add(tf.mul(tf.matMul(a, p.W_out as tf.Tensor2D), p.g!), p.b_out!) as tf.Tensor2D
      return options?.codeHook ? { y, codes: a } : { y, codes, selected: { values, indices } }
    })
  }
}

const toyImpl: LayerKindImpl = {
  descriptor: toyKind,
  create: (size, seed) =>
    new ToyLayer(
      size,
      variablesOf(
        tf.tidy(() => ({
          W_in: linearInit([size.dIn, size.width], size.dIn, seed),
          b_in: tf.zeros([size.width]),
          W_out: unitRows(linearInit([size.width, size.dOut], size.width, seed === undefined ? undefined : seed + 1) as tf.Tensor2D),
          g: tf.ones([size.dOut]),
          b_out: tf.zeros([size.dOut]),
        })),
      ),
    ),
  fromTensors: (size, tensors: LayerTensors) => new ToyLayer(size, variablesFromTensors(tensors, toyKind.file.tensors(size))),
}

// ------------------------------------------------------------------ the test

const tmp = mkdtempSync(join(tmpdir(), 'mxd-toy-kind-'))
const modelDir = tinyModelWithByteTokenizer()
const corpus = writeTrainCorpus(tmp)

beforeAll(async () => {
  await initBackend()
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const config = (): ConvertConfig =>
  ConvertConfig.parse({
    model: modelDir,
    layer: 1,
    data: corpus,
    kind: 'toy_gained',
    width: 48,
    k: 4,
    ctx: 32,
    batch: 64,
    tokens: 64 * 16,
    bufferRows: 512,
    harvestBatch: 4,
    lr: 3e-3,
    metricsEvery: 2,
    evaluate: false,
  })

describe('a layer kind added through the registry alone', () => {
  it('is refused by the config schema until registered, with the registered kinds listed', () => {
    const parsed = ConvertConfig.safeParse({ model: modelDir, layer: 1, data: corpus, kind: 'toy_gained' })
    expect(parsed.success).toBe(false)
    expect(parsed.error!.issues[0]!.message).toBe('unknown layer kind "toy_gained": use one of "mxd", "transcoder", "skip_transcoder"')
  })

  it('trains through the conversion job, exports, imports back and splices into the model', async () => {
    registerSparseLayerKind(toyImpl)
    const cfg = config()
    // The preview reads the descriptor: its parameters and the default-width rule.
    const preview = previewConversion(cfg, { architecture: 'gpt2', layers: 2, dModel: 32, mlpWidth: 128, contextLength: 64 })
    expect(preview.params.layer).toBe(32 * 48 + 48 + 48 * 32 + 2 * 32)
    expect(
      previewConversion({ ...cfg, width: undefined }, { architecture: 'gpt2', layers: 2, dModel: 32, mlpWidth: 128, contextLength: 64 })
        .width,
    ).toBe(128)

    // 1. Train with the real job on a real store.
    const store = new Store({ dir: join(tmp, 'store') })
    const run = store.createRun('convert', cfg, 'running')
    const result = await trainConversion(jobContext(store, cfg, run.id))
    expect(result!.step).toBe(16)
    const nmse = store.getMetrics(run.id).filter((m) => m.name === 'nmse')
    expect(nmse.at(-1)!.value).toBeLessThan(nmse[0]!.value)
    const trained = loadLayerFolder(result!.layerDir)
    expect(trained.layer).toBeInstanceOf(ToyLayer)
    // Every step renormalised the unit-norm rows the descriptor names.
    for (const n of tf.tidy(() => tf.sqrt(tf.sum(tf.square(trained.layer.params.W_out!), 1)).dataSync())) expect(n).toBeCloseTo(1, 5)

    // 2. Export (cfg.json + safetensors), then import the export as a new run.
    const out = join(tmp, 'exported')
    await exportLayerFolder(runLayerDir(store, run.id), out)
    const written = JSON.parse(readFileSync(join(out, LAYER_CONFIG_FILE), 'utf8')) as Record<string, unknown>
    expect(written).toMatchObject({
      architecture: 'toy_gained',
      d_in: 32,
      d_out: 32,
      d_sae: 48,
      n_experts: null,
      hidden: null,
      k: 4,
      parameters: preview.params.layer,
    })
    expect(written.model_hash).toBe(modelFingerprint(modelDir))
    const imported = importLayer(store, out)
    expect(imported.cfg.architecture).toBe('toy_gained')
    // The frontier draws the new kind as a series of its own: the trained run and its import.
    const frontier = layerFrontier(store, modelDir, 1)
    expect(frontier.series.map((s) => [s.kind, s.points.map((p) => [p.runId, p.width, p.parameters])])).toEqual([
      [
        'toy_gained',
        [
          [run.id, 48, preview.params.layer],
          [imported.run.id, 48, preview.params.layer],
        ],
      ],
    ])
    const { layer, cfg: importedCfg } = loadLayerFolder(runLayerDir(store, imported.run.id))
    expect(layer).toBeInstanceOf(ToyLayer)
    const before = trained.layer.toTensors()
    for (const [name, t] of Object.entries(layer.toTensors())) expect(t.data).toEqual(before[name]!.data)
    trained.layer.dispose()

    // 3. Splice the imported layer into block 1 (the one rule: same model, so allowed).
    expect(() => checkLayerModel(importedCfg, modelDir, 'The toy layer')).not.toThrow()
    const model = await loadLanguageModel(modelDir)
    const ids = [
      [5, 17, 200, 3, 44, 90],
      [61, 2, 150, 9, 33, 7],
    ]
    const codesName = codesHookName(layer.kind, importedCfg.layer)
    expect(codesName).toBe('blocks.1.toy.hook_codes')
    const dense = model.forward(ids, { cacheNames: [hookNames.mlpOut(1)] })
    const spliced = forwardSpliced(model, ids, {
      cacheNames: [hookNames.ln2(1), hookNames.mlpOut(1), codesName],
      splices: [{ block: importedCfg.layer, layer }],
    })
    const denseLogits = Array.from(dense.logits!.dataSync())
    const splicedLogits = Array.from(spliced.logits!.dataSync())
    const maxDiff = denseLogits.reduce((m, v, i) => Math.max(m, Math.abs(v - splicedLogits[i]!)), 0)
    expect(maxDiff).toBeGreaterThan(1e-3)
    // The block's MLP output is the toy layer's own forward on the activations the hook saw.
    const x = tf.reshape(spliced.cache[hookNames.ln2(1)]!, [12, 32]) as tf.Tensor2D
    const direct = layer.forward(x)
    expectClose(spliced.cache[hookNames.mlpOut(1)]!.dataSync(), direct.y.dataSync(), 1e-5, 'mlp_out')
    expect(spliced.cache[codesName]!.shape).toEqual([2, 6, 48])
    expect([...spliced.cache[codesName]!.dataSync()]).toEqual([...direct.codes.dataSync()])
    tf.dispose([x, direct.y, direct.codes, dense.logits!, spliced.logits!, ...Object.values(dense.cache), ...Object.values(spliced.cache)])
    layer.dispose()
    model.dispose()
    store.close()
  }, 120_000)
})
