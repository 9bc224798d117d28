// The native kernels (src/engine/native.ts, native/mxd_native.c) against an independent float64
// reference written here as plain loops, and against the stock wasm kernels, over seeded random
// shapes: transposes, broadcast batch dimensions, sizes that are not multiples of any block size,
// fused biases of shape [1], [n], [m, 1], [m, n] and batched, and every fused activation.
//
// The wasm side of the fused comparison is tfjs's own matMul + add + activation (each a stock
// wasm kernel), not the stock _FusedMatMul: that one is wrong with a bias plus transposes or a
// bias of shape [1], which is one reason ours replaces it.
//
// Skipped, with the reason, only where the addon is not built (or MXD_NATIVE=0);
// test/unit/native-off.test.ts covers that configuration.
import { afterAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../src/engine/backend.js'
import { chooseThreads, loadAddon, nativeAddon, nativeKernelsReport, planMatMul, setNativeKernels } from '../../src/engine/native.js'
import { createRng as rng } from '../../src/engine/generate.js'
import { openblasEnvDefaults } from '../../src/engine/native/addon.js'
import { atThreads } from '../helpers/native-check.js'

await initBackend()
const report = nativeKernelsReport()
const active = (report?.kernels.length ?? 0) > 0
if (!active) console.warn(`native-kernels tests skipped: ${report?.reason ?? 'no report'}`)

afterAll(() => {
  if (active) setNativeKernels(true)
})

interface Dense {
  shape: number[]
  data: Float64Array // the float32 values, held in float64
}

function randomDense(shape: number[], next: () => number): Dense {
  const size = shape.reduce((p, d) => p * d, 1)
  const f32 = new Float32Array(size)
  for (let i = 0; i < size; i++) f32[i] = next() * 2 - 1
  return { shape, data: Float64Array.from(f32) }
}

const tensorOf = (d: Dense): tf.Tensor => tf.tensor(Float32Array.from(d.data), d.shape, 'float32')

/** Value of `d` at output index `idx` under numpy broadcasting (right-aligned, size-1 dims repeat). */
function at(d: Dense, idx: number[]): number {
  let off = 0
  let stride = 1
  for (let i = d.shape.length - 1; i >= 0; i--) {
    const size = d.shape[i]!
    const j = idx[idx.length - d.shape.length + i]!
    off += (size === 1 ? 0 : j) * stride
    stride *= size
  }
  return d.data[off]!
}

type Act = 'linear' | 'relu' | 'relu6' | 'prelu' | 'leakyrelu' | 'sigmoid' | 'elu'

interface Case {
  a: Dense
  b: Dense
  transposeA: boolean
  transposeB: boolean
  bias?: Dense
  activation?: Act
  prelu?: Dense
  alpha?: number
}

/**
 * float64 reference of (fused) matMul: y = act(op(a)·op(b) + bias), with numpy broadcasting over
 * the batch dimensions. Also returns, per output, Σ|a||b| + |bias|, which bounds float32 rounding.
 */
function reference(c: Case): { shape: number[]; y: Float64Array; scale: Float64Array } {
  const ra = c.a.shape.length
  const rb = c.b.shape.length
  const m = c.transposeA ? c.a.shape[ra - 1]! : c.a.shape[ra - 2]!
  const k = c.transposeA ? c.a.shape[ra - 2]! : c.a.shape[ra - 1]!
  const n = c.transposeB ? c.b.shape[rb - 2]! : c.b.shape[rb - 1]!
  const aOuter = c.a.shape.slice(0, -2)
  const bOuter = c.b.shape.slice(0, -2)
  const r = Math.max(aOuter.length, bOuter.length)
  const outer: number[] = []
  for (let i = 0; i < r; i++) {
    const da = aOuter[aOuter.length - r + i] ?? 1
    const db = bOuter[bOuter.length - r + i] ?? 1
    outer.push(Math.max(da, db))
  }
  const shape = [...outer, m, n]
  const batch = outer.reduce((p, d) => p * d, 1)
  const y = new Float64Array(batch * m * n)
  const scale = new Float64Array(batch * m * n)
  for (let t = 0; t < batch; t++) {
    const bi: number[] = []
    let rest = t
    for (let d = outer.length - 1; d >= 0; d--) {
      bi.unshift(rest % outer[d]!)
      rest = Math.floor(rest / outer[d]!)
    }
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0
        let abs = 0
        for (let p = 0; p < k; p++) {
          const av = at(c.a, [...bi, c.transposeA ? p : i, c.transposeA ? i : p])
          const bv = at(c.b, [...bi, c.transposeB ? j : p, c.transposeB ? p : j])
          s += av * bv
          abs += Math.abs(av * bv)
        }
        const o = [...bi, i, j]
        if (c.bias) {
          const bv = at(c.bias, o)
          s += bv
          abs += Math.abs(bv)
        }
        let v = s
        switch (c.activation ?? 'linear') {
          case 'relu':
            v = Math.max(0, s)
            break
          case 'relu6':
            v = Math.min(6, Math.max(0, s))
            break
          case 'leakyrelu':
            v = s < 0 ? (c.alpha ?? 0.2) * s : s
            break
          case 'prelu':
            v = s < 0 ? at(c.prelu!, o) * s : s
            break
          case 'sigmoid':
            v = 1 / (1 + Math.exp(-s))
            break
          case 'elu':
            v = s >= 0 ? s : Math.expm1(s)
            break
        }
        const idx = (t * m + i) * n + j
        y[idx] = v
        scale[idx] = abs
      }
  }
  return { shape, y, scale }
}

