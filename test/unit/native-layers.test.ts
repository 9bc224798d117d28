// The engine ops behind the non-GEMM native kernels (src/engine/native/: layer norm, GPT-2's GELU,
// the softmax backward in attention, SplitV, Concat, GatherV2) against independent float64
// references written here, over seeded random shapes with odd sizes. Runs in both configurations:
//   npx vitest run test/unit/native-layers.test.ts                  (native kernels, where built)
//   MXD_NATIVE=0 npx vitest run test/unit/native-layers.test.ts     (the tf-ops paths on plain wasm)
// With the native kernels in, each is also compared with the stock wasm computation of the same
// op in the same process (setNativeKernels(false)), and the kernels that split rows over threads
// must give the same bits at 1 and 2 threads.
//
// The gradient references are hand-derived (the formulas below) and are themselves checked
// against float64 central differences of the float64 forward, so a wrong formula cannot pass.
import { afterAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../src/engine/backend.js'
import { createRng } from '../../src/engine/generate.js'
import { nativeAddon } from '../../src/engine/native.js'
import { expectClose, nativeMode, numericGrad, randomArray, restoreNative, t32, withStock } from '../helpers/native-check.js'
import { causalBias, causalSelfAttention, crossEntropy, geluNew, layerNorm } from '../../src/engine/ops.js'

await initBackend()
const { active, mode } = nativeMode()

afterAll(restoreNative)

// ------------------------------------------------------------------------------ layer norm

/** Row r's mean and 1/√(var + eps) over its d entries, biased variance, in float64. */
function rowStats(x: Float64Array, r: number, d: number, eps: number): { mean: number; rstd: number } {
  let mean = 0
  for (let c = 0; c < d; c++) mean += x[r * d + c]!
  mean /= d
  let v = 0
  for (let c = 0; c < d; c++) v += (x[r * d + c]! - mean) ** 2
  return { mean, rstd: 1 / Math.sqrt(v / d + eps) }
}

/** float64 LayerNorm over the last axis: y = (x − mean)/√(var + eps)·w + b, biased variance. */
function layerNormRef(x: Float64Array, w: Float64Array, b: Float64Array, d: number, eps: number): Float64Array {
  const y = new Float64Array(x.length)
  for (let r = 0; r < x.length / d; r++) {
    const { mean, rstd } = rowStats(x, r, d, eps)
    for (let c = 0; c < d; c++) y[r * d + c] = (x[r * d + c]! - mean) * rstd * w[c]! + b[c]!
  }
  return y
}

/** Its gradients for upstream dy, by hand: dx = rstd·(g − mean g − x̂·mean(g x̂)), g = dy·w. */
function layerNormGradRef(x: Float64Array, w: Float64Array, dy: Float64Array, d: number, eps: number) {
  const dx = new Float64Array(x.length)
  const dw = new Float64Array(d)
  const db = new Float64Array(d)
  for (let r = 0; r < x.length / d; r++) {
    const { mean, rstd } = rowStats(x, r, d, eps)
    const xh = (c: number): number => (x[r * d + c]! - mean) * rstd
    let mg = 0
    let mgx = 0
    for (let c = 0; c < d; c++) {
      const g = dy[r * d + c]! * w[c]!
      mg += g / d
      mgx += (g * xh(c)) / d
      dw[c] = dw[c]! + dy[r * d + c]! * xh(c)
      db[c] = db[c]! + dy[r * d + c]!
    }
    for (let c = 0; c < d; c++) dx[r * d + c] = rstd * (dy[r * d + c]! * w[c]! - mg - xh(c) * mgx)
  }
  return { dx, dw, db }
}

const dot = (a: Float64Array, b: Float64Array): number => a.reduce((s, v, i) => s + v * b[i]!, 0)

describe(`layerNorm (${mode})`, () => {
  const shapes = [
    [1, 1],
    [3, 7],
    [2, 5, 33],
    [4, 257],
    [2, 3, 130],
    [65, 48],
  ]
  it('forward matches float64 on odd shapes', () => {
    const next = createRng(11)
    for (const shape of shapes) {
      const d = shape[shape.length - 1]!
      const n = shape.reduce((p, s) => p * s, 1)
      const x = randomArray(n, next, 3)
      for (let i = 0; i < n; i += 5) x[i] = x[i]! + 10 // an offset mean, where one-pass variance would lose digits
      const w = randomArray(d, next)
      const b = randomArray(d, next)
      const run = (): Float32Array =>
        tf.tidy(() => layerNorm(t32(x, shape), t32(w, [d]) as tf.Tensor1D, t32(b, [d]) as tf.Tensor1D, 1e-5).dataSync() as Float32Array)
      const want = layerNormRef(x, w, b, d, 1e-5)
      const got = run()
      expectClose(got, want, 2e-5, `y of [${shape}]`)
      if (active) expectClose(got, withStock(run), 4e-5, `y of [${shape}], native against stock wasm`)
    }
  })

  it('gradients match the hand-derived float64 ones, which match central differences', () => {
    const next = createRng(12)
    for (const shape of [
      [2, 3, 5],
      [4, 33],
      [70, 17],
    ]) {
      const d = shape[shape.length - 1]!
      const n = shape.reduce((p, s) => p * s, 1)
      const [x, w, b, dy] = [randomArray(n, next, 2), randomArray(d, next), randomArray(d, next), randomArray(n, next)]
      const want = layerNormGradRef(x, w, dy, d, 1e-5)
      if (n <= 40) {
        // The reference's own check: ∂/∂x of Σ dy·y(x) numerically.
        expectClose(
          want.dx,
          numericGrad((xx) => dot(dy, layerNormRef(xx, w, b, d, 1e-5)), x),
          1e-6,
          'hand-derived dx against differences',
        )
        expectClose(
          want.dw,
          numericGrad((ww) => dot(dy, layerNormRef(x, ww, b, d, 1e-5)), w),
          1e-6,
          'hand-derived dw against differences',
        )
      }
      const run = (): Float32Array[] =>
        tf.tidy(() => {
          const f = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor): tf.Scalar =>
            tf.sum(tf.mul(layerNorm(xi, wi as tf.Tensor1D, bi as tf.Tensor1D, 1e-5), t32(dy, shape)))
          return tf
            .grads(f)([t32(x, shape), t32(w, [d]), t32(b, [d])])
            .map((g) => g.dataSync() as Float32Array)
        })
      const [dx, dw, db] = run()
      expectClose(dx!, want.dx, 1e-5, `dx of [${shape}]`)
      expectClose(dw!, want.dw, 1e-5, `dw of [${shape}]`)
      expectClose(db!, want.db, 1e-5, `db of [${shape}]`)
      if (active) {
        const stock = withStock(run)
        ;[dx, dw, db].forEach((g, i) => expectClose(g!, stock[i]!, 2e-5, `gradient ${i} of [${shape}], native against stock wasm`))
      }
    }
  })

  it.skipIf(!active)('gives the same bits at 1 and 2 threads', () => {
    const next = createRng(13)
    // Enough rows for two threads (each needs 2^18 floats, native/mxd_common.c), not a multiple of
    // the backward's row block.
    const [rows, d] = [8195, 64]
    const [x, w, b, dy] = [randomArray(rows * d, next, 2), randomArray(d, next), randomArray(d, next), randomArray(rows * d, next)]
    const run = (threads: number): Float32Array[] => {
      nativeAddon()!.setThreads(threads)
      return tf.tidy(() => {
        const f = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor): tf.Scalar =>
          tf.sum(tf.mul(layerNorm(xi, wi as tf.Tensor1D, bi as tf.Tensor1D, 1e-5), t32(dy, [rows, d])))
        const y = layerNorm(t32(x, [rows, d]), t32(w, [d]) as tf.Tensor1D, t32(b, [d]) as tf.Tensor1D, 1e-5)
        return [y, ...tf.grads(f)([t32(x, [rows, d]), t32(w, [d]), t32(b, [d])])].map((t) => t.dataSync() as Float32Array)
      })
    }
    const one = run(1)
    const two = run(2)
    one.forEach((t, i) => expect(Buffer.from(two[i]!.buffer).equals(Buffer.from(t.buffer)), `output ${i}`).toBe(true))
  })
})

