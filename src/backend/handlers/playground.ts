import { latestEvalMetrics, modelLayers } from '../../convert/frontier.js'
import { runLayerDir } from '../../convert/export.js'
import { checkLayerModel, LayerFileError, readLayerConfig } from '../../convert/layer-file.js'
import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import { EVAL_METRICS } from '../../shared/convert-eval.js'
import type { BackendContext } from '../context.js'
import { modelRow } from './models.js'

export function startGeneration(ctx: BackendContext, input: ParsedInput<'playground.generate'>): Output<'playground.generate'> {
  const row = modelRow(ctx, input.modelId)
  if (input.prompt.length === 0) throw new ApiError('bad_request', 'Type a prompt first.')
  // More new tokens than the whole context holds can never be generated: refused. Up to the
  // context is taken (the API's default of 64 is exactly a tiny model's context); generation then
  // stops with context_full when the prompt and the new tokens fill it. The Playground's form is
  // stricter by the one prompt token a generation needs.
  const contextLength = modelContextLength(row.info)
  if (contextLength !== null && input.maxTokens > contextLength) {
    throw new ApiError(
      'bad_request',
      `Max tokens can be at most ${contextLength.toLocaleString('en-US')} for ${row.name}: its context is ${contextLength.toLocaleString('en-US')} tokens, the prompt included.`,
    )
  }
  const splice = input.splice ? { dir: spliceDir(ctx, row.path, input.splice.runId), steer: input.splice.steer } : undefined
  return { generationId: ctx.engine.generate(row.path, input, splice) }
}

/** The context length recorded when the model was registered (ModelInfo.contextLength), if any. */
function modelContextLength(info: string): number | null {
  try {
    const v = (JSON.parse(info) as { contextLength?: unknown }).contextLength
    return typeof v === 'number' && v > 1 ? v : null
  } catch {
    return null
  }
}

export function stopGeneration(ctx: BackendContext, input: ParsedInput<'playground.stop'>): Output<'playground.stop'> {
  return { stopped: ctx.engine.stop(input.generationId) }
}

export function listSplicableLayers(ctx: BackendContext, input: ParsedInput<'playground.listLayers'>): Output<'playground.listLayers'> {
  const row = modelRow(ctx, input.modelId)
  return modelLayers(ctx.store, row.path).layers.map(({ runId, cfg }) => ({
    runId,
    kind: cfg.architecture,
    block: cfg.layer,
    k: cfg.k,
    width: cfg.n_experts ?? cfg.d_sae ?? 0,
    nmse: latestEvalMetrics(ctx.store, runId)[EVAL_METRICS.nmse] ?? null,
  }))
}

/** The layer folder of run `runId`, refused when it was trained on another model. */
function spliceDir(ctx: BackendContext, modelPath: string, runId: number): string {
  try {
    const dir = runLayerDir(ctx.store, runId)
    checkLayerModel(readLayerConfig(dir), modelPath, `Run ${runId}'s layer`)
    return dir
  } catch (err) {
    if (err instanceof LayerFileError) throw new ApiError(/^There is no run/.test(err.message) ? 'not_found' : 'bad_request', err.message)
    throw err
  }
}
