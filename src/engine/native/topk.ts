// TopK along the last axis: one pass per row with a k-element heap (wasm's sorts each row; 3×
// faster on the MxD gate), rows over threads.
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, offsetOf, stockKernel, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

// The k-element heap's scratch space (8 bytes a pick) for the rows the calling thread takes, kept
// between calls and grown on demand; rows split to other threads get a heap of their own in C.
let topkScratch = new ArrayBuffer(8 * 64)

/**
 * TopK along the last axis, in the order of tfjs-wasm's own kernel (larger first, NaN above every
 * number, ties to the lower index), so that switching kernels changes no selection. One pass
 * per row with a k-element heap (wasm's sorts each row); rows split over the native threads.
 */
function topK(args: KernelArgs<{ x: TensorInfo }>): TensorInfo[] {
  const { inputs, backend, attrs } = args
  const { x } = inputs
  if (x.dtype !== 'float32' || x.shape.length === 0) return stockKernel('TopK').kernelFunc(args as never) as TensorInfo[]
  const k = Number(attrs.k)
  const n = x.shape[x.shape.length - 1]!
  if (!Number.isInteger(k) || k < 0 || k > n) throw new Error(`topk: k = ${String(attrs.k)} must be a whole number from 0 to ${n}.`)
  const rows = n === 0 ? 0 : tf.util.sizeFromShape(x.shape) / n
  const outShape = [...x.shape.slice(0, -1), k]
  const values = backend.makeOutput(outShape, 'float32')
  const indices = backend.makeOutput(outShape, 'int32')
  if (rows === 0 || k === 0) return [values, indices]
  if (topkScratch.byteLength < 8 * k) topkScratch = new ArrayBuffer(8 * k)
  const heap = heapOf(backend)
  theAddon().topk(heap, offsetOf(backend, x), rows, n, k, offsetOf(backend, values), offsetOf(backend, indices), topkScratch)
  return [values, indices]
}

export const TOPK: NativeKernel = { name: 'TopK', replacesStock: true, kernelFunc: topK as NativeKernel['kernelFunc'] }