/** Every element within float32 rounding of a sum of k products: 1e-5·Σ|a||b| + 1e-6. */
function expectNear(actual: tf.Tensor, ref: { shape: number[]; y: Float64Array; scale: Float64Array }, factor = 1): void {
  expect(actual.shape).toEqual(ref.shape)
  const got = actual.dataSync()
  let worst = 0
  let where = -1
  for (let i = 0; i < ref.y.length; i++) {
    const excess = Math.abs(got[i]! - ref.y[i]!) - factor * (1e-5 * ref.scale[i]! + 1e-6)
    if (!(excess <= worst)) {
      worst = excess
      where = i
    }
  }
  expect(where, `element ${where}: got ${got[where]}, reference ${ref.y[where]}`).toBe(-1)
}

function fused(c: Case): tf.Tensor {
  return tf.fused.matMul({
    a: tensorOf(c.a) as tf.Tensor2D,
    b: tensorOf(c.b) as tf.Tensor2D,
    transposeA: c.transposeA,
    transposeB: c.transposeB,
    bias: c.bias ? tensorOf(c.bias) : undefined,
    activation: c.activation ?? 'linear',
    preluActivationWeights: c.prelu ? tensorOf(c.prelu) : undefined,
    leakyreluAlpha: c.alpha,
  })
}

/** The same function from separate stock wasm kernels (matMul, add, the activation). */
function unfusedWasm(c: Case): tf.Tensor {
  return tf.tidy(() => {
    let y: tf.Tensor = tf.matMul(tensorOf(c.a), tensorOf(c.b), c.transposeA, c.transposeB)
    if (c.bias) y = tf.add(y, tensorOf(c.bias))
    switch (c.activation ?? 'linear') {
      case 'relu':
        return tf.relu(y)
      case 'relu6':
        return tf.relu6(y)
      case 'leakyrelu':
        return tf.leakyRelu(y, c.alpha ?? 0.2)
      case 'prelu':
        // relu(y) + slope·min(y, 0): broadcasts the slopes as the fused op does.
        return tf.add(tf.relu(y), tf.mul(tensorOf(c.prelu!), tf.minimum(y, 0)))
      case 'sigmoid':
        return tf.sigmoid(y)
      case 'elu':
        return tf.elu(y)
      default:
        return y
    }
  })
}

function withStock<T>(f: () => T): T {
  setNativeKernels(false)
  try {
    return f()
  } finally {
    setNativeKernels(true)
  }
}