// ---------------------------------------------------------------------------------- gelu_new

/** GPT-2's gelu_new in its published tanh form (an independent form of ops.ts's x·σ(u)). */
const geluTanh = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)))

describe(`geluNew (${mode})`, () => {
  it('forward and gradient match float64, tails included', () => {
    const next = createRng(21)
    for (const n of [1, 7, 1000, 4099]) {
      const x = randomArray(n, next, 4)
      // The tails where σ saturates and the native exp clamps its argument.
      const tails = [-100, -60, -20, -9.5, -5, 0, 5, 9.5, 20, 60, 100]
      tails.forEach((v, i) => {
        if (i < n) x[i] = v
      })
      const dy = randomArray(n, next)
      const wantY = x.map(geluTanh)
      const wantDx = x.map((v, i) => ((geluTanh(v + 1e-6) - geluTanh(v - 1e-6)) / 2e-6) * dy[i]!)
      const run = (): Float32Array[] =>
        tf.tidy(() => {
          const xt = t32(x, [n])
          const g = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(geluNew(xi), t32(dy, [n]))))(xt)
          return [geluNew(xt).dataSync() as Float32Array, g.dataSync() as Float32Array]
        })
      const [y, dx] = run()
      // Pointwise: float32 rounding of the result, relative to each value.
      for (let i = 0; i < n; i++) {
        expect(Math.abs(y![i]! - wantY[i]!), `y at x = ${x[i]}`).toBeLessThanOrEqual(2e-6 * (1e-3 + Math.abs(wantY[i]!)))
        expect(Math.abs(dx![i]! - wantDx[i]!), `dx at x = ${x[i]}`).toBeLessThanOrEqual(1e-5 * (1e-3 + Math.abs(wantDx[i]!)) + 1e-7)
      }
      if (active) {
        const [sy, sdx] = withStock(run)
        expectClose(y!, sy!, 2e-6, `y, native against stock wasm (n ${n})`)
        expectClose(dx!, sdx!, 2e-6, `dx, native against stock wasm (n ${n})`)
      }
    }
  })
})

