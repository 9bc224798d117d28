// The curvature modules against PyTorch float64 (scripts/fixtures/make_privacy_fixtures.py: the
// objective written there again, autograd's gradient and torch.autograd.functional.hessian), for
// logistic regression and the MLP, all three L_K variants and temperatures 1 and 2: F's parts, ∇F,
// every Hessian column H e_i, H v for random v (torch's H times v, in float64 here), the dense H,
// and the per-example gradient norms. Logreg is float64 throughout (1e-6 relative, checked far
// tighter); the MLP's products with the inputs are float32 (1e-4).
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { disposeParams } from '../../../src/engine/classifiers/classifier.js'
import { createClassifier } from '../../../src/engine/classifiers/registry.js'
import { FAST_PRODUCTS_MIN, logregCurvature } from '../../../src/engine/privacy/curvature/logreg.js'
import { CURVATURES, curvatureFor, type Curvature } from '../../../src/engine/privacy/curvature/registry.js'
import { CERTIFIABLE_MODEL_KINDS } from '../../../src/shared/privacy.js'
import { flattenParams, paramLayout, paramsFromVector } from '../../../src/engine/privacy/params.js'
import { uniform } from '../layers/helpers.js'
import { CASES, loadCase, relError } from './fixtures.js'

beforeAll(async () => {
  await initBackend()
})

const tol = (name: string): number => (name.startsWith('logreg') ? 1e-9 : 1e-4)

describe.each(CASES)('curvature %s', (name) => {
  const c = loadCase(name)
  const P = c.get('w').length
  const w = c.get('w')
  const H = c.get('hessian')
  let curvature: Curvature
  beforeAll(() => {
    curvature = curvatureFor(c.model, c.sets, c.objective)
  })

  it('F, its parts and ∇F match torch', () => {
    expect(curvature.size).toBe(P)
    const v = curvature.value(w)
    expect(relError([v.total, v.lossK, v.lossA, v.regulariser], c.get('value'))).toBeLessThan(tol(name) / 10)
    expect(relError(curvature.gradient(w), c.get('gradient'))).toBeLessThan(tol(name))
  })

  it('H e_i is column i of torch Hessian, for every i', () => {
    const op = curvature.hessian(w)
    const e = new Float64Array(P)
    let worst = 0
    for (let i = 0; i < P; i++) {
      e[i] = 1
      const col = op.apply(e)
      e[i] = 0
      const ref = Float64Array.from({ length: P }, (_, r) => H[r * P + i]!)
      worst = Math.max(worst, relError(col, ref) * Math.max(...ref.map(Math.abs)))
    }
    const scale = Math.max(...H.map(Math.abs))
    expect(worst / scale).toBeLessThan(tol(name))
    expect(op.method).toMatch(name.startsWith('logreg') ? /closed form, float64/ : /R-operator/)
  })

  it('H v matches torch H times random v, and dense() is torch Hessian', () => {
    const op = curvature.hessian(w)
    const rand = uniform(P)
    for (let t = 0; t < 3; t++) {
      const v = Float64Array.from({ length: P }, () => rand())
      const ref = new Float64Array(P)
      for (let r = 0; r < P; r++) for (let j = 0; j < P; j++) ref[r]! += H[r * P + j]! * v[j]!
      expect(relError(op.apply(v), ref)).toBeLessThan(tol(name))
    }
    expect(op.dense).toBeDefined()
    expect(relError(op.dense!(), H)).toBeLessThan(tol(name))
  })

  it('per-example gradient norms of ℓ_K on D_f and of the cross-entropy on D_r match torch', () => {
    expect(relError(curvature.perExampleGradientNorms(w, 'forget'), c.get('pgn_forget'))).toBeLessThan(tol(name))
    expect(relError(curvature.perExampleGradientNorms(w, 'retain'), c.get('pgn_retain'))).toBeLessThan(tol(name))
  })
})

