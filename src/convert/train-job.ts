// The "convert" job: trains a sparse layer (MxD, TopK transcoder or skip transcoder) to reproduce
// one dense MLP of a model (docs/science/mxd.md#training-objective). Per step:
//   (x, y*) ← a batch from the shuffled activation buffer (refilled by harvesting when half read)
//   loss    = mean_b,o (ŷ − y*)² / ‖y*_b‖₂            the paper's loss (mxdLoss)
//   grads   → remove each unit-norm row's radial part  (projectGradients)
//   AdamW (weight decay 0, constant lr after a linear warm-up), then renormalise the rows (afterStep)
// Metrics every few steps; atomic checkpoints (layer + AdamW state + data and buffer position, so
// a resume continues the very same stream), the first one early so that a run stopped in its
// first minutes does not start over; a non-finite loss stops the run and keeps the last good
// checkpoint; a run whose NMSE ends far above 1 (worse than outputting zero) fails as diverged;
// at the end the layer is saved in the export format into runDir/layer/.
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { packSequences } from '../data/pack.js'
import { readDocuments } from '../data/read.js'
import { datasetOptions, getDataset, listDatasets, registerDataset } from '../data/registry.js'
import { tf } from '../engine/backend.js'
import { hookNames } from '../engine/hooks.js'
import { mxdLoss } from '../engine/layers/loss.js'
import { createSparseLayer, sparseLayerFromTensors } from '../engine/layers/kinds.js'
import type { LayerTensors, SparseLayer } from '../engine/layers/sparse-layer.js'
import { openModelFolder } from '../engine/model-folder.js'
import { loadLanguageModel } from '../engine/models/load.js'
import { AdamW, constantWithWarmup } from '../engine/optim/adamw.js'
import { SafetensorsFile, writeSafetensors, type WritableTensor } from '../engine/safetensors.js'
import { TextTokenizer } from '../engine/tokenizer.js'
import { JobError, type JobContext } from '../jobs/job.js'
import type { Dataset } from '../shared/api.js'
import { sha256File } from '../store/files.js'
import type { Store } from '../store/store.js'
import { ActivationBuffer, type Batch, type BufferState } from './activation-buffer.js'
import { CHECKPOINT_FILES_PEAK, lowerLr, resolveSizes, rowsPerSequence, type ConvertConfig, type ResolvedSizes } from '../shared/convert.js'
import { Harvester, SequenceStream, type ActivationRows } from './harvest.js'
import { LAYER_WEIGHTS_FILE, modelFingerprint, saveLayerFolder, type LayerFileConfig } from './layer-file.js'

const CHECKPOINT_FILE = 'convert.safetensors'
const CHECKPOINT_VERSION = 1
/** Sequences the packer shuffles within (documents' order is mixed before harvesting, too). */
const SEQUENCE_SHUFFLE = 1024
/**
 * The first checkpoint comes after this many seconds or this fraction of the steps, whichever is
 * first (later ones every checkpointSeconds): a run killed in its first minutes resumes instead of
 * starting over, and the fraction makes it independent of the machine's speed.
 */
const FIRST_CHECKPOINT_SECONDS = 30
const FIRST_CHECKPOINT_FRACTION = 0.02
/**
 * A run whose last training NMSE is above this has failed: outputting zero scores exactly 1, and
 * a healthy run starts there (D = 0 at init) and only goes down, so 1.5 leaves room for the noise
 * of a short run's last window yet catches every divergence seen (lr 1: NMSE ≈ 1e8).
 */
export const DIVERGED_NMSE = 1.5
/** A metrics window this far above zero's NMSE after the warm-up stops the run at once (no way back). */
const RUNAWAY_NMSE = 1e3

export interface TrainResult {
  layerDir: string
  cfg: LayerFileConfig
  step: number
  tokens: number
  /** The last reported value of each training metric. */
  metrics: Record<string, number>
}

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

/** The job registered under kind "convert". */
export async function convertJob(ctx: JobContext<ConvertConfig>): Promise<void> {
  await trainConversion(ctx)
}

