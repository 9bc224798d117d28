// The differentiable building blocks of the trainable GPT-2, each a tf.customGrad with its
// backward pass written out (as in nanoGPT's maths / llm.c), for two reasons:
//  1. Speed on wasm. tfjs's own matMul gradient multiplies with transposeA/transposeB, which on
//     the wasm backend runs 12–35× slower than transposing explicitly and doing a plain matMul
//     (bench/pretrain measures it). Every product below is a plain matMul of explicitly
//     transposed operands.
//  2. Fewer kernels. A fused LayerNorm / GELU / attention backward is a handful of kernels where
//     autodiff through the forward's elementwise ops would be dozens.
// The tests compare every gradient with PyTorch's (test/unit/train/gradients.test.ts).
import { tf } from '../backend.js'

type Args = (tf.Tensor | tf.GradSaveFunc)[]

/** Swaps the last two axes (the explicit transpose a plain matMul wants). */
function transposeLast(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i)
  const n = perm.length
  perm[n - 1] = n - 2
  perm[n - 2] = n - 1
  return tf.transpose(t, perm)
}

/** Plain (batched) matMul; typed loosely because tfjs wants matching ranks. */
function mm(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D)
}

// ------------------------------------------------------------------------------------ linear

/**
 * y = x W + b for x [rows, in], W [in, out] (GPT-2's Conv1D layout), b [out].
 * Backward: dx = dy Wᵀ, dW = xᵀ dy, db = Σ_rows dy.
 */
export const linear = tf.customGrad((...args: Args) => {
  const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc]
  save([x, w])
  return {
    value: tf.add(tf.matMul(x, w), b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D]
      return [mm(dy, tf.transpose(sw)), mm(tf.transpose(sx), dy), tf.sum(dy, 0)]
    },
  }
}) as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D

/** y = x W without a bias (the tied unembedding). */
export const matmul = tf.customGrad((...args: Args) => {
  const [x, w, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc]
  save([x, w])
  return {
    value: tf.matMul(x, w),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D]
      return [mm(dy, tf.transpose(sw)), mm(tf.transpose(sx), dy)]
    },
  }
}) as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D

// ----------------------------------------------------------------------------------- LayerNorm

/**
 * LayerNorm over the last axis of x [rows, d]: x̂ = (x − μ)·rstd, rstd = 1/√(σ² + eps) (biased
 * σ², as torch), y = x̂ w + b. Backward (per row, with g = dy·w):
 *   dx = rstd · (g − mean(g) − x̂ · mean(g · x̂)),  dw = Σ_rows dy·x̂,  db = Σ_rows dy.
 */
export function layerNorm(x: tf.Tensor2D, w: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor2D {
  const op = tf.customGrad((...args: Args) => {
    const [xi, wi, bi, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc]
    const centred = tf.sub(xi, tf.mean(xi, -1, true))
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), eps))
    const xhat = tf.mul(centred, rstd)
    save([xhat, rstd, wi])
    return {
      value: tf.add(tf.mul(xhat, wi), bi),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sxhat, srstd, sw] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D]
        const g = tf.mul(dy, sw)
        const inner = tf.sub(tf.sub(g, tf.mean(g, -1, true)), tf.mul(sxhat, tf.mean(tf.mul(g, sxhat), -1, true)))
        return [tf.mul(inner, srstd), tf.sum(tf.mul(dy, sxhat), 0), tf.sum(dy, 0)]
      },
    }
  }) as (x: tf.Tensor2D, w: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor2D
  return op(x, w, b)
}

// ------------------------------------------------------------------------------------ gelu_new

// gelu_new(x) = 0.5 x (1 + tanh(c (x + 0.044715 x³))) = x·σ(u), u = x (c1 + c3 x²), c1 = 2c
// (the engine's form: one sigmoid instead of pow and tanh, both slow on wasm).
const GELU_C1 = 2 * Math.sqrt(2 / Math.PI)
const GELU_C3 = GELU_C1 * 0.044715

/** d/dx [x σ(u)] = σ + x σ (1 − σ) (c1 + 3 c3 x²). */
export const geluNew = tf.customGrad((...args: Args) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc]
  const x2 = tf.square(x)
  const s = tf.sigmoid(tf.mul(x, tf.add(tf.mul(x2, GELU_C3), GELU_C1)))
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
}) as <T extends tf.Tensor>(x: T) => T

// ---------------------------------------------------------------------------------- attention

/** [batch, time, heads·hd] → [batch, heads, time, hd] */
function splitHeads(x: tf.Tensor, heads: number): tf.Tensor4D {
  const [batch, time, width] = x.shape as [number, number, number]
  return tf.transpose(tf.reshape(x, [batch, time, heads, width / heads]), [0, 2, 1, 3])
}

