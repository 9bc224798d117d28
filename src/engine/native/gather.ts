// GatherV2 of float32 rows (an embedding lookup: whole rows of `inner` floats, one memcpy each).
// tfjs-wasm's copies element by element: 22 ms for GPT-2's 1024 × 256 token embedding here.
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, offsetOf, stockKernel, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

function gather(args: KernelArgs<{ x: TensorInfo; indices: TensorInfo }>): TensorInfo {
  const { inputs, backend, attrs } = args
  const { x, indices } = inputs
  const batchDims = Number(attrs.batchDims ?? 0)
  if (x.dtype !== 'float32' || indices.dtype !== 'int32' || batchDims !== 0 || x.shape.length === 0)
    return stockKernel('GatherV2').kernelFunc(args as never) as TensorInfo
  const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0]!
  const outer = tf.util.sizeFromShape(x.shape.slice(0, axis))
  const inner = tf.util.sizeFromShape(x.shape.slice(axis + 1))
  const count = tf.util.sizeFromShape(indices.shape)
  const out = backend.makeOutput([...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)], 'float32')
  // The addon checks every index against [0, n) and throws a RangeError on one outside it.
  theAddon().gather(
    heapOf(backend),
    offsetOf(backend, x),
    offsetOf(backend, indices),
    offsetOf(backend, out),
    outer,
    x.shape[axis]!,
    count,
    inner,
  )
  return out
}

export const GATHER: NativeKernel = { name: 'GatherV2', replacesStock: true, kernelFunc: gather as NativeKernel['kernelFunc'] }
