// Every operation the engine's models are made of, once: linear maps, norms, activations,
// embeddings, rotary positions, attention and the loss. Inference (models/*.ts through
// models/model.ts), generation, splicing and pre-training (train/) all call these, so a model
// computes the same numbers whichever of them runs it.
//
// Ops the trainer differentiates are tf.customGrad with their backward pass written out (as in
// nanoGPT's maths / llm.c), for two reasons:
//  1. Speed on wasm. tfjs's own matMul gradient multiplies with transposeA/transposeB, which on
//     the wasm backend runs 12–35× slower than transposing explicitly and doing a plain matMul
//     (bench/pretrain measures it). Every product in a backward below is a plain matMul of
//     explicitly transposed operands.
//  2. Fewer kernels. A fused LayerNorm / GELU / attention backward is a handful of kernels where
//     autodiff through the forward's elementwise ops would be dozens.
// A customGrad's forward is an ordinary tfjs computation, so inference pays nothing for it. The
// tests compare the forwards and the gradients with PyTorch's (test/unit/engine, test/unit/train).
//
// Weight matrices are always [in, out] (the loaders transpose torch's nn.Linear [out, in] once at
// load), because on the wasm backend a matMul with transposeB is an order of magnitude slower
// than a plain one.
import { tf } from './backend.js'
import type { KVCache } from './models/kv-cache.js'
import { nativeGemmActive, nativeKernelOn } from './native.js'
import { CROSS_ENTROPY_GRAD_KERNEL, CROSS_ENTROPY_KERNEL } from './native/cross-entropy.js'
import { GELU_GRAD_KERNEL, GELU_KERNEL } from './native/gelu.js'
import { GELU_NEW_GRAD_KERNEL, GELU_NEW_KERNEL } from './native/gelu-new.js'
import { LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL } from './native/layer-norm.js'
import { SOFTMAX_GRAD_KERNEL } from './native/softmax-grad.js'

type Args = (tf.Tensor | tf.GradSaveFunc)[]

/** Swaps the last two axes (the explicit transpose a plain matMul wants). */
function transposeLast(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i)
  const n = perm.length
  perm[n - 1] = n - 2
  perm[n - 2] = n - 1
  return tf.transpose(t, perm)
}

/**
 * op(a)·op(b), op a transpose of the last two axes where asked: as GEMM flags on the native
 * kernels (no transposed copy), as explicit transposes on tfjs's own kernels (faster there).
 * For the backward passes, which multiply by transposed saved operands.
 */
export function matMulT(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  if (nativeGemmActive()) return tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, transposeA, transposeB)
  return mm(transposeA ? transposeLast(a) : a, transposeB ? transposeLast(b) : b)
}

/**
 * Σ over the rows of a [rows, cols] matrix (a bias's gradient): on the native kernels one GEMV,
 * 1ᵀ·m, which reads m once; tfjs-wasm's Sum over axis 0 transposes m first, and was the largest
 * non-GEMM kernel of a training step.
 */
export function sumRows(m: tf.Tensor2D): tf.Tensor1D {
  if (!nativeGemmActive()) return tf.sum(m, 0)
  return tf.tidy(() => tf.reshape(tf.matMul(tf.ones([1, m.shape[0]]), m), [m.shape[1]]))
}

/** Plain (batched) matMul; typed loosely because tfjs wants matching ranks. */
function mm(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D)
}

// ------------------------------------------------------------------------------------ matmul

/**
 * a b for rank-2 or batched rank-3 operands. Backward: da = dy bᵀ, db = aᵀ dy (matMulT).
 */
export const matmul = tf.customGrad((...args: Args) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc]
  save([a, b])
  return {
    value: mm(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor, tf.Tensor]
      return [matMulT(dy, sb, false, true), matMulT(sa, dy, true, false)]
    },
  }
}) as <T extends tf.Tensor2D | tf.Tensor3D>(a: T, b: T) => T

// ------------------------------------------------------------------------------------ linear

/** y = x W + b with W [in, out]. */
export interface Linear {
  w: tf.Tensor2D
  b: tf.Tensor1D | null
}