const pick = <T>(next: () => number, xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!
const dim = (next: () => number): number => pick(next, [1, 2, 3, 7, 16, 17, 31, 33, 64, 65, 127])

/** Stored shape of an operand whose product shape is rows×cols, transposed or not. */
const stored = (outer: number[], rows: number, cols: number, transposed: boolean): number[] => [
  ...outer,
  ...(transposed ? [cols, rows] : [rows, cols]),
]

describe.skipIf(!active)('native BatchMatMul', () => {
  it('matches the float64 reference and the stock wasm kernel over 40 seeded random shapes', () => {
    const next = rng(12)
    for (let trial = 0; trial < 40; trial++) {
      const [m, k, n] = [dim(next), dim(next), dim(next)]
      const transposeA = next() < 0.5
      const transposeB = next() < 0.5
      // Batch dims: none, equal, or one side all 1s or absent (which stock wasm handles too).
      const batch = pick(next, [[], [3], [2, 3]] as number[][])
      const [aOuter, bOuter] = pick(next, [
        [batch, batch],
        [batch.map(() => 1), batch],
        [batch, batch.map(() => 1)],
        [[], batch],
        [batch, []],
      ] as [number[], number[]][])
      const c: Case = {
        a: randomDense(stored(aOuter, m, k, transposeA), next),
        b: randomDense(stored(bOuter, k, n, transposeB), next),
        transposeA,
        transposeB,
      }
      const ref = reference(c)
      tf.tidy(() => {
        expectNear(tf.matMul(tensorOf(c.a), tensorOf(c.b), transposeA, transposeB), ref)
        expectNear(
          withStock(() => tf.matMul(tensorOf(c.a), tensorOf(c.b), transposeA, transposeB)),
          ref,
        )
      })
    }
  })

  it('broadcasts batch dimensions both ways ([2,1] against [1,3]), which stock wasm does not', () => {
    const next = rng(7)
    for (const [aOuter, bOuter] of [
      [
        [2, 1],
        [1, 3],
      ],
      [
        [4, 1, 2],
        [3, 1],
      ],
      [[5], [2, 1, 1]],
    ] as [number[], number[]][]) {
      const c: Case = {
        a: randomDense([...aOuter, 5, 9], next),
        b: randomDense([...bOuter, 6, 9], next),
        transposeA: false,
        transposeB: true,
      }
      tf.tidy(() => expectNear(tf.matMul(tensorOf(c.a), tensorOf(c.b), false, true), reference(c)))
    }
  })

  it('handles sizes that are not multiples of any block size, and a larger product', () => {
    const next = rng(99)
    for (const [m, k, n] of [
      [1, 1, 1],
      [1, 300, 1],
      [129, 257, 65],
      [200, 96, 513],
    ] as const) {
      for (const [transposeA, transposeB] of [
        [false, false],
        [true, true],
      ] as const) {
        const c: Case = {
          a: randomDense(stored([], m, k, transposeA), next),
          b: randomDense(stored([], k, n, transposeB), next),
          transposeA,
          transposeB,
        }
        tf.tidy(() => expectNear(tf.matMul(tensorOf(c.a), tensorOf(c.b), transposeA, transposeB), reference(c)))
      }
    }
  })

  it('gives the same gradients as the stock kernels (tfjs differentiates matMul with transposed matMuls)', () => {
    const next = rng(5)
    const a = tensorOf(randomDense([3, 17, 33], next))
    const b = tensorOf(randomDense([3, 33, 9], next))
    const f = (x: tf.Tensor, y: tf.Tensor): tf.Tensor => tf.sum(tf.square(tf.matMul(x, y)))
    const [ga, gb] = tf.grads(f)([a, b])
    const [sa, sb] = withStock(() => tf.grads(f)([a, b]))
    expect(tf.max(tf.abs(tf.sub(ga!, sa!))).dataSync()[0]).toBeLessThan(1e-4)
    expect(tf.max(tf.abs(tf.sub(gb!, sb!))).dataSync()[0]).toBeLessThan(1e-4)
  })
})

describe.skipIf(!active)('native _FusedMatMul', () => {
  const ACTS: Act[] = ['linear', 'relu', 'relu6', 'leakyrelu', 'prelu', 'sigmoid', 'elu']

  it('matches the float64 reference and stock wasm matMul+add+activation over 60 seeded cases', () => {
    const next = rng(2026)
    for (let trial = 0; trial < 60; trial++) {
      const [m, k, n] = [dim(next), dim(next), dim(next)]
      const transposeA = next() < 0.5
      const transposeB = next() < 0.5
      const batch = pick(next, [[], [], [4]] as number[][])
      const aOuter = batch
      const bOuter = batch.length && next() < 0.4 ? [1] : batch
      const outShape = [...batch, m, n]
      const biasShape = pick(next, [null, [1], [n], [1, n], [m, 1], [m, n], outShape] as (number[] | null)[])
      const activation = ACTS[trial % ACTS.length]!
      const c: Case = {
        a: randomDense(stored(aOuter, m, k, transposeA), next),
        b: randomDense(stored(bOuter, k, n, transposeB), next),
        transposeA,
        transposeB,
        bias: biasShape ? randomDense(biasShape, next) : undefined,
        activation,
        prelu: activation === 'prelu' ? randomDense(pick(next, [[1], [n], [m, n]]), next) : undefined,
        alpha: activation === 'leakyrelu' ? 0.1 + next() : undefined,
      }
      const ref = reference(c)
      tf.tidy(() => {
        expectNear(fused(c), ref)
        expectNear(
          withStock(() => unfusedWasm(c)),
          ref,
        )
      })
    }
  })

  it('is right where stock tfjs-wasm 4.22 is wrong: transposes plus a bias, and a bias of shape [1]', () => {
    const next = rng(3)
    for (const [transposeA, transposeB, biasShape] of [
      [true, false, [24]],
      [false, true, [24]],
      [true, true, [24]],
      [false, false, [1]],
      [true, true, [1]],
    ] as [boolean, boolean, number[]][]) {
      const c: Case = {
        a: randomDense(stored([], 10, 19, transposeA), next),
        b: randomDense(stored([], 19, 24, transposeB), next),
        transposeA,
        transposeB,
        bias: randomDense(biasShape, next),
      }
      tf.tidy(() => expectNear(fused(c), reference(c)))
    }
  })

  it('gives the gradient of a biased linear layer (tfjs-core differentiates the fused op itself)', () => {
    const next = rng(11)
    const x = tensorOf(randomDense([13, 21], next)) as tf.Tensor2D
    const w = tensorOf(randomDense([21, 7], next)) as tf.Tensor2D
    const bias = tensorOf(randomDense([7], next))
    const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor): tf.Tensor =>
      tf.sum(tf.square(tf.fused.matMul({ a: xx as tf.Tensor2D, b: ww as tf.Tensor2D, bias: bb })))
    const ours = tf.grads(f)([x, w, bias])
    const stock = withStock(() =>
      tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.square(tf.add(tf.matMul(xx, ww), bb))))([x, w, bias]),
    )
    for (let i = 0; i < 3; i++) expect(tf.max(tf.abs(tf.sub(ours[i]!, stock[i]!))).dataSync()[0]).toBeLessThan(1e-4)
  })
})

