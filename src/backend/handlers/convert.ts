// Conversion runs: start one, queue a sweep (one run per layer kind and K, same data and seed),
// and preview a config (resolved defaults and parameter counts) for the wizard and the CLI.
// Inputs are checked here against the model folder, so a wrong layer index or a missing dataset
// is refused at once instead of failing in the queue.
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { previewConversion, sweepConfigs, type ConvertConfig, type ConvertPreview } from '../../shared/convert.js'
import { getDataset } from '../../data/registry.js'
import { inspectModelFolder, ModelLoadError, type ModelInfo } from '../../engine/model-folder.js'
import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import type { BackendContext } from '../context.js'

function modelInfo(path: string): ModelInfo {
  try {
    return inspectModelFolder(resolve(path))
  } catch (err) {
    if (err instanceof ModelLoadError) throw new ApiError('bad_request', err.message)
    throw err
  }
}

/** The preview, or a bad_request naming the first problem (layer, ctx, k, dataset). */
function checked(ctx: BackendContext, config: ConvertConfig): ConvertPreview {
  const preview = previewConversion(config, modelInfo(config.model))
  if (preview.warnings.length > 0) throw new ApiError('bad_request', `${preview.warnings[0]!}.`)
  if (typeof config.data === 'number' ? !getDataset(ctx.store.db, config.data) : !existsSync(resolve(config.data))) {
    throw new ApiError('bad_request', typeof config.data === 'number' ? `There is no dataset #${config.data}.` : `There is no dataset at ${config.data}.`)
  }
  return preview
}

/** Paths are stored absolute, so the run means the same thing from any working directory. */
function absolute(config: ConvertConfig): ConvertConfig {
  return { ...config, model: resolve(config.model), data: typeof config.data === 'string' ? resolve(config.data) : config.data }
}

export function startConversion(ctx: BackendContext, input: ParsedInput<'convert.start'>): Output<'convert.start'> {
  const config = absolute(input)
  checked(ctx, config)
  const run = ctx.store.createRun('convert', config)
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}

export function startSweep(ctx: BackendContext, input: ParsedInput<'convert.sweep'>): Output<'convert.sweep'> {
  const configs = sweepConfigs(input).map(absolute)
  for (const c of configs) checked(ctx, c) // all or nothing: no half-queued sweep
  const runIds = configs.map((c) => ctx.store.createRun('convert', c).id)
  for (const id of runIds) ctx.queue.enqueue(id)
  return { runIds }
}

export function previewConvert(ctx: BackendContext, input: ParsedInput<'convert.preview'>): Output<'convert.preview'> {
  return previewConversion(absolute(input), modelInfo(input.model))
}
