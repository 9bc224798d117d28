// What an evaluation of a layer runs with, when its config leaves it out: the model folder, the
// dataset, the context length and the training step the metrics are recorded at, read from the
// layer's cfg.json (its training record) and from the run that trained it.
import { resolve } from 'node:path'
import { modelFingerprint, type LayerFileConfig } from '../../convert/layer-file.js'
import type { Run } from '../../shared/api.js'
import { EVAL_DEFAULTS, type ConvertEvalConfig } from '../../shared/convert-eval.js'
import { JobError } from '../../shared/errors.js'
import type { Store } from '../../store/store.js'

export interface EvalInputs {
  modelDir: string
  /** A registered dataset id or a path (resolveDataset). */
  data: string | number
  textField: string | undefined
  seqLen: number
  step: number
}

/** The inputs of evaluating the layer `cfg` describes; `trained` is the run it came from, if any. */
export function evalInputs(store: Store, c: ConvertEvalConfig, cfg: LayerFileConfig, trained: Run | undefined): EvalInputs {
  const runConfig = (trained?.config ?? {}) as Record<string, unknown>
  const training = cfg.training as Record<string, unknown>
  const modelDir = resolveModelDir(store, c.model, runConfig, training, cfg)
  // A dataset id means something only in the store that trained the layer; an imported layer
  // carries the path instead.
  const local = trained !== undefined && trained.kind !== 'layer-import'
  const data = c.data ?? (local ? trainedDataset(training, 'id') : trainedDataset(training, 'path')) ?? pickData(training) ?? pickData(runConfig)
  if (data === undefined) {
    throw new JobError('The layer does not say which dataset it was trained on: give the data to evaluate on (--data PATH).')
  }
  const textField = c.textField ?? stringField(runConfig, 'textField')
  const seqLen = c.ctx ?? numberField(runConfig, 'ctx') ?? numberField(training, 'ctx') ?? EVAL_DEFAULTS.ctx
  return { modelDir, data, textField, seqLen, step: trainingStep(store, cfg, c.trainRunId) }
}

/**
 * The model folder: the config's, else the one recorded in the layer's training config, else
 * the training run's (ConvertConfig.model), else a registered model whose fingerprint is the
 * layer's model_hash. A known model_hash must match the chosen folder.
 */
export function resolveModelDir(
  store: Pick<Store, 'listModels'>,
  explicit: string | undefined,
  runConfig: Record<string, unknown>,
  training: Record<string, unknown>,
  cfg: LayerFileConfig,
): string {
  // The layer's own record first: the training job writes the resolved absolute folder there.
  const named = explicit ?? stringField(training, 'model') ?? stringField(runConfig, 'model')
  const known = cfg.model_hash !== 'unknown' && cfg.model_hash !== ''
  if (named !== undefined) {
    const dir = resolve(named)
    if (known && !explicit && modelFingerprint(dir) !== cfg.model_hash) {
      throw new JobError(`${dir} is not the model the layer was trained on (its fingerprint differs from cfg.json's model_hash): pass that model with --model.`)
    }
    return dir
  }
  if (known) {
    for (const m of store.listModels()) {
      try {
        if (modelFingerprint(m.path) === cfg.model_hash) return m.path
      } catch {
        // A registered model that moved: not the one.
      }
    }
  }
  throw new JobError(`No model is known for this layer (model "${cfg.model_name}"): give the model folder it was trained on (--model DIR).`)
}

/**
 * The training step the layer was saved at: the layer's training record (step / steps), else
 * the last step its run recorded a metric at, else 0 (an imported layer).
 */
function trainingStep(store: Store, cfg: LayerFileConfig, runId: number | undefined): number {
  const t = cfg.training as Record<string, unknown>
  const recorded = numberField(t, 'step') ?? numberField(t, 'steps')
  if (recorded !== undefined) return Math.round(recorded)
  if (runId === undefined) return 0
  const steps = store
    .getMetrics(runId)
    .filter((m) => !m.name.startsWith('eval.'))
    .map((m) => m.step)
  return steps.length > 0 ? Math.max(...steps) : 0
}

/** The registered dataset the layer was trained on, as the training job records it in cfg.training.dataset. */
function trainedDataset(training: Record<string, unknown>, key: 'id' | 'path'): string | number | undefined {
  const d = training.dataset
  if (typeof d !== 'object' || d === null) return undefined
  const v = (d as Record<string, unknown>)[key]
  if (key === 'id') return typeof v === 'number' && Number.isInteger(v) ? v : undefined
  return typeof v === 'string' && v.length > 0 ? v : undefined
}

function pickData(config: Record<string, unknown>): string | number | undefined {
  const d = config.data
  return typeof d === 'string' || (typeof d === 'number' && Number.isInteger(d)) ? d : undefined
}

function stringField(config: Record<string, unknown>, key: string): string | undefined {
  const v = config[key]
  return typeof v === 'string' && v.length > 0 ? v : undefined
}

function numberField(config: Record<string, unknown>, key: string): number | undefined {
  const v = config[key]
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}
