// The evaluation half of the conversion API: queue an evaluation, export / import a layer
// folder, and the sparsity–accuracy frontier of a model's layer.
import { readdir } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { describeFsError, openRegularFile, refuseSystemPath } from '../../fs/user-files.js'
import { ConvertEvalConfig } from '../../shared/convert-eval.js'
import { exportLayerFolder, importLayer } from '../../convert/export.js'
import { layerFrontier } from '../../convert/frontier.js'
import { LAYER_CONFIG_FILE } from '../../convert/layer-file.js'
import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import type { BackendContext } from '../context.js'
import { asApiError, layerRunDir } from './layer-run.js'

function guarded<T>(fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    throw asApiError(err)
  }
}

/** Queues a `convert-eval` run for a training or imported run's layer. */
export function queueEvaluation(ctx: BackendContext, input: ParsedInput<'convert.evaluate'>): Output<'convert.evaluate'> {
  const { runId, ...overrides } = input
  layerRunDir(ctx, runId)
  const config = ConvertEvalConfig.parse({ trainRunId: runId, ...overrides })
  const run = ctx.store.createRun('convert-eval', config)
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}

export async function exportLayer(ctx: BackendContext, input: ParsedInput<'convert.export'>): Promise<Output<'convert.export'>> {
  if (!isAbsolute(input.dir)) throw new ApiError('bad_request', `Give the export folder as an absolute path, not "${input.dir}".`)
  const src = layerRunDir(ctx, input.runId)
  try {
    const files = await exportLayerFolder(src, input.dir, { force: input.force, storeDir: ctx.store.dir })
    return { dir: input.dir, files }
  } catch (err) {
    throw asApiError(err)
  }
}

export async function importLayerFolder(ctx: BackendContext, input: ParsedInput<'convert.import'>): Promise<Output<'convert.import'>> {
  if (!isAbsolute(input.dir)) throw new ApiError('bad_request', `Give the layer folder as an absolute path, not "${input.dir}".`)
  await checkLayerFiles(input.dir)
  const { run, cfg, source } = guarded(() => importLayer(ctx.store, input.dir))
  ctx.notifyRunChanged?.(run)
  return { runId: run.id, architecture: cfg.architecture, layer: cfg.layer, k: cfg.k, source }
}

/**
 * The import reads the folder synchronously (it is small and validated as a whole); before it
 * does, on the event loop, refuse /proc, /sys, /dev and any cfg.json or weights file that is not
 * a regular file: a FIFO named cfg.json would block the server's main thread forever.
 */
async function checkLayerFiles(dir: string): Promise<void> {
  await refuseSystemPath(dir, 'The layer folder')
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    // A missing folder or a file: the import's own message says what a layer folder holds.
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return
    throw describeFsError(err, dir, 'The layer folder')
  }
  for (const name of names.filter((n) => n === LAYER_CONFIG_FILE || n.endsWith('.safetensors'))) {
    await (await openRegularFile(join(dir, name))).close()
  }
}

export function frontier(ctx: BackendContext, input: ParsedInput<'convert.getFrontier'>): Output<'convert.getFrontier'> {
  let modelPath = input.modelPath
  if (input.modelId !== undefined) {
    const model = ctx.store.getModel(input.modelId)
    if (!model) throw new ApiError('not_found', `There is no model ${input.modelId}.`)
    modelPath = model.path
  }
  return layerFrontier(ctx.store, modelPath!, input.layer)
}
