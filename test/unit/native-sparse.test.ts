// The sparse layers' ops behind the native kernels of native/mxd_sparse.c and the exact GELU
// (src/engine/native/: selected-rows, gate-grad, row-project, unit-rows, gelu) against independent
// float64 references written here, over seeded random shapes with odd sizes. Runs in both
// configurations:
//   npx vitest run test/unit/native-sparse.test.ts                  (native kernels, where built)
//   MXD_NATIVE=0 npx vitest run test/unit/native-sparse.test.ts     (the tf-ops paths on plain wasm)
// With the native kernels in, each op is also compared with the stock wasm computation in the same
// process (setNativeKernels(false)), and the scatter-adds must give the same bits at 1 and 2
// threads. Hand-derived gradient references are checked against float64 central differences.
import { afterAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../src/engine/backend.js'
import { createRng } from '../../src/engine/generate.js'
import { MxDLayer } from '../../src/engine/layers/mxd.js'
import {
  denseCodes,
  removeParallelComponent,
  selectedRowSum,
  selectedRowSumGrad,
  topkReluGrad,
  unitRows,
} from '../../src/engine/layers/sparse.js'
import { atThreads, expectClose, nativeMode, numericGrad, randomArray, restoreNative, t32, withStock } from '../helpers/native-check.js'
import { gelu, geluBackward } from '../../src/engine/ops.js'

await initBackend()
const { active, mode } = nativeMode()

afterAll(restoreNative)

/** K distinct indices in [0, n) per row (as a TopK gives them), B rows; rows share indices often. */
function selections(B: number, K: number, n: number, next: () => number): Int32Array {
  const out = new Int32Array(B * K)
  for (let b = 0; b < B; b++) {
    const picked = new Set<number>()
    while (picked.size < K) picked.add(Math.floor(next() * n))
    Array.from(picked).forEach((v, k) => (out[b * K + k] = v))
  }
  return out
}

const floats = (t: tf.Tensor): Float32Array => t.dataSync() as Float32Array

// ---------------------------------------------------------------------------- exact GELU

/** float64 erf: Taylor series below 2.5, the continued fraction of erfc above (both to ~1e-15). */
function erf(x: number): number {
  const a = Math.abs(x)
  let r: number
  if (a < 2.5) {
    let term = a
    let sum = a
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-a * a) / n
      sum += term / (2 * n + 1)
    }
    r = (2 / Math.sqrt(Math.PI)) * sum
  } else {
    // erfc(a) = e^(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + …)))), evaluated from the tail.
    let f = a
    for (let n = 200; n >= 1; n--) f = a + n / 2 / f
    r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f
  }
  return x < 0 ? -r : r
}
const geluRef = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2))
const geluSlopeRef = (x: number): number => 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI)

describe(`exact gelu (${mode})`, () => {
  it('the float64 references: erf against known values, the slope against central differences', () => {
    expect(Math.abs(erf(0.5) - 0.5204998778130465)).toBeLessThan(1e-15)
    expect(Math.abs(erf(3) - 0.9999779095030014)).toBeLessThan(1e-15)
    expect(Math.abs(erf(-1.5) + 0.9661051464753108)).toBeLessThan(1e-15)
    for (const x of [-7, -3.2, -0.4, 0, 0.9, 2.49, 2.51, 5]) {
      expect(Math.abs(geluSlopeRef(x) - (geluRef(x + 1e-6) - geluRef(x - 1e-6)) / 2e-6)).toBeLessThan(1e-8)
    }
  })

  it('forward and gradient match float64, tails included', () => {
    const next = createRng(41)
    for (const n of [1, 7, 1000, 4099]) {
      const x = randomArray(n, next, 4)
      const tails = [-100, -20, -6, -4.5, -3.9, 0, 3.9, 4.5, 6, 20, 100]
      tails.forEach((v, i) => {
        if (i < n) x[i] = v
      })
      const dy = randomArray(n, next)
      const run = (): Float32Array[] =>
        tf.tidy(() => {
          const xt = t32(x, [n])
          const g = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(gelu(xi), t32(dy, [n]))))(xt)
          return [floats(gelu(xt)), floats(g), floats(geluBackward(t32(dy, [n]), xt))]
        })
      const [y, dx, dxDirect] = run()
      for (let i = 0; i < n; i++) {
        // float32 rounding plus the erf approximation's 4.2e-7 (times ½|x|) of the native kernel.
        expect(Math.abs(y![i]! - geluRef(x[i]!)), `y at x = ${x[i]}`).toBeLessThanOrEqual(3e-7 * (1 + Math.abs(x[i]!)))
        const want = dy[i]! * geluSlopeRef(x[i]!)
        expect(Math.abs(dx![i]! - want), `dx at x = ${x[i]}`).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(x[i]!)))
        expect(dxDirect![i], `geluBackward at x = ${x[i]}`).toBe(dx![i])
      }
      if (active) {
        const [sy, sdx] = withStock(run)
        expectClose(y!, sy!, 1e-6, `y, native against stock wasm (n ${n})`)
        expectClose(dx!, sdx!, 1e-6, `dx, native against stock wasm (n ${n})`)
      }
    }
  })
})

