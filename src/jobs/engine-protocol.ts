// Messages between the back end and the engine worker.
import type { GenerationResult, SamplingOptions } from '../engine/generate.js'
import type { Steer } from '../shared/models.js'
import type { ModelDescription } from '../engine/describe.js'
import type { DiscoveredModel, ModelInfo } from '../engine/model-folder.js'
import type { ModelRow } from '../store/store.js'
import type { PredictRequest, PredictResult } from './classify/predict.js'
import type { AblatedContext, AblationContext, ActiveTokens } from '../analysis/features/inspect.js'

/**
 * File work on model folders the user names, done in the worker so that the server's event loop
 * never makes a synchronous filesystem call on a user's path (a slow disk, a network mount or a
 * special file would stall every client):
 *   add      — the folder's real path and its ModelInfo (what models.add registers);
 *   info     — ModelInfo; describe — ModelInfo plus one row per layer;
 *   list     — one round trip for the Models page: the Hugging Face cache's models (named by
 *              `env`) and the ModelInfo, or the error, of those and of every folder in `dirs`.
 */
export type FolderRequest =
  | { op: 'add'; dir: string }
  | { op: 'info'; dir: string }
  | { op: 'describe'; dir: string }
  | { op: 'list'; env: Record<string, string | undefined>; dirs: string[] }

export interface FolderResults {
  add: { path: string; info: ModelInfo }
  info: ModelInfo
  describe: ModelDescription
  list: { discovered: DiscoveredModel[]; folders: Record<string, { info: ModelInfo } | { error: string }> }
}

/**
 * A layer run as the worker reads it: its layer folder, and what finding its model needs (the
 * run's config and the registered models, as src/jobs/convert/eval-inputs.ts resolveModelDir
 * reads them), since the worker has no store.
 */
export interface InspectLayer {
  layerRunId: number
  layerDir: string
  runConfig: Record<string, unknown>
  models: ModelRow[]
}

/** features.search / features.ablate's engine half (src/analysis/features/inspect.ts). */
export type InspectRequest =
  | { op: 'search'; layer: InspectLayer; text?: string; ids?: number[] }
  | { op: 'ablate'; layer: InspectLayer; unit: number; contexts: AblationContext[] }
  /** classify.predict (src/jobs/classify/predict.ts). */
  | ({ op: 'classify' } & PredictRequest)

export interface InspectResults {
  search: ActiveTokens
  ablate: { contexts: (AblatedContext & { nextText: string | null })[] }
  classify: PredictResult
}

export interface TopPrediction {
  id: number
  prob: number
  text: string
}

export type EngineRequest =
  | {
      type: 'generate'
      id: string
      dir: string
      prompt: string
      options: SamplingOptions & { maxNewTokens: number }
      /** How many of the most likely next tokens to report at each step. */
      topPredictions: number
      /** A sparse layer folder to splice in place of its block's MLP, with its steers. */
      splice?: { dir: string; steer: Steer[] }
    }
  | { type: 'stop'; id: string }
  | { type: 'folder'; id: string; request: FolderRequest }
  | { type: 'inspect'; id: string; request: InspectRequest }

export type EngineResponse =
  | { type: 'ready' }
  | { type: 'prompt'; id: string; ids: number[]; tokens: string[] }
  | { type: 'token'; id: string; token: { id: number; index: number; text: string | null; top: TopPrediction[] } }
  | { type: 'done'; id: string; result: GenerationResult }
  | { type: 'error'; id: string; message: string }
  | { type: 'folder'; id: string; ok: true; value: FolderResults[FolderRequest['op']] }
  | { type: 'folder'; id: string; ok: false; message: string }
  | { type: 'inspect'; id: string; ok: true; value: InspectResults[InspectRequest['op']] }
  | { type: 'inspect'; id: string; ok: false; message: string }
