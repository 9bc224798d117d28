// Tile natively: tfjs broadcasts by tiling (tf.where, broadcastTo), so inference's attention mask,
// and the scalars tf.where fills with, are tiled to the scores' full shape on every call.
// tfjs-wasm's Tile computes each element's source index on its own, ~70 ms for a scalar to
// [8, 12, 128, 128]; this copies whole rows (native/mxd_layers.c, tile_rows).
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, offsetOf, stockKernel, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

function tile(args: KernelArgs<{ x: TensorInfo }>): TensorInfo {
  const { inputs, backend, attrs } = args
  const { x } = inputs
  const reps = attrs.reps as number[]
  const rank = x.shape.length
  // float32, int32 (4 bytes) and bool (1 byte) as the wasm heap stores them; strings never reach wasm.
  if ((x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') || rank === 0 || rank > 8 || reps.length !== rank)
    return stockKernel('Tile').kernelFunc(args as never) as TensorInfo
  const out = backend.makeOutput(
    x.shape.map((d, i) => d * reps[i]!),
    x.dtype,
  )
  if (tf.util.sizeFromShape(out.shape) === 0) return out
  const elemBytes = x.dtype === 'bool' ? 1 : 4
  theAddon().tile(heapOf(backend), offsetOf(backend, x), offsetOf(backend, out), rank, Int32Array.from([...x.shape, ...reps]), elemBytes)
  return out
}

export const TILE: NativeKernel = { name: 'Tile', replacesStock: true, kernelFunc: tile as NativeKernel['kernelFunc'] }
