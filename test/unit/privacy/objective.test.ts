// The objective F(w) = θ·L_K(D_f) + (1−θ)·CE(D_r) + (λ/2)‖w‖² as tfjs losses, against float64
// loops written in reference.ts: its four terms and its gradients (total and L_K alone) for
// logistic regression and the MLP, all three uncertainty losses, at temperature 2. Also the
// confidence distance by hand, L_K's stability on huge logits, and the model report on a
// uniform-output model (every number known in closed form).
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { disposeParams, type ClassifierParams } from '../../../src/engine/classifiers/classifier.js'
import { createClassifier } from '../../../src/engine/classifiers/registry.js'
import { batchTensor, rangeIndices } from '../../../src/engine/classifiers/rows.js'
import { weightGrads } from '../../../src/engine/classifiers/train.js'
import { confidenceDistance, objectiveTerms, objectiveValue, uncertaintyLoss } from '../../../src/engine/privacy/objective.js'
import { confidenceSummary, modelReport } from '../../../src/engine/privacy/report.js'
import type { LabelledRows, ObjectiveConfig, UncertaintyLoss } from '../../../src/engine/privacy/types.js'
import { predictLogits } from '../../../src/engine/classifiers/rows.js'
import { expectClose, uniform } from '../layers/helpers.js'
import { lossK64, numericGradient, objective64, weights64 } from './reference.js'

beforeAll(async () => {
  await initBackend()
})

const SHAPE = { height: 3, width: 3, channels: 2, classes: 4 }
const D = 18

function randomRows(n: number, seed: number): LabelledRows {
  const r = uniform(seed)
  return {
    images: Uint8Array.from({ length: n * D }, () => Math.floor(r(0, 256))),
    labels: Uint8Array.from({ length: n }, () => Math.floor(r(0, 4))),
    ...SHAPE,
  }
}

/** A model whose weights are drawn U(±scale) (larger than init, so the probabilities are far from uniform). */
function modelWithWeights(kind: 'logreg' | 'mlp', seed: number, scale: number): { model: ReturnType<typeof createClassifier>; params: ClassifierParams } {
  const model = createClassifier(kind, kind === 'mlp' ? { hidden: 6 } : {}, SHAPE)
  const params = model.init(seed)
  const r = uniform(seed + 100)
  for (const v of Object.values(params.weights)) v.assign(tf.tensor(Float32Array.from({ length: v.size }, () => r(-scale, scale)), v.shape))
  return { model, params }
}

const KINDS: UncertaintyLoss[] = ['forward-kl', 'reverse-kl', 'squared']

describe('objective terms and gradients vs float64', () => {
  const forget = randomRows(5, 1)
  const retain = randomRows(7, 2)
  for (const kind of ['logreg', 'mlp'] as const) {
    for (const lossK of KINDS) {
      it(`${kind}, ${lossK}, temperature 2`, () => {
        const { model, params } = modelWithWeights(kind, kind === 'mlp' ? 3 : 4, kind === 'mlp' ? 0.8 : 0.5)
        const cfg: ObjectiveConfig = { theta: 0.7, lambda: 0.03, lossK, temperature: 2 }
        const f = batchTensor(forget, rangeIndices(0, 5))
        const r = batchTensor(retain, rangeIndices(0, 7))
        const w = weights64(params)
        const ref = objective64(kind, w, forget, retain, 4, cfg)
        expect(ref.lossK).toBeGreaterThan(0.01) // the probabilities are far from uniform: the test has something to check

        const terms = objectiveTerms(model, params, f.images, r, cfg)
        const values = [terms.total, terms.lossK, terms.lossA, terms.regulariser].map((s) => s.dataSync()[0]!)
        expectClose(values, [ref.total, ref.lossK, ref.lossA, ref.regulariser], 2e-6, 'F, L_K, L_A, reg')
        tf.dispose(Object.values(terms))

        // From logits (the path the per-epoch record takes).
        const value = objectiveValue(predictLogits(model, params, forget), predictLogits(model, params, retain), retain.labels, params, 4, cfg)
        expectClose([value.total, value.lossK, value.lossA, value.regulariser], [ref.total, ref.lossK, ref.lossA, ref.regulariser], 2e-6, 'objectiveValue')

        for (const part of ['total', 'lossK'] as const) {
          const { value: v, grads } = weightGrads(params, () => objectiveTerms(model, params, f.images, r, cfg)[part])
          const expected = numericGradient(w, (x) => objective64(kind, x, forget, retain, 4, cfg)[part])
          for (const name of Object.keys(params.weights)) expectClose(grads[name]!.dataSync(), expected[name]!, 2e-4, `∂${part}/∂${name}`)
          tf.dispose([v, ...Object.values(grads)])
        }
        tf.dispose([f.images, r.images])
        disposeParams(params)
      })
    }
  }
})

