// AdamW (Loshchilov & Hutter) exactly as torch.optim.AdamW computes it, over a record of
// tf.Variables with explicit gradients; learning-rate schedules; global-norm gradient clipping.
// Per step t (1-based), for each parameter p with gradient g:
//   p ← p·(1 − lr·wd)                       decoupled weight decay (skipped when wd = 0)
//   m ← β1·m + (1 − β1)·g ;  v ← β2·v + (1 − β2)·g²
//   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
//
// Where the native kernels are active (src/engine/native.ts registers ADAMW_KERNEL on the wasm
// backend), each parameter's step is one native pass with the same float32 operations in the
// same order, so it gives the same numbers as the tf-ops path below (test/unit/layers/
// adamw-native.test.ts checks both against a float64 computation and each other).
import { tf } from '../backend.js'
import { ADAMW_KERNEL } from '../native.js'
import type { WritableTensor } from '../safetensors.js'

export interface AdamWOptions {
  lr: number
  betas?: [number, number]
  eps?: number
  weightDecay?: number
}

export class AdamW {
  /** Steps taken so far (torch's state['step']). */
  step = 0
  readonly betas: [number, number]
  readonly eps: number
  readonly weightDecay: number
  lr: number
  private readonly m: Record<string, tf.Variable> = {}
  private readonly v: Record<string, tf.Variable> = {}

  constructor(
    readonly params: Record<string, tf.Variable>,
    options: AdamWOptions,
  ) {
    this.lr = options.lr
    this.betas = options.betas ?? [0.9, 0.999]
    this.eps = options.eps ?? 1e-8
    this.weightDecay = options.weightDecay ?? 0.01 // torch's default
    for (const [name, p] of Object.entries(params)) {
      // A variable holds its own reference to the data, so the zeros tensor can go (it leaked
      // before: two tensors per parameter per optimizer).
      for (const state of [this.m, this.v]) {
        const zeros = tf.zerosLike(p)
        state[name] = tf.variable(zeros, false)
        zeros.dispose()
      }
    }
  }

  /** One step with these gradients (by parameter name; missing ones are skipped, as torch skips grad=None). */
  applyGradients(grads: Record<string, tf.Tensor>, lr = this.lr): void {
    this.step++
    const [b1, b2] = this.betas
    const stepSize = lr / (1 - b1 ** this.step)
    const sqrtBias2 = Math.sqrt(1 - b2 ** this.step)
    const fused = tf.getBackend() === 'wasm' && tf.getKernel(ADAMW_KERNEL, 'wasm') !== undefined
    for (const [name, p] of Object.entries(this.params)) {
      const g = grads[name]
      if (g === undefined) continue
      const m = this.m[name]!
      const v = this.v[name]!
      if (fused && g.dtype === 'float32' && p.dtype === 'float32' && tf.util.arraysEqual(g.shape, p.shape)) {
        // p·1 = p exactly, so decay 1 is the same as skipping the decay step.
        const decay = this.weightDecay !== 0 ? 1 - lr * this.weightDecay : 1
        const attrs = { decay, b1, b2, sqrtBias2, eps: this.eps, stepSize }
        const [p1, m1, v1] = tf.engine().runKernel(ADAMW_KERNEL, { p, m, v, g }, attrs) as tf.Tensor[]
        p.assign(p1!)
        m.assign(m1!)
        v.assign(v1!)
        tf.dispose([p1!, m1!, v1!])
        continue
      }
      tf.tidy(() => {
        if (this.weightDecay !== 0) p.assign(tf.mul(p, 1 - lr * this.weightDecay))
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)))
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)))
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtBias2), this.eps)
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), stepSize)))
      })
    }
  }

  /** State for a checkpoint: `step` (I32 scalar), `m.<name>` and `v.<name>` per parameter. */
  stateTensors(): Record<string, WritableTensor> {
    const out: Record<string, WritableTensor> = { step: { dtype: 'I32', shape: [], data: Int32Array.of(this.step) } }
    for (const name of Object.keys(this.params)) {
      for (const [kind, state] of [['m', this.m], ['v', this.v]] as const) {
        const t = state[name]!
        out[`${kind}.${name}`] = { dtype: 'F32', shape: [...t.shape], data: t.dataSync() as Float32Array }
      }
    }
    return out
  }

  /** Restores what stateTensors wrote (shapes must match the parameters). */
  loadState(tensors: Record<string, { shape: number[]; data: Float32Array | Int32Array }>): void {
    const step = tensors.step
    if (!step) throw new Error('optimizer state has no "step"')
    this.step = step.data[0]!
    for (const [name, p] of Object.entries(this.params)) {
      for (const [kind, state] of [['m', this.m], ['v', this.v]] as const) {
        const t = tensors[`${kind}.${name}`]
        if (!t || t.data.length !== p.size) throw new Error(`optimizer state "${kind}.${name}" is missing or has the wrong size`)
        tf.tidy(() => state[name]!.assign(tf.tensor(Float32Array.from(t.data), p.shape, 'float32')))
      }
    }
  }

  dispose(): void {
    for (const t of [...Object.values(this.m), ...Object.values(this.v)]) t.dispose()
  }
}

/**
 * torch.nn.utils.clip_grad_norm_: total = ‖(‖g_1‖, …, ‖g_n‖)‖₂, every gradient scaled by
 * min(1, maxNorm / (total + 1e-6)). Returns new gradients (the inputs are disposed) and the
 * pre-clipping norm.
 */
export function clipGradNorm(grads: Record<string, tf.Tensor>, maxNorm: number): { grads: Record<string, tf.Tensor>; totalNorm: number } {
  // Σ g² per tensor rather than tf.norm, which squares through pow(|g|, 2): wasm's Pow calls libm's
  // pow per element and was 12% of a GPT-2 pre-training step (bench/README.md, 2026-12-06).
  const norm = tf.tidy(() => tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))))
  const totalNorm = norm.dataSync()[0]!
  norm.dispose()
  const coef = Math.min(1, maxNorm / (totalNorm + 1e-6))
  const out: Record<string, tf.Tensor> = {}
  for (const [name, g] of Object.entries(grads)) {
    out[name] = tf.mul(g, coef)
    g.dispose()
  }
  return { grads: out, totalNorm }
}

/** A learning rate for each optimizer step index (0 for the first step). */
export type LrSchedule = (step: number) => number

/** Constant after a linear warm-up: lr·min(1, (step + 1)/warmup) (SAELens's "constantwithwarmup"). */
export function constantWithWarmup(lr: number, warmup: number): LrSchedule {
  return (step) => (warmup > 0 ? lr * Math.min(1, (step + 1) / warmup) : lr)
}

/**
 * Linear warm-up then cosine decay to a floor (nanoGPT's get_lr): lr·(step+1)/(warmup+1) while
 * step < warmup; then minLr + ½(1 + cos(π·r))(lr − minLr), r = (step − warmup)/(total − warmup)
 * capped at 1, so it stays at minLr after `total` steps.
 */
export function warmupCosine(options: { lr: number; warmup: number; total: number; minLr: number }): LrSchedule {
  const { lr, warmup, total, minLr } = options
  return (step) => {
    if (step < warmup) return (lr * (step + 1)) / (warmup + 1)
    const r = Math.min(1, (step - warmup) / Math.max(1, total - warmup))
    return minLr + 0.5 * (1 + Math.cos(Math.PI * r)) * (lr - minLr)
  }
}
