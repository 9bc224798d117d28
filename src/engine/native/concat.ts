// Concat along any axis as one strided copy per input (the inverse of split-v.ts; attention's
// backward joins dq | dk | dv with it).
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, offsetOf, stockKernel, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

function concat(args: KernelArgs<TensorInfo[]>): TensorInfo {
  const { inputs, backend, attrs } = args
  if (inputs.length === 0 || inputs.some((t) => t.dtype !== 'float32')) return stockKernel('Concat').kernelFunc(args as never) as TensorInfo
  const axis = tf.util.parseAxisParam(attrs.axis as number, inputs[0]!.shape)[0]!
  const shapes = inputs.map((t) => t.shape)
  tf.backend_util.assertParamsConsistent(shapes, axis)
  const outShape = tf.backend_util.computeOutShape(shapes, axis)
  const out = backend.makeOutput(outShape, 'float32')
  const outer = tf.util.sizeFromShape(outShape.slice(0, axis))
  const inner = tf.util.sizeFromShape(outShape.slice(axis + 1))
  const row = outShape[axis]! * inner
  const heap = heapOf(backend)
  const outOff = offsetOf(backend, out)
  let at = 0
  for (const t of inputs) {
    const cols = t.shape[axis]! * inner
    if (cols > 0 && outer > 0) theAddon().copy2d(heap, offsetOf(backend, t), cols, outOff + 4 * at, row, outer, cols)
    at += cols
  }
  return out
}

export const CONCAT: NativeKernel = { name: 'Concat', replacesStock: true, kernelFunc: concat as NativeKernel['kernelFunc'] }
