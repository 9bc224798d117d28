// The pre-training step and loop, independent of the job system (the `pretrain` job, the demo
// model script and the tests all drive it): AdamW with betas (0.9, 0.95) and weight decay on
// matrices only, linear warm-up then cosine decay to a floor, global-norm clipping, held-out
// loss on a fixed set of held-out sequences, and a checkpoint holding everything a resumed run
// needs to continue bit for bit: parameters, both optimizers' moments and step, and the data
// position (the batch order is a pure function of seed and epoch, so no other RNG state exists).
import { tf } from '../backend.js'
import { AdamW, clipGradNorm, warmupCosine, type LrSchedule } from '../optim/adamw.js'
import type { SafetensorsFile, WritableTensor } from '../safetensors.js'
import { BatchSampler, toBatch, type SamplerPosition } from './batches.js'
import type { TrainableGpt2 } from './gpt2.js'
import { encodeSafetensors } from './state-file.js'

export interface TrainSettings {
  /** Sequences per step. */
  batch: number
  /** Peak learning rate. */
  lr: number
  /** The cosine ends at lr · minLrRatio (0.1: "decay to 10%"). */
  minLrRatio: number
  warmupSteps: number
  totalSteps: number
  weightDecay: number
  betas: [number, number]
  /** Global gradient-norm clip. */
  gradClip: number
  /** Batch order (and, in the job, the initialisation). */
  seed: number
}

export interface StepResult {
  /** Steps done after this one (1 for the first). */
  step: number
  loss: number
  lr: number
  /** Global gradient norm before clipping. */
  gradNorm: number
}

/** Training stopped because the loss (or gradient norm) stopped being a finite number. */
export class NonFiniteLossError extends Error {}

export class Pretrainer {
  step = 0
  readonly schedule: LrSchedule
  private readonly sampler: BatchSampler
  /** Two optimizers in lock-step: matrices with weight decay, vectors (biases, gains) without. */
  private readonly decayed: AdamW
  private readonly plain: AdamW
  /** tf variable name → parameter name (variableGrads keys gradients by the former). */
  private readonly byVarName = new Map<string, string>()

  constructor(
    readonly model: TrainableGpt2,
    train: readonly Int32Array[],
    private readonly heldout: readonly Int32Array[],
    readonly settings: TrainSettings,
  ) {
    const { lr, minLrRatio, warmupSteps, totalSteps } = settings
    this.schedule = warmupCosine({ lr, warmup: warmupSteps, total: totalSteps, minLr: lr * minLrRatio })
    this.sampler = new BatchSampler(train, settings.batch, settings.seed)
    const withDecay: Record<string, tf.Variable> = {}
    const without: Record<string, tf.Variable> = {}
    for (const [name, v] of Object.entries(model.params)) {
      ;(model.decayed(name) ? withDecay : without)[name] = v
      this.byVarName.set(v.name, name)
    }
    const common = { lr, betas: settings.betas, eps: 1e-8 }
    this.decayed = new AdamW(withDecay, { ...common, weightDecay: settings.weightDecay })
    this.plain = new AdamW(without, { ...common, weightDecay: 0 })
  }

  get position(): SamplerPosition {
    return this.sampler.position
  }

  /** One optimizer step on the next batch. Throws NonFiniteLossError without touching the weights. */
  trainStep(): StepResult {
    const lr = this.schedule(this.step)
    const b = this.sampler.next()
    const { value, grads } = tf.variableGrads(() => this.model.loss(b.ids, b.targets, b.batch, b.time), Object.values(this.model.params))
    const loss = value.dataSync()[0]!
    value.dispose()
    const named: Record<string, tf.Tensor> = {}
    for (const [varName, g] of Object.entries(grads)) named[this.byVarName.get(varName)!] = g
    if (!Number.isFinite(loss)) {
      tf.dispose(Object.values(named))
      throw new NonFiniteLossError(`loss became ${loss} at step ${this.step + 1}`)
    }
    const { grads: clipped, totalNorm } = clipGradNorm(named, this.settings.gradClip)
    if (!Number.isFinite(totalNorm)) {
      tf.dispose(Object.values(clipped))
      throw new NonFiniteLossError(`gradient norm became ${totalNorm} at step ${this.step + 1}`)
    }
    this.decayed.applyGradients(clipped, lr)
    this.plain.applyGradients(clipped, lr)
    tf.dispose(Object.values(clipped))
    this.step++
    return { step: this.step, loss, lr, gradNorm: totalNorm }
  }