/** What a checkpoint's metadata holds besides the tensors. */
interface CheckpointMeta {
  version: number
  step: number
  tokens: number
  /** Index of the next sequence to harvest. */
  position: number
  datasetSha256: string
  buffer: Omit<BufferState, 'slotSeq' | 'slotPos' | 'slotBorn' | 'queue'>
  harvestTokens: number
  harvestSeconds: number
  trainSeconds: number
  /** The lr the run trained with up to this checkpoint (absent in older checkpoints). */
  lr?: number
  /** Whether the BOS position's rows were harvested (absent in older checkpoints: they skipped them). */
  trainOnBos?: boolean
}

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

  // ---- model, tokenizer, dataset ---------------------------------------------------------
  const folder = openModelFolder(modelDir)
  const info = folder.info
  folder.close()
  const sizes = resolveSizes(config, info)
  checkConfig(config, info.layers, info.contextLength, sizes)
  const dataset = await resolveDataset(ctx.store, config)
  const tokenizer = dataset.kind === 'text' ? TextTokenizer.fromFolder(modelDir) : null
  if (dataset.kind === 'text' && !tokenizer) {
    throw new JobError(`${modelDir} has no tokenizer.json, so the text dataset ${dataset.path} cannot be tokenized: use a pre-tokenized dataset or add the tokenizer.`)
  }
  const model = await loadLanguageModel(modelDir)
  const disposables: { dispose(): void }[] = [model]
  try {
    const bos = tokenizer ? tokenizer.bosId : model.dims.bosId
    // Skip a leading BOS only when asked to: by default the layer learns the attention-sink
    // position too, since evaluation and generation splice it there (ConvertConfig.trainOnBos).
    const skipFirst = bos !== null && !config.trainOnBos
    ctx.log('info', `Converting ${info.name} block ${config.layer} (${config.kind}, ${sizes.width} ${config.kind === 'mxd' ? 'experts' : 'latents'}, K = ${config.k}) on dataset ${dataset.name} (#${dataset.id}).`)

    // ---- data: sequence stream → harvester → buffer -------------------------------------
    const opts = datasetOptions(dataset)
    const stream = new SequenceStream(
      (epoch) =>
        packSequences(readDocuments(dataset.path, opts), tokenizer, {
          ...opts,
          split: 'train',
          ctx: config.ctx,
          addBos: bos !== null,
          bosId: bos,
          shuffle: { seed: mix(config.seed, epoch), bufferSize: SEQUENCE_SHUFFLE },
        }),
      (epoch, n) => ctx.log('warn', `The training split ran out after ${n} sequences; starting epoch ${epoch + 1} (reshuffled).`),
    )
    const harvester = new Harvester(model, config.layer, stream, config.harvestBatch, skipFirst, hooks.onHarvest)
    const buffer = new ActivationBuffer({ capacity: sizes.bufferRows, dIn: sizes.d, dOut: sizes.d, seed: config.seed })
    const rowsPerChunk = config.harvestBatch * rowsPerSequence(config.ctx, skipFirst)

    // ---- layer and optimizer --------------------------------------------------------------
    let saved: LoadedCheckpoint | undefined
    if (ctx.resumeFrom) saved = readCheckpoint(ctx.resumeFrom.path)
    const layer = saved ? layerFromTensors(config, sizes, saved.layer) : createLayer(config, sizes)
    disposables.push(layer)
    const opt = new AdamW(layer.params, { lr: config.lr, weightDecay: 0 })
    disposables.push(opt)
    const schedule = constantWithWarmup(config.lr, sizes.warmup)
    const totalTokens = sizes.steps * config.batch
    // Per unit, the last step it fired at (−1: never): the dead fraction's memory.
    let lastFired: Int32Array = new Int32Array(layer.width).fill(-1)
    let step = 0
    let tokens = 0
    let trainSeconds = 0
    if (saved) {
      if (saved.meta.datasetSha256 !== dataset.sha256) {
        throw new JobError(`The dataset ${dataset.path} changed since this run started, so its stream cannot be continued: start a new run.`)
      }
      if ((saved.meta.trainOnBos ?? false) !== config.trainOnBos && bos !== null) {
        throw new JobError(`This run's checkpoint was harvested ${saved.meta.trainOnBos ? 'with' : 'without'} the BOS rows, so this version cannot continue its stream: start a new run.`)
      }
      opt.loadState(saved.optimizer)
      lastFired = saved.lastFired
      step = saved.meta.step
      tokens = saved.meta.tokens
      trainSeconds = saved.meta.trainSeconds
      harvester.tokens = saved.meta.harvestTokens
      harvester.seconds = saved.meta.harvestSeconds
      ctx.progress({ done: tokens, total: totalTokens, unit: 'tokens', message: `Resuming at step ${step}: rebuilding the activation buffer…` })
      await restoreBuffer(buffer, saved, stream, harvester, config.harvestBatch, rowsPerSequence(config.ctx, skipFirst), skipFirst)
      const lrChange = saved.meta.lr !== undefined && saved.meta.lr !== config.lr ? ` (was ${saved.meta.lr} up to here)` : ''
      ctx.log('info', `Resumed from step ${step} (${tokens} tokens) with lr ${config.lr}${lrChange}.`)
    }
    let lastCheckpointStep = saved ? step : -1

    // ---- checkpoints -------------------------------------------------------------------------
    const clock = hooks.now ?? (() => performance.now())
    let lastCheckpointAt = clock()
    const firstCheckpointStep = Math.max(1, Math.ceil(sizes.steps * FIRST_CHECKPOINT_FRACTION))
    const checkpoint = (): void => {
      if (!paramsFinite(layer)) throw nanError('a parameter', step, lastCheckpointStep, config.lr, ctx.runId)
      const meta: CheckpointMeta = {
        version: CHECKPOINT_VERSION,
        step,
        tokens,
        position: stream.position,
        datasetSha256: dataset.sha256,
        buffer: (({ overdue, refills, draws }) => ({ overdue, refills, draws }))(buffer.state()),
        harvestTokens: harvester.tokens,
        harvestSeconds: harvester.seconds,
        trainSeconds,
        lr: config.lr,
        trainOnBos: config.trainOnBos,
      }
      writeCheckpoint(ctx, step, layer, opt, buffer.state(), lastFired, meta, hooks.afterCheckpoint)
      lastCheckpointStep = step
      lastCheckpointAt = clock()
    }

    // ---- the loop ----------------------------------------------------------------------------
    const window = new MetricWindow()
    let lastMetrics: Record<string, number> = {}
    const wallStart = performance.now()
    const tokensAtStart = tokens
    const deadSteps = Math.ceil(config.deadWindow / config.batch)
    const report = (message: string, metrics?: Record<string, number>): void => {
      const secs = (performance.now() - wallStart) / 1000
      const rate = secs > 0 ? (tokens - tokensAtStart) / secs : 0
      ctx.progress({
        done: tokens,
        total: totalTokens,
        unit: 'tokens',
        perSecond: rate,
        etaSeconds: rate > 0 ? (totalTokens - tokens) / rate : null,
        message,
        ...(metrics ? { metrics } : {}),
      })
    }

    while (step < sizes.steps) {
      if (ctx.cancelled()) {
        if (lastCheckpointStep !== step) checkpoint()
        ctx.log('info', `Cancelled at step ${step}; resume continues from here.`)
        return null
      }
      // Refill when half read: whole chunks into the free slots.
      if (buffer.needsRefill(config.batch)) {
        const chunks: ActivationRows[] = []
        const n = Math.max(1, Math.floor(buffer.free / rowsPerChunk))
        // Not interrupted by a cancel: a checkpoint's stream position must match the buffer's rows.
        for (let i = 0; i < n; i++) {
          chunks.push(await harvester.nextChunk())
          report(`Harvesting activations (${i + 1}/${n} chunks, ${Math.round(harvester.tokensPerSecond)} tokens/s)`)
        }
        buffer.refill(chunks)
        continue
      }

      // One optimizer step.
      const t0 = performance.now()
      let batch = buffer.take(config.batch)
      if (hooks.transformBatch) batch = hooks.transformBatch(batch, step)
      const lr = schedule(step)
      const stats = trainStep(layer, opt, batch, config.batch, sizes.d, lr)
      step++
      if (!Number.isFinite(stats.loss)) throw nanError('the loss', step, lastCheckpointStep, config.lr, ctx.runId, stats.loss)
      tokens += config.batch
      for (const u of stats.fired) lastFired[u] = step
      trainSeconds += (performance.now() - t0) / 1000
      window.add(stats)

      if (step % config.metricsEvery === 0 || step === sizes.steps) {
        let dead = 0
        for (const s of lastFired) if (s < 0 || step - s >= deadSteps) dead++
        lastMetrics = {
          loss: window.loss,
          nmse: window.nmse,
          l0: window.l0,
          dead_fraction: dead / lastFired.length,
          tokens_per_s: trainSeconds > 0 ? tokens / trainSeconds : 0,
          harvest_tokens_per_s: harvester.tokensPerSecond,
          lr,
        }
        window.reset()
        ctx.store.addMetrics(ctx.runId, step, lastMetrics)
        report(`step ${step}/${sizes.steps}: loss ${lastMetrics.loss!.toPrecision(4)}, NMSE ${lastMetrics.nmse!.toFixed(4)}`, lastMetrics)
        if (step > sizes.warmup && lastMetrics.nmse! > RUNAWAY_NMSE) throw divergedError(lastMetrics.nmse!, step, config.lr, true)
      }
      const first = lastCheckpointStep < 0
      const interval = first ? Math.min(FIRST_CHECKPOINT_SECONDS, config.checkpointSeconds) : config.checkpointSeconds
      const timeDue = (clock() - lastCheckpointAt) / 1000 >= interval
      const stepDue = (config.checkpointSteps !== undefined && step % config.checkpointSteps === 0) || (first && step >= firstCheckpointStep)
      if ((timeDue || stepDue) && step < sizes.steps) checkpoint()
    }

    // ---- the end: the divergence check, last checkpoint, then the layer in the export format ----
    // A diverged layer is worse than none: no layer folder, so no evaluation is queued behind it.
    if (lastMetrics.nmse !== undefined && !(lastMetrics.nmse <= DIVERGED_NMSE)) throw divergedError(lastMetrics.nmse, step, config.lr, false)
    if (lastCheckpointStep !== step) checkpoint()
    // Only the final checkpoint is needed from here (a resume of a finished run uses the layer
    // folder), so the layer file is written beside one checkpoint file, never two.
    pruneCheckpointFiles(ctx, 1)
    const cfg = saveLayerFolder(layerDir, layer, {
      hook_name: hookNames.ln2(config.layer),
      hook_name_out: hookNames.mlpOut(config.layer),
      layer: config.layer,
      model_name: info.name,
      model_hash: modelFingerprint(modelDir),
      train_on_bos: !skipFirst,
      training: {
        ...config,
        model: modelDir,
        dataset: { id: dataset.id, path: dataset.path, sha256: dataset.sha256, split: 'train' },
        resolved: { ...sizes },
        steps: step,
        tokens,
        final_metrics: lastMetrics,
      },
    })
    const weights = join(layerDir, LAYER_WEIGHTS_FILE)
    ctx.store.addCheckpoint(ctx.runId, step, weights, sha256File(weights))
    ctx.log('info', `Trained ${step} steps (${tokens} tokens); the layer is in ${layerDir}.`)
    report(`done: NMSE ${lastMetrics.nmse?.toFixed(4) ?? '?'}`, lastMetrics)
    return { layerDir, cfg, step, tokens, metrics: lastMetrics }
  } finally {
    for (const d of disposables.reverse()) d.dispose()
  }
}

