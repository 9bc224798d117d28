// MxD layer: the factorized forward equals the sum over materialized experts (computed here in
// plain JS loops, independently), the full-rank lemma, parameter counts and the parameter-matched
// N of the paper, gradients against central finite differences, initialisation and the code hook.
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { mxdLoss } from '../../../src/engine/layers/loss.js'
import { mxdGateHookName, mxdParameterCount, MxDLayer, parameterMatchedExperts, type MxDConfig } from '../../../src/engine/layers/mxd.js'
import type { LayerTensors } from '../../../src/engine/layers/sparse-layer.js'
import { TranscoderLayer } from '../../../src/engine/layers/transcoder.js'
import { expectClose, uniform } from './helpers.js'

beforeAll(async () => {
  await initBackend()
})

/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), enough to check float32 outputs. */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x))
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x)
  return x >= 0 ? y : -y
}
const geluJs = (v: number): number => 0.5 * v * (1 + erf(v / Math.SQRT2))

/** Random weights for a small MxD, as plain arrays (row-major), D and b_out non-zero. */
function randomWeights(config: MxDConfig, seed: number): LayerTensors {
  const rand = uniform(seed)
  const out: LayerTensors = {}
  for (const [name, shape] of Object.entries(MxDLayer.shapes(config))) {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand(-0.8, 0.8))
    out[name] = { shape, data }
  }
  return out
}

describe('factorized MxD forward = Σ_n a_n W_nᵀ z + b_out with W_n = D·diag(c_n)', () => {
  it.each([false, true])('glu=%s', (glu) => {
    const config: MxDConfig = { dIn: 5, dOut: 4, hidden: 6, experts: 9, k: 3, glu }
    const { dIn: d, dOut: O, hidden: H, experts: N, k: K } = config
    const w = randomWeights(config, glu ? 11 : 7)
    const B = 5
    const rand = uniform(99)
    const xData = Float32Array.from({ length: B * d }, () => rand(-2, 2))
    const W = (n: string): Float32Array => w[n]!.data

    // Reference, in plain loops: z, gate a (TopK of ReLU), the materialized experts W_n, the sum.
    const expected = new Float64Array(B * O)
    for (let b = 0; b < B; b++) {
      const xb = (i: number): number => xData[b * d + i]!
      const z = Array.from({ length: H }, (_, h) => {
        let pre = W('b_E')[h]!
        for (let i = 0; i < d; i++) pre += xb(i) * W('E')[i * H + h]!
        let v = geluJs(pre)
        if (glu) {
          let u = W('b_glu')[h]!
          for (let i = 0; i < d; i++) u += xb(i) * W('E_glu')[i * H + h]!
          v *= u
        }
        return v
      })
      const g = Array.from({ length: N }, (_, n) => {
        let pre = W('b_G')[n]!
        for (let i = 0; i < d; i++) pre += xb(i) * W('G')[i * N + n]!
        return Math.max(0, pre)
      })
      const winners = [...g.keys()].sort((p, q) => g[q]! - g[p]!).slice(0, K)
      for (let o = 0; o < O; o++) {
        let y = W('b_out')[o]!
        for (const n of winners) {
          // W_n[h, o] = D[h, o] · c_n[o]
          for (let h = 0; h < H; h++) y += g[n]! * W('D')[h * O + o]! * W('C')[n * O + o]! * z[h]!
        }
        expected[b * O + o] = y
      }
    }

    const layer = MxDLayer.fromTensors(config, w)
    const x = tf.tensor2d(xData, [B, d])
    const { y, codes } = layer.forward(x)
    expectClose(y.dataSync(), expected, 1e-5, 'ŷ')
    // At most K non-zero coefficients per token.
    const a = codes.arraySync()
    for (const row of a) expect(row.filter((v) => v !== 0).length).toBeLessThanOrEqual(K)
    tf.dispose([x, y, codes])
    layer.dispose()
  })
})