// --------------------------------------------------------------- selected rows (sparse Cᵀa)

function selectedRowsRef(v: Float64Array, idx: Int32Array, M: Float64Array, B: number, K: number, O: number): Float64Array {
  const y = new Float64Array(B * O)
  for (let b = 0; b < B; b++)
    for (let k = 0; k < K; k++) for (let c = 0; c < O; c++) y[b * O + c] = y[b * O + c]! + v[b * K + k]! * M[idx[b * K + k]! * O + c]!
  return y
}

/** By hand: dv_bk = ⟨dy_b, M[idx_bk]⟩, dM[n] = Σ_{idx_bk = n} v_bk dy_b. */
function selectedRowsGradRef(
  v: Float64Array,
  idx: Int32Array,
  M: Float64Array,
  dy: Float64Array,
  B: number,
  K: number,
  N: number,
  O: number,
) {
  const dv = new Float64Array(B * K)
  const dM = new Float64Array(N * O)
  for (let b = 0; b < B; b++)
    for (let k = 0; k < K; k++) {
      const n = idx[b * K + k]!
      for (let c = 0; c < O; c++) {
        dv[b * K + k] = dv[b * K + k]! + dy[b * O + c]! * M[n * O + c]!
        dM[n * O + c] = dM[n * O + c]! + v[b * K + k]! * dy[b * O + c]!
      }
    }
  return { dv, dM }
}

function runSelected(v: Float64Array, idx: Int32Array, M: Float64Array, dy: Float64Array, B: number, K: number, N: number, O: number) {
  return tf.tidy(() => {
    const vt = t32(v, [B, K]) as tf.Tensor2D
    const it = tf.tensor2d(idx, [B, K], 'int32')
    const Mt = t32(M, [N, O]) as tf.Tensor2D
    const { value, rows } = selectedRowSum(vt, it, Mt)
    const g = selectedRowSumGrad(vt, it, Mt, rows, t32(dy, [B, O]) as tf.Tensor2D)
    return { y: floats(value), dv: floats(g.dValues), dM: floats(g.dM), dMShape: g.dM.shape }
  })
}

