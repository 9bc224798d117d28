// The `convert-eval` job: evaluates a trained (or imported) layer on the held-out split of its
// dataset (evaluate.ts) and writes eval.* metrics onto its own run and onto the evaluated run,
// at the layer's training step, where the Runs list, the run page and the frontier read them.
// What it evaluates with, when the config leaves it out, comes from eval-inputs.ts.
import { resolve } from 'node:path'
import { evaluateLayer, type EvalBatch, type EvalMetrics } from '../../convert/evaluate.js'
import { runLayerDir } from '../../convert/export.js'
import { loadLayerFolder, type LayerFileConfig } from '../../convert/layer-file.js'
import { packSequences } from '../../data/pack.js'
import { readDocuments } from '../../data/read.js'
import { datasetOptions } from '../../data/registry.js'
import type { SparseLayer } from '../../engine/layers/sparse-layer.js'
import { loadLanguageModel } from '../../engine/models/load.js'
import type { LanguageModel } from '../../engine/models/model.js'
import { TextTokenizer } from '../../engine/tokenizer.js'
import type { Dataset } from '../../shared/api.js'
import { ConvertEvalConfig, EVAL_METRICS } from '../../shared/convert-eval.js'
import { JobError } from '../../shared/errors.js'
import { resolveDataset } from '../dataset.js'
import { defineJob, type JobContext } from '../job.js'
import { evalInputs } from './eval-inputs.js'

/** Held-out sequences are shuffled within a window this large (by the config's seed). */
const SHUFFLE_WINDOW = 1024

export const convertEvalJob = defineJob('convert-eval', ConvertEvalConfig, convertEval)

async function convertEval(ctx: JobContext<ConvertEvalConfig>): Promise<void> {
  const c = ctx.config
  const store = ctx.store
  const layerDir = c.trainRunId !== undefined ? runLayerDir(store, c.trainRunId) : resolve(c.layerDir!)
  const trained = c.trainRunId !== undefined ? store.getRun(c.trainRunId) : undefined
  const { layer, cfg } = loadLayerFolder(layerDir)
  try {
    const { modelDir, data, textField, seqLen, step } = evalInputs(store, c, cfg, trained)
    const dataset = await resolveDataset(store, data, textField)
    const model = await loadLanguageModel(modelDir)
    try {
      await evaluateOn(ctx, { model, modelDir, layer, cfg, layerDir, dataset, seqLen, step })
    } finally {
      model.dispose()
    }
  } finally {
    layer.dispose()
  }
}

/** What one evaluation runs on, resolved. */
interface EvalSubject {
  model: LanguageModel
  modelDir: string
  layer: SparseLayer
  cfg: LayerFileConfig
  layerDir: string
  dataset: Dataset
  seqLen: number
  /** The training step the metrics are recorded at. */
  step: number
}

