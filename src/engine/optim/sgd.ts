// SGD with momentum exactly as torch.optim.SGD computes it (dampening 0, not Nesterov), over a
// record of tf.Variables with explicit gradients. Per step, for each parameter p with gradient g:
//   d = g + wd·p                  (L2 weight decay, coupled, when wd ≠ 0)
//   b = d on the first step, else b = μ·b + d
//   p ← p − lr·b                  (μ = 0: plain SGD, no buffer)
import { tf } from '../backend.js'

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

  dispose(): void {
    tf.dispose(Object.values(this.buffers))
  }
}
