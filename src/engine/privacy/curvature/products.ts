// The two products with the pixel matrix X [n, D] that dominate a pass of the curvature on
// image-sized data, as tfjs float32 matMuls over batches of rows (under the wasm backend these
// are the native OpenBLAS sgemm where it loads, src/engine/native.ts): X·M for a [D, c] slice M
// of a float64 vector, and Σ_i x_iᵀ r_i for float64 rows r_i. Inputs are rounded to float32 once
// per product; every sum over batches, and everything the caller does with the results, stays
// float64, so the error is float32 rounding of one length-D dot product (≈1e-7 relative).
import { matMulT } from '../../ops.js'
import { tf } from '../../backend.js'
import { PIXEL_SCALE } from '../../classifiers/folder.js'
import type { LabelledRows } from '../types.js'

/** Rows per tfjs product: [1024, 784] float32 is 3 MB. */
export const PRODUCT_BATCH = 1024

/** The pixels of rows [start, end) as a float32 [B, D] tensor. */
function pixels(rows: LabelledRows, D: number, start: number, end: number): tf.Tensor2D {
  const x = new Float32Array((end - start) * D)
  const src = rows.images.subarray(start * D, end * D)
  for (let j = 0; j < x.length; j++) x[j] = src[j]! * PIXEL_SCALE
  return tf.tensor2d(x, [end - start, D])
}

/** X·M, n × c float64, with M the [D, c] row-major block of `v` at `offset`. */
export function inputProduct(rows: LabelledRows, D: number, v: Float64Array, offset: number, c: number): Float64Array {
  const n = rows.labels.length
  const out = new Float64Array(n * c)
  const m = tf.tensor2d(Float32Array.from(v.subarray(offset, offset + D * c)), [D, c])
  try {
    for (let s = 0; s < n; s += PRODUCT_BATCH) {
      const e = Math.min(n, s + PRODUCT_BATCH)
      const part = tf.tidy(() => tf.matMul(pixels(rows, D, s, e), m))
      out.set(part.dataSync() as Float32Array, s * c)
      part.dispose()
    }
  } finally {
    m.dispose()
  }
  return out
}

/** acc[offset …]! += Σ_i x_iᵀ r_i (a [D, c] row-major block), r n × c float64; batches summed in float64. */
export function inputBackward(rows: LabelledRows, D: number, r: Float64Array, c: number, acc: Float64Array, offset: number): void {
  const n = rows.labels.length
  for (let s = 0; s < n; s += PRODUCT_BATCH) {
    const e = Math.min(n, s + PRODUCT_BATCH)
    const part = tf.tidy(() =>
      matMulT(pixels(rows, D, s, e), tf.tensor2d(Float32Array.from(r.subarray(s * c, e * c)), [e - s, c]), true, false),
    )
    const g = part.dataSync() as Float32Array
    part.dispose()
    for (let j = 0; j < D * c; j++) acc[offset + j]! += g[j]!
  }
}