// --------------------------------------------------------------------------------- attention

/** float64 causal self-attention of qkv [B, T, 3d] (columns q | k | v), heads merged: [B, T, d]. */
function attentionRef(qkv: Float64Array, B: number, T: number, d: number, H: number): Float64Array {
  const hd = d / H
  const out = new Float64Array(B * T * d)
  const at = (b: number, t: number, part: number, h: number, c: number): number => qkv[(b * T + t) * 3 * d + part * d + h * hd + c]!
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < T; i++) {
        const s: number[] = []
        for (let j = 0; j <= i; j++) {
          let v = 0
          for (let c = 0; c < hd; c++) v += at(b, i, 0, h, c) * at(b, j, 1, h, c)
          s.push(v / Math.sqrt(hd))
        }
        const m = Math.max(...s)
        const e = s.map((v) => Math.exp(v - m))
        const z = e.reduce((p, v) => p + v, 0)
        for (let c = 0; c < hd; c++) {
          let v = 0
          for (let j = 0; j <= i; j++) v += (e[j]! / z) * at(b, j, 2, h, c)
          out[(b * T + i) * d + h * hd + c] = v
        }
      }
  return out
}

describe(`causalSelfAttention backward, softmax gradient and head split (${mode})`, () => {
  it('the gradient of qkv matches float64 central differences', () => {
    const next = createRng(31)
    for (const [B, T, d, H] of [
      [1, 3, 4, 1],
      [2, 5, 12, 3],
    ] as const) {
      const qkv = randomArray(B * T * 3 * d, next, 1.5)
      const up = randomArray(B * T * d, next)
      const want = numericGrad((q) => dot(up, attentionRef(q, B, T, d, H)), qkv)
      const run = (): Float32Array[] =>
        tf.tidy(() => {
          const bias = causalBias(T)
          const f = (x: tf.Tensor): tf.Scalar => tf.sum(tf.mul(causalSelfAttention(x as tf.Tensor3D, H, bias), t32(up, [B, T, d])))
          const x = t32(qkv, [B, T, 3 * d])
          return [causalSelfAttention(x as tf.Tensor3D, H, bias).dataSync() as Float32Array, tf.grad(f)(x).dataSync() as Float32Array]
        })
      const [y, g] = run()
      expectClose(y!, attentionRef(qkv, B, T, d, H), 1e-5, `attention of [${B}, ${T}, ${3 * d}]`)
      expectClose(g!, want, 1e-4, `dqkv of [${B}, ${T}, ${3 * d}]`)
      if (active) expectClose(g!, withStock(run)[1]!, 1e-5, 'dqkv, native against stock wasm')
    }
  })

  it.skipIf(!active)('MxdSoftmaxGrad matches P ∗ (dP − Σ dP∗P) in float64', () => {
    const next = createRng(32)
    for (const shape of [
      [1, 1],
      [3, 1, 7],
      [2, 4, 129],
    ]) {
      const n = shape[shape.length - 1]!
      const size = shape.reduce((p, s) => p * s, 1)
      const p = randomArray(size, next).map(Math.abs)
      const dp = randomArray(size, next, 3)
      const want = new Float64Array(size)
      for (let r = 0; r < size / n; r++) {
        let s = 0
        for (let c = 0; c < n; c++) s += dp[r * n + c]! * p[r * n + c]!
        for (let c = 0; c < n; c++) want[r * n + c] = p[r * n + c]! * (dp[r * n + c]! - s)
      }
      const got = tf.tidy(() => (tf.engine().runKernel('MxdSoftmaxGrad', { p: t32(p, shape), dp: t32(dp, shape) }) as tf.Tensor).dataSync())
      expectClose(got, want, 1e-6, `ds of [${shape}]`)
    }
  })
})

