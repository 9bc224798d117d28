// Golden tests against an independent PyTorch implementation of each classifier
// (scripts/fixtures/make_classifier_fixtures.py: float64, μMoE through the materialised expert
// tensors, torch's own BatchNorm, entmax-1.5 written out there): the parameter layout, training-mode
// logits, the cross-entropy, every gradient, the BatchNorm running statistics, eval-mode logits, and
// two steps of AdamW and of SGD with momentum through classifierStep.
// Tolerance: max |engine − torch| ≤ REL · max |torch| per tensor (float32 against float64).
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { disposeParams, heldParamCount, type Classifier, type ClassifierParams, type ImageShape } from '../../../src/engine/classifiers/classifier.js'
import { createClassifier } from '../../../src/engine/classifiers/registry.js'
import { classifierLogits, classifierLossAndGrads, classifierStep, makeOptimizer, type ImageBatch, type OptimizerConfig } from '../../../src/engine/classifiers/train.js'
import { expectClose, readFixture, type Fixture } from '../layers/helpers.js'

const DIR = join(import.meta.dirname, '../../fixtures/classifiers')
const REL = 1e-5

beforeAll(async () => {
  await initBackend()
})

interface Case {
  f: Fixture
  model: Classifier
  batch: ImageBatch
}

function load(name: string): Case {
  const f = readFixture(name, DIR)
  const shape = JSON.parse(f.metadata.shape!) as ImageShape
  const model = createClassifier(f.metadata.kind!, JSON.parse(f.metadata.config!), shape)
  const img = f.get('images')
  const batch = { images: tf.tensor4d(img.data, img.shape as [number, number, number, number]), labels: Int32Array.from(f.get('labels').data) }
  return { f, model, batch }
}

/** The fixture's weights and buffers as fresh variables (each phase starts from these). */
function paramsOf(f: Fixture, prefix = 'param.'): ClassifierParams {
  const weights: ClassifierParams['weights'] = {}
  const buffers: ClassifierParams['buffers'] = {}
  for (const n of f.names) {
    const t = f.get(n)
    if (n.startsWith(prefix)) weights[n.slice(prefix.length)] = tf.variable(tf.tensor(t.data, t.shape))
    if (n.startsWith('buffer.')) buffers[n.slice('buffer.'.length)] = tf.variable(tf.tensor(t.data, t.shape), false)
  }
  return { weights, buffers }
}

/**
 * Parameters whose exact gradient is zero: the token-mixing MLP's output bias adds the same value
 * to every channel of a patch, which every later LayerNorm (over channels) removes. Torch's float64
 * gradient is ~1e-17 there, the engine's float32 one ~1e-8 of rounding: compared in absolute terms
 * (ZERO_ABS, against gradients of order 0.1), and left out of the AdamW comparison, because Adam
 * divides a gradient by its own scale and so turns either rounding into a full lr-sized step.
 */
const ZERO_ABS = 1e-6
const isStructurallyZero = (f: Fixture, n: string): boolean => maxAbs(f.get(`grad.${n}`).data) < 1e-12
const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0)

const shapesOf = (p: ClassifierParams): Record<string, number[]> =>
  Object.fromEntries(Object.entries({ ...p.weights, ...p.buffers }).map(([n, v]) => [n, v.shape]))

const CASES = ['logreg', 'mlp', 'mixer_dense', 'mixer_cpmoe', 'mixer_trmoe']

describe.each(CASES)('%s matches PyTorch', (name) => {
  it('init() makes the fixture’s parameter names and shapes, and paramCount() counts them', () => {
    const { f, model, batch } = load(name)
    const fresh = model.init(7)
    const fromFixture = paramsOf(f)
    expect(shapesOf(fresh)).toEqual(shapesOf(fromFixture))
    expect(model.paramCount()).toBe(heldParamCount(fresh))
    disposeParams(fresh)
    disposeParams(fromFixture)
    batch.images.dispose()
  })

  it('training-mode logits, loss, every gradient, running statistics; eval-mode logits', () => {
    const { f, model, batch } = load(name)
    const params = paramsOf(f)
    const logits = tf.tidy(() => model.forward(params, batch.images, { training: true }))
    expectClose(logits.dataSync(), f.get('logits').data, REL, 'logits')
    // The forward above updated the running statistics once; restore them for the gradient pass.
    disposeParams(params)
    const fresh = paramsOf(f)
    const { loss, grads } = classifierLossAndGrads(model, fresh, batch)
    expectClose(loss.dataSync(), f.get('loss').data, REL, 'loss')
    expect(Object.keys(grads).sort()).toEqual(Object.keys(fresh.weights).sort())
    const zero = Object.keys(grads).filter((n) => isStructurallyZero(f, n))
    expect(zero.every((n) => /^blocks\.\d+\.token\.fc2\.bias$/.test(n)), zero.join()).toBe(true)
    for (const [n, g] of Object.entries(grads)) {
      if (zero.includes(n)) expect(maxAbs(g.dataSync()), n).toBeLessThanOrEqual(ZERO_ABS)
      else expectClose(g.dataSync(), f.get(`grad.${n}`).data, REL, `grad.${n}`)
    }
    for (const [n, b] of Object.entries(fresh.buffers)) expectClose(b.dataSync(), f.get(`buffer_after.${n}`).data, REL, `buffer_after.${n}`)
    const evalLogits = classifierLogits(model, fresh, batch.images)
    expectClose(evalLogits.dataSync(), f.get('eval_logits').data, REL, 'eval_logits')
    // Eval mode reads the running statistics and leaves them alone.
    for (const [n, b] of Object.entries(fresh.buffers)) expectClose(b.dataSync(), f.get(`buffer_after.${n}`).data, REL, `${n} after eval`)
    tf.dispose([logits, loss, evalLogits, ...Object.values(grads), batch.images])
    disposeParams(fresh)
  })

  it.each(['adamw', 'sgd'] as const)('two classifierSteps with %s give torch’s weights', (opt) => {
    const { f, model, batch } = load(name)
    const params = paramsOf(f)
    const config = { kind: opt, ...JSON.parse(f.metadata[opt]!) } as OptimizerConfig
    const optimizer = makeOptimizer(params, config)
    const losses = [classifierStep(model, params, optimizer, batch), classifierStep(model, params, optimizer, batch)]
    expect(Math.abs(losses[0]! - f.get('loss').data[0]!)).toBeLessThanOrEqual(REL * Math.abs(f.get('loss').data[0]!))
    for (const [n, v] of Object.entries(params.weights)) {
      if (opt === 'adamw' && isStructurallyZero(f, n)) continue
      expectClose(v.dataSync(), f.get(`${opt}.${n}`).data, REL, `${opt}.${n}`)
    }
    optimizer.dispose()
    disposeParams(params)
    batch.images.dispose()
  })
})