describe('uncertainty loss', () => {
  it('is 0 on uniform outputs and finite on huge logits (log-softmax, no overflow)', () => {
    for (const kind of KINDS) {
      const flat = tf.tensor2d([[3, 3, 3, 3]])
      expect(Math.abs(uncertaintyLoss(flat, kind).dataSync()[0]!)).toBeLessThan(1e-6)
      const huge = tf.tensor2d([
        [1e4, -1e4, 0, 5],
        [-3e4, 2e4, 1, 1],
      ])
      const v = uncertaintyLoss(huge, kind).dataSync()[0]!
      const ref = lossK64(Float64Array.from([1e4, -1e4, 0, 5, -3e4, 2e4, 1, 1]), 2, 4, kind)
      expect(Number.isFinite(v)).toBe(true)
      expect(Math.abs(v - ref) / Math.abs(ref)).toBeLessThan(1e-5)
      tf.dispose([flat, huge])
    }
  })
})

describe('confidence distance and reports', () => {
  it('confidence distance by hand', () => {
    // max p − 1/4: 0.7 − 0.25 = 0.45; uniform 0; 0.4 − 0.25 = 0.15; mean 0.6 / 3 = 0.2.
    const p = Float32Array.from([0.7, 0.1, 0.1, 0.1, 0.25, 0.25, 0.25, 0.25, 0.1, 0.4, 0.3, 0.2])
    expect(confidenceDistance(p, 4)).toBeCloseTo(0.2, 6)
    expect(confidenceDistance(new Float32Array(0), 4)).toBe(0)
    // One-hot everywhere: 1 − 1/K.
    expect(confidenceDistance(Float32Array.from([0, 0, 1, 1, 0, 0]), 3)).toBeCloseTo(2 / 3, 6)
  })

  it('a uniform-output model: distance 0, loss log K, every image in the first bin', () => {
    const model = createClassifier('logreg', {}, SHAPE)
    const params = model.init(0)
    for (const v of Object.values(params.weights)) v.assign(tf.zerosLike(v))
    const rows = randomRows(9, 5)
    const s = confidenceSummary(model, params, rows)
    expect(s.images).toBe(9)
    expect(s.distance).toBeLessThan(1e-7)
    expect(s.histogram.edges).toHaveLength(21)
    expect(s.histogram.edges[0]).toBeCloseTo(0.25, 12)
    expect(s.histogram.edges[20]).toBe(1)
    expect(s.histogram.counts[0]).toBe(9)
    // All logits tie: the first class is predicted, so accuracy is the share of label 0.
    expect(s.accuracy).toBeCloseTo(Array.from(rows.labels).filter((l) => l === 0).length / 9, 12)
    const report = modelReport(model, params, { forget: rows, retain: randomRows(11, 6) }, randomRows(4, 7))
    expect(report.retainLoss).toBeCloseTo(Math.log(4), 6)
    expect(report.forget.distance).toBeLessThan(1e-7)
    disposeParams(params)
  })

  it('histogram bins of a confident model by hand', () => {
    // Logreg with zero weights and bias (b, 0, 0, 0): max p = e^b / (e^b + 3) for every image.
    const model = createClassifier('logreg', {}, SHAPE)
    const params = model.init(0)
    params.weights['head.weight']!.assign(tf.zeros([D, 4]))
    const b = 2
    params.weights['head.bias']!.assign(tf.tensor1d([b, 0, 0, 0]))
    const rows = randomRows(6, 8)
    const s = confidenceSummary(model, params, rows)
    const pmax = Math.exp(b) / (Math.exp(b) + 3)
    expect(s.distance).toBeCloseTo(pmax - 0.25, 6)
    const bin = Math.floor((pmax - 0.25) / (0.75 / 20))
    expect(s.histogram.counts[bin]).toBe(6)
    expect(s.histogram.counts.reduce((a, c) => a + c, 0)).toBe(6)
    disposeParams(params)
  })
})
