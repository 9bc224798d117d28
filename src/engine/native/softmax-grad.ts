// The softmax backward over the last axis, dS = P ∗ (dP − Σ_k dP∗P), one pass per row (ops.ts's
// causalSelfAttention calls it through runKernel; Multiply, Sum, Sub, Multiply otherwise).
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, needFloat32, offsetOf, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

/** inputs p (the softmax's output), dp (its gradient), one shape → ds. */
export const SOFTMAX_GRAD_KERNEL = 'MxdSoftmaxGrad'

function softmaxGrad(args: KernelArgs<{ p: TensorInfo; dp: TensorInfo }>): TensorInfo {
  const { inputs, backend } = args
  const { p, dp } = inputs
  needFloat32(SOFTMAX_GRAD_KERNEL, p, dp)
  if (!tf.util.arraysEqual(p.shape, dp.shape) || p.shape.length === 0)
    throw new Error(`${SOFTMAX_GRAD_KERNEL}: p [${p.shape}] and dp [${dp.shape}] differ or are scalars.`)
  const n = p.shape[p.shape.length - 1]!
  const ds = backend.makeOutput(p.shape, 'float32')
  const rows = n === 0 ? 0 : tf.util.sizeFromShape(p.shape) / n
  theAddon().softmaxGrad(heapOf(backend), offsetOf(backend, p), offsetOf(backend, dp), offsetOf(backend, ds), rows, n)
  return ds
}

export const SOFTMAX_GRAD: NativeKernel = {
  name: SOFTMAX_GRAD_KERNEL,
  replacesStock: false,
  kernelFunc: softmaxGrad as NativeKernel['kernelFunc'],
}
