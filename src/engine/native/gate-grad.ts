// The backward of a TopK(ReLU(x·W + b)) gate through its K selections per row, in one kernel
// (src/engine/layers/sparse.ts's topkReluGrad has the maths and the tf-ops path: Greater, Select,
// a [B, K, d] Multiply, two ScatterNds into [N, d] and [N], and a Transpose of the [N, d] one).
// The kernel writes dW in W's own [d, N] layout, so nothing is transposed.
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, needFloat32, offsetOf, theAddon, type KernelArgs, type NativeKernel } from './addon.js'
import { selectionShape } from './selected-rows.js'

/** inputs x [B, d], values and int32 indices [B, K], dValues [B, K]; attr n → dW [d, n], db [n]. */
export const GATE_GRAD_KERNEL = 'MxdGateGrad'

function gateGrad(args: KernelArgs<{ x: TensorInfo; values: TensorInfo; indices: TensorInfo; dValues: TensorInfo }>): TensorInfo[] {
  const { inputs, backend, attrs } = args
  const { x, values, indices, dValues } = inputs
  needFloat32(GATE_GRAD_KERNEL, x, values, dValues)
  const n = Number(attrs.n)
  if (!Number.isInteger(n)) throw new Error(`${GATE_GRAD_KERNEL}: n = ${String(attrs.n)} must be a whole number.`)
  if (x.shape.length !== 2) throw new Error(`${GATE_GRAD_KERNEL}: x [${x.shape}] must be [B, d].`)
  const d = x.shape[1]!
  const [B, K] = selectionShape(GATE_GRAD_KERNEL, values, indices, n, d)
  if (x.shape[0] !== B || !tf.util.arraysEqual(dValues.shape, values.shape))
    throw new Error(`${GATE_GRAD_KERNEL}: x [${x.shape}], values [${values.shape}] and dValues [${dValues.shape}] disagree.`)
  const dW = backend.makeOutput([d, n], 'float32')
  const db = backend.makeOutput([n], 'float32')
  const at = (t: TensorInfo): number => offsetOf(backend, t)
  theAddon().gateGrad(heapOf(backend), at(x), at(values), at(indices), at(dValues), at(dW), at(db), B, K, n, d)
  return [dW, db]
}

export const GATE_GRAD: NativeKernel = { name: GATE_GRAD_KERNEL, replacesStock: false, kernelFunc: gateGrad as NativeKernel['kernelFunc'] }
