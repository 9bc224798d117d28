// Pieces shared by the sparse layers (MxD, transcoders): the TopK gate with its pass-through
// gradient, the sparse "Σ_k v_k M[idx_k]" decoder product with its gradient, and the unit-norm
// constraint on decoder rows. Everything is tfjs-core, written so the hot path on wasm uses only
// plain (untransposed) matMuls, gatherND/scatterND over whole rows, and element-wise ops:
// measured on wasm, tf.gather is ~13× slower than tf.gatherND for the same rows, and tfjs has no
// gradient for TopK/GatherNd/ScatterNd at all, so every backward here is written by hand.
// With the native kernels on (src/engine/native/), the gathers, scatter-adds and row norms below
// run as one kernel each instead (selected-rows.ts, gate-grad.ts, row-project.ts, unit-rows.ts,
// dense-codes.ts);
// the tf-ops code stays the path for MXD_NATIVE=0 and for other backends.
import { tf } from '../backend.js'
import { nativeGemmActive, nativeKernelOn } from '../native.js'
import { DENSE_CODES_KERNEL } from '../native/dense-codes.js'
import { GATE_GRAD_KERNEL } from '../native/gate-grad.js'
import { ROW_PROJECT_KERNEL } from '../native/row-project.js'
import { SELECTED_ROWS_GRAD_KERNEL, SELECTED_ROWS_KERNEL } from '../native/selected-rows.js'
import { UNIT_ROWS_KERNEL } from '../native/unit-rows.js'

export interface TopK {
  /** The K largest values of ReLU(x·W + b) per row, [B, K] (zeros where fewer than K are > 0). */
  values: tf.Tensor2D
  /** Their columns in 0..N−1, [B, K] int32. */
  indices: tf.Tensor2D
}

/**
 * Selection step of a TopK gate: TopK(ReLU(x·W + b), k). Not differentiable by itself (tfjs has
 * no TopK gradient); the layers attach the pass-through gradient with topkReluGrad.
 */
export function topkRelu(x: tf.Tensor2D, W: tf.Tensor2D, b: tf.Tensor1D, k: number): TopK {
  return tf.tidy(() => {
    // On the native GEMM, bias and ReLU go into the product's own output pass (_FusedMatMul):
    // two fewer passes over the [B, N] pre-activations (22M floats for MxD at GPT-2 scale). The
    // kernel directly: tf.fused.matMul unfuses a ReLU while a gradient is being recorded (it
    // is, around a training step's forward), though no gradient ever flows through the
    // selection.
    const g = nativeGemmActive()
      ? (tf
          .engine()
          .runKernel('_FusedMatMul', { a: x, b: W, bias: b }, { transposeA: false, transposeB: false, activation: 'relu' }) as tf.Tensor2D)
      : tf.relu(tf.add(tf.matMul(x, W), b))
    const { values, indices } = tf.topk(g, k)
    return { values: values as tf.Tensor2D, indices: indices as tf.Tensor2D }
  })
}

/** [B, K] column indices → [B·K, 1], the index shape gatherND/scatterND take for whole rows. */
function rowIndex(indices: tf.Tensor2D): tf.Tensor2D {
  return tf.reshape(indices, [indices.size, 1])
}

/** Rows M[idx_bk] for every token b and slot k: [B, K, O]. */
export function gatherRows(M: tf.Tensor2D, indices: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, K] = indices.shape
    return tf.reshape(tf.gatherND(M, rowIndex(indices)), [B, K, M.shape[1]])
  })
}

/** Σ_k v_bk · rows_bk: the product (Mᵀa) of a K-sparse code a with the rows it selects. [B, O]. */
export function weightedRowSum(values: tf.Tensor2D, rows: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => tf.sum(tf.mul(tf.expandDims(values, 2), rows), 1))
}

/**
 * Backward of y = Σ_k v_bk M[idx_bk] given dy [B, O]:
 *   dv_bk = ⟨dy_b, M[idx_bk]⟩            (rows are those gathered in the forward pass)
 *   dM[n] = Σ_{(b,k): idx_bk = n} v_bk dy_b   (scatterND sums duplicate indices)
 */