describe.skipIf(!active)('the addon itself', () => {
  it('computes a strided sgemm (leading dimensions wider than the matrices) against the reference', () => {
    const native = nativeAddon()!
    const next = rng(1)
    const heap = new ArrayBuffer(4 * 4096)
    const f = new Float32Array(heap)
    for (let i = 0; i < f.length; i++) f[i] = next() * 2 - 1
    // C (3×4, ldc 6, at float 2000) := A (3×5, lda 8, at float 0) · B (5×4, ldb 7, at float 100)
    const before = Float64Array.from(f.subarray(2000, 2000 + 18))
    native.sgemm(heap, false, false, 3, 4, 5, 1, 0, 8, 400, 7, 0.5, 8000, 6)
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 6; j++) {
        let want = before[i * 6 + j]!
        if (j < 4) {
          want *= 0.5
          for (let p = 0; p < 5; p++) want += f[i * 8 + p]! * f[100 + p * 7 + j]!
        }
        expect(Math.abs(f[2000 + i * 6 + j]! - want)).toBeLessThan(1e-5)
      }
  })

  it('gives zeros for an empty inner product, and refuses regions outside the heap', () => {
    const native = nativeAddon()!
    const heap = new ArrayBuffer(400)
    const f = new Float32Array(heap).fill(7)
    native.sgemmBatched(heap, false, false, 2, 3, 0, 2, 0, null, 0, null, 40, 0)
    expect(Array.from(f.subarray(10, 22))).toEqual(new Array(12).fill(0))
    expect(() => native.sgemm(heap, false, false, 2, 2, 3, 1, 0, 3, 24, 2, 0, 396, 2)).toThrow(RangeError)
    expect(() => native.sgemmBatched(heap, false, false, 4, 4, 4, 2, 0, Int32Array.of(0, 9), 0, null, 0, 0)).toThrow(RangeError)
    expect(() => native.sgemm(heap, false, false, 1, 1, 1, 1, 2, 1, 0, 1, 0, 0, 1)).toThrow(/aligned/)
    expect(() => native.fillBroadcast(heap, 0, 1, 2, 2, 392, 0, 2, 1)).toThrow(RangeError)
  })

  it('plans broadcast batch indices as numpy does', () => {
    const p = planMatMul([2, 1, 5, 6], [1, 3, 6, 4], false, false)
    expect(p.outShape).toEqual([2, 3, 5, 4])
    expect(Array.from(p.aIndex!)).toEqual([0, 0, 0, 1, 1, 1])
    expect(Array.from(p.bIndex!)).toEqual([0, 1, 2, 0, 1, 2])
    expect(planMatMul([3, 5, 6], [6, 4], false, false).aIndex).toBeNull()
  })

  it('is off when MXD_NATIVE=0, whatever is built', () => {
    expect(loadAddon({ MXD_NATIVE: '0' })).toEqual({ reason: 'turned off by MXD_NATIVE=0' })
  })

  it('reports OpenBLAS, its core type and a thread count', () => {
    expect(report!.kernels).toEqual([
      'BatchMatMul',
      '_FusedMatMul',
      'TopK',
      'SplitV',
      'Concat',
      'GatherV2',
      'Transpose',
      'Tile',
      'Identity',
      'MxdAdamW',
      'MxdLayerNorm',
      'MxdLayerNormGrad',
      'MxdGeluNew',
      'MxdGeluNewGrad',
      'MxdGelu',
      'MxdGeluGrad',
      'MxdSoftmaxGrad',
      'MxdCrossEntropy',
      'MxdCrossEntropyGrad',
      'MxdSelectedRows',
      'MxdSelectedRowsGrad',
      'MxdGateGrad',
      'MxdRowProject',
      'MxdUnitRows',
      'MxdDenseCodes',
    ])
    expect(report!.blas).toMatch(/OpenBLAS/)
    expect(report!.threads).toBeGreaterThanOrEqual(1)
  })
})