describe(`selectedRowSum and its gradient (${mode})`, () => {
  it('the hand-derived gradient matches central differences of the float64 forward', () => {
    const next = createRng(51)
    const [B, K, N, O] = [3, 2, 5, 4]
    const v = randomArray(B * K, next)
    const idx = selections(B, K, N, next)
    const M = randomArray(N * O, next)
    const dy = randomArray(B * O, next)
    const loss = (vv: Float64Array, MM: Float64Array): number =>
      selectedRowsRef(vv, idx, MM, B, K, O).reduce((s, y, i) => s + y * dy[i]!, 0)
    const { dv, dM } = selectedRowsGradRef(v, idx, M, dy, B, K, N, O)
    expectClose(
      dv,
      numericGrad((x) => loss(x, M), v),
      1e-8,
      'dv by hand',
    )
    expectClose(
      dM,
      numericGrad((x) => loss(v, x), M),
      1e-8,
      'dM by hand',
    )
  })

  it('forward and gradient match float64 and the stock path on odd shapes', () => {
    const next = createRng(52)
    for (const [B, K, N, O] of [
      [1, 1, 1, 1],
      [5, 3, 7, 9],
      [33, 8, 61, 17],
      [64, 16, 50, 130], // more selections than rows of M: most rows summed many times
    ] as const) {
      const v = randomArray(B * K, next)
      const idx = selections(B, K, N, next)
      const M = randomArray(N * O, next)
      const dy = randomArray(B * O, next)
      const got = runSelected(v, idx, M, dy, B, K, N, O)
      const { dv, dM } = selectedRowsGradRef(v, idx, M, dy, B, K, N, O)
      const what = `B ${B} K ${K} N ${N} O ${O}`
      expectClose(got.y, selectedRowsRef(v, idx, M, B, K, O), 4e-6, `y, ${what}`)
      expectClose(got.dv, dv, 4e-6, `dValues, ${what}`)
      expectClose(got.dM, dM, 4e-6, `dM, ${what}`)
      expect(got.dMShape).toEqual([N, O])
      if (active) {
        const stock = withStock(() => runSelected(v, idx, M, dy, B, K, N, O))
        expectClose(got.y, stock.y, 2e-6, `y against stock, ${what}`)
        expectClose(got.dv, stock.dv, 2e-6, `dValues against stock, ${what}`)
        expectClose(got.dM, stock.dM, 2e-6, `dM against stock, ${what}`)
      }
    }
  })

  it.runIf(active)('the native kernel refuses an index outside [0, N)', () => {
    const bad = tf.tensor2d([0, 3], [1, 2], 'int32') as tf.Tensor2D
    expect(() => selectedRowSum(tf.ones([1, 2]) as tf.Tensor2D, bad, tf.ones([3, 4]) as tf.Tensor2D)).toThrow(RangeError)
    bad.dispose()
  })
})

// ------------------------------------------------------------------------- the gate's gradient

/** By hand: dPre = dv·[v > 0]; dW[c, n] = Σ_{idx_bk = n} dPre_bk x_b[c] ([d, N]); db[n] = Σ dPre_bk. */
function gateGradRef(x: Float64Array, v: Float64Array, idx: Int32Array, dv: Float64Array, B: number, K: number, N: number, d: number) {
  const dW = new Float64Array(d * N)
  const db = new Float64Array(N)
  for (let b = 0; b < B; b++)
    for (let k = 0; k < K; k++) {
      const g = v[b * K + k]! > 0 ? dv[b * K + k]! : 0
      const n = idx[b * K + k]!
      db[n] = db[n]! + g
      for (let c = 0; c < d; c++) dW[c * N + n] = dW[c * N + n]! + g * x[b * d + c]!
    }
  return { dW, db }
}

function runGate(x: Float64Array, v: Float64Array, idx: Int32Array, dv: Float64Array, B: number, K: number, N: number, d: number) {
  return tf.tidy(() => {
    const r = topkReluGrad(
      t32(x, [B, d]) as tf.Tensor2D,
      { values: t32(v, [B, K]) as tf.Tensor2D, indices: tf.tensor2d(idx, [B, K], 'int32') },
      t32(dv, [B, K]) as tf.Tensor2D,
      N,
    )
    return { dW: floats(r.dW), db: floats(r.db), shapes: [r.dW.shape, r.db.shape] }
  })
}

