// The conversion's training loop: refill the buffer when half read, else one optimizer step;
// metrics every metricsEvery steps (a runaway NMSE stops the run at once); checkpoints when due;
// a cancel checkpoints the step reached and returns.
import type { Batch } from '../../convert/activation-buffer.js'
import type { SparseLayer } from '../../engine/layers/sparse-layer.js'
import { constantWithWarmup, type AdamW } from '../../engine/optim/adamw.js'
import type { ConvertConfig, ResolvedSizes } from '../../shared/convert.js'
import type { JobContext } from '../job.js'
import type { Checkpointer, TrainState } from './checkpoints.js'
import { refill, type TrainingData } from './data.js'
import { divergedError, nanError, RUNAWAY_NMSE } from './errors.js'
import { MetricWindow, trainStep, type StepStats } from './step.js'

/** Reports progress in tokens, with the rate since this attempt started. */
export type Report = (message: string, metrics?: Record<string, number>) => void

/** Everything a training run is made of, wired (train.ts builds it). */
export interface Training {
  ctx: JobContext<ConvertConfig>
  sizes: ResolvedSizes
  data: TrainingData
  layer: SparseLayer
  opt: AdamW
  state: TrainState
  checkpoints: Checkpointer
  report: Report
  /** Test seam: replaces a batch before its step. */
  transformBatch?: (batch: Batch, step: number) => Batch
}

export function reporter(ctx: JobContext<ConvertConfig>, state: TrainState, totalTokens: number): Report {
  const wallStart = performance.now()
  const tokensAtStart = state.tokens
  return (message, metrics) => {
    const secs = (performance.now() - wallStart) / 1000
    const rate = secs > 0 ? (state.tokens - tokensAtStart) / secs : 0
    ctx.progress({
      done: state.tokens,
      total: totalTokens,
      unit: 'tokens',
      perSecond: rate,
      etaSeconds: rate > 0 ? (totalTokens - state.tokens) / rate : null,
      message,
      ...(metrics ? { metrics } : {}),
    })
  }
}

/** Trains to the last step and returns the last reported metrics, or null when cancelled. */
export async function trainLoop(t: Training): Promise<Record<string, number> | null> {
  const { ctx, sizes, data, state, checkpoints } = t
  const config = ctx.config
  const schedule = constantWithWarmup(config.lr, sizes.warmup)
  const window = new MetricWindow()
  const deadSteps = Math.ceil(config.deadWindow / config.batch)
  let lastMetrics: Record<string, number> = {}
  while (state.step < sizes.steps) {
    if (ctx.cancelled()) {
      if (checkpoints.lastStep !== state.step) checkpoints.save()
      ctx.log('info', `Cancelled at step ${state.step}; resume continues from here.`)
      return null
    }
    if (data.buffer.needsRefill(config.batch)) {
      await refill(data, t.report)
      continue
    }
    const lr = schedule(state.step)
    window.add(optimizerStep(t, lr))
    if (state.step % config.metricsEvery === 0 || state.step === sizes.steps) {
      lastMetrics = windowMetrics(window, state, deadSteps, data.harvester.tokensPerSecond, lr)
      window.reset()
      ctx.store.addMetrics(ctx.runId, state.step, lastMetrics)
      t.report(`step ${state.step}/${sizes.steps}: loss ${lastMetrics.loss!.toPrecision(4)}, NMSE ${lastMetrics.nmse!.toFixed(4)}`, lastMetrics)
      if (state.step > sizes.warmup && lastMetrics.nmse! > RUNAWAY_NMSE) throw divergedError(lastMetrics.nmse!, state.step, config.lr, true)
    }
    if (checkpoints.due(state.step) && state.step < sizes.steps) checkpoints.save()
  }
  return lastMetrics
}

/** One optimizer step on the next batch; a non-finite loss stops the run (its update was skipped). */
function optimizerStep(t: Training, lr: number): StepStats {
  const { ctx, state } = t
  const config = ctx.config
  const t0 = performance.now()
  let batch = t.data.buffer.take(config.batch)
  if (t.transformBatch) batch = t.transformBatch(batch, state.step)
  const stats = trainStep(t.layer, t.opt, batch, config.batch, t.sizes.d, lr)
  state.step++
  if (!Number.isFinite(stats.loss)) throw nanError('the loss', state.step, t.checkpoints.lastStep, config.lr, ctx.runId, stats.loss)
  state.tokens += config.batch
  for (const u of stats.fired) state.lastFired[u] = state.step
  state.trainSeconds += (performance.now() - t0) / 1000
  return stats
}

/** The metrics of the window just closed; dead: units that have not fired within deadSteps. */
function windowMetrics(window: MetricWindow, state: TrainState, deadSteps: number, harvestTokensPerSecond: number, lr: number): Record<string, number> {
  let dead = 0
  for (const s of state.lastFired) if (s < 0 || state.step - s >= deadSteps) dead++
  return {
    loss: window.loss,
    nmse: window.nmse,
    l0: window.l0,
    dead_fraction: dead / state.lastFired.length,
    tokens_per_s: state.trainSeconds > 0 ? state.tokens / state.trainSeconds : 0,
    harvest_tokens_per_s: harvestTokensPerSecond,
    lr,
  }
}
