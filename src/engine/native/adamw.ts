// One whole AdamW step per parameter (one pass instead of about eleven wasm elementwise kernels),
// bit-identical to the optimizer's tf-ops path (src/engine/optim/adamw.ts runs it through
// tf.engine().runKernel while it is registered, and its tf-ops path otherwise).
import * as tf from '@tensorflow/tfjs-core'
import type { TensorInfo } from '@tensorflow/tfjs-core'
import { heapOf, offsetOf, theAddon, type KernelArgs, type NativeKernel } from './addon.js'

/** Our own kernel, with no stock counterpart. */
export const ADAMW_KERNEL = 'MxdAdamW'

/**
 * One AdamW step: inputs p, m, v, g (float32, one shape); attrs decay (1 − lr·wd, or 1), b1, b2,
 * sqrtBias2, eps, stepSize; outputs new p, m, v. The outputs are fresh tensors rather than writes
 * into p, m, v in place: a tf.Variable shares its dataId with the tensor it was made from or last
 * assigned (tfjs counts references to it, it does not copy), so an in-place write could change a
 * tensor the caller still holds. Fresh outputs plus assign() cost two allocations and keep tfjs's
 * ownership rules intact; the work is still one pass instead of about eleven.
 */
function adamW(args: KernelArgs<{ p: TensorInfo; m: TensorInfo; v: TensorInfo; g: TensorInfo }>): TensorInfo[] {
  const { inputs, backend, attrs } = args
  const { p, m, v, g } = inputs
  for (const t of [m, v, g]) {
    if (t.dtype !== 'float32' || p.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, p.shape))
      throw new Error(`${ADAMW_KERNEL} needs float32 p, m, v, g of one shape, got [${p.shape}] and [${t.shape}].`)
  }
  const outs = [backend.makeOutput(p.shape, 'float32'), backend.makeOutput(p.shape, 'float32'), backend.makeOutput(p.shape, 'float32')]
  const size = tf.util.sizeFromShape(p.shape)
  if (size === 0) return outs
  const heap = heapOf(backend)
  const [pOut, mOut, vOut] = outs.map((t) => offsetOf(backend, t)) as [number, number, number]
  const num = (key: string): number => {
    const x = attrs[key]
    if (typeof x !== 'number') throw new Error(`${ADAMW_KERNEL} needs a number attribute ${key}.`)
    return x
  }
  theAddon().adamw(
    heap,
    size,
    offsetOf(backend, p),
    offsetOf(backend, m),
    offsetOf(backend, v),
    offsetOf(backend, g),
    pOut,
    mOut,
    vOut,
    num('decay'),
    num('b1'),
    num('b2'),
    num('sqrtBias2'),
    num('eps'),
    num('stepSize'),
  )
  return outs
}

export const ADAMW: NativeKernel = { name: ADAMW_KERNEL, replacesStock: false, kernelFunc: adamW as NativeKernel['kernelFunc'] }