describe(`topkReluGrad (${mode})`, () => {
  it('the hand-derived gradient matches central differences of ReLU(x·W + b) at the selections', () => {
    const next = createRng(61)
    const [B, K, N, d] = [3, 2, 5, 4]
    const x = randomArray(B * d, next)
    const W = randomArray(d * N, next)
    const bias = randomArray(N, next)
    const idx = selections(B, K, N, next)
    const dv = randomArray(B * K, next)
    const pre = (WW: Float64Array, bb: Float64Array, b: number, n: number): number => {
      let s = bb[n]!
      for (let c = 0; c < d; c++) s += x[b * d + c]! * WW[c * N + n]!
      return s
    }
    // The selection is held fixed (TopK's pass-through gradient); ReLU's gradient at each.
    const loss = (WW: Float64Array, bb: Float64Array): number => {
      let s = 0
      for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) s += dv[b * K + k]! * Math.max(0, pre(WW, bb, b, idx[b * K + k]!))
      return s
    }
    const v = new Float64Array(B * K)
    for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) v[b * K + k] = Math.max(0, pre(W, bias, b, idx[b * K + k]!))
    const { dW, db } = gateGradRef(x, v, idx, dv, B, K, N, d)
    expectClose(
      dW,
      numericGrad((w) => loss(w, bias), W),
      1e-8,
      'dW by hand',
    )
    expectClose(
      db,
      numericGrad((bb) => loss(W, bb), bias),
      1e-8,
      'db by hand',
    )
  })

  it('matches float64 and the stock path on odd shapes, zero and NaN values passing nothing', () => {
    const next = createRng(62)
    for (const [B, K, N, d] of [
      [1, 1, 1, 1],
      [5, 3, 7, 9],
      [33, 8, 61, 17],
      [40, 12, 37, 70],
    ] as const) {
      const x = randomArray(B * d, next)
      const v = randomArray(B * K, next).map((a) => Math.max(0, a)) // about half are 0, as after ReLU
      if (B * K > 3) v[2] = NaN
      const idx = selections(B, K, N, next)
      const dv = randomArray(B * K, next)
      const got = runGate(x, v, idx, dv, B, K, N, d)
      const want = gateGradRef(x, v, idx, dv, B, K, N, d)
      const what = `B ${B} K ${K} N ${N} d ${d}`
      expect(got.shapes).toEqual([[d, N], [N]])
      expectClose(got.dW, want.dW, 4e-6, `dW, ${what}`)
      expectClose(got.db, want.db, 4e-6, `db, ${what}`)
      if (active) {
        const stock = withStock(() => runGate(x, v, idx, dv, B, K, N, d))
        expectClose(got.dW, stock.dW, 2e-6, `dW against stock, ${what}`)
        expectClose(got.db, stock.db, 2e-6, `db against stock, ${what}`)
      }
    }
  })

  it.runIf(active)('the scatter-adds give the same bits at 1 and 2 threads', () => {
    const next = createRng(63)
    // Large enough that parallel_for gives each of 2 threads its 2^18 floats.
    const [B, K, N, d] = [512, 16, 3001, 301]
    const x = randomArray(B * d, next)
    const v = randomArray(B * K, next).map((a) => Math.abs(a))
    const idx = selections(B, K, N, next)
    const dv = randomArray(B * K, next)
    const M = randomArray(N * d, next)
    const dy = randomArray(B * d, next)
    const one = atThreads(1, () => ({ gate: runGate(x, v, idx, dv, B, K, N, d), rows: runSelected(v, idx, M, dy, B, K, N, d) }))
    const two = atThreads(2, () => ({ gate: runGate(x, v, idx, dv, B, K, N, d), rows: runSelected(v, idx, M, dy, B, K, N, d) }))
    expect(Buffer.from(two.gate.dW.buffer).equals(Buffer.from(one.gate.dW.buffer))).toBe(true)
    expect(Buffer.from(two.gate.db.buffer).equals(Buffer.from(one.gate.db.buffer))).toBe(true)
    for (const k of ['y', 'dv', 'dM'] as const)
      expect(Buffer.from(two.rows[k].buffer).equals(Buffer.from(one.rows[k].buffer)), k).toBe(true)
  })
})

// ------------------------------------------------------------------------------ dense codes

describe(`denseCodes (${mode})`, () => {
  it('puts each value at its index and 0 elsewhere, NaN included, on odd shapes', () => {
    const next = createRng(81)
    for (const [B, K, N] of [
      [1, 1, 1],
      [5, 3, 7],
      [33, 8, 61],
    ] as const) {
      const v = randomArray(B * K, next)
      if (B * K > 3) v[1] = NaN
      const idx = selections(B, K, N, next)
      const want = new Float64Array(B * N)
      for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) want[b * N + idx[b * K + k]!] = v[b * K + k]!
      const run = (): Float32Array => tf.tidy(() => floats(denseCodes(t32(v, [B, K]) as tf.Tensor2D, tf.tensor2d(idx, [B, K], 'int32'), N)))
      const got = run()
      expect(Array.from(got)).toEqual(Array.from(Float32Array.from(want)))
      if (active) expect(Array.from(got)).toEqual(Array.from(withStock(run)))
    }
  })
})

