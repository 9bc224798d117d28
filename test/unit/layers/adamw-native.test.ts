// The fused native AdamW step (native/mxd_native.c adamw, registered by src/engine/native.ts)
// against an independent float64 computation of torch.optim.AdamW's formula written here, and
// against the tf-ops path of src/engine/optim/adamw.ts (the same optimizer with the native kernel
// unregistered), over several steps, with and without weight decay, on shapes of odd sizes.
// The two float32 paths run the same float32 operations in the same order, so they must agree
// bit for bit; both must stay within float32 rounding of the float64 reference.
//
// Skipped, with the reason, where the addon is not built or MXD_NATIVE=0 (then only the tf-ops
// path exists and test/unit/layers/adamw.test.ts covers it against torch).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { nativeAddon, nativeKernelsReport, setNativeKernels } from '../../../src/engine/native.js'
import { AdamW } from '../../../src/engine/optim/adamw.js'
import { createRng as rng } from '../../../src/engine/generate.js'

await initBackend()
const report = nativeKernelsReport()
const active = tf.getBackend() === 'wasm' && (report?.kernels.includes('MxdAdamW') ?? false)
if (!active) console.warn(`native AdamW tests skipped: ${report?.reason ?? `backend is ${tf.getBackend()}`}`)

// Two threads, so the largest shape (over 2·2^16 elements) is split across threads in C.
let threadsBefore = 1
beforeAll(() => {
  if (!active) return
  threadsBefore = nativeAddon()!.info().threads
  nativeAddon()!.setThreads(2)
})
afterAll(() => {
  if (!active) return
  setNativeKernels(true)
  nativeAddon()!.setThreads(threadsBefore)
})

const SHAPES = [[1], [7], [3, 5], [33, 17], [1023], [2, 3, 129], [3, 100_003]]
const STEPS = 6
const LRS = [1e-2, 3e-3, 1e-2, 5e-3, 1e-3, 2e-3] // a changing learning rate, as a schedule gives

interface Case {
  p0: Float32Array[]
  grads: Float32Array[][] // [step][param]
}

function makeCase(seed: number): Case {
  const next = rng(seed)
  const rand = (n: number, scale: number): Float32Array => Float32Array.from({ length: n }, () => (next() * 2 - 1) * scale)
  const sizes = SHAPES.map((s) => s.reduce((a, b) => a * b, 1))
  // Gradients of mixed magnitudes (some tiny), so eps and the bias corrections matter.
  return { p0: sizes.map((n) => rand(n, 1)), grads: Array.from({ length: STEPS }, (_, t) => sizes.map((n) => rand(n, t % 2 ? 1e-3 : 1))) }
}

/** torch.optim.AdamW in float64, from the formula (not from either implementation under test). */
function reference(c: Case, betas: [number, number], eps: number, wd: number): Float64Array[] {
  const [b1, b2] = betas
  return c.p0.map((p0, i) => {
    const p = Float64Array.from(p0)
    const m = new Float64Array(p.length)
    const v = new Float64Array(p.length)
    for (let t = 1; t <= STEPS; t++) {
      const lr = LRS[t - 1]!
      const g = c.grads[t - 1]![i]!
      for (let j = 0; j < p.length; j++) {
        p[j] = p[j]! * (1 - lr * wd)
        m[j] = b1 * m[j]! + (1 - b1) * g[j]!
        v[j] = b2 * v[j]! + (1 - b2) * g[j]! * g[j]!
        const mHat = m[j]! / (1 - b1 ** t)
        const vHat = v[j]! / (1 - b2 ** t)
        p[j] = p[j]! - (lr * mHat) / (Math.sqrt(vHat) + eps)
      }
    }
    return p
  })
}

