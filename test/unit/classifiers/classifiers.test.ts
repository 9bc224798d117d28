// The registry and configs (defaults, bounds, errors that say what to change), patch extraction
// against a hand loop, the parameter-matched μMoE rank against the dense mixer's size, and a
// training sanity check: on a small separable image set a few optimizer steps reach 100% train
// accuracy (MLP with AdamW, CPμMoE mixer with SGD + momentum), without leaking tensors.
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { disposeParams, heldParamCount, type ImageShape } from '../../../src/engine/classifiers/classifier.js'
import { matchedMixerRank, mixerSchema, patchify } from '../../../src/engine/classifiers/mixer.js'
import { CLASSIFIER_KINDS, createClassifier } from '../../../src/engine/classifiers/registry.js'
import { classifierPredict, classifierStep, makeOptimizer, type OptimizerConfig } from '../../../src/engine/classifiers/train.js'
import type { TRRanks } from '../../../src/engine/layers/mumoe.js'
import { uniform } from '../layers/helpers.js'

beforeAll(async () => {
  await initBackend()
})

const FASHION: ImageShape = { height: 28, width: 28, channels: 1, classes: 10 }
/** The small mixer of docs/classifiers.md: 49 patches of 4×4, C = 128, Dt = 64, Dc = 512, depth 4. */
const SMALL_MIXER = { patch: 4, hidden: 128, tokenMixing: 64, channelMixing: 512, depth: 4 }

describe('registry', () => {
  it('lists the three classifiers and fills defaults from the schema', () => {
    expect(CLASSIFIER_KINDS).toEqual(['logreg', 'mlp', 'mixer'])
    // MLP, hidden 100 by default: 784·100 + 100 + 100·10 + 10 parameters.
    expect(createClassifier('mlp', {}, FASHION).paramCount()).toBe(784 * 100 + 100 + 100 * 10 + 10)
    expect(createClassifier('logreg', {}, FASHION).paramCount()).toBe(784 * 10 + 10)
    expect(mixerSchema.parse({})).toMatchObject({ ...SMALL_MIXER, mlp: 'dense', experts: 16, ringRank: 4 })
  })

  it('refuses bad configs with the field and what to do', () => {
    expect(() => createClassifier('convnet', {}, FASHION)).toThrow(/unknown classifier "convnet".*logreg, mlp, mixer/)
    expect(() => createClassifier('mixer', { depth: 0 }, FASHION)).toThrow(/depth/)
    expect(() => createClassifier('mlp', { hidden: 1e6 }, FASHION)).toThrow(/hidden/)
    expect(() => createClassifier('mlp', { hidden: 10, extra: 1 }, FASHION)).toThrow(/extra|Unrecognized/)
    expect(() => createClassifier('mixer', { patch: 5 }, FASHION)).toThrow(/patch size 5 does not divide the 28×28 images/)
    expect(() => createClassifier('mixer', { ...SMALL_MIXER, channelMixing: 4, mlp: 'cpmoe', experts: 4096 }, FASHION)).toThrow(/fewer experts/)
  })
})

it('patchify orders each patch (dy, dx, channel) and the patches row-major, as a hand loop', () => {
  const [B, H, W, C, p] = [2, 4, 6, 3, 2]
  const data = Float32Array.from({ length: B * H * W * C }, (_, i) => i)
  const images = tf.tensor4d(data, [B, H, W, C])
  const got = patchify(images, p)
  const want: number[] = []
  for (let b = 0; b < B; b++)
    for (let py = 0; py < H / p; py++)
      for (let px = 0; px < W / p; px++)
        for (let dy = 0; dy < p; dy++)
          for (let dx = 0; dx < p; dx++)
            for (let c = 0; c < C; c++) want.push(data[((b * H + py * p + dy) * W + px * p + dx) * C + c]!)
  expect(got.shape).toEqual([B, (H / p) * (W / p), p * p * C])
  expect(Array.from(got.dataSync())).toEqual(want)
  tf.dispose([images, got])
})