/**
 * x [rows, in] W + b in one fused matMul, which adds the bias as it writes the product (no second
 * pass over y; the native kernel starts the GEMM's accumulator from the bias).
 * Backward: dx = dy Wᵀ, dW = xᵀ dy, db = Σ_rows dy.
 */
const linearWithBias = tf.customGrad((...args: Args) => {
  const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc]
  save([x, w])
  return {
    value: tf.fused.matMul({ a: x, b: w, bias: b }),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D]
      return [matMulT(dy, sw, false, true), matMulT(sx, dy, true, false), sumRows(dy as tf.Tensor2D)]
    },
  }
}) as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D

/**
 * Applies a Linear to the last axis of x (any rank ≥ 2): matMul wants 2-D, so fold the rest. On
 * wasm the bias must have been *created* 1-D, not reshaped to 1-D (see fusedQkv in gpt_neox.ts).
 */
export function linear(x: tf.Tensor, layer: Linear): tf.Tensor {
  const inDim = x.shape[x.shape.length - 1] as number
  const outDim = layer.w.shape[1]
  const rows = tf.reshape(x, [-1, inDim]) as tf.Tensor2D
  const y = layer.b ? linearWithBias(rows, layer.w, layer.b) : matmul(rows, layer.w)
  return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), outDim])
}

// ------------------------------------------------------------------------------------- norms

export type Norm = (x: tf.Tensor) => tf.Tensor

/**
 * (x − mean) / sqrt(var + eps) over the last axis, biased variance as torch: the normalisation
 * LayerNorm applies before its affine, and all of a μMoE gate's norm. Differentiated by tfjs
 * (the gate's is a small [rows, experts] tensor).
 */
export function standardize(x: tf.Tensor, eps: number): { xhat: tf.Tensor; rstd: tf.Tensor } {
  const centred = tf.sub(x, tf.mean(x, -1, true))
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), eps))
  return { xhat: tf.mul(centred, rstd), rstd }
}

/**
 * LayerNorm over the last axis of x (any rank): y = x̂ w + b with x̂ = standardize(x). Backward
 * (per row, with g = dy·w):
 *   dx = rstd · (g − mean(g) − x̂ · mean(g · x̂)),  dw = Σ_rows dy·x̂,  db = Σ_rows dy.
 * With the native kernels in, both directions are one kernel each (native/layer-norm.ts, the same
 * maths with the statistics in double); otherwise the tf ops below.
 */
export function layerNorm(x: tf.Tensor, w: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor {
  // (Empty rows keep the tf-ops path, which gives NaN statistics as torch does.)
  if (x.dtype === 'float32' && x.shape[x.rank - 1]! > 0 && nativeKernelOn(LAYER_NORM_KERNEL)) return nativeLayerNorm(x, w, b, eps)
  const op = tf.customGrad((...args: Args) => {
    const [xi, wi, bi, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc]
    const { xhat, rstd } = standardize(xi, eps)
    save([xhat, rstd, wi])
    return {
      value: tf.add(tf.mul(xhat, wi), bi),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sxhat, srstd, sw] = saved as [tf.Tensor, tf.Tensor, tf.Tensor1D]
        const g = tf.mul(dy, sw)
        const inner = tf.sub(tf.sub(g, tf.mean(g, -1, true)), tf.mul(sxhat, tf.mean(tf.mul(g, sxhat), -1, true)))
        const d = sw.shape[0]
        const dyRows = tf.reshape(dy, [-1, d])
        return [tf.mul(inner, srstd), sumRows(tf.mul(dyRows, tf.reshape(sxhat, [-1, d])) as tf.Tensor2D), sumRows(dyRows as tf.Tensor2D)]
      },
    }
  }) as (x: tf.Tensor, w: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor
  return op(x, w, b)
}

