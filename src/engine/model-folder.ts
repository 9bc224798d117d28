// Opens a Hugging Face model folder (config.json, safetensors weights in one file or in shards,
// optional tokenizer files) without contacting the hub and without reading tensor data: opening
// reads headers only, so inspecting a 10 GB model takes milliseconds. Every failure a user can
// meet (wrong folder, pickled weights, missing shard, unsupported architecture) becomes a
// ModelLoadError that names the file and says how to fix it.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { basename, isAbsolute, join, normalize, sep } from 'node:path'
import { readRegularFileSync, refuseSystemPathSync, UserPathError } from '../fs/user-files.js'
import { checkTensors, validateConfig, type ValidConfig } from './architectures.js'
import { SafetensorsError, SafetensorsFile, type TensorInfo } from './safetensors.js'

import { ModelLoadError } from './load-error.js'
import { SUPPORTED_MODEL_TYPES, type Architecture } from './models/registry.js'

export { ModelLoadError, SUPPORTED_MODEL_TYPES, type Architecture }

/** Tensors of a model, over one safetensors file or many shards. */
export interface WeightStore {
  names(): string[]
  has(name: string): boolean
  info(name: string): TensorInfo & { file: string }
  readFloat32(name: string): Float32Array
  close(): void
}

export interface ModelInfo {
  dir: string
  /** "org/name" for a Hugging Face cache snapshot, else the folder's name. */
  name: string
  architecture: Architecture
  modelType: string
  /** Elements of all stored weights (buffers such as causal masks and rotary tables excluded). */
  parameters: number
  layers: number
  dModel: number
  mlpWidth: number
  heads: number
  kvHeads: number
  vocabSize: number
  contextLength: number
  /** The weights' stored dtype, e.g. 'F16', or 'mixed'. */
  dtype: string
  /** Bytes of the weight files. */
  sizeOnDisk: number
  /** Bytes of memory the app needs to run the model; see estimateMemoryBytes. */
  memoryBytes: number
  hasTokenizer: boolean
}

export interface TokenizerFiles {
  tokenizerJson: string
  tokenizerConfig: string | null
  specialTokensMap: string | null
}

export interface ModelFolder {
  dir: string
  config: Record<string, unknown>
  /** config.json checked against the architecture (see architectures.ts), defaults filled in. */
  valid: ValidConfig
  architecture: Architecture
  weights: WeightStore
  info: ModelInfo
  tokenizerFiles: TokenizerFiles | null
  close(): void
}

/**
 * Opens a model folder and checks, from config.json and the safetensors headers alone, everything
 * loading will rely on (architectures.ts): a folder this accepts loads. Every file is opened
 * through fs/user-files, so a FIFO or device named config.json is refused instead of hanging.
 */
export function openModelFolder(dir: string): ModelFolder {
  try {
    refuseSystemPathSync(dir, 'Model folder')
  } catch (err) {
    throw asLoadError(err)
  }
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ModelLoadError(
      `Model folder ${dir} does not exist or is not a folder: choose the folder that holds config.json and the .safetensors weights.`,
    )
  }
  const config = readConfig(dir)
  const architecture = architectureOf(dir, config)
  const valid = validateConfig(architecture, config, join(dir, 'config.json'))
  const tokenizerFiles = findTokenizerFiles(dir)
  const { store, files } = openWeights(dir)
  try {
    checkTensors(valid, store, files)
    const info = describe(dir, architecture, valid, store, files, tokenizerFiles !== null)
    return { dir, config, valid, architecture, weights: store, info, tokenizerFiles, close: () => store.close() }
  } catch (err) {
    store.close()
    throw err
  }
}

/** Opens, summarises and closes a model folder. */
export function inspectModelFolder(dir: string): ModelInfo {
  const folder = openModelFolder(dir)
  folder.close()
  return folder.info
}

// ---------------------------------------------------------------------------------- config

/** A user-path error (FIFO, device, permission…) keeps its sentence, as a ModelLoadError. */
function asLoadError(err: unknown): unknown {
  return err instanceof UserPathError ? new ModelLoadError(err.message, { cause: err }) : err
}

