// Identity that shares the input's data (one more reference to it) instead of copying it, as
// tfjs's CPU and WebGL backends and the wasm backend's own Reshape do. tfjs clones through
// Identity every tensor a custom gradient saves for its backward, so in a training step the wasm
// kernel's copies were ~150 a step (~5 % of it, bench/README.md 2026-12-06). Safe because no
// kernel writes into its inputs: every kernel here and in tfjs-wasm writes fresh outputs only.
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { stockKernel, type KernelArgs, type NativeKernel } from './addon.js'

interface SharingBackend {
  incRef(dataId: object): void
}

function identity(args: KernelArgs<{ x: TensorInfo }>): TensorInfo {
  const { x } = args.inputs
  if (x.dtype === 'string') return stockKernel('Identity').kernelFunc(args as never) as TensorInfo
  ;(args.backend as unknown as SharingBackend).incRef(x.dataId)
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype }
}

export const IDENTITY: NativeKernel = { name: 'Identity', replacesStock: true, kernelFunc: identity as NativeKernel['kernelFunc'] }