/** layerNorm on the native kernels: the forward keeps each row's mean and rstd for the backward. */
function nativeLayerNorm(x: tf.Tensor, w: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor {
  const op = tf.customGrad((...args: Args) => {
    const [xi, wi, bi, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc]
    const [y, mean, rstd] = tf.engine().runKernel(LAYER_NORM_KERNEL, { x: xi, w: wi, b: bi }, { eps }) as tf.Tensor[]
    save([xi, wi, mean!, rstd!])
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw, smean, srstd] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor, tf.Tensor]
        return tf.engine().runKernel(LAYER_NORM_GRAD_KERNEL, { dy, x: sx, w: sw, mean: smean, rstd: srstd }) as tf.Tensor[]
      },
    }
  }) as (x: tf.Tensor, w: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor
  return op(x, w, b)
}

/** RMSNorm (Llama): x / sqrt(mean(x²) + eps) · w. No centring, no bias. */
export function rmsNorm(x: tf.Tensor, w: tf.Tensor1D, eps: number): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w)
}

// ------------------------------------------------------------------------------- activations

// gelu_new(x) = 0.5 x (1 + tanh(c (x + 0.044715 x³))) = x·σ(u), u = x (c1 + c3 x²), c1 = 2c:
// the same function with one cheap sigmoid instead of pow and tanh, ~8× slower on wasm.
const GELU_C1 = 2 * Math.sqrt(2 / Math.PI)
const GELU_C3 = GELU_C1 * 0.044715

/**
 * GPT-2's "gelu_new", the tanh approximation its weights were trained with, as x·σ(x (c1 + c3 x²)).
 * Backward: d/dx [x σ(u)] = σ + x σ (1 − σ) (c1 + 3 c3 x²). With the native kernels in, each
 * direction is one kernel (native/gelu-new.ts, the same formula in float32).
 */
export const geluNew = (<T extends tf.Tensor>(x: T): T =>
  (x.dtype === 'float32' && nativeKernelOn(GELU_NEW_KERNEL) ? nativeGeluNew(x) : tfGeluNew(x)) as T) as <T extends tf.Tensor>(x: T) => T

const tfGeluNew = tf.customGrad((...args: Args) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc]
  const s = tf.sigmoid(tf.mul(x, tf.add(tf.mul(tf.square(x), GELU_C3), GELU_C1)))
  save([x, s])
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, ss] = saved as [tf.Tensor, tf.Tensor]
      const du = tf.add(tf.mul(tf.square(sx), 3 * GELU_C3), GELU_C1)
      const slope = tf.add(ss, tf.mul(tf.mul(tf.mul(sx, ss), tf.sub(1, ss)), du))
      return [tf.mul(dy, slope)]
    },
  }
}) as (x: tf.Tensor) => tf.Tensor

const nativeGeluNew = tf.customGrad((...args: Args) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc]
  const attrs = { c1: GELU_C1, c3: GELU_C3 }
  const [y, s] = tf.engine().runKernel(GELU_NEW_KERNEL, { x }, attrs) as tf.Tensor[]
  save([x, s!])
  return {
    value: y!,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, ss] = saved as [tf.Tensor, tf.Tensor]
      return [tf.engine().runKernel(GELU_NEW_GRAD_KERNEL, { dy, x: sx, s: ss }, attrs) as tf.Tensor]
    },
  }
}) as (x: tf.Tensor) => tf.Tensor

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI)

/**
 * Exact GELU, x · Φ(x) = ½x(1 + erf(x/√2)), as torch.nn.functional.gelu's default (GPT-NeoX's
 * "gelu", the MxD and transcoder hidden layers). Backward: Φ(x) + x·φ(x), φ the normal density.
 * With the native kernels in, each direction is one kernel (native/gelu.ts).
 */
export const gelu = (<T extends tf.Tensor>(x: T): T =>
  (x.dtype === 'float32' && nativeKernelOn(GELU_KERNEL) ? nativeGelu(x) : tfGelu(x)) as T) as <T extends tf.Tensor>(x: T) => T

const nativeGelu = tf.customGrad((...args: Args) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc]
  save([x])
  return {
    value: tf.engine().runKernel(GELU_KERNEL, { x }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [geluBackward(dy, saved[0] as tf.Tensor)],
  }
}) as (x: tf.Tensor) => tf.Tensor

