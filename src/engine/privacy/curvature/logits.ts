// Each example's loss as a function of its raw logits f ∈ R^K (z = f/T, p = softmax(z)): the
// value, ∂ℓ/∂f, and ∂²ℓ/∂f² applied to a vector, in float64. Every classifier's curvature module
// composes these with its own Jacobian (logreg: closed form; MLP: the R-operator), so the loss
// calculus is written once.
//
// The derivatives (S = ∂p/∂z = diag(p) − ppᵀ, symmetric):
//   cross-entropy  ℓ = lse(z) − z_y                  ∇ = p − e_y          ∇² = S
//   reverse-kl     ℓ = −log K − (1/K)Σ log p_i       ∇ = p − 1/K          ∇² = S
//     (both are lse(z) minus a linear function of z, so their Hessian is lse's, S)
//   forward-kl and squared are functions φ(p) of p. By the chain rule through p(z):
//     ∇ = S ∇_pφ = p ⊙ d,   d = ∇_pφ − (p·∇_pφ)1
//     ∇² = S (∇²_pφ) S + Σ_i (∇_pφ)_i ∇²p_i,   and, from ∂²p_i/∂z_j∂z_k =
//          p_i(δ_ik − p_k)(δ_ij − p_j) − p_i p_j(δ_jk − p_k),
//     Σ_i c_i ∇²p_i = T(d) with T(d)_jk = δ_jk p_j d_j − p_j p_k (d_j + d_k)   (d = c − p·c)
//   forward-kl     φ = log K + Σ p log p:  ∇_pφ = log p + 1, d = log p − Σ p log p,
//                  ∇²_pφ = diag(1/p), and S diag(1/p) S = S, so ∇² = S + T(d)
//   squared        φ = ‖p − 1/K‖²:  ∇_pφ = 2(p − 1/K), d = 2(e − p·e) with e = p − 1/K,
//                  ∇²_pφ = 2I, so ∇² = 2 S S + T(d)
// So every case is ∇²u = α S u + β S(S u) + T(d) u, with (α, β, d) per loss (d = 0 for the first
// two), and T(d) u = p⊙d⊙u − (p·u)(p⊙d) − (p⊙d·u) p.
// With the temperature: ∂ℓ/∂f = ∇/T and ∂²ℓ/∂f² = ∇²/T².
import type { UncertaintyLoss } from '../types.js'

export type RowLoss = UncertaintyLoss | 'cross-entropy'

/** The losses, values, gradients and Hessian data of n rows of logits, one loss for all. */
export class LogitRows {
  /** ℓ of each row. */
  readonly values: Float64Array
  /** ∂ℓ/∂f of each row, n × K row-major. */
  readonly grad: Float64Array
  private readonly p: Float64Array
  private readonly d: Float64Array | null
  private readonly alpha: number
  private readonly beta: number
  private readonly su: Float64Array

  /** `logits` n × K raw logits f (before the temperature); `labels` for cross-entropy. */
  constructor(
    readonly loss: RowLoss,
    logits: Float64Array,
    labels: Uint8Array | null,
    readonly classes: number,
    readonly temperature: number,
  ) {
    const K = classes
    const n = logits.length / K
    this.values = new Float64Array(n)
    this.grad = new Float64Array(n * K)
    this.p = new Float64Array(n * K)
    this.d = loss === 'forward-kl' || loss === 'squared' ? new Float64Array(n * K) : null
    this.alpha = loss === 'squared' ? 0 : 1
    this.beta = loss === 'squared' ? 2 : 0
    this.su = new Float64Array(K)
    const logp = new Float64Array(K)
    const logK = Math.log(K)
    for (let i = 0; i < n; i++) {
      const o = i * K
      let max = -Infinity
      for (let k = 0; k < K; k++) max = Math.max(max, logits[o + k]! / temperature)
      let sum = 0
      for (let k = 0; k < K; k++) sum += Math.exp(logits[o + k]! / temperature - max)
      const lse = max + Math.log(sum)
      for (let k = 0; k < K; k++) {
        logp[k] = logits[o + k]! / temperature - lse
        this.p[o + k] = Math.exp(logp[k]!)
      }
      const p = this.p.subarray(o, o + K)
      const g = this.grad.subarray(o, o + K)
      let value = 0
      if (loss === 'cross-entropy') {
        const y = labels![i]!
        value = -logp[y]!
        for (let k = 0; k < K; k++) g[k] = p[k]! - (k === y ? 1 : 0)
      } else if (loss === 'reverse-kl') {
        let s = 0
        for (let k = 0; k < K; k++) s += logp[k]!
        value = -logK - s / K
        for (let k = 0; k < K; k++) g[k] = p[k]! - 1 / K
      } else {
        const d = this.d!.subarray(o, o + K)
        let mean = 0
        if (loss === 'forward-kl') {
          for (let k = 0; k < K; k++) mean += p[k]! * logp[k]!
          value = logK + mean
          for (let k = 0; k < K; k++) d[k] = logp[k]! - mean
        } else {
          for (let k = 0; k < K; k++) {
            const e = p[k]! - 1 / K
            value += e * e
            mean += p[k]! * e
          }
          for (let k = 0; k < K; k++) d[k] = 2 * (p[k]! - 1 / K - mean)
        }
        for (let k = 0; k < K; k++) g[k] = p[k]! * d[k]!
      }
      this.values[i] = value
      for (let k = 0; k < K; k++) g[k] = g[k]! / temperature
    }
  }

