// Transpose of any permutation up to rank 8, one output row at a time: a memcpy per row where the
// last axis stays last (attention's head split and merge, [B, T, H, hd] ↔ [B, H, T, hd]), a
// strided gather otherwise. tfjs-wasm's is fast only up to rank 4 and single-threaded.
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, offsetOf, stockKernel, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

function transpose(args: KernelArgs<{ x: TensorInfo }>): TensorInfo {
  const { inputs, backend, attrs } = args
  const { x } = inputs
  const perm = attrs.perm as number[]
  const rank = x.shape.length
  if ((x.dtype !== 'float32' && x.dtype !== 'int32') || rank === 0 || rank > 8)
    return stockKernel('Transpose').kernelFunc(args as never) as TensorInfo
  const out = backend.makeOutput(
    perm.map((p) => x.shape[p]!),
    x.dtype,
  )
  if (tf.util.sizeFromShape(x.shape) === 0) return out
  theAddon().transpose(heapOf(backend), offsetOf(backend, x), offsetOf(backend, out), rank, Int32Array.from([...x.shape, ...perm]))
  return out
}

export const TRANSPOSE: NativeKernel = { name: 'Transpose', replacesStock: true, kernelFunc: transpose as NativeKernel['kernelFunc'] }