// ------------------------------------------------------------------------------------ step

interface StepStats {
  loss: number
  residual: number
  targetSquares: number
  nonZeros: number
  tokens: number
  /** Units with at least one non-zero code in the batch. */
  fired: number[]
}

/**
 * One optimizer step on a batch. Besides the loss it reads back Σ‖ŷ−y‖², Σ‖y‖², the code's
 * non-zeros and which units fired, all computed on the forward pass the gradient uses.
 */
export function trainStep(layer: SparseLayer, opt: AdamW, batch: Batch, rows: number, d: number, lr: number): StepStats {
  const extra: tf.Tensor[] = []
  let fromSelected = false
  const { loss, grads } = tf.tidy(() => {
    const x = tf.tensor2d(batch.x, [rows, d])
    const y = tf.tensor2d(batch.y, [rows, d])
    return layer.valueAndGrads(x, ({ y: yHat, codes, selected }) => {
      // Metrics from the same forward (no gradient flows into them). The code's non-zeros and
      // fired units come from the K selected entries a row where the layer gives them: scanning
      // the dense [B, N] code with NotEqual, Sum and Max cost about 0.5 s a step at GPT-2-small
      // scale, for the same counts.
      extra.push(tf.keep(tf.sum(tf.squaredDifference(yHat, y))), tf.keep(tf.sum(tf.square(y))))
      fromSelected = selected !== undefined
      if (selected) extra.push(tf.keep(selected.values), tf.keep(selected.indices))
      else extra.push(tf.keep(tf.sum(tf.cast(tf.notEqual(codes, 0), 'float32'))), tf.keep(tf.max(codes, 0)))
      return mxdLoss(yHat, y)
    })
  })
  const lossValue = loss.dataSync()[0]!
  const [residual, targetSquares] = extra.slice(0, 2).map((t) => t.dataSync()[0]!) as [number, number]
  const codeStats =
    fromSelected
      ? selectedCodeStats(extra[2]!.dataSync() as Float32Array, extra[3]!.dataSync() as Int32Array, layer.width)
      : denseCodeStats(extra[2]!.dataSync()[0]!, extra[3]!.dataSync() as Float32Array)
  tf.dispose([...extra, loss])
  const { nonZeros, fired } = codeStats
  if (Number.isFinite(lossValue)) {
    const projected = layer.projectGradients(grads)
    opt.applyGradients(projected, lr)
    layer.afterStep()
    tf.dispose(Object.values(projected))
  } else {
    tf.dispose(Object.values(grads))
  }
  return { loss: lossValue, residual, targetSquares, nonZeros, tokens: rows, fired }
}

