// Logistic regression's analytic constants (src/engine/privacy/constants.ts) against the
// quantities they bound, measured by a float64 logistic regression written here: per-example
// gradient norms by central differences in w, and the Hessian's change along a direction d by the
// third derivative of t ↦ ℓ(w + t d) (= dᵀ(H(w + t d) − H(w))d / t as t → 0; its sup over unit d is
// the Hessian-Lipschitz constant, Banach's theorem for symmetric tensors). And the MLP estimator
// on hand-made Hessians whose constants are known.
import { describe, expect, it } from 'vitest'
import { estimatedConstants, inputNormBound, logregConstants, logregConvex } from '../../../src/engine/privacy/constants.js'
import type { HessianOperator, LabelledRows, UncertaintyLoss } from '../../../src/engine/privacy/types.js'

// ------------------------------------------------------------ a float64 logistic regression

/** Seeded uniform [0, 1) (mulberry32), for the test's data only. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const normal = (r: () => number): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())

type Loss = UncertaintyLoss | 'ce'

/** ℓ at logits z (written from the definitions: log-softmax, KL, squared distance). */
function lossAt(z: number[], y: number, kind: Loss): number {
  const K = z.length
  const mx = Math.max(...z)
  const lse = mx + Math.log(z.reduce((s, v) => s + Math.exp(v - mx), 0))
  const logp = z.map((v) => v - lse)
  const p = logp.map(Math.exp)
  switch (kind) {
    case 'ce': return -logp[y]!
    case 'forward-kl': return p.reduce((s, pi, i) => s + pi * (logp[i]! + Math.log(K)), 0)
    case 'reverse-kl': return logp.reduce((s, lp) => s + (1 / K) * (-Math.log(K) - lp), 0)
    case 'squared': return p.reduce((s, pi) => s + (pi - 1 / K) ** 2, 0)
  }
}

/** w = (W [d×K] row-major, b [K]); z = (Wᵀx + b)/T. */
function logits(w: Float64Array, x: number[], K: number, T: number): number[] {
  const d = x.length
  const z: number[] = []
  for (let k = 0; k < K; k++) {
    let s = w[d * K + k]!
    for (let j = 0; j < d; j++) s += w[j * K + k]! * x[j]!
    z.push(s / T)
  }
  return z
}

const norm = (v: ArrayLike<number>): number => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0))

function gradNorm(w: Float64Array, x: number[], y: number, K: number, T: number, kind: Loss): number {
  const h = 1e-6
  const g = new Float64Array(w.length)
  for (let i = 0; i < w.length; i++) {
    const wp = Float64Array.from(w), wm = Float64Array.from(w)
    wp[i]! += h; wm[i]! -= h
    g[i] = (lossAt(logits(wp, x, K, T), y, kind) - lossAt(logits(wm, x, K, T), y, kind)) / (2 * h)
  }
  return norm(g)
}

/** d³/dt³ ℓ(w + t d) at 0 and d²/dt² (5-point stencils, float64), for unit d. */
function directional(w: Float64Array, d: Float64Array, x: number[], y: number, K: number, T: number, kind: Loss): { second: number; third: number } {
  const h = 1e-3
  const f = (t: number): number => lossAt(logits(w.map((wi, i) => wi + t * d[i]!), x, K, T), y, kind)
  const [f2, f1, f0, g1, g2] = [f(-2 * h), f(-h), f(0), f(h), f(2 * h)]
  return { second: (-f2 + 16 * f1 - 30 * f0 + 16 * g1 - g2) / (12 * h * h), third: (g2 - 2 * g1 + 2 * f1 - f2) / (2 * h ** 3) }
}

// ------------------------------------------------------------ data

const H = 4, W = 5, D = H * W, K = 10
const N = 12
function makeRows(seed: number): LabelledRows {
  const r = rng(seed)
  const images = new Uint8Array(N * D)
  for (let i = 0; i < images.length; i++) images[i] = Math.floor(r() * 256)
  const labels = new Uint8Array(N).map(() => Math.floor(r() * K))
  return { images, labels, height: H, width: W, channels: 1 }
}
const rows = makeRows(1)
const xs = Array.from({ length: N }, (_, i) => Array.from(rows.images.subarray(i * D, (i + 1) * D), (b) => b / 255))

