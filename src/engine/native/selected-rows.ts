// The sparse layers' decoder product over the K selected rows, y_b = Σ_k v_bk M[idx_bk], and its
// backward, one pass each straight from M (src/engine/layers/sparse.ts's selectedRowSum has the
// maths and the tf-ops path: a [B, K, O] gather, Multiply and Sum forward, two Multiplies, a Sum
// and a ScatterNd backward, with the gathered rows kept between them).
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, needFloat32, offsetOf, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

/** inputs values [B, K] float32, indices [B, K] int32 (each in [0, N)), m [N, O] → y [B, O]. */
export const SELECTED_ROWS_KERNEL = 'MxdSelectedRows'
/** inputs values, indices, m (the forward's), dy [B, O] → dValues [B, K], dM [N, O]. */
export const SELECTED_ROWS_GRAD_KERNEL = 'MxdSelectedRowsGrad'

/** [B, K, N, O] after checking the shapes the two kernels share. */
export function selectionShape(kernel: string, values: TensorInfo, indices: TensorInfo, n: number, width: number): [number, number] {
  if (values.shape.length !== 2 || !tf.util.arraysEqual(values.shape, indices.shape) || indices.dtype !== 'int32')
    throw new Error(`${kernel}: values [${values.shape}] and int32 indices [${indices.shape}] must be the same [B, K].`)
  if (n < 0 || width < 0) throw new Error(`${kernel}: bad sizes ${n}, ${width}.`)
  return [values.shape[0]!, values.shape[1]!]
}

function selectedRows(args: KernelArgs<{ values: TensorInfo; indices: TensorInfo; m: TensorInfo }>): TensorInfo {
  const { inputs, backend } = args
  const { values, indices, m } = inputs
  needFloat32(SELECTED_ROWS_KERNEL, values, m)
  if (m.shape.length !== 2) throw new Error(`${SELECTED_ROWS_KERNEL}: m [${m.shape}] must be [N, O].`)
  const [N, O] = m.shape as [number, number]
  const [B, K] = selectionShape(SELECTED_ROWS_KERNEL, values, indices, N, O)
  const y = backend.makeOutput([B, O], 'float32')
  const at = (t: TensorInfo): number => offsetOf(backend, t)
  // The addon checks every index against [0, N) and throws a RangeError on one outside it.
  theAddon().selectedRows(heapOf(backend), at(values), at(indices), at(m), at(y), B, K, N, O)
  return y
}

function selectedRowsGrad(args: KernelArgs<{ values: TensorInfo; indices: TensorInfo; m: TensorInfo; dy: TensorInfo }>): TensorInfo[] {
  const { inputs, backend } = args
  const { values, indices, m, dy } = inputs
  needFloat32(SELECTED_ROWS_GRAD_KERNEL, values, m, dy)
  if (m.shape.length !== 2) throw new Error(`${SELECTED_ROWS_GRAD_KERNEL}: m [${m.shape}] must be [N, O].`)
  const [N, O] = m.shape as [number, number]
  const [B, K] = selectionShape(SELECTED_ROWS_GRAD_KERNEL, values, indices, N, O)
  if (!tf.util.arraysEqual(dy.shape, [B, O])) throw new Error(`${SELECTED_ROWS_GRAD_KERNEL}: dy [${dy.shape}] must be [${B}, ${O}].`)
  const dValues = backend.makeOutput([B, K], 'float32')
  const dM = backend.makeOutput([N, O], 'float32')
  const at = (t: TensorInfo): number => offsetOf(backend, t)
  theAddon().selectedRowsGrad(heapOf(backend), at(values), at(indices), at(m), at(dy), at(dValues), at(dM), B, K, N, O)
  return [dValues, dM]
}

export const SELECTED_ROWS: NativeKernel = {
  name: SELECTED_ROWS_KERNEL,
  replacesStock: false,
  kernelFunc: selectedRows as NativeKernel['kernelFunc'],
}
export const SELECTED_ROWS_GRAD: NativeKernel = {
  name: SELECTED_ROWS_GRAD_KERNEL,
  replacesStock: false,
  kernelFunc: selectedRowsGrad as NativeKernel['kernelFunc'],
}