/** Non-zeros of a dense code and its units with a positive entry, from Σ(a ≠ 0) and the column maxima. */
function denseCodeStats(nonZeros: number, maxCode: Float32Array): { nonZeros: number; fired: number[] } {
  const fired: number[] = []
  for (let u = 0; u < maxCode.length; u++) if (maxCode[u]! > 0) fired.push(u)
  return { nonZeros, fired }
}

/**
 * The same two statistics from the TopK's selected values and indices ([B, K] flattened): the
 * dense code is each value at its index (distinct within a row) and 0 elsewhere, so it has as
 * many non-zeros as the values do, and unit u has a positive entry exactly when some selected
 * value at index u is positive. Units come out in ascending order, as the dense scan gives them.
 */
export function selectedCodeStats(values: Float32Array, indices: Int32Array, width: number): { nonZeros: number; fired: number[] } {
  let nonZeros = 0
  const positive = new Uint8Array(width)
  for (let i = 0; i < values.length; i++) {
    const a = values[i]!
    if (a !== 0) nonZeros++ // NaN counts, as NaN ≠ 0 does in the dense scan
    if (a > 0) positive[indices[i]!] = 1
  }
  const fired: number[] = []
  for (let u = 0; u < width; u++) if (positive[u]) fired.push(u)
  return { nonZeros, fired }
}

