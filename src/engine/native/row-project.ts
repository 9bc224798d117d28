// The decoder gradient with each row's component along its unit-norm row removed,
// g_n − ⟨g_n, m_n⟩ m_n, one pass per row (src/engine/layers/sparse.ts's removeParallelComponent
// has the tf-ops path: Multiply, Sum, Multiply, Sub over the whole [N, O] matrix).
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, needFloat32, offsetOf, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

/** inputs g, m, both [rows, cols] → g − ⟨g, m⟩ m per row. */
export const ROW_PROJECT_KERNEL = 'MxdRowProject'

function rowProject(args: KernelArgs<{ g: TensorInfo; m: TensorInfo }>): TensorInfo {
  const { inputs, backend } = args
  const { g, m } = inputs
  needFloat32(ROW_PROJECT_KERNEL, g, m)
  if (g.shape.length !== 2 || !tf.util.arraysEqual(g.shape, m.shape))
    throw new Error(`${ROW_PROJECT_KERNEL}: g [${g.shape}] and m [${m.shape}] must be the same [rows, cols].`)
  const out = backend.makeOutput(g.shape, 'float32')
  const at = (t: TensorInfo): number => offsetOf(backend, t)
  theAddon().rowProject(heapOf(backend), at(g), at(m), at(out), g.shape[0]!, g.shape[1]!)
  return out
}

export const ROW_PROJECT: NativeKernel = {
  name: ROW_PROJECT_KERNEL,
  replacesStock: false,
  kernelFunc: rowProject as NativeKernel['kernelFunc'],
}