  /** Mean next-token loss over the held-out sequences (or others; every position weighted equally). */
  heldoutLoss(sequences: readonly Int32Array[] = this.heldout): number {
    if (sequences.length === 0) return NaN
    let sum = 0
    let n = 0
    for (let i = 0; i < sequences.length; i += this.settings.batch) {
      const b = toBatch(sequences.slice(i, i + this.settings.batch))
      const loss = tf.tidy(() => this.model.loss(b.ids, b.targets, b.batch, b.time))
      sum += loss.dataSync()[0]! * b.batch
      n += b.batch
      loss.dispose()
    }
    return sum / n
  }

  /** Everything a resumed run needs, as safetensors bytes. */
  checkpointBytes(): Uint8Array {
    const tensors: Record<string, WritableTensor> = {}
    for (const [name, v] of Object.entries(this.model.params)) {
      tensors[`model.${name}`] = { dtype: 'F32', shape: [...v.shape], data: v.dataSync() as Float32Array }
    }
    for (const [prefix, opt] of [['opt_decay', this.decayed], ['opt_plain', this.plain]] as const) {
      for (const [name, t] of Object.entries(opt.stateTensors())) tensors[`${prefix}.${name}`] = t
    }
    const metadata = { step: String(this.step), position: JSON.stringify(this.sampler.position), seed: String(this.settings.seed) }
    return encodeSafetensors(tensors, metadata)
  }

  /** Restores a checkpointBytes() file into this (freshly constructed, same-config) trainer. */
  restore(file: SafetensorsFile): void {
    const read = (prefix: string): Record<string, { shape: number[]; data: Float32Array | Int32Array }> => {
      const out: Record<string, { shape: number[]; data: Float32Array | Int32Array }> = {}
      for (const [name, info] of file.tensors) {
        if (!name.startsWith(prefix)) continue
        const data = info.dtype === 'I32' ? file.readInt32(name) : file.readFloat32(name)
        out[name.slice(prefix.length)] = { shape: [...info.shape], data }
      }
      return out
    }
    this.model.load(read('model.') as Record<string, { shape: number[]; data: Float32Array }>)
    this.decayed.loadState(read('opt_decay.'))
    this.plain.loadState(read('opt_plain.'))
    const seed = Number(file.metadata.seed)
    if (seed !== this.settings.seed) throw new Error(`the checkpoint was made with seed ${seed}, this run has seed ${this.settings.seed}`)
    this.step = Number(file.metadata.step)
    this.sampler.seek(JSON.parse(file.metadata.position ?? '{}') as SamplerPosition)
  }

  dispose(): void {
    this.decayed.dispose()
    this.plain.dispose()
  }
}

export interface LoopHooks {
  cancelled(): boolean
  /** After every step, with throughput. */
  onStep(r: StepResult & { tokens: number; tokensPerSecond: number }): void
  /** Every evalEvery steps and after the last. */
  onEval(step: number, heldoutLoss: number): void
  evalEvery: number
  /** Called every checkpointEvery steps and after the last. */
  onCheckpoint(step: number, bytes: Uint8Array): void
  checkpointEvery: number
}

/**
 * Runs steps until totalSteps (or cancellation), yielding to the event loop between steps so a
 * worker still hears its messages. Returns whether it finished.
 */
export async function trainLoop(t: Pretrainer, hooks: LoopHooks): Promise<'finished' | 'cancelled'> {
  const tokensPerStep = t.settings.batch * t.model.config.nPositions
  let windowStart = performance.now()
  let windowSteps = 0
  while (t.step < t.settings.totalSteps) {
    if (hooks.cancelled()) return 'cancelled'
    const r = t.trainStep()
    windowSteps++
    const seconds = (performance.now() - windowStart) / 1000
    hooks.onStep({ ...r, tokens: r.step * tokensPerStep, tokensPerSecond: (windowSteps * tokensPerStep) / seconds })
    if (seconds > 30) {
      // Throughput over the last ~30 s, not since the start: it follows the machine's load.
      windowStart = performance.now()
      windowSteps = 0
    }
    const last = r.step === t.settings.totalSteps
    if (last || r.step % hooks.evalEvery === 0) hooks.onEval(r.step, t.heldoutLoss())
    if (last || r.step % hooks.checkpointEvery === 0) hooks.onCheckpoint(r.step, t.checkpointBytes())
    await new Promise((resolve) => setImmediate(resolve))
  }
  return 'finished'
}