/** dy·gelu'(x): gelu's backward, and the MxD layer's hand-written one (layers/mxd.ts). */
export function geluBackward(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  if (x.dtype === 'float32' && dy.dtype === 'float32' && nativeKernelOn(GELU_GRAD_KERNEL))
    return tf.engine().runKernel(GELU_GRAD_KERNEL, { dy, x }) as tf.Tensor
  return tf.tidy(() => tf.mul(dy, geluGrad(x)))
}

const tfGelu = tf.customGrad((...args: Args) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc]
  save([x])
  return {
    value: tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, geluGrad(saved[0] as tf.Tensor))],
  }
}) as (x: tf.Tensor) => tf.Tensor

/**
 * d/dx of exact GELU, Φ(x) + x·φ(x): gelu's gradient, and the MxD layer's hand-written backward
 * (layers/mxd.ts), which differentiates through its hidden layer without tf's tape.
 */
export function geluGrad(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const cdf = tf.mul(tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1), 0.5)
    const pdf = tf.mul(tf.exp(tf.mul(tf.square(x), -0.5)), INV_SQRT_2PI)
    return tf.add(cdf, tf.mul(x, pdf))
  })
}

/** SiLU / swish, x · sigmoid(x): the gate activation of Llama's SwiGLU MLP. */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x))
}

// --------------------------------------------------------------------------------- embedding

/** Token ids (or positions) of a [batch, time] grid, row-major. */
export interface IdGrid {
  data: Int32Array
  batch: number
  time: number
}

export function idGrid(rows: readonly (readonly number[])[]): IdGrid {
  const batch = rows.length
  const time = rows[0]?.length ?? 0
  const data = new Int32Array(batch * time)
  rows.forEach((row, b) => data.set(row, b * time))
  return { data, batch, time }
}

/**
 * table[ids] → [batch, time, d]. The backward scatters dy into the rows that were looked up, in
 * plain JS: tfjs's gather gradient needs UnsortedSegmentSum, which the wasm backend does not have,
 * and a one-hot matMul would cost as much as the unembedding.
 */
export function embedding(table: tf.Tensor2D, ids: IdGrid): tf.Tensor3D {
  const op = tf.customGrad((...args: Args) => {
    const [t] = args as [tf.Tensor2D]
    const d = t.shape[1]
    return {
      value: tf.reshape(tf.gather(t, tf.tensor1d(ids.data, 'int32')), [ids.batch, ids.time, d]) as tf.Tensor3D,
      gradFunc: (dy: tf.Tensor) => {
        const g = dy.dataSync() as Float32Array
        const dt = new Float32Array(t.size)
        for (let r = 0; r < ids.data.length; r++) {
          const row = ids.data[r]! * d
          const src = r * d
          for (let c = 0; c < d; c++) dt[row + c]! += g[src + c]!
        }
        return [tf.tensor2d(dt, t.shape)]
      },
    }
  }) as (t: tf.Tensor2D) => tf.Tensor3D
  return op(table)
}

// ---------------------------------------------------------------------------------- positions

/**
 * Position ids from an attention mask: cumsum(mask) − 1, clamped at 0. A left-padded row then
 * numbers its real tokens 0, 1, 2… exactly as the unpadded sequence would, so padding never
 * changes a real token's activations. (Hugging Face's generate() does the same for its models;
 * a plain HF forward without position_ids would count pad tokens instead.)
 */
export function positionIds(mask: readonly (readonly number[])[]): number[][] {
  return mask.map((row) => {
    let seen = 0
    return row.map((m) => {
      seen += m
      return Math.max(seen - 1, 0)
    })
  })
}

// ------------------------------------------------------------------------------------ rotary

/** Rotary inverse frequencies base^(−2i/dims), i < dims/2, computed in float32 as torch does. */
export function ropeInverseFrequencies(base: number, dims: number): Float32Array {
  const out = new Float32Array(dims / 2)
  for (let i = 0; i < out.length; i++) out[i] = 1 / Math.pow(base, Math.fround((2 * i) / dims))
  return out
}

