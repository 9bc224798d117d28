// GPT-2's tanh GELU ("gelu_new") as x·σ(x (c1 + c3 x²)), forward and backward, one pass each
// (ops.ts's geluNew has the maths and calls these through runKernel; six and nine wasm kernels
// otherwise). The constants come from the op, so both paths use the same ones.
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, needFloat32, offsetOf, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

/** input x; attrs c1, c3 → y = x·σ(u) and s = σ(u), u = x (c1 + c3 x²), both x's shape. */
export const GELU_NEW_KERNEL = 'MxdGeluNew'
/** inputs dy, x, s (the forward's); attrs c1, c3 → dx = dy·(s + x s (1 − s)(c1 + 3 c3 x²)). */
export const GELU_NEW_GRAD_KERNEL = 'MxdGeluNewGrad'

function geluNew(args: KernelArgs<{ x: TensorInfo }>): TensorInfo[] {
  const { inputs, backend, attrs } = args
  const { x } = inputs
  needFloat32(GELU_NEW_KERNEL, x)
  const y = backend.makeOutput(x.shape, 'float32')
  const s = backend.makeOutput(x.shape, 'float32')
  const at = (t: TensorInfo): number => offsetOf(backend, t)
  theAddon().geluNew(heapOf(backend), at(x), at(y), at(s), tf.util.sizeFromShape(x.shape), Number(attrs.c1), Number(attrs.c3))
  return [y, s]
}

function geluNewGrad(args: KernelArgs<{ dy: TensorInfo; x: TensorInfo; s: TensorInfo }>): TensorInfo {
  const { inputs, backend, attrs } = args
  const { dy, x, s } = inputs
  needFloat32(GELU_NEW_GRAD_KERNEL, dy, x, s)
  if (!tf.util.arraysEqual(dy.shape, x.shape) || !tf.util.arraysEqual(s.shape, x.shape))
    throw new Error(`${GELU_NEW_GRAD_KERNEL}: dy [${dy.shape}], x [${x.shape}] and s [${s.shape}] differ.`)
  const dx = backend.makeOutput(x.shape, 'float32')
  const at = (t: TensorInfo): number => offsetOf(backend, t)
  theAddon().geluNewGrad(heapOf(backend), at(dy), at(x), at(s), at(dx), tf.util.sizeFromShape(x.shape), Number(attrs.c1), Number(attrs.c3))
  return dx
}

export const GELU_NEW: NativeKernel = { name: GELU_NEW_KERNEL, replacesStock: false, kernelFunc: geluNew as NativeKernel['kernelFunc'] }
export const GELU_NEW_GRAD: NativeKernel = {
  name: GELU_NEW_GRAD_KERNEL,
  replacesStock: false,
  kernelFunc: geluNewGrad as NativeKernel['kernelFunc'],
}
