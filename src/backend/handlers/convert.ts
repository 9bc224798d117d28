// Conversion runs: start one, queue a sweep (one run per layer kind and K, same data and seed),
// and preview a config (resolved defaults and parameter counts) for the wizard and the CLI.
// Inputs are checked here against the model folder, so a wrong layer index or a missing dataset
// is refused at once instead of failing in the queue. The model folder is read in the engine's
// folder worker (ctx.engine.folder), never on the server's event loop (see handlers/models.ts).
import { resolve } from 'node:path'
import { previewConversion, sweepConfigs, type ConvertConfig, type ConvertPreview } from '../../shared/convert.js'
import { getDataset } from '../../data/registry.js'
import type { ModelInfo } from '../../engine/model-folder.js'
import { pathExists } from '../../fs/user-files.js'
import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import type { BackendContext } from '../context.js'

/** The folder's description, or a bad_request with the loader's message (it names the file and the fix). */
async function modelInfo(ctx: BackendContext, path: string): Promise<ModelInfo> {
  try {
    return await ctx.engine.folder({ op: 'info', dir: resolve(path) })
  } catch (err) {
    throw new ApiError('bad_request', (err as Error).message)
  }
}

/** The preview, or a bad_request naming the first problem (layer, ctx, k, dataset). */
async function checked(ctx: BackendContext, config: ConvertConfig): Promise<ConvertPreview> {
  const preview = previewConversion(config, await modelInfo(ctx, config.model))
  if (preview.warnings.length > 0) throw new ApiError('bad_request', `${preview.warnings[0]!}.`)
  if (typeof config.data === 'number' ? !getDataset(ctx.store.db, config.data) : !(await pathExists(resolve(config.data)))) {
    throw new ApiError('bad_request', typeof config.data === 'number' ? `There is no dataset #${config.data}.` : `There is no dataset at ${config.data}.`)
  }
  return preview
}

/** Paths are stored absolute, so the run means the same thing from any working directory. */
function absolute(config: ConvertConfig): ConvertConfig {
  return { ...config, model: resolve(config.model), data: typeof config.data === 'string' ? resolve(config.data) : config.data }
}

export async function startConversion(ctx: BackendContext, input: ParsedInput<'convert.start'>): Promise<Output<'convert.start'>> {
  const config = absolute(input)
  await checked(ctx, config)
  const run = ctx.store.createRun('convert', config)
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}

export async function startSweep(ctx: BackendContext, input: ParsedInput<'convert.sweep'>): Promise<Output<'convert.sweep'>> {
  const configs = sweepConfigs(input).map(absolute)
  for (const c of configs) await checked(ctx, c) // all or nothing: no half-queued sweep
  const runIds = configs.map((c) => ctx.store.createRun('convert', c).id)
  for (const id of runIds) ctx.queue.enqueue(id)
  return { runIds }
}

export async function previewConvert(ctx: BackendContext, input: ParsedInput<'convert.preview'>): Promise<Output<'convert.preview'>> {
  return previewConversion(absolute(input), await modelInfo(ctx, input.model))
}
