// When the conversion checkpoints and what goes in: atomic checkpoints of the layer, the AdamW
// state and the data and buffer position, so a resume continues the very same stream; the first
// one early, so that a run stopped in its first minutes does not start over. restoreBuffer is the
// resume's half: it rebuilds the buffer a checkpoint describes.
import type { SparseLayer } from '../../engine/layers/sparse-layer.js'
import type { AdamW } from '../../engine/optim/adamw.js'
import { ActivationBuffer } from '../../convert/activation-buffer.js'
import type { ActivationRows, Harvester, SequenceStream } from '../../convert/harvest.js'
import type { ConvertConfig } from '../../shared/convert.js'
import type { JobContext } from '../job.js'
import { CHECKPOINT_VERSION, writeCheckpoint, type CheckpointMeta, type LoadedCheckpoint } from './checkpoint-file.js'
import type { TrainingData } from './data.js'
import { nanError } from './errors.js'
import { paramsFinite } from './step.js'

/**
 * The first checkpoint comes after this many seconds or this fraction of the steps, whichever is
 * first (later ones every checkpointSeconds): a run killed in its first minutes resumes instead of
 * starting over, and the fraction makes it independent of the machine's speed.
 */
const FIRST_CHECKPOINT_SECONDS = 30
const FIRST_CHECKPOINT_FRACTION = 0.02

/** What the loop carries from step to step; a checkpoint keeps it and a resume starts from it. */
export interface TrainState {
  step: number
  tokens: number
  trainSeconds: number
  /** Per unit, the last step it fired at (−1: never): the dead fraction's memory. */
  lastFired: Int32Array
}

/** What a checkpoint is taken of. */
export interface CheckpointSubject {
  ctx: JobContext<ConvertConfig>
  layer: SparseLayer
  opt: AdamW
  data: TrainingData
  state: TrainState
  datasetSha256: string
}

export class Checkpointer {
  /** The step of the last checkpoint written (or resumed from); −1 before the first. */
  lastStep: number
  private lastAt: number
  private readonly firstStep: number

  constructor(
    private readonly of: CheckpointSubject,
    totalSteps: number,
    resumed: boolean,
    /** The clock of the time-based checkpoints, in ms. */
    private readonly clock: () => number,
    private readonly written?: (step: number, path: string) => void,
  ) {
    this.lastStep = resumed ? of.state.step : -1
    this.lastAt = clock()
    this.firstStep = Math.max(1, Math.ceil(totalSteps * FIRST_CHECKPOINT_FRACTION))
  }

  /** Whether a checkpoint is due after `step` (by time, by checkpointSteps, or the early first one). */
  due(step: number): boolean {
    const config = this.of.ctx.config
    const first = this.lastStep < 0
    const interval = first ? Math.min(FIRST_CHECKPOINT_SECONDS, config.checkpointSeconds) : config.checkpointSeconds
    const timeDue = (this.clock() - this.lastAt) / 1000 >= interval
    const stepDue = (config.checkpointSteps !== undefined && step % config.checkpointSteps === 0) || (first && step >= this.firstStep)
    return timeDue || stepDue
  }

  /** Writes a checkpoint of the current step; a non-finite parameter stops the run instead. */
  save(): void {
    const { ctx, layer, opt, data, state } = this.of
    if (!paramsFinite(layer)) throw nanError('a parameter', state.step, this.lastStep, ctx.config.lr, ctx.runId)
    const buffer = data.buffer.state()
    const meta: CheckpointMeta = {
      version: CHECKPOINT_VERSION,
      step: state.step,
      tokens: state.tokens,
      position: data.stream.position,
      datasetSha256: this.of.datasetSha256,
      buffer: { overdue: buffer.overdue, refills: buffer.refills, draws: buffer.draws },
      harvestTokens: data.harvester.tokens,
      harvestSeconds: data.harvester.seconds,
      trainSeconds: state.trainSeconds,
      lr: ctx.config.lr,
      trainOnBos: ctx.config.trainOnBos,
    }
    writeCheckpoint(ctx, state.step, layer, opt, buffer, state.lastFired, meta, this.written)
    this.lastStep = state.step
    this.lastAt = this.clock()
  }
}

/**
 * Rebuilds the buffer of a checkpoint: re-reads the sequence stream up to the saved position
 * (tokenizing only), re-runs the model on just the chunks whose rows the buffer held, in the same
 * chunks as before (so the rows are bit-identical), and puts every row back in its slot.
 */
export async function restoreBuffer(
  buffer: ActivationBuffer,
  saved: LoadedCheckpoint,
  stream: SequenceStream,
  harvester: Harvester,
  harvestBatch: number,
  perSeq: number,
  skipFirst: boolean,
): Promise<void> {
  const chunksNeeded = new Set([...ActivationBuffer.sequencesHeld(saved.buffer)].map((s) => Math.floor(s / harvestBatch)))
  const ids = new Map<number, Int32Array>()
  await stream.seek(saved.meta.position, (index, seq) => {
    if (chunksNeeded.has(Math.floor(index / harvestBatch))) ids.set(index, seq)
  })
  const chunks = new Map<number, ActivationRows>()
  const tokens = harvester.tokens
  const seconds = harvester.seconds
  for (const c of [...chunksNeeded].sort((a, b) => a - b)) {
    const seqs = Array.from({ length: harvestBatch }, (_, i) => ids.get(c * harvestBatch + i)!)
    chunks.set(c, harvester.run(seqs, c * harvestBatch))
  }
  // Re-harvesting is not new data: keep the harvest throughput about fresh activations.
  harvester.tokens = tokens
  harvester.seconds = seconds
  const from = skipFirst ? 1 : 0
  buffer.restore(saved.buffer, (seq, pos) => {
    const c = Math.floor(seq / harvestBatch)
    const rows = chunks.get(c)!
    const r = (seq - c * harvestBatch) * perSeq + (pos - from)
    const d = rows.x.length / rows.rows
    const o = rows.y.length / rows.rows
    return { x: rows.x.subarray(r * d, (r + 1) * d), y: rows.y.subarray(r * o, (r + 1) * o) }
  })
}