/** Numeric rank by Gaussian elimination with partial pivoting (float64), relative tolerance. */
function rank(m: number[][]): number {
  const a = m.map((r) => [...r])
  const rows = a.length
  const cols = a[0]!.length
  const scale = Math.max(...a.flat().map(Math.abs))
  let r = 0
  for (let c = 0; c < cols && r < rows; c++) {
    let p = r
    for (let i = r + 1; i < rows; i++) if (Math.abs(a[i]![c]!) > Math.abs(a[p]![c]!)) p = i
    if (Math.abs(a[p]![c]!) <= 1e-10 * scale) continue
    ;[a[r], a[p]] = [a[p]!, a[r]!]
    for (let i = r + 1; i < rows; i++) {
      const f = a[i]![c]! / a[r]![c]!
      for (let j = c; j < cols; j++) a[i]![j]! -= f * a[r]![j]!
    }
    r++
  }
  return r
}

describe('Lemma: rank(W_n) = rank(D) when c_n has no zero entry', () => {
  const rand = uniform(5)
  const H = 7
  const O = 5
  const expert = (D: number[][], c: number[]): number[][] => D.map((row) => row.map((v, o) => v * c[o]!))
  const fullD = Array.from({ length: H }, () => Array.from({ length: O }, () => rand()))
  // A rank-2 D: product of H×2 and 2×O factors.
  const P = Array.from({ length: H }, () => [rand(), rand()])
  const Q = [Array.from({ length: O }, () => rand()), Array.from({ length: O }, () => rand())]
  const lowD = P.map((p) => Q[0]!.map((_, o) => p[0]! * Q[0]![o]! + p[1]! * Q[1]![o]!))

  it('holds for full-rank and rank-deficient D over many random c_n', () => {
    expect(rank(fullD)).toBe(O)
    expect(rank(lowD)).toBe(2)
    for (let t = 0; t < 20; t++) {
      const c = Array.from({ length: O }, () => (rand() < 0 ? -1 : 1) * rand(0.05, 1))
      expect(rank(expert(fullD, c))).toBe(rank(fullD))
      expect(rank(expert(lowD, c))).toBe(rank(lowD))
    }
  })

  it('fails when c_n has a zero (a full-column-rank D loses a rank per zero)', () => {
    const c = [0.5, 0, -0.3, 0, 0.9]
    expect(rank(expert(fullD, c))).toBe(O - 2)
  })
})

describe('parameter counts', () => {
  it('parameterMatchedExperts reproduces the paper: GPT-2, Pythia-410M, Pythia-1.4B, Llama-3.2-3B GLU and MLP', () => {
    expect(parameterMatchedExperts(768, 768, 3072, false)).toBe(21_490)
    expect(parameterMatchedExperts(1024, 1024, 4096, false)).toBe(28_658)
    expect(parameterMatchedExperts(2048, 2048, 8192, false)).toBe(57_330)
    expect(parameterMatchedExperts(3072, 3072, 8192, true)).toBe(86_015)
    expect(parameterMatchedExperts(3072, 3072, Math.floor(3072 * 2.67), false)).toBe(90_087)
  })

  it('the GLU formula matches full parameter counts: MxD ≤ the 32× transcoder < MxD with one more expert', () => {
    const [d, H] = [3072, 8192]
    const N = parameterMatchedExperts(d, d, H, true)
    const transcoder = 2 * d * 32 * d + 32 * d + d
    expect(mxdParameterCount(d, d, H, N, true)).toBeLessThanOrEqual(transcoder)
    expect(mxdParameterCount(d, d, H, N + 1, true)).toBeGreaterThan(transcoder)
  })

  it('layer.parameterCount() equals the formula and the sum of its tensors, for MxD and transcoders', () => {
    for (const glu of [false, true]) {
      const layer = MxDLayer.create({ dIn: 6, dOut: 5, hidden: 8, experts: 11, k: 2, glu })
      expect(layer.parameterCount()).toBe(mxdParameterCount(6, 5, 8, 11, glu))
      layer.dispose()
    }
    const tc = TranscoderLayer.create({ dIn: 6, dOut: 5, k: 2 })
    expect(tc.width).toBe(32 * 6)
    expect(tc.parameterCount()).toBe(6 * 192 + 192 + 192 * 5 + 5)
    tc.dispose()
    const skip = TranscoderLayer.create({ dIn: 6, dOut: 5, width: 20, k: 2, skip: true })
    expect(skip.kind).toBe('skip_transcoder')
    expect(skip.parameterCount()).toBe(6 * 20 + 20 + 20 * 5 + 5 + 5 * 6)
    skip.dispose()
  })
})

