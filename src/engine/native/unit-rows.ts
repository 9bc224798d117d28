// Each row scaled to unit L2 norm (a row whose norm is not > 0 kept as it is), one pass per row
// (src/engine/layers/sparse.ts's unitRows has the tf-ops path: Square, Sum, Sqrt, Greater,
// Select, RealDiv over the whole matrix; MxD renormalises C, [N, O], after every step).
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, needFloat32, offsetOf, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

/** input m [rows, cols] → m_r / ‖m_r‖ per row. */
export const UNIT_ROWS_KERNEL = 'MxdUnitRows'

function unitRows(args: KernelArgs<{ m: TensorInfo }>): TensorInfo {
  const { inputs, backend } = args
  const { m } = inputs
  needFloat32(UNIT_ROWS_KERNEL, m)
  if (m.shape.length !== 2) throw new Error(`${UNIT_ROWS_KERNEL}: m [${m.shape}] must be [rows, cols].`)
  const out = backend.makeOutput(m.shape, 'float32')
  theAddon().unitRows(heapOf(backend), offsetOf(backend, m), offsetOf(backend, out), m.shape[0]!, m.shape[1]!)
  return out
}

export const UNIT_ROWS: NativeKernel = { name: UNIT_ROWS_KERNEL, replacesStock: false, kernelFunc: unitRows as NativeKernel['kernelFunc'] }