// ---------------------------------------------------------------------- split, concat, gather

describe(`SplitV, Concat and GatherV2 (${mode})`, () => {
  it('split and concat along every axis are exact copies', () => {
    const next = createRng(41)
    for (const shape of [[5], [3, 7], [2, 5, 9], [2, 3, 4, 5]]) {
      const size = shape.reduce((p, s) => p * s, 1)
      const x = randomArray(size, next)
      for (let axis = 0; axis < shape.length; axis++) {
        const len = shape[axis]!
        const sizes = len >= 3 ? [1, len - 3, 2] : [len]
        const parts = tf.tidy(() =>
          tf.split(t32(x, shape), sizes, axis).map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array })),
        )
        // Reference: element (…, i_axis, …) goes to the part holding i_axis, at i_axis − its start.
        const outer = shape.slice(0, axis).reduce((p, s) => p * s, 1)
        const inner = shape.slice(axis + 1).reduce((p, s) => p * s, 1)
        let start = 0
        sizes.forEach((s, k) => {
          expect(parts[k]!.shape).toEqual([...shape.slice(0, axis), s, ...shape.slice(axis + 1)])
          const want = new Float32Array(outer * s * inner)
          for (let o = 0; o < outer; o++)
            for (let i = 0; i < s; i++)
              for (let c = 0; c < inner; c++) want[(o * s + i) * inner + c] = x[(o * len + start + i) * inner + c]!
          expect(Array.from(parts[k]!.data), `part ${k} of [${shape}] along ${axis}`).toEqual(Array.from(want))
          start += s
        })
        const joined = tf.tidy(() =>
          tf
            .concat(
              parts.map((p) => tf.tensor(p.data, p.shape)),
              axis,
            )
            .dataSync(),
        )
        expect(Array.from(joined), `concat of [${shape}] along ${axis}`).toEqual(Array.from(Float32Array.from(x)))
      }
    }
  })

  it('gather picks whole rows along an axis', () => {
    const next = createRng(42)
    for (const [shape, axis, count] of [
      [[7, 5], 0, 11],
      [[3, 9, 4], 1, 6],
      [[4, 6], 1, 3],
      [[10], 0, 4],
    ] as const) {
      const size = shape.reduce((p, s) => p * s, 1)
      const x = randomArray(size, next)
      const n = shape[axis]!
      const idx = Int32Array.from({ length: count }, () => Math.floor(next() * n))
      const got = tf.tidy(() => tf.gather(t32(x, [...shape]), tf.tensor1d(idx, 'int32'), axis).dataSync())
      const outer = shape.slice(0, axis).reduce((p, s) => p * s, 1)
      const inner = shape.slice(axis + 1).reduce((p, s) => p * s, 1)
      const want: number[] = []
      for (let o = 0; o < outer; o++) for (const i of idx) for (let c = 0; c < inner; c++) want.push(x[(o * n + i) * inner + c]!)
      expect(Array.from(got), `gather of [${shape}] along ${axis}`).toEqual(want)
    }
  })

  it.skipIf(!active)('native gather refuses an index outside the axis instead of reading past it', () => {
    expect(() => tf.tidy(() => tf.gather(tf.zeros([4, 3]), tf.tensor1d([1, 4], 'int32')).dataSync())).toThrow(
      /indices\[1\] = 4 is not in \[0, 4\)/,
    )
  })
})