// A config.json or index of a real model is a few KB; a tokenizer.json a few MB.
const MAX_JSON_BYTES = 64 * 1024 * 1024

function readJsonFile(path: string, fix: string): unknown {
  let text: string
  try {
    text = readRegularFileSync(path, { maxBytes: MAX_JSON_BYTES }).toString('utf8')
  } catch (err) {
    throw asLoadError(err)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ModelLoadError(`${path} is not valid JSON (${(err as Error).message}): ${fix}`, { cause: err })
  }
}

function readConfig(dir: string): Record<string, unknown> {
  const path = join(dir, 'config.json')
  if (!existsSync(path)) {
    throw new ModelLoadError(
      `${dir} has no config.json: this does not look like a Hugging Face model folder. Choose the folder that holds config.json (in the Hugging Face cache: models--org--name/snapshots/<revision>/), or download the complete model.`,
    )
  }
  const config = readJsonFile(path, 're-download config.json or restore it from the model page')
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new ModelLoadError(`${path} is not a JSON object: re-download config.json from the model page.`)
  }
  return config as Record<string, unknown>
}

function architectureOf(dir: string, config: Record<string, unknown>): Architecture {
  const modelType = config.model_type
  if ((SUPPORTED_MODEL_TYPES as readonly unknown[]).includes(modelType)) return modelType as Architecture
  const found = typeof modelType === 'string' ? `model_type "${modelType}"` : 'no model_type'
  throw new ModelLoadError(
    `${join(dir, 'config.json')} has ${found}; MxD Studio supports ${SUPPORTED_MODEL_TYPES.join(', ')} (GPT-2, Pythia/GPT-NeoX, Llama families). Choose a model of one of these architectures.`,
  )
}

// --------------------------------------------------------------------------------- weights

const PICKLE_EXTENSIONS = ['.bin', '.pt', '.pth', '.ckpt']

function openWeights(dir: string): { store: WeightStore; files: string[] } {
  if (existsSync(join(dir, 'model.safetensors'))) {
    const file = join(dir, 'model.safetensors')
    const shard = openShard(file)
    return { store: new ShardedWeights(dir, new Map([...shard.tensors.keys()].map((name) => [name, shard])), [shard]), files: [file] }
  }
  const indexPath = join(dir, 'model.safetensors.index.json')
  if (existsSync(indexPath)) return openShardedWeights(dir, indexPath)
  throw noSafetensors(dir)
}

function noSafetensors(dir: string): ModelLoadError {
  const pickles = listDir(dir).filter((f) => PICKLE_EXTENSIONS.some((ext) => f.endsWith(ext)))
  if (pickles.length === 0) {
    return new ModelLoadError(
      `${dir} has no model.safetensors or model.safetensors.index.json: download the model's .safetensors weights into this folder.`,
    )
  }
  const quoted = JSON.stringify(dir)
  return new ModelLoadError(
    `${dir} holds only PyTorch pickle weights (${pickles.join(', ')}), which MxD Studio does not load because unpickling can run arbitrary code. ` +
      `Convert them once to safetensors with Python and the transformers package:\n` +
      `  from transformers import AutoModelForCausalLM\n` +
      `  model = AutoModelForCausalLM.from_pretrained(${quoted})\n` +
      `  model.save_pretrained(${quoted}, safe_serialization=True)\n` +
      `(or, for a bare state dict: safetensors.torch.save_file(torch.load(path), "model.safetensors")). Then open the folder again.`,
  )
}