export interface Llama3RopeScaling {
  factor: number
  lowFreqFactor: number
  highFreqFactor: number
  originalMaxPositions: number
}

/**
 * Llama 3.1's long-context rescaling (HF _compute_llama3_parameters): wavelengths shorter than
 * original/high_freq_factor keep their frequency, those longer than original/low_freq_factor are
 * slowed by `factor`, and the band between is interpolated smoothly.
 */
export function llama3InverseFrequencies(invFreq: Float32Array, s: Llama3RopeScaling): Float32Array {
  const lowFreqWavelen = s.originalMaxPositions / s.lowFreqFactor
  const highFreqWavelen = s.originalMaxPositions / s.highFreqFactor
  return invFreq.map((f) => {
    const wavelen = (2 * Math.PI) / f
    if (wavelen < highFreqWavelen) return f
    if (wavelen > lowFreqWavelen) return f / s.factor
    const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor)
    return (1 - smooth) * (f / s.factor) + smooth * f
  })
}

/** cos/sin of position × frequency, [batch, 1, pos, rotaryDims], duplicated as cat(freqs, freqs). */
export interface RotaryTables {
  cos: tf.Tensor4D
  sin: tf.Tensor4D
}

export function rotaryTables(invFreq: Float32Array, positions: number[][]): RotaryTables {
  const half = invFreq.length
  const dims = 2 * half
  const batch = positions.length
  const time = positions[0]?.length ?? 0
  const cos = new Float32Array(batch * time * dims)
  const sin = new Float32Array(batch * time * dims)
  positions.forEach((row, b) =>
    row.forEach((pos, t) => {
      const base = (b * time + t) * dims
      invFreq.forEach((f, i) => {
        const angle = Math.fround(pos * f)
        cos[base + i] = cos[base + half + i] = Math.cos(angle)
        sin[base + i] = sin[base + half + i] = Math.sin(angle)
      })
    }),
  )
  const shape: [number, number, number, number] = [batch, 1, time, dims]
  return { cos: tf.tensor4d(cos, shape), sin: tf.tensor4d(sin, shape) }
}

/**
 * Rotates the first rotaryDims channels of each head (the rest pass through: GPT-NeoX's
 * rotary_pct < 1), with HF's rotate_half convention: pairs are (i, i + dims/2), not (2i, 2i+1).
 */
export function applyRotary(x: tf.Tensor4D, tables: RotaryTables): tf.Tensor4D {
  const dims = tables.cos.shape[3]
  const headDim = x.shape[3]
  const rot = dims === headDim ? x : tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, dims])
  const [x1, x2] = tf.split(rot, 2, 3) as [tf.Tensor4D, tf.Tensor4D]
  const rotated = tf.add(tf.mul(rot, tables.cos), tf.mul(tf.concat([tf.neg(x2), x1], 3), tables.sin)) as tf.Tensor4D
  return dims === headDim ? rotated : tf.concat([rotated, tf.slice(x, [0, 0, 0, dims])], 3)
}

// --------------------------------------------------------------------------------- attention

export interface AttentionWeights {
  /** Fused projection to [q of every head | k of every kv head | v of every kv head]. */
  qkv: Linear
  out: Linear
}

export interface AttentionShape {
  nHeads: number
  /** < nHeads for grouped-query attention (each kv head serves nHeads/nKvHeads query heads). */
  nKvHeads: number
  headDim: number
}

/** What every layer's attention shares within one forward. */
export interface AttentionContext {
  /** [batch, 1, newPos, allPos]: true where a query may look. */
  visible: tf.Tensor4D
  rotary: RotaryTables | null
  kvCache: KVCache | null
}

const MASKED = -1e9

/**
 * Which keys each of `newLength` queries (after the cached ones) may see: key j when j is not in
 * its future and mask[j] = 1, and always itself, so a pad token's row is never all-masked (its
 * softmax stays finite) while real tokens never see pads.
 */