/** Sums over the steps since the last report: mean loss, NMSE = Σres/Σ‖y‖², L0 = non-zeros per token. */
class MetricWindow {
  private steps = 0
  private lossSum = 0
  private residual = 0
  private targetSquares = 0
  private nonZeros = 0
  private tokens = 0
  add(s: StepStats): void {
    this.steps++
    this.lossSum += s.loss
    this.residual += s.residual
    this.targetSquares += s.targetSquares
    this.nonZeros += s.nonZeros
    this.tokens += s.tokens
  }
  reset(): void {
    this.steps = this.lossSum = this.residual = this.targetSquares = this.nonZeros = this.tokens = 0
  }
  get loss(): number {
    return this.lossSum / this.steps
  }
  get nmse(): number {
    return this.residual / this.targetSquares
  }
  get l0(): number {
    return this.nonZeros / this.tokens
  }
}

function nanError(what: string, step: number, lastGood: number, lr: number, runId: number, value?: number): JobError {
  const kind = value === undefined ? 'NaN or Inf' : Number.isNaN(value) ? 'NaN' : 'Inf'
  const lower = lowerLr(lr)
  // With a good checkpoint the run can go on from it at a lower lr; without one it starts over.
  const next =
    lastGood >= 0
      ? `the last good checkpoint (step ${lastGood}) is kept: resume it with a lower learning rate than ${lr}, e.g. ${lower} (mxd train --resume ${runId} --lr ${lower})`
      : `no checkpoint had been written yet: start a new run with a lower learning rate than ${lr}, e.g. --lr ${lower}`
  return new JobError(`${what === 'the loss' ? `loss became ${kind}` : `${what} became ${kind}`} at step ${step}; ${next}.`)
}