function openShardedWeights(dir: string, indexPath: string): { store: WeightStore; files: string[] } {
  const weightMap = readWeightMap(indexPath)
  const shards = new Map<string, SafetensorsFile>()
  const byName = new Map<string, SafetensorsFile>()
  try {
    for (const [tensor, fileName] of Object.entries(weightMap)) {
      let shard = shards.get(fileName)
      if (shard === undefined) {
        const file = join(dir, fileName)
        if (!existsSync(file)) {
          throw new ModelLoadError(
            `${indexPath} names the shard ${fileName}, which is missing from ${dir}: download the missing shard (the download was probably interrupted).`,
          )
        }
        shard = openShard(file)
        shards.set(fileName, shard)
      }
      if (!shard.tensors.has(tensor)) {
        throw new ModelLoadError(
          `${indexPath} says tensor "${tensor}" is in ${fileName}, but that shard does not contain it: re-download the model's index and shards from the same revision.`,
        )
      }
      byName.set(tensor, shard)
    }
  } catch (err) {
    for (const shard of shards.values()) shard.close()
    throw err
  }
  const opened = [...shards.values()]
  return { store: new ShardedWeights(dir, byName, opened), files: opened.map((s) => s.path) }
}

/** The index's weight_map, with shard names confined to the model folder (the index is untrusted). */
function readWeightMap(indexPath: string): Record<string, string> {
  const index = readJsonFile(indexPath, 're-download model.safetensors.index.json')
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map
  const entries = typeof weightMap === 'object' && weightMap !== null ? Object.entries(weightMap) : null
  const safe = (f: unknown): f is string => typeof f === 'string' && f !== '' && !isAbsolute(f) && !normalize(f).startsWith('..')
  if (entries === null || entries.length === 0 || !entries.every(([, file]) => safe(file))) {
    throw new ModelLoadError(
      `${indexPath} has no valid "weight_map" (tensor name → shard file in this folder): re-download model.safetensors.index.json.`,
    )
  }
  return Object.fromEntries(entries) as Record<string, string>
}

/** SafetensorsFile.open, with its error (which already names the file and the fix) as a ModelLoadError. */
function openShard(file: string): SafetensorsFile {
  try {
    return SafetensorsFile.open(file)
  } catch (err) {
    if (err instanceof SafetensorsError) throw new ModelLoadError(err.message, { cause: err })
    throw asLoadError(err)
  }
}

class ShardedWeights implements WeightStore {
  constructor(
    private readonly dir: string,
    private readonly byName: ReadonlyMap<string, SafetensorsFile>,
    private readonly shards: readonly SafetensorsFile[],
  ) {}

  names(): string[] {
    return [...this.byName.keys()]
  }

  has(name: string): boolean {
    return this.byName.has(name)
  }

  info(name: string): TensorInfo & { file: string } {
    const shard = this.shard(name)
    return { ...shard.info(name), file: shard.path }
  }

  readFloat32(name: string): Float32Array {
    return this.shard(name).readFloat32(name)
  }

  close(): void {
    for (const shard of this.shards) shard.close()
  }

  private shard(name: string): SafetensorsFile {
    const shard = this.byName.get(name)
    if (shard === undefined) throw new ModelLoadError(`The model in ${this.dir} has no tensor named "${name}".`)
    return shard
  }
}

// ------------------------------------------------------------------------------- tokenizer

function findTokenizerFiles(dir: string): TokenizerFiles | null {
  const tokenizerJson = join(dir, 'tokenizer.json')
  if (!existsSync(tokenizerJson)) return null
  readJsonFile(tokenizerJson, 're-download tokenizer.json from the model page')
  const optional = (file: string): string | null => (existsSync(join(dir, file)) ? join(dir, file) : null)
  return { tokenizerJson, tokenizerConfig: optional('tokenizer_config.json'), specialTokensMap: optional('special_tokens_map.json') }
}

// --------------------------------------------------------------------------------- summary

/** Buffers some checkpoints store beside the weights (GPT-2/NeoX causal masks, rotary tables): not parameters. */
function isBuffer(name: string, shape: number[]): boolean {
  return /\.(attn|attention)\.(bias|masked_bias)$/.test(name) ? shape.length !== 1 : /(masked_bias|rotary_emb\.inv_freq)$/.test(name)
}

