// The curvature of F for multinomial logistic regression, in closed form and float64 throughout.
// With x̃ = [x; 1] (D+1 entries, x the pixels) and w laid out as head.weight [D, K] row-major then
// head.bias [K], parameter (d, k) sits at d·K + k for d ≤ D (d = D the bias), and every example's
// logits are f = x̃ᵀ W̃: linear in w with Jacobian ∂f_k/∂w_(d,k') = x̃_d δ_kk'. Hence
//   ∇ℓ_i = x̃_i ⊗ ∂ℓ/∂f,      ∇²ℓ_i = (x̃_i x̃_iᵀ) ⊗ ∂²ℓ/∂f²   (logits.ts has ∂²ℓ/∂f² per loss)
//   H v = λv + Σ_i ω_i x̃_i ⊗ (∂²ℓ_i/∂f²)(Vᵀ x̃_i),   ‖∇ℓ_i‖ = ‖x̃_i‖·‖∂ℓ_i/∂f‖
// (ω_i = θ/|D_f| or (1 − θ)/|D_r|): no second-order term from the model, so H is exact.
// Pixel bytes are scaled on the fly (a Fashion-MNIST set as float64 would be 340 MB); zero
// pixels, most of a Fashion-MNIST image, are skipped.
// Two ways to form the products with the pixels, X·V (n × K) and Xᵀ·R (D × K), which are all the
// work of a pass: float64 JS loops (exact to rounding; 2.5 s per Hessian-vector product on
// Fashion-MNIST) or float32 tfjs matMuls in row batches (products.ts; native sgemm), with the
// bias, ∂ℓ/∂f, ∂²ℓ/∂f² and every sum float64. 'auto' takes float32 from FAST_PRODUCTS_MIN pixels
// on: CG needs thousands of products there, and its residual is recomputed with the same
// operator, so what the certificate sees is consistent.
import type { Classifier } from '../../classifiers/classifier.js'
import { PIXEL_SCALE } from '../../classifiers/folder.js'
import { layoutSize, paramLayout, slotOf } from '../params.js'
import type { HessianOperator, LabelledRows, ObjectiveConfig, PrivacySets } from '../types.js'
import { inputBackward, inputProduct, PRODUCT_BATCH } from './products.js'
import { DENSE_MAX_SIZE, rowTerms, valueFromRows, setRows, type Curvature, type RowTerms } from './curvature.js'

/** 'auto' forms the pixel products in float32 when the two sets hold at least this many pixels (n·D). */
export const FAST_PRODUCTS_MIN = 1 << 22

export interface LogregCurvatureOptions {
  /** The products with the pixels: float64 loops, float32 tfjs matMuls, or by size (FAST_PRODUCTS_MIN). */
  products?: 'auto' | 'float64' | 'float32'
}

