// The Models page: folders the user added, models in the Hugging Face cache and the models
// shipped with the app, each described from its files (headers only; nothing is loaded). Every
// file access to a user's folder happens in the engine worker (ctx.engine.folder), never on the
// server's event loop: a folder on a stalled network mount, or a FIFO named config.json, must
// not freeze the server for every client.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import type { ModelInfo } from '../../engine/model-folder.js'
import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import type { ModelEntry } from '../../shared/models.js'
import type { ModelRow, ModelSource } from '../../store/store.js'
import type { BackendContext } from '../context.js'

type Inspected = { info: ModelInfo } | { error: string }

function toEntry(row: ModelRow, inspected: Inspected): ModelEntry {
  const base = { id: row.id, path: row.path, name: row.name, architecture: row.architecture, source: row.source, addedAt: row.added_at }
  return 'info' in inspected ? { ...base, info: inspected.info, error: null } : { ...base, info: null, error: inspected.error }
}

async function inspectOne(ctx: BackendContext, dir: string): Promise<Inspected> {
  try {
    return { info: await ctx.engine.folder({ op: 'info', dir }) }
  } catch (err) {
    return { error: (err as Error).message }
  }
}

function register(ctx: BackendContext, path: string, info: ModelInfo, source: ModelSource): ModelRow {
  return ctx.store.upsertModel({ path, name: info.name, architecture: info.architecture, source, info })
}

/** Folders under resources/models (the demo model, shipped with the app: not a user's path) that hold a config.json. */
function bundledModelDirs(dir: string | undefined): string[] {
  if (!dir || !existsSync(dir)) return []
  return readdirSync(dir)
    .map((name) => join(dir, name))
    .filter((p) => statSync(p).isDirectory() && existsSync(join(p, 'config.json')))
}

/** The HF cache location comes from these variables; the worker is told them with each request. */
const HF_ENV = ['HF_HUB_CACHE', 'HF_HOME', 'XDG_CACHE_HOME', 'HOME', 'USERPROFILE'] as const

export async function listModels(ctx: BackendContext): Promise<Output<'models.list'>> {
  const rows = ctx.store.listModels()
  const known = new Set(rows.map((m) => m.path))
  const bundled = bundledModelDirs(ctx.bundledModelsDir)
  const env = Object.fromEntries(HF_ENV.map((k) => [k, process.env[k]]))
  // One round trip to the worker for the whole page (every folder inspected there, in one go).
  const { discovered, folders } = await ctx.engine.folder({ op: 'list', env, dirs: [...rows.map((r) => r.path), ...bundled] })
  const found: [string, ModelSource][] = [
    ...bundled.map((p): [string, ModelSource] => [p, 'bundled']),
    ...discovered.map((d): [string, ModelSource] => [d.path, 'hf-cache']),
  ]
  for (const [path, source] of found) {
    const inspected = folders[path]
    // A half-downloaded cache entry is not the user's doing: list what can be read.
    if (known.has(path) || !inspected || !('info' in inspected)) continue
    register(ctx, path, inspected.info, source)
  }
  // A folder added while the worker was busy was not in that round trip: inspect it now.
  return Promise.all(ctx.store.listModels().map(async (row) => toEntry(row, folders[row.path] ?? (await inspectOne(ctx, row.path)))))
}

export async function addModel(ctx: BackendContext, input: ParsedInput<'models.add'>): Promise<Output<'models.add'>> {
  if (!isAbsolute(input.path)) throw new ApiError('bad_request', `Give the model folder as an absolute path, not "${input.path}".`)
  let added: { path: string; info: ModelInfo }
  try {
    added = await ctx.engine.folder({ op: 'add', dir: input.path })
  } catch (err) {
    throw new ApiError('bad_request', (err as Error).message)
  }
  return toEntry(register(ctx, added.path, added.info, 'added'), { info: added.info })
}

export function removeModel(ctx: BackendContext, input: ParsedInput<'models.remove'>): Output<'models.remove'> {
  return { removed: ctx.store.removeModel(input.id) }
}

export function modelRow(ctx: BackendContext, id: number): ModelRow {
  const row = ctx.store.getModel(id)
  if (!row) throw new ApiError('not_found', `There is no model ${id}.`)
  return row
}

export async function inspectModel(ctx: BackendContext, input: ParsedInput<'models.inspect'>): Promise<Output<'models.inspect'>> {
  const row = modelRow(ctx, input.id)
  try {
    return await ctx.engine.folder({ op: 'describe', dir: row.path })
  } catch (err) {
    throw new ApiError('conflict', `${row.path} can no longer be read: ${(err as Error).message}`)
  }
}
