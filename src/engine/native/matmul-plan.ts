// What the two matMul kernels (batch-mat-mul.ts, fused-mat-mul.ts) share: the batch plan with
// numpy broadcasting over leading dimensions, and the batched GEMM call.
import * as tf from '@tensorflow/tfjs-core'
import { theAddon } from './addon.js'

export interface MatMulPlan {
  outShape: number[]
  batch: number
  m: number
  n: number
  k: number
  /** Per output batch entry, which A / B matrix it reads; null when entry i reads matrix i. */
  aIndex: Int32Array | null
  bIndex: Int32Array | null
}

/**
 * Shapes of a (batched) matMul with numpy broadcasting over the leading dimensions: a leading
 * dimension of size 1 repeats. tfjs-wasm's own kernel flattens them instead and so only handles
 * equal batches or a batch of 1; this handles every broadcast tfjs-core's shape check accepts.
 */
export function planMatMul(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatMulPlan {
  const ra = aShape.length
  const rb = bShape.length
  if (ra < 2 || rb < 2) throw new Error(`matMul needs rank ≥ 2, got ${ra} and ${rb}.`)
  const [a0, a1] = [aShape[ra - 2]!, aShape[ra - 1]!]
  const [b0, b1] = [bShape[rb - 2]!, bShape[rb - 1]!]
  const m = transposeA ? a1 : a0
  const k = transposeA ? a0 : a1
  const kb = transposeB ? b1 : b0
  const n = transposeB ? b0 : b1
  if (k !== kb)
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${aShape} and ${bShape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    )
  const aOuter = aShape.slice(0, -2)
  const bOuter = bShape.slice(0, -2)
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter)
  const batch = outer.reduce((p, d) => p * d, 1)
  return { outShape: [...outer, m, n], batch, m, n, k, aIndex: batchIndex(aOuter, outer), bIndex: batchIndex(bOuter, outer) }
}

/** For each entry of the broadcast batch `outer`, the flat index of the matrix `own` supplies. */
function batchIndex(own: number[], outer: number[]): Int32Array | null {
  const ownSize = own.reduce((p, d) => p * d, 1)
  const batch = outer.reduce((p, d) => p * d, 1)
  if (ownSize === batch) return null // same dims up to leading 1s: entry i reads matrix i
  const strides = broadcastStrides(own, outer)
  const index = new Int32Array(batch)
  for (let i = 0; i < batch; i++) index[i] = flatOffset(i, outer, strides)
  return index
}

/** Element strides of `shape` read as broadcast to `out` (right-aligned; 0 where it repeats). */
function broadcastStrides(shape: number[], out: number[]): number[] {
  const strides = new Array<number>(out.length).fill(0)
  let stride = 1
  for (let d = shape.length - 1; d >= 0; d--) {
    const od = out.length - shape.length + d
    const size = shape[d]!
    strides[od] = size === 1 ? 0 : stride
    stride *= size
  }
  return strides
}

/** The source offset of flat index `i` of `out`, given per-dimension strides. */
function flatOffset(i: number, out: number[], strides: number[]): number {
  let off = 0
  for (let d = out.length - 1; d >= 0; d--) {
    const size = out[d]!
    off += (i % size) * strides[d]!
    i = Math.floor(i / size)
  }
  return off
}

/**
 * Lays `src` (broadcast to [...outer, m, n]) into the output at outOff, or applies the prelu
 * weights from it. One addon call when the leading dimensions collapse to one stride, else one
 * per batch entry.
 */
export function broadcastCall(
  plan: MatMulPlan,
  srcShape: number[],
  call: (outOffset: number, batch: number, srcByteOffset: number, sb: number, sm: number, sn: number) => void,
): void {
  const out = plan.outShape
  if (srcShape.length > out.length) throw new Error(`A fused matMul operand of shape [${srcShape}] does not broadcast to [${out}].`)
  tf.broadcast_util.assertAndGetBroadcastShape(out, srcShape)
  const strides = broadcastStrides(srcShape, out)
  const r = out.length
  const sm = strides[r - 2]!
  const sn = strides[r - 1]!
  const outer = out.slice(0, -2)
  const outerStrides = strides.slice(0, -2)
  if (outer.length <= 1 || outerStrides.every((s) => s === 0)) {
    call(0, plan.batch, 0, outerStrides[0] ?? 0, sm, sn)
    return
  }
  for (let i = 0; i < plan.batch; i++) call(i * plan.m * plan.n * 4, 1, flatOffset(i, outer, outerStrides) * 4, 0, sm, sn)
}

/** C = op(A)·op(B) + beta·C for every matrix of the plan's batch, in the wasm heap in place. */
export function sgemm(
  heap: ArrayBuffer,
  plan: MatMulPlan,
  ta: boolean,
  tb: boolean,
  aOff: number,
  bOff: number,
  outOff: number,
  beta: 0 | 1,
): void {
  theAddon().sgemmBatched(heap, ta, tb, plan.m, plan.n, plan.k, plan.batch, aOff, plan.aIndex, bOff, plan.bIndex, outOff, beta)
}