/** Runs the optimizer under test; returns the parameters after STEPS steps. */
function run(c: Case, betas: [number, number], eps: number, wd: number): Float32Array[] {
  const params: Record<string, tf.Variable> = {}
  SHAPES.forEach((shape, i) => {
    const init = tf.tensor(c.p0[i]!, shape, 'float32')
    params[`p${i}`] = tf.variable(init)
    init.dispose()
  })
  const opt = new AdamW(params, { lr: 1, betas, eps, weightDecay: wd })
  for (let t = 0; t < STEPS; t++) {
    const grads: Record<string, tf.Tensor> = {}
    SHAPES.forEach((shape, i) => (grads[`p${i}`] = tf.tensor(c.grads[t]![i]!, shape, 'float32')))
    opt.applyGradients(grads, LRS[t])
    tf.dispose(Object.values(grads))
  }
  const out = SHAPES.map((_, i) => params[`p${i}`]!.dataSync() as Float32Array)
  opt.dispose()
  tf.dispose(Object.values(params))
  return out
}

describe.skipIf(!active)('native AdamW', () => {
  const configs: { name: string; betas: [number, number]; eps: number; wd: number }[] = [
    { name: 'weight decay 0.1, betas (0.9, 0.95)', betas: [0.9, 0.95], eps: 1e-8, wd: 0.1 },
    { name: 'no weight decay, torch defaults', betas: [0.9, 0.999], eps: 1e-8, wd: 0 },
    { name: 'weight decay 0.01, eps 1e-6', betas: [0.8, 0.99], eps: 1e-6, wd: 0.01 },
  ]
  it.each(configs)('$name: equals the tf-ops path bit for bit and float64 to float32 rounding', ({ betas, eps, wd }) => {
    const c = makeCase(1234 + Math.round(wd * 1000))
    setNativeKernels(false)
    const before = tf.memory().numTensors
    const viaOps = run(c, betas, eps, wd)
    expect(tf.memory().numTensors).toBe(before) // neither path leaks a tensor
    setNativeKernels(true)
    const viaNative = run(c, betas, eps, wd)
    expect(tf.memory().numTensors).toBe(before)
    const want = reference(c, betas, eps, wd)
    for (let i = 0; i < SHAPES.length; i++) {
      expect(viaNative[i]!.length).toBe(want[i]!.length)
      expect(Array.from(viaNative[i]!)).toEqual(Array.from(viaOps[i]!))
      let worst = 0
      for (let j = 0; j < want[i]!.length; j++) {
        // Parameters are O(1) and each step moves them by at most about lr, so a few float32
        // ulps of 1 per step bound the accumulated rounding.
        worst = Math.max(worst, Math.abs(viaNative[i]![j]! - want[i]![j]!))
      }
      expect(worst, `shape [${SHAPES[i]}]`).toBeLessThan(2e-6)
    }
  })

  it('runs as one native kernel and leaves the tensor a variable was made from unchanged', async () => {
    setNativeKernels(true)
    const init = tf.tensor([1, -2, 3], [3], 'float32')
    const p = tf.variable(init)
    const opt = new AdamW({ p }, { lr: 0.1, weightDecay: 0.5 })
    const g = tf.tensor([0.5, 0.5, -0.5], [3], 'float32')
    const profile = await tf.profile(() => opt.applyGradients({ p: g }))
    expect(profile.kernelNames).toEqual(['MxdAdamW'])
    // No in-place write through the buffer the variable shared with `init`.
    expect(Array.from(init.dataSync())).toEqual([1, -2, 3])
    expect(Array.from(p.dataSync())).not.toEqual([1, -2, 3])
    opt.dispose()
    tf.dispose([init, p, g])
  })

  it('the kernel refuses operands of different shapes', () => {
    const a = tf.zeros([3])
    const b = tf.zeros([4])
    const attrs = { decay: 1, b1: 0.9, b2: 0.999, sqrtBias2: 1, eps: 1e-8, stepSize: 1 }
    expect(() => tf.engine().runKernel('MxdAdamW', { p: a, m: a, v: a, g: b }, attrs)).toThrow(/one shape/)
    tf.dispose([a, b])
  })
})
