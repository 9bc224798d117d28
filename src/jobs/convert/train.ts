// The "convert" job: trains a sparse layer (MxD, TopK transcoder or skip transcoder) to reproduce
// one dense MLP of a model (docs/science/mxd.md#training-objective). Per step:
//   (x, y*) ← a batch from the shuffled activation buffer (refilled by harvesting when half read)
//   loss    = mean_b,o (ŷ − y*)² / ‖y*_b‖₂            the paper's loss (mxdLoss)
//   grads   → remove each unit-norm row's radial part  (projectGradients)
//   AdamW (weight decay 0, constant lr after a linear warm-up), then renormalise the rows (afterStep)
// This file checks the config, wires the pieces and resumes; the data path is data.ts, the step
// step.ts, the loop loop.ts, checkpoints checkpoints.ts and checkpoint-file.ts, the end (the
// layer in the export format) finish.ts, and the failure messages errors.ts.
import { existsSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import type { Batch } from '../../convert/activation-buffer.js'
import type { ActivationRows } from '../../convert/harvest.js'
import { LAYER_WEIGHTS_FILE } from '../../convert/layer-file.js'
import { openModelFolder, type ModelInfo } from '../../engine/model-folder.js'
import { loadLanguageModel } from '../../engine/models/load.js'
import { AdamW } from '../../engine/optim/adamw.js'
import { TextTokenizer } from '../../engine/tokenizer.js'
import { createSparseLayer, sparseLayerFromTensors } from '../../engine/layers/kinds.js'
import type { Dataset } from '../../shared/api.js'
import { ConvertConfig, resolveSizes, rowsPerSequence, type ResolvedSizes } from '../../shared/convert.js'
import { JobError } from '../../shared/errors.js'
import { layerKind } from '../../shared/layer-kinds/index.js'
import { resolveDataset } from '../dataset.js'
import { defineJob, type JobContext } from '../job.js'
import { readCheckpoint, type LoadedCheckpoint } from './checkpoint-file.js'
import { Checkpointer, restoreBuffer, type TrainState } from './checkpoints.js'
import { openTrainingData, type TrainingData } from './data.js'
import { finishedResult, finishTraining, type TrainResult } from './finish.js'
import { reporter, trainLoop } from './loop.js'

export type { TrainResult } from './finish.js'

/** Test seams, not reachable from a run's config. */
export interface TrainHooks {
  /** Replaces a batch before the step (tests poison one to check the NaN stop). */
  transformBatch?: (batch: Batch, step: number) => Batch
  /** The clock of the time-based checkpoints, in ms (default performance.now). */
  now?: () => number
  /** Called once a checkpoint file is written, fsynced and recorded: the most files on disk at once. */
  afterCheckpoint?: (step: number, path: string) => void
  /** Sees every harvested chunk (new or re-harvested for a resume) before it enters the buffer. */
  onHarvest?: (rows: ActivationRows) => void
}

export const convertJob = defineJob('convert', ConvertConfig, async (ctx) => {
  await trainConversion(ctx)
})

/**
 * Trains (or resumes) the run's layer; returns null when cancelled (after a checkpoint).
 * Throws JobError for what the user can fix (bad layer index, NaN loss, …).
 */
export async function trainConversion(ctx: JobContext<ConvertConfig>, hooks: TrainHooks = {}): Promise<TrainResult | null> {
  const config = ctx.config
  const modelDir = resolve(config.model)
  const layerDir = join(ctx.store.runDir(ctx.runId), 'layer')
  if (ctx.resumeFrom && basename(ctx.resumeFrom.path) === LAYER_WEIGHTS_FILE && existsSync(ctx.resumeFrom.path)) {
    ctx.log('info', 'Training had finished; the trained layer is kept.')
    return finishedResult(layerDir, ctx.resumeFrom.step)
  }
  const { info, sizes, dataset, tokenizer } = await prepare(ctx, modelDir)
  const model = await loadLanguageModel(modelDir)
  const disposables: { dispose(): void }[] = [model]
  try {
    const bos = tokenizer ? tokenizer.bosId : model.dims.bosId
    // Skip a leading BOS only when asked to: by default the layer learns the attention-sink
    // position too, since evaluation and generation splice it there (ConvertConfig.trainOnBos).
    const skipFirst = bos !== null && !config.trainOnBos
    ctx.log(
      'info',
      `Converting ${info.name} block ${config.layer} (${config.kind}, ${sizes.width} ${layerKind(config.kind).unit.many}, K = ${config.k}) on dataset ${dataset.name} (#${dataset.id}).`,
    )
    const data = openTrainingData(ctx, sizes, { model, dataset, tokenizer, bos, skipFirst, onHarvest: hooks.onHarvest })

    const saved = ctx.resumeFrom ? readCheckpoint(ctx.resumeFrom.path) : undefined
    // The kind's implementation comes from the layer-kind registry (src/engine/layers/kinds.ts).
    const layer = saved
      ? sparseLayerFromTensors(config.kind, sizes.size, saved.layer)
      : createSparseLayer(config.kind, sizes.size, config.seed)
    disposables.push(layer)
    const opt = new AdamW(layer.params, { lr: config.lr, weightDecay: 0 })
    disposables.push(opt)
    const totalTokens = sizes.steps * config.batch
    const state: TrainState = { step: 0, tokens: 0, trainSeconds: 0, lastFired: new Int32Array(layer.width).fill(-1) }
    if (saved) await resume(ctx, saved, { opt, data, state, dataset, bos, totalTokens })

    const subject = { ctx, layer, opt, data, state, datasetSha256: dataset.sha256 }
    const checkpoints = new Checkpointer(
      subject,
      sizes.steps,
      saved !== undefined,
      hooks.now ?? (() => performance.now()),
      hooks.afterCheckpoint,
    )
    const training = {
      ctx,
      sizes,
      data,
      layer,
      opt,
      state,
      checkpoints,
      report: reporter(ctx, state, totalTokens),
      transformBatch: hooks.transformBatch,
    }
    const lastMetrics = await trainLoop(training)
    if (lastMetrics === null) return null
    return finishTraining(training, { modelDir, modelName: info.name, dataset, layerDir }, lastMetrics)
  } finally {
    for (const d of disposables.reverse()) d.dispose()
  }
}

interface Prepared {
  info: ModelInfo
  sizes: ResolvedSizes
  dataset: Dataset
  tokenizer: TextTokenizer | null
}

/** The model's shape, the run's resolved sizes and dataset, checked before the model is loaded. */
async function prepare(ctx: JobContext<ConvertConfig>, modelDir: string): Promise<Prepared> {
  const config = ctx.config
  const folder = openModelFolder(modelDir)
  const info = folder.info
  folder.close()
  const sizes = resolveSizes(config, info)
  checkConfig(config, info.layers, info.contextLength, sizes)
  const dataset = await resolveDataset(ctx.store, config.data, config.textField)
  const tokenizer = dataset.kind === 'text' ? TextTokenizer.fromFolder(modelDir) : null
  if (dataset.kind === 'text' && !tokenizer) {
    throw new JobError(
      `${modelDir} has no tokenizer.json, so the text dataset ${dataset.path} cannot be tokenized: use a pre-tokenized dataset or add the tokenizer.`,
    )
  }
  return { info, sizes, dataset, tokenizer }
}

function checkConfig(config: ConvertConfig, layers: number, contextLength: number, sizes: ResolvedSizes): void {
  if (config.layer >= layers) throw new JobError(`Layer ${config.layer} does not exist: the model has layers 0…${layers - 1}.`)
  if (config.ctx > contextLength) throw new JobError(`ctx ${config.ctx} exceeds the model's context of ${contextLength} tokens.`)
  if (config.k > sizes.width) throw new JobError(`k = ${config.k} is larger than the ${sizes.width} units it selects among.`)
}

interface ResumeTarget {
  opt: AdamW
  data: TrainingData
  state: TrainState
  dataset: Dataset
  bos: number | null
  totalTokens: number
}

/** Puts the checkpoint's optimizer, counters and buffer back, refusing a stream that cannot continue. */
async function resume(ctx: JobContext<ConvertConfig>, saved: LoadedCheckpoint, to: ResumeTarget): Promise<void> {
  const config = ctx.config
  const { data, state } = to
  if (saved.meta.datasetSha256 !== to.dataset.sha256) {
    throw new JobError(`The dataset ${to.dataset.path} changed since this run started, so its stream cannot be continued: start a new run.`)
  }
  if ((saved.meta.trainOnBos ?? false) !== config.trainOnBos && to.bos !== null) {
    throw new JobError(
      `This run's checkpoint was harvested ${saved.meta.trainOnBos ? 'with' : 'without'} the BOS rows, so this version cannot continue its stream: start a new run.`,
    )
  }
  to.opt.loadState(saved.optimizer)
  state.lastFired = saved.lastFired
  state.step = saved.meta.step
  state.tokens = saved.meta.tokens
  state.trainSeconds = saved.meta.trainSeconds
  data.harvester.tokens = saved.meta.harvestTokens
  data.harvester.seconds = saved.meta.harvestSeconds
  ctx.progress({
    done: state.tokens,
    total: to.totalTokens,
    unit: 'tokens',
    message: `Resuming at step ${state.step}: rebuilding the activation buffer…`,
  })
  await restoreBuffer(
    data.buffer,
    saved,
    data.stream,
    data.harvester,
    config.harvestBatch,
    rowsPerSequence(config.ctx, data.skipFirst),
    data.skipFirst,
  )
  const lrChange = saved.meta.lr !== undefined && saved.meta.lr !== config.lr ? ` (was ${saved.meta.lr} up to here)` : ''
  ctx.log('info', `Resumed from step ${state.step} (${state.tokens} tokens) with lr ${config.lr}${lrChange}.`)
}
