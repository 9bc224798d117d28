// LayerNorm over the last axis, forward and backward, one pass over the rows each (ops.ts's
// layerNorm has the maths and calls these through runKernel; about twenty wasm kernels otherwise).
// Statistics and the backward's sums in double; rows split over MXD_THREADS threads, and dw / db
// summed in a fixed order, so the result does not depend on the thread count.
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, needFloat32, offsetOf, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

/** inputs x [..., d], w [d], b [d]; attr eps → y (x's shape), mean and rstd (x's shape less d). */
export const LAYER_NORM_KERNEL = 'MxdLayerNorm'
/** inputs dy, x, w, mean, rstd (as the forward's) → dx, dw, db. */
export const LAYER_NORM_GRAD_KERNEL = 'MxdLayerNormGrad'

function rowsOf(kernel: string, x: TensorInfo, w: TensorInfo): { rows: number; d: number } {
  const d = x.shape[x.shape.length - 1]
  if (d === undefined || d === 0 || w.shape.length !== 1 || w.shape[0] !== d)
    throw new Error(`${kernel}: x [${x.shape}] and weights [${w.shape}] do not match, or the last axis is empty.`)
  return { rows: d === 0 ? 0 : tf.util.sizeFromShape(x.shape) / d, d }
}

function layerNorm(args: KernelArgs<{ x: TensorInfo; w: TensorInfo; b: TensorInfo }>): TensorInfo[] {
  const { inputs, backend, attrs } = args
  const { x, w, b } = inputs
  needFloat32(LAYER_NORM_KERNEL, x, w, b)
  const { rows, d } = rowsOf(LAYER_NORM_KERNEL, x, w)
  if (!tf.util.arraysEqual(b.shape, w.shape)) throw new Error(`${LAYER_NORM_KERNEL}: bias [${b.shape}] is not [${d}].`)
  const eps = Number(attrs.eps)
  const y = backend.makeOutput(x.shape, 'float32')
  const mean = backend.makeOutput(x.shape.slice(0, -1), 'float32')
  const rstd = backend.makeOutput(x.shape.slice(0, -1), 'float32')
  const at = (t: TensorInfo): number => offsetOf(backend, t)
  theAddon().layerNorm(heapOf(backend), at(x), at(w), at(b), at(y), at(mean), at(rstd), rows, d, eps)
  return [y, mean, rstd]
}

function layerNormGrad(
  args: KernelArgs<{ dy: TensorInfo; x: TensorInfo; w: TensorInfo; mean: TensorInfo; rstd: TensorInfo }>,
): TensorInfo[] {
  const { inputs, backend } = args
  const { dy, x, w, mean, rstd } = inputs
  needFloat32(LAYER_NORM_GRAD_KERNEL, dy, x, w, mean, rstd)
  const { rows, d } = rowsOf(LAYER_NORM_GRAD_KERNEL, x, w)
  if (!tf.util.arraysEqual(dy.shape, x.shape) || tf.util.sizeFromShape(mean.shape) !== rows || tf.util.sizeFromShape(rstd.shape) !== rows)
    throw new Error(
      `${LAYER_NORM_GRAD_KERNEL}: dy [${dy.shape}], mean [${mean.shape}] or rstd [${rstd.shape}] do not match x [${x.shape}].`,
    )
  const dx = backend.makeOutput(x.shape, 'float32')
  const dw = backend.makeOutput([d], 'float32')
  const db = backend.makeOutput([d], 'float32')
  const at = (t: TensorInfo): number => offsetOf(backend, t)
  theAddon().layerNormGrad(heapOf(backend), at(dy), at(x), at(w), at(mean), at(rstd), at(dx), at(dw), at(db), rows, d)
  return [dx, dw, db]
}

export const LAYER_NORM: NativeKernel = {
  name: LAYER_NORM_KERNEL,
  replacesStock: false,
  kernelFunc: layerNorm as NativeKernel['kernelFunc'],
}
export const LAYER_NORM_GRAD: NativeKernel = {
  name: LAYER_NORM_GRAD_KERNEL,
  replacesStock: false,
  kernelFunc: layerNormGrad as NativeKernel['kernelFunc'],
}
