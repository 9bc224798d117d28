// Next-token cross-entropy of logits [rows, vocab], forward and backward, one pass over the rows
// each (ops.ts's crossEntropy has the maths and calls these through runKernel; Max, Sub, Exp, Sum,
// Log, Gather forward and Softmax, OneHot, Cast, Sub, Div, Multiply backward otherwise). The
// forward keeps the softmax for the backward instead of computing it again.
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, needFloat32, offsetOf, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

/** inputs logits [rows, vocab] float32, targets [rows] int32 → loss per row [rows], softmax p [rows, vocab]. */
export const CROSS_ENTROPY_KERNEL = 'MxdCrossEntropy'
/** inputs p (the forward's), targets, dy (the mean loss's gradient, a scalar) → dlogits. */
export const CROSS_ENTROPY_GRAD_KERNEL = 'MxdCrossEntropyGrad'

function shapeOf(kernel: string, l: TensorInfo, targets: TensorInfo): { rows: number; vocab: number } {
  if (l.shape.length !== 2 || targets.dtype !== 'int32' || tf.util.sizeFromShape(targets.shape) !== l.shape[0])
    throw new Error(
      `${kernel} needs logits [rows, vocab] and int32 targets [rows], got [${l.shape}] and ${targets.dtype} [${targets.shape}].`,
    )
  return { rows: l.shape[0]!, vocab: l.shape[1]! }
}

function crossEntropy(args: KernelArgs<{ logits: TensorInfo; targets: TensorInfo }>): TensorInfo[] {
  const { inputs, backend } = args
  const { logits, targets } = inputs
  needFloat32(CROSS_ENTROPY_KERNEL, logits)
  const { rows, vocab } = shapeOf(CROSS_ENTROPY_KERNEL, logits, targets)
  const loss = backend.makeOutput([rows], 'float32')
  const p = backend.makeOutput([rows, vocab], 'float32')
  const at = (t: TensorInfo): number => offsetOf(backend, t)
  // The addon checks every target against [0, vocab) and throws a RangeError on one outside it.
  theAddon().crossEntropy(heapOf(backend), at(logits), at(targets), at(loss), at(p), rows, vocab)
  return [loss, p]
}

function crossEntropyGrad(args: KernelArgs<{ p: TensorInfo; targets: TensorInfo; dy: TensorInfo }>): TensorInfo {
  const { inputs, backend } = args
  const { p, targets, dy } = inputs
  needFloat32(CROSS_ENTROPY_GRAD_KERNEL, p, dy)
  const { rows, vocab } = shapeOf(CROSS_ENTROPY_GRAD_KERNEL, p, targets)
  if (tf.util.sizeFromShape(dy.shape) !== 1) throw new Error(`${CROSS_ENTROPY_GRAD_KERNEL}: dy must be a scalar, got [${dy.shape}].`)
  const dl = backend.makeOutput([rows, vocab], 'float32')
  const at = (t: TensorInfo): number => offsetOf(backend, t)
  theAddon().crossEntropyGrad(heapOf(backend), at(p), at(targets), at(dy), at(dl), rows, vocab)
  return dl
}

export const CROSS_ENTROPY: NativeKernel = {
  name: CROSS_ENTROPY_KERNEL,
  replacesStock: false,
  kernelFunc: crossEntropy as NativeKernel['kernelFunc'],
}
export const CROSS_ENTROPY_GRAD: NativeKernel = {
  name: CROSS_ENTROPY_GRAD_KERNEL,
  replacesStock: false,
  kernelFunc: crossEntropyGrad as NativeKernel['kernelFunc'],
}