export function weightedRowSumGrad(
  values: tf.Tensor2D,
  indices: tf.Tensor2D,
  rows: tf.Tensor3D,
  dy: tf.Tensor2D,
  numRows: number,
): { dValues: tf.Tensor2D; dM: tf.Tensor2D } {
  return tf.tidy(() => {
    const [B, K] = values.shape
    const O = dy.shape[1]
    const dValues = tf.sum(tf.mul(rows, tf.expandDims(dy, 1)), 2) as tf.Tensor2D
    const updates = tf.reshape(tf.mul(tf.expandDims(values, 2), tf.expandDims(dy, 1)), [B * K, O])
    const dM = tf.scatterND(rowIndex(indices), updates, [numRows, O]) as tf.Tensor2D
    return { dValues, dM }
  })
}

/**
 * y_b = Σ_k v_bk M[idx_bk] [B, O], the product (Mᵀa) of a K-sparse code a with M. On the native
 * kernel it reads the K rows straight from M; otherwise it gathers them ([B, K, O], gatherRows)
 * and returns them too, for selectedRowSumGrad.
 */
export function selectedRowSum(values: tf.Tensor2D, indices: tf.Tensor2D, M: tf.Tensor2D): { value: tf.Tensor2D; rows?: tf.Tensor3D } {
  if (M.dtype === 'float32' && values.dtype === 'float32' && nativeKernelOn(SELECTED_ROWS_KERNEL))
    return { value: tf.engine().runKernel(SELECTED_ROWS_KERNEL, { values, indices, m: M }) as tf.Tensor2D }
  return tf.tidy(() => {
    const rows = gatherRows(M, indices)
    return { value: weightedRowSum(values, rows), rows }
  })
}

/** Backward of selectedRowSum (weightedRowSumGrad's maths); `rows` as it returned them, if it did. */
export function selectedRowSumGrad(
  values: tf.Tensor2D,
  indices: tf.Tensor2D,
  M: tf.Tensor2D,
  rows: tf.Tensor3D | undefined,
  dy: tf.Tensor2D,
): { dValues: tf.Tensor2D; dM: tf.Tensor2D } {
  if (!rows && M.dtype === 'float32' && values.dtype === 'float32' && nativeKernelOn(SELECTED_ROWS_GRAD_KERNEL)) {
    const [dValues, dM] = tf.engine().runKernel(SELECTED_ROWS_GRAD_KERNEL, { values, indices, m: M, dy }) as tf.Tensor2D[]
    return { dValues: dValues!, dM: dM! }
  }
  return tf.tidy(() => weightedRowSumGrad(values, indices, rows ?? gatherRows(M, indices), dy, M.shape[0]))
}

/** (b, idx_bk) pairs, [B·K, 2]: where each selected value sits in the dense [B, N] code. */
export function codePositions(indices: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, K] = indices.shape
    const token = tf.floorDiv(tf.range(0, B * K, 1, 'int32'), tf.scalar(K, 'int32'))
    return tf.stack([token, tf.reshape(indices, [B * K])], 1) as tf.Tensor2D
  })
}

/** The dense code a ∈ R^{B×N}: values at their indices, 0 elsewhere (for analysis and hooks). */
export function denseCodes(values: tf.Tensor2D, indices: tf.Tensor2D, n: number): tf.Tensor2D {
  if (values.dtype === 'float32' && nativeKernelOn(DENSE_CODES_KERNEL))
    return tf.engine().runKernel(DENSE_CODES_KERNEL, { values, indices }, { n }) as tf.Tensor2D
  return tf.tidy(() => tf.scatterND(codePositions(indices), tf.reshape(values, [values.size]), [values.shape[0], n]) as tf.Tensor2D)
}

/**
 * TopK's gradient passed through the selected positions, then ReLU's and the affine map's:
 *   dPre_bk = dv_bk · [v_bk > 0]         (ReLU; unselected positions get no gradient)
 *   dW[:, n] = Σ_{(b,k): idx_bk = n} dPre_bk x_b,  db[n] = Σ dPre_bk
 * dW is scattered row-wise into [N, d] (contiguous rows, fast) and transposed once to [d, N].
 */
