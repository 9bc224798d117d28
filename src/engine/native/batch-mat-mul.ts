// BatchMatMul on OpenBLAS's sgemm, in place on the wasm heap (tfjs-wasm's own is single-threaded
// XNNPACK, 3–5× slower per core), with every broadcast of the batch dimensions tfjs-core accepts.
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, offsetOf, stockKernel, type KernelArgs, type NativeKernel } from './addon.js'
import { planMatMul, sgemm } from './matmul-plan.js'

export function batchMatMul(args: KernelArgs<{ a: TensorInfo; b: TensorInfo }>): TensorInfo {
  const { inputs, backend, attrs } = args
  const { a, b } = inputs
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return stockKernel('BatchMatMul').kernelFunc(args as never) as TensorInfo
  const plan = planMatMul(a.shape, b.shape, attrs.transposeA === true, attrs.transposeB === true)
  const out = backend.makeOutput(plan.outShape, 'float32')
  const heap = heapOf(backend)
  sgemm(
    heap,
    plan,
    attrs.transposeA === true,
    attrs.transposeB === true,
    offsetOf(backend, a),
    offsetOf(backend, b),
    offsetOf(backend, out),
    0,
  )
  return out
}

export const BATCH_MAT_MUL: NativeKernel = {
  name: 'BatchMatMul',
  replacesStock: true,
  kernelFunc: batchMatMul as NativeKernel['kernelFunc'],
}