describe('parameter-matched μMoE mixer', () => {
  // Per block the μMoE channel MLP (gate + two layers) is linear in its rank; the matched rank is the
  // largest that stays within the dense MLP, so the whole model is short of the dense one by less
  // than depth × (the parameters one more unit of rank adds to a block).
  const I = SMALL_MIXER.hidden
  const H = SMALL_MIXER.channelMixing
  it.each([16, 64])('%i experts: CP and TR ranks keep the model at most the dense size, within one rank unit per block', (N) => {
    const cp = matchedMixerRank({ ...mixerSchema.parse(SMALL_MIXER), mlp: 'cpmoe', experts: N }, FASHION)
    const cpUnit = 2 * N + I + 2 * H + I + 2 // R·(N + I+1 + H) + R·(N + H+1 + I)
    expect(cp.mumoeParams).toBeLessThanOrEqual(cp.denseParams)
    expect(cp.denseParams - cp.mumoeParams).toBeLessThan(SMALL_MIXER.depth * cpUnit)

    const tr = matchedMixerRank({ ...mixerSchema.parse(SMALL_MIXER), mlp: 'trmoe', experts: N }, FASHION)
    const { r1, r2 } = tr.rank as TRRanks
    const trUnit = r2 * (I + 1) + r1 * H + r2 * (H + 1) + r1 * I // r3's coefficient in both layers
    expect(tr.mumoeParams).toBeLessThanOrEqual(tr.denseParams)
    expect(tr.denseParams - tr.mumoeParams).toBeLessThan(SMALL_MIXER.depth * trUnit)
    // The stated tolerance of docs/classifiers.md: CP within 1%, TR within 3% of the dense model.
    expect((cp.denseParams - cp.mumoeParams) / cp.denseParams).toBeLessThan(0.01)
    expect((tr.denseParams - tr.mumoeParams) / tr.denseParams).toBeLessThan(0.03)
  })

  it('the dense size is counted by hand, and init() holds exactly paramCount() parameters', () => {
    const P = 49
    const block = 4 * I + (P * 64 + 64) + (64 * P + P) + (I * H + H) + (H * I + I)
    const dense = 16 * I + I + 4 * block + 2 * I + (I * 10 + 10)
    expect(matchedMixerRank({ ...mixerSchema.parse(SMALL_MIXER), mlp: 'cpmoe', experts: 16 }, FASHION).denseParams).toBe(dense)
    for (const mlp of ['cpmoe', 'trmoe'] as const) {
      const model = createClassifier('mixer', { ...SMALL_MIXER, mlp, experts: 16 }, FASHION)
      const params = model.init(1)
      expect(heldParamCount(params)).toBe(model.paramCount())
      disposeParams(params)
    }
  })
})

it('a μMoE mixer reports each block’s gate [B, P, N], every patch on the simplex', () => {
  const shape: ImageShape = { height: 8, width: 8, channels: 1, classes: 3 }
  const model = createClassifier('mixer', { patch: 2, hidden: 8, tokenMixing: 4, channelMixing: 8, depth: 2, mlp: 'trmoe', experts: 5, rank: 2, ringRank: 2 }, shape)
  const params = model.init(2)
  const images = tf.randomUniform([3, 8, 8, 1], 0, 1, 'float32', 9) as tf.Tensor4D
  const seen: { block: number; shape: number[]; sums: number[] }[] = []
  const onGate = (block: number, a: tf.Tensor3D): number => seen.push({ block, shape: a.shape, sums: Array.from(tf.sum(a, -1).dataSync()) })
  const logits = tf.tidy(() => model.forward(params, images, { training: false, onGate }))
  expect(seen.map((s) => s.block)).toEqual([0, 1])
  for (const s of seen) {
    expect(s.shape).toEqual([3, 16, 5])
    for (const v of s.sums) expect(v).toBeCloseTo(1, 5)
  }
  tf.dispose([logits, images])
  disposeParams(params)
})

/** Four classes of 8×8 images: class k is a bright 4×4 quadrant k on uniform noise in [0, 0.3). */
function separableSet(perClass: number): { images: tf.Tensor4D; labels: Int32Array } {
  const rand = uniform(5)
  const n = 4 * perClass
  const data = new Float32Array(n * 64)
  const labels = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const k = i % 4
    labels[i] = k
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++) {
        const inQuadrant = (y < 4 ? 0 : 2) + (x < 4 ? 0 : 1) === k
        data[i * 64 + y * 8 + x] = rand(0, 0.3) + (inQuadrant ? 0.7 : 0)
      }
  }
  return { images: tf.tensor4d(data, [n, 8, 8, 1]), labels }
}

describe('training sanity: 100% train accuracy on a separable set', () => {
  const shape: ImageShape = { height: 8, width: 8, channels: 1, classes: 4 }
  const cases: [string, string, unknown, OptimizerConfig][] = [
    ['MLP + AdamW', 'mlp', { hidden: 16 }, { kind: 'adamw', lr: 1e-2 }],
    ['CPμMoE mixer + SGD momentum', 'mixer', { patch: 2, hidden: 16, tokenMixing: 8, channelMixing: 32, depth: 1, mlp: 'cpmoe', experts: 4 }, { kind: 'sgd', lr: 0.05, momentum: 0.9 }],
  ]
  it.each(cases)('%s', (_name, kind, config, opt) => {
    const batch = separableSet(10)
    const model = createClassifier(kind, config, shape)
    const params = model.init(3)
    const optimizer = makeOptimizer(params, opt)
    const losses: number[] = []
    let accuracy = 0
    let tensorsAfterFirstStep = 0
    for (let step = 0; step < 40 && accuracy < 1; step++) {
      losses.push(classifierStep(model, params, optimizer, batch))
      // The optimizer's state exists after the first step; from then on a step keeps no tensor.
      if (step === 0) tensorsAfterFirstStep = tf.memory().numTensors
      const predicted = classifierPredict(model, params, batch.images)
      accuracy = predicted.filter((p, i) => p === batch.labels[i]).length / predicted.length
    }
    expect(accuracy).toBe(1)
    expect(losses.length).toBeGreaterThan(1)
    expect(losses.at(-1)!).toBeLessThan(losses[0]!)
    expect(tf.memory().numTensors).toBe(tensorsAfterFirstStep)
    optimizer.dispose()
    disposeParams(params)
    batch.images.dispose()
  })
})