export function attentionVisibility(fullMask: readonly (readonly number[])[], newLength: number): tf.Tensor4D {
  const batch = fullMask.length
  const total = fullMask[0]?.length ?? 0
  const past = total - newLength
  const visible = new Uint8Array(batch * newLength * total)
  fullMask.forEach((row, b) => {
    for (let i = 0; i < newLength; i++) {
      const q = past + i
      for (let j = 0; j < total; j++) {
        if (j === q || (j < q && row[j] === 1)) visible[(b * newLength + i) * total + j] = 1
      }
    }
  })
  return tf.tensor4d(visible, [batch, 1, newLength, total], 'bool')
}

/**
 * [1, 1, time, time]: 0 on and below the diagonal, −1e9 above — the causal mask of unpadded
 * sequences as an additive bias, for the training path (see attentionProbs).
 */
export function causalBias(time: number): tf.Tensor4D {
  const bias = new Float32Array(time * time)
  for (let i = 0; i < time; i++) for (let j = i + 1; j < time; j++) bias[i * time + j] = MASKED
  return tf.tensor4d(bias, [1, 1, time, time])
}

/** Splits [batch, pos, heads·headDim] into [batch, heads, pos, headDim]. */
function splitHeads(x: tf.Tensor, heads: number, headDim: number): tf.Tensor4D {
  const [batch, time] = x.shape as [number, number, number]
  return tf.transpose(tf.reshape(x, [batch, time, heads, headDim]), [0, 2, 1, 3])
}

/** [batch, heads, pos, headDim] → [batch, pos, heads·headDim] */
function mergeHeads(x: tf.Tensor): tf.Tensor3D {
  const [batch, heads, time, hd] = x.shape as [number, number, number, number]
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [batch, time, heads * hd])
}

/**
 * Which keys a query may see, as attention applies it to the scores S:
 *  - visible (bool [batch, 1, q, k]): S where visible, −1e9 elsewhere. Selecting, not adding, so
 *    that a non-finite key at a later position (NaN + (−1e9) is still NaN) cannot poison every
 *    earlier query's softmax: what inference on arbitrary weights and hooks needs.
 *  - bias (float, 0 or −1e9): S + bias. The same probabilities bit for bit while S is finite
 *    (s + 0 = s; a masked entry is ≈ −1e9 either way and exp(≈ −1e9 − max) = 0 exactly), and
 *    about 30% less work per training step than the select, whose bool mask and scalar tfjs
 *    broadcasts to the scores' full shape on every call. Training's scores are finite: the
 *    trainer stops at the first non-finite loss.
 */
export type KeyMask = { visible: tf.Tensor4D } | { bias: tf.Tensor4D }

/**
 * The attention probabilities P = softmax(S masked) with S = q kᵀ; q is already scaled by
 * 1/√headDim. q [batch, heads, q, d], keysT [batch, kvHeads, d, k].
 */
function attentionProbs(q: tf.Tensor4D, keysT: tf.Tensor4D, mask: KeyMask): tf.Tensor4D {
  const [batch, nHeads, time, headDim] = q.shape
  const [, nKvHeads, , total] = keysT.shape
  // Grouped-query attention without copying keys: the query heads sharing kv head j are
  // consecutive (HF repeat_kv), so [batch, nHeads, q, d] regroups for free as
  // [batch, nKvHeads, group·q, d] and one batched matMul serves the whole group.
  const group = nHeads / nKvHeads
  const scores = tf.reshape(tf.matMul(tf.reshape(q, [batch, nKvHeads, group * time, headDim]), keysT), [batch, nHeads, time, total])
  return tf.softmax('visible' in mask ? tf.where(mask.visible, scores, MASKED) : tf.add(scores, mask.bias)) as tf.Tensor4D
}

/**
 * Causal multi-head (or grouped-query) self-attention, the general form: padding masks, rotary
 * positions, a KV cache, and `onPattern`, which sees — and may replace — the softmax
 * probabilities [batch, head, q, k]. Returns [batch, pos, d_model] after the output projection.
 */
