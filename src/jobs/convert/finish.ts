// The end of a conversion run: the divergence check, the last checkpoint, then the layer in the
// export format in runDir/layer/ (recorded as the run's final checkpoint, which a resume of a
// finished run finds and keeps).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { hookNames } from '../../engine/hooks.js'
import { LAYER_WEIGHTS_FILE, modelFingerprint, saveLayerFolder, type LayerFileConfig } from '../../convert/layer-file.js'
import type { Dataset } from '../../shared/api.js'
import { sha256File } from '../../store/files.js'
import { pruneCheckpointFiles } from './checkpoint-file.js'
import { DIVERGED_NMSE, divergedError } from './errors.js'
import type { Training } from './loop.js'

export interface TrainResult {
  layerDir: string
  cfg: LayerFileConfig
  step: number
  tokens: number
  /** The last reported value of each training metric. */
  metrics: Record<string, number>
}

/** Where the layer came from, as its cfg.json records it. */
export interface LayerSource {
  modelDir: string
  modelName: string
  dataset: Dataset
  layerDir: string
}

export function finishTraining(t: Training, src: LayerSource, lastMetrics: Record<string, number>): TrainResult {
  const { ctx, state } = t
  const config = ctx.config
  const { step, tokens } = state
  // A diverged layer is worse than none: no layer folder, so no evaluation is queued behind it.
  if (lastMetrics.nmse !== undefined && !(lastMetrics.nmse <= DIVERGED_NMSE)) throw divergedError(lastMetrics.nmse, step, config.lr, false)
  if (t.checkpoints.lastStep !== step) t.checkpoints.save()
  // Only the final checkpoint is needed from here (a resume of a finished run uses the layer
  // folder), so the layer file is written beside one checkpoint file, never two.
  pruneCheckpointFiles(ctx, 1)
  const { dataset, layerDir } = src
  const cfg = saveLayerFolder(layerDir, t.layer, {
    hook_name: hookNames.ln2(config.layer),
    hook_name_out: hookNames.mlpOut(config.layer),
    layer: config.layer,
    model_name: src.modelName,
    model_hash: modelFingerprint(src.modelDir),
    train_on_bos: !t.data.skipFirst,
    training: {
      ...config,
      model: src.modelDir,
      dataset: { id: dataset.id, path: dataset.path, sha256: dataset.sha256, split: 'train' },
      resolved: { ...t.sizes },
      steps: step,
      tokens,
      final_metrics: lastMetrics,
    },
  })
  const weights = join(layerDir, LAYER_WEIGHTS_FILE)
  ctx.store.addCheckpoint(ctx.runId, step, weights, sha256File(weights))
  ctx.log('info', `Trained ${step} steps (${tokens} tokens); the layer is in ${layerDir}.`)
  t.report(`done: NMSE ${lastMetrics.nmse?.toFixed(4) ?? '?'}`, lastMetrics)
  return { layerDir, cfg, step, tokens, metrics: lastMetrics }
}

/** The result of a run whose layer was already saved (a resume after the end). */
export function finishedResult(layerDir: string, step: number): TrainResult {
  const cfg = JSON.parse(readFileSync(join(layerDir, 'cfg.json'), 'utf8')) as LayerFileConfig
  const t = cfg.training as { tokens?: number; final_metrics?: Record<string, number> }
  return { layerDir, cfg, step, tokens: t.tokens ?? 0, metrics: t.final_metrics ?? {} }
}
