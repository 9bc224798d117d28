// The engine worker: interactive model work (the Playground) off the main thread, with models
// kept loaded between requests (load.ts shares weights per folder). One request at a time per
// id; a "stop" message ends a generation at its next token.
import { parentPort } from 'node:worker_threads'
import { initBackend, parseBackendName } from '../engine/backend.js'
import { generateTokens } from '../engine/generate.js'
import { loadLanguageModel } from '../engine/models/load.js'
import type { LanguageModel } from '../engine/models/model.js'
import { TextTokenizer } from '../engine/tokenizer.js'
import type { SparseLayer } from '../engine/layers/sparse-layer.js'
import { loadLayerFolder, readLayerConfig } from '../convert/layer-file.js'
import { splicedMlps } from '../convert/splice.js'
import type { EngineRequest, EngineResponse, FolderRequest, FolderResults, InspectRequest, InspectResults } from './engine-protocol.js'
import { predictImage } from './classify/predict.js'
import { ablateUnit, readActiveUnits } from '../analysis/features/inspect.js'
import { spliceMlp } from '../convert/splice.js'
import { resolveModelDir } from './convert/eval-inputs.js'
import { readdirSync, realpathSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describeModel } from '../engine/describe.js'
import { discoverHfCache, inspectModelFolder, ModelLoadError, type ModelInfo } from '../engine/model-folder.js'
import { refuseSystemPathSync } from '../fs/user-files.js'
import { workerData } from 'node:worker_threads'

const port = parentPort!
const send = (msg: EngineResponse): void => port.postMessage(msg)
const running = new Map<string, AbortController>()
const models = new Map<string, { model: LanguageModel; tokenizer: TextTokenizer | null }>()

async function modelFor(dir: string): Promise<{ model: LanguageModel; tokenizer: TextTokenizer | null }> {
  let entry = models.get(dir)
  if (!entry) {
    entry = { model: await loadLanguageModel(dir), tokenizer: TextTokenizer.fromFolder(dir) }
    models.set(dir, entry)
  }
  return entry
}

/**
 * Spliced layers by folder. The newest stays loaded (steering the same layer again is the common
 * case); an older one is freed once no generation uses it.
 */
const layers = new Map<string, { layer: SparseLayer; block: number; users: number }>()
let newestLayer = ''

function acquireLayer(dir: string): { layer: SparseLayer; block: number } {
  let entry = layers.get(dir)
  if (!entry) {
    const { layer, cfg } = loadLayerFolder(dir)
    entry = { layer, block: cfg.layer, users: 0 }
    layers.set(dir, entry)
  }
  entry.users++
  newestLayer = dir
  return entry
}

function releaseLayer(dir: string): void {
  const entry = layers.get(dir)
  if (entry) entry.users--
  for (const [d, e] of layers) {
    if (d !== newestLayer && e.users <= 0) {
      e.layer.dispose()
      layers.delete(d)
    }
  }
}

async function generate(req: Extract<EngineRequest, { type: 'generate' }>): Promise<void> {
  const abort = new AbortController()
  running.set(req.id, abort)
  let spliceDir: string | null = null
  try {
    const { model, tokenizer } = await modelFor(req.dir)
    if (!tokenizer) throw new Error(`${req.dir} has no tokenizer.json, so the Playground cannot read a text prompt.`)
    const promptIds = tokenizer.encode(req.prompt)
    if (promptIds.length === 0) throw new Error('The prompt is empty and this tokenizer adds no BOS token: type something first.')
    if (promptIds.length >= model.dims.maxPositions) {
      throw new Error(`The prompt is ${promptIds.length} tokens; this model reads at most ${model.dims.maxPositions}.`)
    }
    if (req.splice) spliceDir = req.splice.dir
    const mlpReplacements = req.splice ? splicedMlps(model, acquireLayer(req.splice.dir), req.splice.steer) : undefined
    send({ type: 'prompt', id: req.id, ids: promptIds, tokens: tokenizer.tokenStrings(promptIds) })
    const stream = generateTokens(model, promptIds, {
      ...req.options,
      tokenizer,
      modelName: req.dir,
      signal: abort.signal,
      topPredictions: req.topPredictions,
      ...(mlpReplacements ? { forward: { mlpReplacements } } : {}),
    })
    for (;;) {
      const step = await stream.next()
      if (step.done) {
        send({ type: 'done', id: req.id, result: step.value })
        return
      }
      const top = (step.value.top ?? []).map((t) => ({ ...t, text: tokenizer.decode([t.id]) }))
      send({ type: 'token', id: req.id, token: { ...step.value, top } })
    }
  } catch (err) {
    send({ type: 'error', id: req.id, message: err instanceof Error ? err.message : String(err) })
  } finally {
    running.delete(req.id)
    if (spliceDir !== null) releaseLayer(spliceDir)
  }
}

/**
 * features.search / features.ablate. They run here, on the Playground's worker, rather than on a
 * dedicated one: the token inspector reads the very model and layer the Playground has loaded, so
 * they share one copy (a second worker would hold a second copy of a multi-GB model), and a
 * generation yields between tokens, so a search waits at most one token's step. The model stays
 * loaded (modelFor) and the layer stays the newest (acquireLayer) between calls: the inspector
 * calls this on every click.
 */