function divergedError(nmse: number, step: number, lr: number, early: boolean): JobError {
  const lower = lowerLr(lr)
  const when = early ? `reached ${nmse.toPrecision(3)} at step ${step}` : `ended at ${nmse.toPrecision(3)} (step ${step})`
  return new JobError(
    `Training diverged: the training NMSE ${when}, above ${DIVERGED_NMSE} (outputting zero scores 1) with lr ${lr}. ` +
      `Lower the learning rate: start a new run with --lr ${lower}.`,
  )
}

/** A tenth of lr with one significant digit: the suggestion after a divergence. */
function paramsFinite(layer: SparseLayer): boolean {
  return tf.tidy(() => Object.values(layer.params).every((p) => tf.all(tf.isFinite(p)).dataSync()[0] === 1))
}

// ------------------------------------------------------------------------------- setup

function checkConfig(config: ConvertConfig, layers: number, contextLength: number, sizes: ResolvedSizes): void {
  if (config.layer >= layers) throw new JobError(`Layer ${config.layer} does not exist: the model has layers 0…${layers - 1}.`)
  if (config.ctx > contextLength) throw new JobError(`ctx ${config.ctx} exceeds the model's context of ${contextLength} tokens.`)
  if (config.k > sizes.width) throw new JobError(`k = ${config.k} is larger than the ${sizes.width} units it selects among.`)
}

/** The run's dataset row: a registered id, or a path registered on first use (and reused after). */
export async function resolveDataset(store: Store, config: Pick<ConvertConfig, 'data' | 'textField'>): Promise<Dataset> {
  if (typeof config.data === 'number') {
    const ds = getDataset(store.db, config.data)
    if (!ds) throw new JobError(`There is no dataset #${config.data}: list them with "mxd datasets list".`)
    return ds
  }
  const path = resolve(config.data)
  const known = listDatasets(store.db).find((d) => d.path === path && d.status === 'ok' && (config.textField === undefined || d.textField === config.textField))
  if (known) return known
  try {
    return await registerDataset(store.db, path, { textField: config.textField })
  } catch (err) {
    throw new JobError((err as Error).message)
  }
}

function createLayer(config: ConvertConfig, s: ResolvedSizes): SparseLayer {
  return createSparseLayer(config.kind, s.size, config.seed)
}

function layerFromTensors(config: ConvertConfig, s: ResolvedSizes, tensors: LayerTensors): SparseLayer {
  return sparseLayerFromTensors(config.kind, s.size, tensors)
}

/** A derived seed for epoch e's sequence shuffle. */
function mix(seed: number, epoch: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 31) + epoch) >>> 0
}

function finishedResult(layerDir: string, step: number): TrainResult {
  const cfg = JSON.parse(readFileSync(join(layerDir, 'cfg.json'), 'utf8')) as LayerFileConfig
  const t = cfg.training as { tokens?: number; final_metrics?: Record<string, number> }
  return { layerDir, cfg, step, tokens: t.tokens ?? 0, metrics: t.final_metrics ?? {} }
}

// --------------------------------------------------------------------------- checkpoints

interface LoadedCheckpoint {
  meta: CheckpointMeta
  layer: LayerTensors
  optimizer: Record<string, { shape: number[]; data: Float32Array | Int32Array }>
  lastFired: Int32Array
  buffer: BufferState
}

/**
 * One safetensors file: `layer.<name>` (F32), `opt.<AdamW state>`, `last_fired` and the buffer's
 * `buffer.*` arrays (I32), with CheckpointMeta as JSON in the metadata. Written atomically,
 * after deleting all files but the newest (shared/convert.ts CHECKPOINT_FILES_PEAK).
 */
