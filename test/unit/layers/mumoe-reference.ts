// Independent float64 references for the μMoE tests: entmax-1.5 by bisection on its threshold,
// the gate norms, GELU, and a whole μMoE module evaluated through the materialized expert tensor.
// Nothing here shares code with the tfjs implementation except the materializer (itself loops).
import { cpExperts, mixExperts, trExperts, type ExpertTensor } from '../../helpers/mumoe-materialize.js'
import type { LayerDims, MuMoE, TRRanks } from '../../../src/engine/layers/mumoe.js'

export type Rows = number[][]

/** entmax-1.5: p_i = [z_i/2 − τ]₊² with τ the root of Σ p_i = 1, found by bisection (float64). */
export function refEntmax15(z: readonly number[]): number[] {
  const x = z.map((v) => v / 2)
  const max = Math.max(...x)
  const mass = (tau: number): number => x.reduce((s, v) => s + Math.max(v - tau, 0) ** 2, 0)
  // mass(max − 1) ≥ 1 (the max alone gives 1) and mass(max) = 0: the root lies between.
  let lo = max - 1
  let hi = max
  for (let it = 0; it < 200; it++) {
    const mid = (lo + hi) / 2
    if (mass(mid) >= 1) lo = mid
    else hi = mid
  }
  const tau = (lo + hi) / 2
  return x.map((v) => Math.max(v - tau, 0) ** 2)
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI)
export const refGeluNew = (v: number): number => 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v ** 3)))

export function matmul(x: Rows, w: ArrayLike<number>, outDim: number): Rows {
  return x.map((row) => {
    const y = new Array<number>(outDim).fill(0)
    row.forEach((v, i) => {
      for (let o = 0; o < outDim; o++) y[o]! += v * w[i * outDim + o]!
    })
    return y
  })
}

export function refLayerNorm(h: Rows, eps = 1e-5): Rows {
  return h.map((row) => {
    const mean = row.reduce((s, v) => s + v, 0) / row.length
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / row.length
    return row.map((v) => (v - mean) / Math.sqrt(variance + eps))
  })
}

/** Training-mode BatchNorm without affine: per column over the rows, biased variance. */
export function refBatchNorm(h: Rows, eps = 1e-5): { out: Rows; mean: number[]; variance: number[] } {
  const n = h.length
  const cols = h[0]!.length
  const mean = Array.from({ length: cols }, (_, j) => h.reduce((s, r) => s + r[j]!, 0) / n)
  const variance = Array.from({ length: cols }, (_, j) => h.reduce((s, r) => s + (r[j]! - mean[j]!) ** 2, 0) / n)
  return { out: h.map((r) => r.map((v, j) => (v - mean[j]!) / Math.sqrt(variance[j]! + eps))), mean, variance }
}

/** The module's parameters as float64 arrays, by the names MuMoE.variables() uses. */
export type ParamArrays = Record<string, Float64Array>

export function readParams(model: MuMoE): ParamArrays {
  const out: ParamArrays = {}
  for (const [k, v] of Object.entries(model.variables())) out[k] = Float64Array.from(v.dataSync())
  return out
}

function experts(model: MuMoE, which: 'first' | 'second', p: ParamArrays): ExpertTensor {
  const layer = model[which]!
  const dims: LayerDims = { inputDim: layer.inputDim, outputDim: layer.outputDim, nExperts: layer.nExperts }
  const get = (name: string): Float64Array => p[`${which}.${name}`]!
  if (layer.kind === 'cp') return cpExperts(dims, model.options.rank as number, { U1: get('U1'), U2: get('U2'), U3t: get('U3t') })
  return trExperts(dims, model.options.rank as TRRanks, { G1: get('G1'), G2: get('G2'), G3: get('G3') })
}

/** The whole μMoE module in float64 (training-mode statistics for a BatchNorm gate). */
export function refMuMoE(model: MuMoE, p: ParamArrays, x: Rows): { y: Rows; a: Rows } {
  const h = matmul(x, p['gate.G']!, model.gate.nExperts)
  const normed = model.gate.norm === 'layernorm' ? refLayerNorm(h) : refBatchNorm(h).out
  const a = normed.map(refEntmax15)
  let y = mixExperts(experts(model, 'first', p), a, x)
  if (model.second)
    y = mixExperts(
      experts(model, 'second', p),
      a,
      y.map((r) => r.map(refGeluNew)),
    )
  return { y, a }
}

/** Deterministic pseudo-random numbers (mulberry32) so failures reproduce. */
export function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Standard normal draws (Box–Muller). */
export function normals(rand: () => number, n: number, std = 1): number[] {
  return Array.from({ length: n }, () => std * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()))
}

export function randRows(rand: () => number, rows: number, cols: number, std = 1): Rows {
  return Array.from({ length: rows }, () => normals(rand, cols, std))
}

/** max |a − b| over two equally shaped row sets. */
export function maxAbsDiff(a: Rows, b: Rows): number {
  let m = 0
  a.forEach((row, i) => row.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i]![j]!)))))
  return m
}

export function maxAbs(a: Rows): number {
  return a.reduce((m, row) => row.reduce((mm, v) => Math.max(mm, Math.abs(v)), m), 0)
}