describe('inputNormBound', () => {
  it('is max ‖[x; 1]‖ over all rows (hand computation)', () => {
    const a: LabelledRows = { images: new Uint8Array([255, 0, 0, 0, 51, 51, 51, 51]), labels: new Uint8Array([0, 1]), height: 2, width: 2, channels: 1 }
    // image 0: 1 + 1 = 2; image 1: 1 + 4·0.2² = 1.16
    expect(inputNormBound([a], 1 / 255)).toBeCloseTo(Math.SQRT2, 14)
    const b: LabelledRows = { images: new Uint8Array([255, 255, 255, 255]), labels: new Uint8Array([0]), height: 2, width: 2, channels: 1 }
    expect(inputNormBound([a, b], 1 / 255)).toBeCloseTo(Math.sqrt(5), 14)
  })
})

describe('logregConstants bound what they claim', () => {
  const R = inputNormBound([rows], 1 / 255)
  const base = { inputNorm: R, classes: K, theta: 0.5, lambda: 1e-3, normBound: 10, nForget: N, nRetain: N, parameters: (D + 1) * K }
  const variants: UncertaintyLoss[] = ['forward-kl', 'reverse-kl', 'squared']

  for (const T of [1, 2]) {
    it(`gradient norms and Hessian changes stay under L and M, within 100× (T = ${T})`, () => {
      const r = rng(7 + T)
      const P = (D + 1) * K
      const measured: Record<Loss, { L: number; M: number; minSecond: number }> = {
        'ce': { L: 0, M: 0, minSecond: Infinity }, 'forward-kl': { L: 0, M: 0, minSecond: Infinity },
        'reverse-kl': { L: 0, M: 0, minSecond: Infinity }, 'squared': { L: 0, M: 0, minSecond: Infinity },
      }
      for (const scale of [0.05, 0.3, 1, 3, 10]) {
        const w = Float64Array.from({ length: P }, () => scale * normal(r))
        for (let i = 0; i < N; i++) {
          const x = xs[i]!, y = rows.labels[i]!
          const xt = [...x, 1]
          for (const kind of ['ce', ...variants] as Loss[]) {
            const m = measured[kind]
            m.L = Math.max(m.L, gradNorm(w, x, y, K, T, kind))
            // Directions: a random one, and rank-one ones u x̃ᵀ (which move the logits the most).
            for (let s = 0; s < 10; s++) {
              const d = new Float64Array(P)
              if (s === 0) d.forEach((_, j) => (d[j] = normal(r)))
              else {
                const u = Array.from({ length: K }, () => normal(r))
                for (let j = 0; j <= D; j++) for (let k = 0; k < K; k++) d[j * K + k] = xt[j]! * u[k]!
              }
              const n = norm(d)
              d.forEach((v, j) => (d[j] = v / n))
              const { second, third } = directional(w, d, x, y, K, T, kind)
              m.M = Math.max(m.M, Math.abs(third))
              m.minSecond = Math.min(m.minSecond, second)
            }
          }
        }
      }
      for (const lossK of variants) {
        const c = logregConstants({ ...base, temperature: T, lossK, measuredLambdaMin: { value: -0.5, method: 'test' } })
        const pairs: [string, number, number][] = [
          ['L_A', c.L_A.value, measured.ce.L], ['M_A', c.M_A.value, measured.ce.M],
          ['L_K', c.L_K.value, measured[lossK].L], ['M_K', c.M_K.value, measured[lossK].M],
        ]
        for (const [name, bound, got] of pairs) {
          expect(bound, `${lossK} ${name}: bound ${bound} vs measured ${got}`).toBeGreaterThanOrEqual(got)
          expect(bound / got, `${lossK} ${name}: bound/measured`).toBeLessThan(100)
          console.log(`T=${T} ${lossK} ${name}: bound ${bound.toPrecision(4)} measured ${got.toPrecision(4)} ratio ${(bound / got).toFixed(2)}`)
        }
        for (const k of ['L_K', 'L_A', 'M_K', 'M_A'] as const) expect(c[k].provenance).toBe('bounded')
      }
      // Convexity as claimed: CE and reverse KL never curve down; forward KL and squared do.
      expect(measured.ce.minSecond).toBeGreaterThan(-1e-6)
      expect(measured['reverse-kl'].minSecond).toBeGreaterThan(-1e-6)
      expect(measured['forward-kl'].minSecond).toBeLessThan(-1e-4)
      expect(measured.squared.minSecond).toBeLessThan(-1e-4)
    })
  }

  it('λ_min: 0 (bounded) for the convex variant, the measurement − λ otherwise, refused without one', () => {
    expect(logregConvex('reverse-kl')).toBe(true)
    expect(logregConvex('forward-kl')).toBe(false)
    expect(logregConvex('squared')).toBe(false)
    const convex = logregConstants({ ...base, temperature: 1, lossK: 'reverse-kl' })
    expect(convex.lambdaMin).toMatchObject({ value: 0, provenance: 'bounded' })
    const fkl = logregConstants({ ...base, temperature: 1, lossK: 'forward-kl', measuredLambdaMin: { value: -0.2, method: 'exact (dense)' } })
    expect(fkl.lambdaMin.value).toBeCloseTo(-0.2 - 1e-3, 15)
    expect(fkl.lambdaMin.provenance).toBe('estimated')
    expect(fkl.lambdaMin.method).toContain('exact (dense)')
    expect(() => logregConstants({ ...base, temperature: 1, lossK: 'squared' })).toThrow(/not convex.*measuredLambdaMin/)
    expect(fkl.C).toMatchObject({ value: 10, provenance: 'assumed' })
    expect(fkl.lambda).toMatchObject({ value: 1e-3, provenance: 'computed' })
    expect(fkl.parameters.value).toBe(210)
    expect(fkl.inputNorm.value).toBe(R)
  })
})

