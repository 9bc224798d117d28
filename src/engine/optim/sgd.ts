// SGD with momentum exactly as torch.optim.SGD computes it (dampening 0, not Nesterov), over a
// record of tf.Variables with explicit gradients. Per step, for each parameter p with gradient g:
//   d = g + wd·p                  (L2 weight decay, coupled, when wd ≠ 0)
//   b = d on the first step, else b = μ·b + d
//   p ← p − lr·b                  (μ = 0: plain SGD, no buffer)
import { tf } from '../backend.js'
import type { WritableTensor } from '../safetensors.js'

export interface SgdOptions {
  lr: number
  momentum?: number
  weightDecay?: number
}

export class SGD {
  step = 0
  lr: number
  readonly momentum: number
  readonly weightDecay: number
  private readonly buffers: Record<string, tf.Variable> = {}

  constructor(
    readonly params: Record<string, tf.Variable>,
    options: SgdOptions,
  ) {
    this.lr = options.lr
    this.momentum = options.momentum ?? 0
    this.weightDecay = options.weightDecay ?? 0
  }

  /** One step with these gradients by parameter name (missing ones skipped, as torch's grad=None). */
  applyGradients(grads: Record<string, tf.Tensor>, lr = this.lr): void {
    this.step++
    for (const [name, p] of Object.entries(this.params)) {
      const g = grads[name]
      if (g === undefined) continue
      tf.tidy(() => {
        let d: tf.Tensor = this.weightDecay !== 0 ? tf.add(g, tf.mul(p, this.weightDecay)) : g
        if (this.momentum !== 0) {
          const b = this.buffers[name]
          if (b === undefined) this.buffers[name] = tf.variable(d, false)
          else b.assign(tf.add(tf.mul(b, this.momentum), d))
          d = this.buffers[name]!
        }
        p.assign(tf.sub(p, tf.mul(d, lr)))
      })
    }
  }

  /** State for a checkpoint (as AdamW's): `step` (I32 scalar) and `b.<name>` per momentum buffer made so far. */
  stateTensors(): Record<string, WritableTensor> {
    const out: Record<string, WritableTensor> = { step: { dtype: 'I32', shape: [], data: Int32Array.of(this.step) } }
    for (const [name, b] of Object.entries(this.buffers)) out[`b.${name}`] = { dtype: 'F32', shape: [...b.shape], data: b.dataSync() as Float32Array }
    return out
  }

  /** Restores what stateTensors wrote; a parameter without a saved buffer has had no step yet. */
  loadState(tensors: Record<string, { shape: number[]; data: Float32Array | Int32Array }>): void {
    const step = tensors.step
    if (!step) throw new Error('optimizer state has no "step"')
    this.step = step.data[0]!
    for (const [name, p] of Object.entries(this.params)) {
      const t = tensors[`b.${name}`]
      if (t === undefined) continue
      if (t.data.length !== p.size) throw new Error(`optimizer state "b.${name}" has the wrong size`)
      this.buffers[name]?.dispose()
      const value = tf.tensor(Float32Array.from(t.data), p.shape, 'float32')
      this.buffers[name] = tf.variable(value, false)
      value.dispose()
    }
  }

  dispose(): void {
    tf.dispose(Object.values(this.buffers))
  }
}