function describe(
  dir: string,
  architecture: Architecture,
  valid: ValidConfig,
  store: WeightStore,
  files: string[],
  hasTokenizer: boolean,
): ModelInfo {
  let parameters = 0
  const dtypes = new Set<string>()
  for (const name of store.names()) {
    const { shape, dtype } = store.info(name)
    if (isBuffer(name, shape)) continue
    parameters += shape.reduce((a, b) => a * b, 1)
    dtypes.add(dtype)
  }
  const d = valid.dims
  return {
    dir,
    name: modelName(dir),
    architecture,
    modelType: architecture,
    parameters,
    layers: d.nLayers,
    dModel: d.dModel,
    mlpWidth: d.dMlp,
    heads: d.nHeads,
    kvHeads: d.nKvHeads,
    vocabSize: d.vocabSize,
    contextLength: d.maxPositions,
    dtype: dtypes.size === 1 ? [...dtypes][0]! : 'mixed',
    sizeOnDisk: files.reduce((sum, file) => sum + statSync(file).size, 0),
    memoryBytes: estimateMemoryBytes(parameters),
    hasTokenizer,
  }
}

const MIB = 1024 * 1024

/**
 * Memory to run the model: every weight widened to float32 (tfjs computes in float32 only), plus a
 * working margin of 20% of that or 256 MiB, whichever is larger, for activations, the tensor
 * being widened while loading, and the runtime's own scratch space:
 *   memoryBytes = 4 × parameters + max(0.2 × 4 × parameters, 256 MiB)
 */
function estimateMemoryBytes(parameters: number): number {
  const weights = 4 * parameters
  return weights + Math.max(Math.ceil(0.2 * weights), 256 * MIB)
}

/** "org/name" for a folder inside the Hugging Face cache (…/models--org--name/snapshots/<rev>), else its name. */
function modelName(dir: string): string {
  const parts = normalize(dir).split(sep).filter(Boolean)
  const snapshots = parts.lastIndexOf('snapshots')
  const repo = snapshots > 0 ? parts[snapshots - 1] : undefined
  if (repo?.startsWith('models--') && snapshots === parts.length - 2) return repoName(repo)
  return basename(normalize(dir))
}

function repoName(cacheFolder: string): string {
  return cacheFolder.slice('models--'.length).split('--').join('/')
}

// ------------------------------------------------------------------ Hugging Face cache

export interface DiscoveredModel {
  path: string
  name: string
  revision: string
}

/** Where huggingface_hub keeps its cache, following its environment variables. */
function hubCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE
  if (env.HF_HOME) return join(env.HF_HOME, 'hub')
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'huggingface', 'hub')
  return join(env.HOME ?? env.USERPROFILE ?? homedir(), '.cache', 'huggingface', 'hub')
}

/**
 * Models in the local Hugging Face cache: each models--org--name/snapshots/<rev>/ that holds a
 * config.json. When refs/main names a usable snapshot only that one is listed (it is what
 * from_pretrained would load); otherwise every usable snapshot is. Odd entries are skipped.
 */
export function discoverHfCache(env: NodeJS.ProcessEnv = process.env): DiscoveredModel[] {
  const hub = hubCacheDir(env)
  const found: DiscoveredModel[] = []
  for (const entry of listDir(hub)) {
    if (!entry.startsWith('models--')) continue
    const repoDir = join(hub, entry)
    const name = repoName(entry)
    const usable = listDir(join(repoDir, 'snapshots')).filter((rev) => isFile(join(repoDir, 'snapshots', rev, 'config.json')))
    const main = readRef(join(repoDir, 'refs', 'main'))
    const chosen = main !== null && usable.includes(main) ? [main] : usable
    for (const revision of chosen) found.push({ path: join(repoDir, 'snapshots', revision), name, revision })
  }
  return found.sort((a, b) => a.name.localeCompare(b.name) || a.revision.localeCompare(b.revision))
}

function readRef(path: string): string | null {
  try {
    // A ref is a 40-character hash; anything odd (a FIFO, a huge file) is no ref.
    return readRegularFileSync(path, { maxBytes: 4096 }).toString('utf8').trim() || null
  } catch {
    return null
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}
