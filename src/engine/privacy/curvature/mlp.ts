// The curvature of F for the one-hidden-layer ReLU MLP, f = relu(x W1 + b1) W2 + b2, by hand:
// the gradient by backpropagation and exact Hessian-vector products by Pearlmutter's R-operator
// (R{·} = d/dt ·(w + t v) at t = 0). Per example, with a = x W1 + b1, m = 1[a > 0], h = m⊙a:
//   forward  R{a} = x V1 + c1,  R{h} = m⊙R{a},  R{f} = R{h} W2 + h V2 + c2
//   backward δf = ω ∂ℓ/∂f,  R{δf} = ω (∂²ℓ/∂f²) R{f}          (logits.ts; the Gauss-Newton part)
//            ∇W2 += hᵀδf                 R{∇W2} += R{h}ᵀ δf + hᵀ R{δf}
//            ∇b2 += δf                   R{∇b2} += R{δf}
//            δh = δf W2ᵀ                 R{δh} = R{δf} W2ᵀ + δf V2ᵀ   (second-order: W2 in δh)
//            δa = m⊙δh                   R{δa} = m⊙R{δh}             (ReLU'' = 0 almost everywhere)
//            ∇W1 += xᵀδa, ∇b1 += δa      R{∇W1} += xᵀ R{δa}, R{∇b1} += R{δa}
// H v = R{∇F} = λv + Σ R{∇…}: exact wherever no pre-activation is exactly 0.
// The products with the inputs (x W1, x V1, xᵀ R{δa}: N·D·hidden each, all the work on
// Fashion-MNIST) are tfjs float32 matMuls over batches of rows; everything after the first layer
// (N·hidden·K) and every sum over batches is float64 in JS.
import type { Classifier } from '../../classifiers/classifier.js'
import { PIXEL_SCALE } from '../../classifiers/folder.js'
import { layoutSize, paramLayout, slotOf } from '../params.js'
import type { HessianOperator, LabelledRows, ObjectiveConfig, PrivacySets } from '../types.js'
import { LogitRows } from './logits.js'
import { inputBackward as backwardProduct, inputProduct as product, PRODUCT_BATCH } from './products.js'
import { DENSE_MAX_SIZE, denseByColumns, rowTerms, valueFromRows, setRows, type Curvature } from './curvature.js'