describe('initialisation (official code)', () => {
  it('MxD: unit-norm C rows, D = b_E = b_G = b_out = 0, E and G within ±1/√d_in', () => {
    const layer = MxDLayer.create({ dIn: 16, dOut: 6, hidden: 12, experts: 40, k: 4, glu: true, seed: 3 })
    const p = layer.params
    const norms = tf.tidy(() => tf.sqrt(tf.sum(tf.square(p.C!), 1)).dataSync())
    for (const n of norms) expect(n).toBeCloseTo(1, 5)
    for (const z of ['D', 'b_E', 'b_G', 'b_out']) expect(Math.max(...p[z]!.dataSync().map(Math.abs))).toBe(0)
    for (const u of ['E', 'G', 'E_glu', 'b_glu']) {
      const v = p[u]!.dataSync()
      expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(1 / 4)
      expect(Math.max(...v.map(Math.abs))).toBeGreaterThan(0.2)
    }
    // D = 0, so the layer outputs b_out = 0 at step 0.
    const x = tf.randomNormal([3, 16]) as tf.Tensor2D
    const { y, codes } = layer.forward(x)
    expect(Math.max(...y.dataSync().map(Math.abs))).toBe(0)
    tf.dispose([x, y, codes])
    layer.dispose()
  })

  it('skip transcoder: W_skip = W_dec = 0, and renormalisation leaves zero rows at zero', () => {
    const layer = TranscoderLayer.create({ dIn: 4, dOut: 3, width: 8, k: 2, skip: true })
    layer.afterStep()
    for (const n of ['W_skip', 'W_dec']) expect(Math.max(...layer.params[n]!.dataSync().map(Math.abs))).toBe(0)
    layer.dispose()
  })
})

