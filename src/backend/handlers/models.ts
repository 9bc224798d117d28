// The Models page: folders the user added, models in the Hugging Face cache and the models
// shipped with the app, each described from its files (headers only; nothing is loaded).
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { describeModel } from '../../engine/describe.js'
import { discoverHfCache, inspectModelFolder } from '../../engine/model-folder.js'
import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import type { ModelEntry } from '../../shared/models.js'
import type { ModelRow, ModelSource } from '../../store/store.js'
import type { BackendContext } from '../context.js'

function toEntry(row: ModelRow): ModelEntry {
  const base = { id: row.id, path: row.path, name: row.name, architecture: row.architecture, source: row.source, addedAt: row.added_at }
  try {
    return { ...base, info: inspectModelFolder(row.path), error: null }
  } catch (err) {
    return { ...base, info: null, error: (err as Error).message }
  }
}

function register(ctx: BackendContext, path: string, source: ModelSource): ModelRow {
  const info = inspectModelFolder(path)
  return ctx.store.upsertModel({ path, name: info.name, architecture: info.architecture, source, info })
}

/** Folders under resources/models (the demo model) that hold a config.json. */
function bundledModelDirs(dir: string | undefined): string[] {
  if (!dir || !existsSync(dir)) return []
  return readdirSync(dir)
    .map((name) => join(dir, name))
    .filter((p) => statSync(p).isDirectory() && existsSync(join(p, 'config.json')))
}

export function listModels(ctx: BackendContext): Output<'models.list'> {
  const known = new Set(ctx.store.listModels().map((m) => m.path))
  const found: [string, ModelSource][] = [
    ...bundledModelDirs(ctx.bundledModelsDir).map((p): [string, ModelSource] => [p, 'bundled']),
    ...discoverHfCache().map((d): [string, ModelSource] => [d.path, 'hf-cache']),
  ]
  for (const [path, source] of found) {
    if (known.has(path)) continue
    try {
      register(ctx, path, source)
    } catch {
      // A half-downloaded cache entry is not the user's doing: list what can be read.
    }
  }
  return ctx.store.listModels().map(toEntry)
}

export function addModel(ctx: BackendContext, input: ParsedInput<'models.add'>): Output<'models.add'> {
  if (!isAbsolute(input.path)) throw new ApiError('bad_request', `Give the model folder as an absolute path, not "${input.path}".`)
  if (!existsSync(input.path) || !statSync(input.path).isDirectory()) {
    throw new ApiError('bad_request', `${input.path} is not a folder: choose the folder that holds config.json and the safetensors files.`)
  }
  const path = realpathSync(input.path)
  try {
    return toEntry(register(ctx, path, 'added'))
  } catch (err) {
    throw new ApiError('bad_request', (err as Error).message)
  }
}

export function removeModel(ctx: BackendContext, input: ParsedInput<'models.remove'>): Output<'models.remove'> {
  return { removed: ctx.store.removeModel(input.id) }
}

export function modelRow(ctx: BackendContext, id: number): ModelRow {
  const row = ctx.store.getModel(id)
  if (!row) throw new ApiError('not_found', `There is no model ${id}.`)
  return row
}

export function inspectModel(ctx: BackendContext, input: ParsedInput<'models.inspect'>): Output<'models.inspect'> {
  const row = modelRow(ctx, input.id)
  try {
    return describeModel(row.path)
  } catch (err) {
    throw new ApiError('conflict', `${row.path} can no longer be read: ${(err as Error).message}`)
  }
}