describe(`Transpose (${mode})`, () => {
  it('matches an index-by-index reference for every permutation up to rank 5, float32 and int32', () => {
    const next = createRng(51)
    const perms = (n: number): number[][] =>
      n === 1 ? [[0]] : perms(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]))
    for (const shape of [[7], [3, 5], [2, 3, 5], [2, 3, 4, 5], [2, 1, 3, 2, 3]]) {
      const size = shape.reduce((p, s) => p * s, 1)
      const x = randomArray(size, next)
      const ints = Int32Array.from({ length: size }, (_, i) => i * 7 - 3)
      for (const perm of perms(shape.length)) {
        const outShape = perm.map((p) => shape[p]!)
        const want = new Float32Array(size)
        const wantInt = new Int32Array(size)
        const inStride = shape.map((_, a) => shape.slice(a + 1).reduce((p, s) => p * s, 1))
        for (let o = 0; o < size; o++) {
          let rest = o
          let src = 0
          for (let a = outShape.length - 1; a >= 0; a--) {
            src += (rest % outShape[a]!) * inStride[perm[a]!]!
            rest = Math.floor(rest / outShape[a]!)
          }
          want[o] = x[src]!
          wantInt[o] = ints[src]!
        }
        const [got, gotInt] = tf.tidy(() =>
          [tf.transpose(t32(x, shape), perm), tf.transpose(tf.tensor(ints, shape, 'int32'), perm)].map((t) => t.dataSync()),
        )
        expect(Array.from(got!), `float32 [${shape}] by [${perm}]`).toEqual(Array.from(want))
        expect(Array.from(gotInt!), `int32 [${shape}] by [${perm}]`).toEqual(Array.from(wantInt))
      }
    }
  })
})