export function logregCurvature(
  model: Classifier,
  sets: PrivacySets,
  objective: ObjectiveConfig,
  options: LogregCurvatureOptions = {},
): Curvature {
  const layout = paramLayout(model)
  const K = model.shape.classes
  const D = model.shape.height * model.shape.width * model.shape.channels
  const weight = slotOf(layout, 'head.weight', model.kind)
  const bias = slotOf(layout, 'head.bias', model.kind)
  // The closed form relies on the bias following the weight: parameter (d, k) at d·K + k, d ≤ D.
  if (weight.offset !== 0 || bias.offset !== D * K) throw new Error('logreg parameter layout is not head.weight then head.bias')
  const size = layoutSize(layout)
  const { lambda } = objective
  const pixelCount = (sets.forget.labels.length + sets.retain.labels.length) * D
  const products = options.products ?? 'auto'
  const fast = products === 'float32' || (products === 'auto' && pixelCount >= FAST_PRODUCTS_MIN)

  /** X̃ V, n × K: f_i = x̃_iᵀ W̃ for V = w. */
  function logits(v: Float64Array, rows: LabelledRows): Float64Array {
    const n = rows.labels.length
    if (!fast) {
      const out = new Float64Array(n * K)
      for (let i = 0; i < n; i++) project(rows.images, i * D, v, out, i * K)
      return out
    }
    const out = inputProduct(rows, D, v, 0, K)
    for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) out[i * K + k]! += v[D * K + k]!
    return out
  }

  /** acc += Σ_i x̃_i ⊗ r_i, r n × K. */
  function scatterAll(rows: LabelledRows, r: Float64Array, acc: Float64Array): void {
    const n = rows.labels.length
    if (!fast) {
      for (let i = 0; i < n; i++) scatter(rows.images, i * D, r, i * K, 1, acc)
      return
    }
    inputBackward(rows, D, r, K, acc, 0)
    for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) acc[D * K + k]! += r[i * K + k]!
  }

  /** out[o …] = x̃ᵀ V for the image at byte offset `off` (V laid out like w). */
  function project(images: Uint8Array, off: number, v: ArrayLike<number>, out: Float64Array, o: number): void {
    for (let k = 0; k < K; k++) out[o + k] = v[D * K + k]!
    for (let d = 0; d < D; d++) {
      const byte = images[off + d]!
      if (byte === 0) continue
      const x = byte * PIXEL_SCALE
      const r = d * K
      for (let k = 0; k < K; k++) out[o + k]! += x * v[r + k]!
    }
  }

  /** acc += x̃ ⊗ r[o …] · scale. */
  function scatter(images: Uint8Array, off: number, r: Float64Array, o: number, scale: number, acc: Float64Array): void {
    for (let k = 0; k < K; k++) acc[D * K + k]! += scale * r[o + k]!
    for (let d = 0; d < D; d++) {
      const byte = images[off + d]!
      if (byte === 0) continue
      const x = byte * PIXEL_SCALE * scale
      const c = d * K
      for (let k = 0; k < K; k++) acc[c + k]! += x * r[o + k]!
    }
  }

  const termsAt = (w: Float64Array): RowTerms =>
    rowTerms(sets, objective, K, { forget: logits(w, sets.forget), retain: logits(w, sets.retain) })
  const both = (terms: RowTerms) => [
    { data: sets.forget, ...terms.forget },
    { data: sets.retain, ...terms.retain },
  ]

  const checkLength = (w: Float64Array): void => {
    if (w.length !== size) throw new Error(`parameter vector has ${w.length} values, this logreg has ${size}`)
  }

  return {
    kind: model.kind,
    size,
    // Parameters (d, 0 … K−1) are consecutive, and adding c to all of them adds c·x̃_d to every logit.
    logitShiftBlock: K,
    value(w) {
      checkLength(w)
      return valueFromRows(termsAt(w), objective, w)
    },
    gradient(w) {
      checkLength(w)
      const g = new Float64Array(size)
      for (let j = 0; j < size; j++) g[j] = lambda * w[j]!
      for (const set of both(termsAt(w)))
        scatterAll(
          set.data,
          set.rows.grad.map((x) => set.weight * x),
          g,
        )
      return g
    },
    hessian(w) {
      checkLength(w)
      const sets2 = both(termsAt(w))
      const u = new Float64Array(K)
      const hu = new Float64Array(K)
      const apply = (v: Float64Array): Float64Array => {
        if (v.length !== size) throw new Error(`vector has ${v.length} values, H is ${size}×${size}`)
        const out = new Float64Array(size)
        for (let j = 0; j < size; j++) out[j] = lambda * v[j]!
        for (const set of sets2) {
          if (fast) {
            // U = X̃V for the whole set, then B_i u_i per row in float64, then X̃ᵀ(BU).
            const U = logits(v, set.data)
            const BU = new Float64Array(U.length)
            for (let i = 0; i < set.rows.rows; i++) set.rows.applyHessian(i, U, i * K, BU, i * K, set.weight)
            scatterAll(set.data, BU, out)
            continue
          }
          for (let i = 0; i < set.rows.rows; i++) {
            project(set.data.images, i * D, v, u, 0)
            hu.fill(0)
            set.rows.applyHessian(i, u, 0, hu, 0, set.weight)
            scatter(set.data.images, i * D, hu, 0, 1, out)
          }
        }
        return out
      }
      const method = fast
        ? `closed form: float32 tfjs products with the pixels (X·V, Xᵀ·R, batches of ${PRODUCT_BATCH} rows), float64 for the rest and every sum`
        : 'closed form, float64'
      const op: HessianOperator = { size, apply, method }
      if (size <= DENSE_MAX_SIZE) {
        op.dense = () => {
          // H = λI + Σ_i ω_i (x̃_i x̃_iᵀ) ⊗ B_i with B_i = ∂²ℓ_i/∂f² (K × K, built column by column).
          const H = new Float64Array(size * size)
          for (let j = 0; j < size; j++) H[j * size + j] = lambda
          const B = new Float64Array(K * K)
          const e = new Float64Array(K)
          const x = new Float64Array(D + 1)
          const nz: number[] = []
          for (const set of sets2) {
            for (let i = 0; i < set.rows.rows; i++) {
              B.fill(0)
              for (let k = 0; k < K; k++) {
                e[k] = 1
                set.rows.applyHessian(i, e, 0, B, k * K, set.weight) // column k, stored as row k (B is symmetric)
                e[k] = 0
              }
              nz.length = 0
              for (let d = 0; d < D; d++) {
                x[d] = set.data.images[i * D + d]! * PIXEL_SCALE
                if (x[d] !== 0) nz.push(d)
              }
              x[D] = 1
              nz.push(D)
              for (const a of nz) {
                for (const b of nz) {
                  const xx = x[a]! * x[b]!
                  for (let k = 0; k < K; k++) {
                    const row = (a * K + k) * size + b * K
                    for (let l = 0; l < K; l++) H[row + l]! += xx * B[k * K + l]!
                  }
                }
              }
            }
          }
          return H
        }
      }
      return op
    },
    hessianDiagonal(w) {
      checkLength(w)
      // H_(d,k),(d,k) = λ + Σ_i ω_i x̃_id² (B_i)_kk, float64 whatever the products.
      const diag = new Float64Array(size).fill(lambda)
      const b = new Float64Array(K)
      for (const set of both(termsAt(w))) {
        for (let i = 0; i < set.rows.rows; i++) {
          b.fill(0)
          set.rows.hessianDiagonal(i, b, 0, set.weight)
          for (let k = 0; k < K; k++) diag[D * K + k]! += b[k]!
          for (let d = 0; d < D; d++) {
            const byte = set.data.images[i * D + d]!
            if (byte === 0) continue
            const xx = (byte * PIXEL_SCALE) ** 2
            for (let k = 0; k < K; k++) diag[d * K + k]! += xx * b[k]!
          }
        }
      }
      return diag
    },
    perExampleGradientNorms(w, which) {
      checkLength(w)
      const data = sets[which]
      const rows = setRows(sets, objective, K, which, logits(w, data))
      const out = new Float64Array(rows.rows)
      for (let i = 0; i < rows.rows; i++) {
        let xx = 1
        for (let d = 0; d < D; d++) xx += (data.images[i * D + d]! * PIXEL_SCALE) ** 2
        out[i] = Math.sqrt(xx) * rows.gradNorm(i)
      }
      return out
    },
  }
}