export function attention(
  x: tf.Tensor,
  w: AttentionWeights,
  shape: AttentionShape,
  ctx: AttentionContext,
  layer: number,
  onPattern: (pattern: tf.Tensor) => tf.Tensor,
): tf.Tensor {
  const { nHeads, nKvHeads, headDim } = shape
  const [batch, time] = x.shape as [number, number, number]
  // (Split, then transpose each: a single 5-D transpose of [batch, pos, 3, heads, headDim] is ~8×
  // slower on wasm, whose fast transposes stop at rank 4.)
  const [qFlat, kFlat, vFlat] = tf.split(linear(x, w.qkv), [nHeads * headDim, nKvHeads * headDim, nKvHeads * headDim], 2)
  let q = splitHeads(qFlat as tf.Tensor, nHeads, headDim)
  let k = splitHeads(kFlat as tf.Tensor, nKvHeads, headDim)
  const vNew = splitHeads(vFlat as tf.Tensor, nKvHeads, headDim)
  if (ctx.rotary) {
    q = applyRotary(q, ctx.rotary)
    k = applyRotary(k, ctx.rotary)
  }
  // Scale q rather than the scores: same maths, fewer multiplies.
  q = tf.mul(q, 1 / Math.sqrt(headDim))
  const kNewT = tf.transpose(k, [0, 1, 3, 2])
  const { keysT, values } = ctx.kvCache ? ctx.kvCache.extend(layer, kNewT, vNew) : { keysT: kNewT, values: vNew }
  const total = keysT.shape[3]
  const group = nHeads / nKvHeads
  const pattern = onPattern(attentionProbs(q, keysT, { visible: ctx.visible }))
  const z = attendValues(tf.reshape(pattern, [batch, nKvHeads, group * time, total]) as tf.Tensor4D, values)
  return linear(mergeHeads(tf.reshape(z, [batch, nHeads, time, headDim])), w.out)
}

/**
 * pattern · values where a key a query cannot see contributes nothing even if its value is NaN or
 * ±Infinity (a plain matMul gives 0 · NaN = NaN, leaking a later position into earlier ones). A
 * non-finite value a query does see still makes that query NaN, as it would in the model itself.
 */
function attendValues(pattern: tf.Tensor4D, values: tf.Tensor4D): tf.Tensor4D {
  const finite = tf.isFinite(values)
  const z = tf.matMul(pattern, tf.where(finite, values, 0))
  // [batch, kvHeads, key, 1]: how many non-finite channels each key's value has.
  const badKeys = tf.sum(tf.cast(tf.logicalNot(finite), 'float32'), 3, true)
  const reached = tf.greater(tf.matMul(pattern, badKeys), 0)
  return tf.where(reached, NaN, z) as tf.Tensor4D
}

/**
 * The training fast path of attention() for unpadded sequences without rotary or cache (GPT-2
 * pre-training): the same probabilities (attentionProbs, with the causal mask as a `bias`, see
 * KeyMask) and the same P·v, differentiated by hand.
 * `qkv` is the fused projection [batch, time, 3d] (columns [q | k | v]); returns the heads merged,
 * [batch, time, d], before the output projection. With S = (q/√hd) kᵀ masked, P = softmax(S),
 * z = P v:
 *   dP = dz vᵀ, dv = Pᵀ dz, dS = P ∗ (dP − Σ_k dP∗P), dq = dS k /√hd, dk = dSᵀ (q/√hd).
 * Finite values need no attendValues guard: the trainer stops at the first non-finite loss.
 */
export function causalSelfAttention(qkv: tf.Tensor3D, nHeads: number, bias: tf.Tensor4D): tf.Tensor3D {
  const d = (qkv.shape[2] as number) / 3
  const headDim = d / nHeads
  const scale = 1 / Math.sqrt(headDim)
  const op = tf.customGrad((...args: Args) => {
    const [x, save] = args as [tf.Tensor3D, tf.GradSaveFunc]
    const [qf, kf, vf] = tf.split(x, 3, 2) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]
    const q = tf.mul(splitHeads(qf, nHeads, headDim), scale) as tf.Tensor4D
    const k = splitHeads(kf, nHeads, headDim)
    const v = splitHeads(vf, nHeads, headDim)
    const p = attentionProbs(q, transposeLast(k) as tf.Tensor4D, { bias })
    save([q, k, v, p])
    return {
      value: mergeHeads(mm(p, v)),
      gradFunc: (dOut: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sp] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D]
        const dz = splitHeads(dOut, nHeads, headDim)
        const dp = matMulT(dz, sv, false, true)
        const dv = matMulT(sp, dz, true, false)
        const ds = softmaxGrad(sp, dp)
        const dq = tf.mul(mm(ds, sk), scale)
        const dk = matMulT(ds, sq, true, false)
        return [tf.concat([mergeHeads(dq), mergeHeads(dk), mergeHeads(dv)], 2)]
      },
    }
  }) as (x: tf.Tensor3D) => tf.Tensor3D
  return op(qkv)
}