// ------------------------------------------------------------ the MLP estimator

function denseOperator(P: number, entry: (i: number, j: number) => number): HessianOperator {
  return {
    size: P,
    method: 'test: dense',
    apply: (v) => Float64Array.from({ length: P }, (_, i) => {
      let s = 0
      for (let j = 0; j < P; j++) s += entry(i, j) * v[j]!
      return s
    }),
  }
}

describe('estimatedConstants', () => {
  const scalars = { classes: 10, lambda: 0.01, normBound: 5, nForget: 3, nRetain: 4, parameters: 0, inputNorm: 1, lambdaMin: { value: -0.3, method: 'Lanczos' }, samples: 6, radius: 0.1, seed: 3 }
  const norms = (set: 'forget' | 'retain'): Float64Array => (set === 'forget' ? Float64Array.from([0.5, 2.25, 1]) : Float64Array.from([3, 0.25, 1, 7.5]))

  it('a quadratic (constant Hessian) has M = 0; L is the largest per-example norm', () => {
    const P = 4
    const A = (i: number, j: number): number => (i === j ? 2 + i : 0.5)
    const c = estimatedConstants({ ...scalars, parameters: P, wStar: Float64Array.from([1, -1, 0.5, 2]), perExampleGradientNorms: norms, hessianAt: () => denseOperator(P, A) })
    expect(c.M_K.value).toBe(0)
    expect(c.M_A.value).toBe(0)
    expect(c.L_K.value).toBe(2.25)
    expect(c.L_A.value).toBe(7.5)
    expect(c.lambdaMin.value).toBeCloseTo(-0.31, 15)
    for (const k of ['L_K', 'L_A', 'M_K', 'M_A', 'lambdaMin'] as const) {
      expect(c[k].provenance).toBe('estimated')
      expect(c[k].method).toMatch(/at w\*/)
    }
  })

  it('a cubic Σ c_i w_i³/6 (Hessian diag(c_i w_i), third derivative bounded by max|c_i|)', () => {
    // P = 1: the Hessian changes by exactly c·r over a step r, so M = |c|.
    const one = estimatedConstants({ ...scalars, parameters: 1, wStar: Float64Array.from([0.7]), perExampleGradientNorms: norms, hessianAt: (w, set) => denseOperator(1, () => (set === 'forget' ? 3 : -1.5) * w[0]!) })
    expect(one.M_K.value).toBeCloseTo(3, 12)
    expect(one.M_A.value).toBeCloseTo(1.5, 12)
    // P = 5: ‖diag(c ⊙ d) v‖ ≤ max|c| for unit d, v; random directions reach a good part of it.
    const cs = [0.5, -4, 1, 2, -0.25]
    const five = estimatedConstants({ ...scalars, parameters: 5, samples: 20, wStar: Float64Array.from([1, 2, 3, 4, 5]), perExampleGradientNorms: norms, hessianAt: (w) => denseOperator(5, (i, j) => (i === j ? cs[i]! * w[i]! : 0)) })
    expect(five.M_K.value).toBeLessThanOrEqual(4 + 1e-9)
    expect(five.M_K.value).toBeGreaterThan(1)
    expect(five.M_K.method).toContain('20 random unit directions')
  })
})