export function mlpCurvature(model: Classifier, sets: PrivacySets, objective: ObjectiveConfig): Curvature {
  const layout = paramLayout(model)
  const K = model.shape.classes
  const D = model.shape.height * model.shape.width * model.shape.channels
  const W1 = slotOf(layout, 'fc1.weight', model.kind)
  const B1 = slotOf(layout, 'fc1.bias', model.kind)
  const W2 = slotOf(layout, 'fc2.weight', model.kind)
  const B2 = slotOf(layout, 'fc2.bias', model.kind)
  const Hd = W1.shape[1]!
  const size = layoutSize(layout)
  const { lambda } = objective

  /** x·M for every row of a set, M the [D, hidden] slice of `v` at W1 (float32 products), n × hidden float64. */
  const inputProduct = (rows: LabelledRows, v: Float64Array): Float64Array => product(rows, D, v, W1.offset, Hd)
  /** acc[W1]! += Σ_i x_iᵀ r_i over the set (r n × hidden), float32 products summed in float64. */
  const inputBackward = (rows: LabelledRows, r: Float64Array, acc: Float64Array): void => backwardProduct(rows, D, r, Hd, acc, W1.offset)

  /** One set's forward at w: pre-activations a (n × hidden) and raw logits f (n × K), float64 after x W1. */
  function forward(w: Float64Array, rows: LabelledRows): { a: Float64Array; f: Float64Array } {
    const n = rows.labels.length
    const a = inputProduct(rows, w)
    const f = new Float64Array(n * K)
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < Hd; j++) a[i * Hd + j]! += w[B1.offset + j]!
      for (let k = 0; k < K; k++) f[i * K + k] = w[B2.offset + k]!
      for (let j = 0; j < Hd; j++) {
        const h = Math.max(0, a[i * Hd + j]!)
        if (h === 0) continue
        for (let k = 0; k < K; k++) f[i * K + k]! += h * w[W2.offset + j * K + k]!
      }
    }
    return { a, f }
  }

  /**
   * acc += ω Σ_i ∇_w ℓ_i (backpropagation of ∂ℓ/∂f through the second layer in float64, the first
   * through inputBackward).
   */
  function backward(w: Float64Array, rows: LabelledRows, a: Float64Array, lr: LogitRows, weight: number, acc: Float64Array): void {
    const n = rows.labels.length
    const da = new Float64Array(n * Hd)
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < K; k++) acc[B2.offset + k]! += weight * lr.grad[i * K + k]!
      for (let j = 0; j < Hd; j++) {
        const aij = a[i * Hd + j]!
        if (aij <= 0) continue
        let dh = 0
        for (let k = 0; k < K; k++) {
          const df = weight * lr.grad[i * K + k]!
          acc[W2.offset + j * K + k]! += aij * df
          dh += df * w[W2.offset + j * K + k]!
        }
        da[i * Hd + j] = dh
        acc[B1.offset + j]! += dh
      }
    }
    inputBackward(rows, da, acc)
  }

  const checkLength = (w: Float64Array, what = 'parameter vector'): void => {
    if (w.length !== size) throw new Error(`${what} has ${w.length} values, this mlp has ${size}`)
  }

  function state(w: Float64Array) {
    const fwd = { forget: forward(w, sets.forget), retain: forward(w, sets.retain) }
    const terms = rowTerms(sets, objective, K, { forget: fwd.forget.f, retain: fwd.retain.f })
    return [
      { data: sets.forget, ...fwd.forget, ...terms.forget },
      { data: sets.retain, ...fwd.retain, ...terms.retain },
    ]
  }

  return {
    kind: model.kind,
    size,
    value(w) {
      checkLength(w)
      const fwd = { forget: forward(w, sets.forget).f, retain: forward(w, sets.retain).f }
      return valueFromRows(rowTerms(sets, objective, K, fwd), objective, w)
    },
    gradient(w) {
      checkLength(w)
      const g = new Float64Array(size)
      for (let j = 0; j < size; j++) g[j] = lambda * w[j]!
      for (const s of state(w)) backward(w, s.data, s.a, s.rows, s.weight, g)
      return g
    },
    hessian(w) {
      checkLength(w)
      const at = state(w)
      const rf = new Float64Array(K)
      const rdf = new Float64Array(K)
      const rh = new Float64Array(Hd)
      const apply = (v: Float64Array): Float64Array => {
        checkLength(v, 'vector')
        const out = new Float64Array(size)
        for (let j = 0; j < size; j++) out[j] = lambda * v[j]!
        for (const s of at) {
          const n = s.data.labels.length
          const ra = inputProduct(s.data, v) // x V1
          const rda = new Float64Array(n * Hd)
          for (let i = 0; i < n; i++) {
            const ai = i * Hd
            // R{h} and R{f}
            for (let k = 0; k < K; k++) rf[k] = v[B2.offset + k]!
            for (let j = 0; j < Hd; j++) {
              const aij = s.a[ai + j]!
              rh[j] = aij > 0 ? ra[ai + j]! + v[B1.offset + j]! : 0
              for (let k = 0; k < K; k++) rf[k]! += rh[j]! * w[W2.offset + j * K + k]! + Math.max(0, aij) * v[W2.offset + j * K + k]!
            }
            // R{δf} = ω ∂²ℓ/∂f² R{f}
            rdf.fill(0)
            s.rows.applyHessian(i, rf, 0, rdf, 0, s.weight)
            for (let k = 0; k < K; k++) out[B2.offset + k]! += rdf[k]!
            for (let j = 0; j < Hd; j++) {
              const aij = s.a[ai + j]!
              const h = Math.max(0, aij)
              let rdh = 0
              for (let k = 0; k < K; k++) {
                const df = s.weight * s.rows.grad[i * K + k]!
                out[W2.offset + j * K + k]! += rh[j]! * df + h * rdf[k]!
                rdh += rdf[k]! * w[W2.offset + j * K + k]! + df * v[W2.offset + j * K + k]!
              }
              if (aij > 0) {
                rda[ai + j] = rdh
                out[B1.offset + j]! += rdh
              }
            }
          }
          inputBackward(s.data, rda, out)
        }
        return out
      }
      const op: HessianOperator = {
        size,
        apply,
        method: `Pearlmutter R-operator by hand: float32 tfjs products with the inputs (x·V1, xᵀ·R{δa}, batches of ${PRODUCT_BATCH} rows), float64 for the rest and every sum`,
      }
      if (size <= DENSE_MAX_SIZE) op.dense = () => denseByColumns(apply, size)
      return op
    },
    perExampleGradientNorms(w, which) {
      checkLength(w)
      const data = sets[which]
      const { a, f } = forward(w, data)
      const rows = setRows(sets, objective, K, which, f)
      const out = new Float64Array(rows.rows)
      // ‖∇ℓ_i‖² = ‖h‖²‖δf‖² + ‖δf‖² + ‖x‖²‖δa‖² + ‖δa‖² (outer products' norms are products of norms)
      for (let i = 0; i < rows.rows; i++) {
        let xx = 0
        for (let d = 0; d < D; d++) xx += (data.images[i * D + d]! * PIXEL_SCALE) ** 2
        let hh = 0
        let dada = 0
        for (let j = 0; j < Hd; j++) {
          const aij = a[i * Hd + j]!
          if (aij <= 0) continue
          hh += aij * aij
          let dh = 0
          for (let k = 0; k < K; k++) dh += rows.grad[i * K + k]! * w[W2.offset + j * K + k]!
          dada += dh * dh
        }
        const dfdf = rows.gradNorm(i) ** 2
        out[i] = Math.sqrt((hh + 1) * dfdf + (xx + 1) * dada)
      }
      return out
    },
  }
}
