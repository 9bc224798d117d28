// SplitV along any axis as one strided copy per part (tfjs-wasm's slices each part with a JS loop
// over rows: 5–20 ms for a GPT-2 block's [8, 128, 768] q|k|v split, under 1 ms here).
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, offsetOf, stockKernel, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

function splitV(args: KernelArgs<{ x: TensorInfo }>): TensorInfo[] {
  const { inputs, backend, attrs } = args
  const { x } = inputs
  if (x.dtype !== 'float32') return stockKernel('SplitV').kernelFunc(args as never) as TensorInfo[]
  const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0]!
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits as number[] | number, axis)
  const outer = tf.util.sizeFromShape(x.shape.slice(0, axis))
  const inner = tf.util.sizeFromShape(x.shape.slice(axis + 1))
  const row = x.shape[axis]! * inner
  const outs = sizes.map((s) => backend.makeOutput([...x.shape.slice(0, axis), s, ...x.shape.slice(axis + 1)], 'float32'))
  const heap = heapOf(backend)
  const xOff = offsetOf(backend, x)
  let at = 0
  sizes.forEach((s, i) => {
    if (s * inner > 0 && outer > 0) theAddon().copy2d(heap, xOff + 4 * at, row, offsetOf(backend, outs[i]!), s * inner, outer, s * inner)
    at += s * inner
  })
  return outs
}

export const SPLIT_V: NativeKernel = { name: 'SplitV', replacesStock: true, kernelFunc: splitV as NativeKernel['kernelFunc'] }
