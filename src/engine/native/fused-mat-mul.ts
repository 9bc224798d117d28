// _FusedMatMul (matMul + bias + activation) on OpenBLAS: the bias is laid into the output first
// and the GEMM adds onto it (beta = 1), the activation is one pass after. Also a correctness fix:
// stock tfjs-wasm 4.22's gives wrong results with transposeA/B plus a bias and with a bias of
// shape [1] (test/unit/native-kernels.test.ts checks ours against a float64 reference there).
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, offsetOf, stockKernel, theAddon, type KernelArgs, type NativeKernel } from './addon.js'
import { broadcastCall, planMatMul, sgemm } from './matmul-plan.js'

// tfjs-backend-wasm's FusableActivation numbering, which the addon's activate() uses too.
const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, prelu: 3, leakyrelu: 4, sigmoid: 5, elu: 6 }
const LINEAR = 0
const PRELU = 3

function fusedMatMul(
  args: KernelArgs<{ a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo }>,
): TensorInfo {
  const { inputs, backend, attrs } = args
  const { a, b, bias, preluActivationWeights: prelu } = inputs
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return stockKernel('_FusedMatMul').kernelFunc(args as never) as TensorInfo
  const activation = ACTIVATIONS[String(attrs.activation ?? 'linear')]
  if (activation === undefined) throw new Error(`${String(attrs.activation)} activation is not supported by the fused matMul kernel.`)
  if (activation === PRELU && !prelu) throw new Error('prelu activation needs preluActivationWeights.')
  const ta = attrs.transposeA === true
  const tb = attrs.transposeB === true
  const plan = planMatMul(a.shape, b.shape, ta, tb)
  const out = backend.makeOutput(plan.outShape, 'float32')
  const heap = heapOf(backend)
  const outOff = offsetOf(backend, out)
  // The bias goes into C first and the GEMM adds onto it (beta = 1): no extra pass over C.
  if (bias) {
    const biasOff = offsetOf(backend, bias)
    broadcastCall(plan, bias.shape, (o, batch, s, sb, sm, sn) =>
      theAddon().fillBroadcast(heap, outOff + o, batch, plan.m, plan.n, biasOff + s, sb, sm, sn),
    )
  }
  sgemm(heap, plan, ta, tb, offsetOf(backend, a), offsetOf(backend, b), outOff, bias ? 1 : 0)
  if (activation === PRELU) {
    const wOff = offsetOf(backend, prelu!)
    broadcastCall(plan, prelu!.shape, (o, batch, s, sb, sm, sn) =>
      theAddon().activate(heap, outOff + o, batch, plan.m, plan.n, activation, 0, wOff + s, sb, sm, sn),
    )
  } else if (activation !== LINEAR) {
    const alpha = typeof attrs.leakyreluAlpha === 'number' ? attrs.leakyreluAlpha : 0.2
    theAddon().activate(heap, outOff, plan.batch, plan.m, plan.n, activation, alpha, 0, 0, 0, 0)
  }
  return out
}

export const FUSED_MAT_MUL: NativeKernel = {
  name: '_FusedMatMul',
  replacesStock: true,
  kernelFunc: fusedMatMul as NativeKernel['kernelFunc'],
}
