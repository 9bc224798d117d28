// The dense code a ∈ R^{B×N} of a TopK gate from its K selections per row: each row zeroed and
// its K values written at their indices, one kernel (src/engine/layers/sparse.ts's denseCodes
// has the tf-ops path: Range, FloorDiv, Pack for the (b, idx) pairs, then ScatterNd; 19 ms a
// step for MxD at GPT-2 scale, [1024, 21490]).
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, needFloat32, offsetOf, theAddon, type KernelArgs, type NativeKernel } from './addon.js'
import { selectionShape } from './selected-rows.js'

/** inputs values [B, K] float32, indices [B, K] int32 (each in [0, n)); attr n → y [B, n]. */
export const DENSE_CODES_KERNEL = 'MxdDenseCodes'

function denseCodes(args: KernelArgs<{ values: TensorInfo; indices: TensorInfo }>): TensorInfo {
  const { inputs, backend, attrs } = args
  const { values, indices } = inputs
  needFloat32(DENSE_CODES_KERNEL, values)
  const n = Number(attrs.n)
  if (!Number.isInteger(n)) throw new Error(`${DENSE_CODES_KERNEL}: n = ${String(attrs.n)} must be a whole number.`)
  const [B, K] = selectionShape(DENSE_CODES_KERNEL, values, indices, n, 0)
  const y = backend.makeOutput([B, n], 'float32')
  const at = (t: TensorInfo): number => offsetOf(backend, t)
  // The addon checks every index against [0, n) and throws a RangeError on one outside it.
  theAddon().denseCodes(heapOf(backend), at(values), at(indices), at(y), B, K, n)
  return y
}

export const DENSE_CODES: NativeKernel = {
  name: DENSE_CODES_KERNEL,
  replacesStock: false,
  kernelFunc: denseCodes as NativeKernel['kernelFunc'],
}
