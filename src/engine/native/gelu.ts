// The exact (erf) GELU, ½x(1 + erf(x/√2)), forward and backward, one pass each (ops.ts's gelu has
// the maths and calls these through runKernel; wasm's Erf alone took 18 ms per MxD hidden layer
// of 3.1M floats, and the backward is Erf, Exp and five element-wise kernels). erf is a rational
// approximation within 4.2e-7 of the exact one (native/mxd_layers.c).
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, needFloat32, offsetOf, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

/** input x → y = gelu(x), x's shape. */
export const GELU_KERNEL = 'MxdGelu'
/** inputs dy, x, one shape → dx = dy·(Φ(x) + x·φ(x)). */
export const GELU_GRAD_KERNEL = 'MxdGeluGrad'

function gelu(args: KernelArgs<{ x: TensorInfo }>): TensorInfo {
  const { inputs, backend } = args
  const { x } = inputs
  needFloat32(GELU_KERNEL, x)
  const y = backend.makeOutput(x.shape, 'float32')
  theAddon().gelu(heapOf(backend), offsetOf(backend, x), offsetOf(backend, y), tf.util.sizeFromShape(x.shape))
  return y
}

function geluGrad(args: KernelArgs<{ dy: TensorInfo; x: TensorInfo }>): TensorInfo {
  const { inputs, backend } = args
  const { dy, x } = inputs
  needFloat32(GELU_GRAD_KERNEL, dy, x)
  if (!tf.util.arraysEqual(dy.shape, x.shape)) throw new Error(`${GELU_GRAD_KERNEL}: dy [${dy.shape}] and x [${x.shape}] differ.`)
  const dx = backend.makeOutput(x.shape, 'float32')
  const at = (t: TensorInfo): number => offsetOf(backend, t)
  theAddon().geluGrad(heapOf(backend), at(dy), at(x), at(dx), tf.util.sizeFromShape(x.shape))
  return dx
}

export const GELU: NativeKernel = { name: GELU_KERNEL, replacesStock: false, kernelFunc: gelu as NativeKernel['kernelFunc'] }
export const GELU_GRAD: NativeKernel = { name: GELU_GRAD_KERNEL, replacesStock: false, kernelFunc: geluGrad as NativeKernel['kernelFunc'] }