/** Reference TopK of one row: indices sorted larger value first, NaN above numbers, ties to the lower index. */
function topkReference(row: Float32Array, k: number): number[] {
  const rank = (i: number): [number, number] => [Number.isNaN(row[i]!) ? 1 : 0, Number.isNaN(row[i]!) ? 0 : row[i]!]
  const order = Array.from(row, (_, i) => i).sort((i, j) => {
    const [ni, vi] = rank(i)
    const [nj, vj] = rank(j)
    if (ni !== nj) return nj - ni
    if (vi !== vj) return vj - vi
    return i - j
  })
  return order.slice(0, k)
}

describe.skipIf(!active)('native TopK', () => {
  // Stock tfjs-wasm orders NaNs inconsistently (its sort compares with NaN), so ours follows
  // PyTorch's rule (NaN above every number) and is compared with stock only on NaN-free data.
  it('selects as the reference does (ties to the lower index, zeros of both signs, NaN first), and as stock wasm where it is defined', () => {
    const next = rng(32)
    const cases: [number[], number][] = [
      [[7], 3],
      [[3, 100], 10],
      [[2, 3, 50], 50],
      [[5, 1], 1],
      [[4, 300], 0],
      [[16, 2149], 32],
    ]
    for (const [shape, k] of cases) {
      for (const withNaN of [true, false]) {
        const size = shape.reduce((p, d) => p * d, 1)
        const x = new Float32Array(size)
        // Few distinct values (many ties), zeros of both signs, and (first pass) a NaN now and then.
        for (let i = 0; i < size; i++) {
          const u = next()
          x[i] = withNaN && u < 0.03 ? NaN : u < 0.3 ? (u < 0.15 ? 0 : -0) : Math.round((next() * 2 - 1) * 8) / 4
        }
        const n = shape[shape.length - 1]!
        const want: number[] = []
        for (let r = 0; r < size / n; r++) want.push(...topkReference(x.subarray(r * n, (r + 1) * n), k))
        const t = tf.tensor(x, shape)
        const ours = tf.topk(t, k)
        expect(ours.indices.shape).toEqual([...shape.slice(0, -1), k])
        expect(Array.from(ours.indices.dataSync())).toEqual(want)
        const values = Array.from(ours.values.dataSync())
        want.forEach((idx, i) => expect(Object.is(values[i], x[Math.floor(i / k) * n + idx])).toBe(true))
        if (!withNaN && k > 0) {
          const stock = withStock(() => tf.topk(t, k))
          expect(Array.from(ours.indices.dataSync())).toEqual(Array.from(stock.indices.dataSync()))
          tf.dispose([stock.values, stock.indices])
        }
        tf.dispose([t, ours.values, ours.indices])
      }
    }
  })

  it('splits rows over threads (each thread its own heap) and selects the same at 1 and 2 threads', () => {
    const next = rng(33)
    // 48 rows of 12,000: enough floats for two threads; ties, zeros of both signs and NaNs.
    const [rows, n, k] = [48, 12000, 32]
    const x = new Float32Array(rows * n)
    for (let i = 0; i < x.length; i++) {
      const u = next()
      x[i] = u < 0.01 ? NaN : u < 0.2 ? (u < 0.1 ? 0 : -0) : Math.round((next() * 2 - 1) * 64) / 8
    }
    const want: number[] = []
    for (let r = 0; r < rows; r++) want.push(...topkReference(x.subarray(r * n, (r + 1) * n), k))
    const at = (threads: number): { values: Float32Array; indices: Int32Array } =>
      atThreads(threads, () =>
        tf.tidy(() => {
          const { values, indices } = tf.topk(tf.tensor(x, [rows, n]), k)
          return { values: values.dataSync() as Float32Array, indices: indices.dataSync() as Int32Array }
        }),
      )
    const one = at(1)
    const two = at(2)
    expect(Array.from(two.indices)).toEqual(want)
    expect(Array.from(one.indices)).toEqual(want)
    expect(Buffer.from(two.values.buffer).equals(Buffer.from(one.values.buffer))).toBe(true)
  })
})