async function evaluateOn(ctx: JobContext<ConvertEvalConfig>, e: EvalSubject): Promise<void> {
  const c = ctx.config
  const { model, modelDir, cfg, dataset, seqLen } = e
  if (cfg.layer >= model.nLayers) throw new JobError(`The layer replaces block ${cfg.layer}, but ${modelDir} has blocks 0…${model.nLayers - 1}.`)
  if (seqLen > model.dims.maxPositions) throw new JobError(`ctx ${seqLen} exceeds the model's context of ${model.dims.maxPositions}: lower --ctx.`)
  const tokenizer = TextTokenizer.fromFolder(modelDir)
  const bosId = tokenizer ? tokenizer.bosId : model.dims.bosId
  const wanted = Math.max(1, Math.ceil(c.tokens / seqLen))
  const total = wanted * seqLen
  ctx.log(
    'info',
    `Evaluating the ${cfg.architecture} layer of block ${cfg.layer} (k = ${cfg.k}) from ${e.layerDir} on up to ${total} held-out tokens of ` +
      `${dataset.path} (${wanted} sequences of ${seqLen}) with ${modelDir}.`,
  )
  const opts = datasetOptions(dataset)
  const sequences = packSequences(readDocuments(dataset.path, opts), tokenizer, {
    ...opts,
    split: 'heldout',
    ctx: seqLen,
    addBos: true,
    bosId,
    shuffle: { seed: c.seed, bufferSize: SHUFFLE_WINDOW },
  })
  const started = performance.now()
  let read = 0
  const metrics = await evaluateLayer({
    model,
    layer: e.layer,
    block: cfg.layer,
    bosId,
    batches: batchesOf(sequences, c.batch, wanted, () => read++),
    cancelled: ctx.cancelled,
    onBatch: ({ positions, partial }) => {
      const perSecond = positions / ((performance.now() - started) / 1000)
      ctx.progress({
        unit: 'tokens',
        done: positions,
        total,
        perSecond,
        etaSeconds: perSecond > 0 ? Math.max(0, total - positions) / perSecond : null,
        message: `NMSE ${partial.nmse.toFixed(4)} · CE spliced ${partial.ceSpliced.toFixed(4)} (clean ${partial.ceClean.toFixed(4)})`,
      })
    },
  })
  if (ctx.cancelled()) return
  if (metrics.sequences === 0) {
    throw new JobError(
      `The held-out split of ${dataset.path} has no complete sequence of ${seqLen} tokens: lower --ctx, or register the dataset with a larger held-out fraction.`,
    )
  }
  if (read < wanted) ctx.log('warn', `The held-out split gave ${read} sequences (${read * seqLen} tokens) of the ${wanted} asked for.`)
  record(ctx, metrics, e.step, total)
}

/** Writes the eval.* metrics onto this run and the evaluated one, and says so in both logs. */
function record(ctx: JobContext<ConvertEvalConfig>, metrics: EvalMetrics, step: number, total: number): void {
  const c = ctx.config
  const store = ctx.store
  for (const note of metrics.notes) ctx.log('warn', note)
  const values = metricValues(metrics)
  store.addMetrics(ctx.runId, step, values)
  if (c.trainRunId !== undefined) store.addMetrics(c.trainRunId, step, values)
  ctx.log('info', summary(metrics))
  ctx.progress({ unit: 'tokens', done: total, total, message: summary(metrics), metrics: values })
  if (c.trainRunId !== undefined) store.log(c.trainRunId, 'info', `Evaluated by run ${ctx.runId}: ${summary(metrics)}`)
}

/** The eval.* metrics of a result; loss recovered is left out when it is undefined. */
function metricValues(m: EvalMetrics): Record<string, number> {
  const out: Record<string, number> = {
    [EVAL_METRICS.nmse]: m.nmse,
    [EVAL_METRICS.fvu]: m.fvu,
    [EVAL_METRICS.explainedVariance]: m.explainedVariance,
    [EVAL_METRICS.l0]: m.l0,
    [EVAL_METRICS.deadFraction]: m.deadFraction,
    [EVAL_METRICS.ceClean]: m.ceClean,
    [EVAL_METRICS.ceSpliced]: m.ceSpliced,
    [EVAL_METRICS.ceZero]: m.ceZero,
    [EVAL_METRICS.tokens]: m.tokens,
  }
  if (m.lossRecovered !== null) out[EVAL_METRICS.lossRecovered] = m.lossRecovered
  return out
}

function summary(m: EvalMetrics): string {
  const lr = m.lossRecovered === null ? 'undefined' : m.lossRecovered.toFixed(4)
  return `NMSE ${m.nmse.toFixed(4)}, FVU ${m.fvu.toFixed(4)}, L0 ${m.l0.toFixed(2)}, CE clean ${m.ceClean.toFixed(4)} / spliced ${m.ceSpliced.toFixed(4)} / zero ${m.ceZero.toFixed(4)}, loss recovered ${lr} on ${m.tokens} tokens`
}

/** At most `limit` sequences, `batch` at a time. */
async function* batchesOf(sequences: AsyncIterable<Int32Array>, batch: number, limit: number, onRead: () => void): AsyncGenerator<EvalBatch> {
  let taken = 0
  let ids: number[][] = []
  for await (const seq of sequences) {
    ids.push(Array.from(seq))
    onRead()
    taken++
    if (ids.length === batch || taken === limit) {
      yield { ids }
      ids = []
    }
    if (taken === limit) return
  }
  if (ids.length > 0) yield { ids }
}