describe(`Tile and the broadcasts tf.where makes of it (${mode})`, () => {
  /** Index-by-index reference: output element o takes input element (o's index mod the input's shape). */
  function tileRef<T extends ArrayLike<number>>(x: T, shape: number[], reps: number[]): number[] {
    const outShape = shape.map((d, a) => d * reps[a]!)
    const size = outShape.reduce((p, s) => p * s, 1)
    const inStride = shape.map((_, a) => shape.slice(a + 1).reduce((p, s) => p * s, 1))
    return Array.from({ length: size }, (_, o) => {
      let rest = o
      let src = 0
      for (let a = outShape.length - 1; a >= 0; a--) {
        src += ((rest % outShape[a]!) % shape[a]!) * inStride[a]!
        rest = Math.floor(rest / outShape[a]!)
      }
      return x[src]!
    })
  }

  it('float32, int32 and bool over odd shapes and reps, ranks 1 to 5, scalars to full shape', () => {
    const next = createRng(57)
    const cases: [number[], number[]][] = [
      [[1], [7]],
      [[3], [1]],
      [[5], [3]],
      [
        [1, 1],
        [3, 5],
      ],
      [
        [2, 3],
        [3, 1],
      ],
      [
        [2, 1, 3],
        [1, 5, 2],
      ],
      [
        [1, 1, 1, 1],
        [2, 3, 5, 7],
      ],
      [
        [2, 1, 3, 3],
        [1, 3, 1, 1],
      ],
      [
        [2, 3, 4, 1],
        [1, 1, 1, 6],
      ],
      [
        [1, 2, 1, 3, 1],
        [3, 1, 2, 1, 5],
      ],
    ]
    for (const [shape, reps] of cases) {
      const size = shape.reduce((p, v) => p * v, 1)
      const x = Float32Array.from(randomArray(size, next))
      const ints = Int32Array.from({ length: size }, (_, i) => i * 7 - 3)
      const bools = Uint8Array.from({ length: size }, (_, i) => (i % 3 === 1 ? 1 : 0))
      const [got, gotInt, gotBool] = tf.tidy(() =>
        [
          tf.tile(tf.tensor(x, shape), reps),
          tf.tile(tf.tensor(ints, shape, 'int32'), reps),
          tf.tile(tf.tensor(bools, shape, 'bool'), reps),
        ].map((t) => Array.from(t.dataSync())),
      )
      expect(got, `float32 [${shape}] × [${reps}]`).toEqual(tileRef(x, shape, reps))
      expect(gotInt, `int32 [${shape}] × [${reps}]`).toEqual(tileRef(ints, shape, reps))
      expect(gotBool, `bool [${shape}] × [${reps}]`).toEqual(tileRef(bools, shape, reps))
    }
  })

  it('tf.where with a broadcast mask and scalar fills (attention at inference) equals the stock kernels and a hand selection', () => {
    const next = createRng(58)
    const [b, h, q, k] = [2, 3, 5, 7]
    const scores = randomArray(b * h * q * k, next)
    const visible = Uint8Array.from({ length: b * q * k }, (_, i) => (i % k <= Math.floor(i / k) % q ? 1 : 0))
    const run = (): number[] =>
      tf.tidy(() => Array.from(tf.where(tf.tensor(visible, [b, 1, q, k], 'bool'), t32(scores, [b, h, q, k]), -1e9).dataSync()))
    const want = Array.from({ length: b * h * q * k }, (_, i) => {
      const [bi, qi, ki] = [Math.floor(i / (h * q * k)), Math.floor(i / k) % q, i % k]
      return visible[(bi * q + qi) * k + ki] ? Math.fround(scores[i]!) : Math.fround(-1e9)
    })
    expect(run()).toEqual(want)
    if (active) expect(run()).toEqual(withStock(run))
  })

  it.skipIf(!active)('rows split over threads give the same bits as one thread', () => {
    const x = tf.tensor(Float32Array.from(randomArray(3 * 1 * 64, createRng(59))), [3, 1, 64])
    const once = (): number[] => tf.tidy(() => Array.from(tf.tile(x, [1, 4096, 2]).dataSync()))
    nativeAddon()!.setThreads(1)
    const one = once()
    nativeAddon()!.setThreads(2)
    expect(once()).toEqual(one)
    x.dispose()
  })
})

// ----------------------------------------------------------------------------- cross-entropy