// Pure logic: runs with or without the addon.
describe('OpenBLAS spin time', () => {
  it('defaults OPENBLAS_THREAD_TIMEOUT to 22 and leaves a value the user set alone', () => {
    expect(openblasEnvDefaults({})).toEqual({ OPENBLAS_THREAD_TIMEOUT: '22' })
    expect(openblasEnvDefaults({ OPENBLAS_THREAD_TIMEOUT: '' })).toEqual({ OPENBLAS_THREAD_TIMEOUT: '22' })
    expect(openblasEnvDefaults({ OPENBLAS_THREAD_TIMEOUT: '12' })).toEqual({})
  })
})

describe('OpenBLAS thread count', () => {
  it('takes MXD_THREADS first, leaves a user OPENBLAS_NUM_THREADS alone, else uses every core', () => {
    expect(chooseThreads({ MXD_THREADS: '3', OPENBLAS_NUM_THREADS: '1' }, 8)).toEqual({ threads: 3, from: 'MXD_THREADS' })
    expect(chooseThreads({ OPENBLAS_NUM_THREADS: '1' }, 8)).toEqual({ threads: null, from: 'OPENBLAS_NUM_THREADS' })
    expect(chooseThreads({}, 8)).toEqual({ threads: 8, from: 'all cores' })
    expect(chooseThreads({ MXD_THREADS: '' }, 2)).toEqual({ threads: 2, from: 'all cores' })
  })

  it('ignores an invalid MXD_THREADS with a note instead of leaving the fast kernels', () => {
    for (const bad of ['0', '-1', '2.5', 'many', '4096']) {
      const choice = chooseThreads({ MXD_THREADS: bad }, 4)
      expect(choice.threads).toBe(4)
      expect(choice.from).toContain(`MXD_THREADS="${bad}" ignored`)
    }
  })
})