/**
 * The softmax's backward over the last axis: dS = P ∗ (dP − Σ_k dP∗P) for P = softmax(S). One
 * kernel with the native kernels in (native/softmax-grad.ts), else the tf ops.
 */
function softmaxGrad(p: tf.Tensor, dp: tf.Tensor): tf.Tensor {
  if (p.dtype === 'float32' && nativeKernelOn(SOFTMAX_GRAD_KERNEL))
    return tf.engine().runKernel(SOFTMAX_GRAD_KERNEL, { p, dp }) as tf.Tensor
  return tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true)))
}

// ------------------------------------------------------------------------------ cross-entropy

/**
 * Mean next-token cross-entropy of logits [rows, vocab] against targets (one per row):
 * loss = mean(logsumexp(l) − l[target]); dl = (softmax(l) − onehot(target)) / rows.
 * With the native kernels in, one kernel per direction (native/cross-entropy.ts).
 */
export function crossEntropy(logits: tf.Tensor2D, targets: Int32Array): tf.Scalar {
  if (logits.dtype === 'float32' && logits.shape[1] > 0 && nativeKernelOn(CROSS_ENTROPY_KERNEL)) return nativeCrossEntropy(logits, targets)
  const [rows, vocab] = logits.shape
  const op = tf.customGrad((...args: Args) => {
    const [l, save] = args as [tf.Tensor2D, tf.GradSaveFunc]
    save([l])
    const max = tf.max(l, -1, true)
    const lse = tf.add(tf.log(tf.sum(tf.exp(tf.sub(l, max)), -1)), tf.reshape(max, [-1]))
    const flat = new Int32Array(rows)
    for (let r = 0; r < rows; r++) flat[r] = r * vocab + targets[r]!
    const picked = tf.gather(tf.reshape(l, [-1]), tf.tensor1d(flat, 'int32'))
    return {
      value: tf.mean(tf.sub(lse, picked)) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        // oneHot as int32 then cast: a float32 oneHot returns zeros on wasm.
        const hot = tf.cast(tf.oneHot(tf.tensor1d(targets, 'int32'), vocab), 'float32')
        return [tf.mul(tf.sub(tf.softmax(saved[0] as tf.Tensor2D), hot), tf.div(dy, rows))]
      },
    }
  }) as (l: tf.Tensor2D) => tf.Scalar
  return op(logits)
}

/** crossEntropy on the native kernels: one per direction; the forward's softmax serves the backward. */
function nativeCrossEntropy(logits: tf.Tensor2D, targets: Int32Array): tf.Scalar {
  const op = tf.customGrad((...args: Args) => {
    const [l, save] = args as [tf.Tensor2D, tf.GradSaveFunc]
    const t = tf.tensor1d(targets, 'int32')
    const [rowLoss, p] = tf.engine().runKernel(CROSS_ENTROPY_KERNEL, { logits: l, targets: t }) as tf.Tensor[]
    save([p!, t])
    return {
      value: tf.mean(rowLoss!) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sp, st] = saved as [tf.Tensor, tf.Tensor]
        return [tf.engine().runKernel(CROSS_ENTROPY_GRAD_KERNEL, { p: sp, targets: st, dy }) as tf.Tensor]
      },
    }
  }) as (l: tf.Tensor2D) => tf.Scalar
  return op(logits)
}