async function inspectWork(req: InspectRequest): Promise<InspectResults[InspectRequest['op']]> {
  if (req.op === 'classify') return predictImage(req)
  const run = `run ${req.layer.layerRunId}`
  const cfg = readLayerConfig(req.layer.layerDir)
  let dir = `model "${cfg.model_name}"`
  let entry: { model: LanguageModel; tokenizer: TextTokenizer | null }
  try {
    dir = resolveModelDir({ listModels: () => req.layer.models }, undefined, req.layer.runConfig, cfg.training as Record<string, unknown>, cfg)
    entry = await modelFor(dir)
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err)
    throw new Error(`The model ${run}'s layer was trained on (${dir}) cannot be loaded: ${why.replace(/\.?$/, ".")} Put that model folder back where it was, or add it on the Models page.`, { cause: err })
  }
  const { model, tokenizer } = entry
  const what = `${run}'s model (${dir})`
  const { layer, block } = acquireLayer(req.layer.layerDir)
  try {
    if (req.op === 'search') return await readActiveUnits(model, tokenizer, layer, block, req, what)
    const contexts = await ablateUnit(model, layer, block, (onCodes) => spliceMlp(layer, { onCodes }), req.unit, req.contexts, what)
    return { contexts: contexts.map((c) => ({ ...c, nextText: tokenizer ? tokenizer.decode([c.nextId]) : null })) }
  } finally {
    releaseLayer(req.layer.layerDir)
  }
}

async function inspect(id: string, req: InspectRequest): Promise<void> {
  try {
    send({ type: 'inspect', id, ok: true, value: await inspectWork(req) })
  } catch (err) {
    send({ type: 'inspect', id, ok: false, message: err instanceof Error ? err.message : String(err) })
  }
}

/**
 * ModelInfo by folder, reused while none of the folder's files changed: the Models page lists
 * every folder each time it opens, and parsing a large tokenizer.json again each time would make
 * the list slow for nothing. The stamp is the names, sizes and mtimes of the files inspect reads.
 */
const infoCache = new Map<string, { stamp: string; info: ModelInfo }>()
const INSPECTED_FILE = /^(config\.json|tokenizer(_config)?\.json|special_tokens_map\.json|.*\.safetensors|.*\.index\.json)$/

function folderStamp(dir: string): string | null {
  try {
    return readdirSync(dir)
      .filter((f) => INSPECTED_FILE.test(f))
      .sort()
      .map((f) => {
        const st = statSync(join(dir, f))
        return `${f}:${st.size}:${st.mtimeMs}`
      })
      .join('|')
  } catch {
    return null // inspect reports what is wrong
  }
}

function inspectCached(dir: string): ModelInfo {
  const stamp = folderStamp(dir)
  const hit = infoCache.get(dir)
  if (stamp !== null && hit?.stamp === stamp) return hit.info
  const info = inspectModelFolder(dir)
  if (stamp !== null) infoCache.set(dir, { stamp, info })
  return info
}

/** Header-only work on a model folder (see FolderRequest): milliseconds, and special files are refused, never waited on. */
function folderWork(req: FolderRequest): FolderResults[FolderRequest['op']] {
  switch (req.op) {
    case 'list': {
      const discovered = discoverHfCache(req.env)
      const folders: FolderResults['list']['folders'] = {}
      for (const dir of new Set([...req.dirs, ...discovered.map((d) => d.path)])) {
        try {
          folders[dir] = { info: inspectCached(dir) }
        } catch (err) {
          folders[dir] = { error: err instanceof Error ? err.message : String(err) }
        }
      }
      return { discovered, folders }
    }
    case 'info':
      return inspectCached(req.dir)
    case 'describe':
      return describeModel(req.dir)
    case 'add': {
      try {
        refuseSystemPathSync(req.dir, 'Model folder')
      } catch (err) {
        throw new ModelLoadError((err as Error).message, { cause: err })
      }
      const path = realFolder(req.dir)
      if (path === null) {
        throw new ModelLoadError(`${req.dir} is not a folder: choose the folder that holds config.json and the safetensors files.`)
      }
      return { path, info: inspectModelFolder(path) }
    }
  }
}

function realFolder(dir: string): string | null {
  try {
    const path = realpathSync(dir)
    return statSync(path).isDirectory() ? path : null
  } catch {
    return null
  }
}

function folder(id: string, req: FolderRequest): void {
  try {
    send({ type: 'folder', id, ok: true, value: folderWork(req) })
  } catch (err) {
    send({ type: 'folder', id, ok: false, message: err instanceof Error ? err.message : String(err) })
  }
}

const data = workerData as { backend?: string; foldersOnly?: boolean } | null
// A folders-only instance (see EngineService) answers model-folder requests alone: it needs no
// compute backend, and is never stuck behind a model loading or a generation.
if (!data?.foldersOnly) await initBackend(parseBackendName(data?.backend))
port.on('message', (req: EngineRequest) => {
  if (req.type === 'folder') folder(req.id, req.request)
  else if (data?.foldersOnly) return
  else if (req.type === 'generate') void generate(req)
  else if (req.type === 'inspect') void inspect(req.id, req.request)
  else if (req.type === 'stop') running.get(req.id)?.abort()
})
send({ type: 'ready' })