// ------------------------------------------------------------------------- unit-norm rows

describe(`unitRows and removeParallelComponent (${mode})`, () => {
  it('match float64 on odd shapes; a zero row stays zero', () => {
    const next = createRng(71)
    for (const [rows, cols] of [
      [1, 1],
      [7, 3],
      [61, 130],
    ] as const) {
      const M = randomArray(rows * cols, next)
      for (let c = 0; c < cols; c++) M[c] = 0 // row 0 all zero
      const g = randomArray(rows * cols, next)
      const unitRef = new Float64Array(M.length)
      const projRef = new Float64Array(M.length)
      for (let r = 0; r < rows; r++) {
        let sq = 0
        for (let c = 0; c < cols; c++) sq += M[r * cols + c]! ** 2
        const norm = Math.sqrt(sq) > 0 ? Math.sqrt(sq) : 1
        let dot = 0
        for (let c = 0; c < cols; c++) dot += g[r * cols + c]! * M[r * cols + c]!
        for (let c = 0; c < cols; c++) {
          unitRef[r * cols + c] = M[r * cols + c]! / norm
          projRef[r * cols + c] = g[r * cols + c]! - dot * M[r * cols + c]!
        }
      }
      const run = () =>
        tf.tidy(() => ({
          unit: floats(unitRows(t32(M, [rows, cols]) as tf.Tensor2D)),
          proj: floats(removeParallelComponent(t32(g, [rows, cols]) as tf.Tensor2D, t32(M, [rows, cols]) as tf.Tensor2D)),
        }))
      const got = run()
      expectClose(got.unit, unitRef, 1e-6, `unitRows [${rows}, ${cols}]`)
      expectClose(got.proj, projRef, 4e-6, `removeParallelComponent [${rows}, ${cols}]`)
      for (let c = 0; c < cols; c++) expect(got.unit[c]).toBe(0)
      if (active) {
        const stock = withStock(run)
        expectClose(got.unit, stock.unit, 1e-6, `unitRows against stock [${rows}, ${cols}]`)
        expectClose(got.proj, stock.proj, 2e-6, `removeParallelComponent against stock [${rows}, ${cols}]`)
      }
    }
  })
})

// ---------------------------------------------------------------- the whole MxD layer

describe.runIf(active)('an MxD training gradient, native kernels against stock wasm', () => {
  it('loss and every parameter gradient agree, sparse and GLU', () => {
    for (const glu of [false, true]) {
      const layer = MxDLayer.create({ dIn: 24, dOut: 20, hidden: 40, experts: 67, k: 5, glu, seed: 3 })
      tf.tidy(() => layer.params.D!.assign(tf.randomNormal([40, 20], 0, 0.2, 'float32', 9)))
      const x = tf.randomNormal([37, 24], 0, 1, 'float32', 5) as tf.Tensor2D
      const y = tf.randomNormal([37, 20], 0, 1, 'float32', 6) as tf.Tensor2D
      const run = () => {
        const { loss, grads } = layer.valueAndGrads(x, ({ y: yHat }) => tf.mean(tf.square(tf.sub(yHat, y))))
        const out = { loss: loss.dataSync()[0]!, grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, floats(g)])) }
        tf.dispose([loss, ...Object.values(grads)])
        return out
      }
      const native = run()
      const stock = withStock(run)
      expect(Math.abs(native.loss - stock.loss)).toBeLessThan(1e-5 * (1 + Math.abs(stock.loss)))
      expect(Object.keys(native.grads).sort()).toEqual(Object.keys(stock.grads).sort())
      for (const k of Object.keys(stock.grads)) expectClose(native.grads[k]!, stock.grads[k]!, 2e-5, `${k} (glu ${glu})`)
      tf.dispose([x, y])
      layer.dispose()
    }
  })
})
