// The two products the backward passes lean on, matMulT (op(a)·op(b), transposes as GEMM flags on
// the native kernels, explicit transposes on tfjs-wasm's) and sumRows (Σ over rows, a GEMV on the
// native kernels), against a float64 reference written here as plain loops, on both kernel sets,
// over seeded random shapes. A path that read the wrong layout or summed the wrong axis fails by
// orders of magnitude more than the float32 tolerance.
import { afterAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { createRng } from '../../../src/engine/generate.js'
import { nativeGemmActive, nativeKernelsReport, setNativeKernels } from '../../../src/engine/native.js'
import { matMulT, sumRows } from '../../../src/engine/ops.js'

await initBackend()
const native = (nativeKernelsReport()?.kernels.length ?? 0) > 0

afterAll(() => {
  if (native) setNativeKernels(true)
})

function random(rows: number, cols: number, next: () => number): Float32Array {
  return Float32Array.from({ length: rows * cols }, () => next() * 2 - 1)
}

/** op(A)·op(B) in float64, A stored [ar, ac] and B [br, bc] row-major. */
function reference(
  a: Float32Array,
  ar: number,
  ac: number,
  b: Float32Array,
  br: number,
  bc: number,
  ta: boolean,
  tb: boolean,
): Float64Array {
  const m = ta ? ac : ar
  const k = ta ? ar : ac
  const n = tb ? br : bc
  const at = (i: number, p: number): number => (ta ? a[p * ac + i]! : a[i * ac + p]!)
  const bt = (p: number, j: number): number => (tb ? b[j * bc + p]! : b[p * bc + j]!)
  const out = new Float64Array(m * n)
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) out[i * n + j]! += at(i, p) * bt(p, j)
  return out
}

function maxRelError(got: Float32Array, want: Float64Array): number {
  let worst = 0
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!)))
  return worst
}

const kernelSets = native ? [true, false] : [false]

describe.each(kernelSets)('backward products, native kernels %s', (on) => {
  it('says which kernel set is in', () => {
    if (native) setNativeKernels(on)
    expect(nativeGemmActive()).toBe(on)
  })

  it('matMulT equals the float64 product for every transpose combination', () => {
    if (native) setNativeKernels(on)
    const next = createRng(on ? 11 : 12)
    for (let trial = 0; trial < 12; trial++) {
      const [m, k, n] = [1 + Math.floor(next() * 40), 1 + Math.floor(next() * 40), 1 + Math.floor(next() * 40)]
      const ta = trial % 2 === 1
      const tb = trial % 4 >= 2
      const [ar, ac] = ta ? [k, m] : [m, k]
      const [br, bc] = tb ? [n, k] : [k, n]
      const a = random(ar, ac, next)
      const b = random(br, bc, next)
      const got = tf.tidy(() => matMulT(tf.tensor2d(a, [ar, ac]), tf.tensor2d(b, [br, bc]), ta, tb).dataSync() as Float32Array)
      expect(got.length).toBe(m * n)
      expect(maxRelError(got, reference(a, ar, ac, b, br, bc, ta, tb))).toBeLessThan(1e-5)
    }
  })

  it('sumRows equals the float64 column sums', () => {
    if (native) setNativeKernels(on)
    const next = createRng(on ? 21 : 22)
    for (const [rows, cols] of [
      [1, 1],
      [7, 3],
      [1024, 33],
      [65, 200],
    ] as const) {
      const m = random(rows, cols, next)
      const want = new Float64Array(cols)
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) want[c]! += m[r * cols + c]!
      const got = tf.tidy(() => sumRows(tf.tensor2d(m, [rows, cols])).dataSync() as Float32Array)
      expect(got.length).toBe(cols)
      expect(maxRelError(got, want)).toBeLessThan(1e-5)
    }
  })
})