describe.each(CASES.filter((n) => n.startsWith('logreg')))('logreg %s: float32 pixel products and the diagonal', (name) => {
  const c = loadCase(name)
  const P = c.get('w').length
  const w = c.get('w')
  const H = c.get('hessian')

  it('the fixtures are below FAST_PRODUCTS_MIN, so auto is the exact float64 path', () => {
    const n = c.sets.forget.labels.length + c.sets.retain.labels.length
    expect(n * 25).toBeLessThan(FAST_PRODUCTS_MIN)
    expect(curvatureFor(c.model, c.sets, c.objective).hessian(w).method).toBe('closed form, float64')
  })

  it('forced float32 products: F, ∇F, H v and every column H e_i match torch to 1e-5', () => {
    const fast = logregCurvature(c.model, c.sets, c.objective, { products: 'float32' })
    const v = fast.value(w)
    expect(relError([v.total, v.lossK, v.lossA, v.regulariser], c.get('value'))).toBeLessThan(1e-6)
    expect(relError(fast.gradient(w), c.get('gradient'))).toBeLessThan(1e-5)
    const op = fast.hessian(w)
    expect(op.method).toMatch(/float32 tfjs products with the pixels/)
    const e = new Float64Array(P)
    const cols = new Float64Array(P * P)
    for (let i = 0; i < P; i++) {
      e[i] = 1
      const col = op.apply(e)
      e[i] = 0
      for (let r = 0; r < P; r++) cols[r * P + i] = col[r]!
    }
    expect(relError(cols, H)).toBeLessThan(1e-5)
    const rand = uniform(P + 1)
    const x = Float64Array.from({ length: P }, () => rand())
    const ref = new Float64Array(P)
    for (let r = 0; r < P; r++) for (let j = 0; j < P; j++) ref[r]! += H[r * P + j]! * x[j]!
    const got = op.apply(x)
    expect(relError(got, ref)).toBeLessThan(1e-5)
    // And it is float32 rounding, not the float64 path under another name.
    expect(relError(got, ref)).toBeGreaterThan(1e-12)
  })

  it('hessianDiagonal is the diagonal of torch Hessian (λ included), on both paths', () => {
    const diag = Float64Array.from({ length: P }, (_, i) => H[i * P + i]!)
    for (const products of ['float64', 'float32'] as const) {
      const got = logregCurvature(c.model, c.sets, c.objective, { products }).hessianDiagonal!(w)
      expect(relError(got, diag)).toBeLessThan(products === 'float64' ? 1e-12 : 1e-5)
    }
    expect(Math.min(...diag)).toBeGreaterThanOrEqual(c.objective.lambda)
  })
})

describe('parameter vector', () => {
  it('paramLayout follows init() key order, row-major; flatten(paramsFromVector(w)) = float32(w)', () => {
    const c = loadCase('mlp-squared-t1')
    const layout = paramLayout(c.model)
    expect(layout.map((s) => [s.name, s.shape, s.offset, s.size])).toEqual([
      ['fc1.weight', [25, 5], 0, 125],
      ['fc1.bias', [5], 125, 5],
      ['fc2.weight', [5, 3], 130, 15],
      ['fc2.bias', [3], 145, 3],
    ])
    const w = c.get('w')
    const params = paramsFromVector(c.model, layout, w)
    expect(Object.keys(params.weights)).toEqual(layout.map((s) => s.name))
    expect(params.buffers).toEqual({})
    // Row-major: fc1.weight[2][3] is w[2·5 + 3].
    expect(params.weights['fc1.weight']!.arraySync() as number[][]).toSatisfy((m: number[][]) => m[2]![3] === Math.fround(w[13]!))
    const back = flattenParams(params, layout)
    expect(Array.from(back)).toEqual(Array.from(w, (x) => Math.fround(x)))
    disposeParams(params)
    expect(() => paramsFromVector(c.model, layout, w.subarray(1))).toThrow(/147 values, this mlp has 148/)
  })

  it('the model forward on paramsFromVector(w) gives the logits the curvature uses (F agrees)', () => {
    // F at float32(w) through the classifier's own forward (tfjs) and through the curvature module.
    const c = loadCase('logreg-reverse-kl-t1')
    const layout = paramLayout(c.model)
    const w32 = Float64Array.from(c.get('w'), (x) => Math.fround(x))
    const params = paramsFromVector(c.model, layout, w32)
    const n = c.sets.retain.labels.length
    const images = Float32Array.from(c.sets.retain.images, (b) => b / 255)
    const logits = c.model.forward(params, tf.tensor4d(images, [n, 5, 5, 1]), { training: false }).arraySync() as number[][]
    disposeParams(params)
    let ce = 0
    for (let i = 0; i < n; i++) {
      const z = logits[i]!
      const m = Math.max(...z)
      ce += m + Math.log(z.reduce((s, x) => s + Math.exp(x - m), 0)) - z[c.sets.retain.labels[i]!]!
    }
    const v = curvatureFor(c.model, c.sets, c.objective).value(w32)
    expect(Math.abs(v.lossA - ce / n)).toBeLessThan(1e-5)
  })
})

describe('curvatureFor', () => {
  it('has a curvature module for exactly the kinds the API offers the certified path for', () => {
    expect(Object.keys(CURVATURES).sort()).toEqual([...CERTIFIABLE_MODEL_KINDS].sort())
  })

  it('refuses a kind without an exact curvature, naming it and the way out', () => {
    const c = loadCase('logreg-squared-t1')
    const mixer = createClassifier('mixer', { patch: 5 }, c.model.shape)
    expect(() => curvatureFor(mixer, c.sets, c.objective)).toThrow(
      /supports the logreg and mlp classifiers, not "mixer".*Pareto fine-tuning, which works for every classifier/,
    )
  })

  it('refuses sets of another image size and labels outside the classes', () => {
    const c = loadCase('logreg-squared-t1')
    expect(() => curvatureFor(c.model, { ...c.sets, forget: { ...c.sets.forget, height: 4 } }, c.objective)).toThrow(
      /forget set's images are 4×5×1, the logreg takes 5×5×1/,
    )
    const labels = Uint8Array.from(c.sets.retain.labels)
    labels[3] = 7
    expect(() => curvatureFor(c.model, { ...c.sets, retain: { ...c.sets.retain, labels } }, c.objective)).toThrow(
      /label 7 \(row 3\) is not one of the model's 3 classes/,
    )
  })
})