export function topkReluGrad(
  x: tf.Tensor2D,
  { values, indices }: TopK,
  dValues: tf.Tensor2D,
  n: number,
): { dW: tf.Tensor2D; db: tf.Tensor1D } {
  if (x.dtype === 'float32' && values.dtype === 'float32' && nativeKernelOn(GATE_GRAD_KERNEL)) {
    const [dW, db] = tf.engine().runKernel(GATE_GRAD_KERNEL, { x, values, indices, dValues }, { n }) as tf.Tensor[]
    return { dW: dW as tf.Tensor2D, db: db as tf.Tensor1D }
  }
  return tf.tidy(() => {
    const [B, K] = values.shape
    const d = x.shape[1]
    const dPre = tf.where(tf.greater(values, 0), dValues, tf.zerosLike(dValues))
    const updates = tf.reshape(tf.mul(tf.expandDims(dPre, 2), tf.expandDims(x, 1)), [B * K, d])
    const dWt = tf.scatterND(rowIndex(indices), updates, [n, d]) as tf.Tensor2D
    const db = tf.scatterND(rowIndex(indices), tf.reshape(dPre, [B * K]), [n]) as tf.Tensor1D
    return { dW: tf.transpose(dWt), db }
  })
}

// ------------------------------------------------------------------ unit-norm decoder rows

/** Each row of M scaled to unit L2 norm; an all-zero row stays zero (no NaN from 0/0). */
export function unitRows(M: tf.Tensor2D): tf.Tensor2D {
  if (M.dtype === 'float32' && nativeKernelOn(UNIT_ROWS_KERNEL)) return tf.engine().runKernel(UNIT_ROWS_KERNEL, { m: M }) as tf.Tensor2D
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.sum(tf.square(M), 1, true))
    return tf.div(M, tf.where(tf.greater(norm, 0), norm, tf.onesLike(norm)))
  })
}

/** Re-normalises the rows of a decoder variable in place (after every optimizer step). */
export function renormalizeRows(M: tf.Variable): void {
  tf.tidy(() => M.assign(unitRows(M as tf.Tensor as tf.Tensor2D)))
}

/**
 * The gradient with each row's component along that (unit-norm) row removed, as the official
 * code does before each step: g_n ← g_n − ⟨g_n, m_n⟩ m_n, so the step moves along the sphere.
 */
export function removeParallelComponent(grad: tf.Tensor2D, M: tf.Tensor2D): tf.Tensor2D {
  if (grad.dtype === 'float32' && M.dtype === 'float32' && nativeKernelOn(ROW_PROJECT_KERNEL))
    return tf.engine().runKernel(ROW_PROJECT_KERNEL, { g: grad, m: M }) as tf.Tensor2D
  return tf.tidy(() => tf.sub(grad, tf.mul(tf.sum(tf.mul(grad, M), 1, true), M)))
}

// ------------------------------------------------------------------------------ init

/** PyTorch's nn.Linear default weight init, U(−1/√fan_in, 1/√fan_in), in the given shape. */
export function linearInit(shape: [number, number] | [number], fanIn: number, seed?: number): tf.Tensor {
  const bound = 1 / Math.sqrt(fanIn)
  return tf.randomUniform(shape, -bound, bound, 'float32', seed)
}

// ------------------------------------------------------------------ hand-written gradients

type Named = Record<string, tf.Tensor>

/**
 * A differentiable op over named parameters whose backward pass is written by hand (tf.customGrad
 * underneath). `forward` returns the value and the tensors its backward needs (`saved`, kept only
 * while a gradient tape is recording); `backward` returns a gradient for every parameter. The
 * layer input and the TopK selection are constants here: they reach backward through `saved`,
 * so no gradient is ever computed for x (it would cost a [B,N]×[N,d] product for nothing).
 */
export function customParamOp<P extends Named>(
  params: P,
  forward: (p: P) => { value: tf.Tensor2D; saved: Named },
  backward: (dy: tf.Tensor2D, saved: Named, p: P) => Record<keyof P, tf.Tensor>,
): tf.Tensor2D {
  const names = Object.keys(params) as (keyof P & string)[]
  let savedNames: string[] = []
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc
    const p = Object.fromEntries(names.map((n, i) => [n, args[i] as tf.Tensor])) as P
    const { value, saved } = forward(p)
    savedNames = Object.keys(saved)
    save(savedNames.map((n) => saved[n]!))
    const gradFunc = (dy: tf.Tensor, savedList: tf.Tensor[]): tf.Tensor[] => {
      const s = Object.fromEntries(savedNames.map((n, i) => [n, savedList[i]!]))
      const grads = backward(dy as tf.Tensor2D, s, p)
      return names.map((n) => grads[n])
    }
    return { value, gradFunc }
  })
  return op(...names.map((n) => params[n]!)) as tf.Tensor2D
}