function writeCheckpoint(
  ctx: JobContext<ConvertConfig>,
  step: number,
  layer: SparseLayer,
  opt: AdamW,
  buffer: BufferState,
  lastFired: Int32Array,
  meta: CheckpointMeta,
  written?: (step: number, path: string) => void,
): void {
  const tensors: Record<string, WritableTensor> = {}
  for (const [name, t] of Object.entries(layer.toTensors())) tensors[`layer.${name}`] = t
  for (const [name, t] of Object.entries(opt.stateTensors())) tensors[`opt.${name}`] = t
  const i32 = (data: Int32Array): WritableTensor => ({ dtype: 'I32', shape: [data.length], data })
  tensors.last_fired = i32(lastFired)
  tensors['buffer.slot_seq'] = i32(buffer.slotSeq)
  tensors['buffer.slot_pos'] = i32(buffer.slotPos)
  tensors['buffer.slot_born'] = i32(buffer.slotBorn)
  tensors['buffer.queue'] = i32(buffer.queue)
  // Disk: a GPT-2-small MxD checkpoint is ~400 MB. Only the newest file is kept while the next
  // one is written (temp file, fsync, rename), so at most CHECKPOINT_FILES_PEAK exist at any time
  // and the last good one survives a crash or a full disk mid-write.
  pruneCheckpointFiles(ctx, CHECKPOINT_FILES_PEAK - 1)
  const path = join(ctx.store.runDir(ctx.runId), `step-${step}-${CHECKPOINT_FILE}`)
  const sha = writeSafetensors(path, tensors, { mxd_convert: JSON.stringify(meta) })
  ctx.store.addCheckpoint(ctx.runId, step, path, sha)
  written?.(step, path)
}

/** Deletes all but the newest `keep` checkpoint files (their rows stay in the run's history). */
function pruneCheckpointFiles(ctx: JobContext<ConvertConfig>, keep: number): void {
  // By path, newest row last: a file rewritten at the same step has several rows but is one file.
  const paths = [...new Set(ctx.store.getCheckpoints(ctx.runId).reverse().map((c) => c.path))].reverse()
  const files = paths.filter((p) => p.endsWith(CHECKPOINT_FILE) && existsSync(p))
  for (const old of files.slice(0, Math.max(0, files.length - keep))) rmSync(old, { force: true })
}

function readCheckpoint(path: string): LoadedCheckpoint {
  if (!existsSync(path)) throw new JobError(`The checkpoint ${path} is missing, so the run cannot resume: start a new run.`)
  const file = SafetensorsFile.open(path)
  try {
    const raw = file.metadata.mxd_convert
    if (raw === undefined) throw new JobError(`${path} is not a conversion checkpoint.`)
    const meta = JSON.parse(raw) as CheckpointMeta
    if (meta.version !== CHECKPOINT_VERSION) throw new JobError(`${path} has checkpoint version ${meta.version}; this app reads ${CHECKPOINT_VERSION}.`)
    const layer: LayerTensors = {}
    const optimizer: LoadedCheckpoint['optimizer'] = {}
    for (const [name, info] of file.tensors) {
      if (name.startsWith('layer.')) layer[name.slice(6)] = { shape: info.shape, data: file.readFloat32(name) }
      else if (name === 'opt.step') optimizer.step = { shape: info.shape, data: file.readInt32(name) }
      else if (name.startsWith('opt.')) optimizer[name.slice(4)] = { shape: info.shape, data: file.readFloat32(name) }
    }
    return {
      meta,
      layer,
      optimizer,
      lastFired: file.readInt32('last_fired'),
      buffer: {
        slotSeq: file.readInt32('buffer.slot_seq'),
        slotPos: file.readInt32('buffer.slot_pos'),
        slotBorn: file.readInt32('buffer.slot_born'),
        queue: file.readInt32('buffer.queue'),
        ...meta.buffer,
      },
    }
  } finally {
    file.close()
  }
}

/**
 * Rebuilds the buffer of a checkpoint: re-reads the sequence stream up to the saved position
 * (tokenizing only), re-runs the model on just the chunks whose rows the buffer held, in the same
 * chunks as before (so the rows are bit-identical), and puts every row back in its slot.
 */
async function restoreBuffer(
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