/** [batch, heads, time, hd] → [batch, time, heads·hd] */
function mergeHeads(x: tf.Tensor): tf.Tensor3D {
  const [batch, heads, time, hd] = x.shape as [number, number, number, number]
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [batch, time, heads * hd])
}

/** 0 on and below the diagonal, −1e9 above: added to the scores, a causal mask. */
export function causalBias(time: number): tf.Tensor4D {
  const bias = new Float32Array(time * time)
  for (let i = 0; i < time; i++) for (let j = i + 1; j < time; j++) bias[i * time + j] = -1e9
  return tf.tensor4d(bias, [1, 1, time, time])
}

/**
 * Causal self-attention on the fused projection qkv [batch, time, 3d] (columns [q | k | v], as
 * GPT-2's c_attn), returning the heads merged, [batch, time, d], before c_proj:
 *   S = (q/√hd) kᵀ + mask,  P = softmax(S),  z = P v.
 * Backward: dP = dz vᵀ, dv = Pᵀ dz, dS = P ∗ (dP − Σ_k dP∗P), dq = dS k /√hd, dk = dSᵀ (q/√hd).
 */
export function causalAttention(qkv: tf.Tensor3D, nHeads: number, bias: tf.Tensor4D): tf.Tensor3D {
  const d = (qkv.shape[2] as number) / 3
  const scale = 1 / Math.sqrt(d / nHeads)
  const op = tf.customGrad((...args: Args) => {
    const [x, save] = args as [tf.Tensor3D, tf.GradSaveFunc]
    const [qf, kf, vf] = tf.split(x, 3, 2) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]
    const q = tf.mul(splitHeads(qf, nHeads), scale)
    const k = splitHeads(kf, nHeads)
    const v = splitHeads(vf, nHeads)
    const p = tf.softmax(tf.add(mm(q, transposeLast(k)), bias))
    save([q, k, v, p])
    return {
      value: mergeHeads(mm(p, v)),
      gradFunc: (dOut: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sp] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D]
        const dz = splitHeads(dOut, nHeads)
        const dp = mm(dz, transposeLast(sv))
        const dv = mm(transposeLast(sp), dz)
        const ds = tf.mul(sp, tf.sub(dp, tf.sum(tf.mul(dp, sp), -1, true)))
        const dq = tf.mul(mm(ds, sk), scale)
        const dk = mm(transposeLast(ds), sq)
        return [tf.concat([mergeHeads(dq), mergeHeads(dk), mergeHeads(dv)], 2)]
      },
    }
  }) as (x: tf.Tensor3D) => tf.Tensor3D
  return op(qkv)
}

// ---------------------------------------------------------------------------------- embedding

/**
 * x[b, t] = wte[ids[b, t]] + wpe[t]. The backward scatters dy into the rows of the ids that were
 * looked up, in plain JS: tfjs's gather gradient needs UnsortedSegmentSum, which the wasm backend
 * does not have, and a one-hot matMul would cost as much as the unembedding.
 */
export function embed(wte: tf.Tensor2D, wpe: tf.Tensor2D, ids: Int32Array, batch: number, time: number): tf.Tensor3D {
  const op = tf.customGrad((...args: Args) => {
    const [te, pe] = args as [tf.Tensor2D, tf.Tensor2D]
    const d = te.shape[1]
    const tokens = tf.reshape(tf.gather(te, tf.tensor1d(ids, 'int32')), [batch, time, d])
    const positions = tf.slice(pe, [0, 0], [time, d])
    return {
      value: tf.add(tokens, positions) as tf.Tensor3D,
      gradFunc: (dy: tf.Tensor) => {
        const g = dy.dataSync() as Float32Array
        const dte = new Float32Array(te.size)
        for (let r = 0; r < ids.length; r++) {
          const row = ids[r]! * d
          const src = r * d
          for (let c = 0; c < d; c++) dte[row + c]! += g[src + c]!
        }
        const dpe = tf.pad(tf.sum(dy, 0), [
          [0, pe.shape[0] - time],
          [0, 0],
        ])
        return [tf.tensor2d(dte, te.shape), dpe]
      },
    }
  }) as (te: tf.Tensor2D, pe: tf.Tensor2D) => tf.Tensor3D
  return op(wte, wpe)
}

// ------------------------------------------------------------------------------ cross-entropy

/**
 * Mean next-token cross-entropy of logits [rows, vocab] against targets (one per row):
 * loss = mean(logsumexp(l) − l[target]); dl = (softmax(l) − onehot(target)) / rows.
 */
export function crossEntropy(logits: tf.Tensor2D, targets: Int32Array): tf.Scalar {
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