describe('gradients vs central finite differences (float32 forward)', () => {
  const cases: [string, () => MxDLayer | TranscoderLayer][] = [
    ['mxd gelu', () => MxDLayer.fromTensors({ dIn: 4, dOut: 3, hidden: 5, experts: 6, k: 2 }, randomWeights({ dIn: 4, dOut: 3, hidden: 5, experts: 6, k: 2 }, 21))],
    [
      'mxd glu',
      () => MxDLayer.fromTensors({ dIn: 4, dOut: 3, hidden: 5, experts: 6, k: 2, glu: true }, randomWeights({ dIn: 4, dOut: 3, hidden: 5, experts: 6, k: 2, glu: true }, 22)),
    ],
    [
      'skip transcoder',
      () => {
        const config = { dIn: 4, dOut: 3, width: 7, k: 3, skip: true }
        const rand = uniform(23)
        const tensors: LayerTensors = {}
        for (const [n, shape] of Object.entries(TranscoderLayer.shapes(config))) {
          tensors[n] = { shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand(-0.8, 0.8)) }
        }
        return TranscoderLayer.fromTensors(config, tensors)
      },
    ],
  ]

  it.each(cases)('%s: every entry of every parameter', (_name, make) => {
    const layer = make()
    const rand = uniform(77)
    const dIn = layer.params.E?.shape[0] ?? layer.params.W_enc!.shape[0]!
    const dOut = layer.params.b_out?.shape[0] ?? layer.params.b_dec!.shape[0]!
    const B = 4
    const x = tf.tensor2d(Float32Array.from({ length: B * dIn! }, () => rand(-1.5, 1.5)), [B, dIn!])
    const target = tf.tensor2d(Float32Array.from({ length: B * dOut! }, () => rand(-1, 1)), [B, dOut!])
    // Loss and the code's non-zero pattern (a change means the step crossed a TopK or ReLU boundary).
    const evaluate = (): { loss: number; pattern: string } =>
      tf.tidy(() => {
        const { y, codes } = layer.forward(x)
        return { loss: mxdLoss(y, target).dataSync()[0]!, pattern: Array.from(codes.dataSync(), (v) => (v !== 0 ? 1 : 0)).join('') }
      })
    const { loss, grads } = layer.valueAndGrads(x, ({ y }) => mxdLoss(y, target))
    const base = evaluate().pattern
    const eps = 1e-3
    let checked = 0
    for (const [name, v] of Object.entries(layer.params)) {
      const analytic = grads[name]!.dataSync()
      const values = v.dataSync().slice()
      for (let i = 0; i < values.length; i++) {
        const at = (delta: number): { loss: number; pattern: string } => {
          const moved = values.slice()
          moved[i] = values[i]! + delta
          tf.tidy(() => v.assign(tf.tensor(moved, v.shape)))
          return evaluate()
        }
        const plus = at(eps)
        const minus = at(-eps)
        tf.tidy(() => v.assign(tf.tensor(values, v.shape)))
        if (plus.pattern !== base || minus.pattern !== base) continue
        const numeric = (plus.loss - minus.loss) / (2 * eps)
        expect(Math.abs(numeric - analytic[i]!), `${name}[${i}]: numeric ${numeric} vs analytic ${analytic[i]}`).toBeLessThanOrEqual(3e-4 + 1e-2 * Math.abs(analytic[i]!))
        checked++
      }
    }
    expect(checked).toBeGreaterThan(0.9 * layer.parameterCount())
    tf.dispose([x, target, loss, ...Object.values(grads)])
    layer.dispose()
  })
})

describe('code hook (steering)', () => {
  it('names the hook like TransformerLens and a +100 on one expert changes ŷ by 100·(c_n ∗ Dᵀz)', () => {
    expect(mxdGateHookName(8)).toBe('blocks.8.mxd.hook_gate')
    const config: MxDConfig = { dIn: 4, dOut: 3, hidden: 5, experts: 6, k: 2 }
    const layer = MxDLayer.fromTensors(config, randomWeights(config, 31))
    const x = tf.tensor2d([[0.3, -0.2, 0.5, 1.0]])
    const plain = layer.forward(x)
    const steered = layer.forward(x, { codeHook: (a) => tf.add(a, tf.mul(tf.oneHot(tf.tensor1d([4], 'int32'), 6), 100)) as tf.Tensor2D })
    expect(steered.codes.dataSync()[4]).toBeCloseTo(plain.codes.dataSync()[4]! + 100, 3)
    const expectedDelta = tf.tidy(() => {
      const z = tf.mul(tf.mul(tf.add(tf.matMul(x, layer.params.E!), layer.params.b_E!), 0.5), tf.add(tf.erf(tf.mul(tf.add(tf.matMul(x, layer.params.E!), layer.params.b_E!), Math.SQRT1_2)), 1))
      return tf.mul(tf.mul(tf.slice(layer.params.C!, [4, 0], [1, 3]), tf.matMul(z, layer.params.D!)), 100).dataSync()
    })
    const delta = tf.tidy(() => tf.sub(steered.y, plain.y).dataSync())
    expectClose(delta, expectedDelta, 1e-4, 'steering delta')
    tf.dispose([x, plain, steered])
    layer.dispose()
  })
})