  get rows(): number {
    return this.values.length
  }

  /** out[outOff …]! += scale · (∂²ℓ_i/∂f²) u[uOff …]. */
  applyHessian(i: number, u: ArrayLike<number>, uOff: number, out: Float64Array, outOff: number, scale: number): void {
    const K = this.classes
    const o = i * K
    const p = this.p
    const s = scale / (this.temperature * this.temperature)
    // S u = p⊙u − (p·u) p
    let pu = 0
    for (let k = 0; k < K; k++) pu += p[o + k]! * u[uOff + k]!
    for (let k = 0; k < K; k++) this.su[k] = p[o + k]! * (u[uOff + k]! - pu)
    if (this.alpha !== 0) for (let k = 0; k < K; k++) out[outOff + k]! += s * this.alpha * this.su[k]!
    if (this.beta !== 0) {
      let psu = 0
      for (let k = 0; k < K; k++) psu += p[o + k]! * this.su[k]!
      for (let k = 0; k < K; k++) out[outOff + k]! += s * this.beta * p[o + k]! * (this.su[k]! - psu)
    }
    if (this.d) {
      const d = this.d
      let pdu = 0
      for (let k = 0; k < K; k++) pdu += p[o + k]! * d[o + k]! * u[uOff + k]!
      for (let k = 0; k < K; k++) out[outOff + k]! += s * (p[o + k]! * d[o + k]! * (u[uOff + k]! - pu) - pdu * p[o + k]!)
    }
  }

  /**
   * out[outOff + k]! += scale · (∂²ℓ_i/∂f²)_kk, the diagonal of the matrix applyHessian applies
   * (for a Jacobi preconditioner). From the decomposition above, with S_kk = p_k(1 − p_k):
   *   (S S)_kk = Σ_j S_kj² = p_k²((1 − p_k)² + Σ_j p_j² − p_k²),   T(d)_kk = p_k d_k (1 − 2p_k).
   */
  hessianDiagonal(i: number, out: Float64Array, outOff: number, scale: number): void {
    const K = this.classes
    const o = i * K
    const p = this.p
    const s = scale / (this.temperature * this.temperature)
    let pp = 0
    for (let k = 0; k < K; k++) pp += p[o + k]! ** 2
    for (let k = 0; k < K; k++) {
      const pk = p[o + k]!
      let h = this.alpha * pk * (1 - pk)
      if (this.beta !== 0) h += this.beta * pk * pk * ((1 - pk) ** 2 + pp - pk * pk)
      if (this.d) h += pk * this.d[o + k]! * (1 - 2 * pk)
      out[outOff + k]! += s * h
    }
  }

  /** ‖∂ℓ_i/∂f‖. */
  gradNorm(i: number): number {
    let s = 0
    for (let k = 0; k < this.classes; k++) s += this.grad[i * this.classes + k]! ** 2
    return Math.sqrt(s)
  }
}