/** float64 mean next-token cross-entropy: mean over rows of logsumexp(l) − l[target]. */
function crossEntropyRef(l: Float64Array, targets: Int32Array, vocab: number): number {
  let total = 0
  for (let r = 0; r < targets.length; r++) {
    const row = l.subarray(r * vocab, (r + 1) * vocab)
    const m = Math.max(...row)
    total += m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[targets[r]!]!
  }
  return total / targets.length
}

describe(`crossEntropy (${mode})`, () => {
  it('loss and gradient match float64 (the gradient also against central differences)', () => {
    const next = createRng(61)
    // (vocab ≥ 2: the tf-ops path's oneHot refuses a depth of 1.)
    for (const [rows, vocab] of [
      [1, 2],
      [3, 7],
      [17, 130],
      [5, 515],
    ] as const) {
      const l = randomArray(rows * vocab, next, 8)
      if (rows * vocab > 1) l[1] = 80 // a dominant logit: exp(l − max) underflows for the rest
      const targets = Int32Array.from({ length: rows }, () => Math.floor(next() * vocab))
      const wantLoss = crossEntropyRef(l, targets, vocab)
      // (softmax − onehot) / rows, by hand.
      const wantGrad = new Float64Array(rows * vocab)
      for (let r = 0; r < rows; r++) {
        const row = l.subarray(r * vocab, (r + 1) * vocab)
        const m = Math.max(...row)
        const z = row.reduce((s, v) => s + Math.exp(v - m), 0)
        for (let c = 0; c < vocab; c++) wantGrad[r * vocab + c] = (Math.exp(row[c]! - m) / z - (c === targets[r] ? 1 : 0)) / rows
      }
      if (rows * vocab <= 30)
        expectClose(
          wantGrad,
          numericGrad((ll) => crossEntropyRef(ll, targets, vocab), l),
          1e-6,
          'hand-derived gradient against differences',
        )
      const run = (): Float32Array[] =>
        tf.tidy(() => {
          const x = t32(l, [rows, vocab]) as tf.Tensor2D
          const { value, grad } = tf.valueAndGrad((xi: tf.Tensor) => crossEntropy(xi as tf.Tensor2D, targets))(x)
          return [value.dataSync() as Float32Array, grad.dataSync() as Float32Array]
        })
      const [loss, grad] = run()
      expect(Math.abs(loss![0]! - wantLoss), `loss of [${rows}, ${vocab}]`).toBeLessThanOrEqual(2e-6 * (1 + Math.abs(wantLoss)))
      expectClose(grad!, wantGrad, 2e-6, `dlogits of [${rows}, ${vocab}]`)
      if (active) {
        const [sl, sg] = withStock(run)
        expect(Math.abs(loss![0]! - sl![0]!), 'loss, native against stock wasm').toBeLessThanOrEqual(4e-6 * (1 + Math.abs(wantLoss)))
        expectClose(grad!, sg!, 4e-6, 'dlogits, native against stock wasm')
      }
    }
  })

  it.skipIf(!active)('refuses a target outside the vocabulary', () => {
    expect(() => tf.tidy(() => crossEntropy(tf.zeros([2, 3]) as tf.Tensor2D, Int32Array.from([0, 3])).dataSync())).toThrow(
      /targets\[1\] = 3 is not in \[0, 3\)/,
    )
  })
})

describe(`Identity (${mode})`, () => {
  it('a clone keeps its values after the original is disposed, and the original after the clone is', () => {
    const next = createRng(71)
    const data = Float32Array.from(randomArray(37, next))
    const x = tf.tensor(data, [37])
    const c = tf.clone(x)
    x.dispose()
    expect(Array.from(c.dataSync())).toEqual(Array.from(data))
    const y = tf.tensor(data, [37])
    tf.clone(y).dispose()
    expect(Array.from(y.dataSync())).toEqual(Array.from(data))
    tf.dispose([c, y])
  })
})
