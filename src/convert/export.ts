// Export and import of trained layers (README "Layer file format"). A run's layer lives in
// runDir/layer as cfg.json + sae_weights.safetensors (layer-file.ts); export copies that folder
// out atomically, import validates a folder (ours, or a SAELens-style TopK transcoder) and
// registers it as a `layer-import` run carrying a copy, so that it is listed, evaluated, drawn on
// the frontier and spliced exactly like a trained layer.
import { randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, type Stats } from 'node:fs'
import { copyFile, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve, sep } from 'node:path'
import { describeFsError, refuseSystemPath } from '../fs/user-files.js'
import type { Run } from '../shared/api.js'
import { SafetensorsFile, writeSafetensors, type WritableTensor } from '../engine/safetensors.js'
import { writeFileAtomic } from '../store/files.js'
import { DB_FILE, type Store } from '../store/store.js'
import { layerKinds, type LayerKindDescriptor } from '../shared/layer-kinds/index.js'
import {
  LAYER_CONFIG_FILE,
  LAYER_FORMAT_VERSION,
  LAYER_WEIGHTS_FILE,
  LayerFileError,
  loadLayerFolder,
  readLayerConfig,
  shapeFieldsOf,
  type LayerFileConfig,
} from './layer-file.js'

/** Run kinds whose run folder holds a layer in runDir/layer. */
export const LAYER_RUN_KINDS: readonly string[] = ['convert', 'layer-import']

export const LAYER_SUBDIR = 'layer'

/** The layer folder of a training or imported run; throws a message a user can act on. */
export function runLayerDir(store: Store, runId: number): string {
  const run = store.getRun(runId)
  if (!run) throw new LayerFileError(`There is no run ${runId}.`)
  if (!LAYER_RUN_KINDS.includes(run.kind)) {
    throw new LayerFileError(`Run ${runId} is a ${run.kind} run; only conversion (convert) and imported (layer-import) runs have a layer.`)
  }
  const dir = join(store.dir, 'runs', String(runId), LAYER_SUBDIR)
  if (!existsSync(join(dir, LAYER_CONFIG_FILE))) {
    throw new LayerFileError(
      `Run ${runId} (${run.status}) has no trained layer yet: ${dir} holds no ${LAYER_CONFIG_FILE}. Wait for it to finish, or resume it.`,
    )
  }
  return dir
}

/** "12" → run 12's layer folder (needs the store); anything else is a layer folder path. */
export function resolveLayerSpec(spec: string, store: Store | undefined): string {
  if (/^\d+$/.test(spec)) {
    if (!store) throw new LayerFileError(`"${spec}" names a run: give --store DIR too, or the path of a layer folder.`)
    return runLayerDir(store, Number(spec))
  }
  return resolve(spec)
}

// ------------------------------------------------------------------------------------ export

/** Exactly the files a layer export writes: all that `force` may ever replace in a folder. */
export const EXPORT_FILES: readonly string[] = [LAYER_CONFIG_FILE, LAYER_WEIGHTS_FILE]

/** The store's database files: a folder holding any of them is never an export target. */
const STORE_DB_FILES = [DB_FILE, `${DB_FILE}-wal`, `${DB_FILE}-shm`, `${DB_FILE}-journal`]

export interface ExportOptions {
  /** Replace a previous export (only its cfg.json and weights) in `outDir`. */
  force?: boolean
  /** The store folder, refused as a target along with everything inside it. */
  storeDir?: string
}

const listFiles = (names: readonly string[]): string => names.map((n) => `"${n}"`).join(', ')

/**
 * Copies a layer folder's cfg.json and weights to `outDir`. The target must be new, empty, or
 * (with `force`) hold nothing but a previous export's files, which are then replaced one by one
 * by atomic renames; nothing else in it is ever touched. The store folder, anything inside it,
 * a folder holding a store database and /proc, /sys, /dev are refused before any write. All
 * filesystem work is async: this runs on the server's event loop in web mode.
 */
export async function exportLayerFolder(srcDir: string, outDir: string, opts: ExportOptions = {}): Promise<string[]> {
  readLayerConfig(srcDir) // refuses a folder that is not a layer (the store's own run folder)
  const out = resolve(outDir)
  // Before any mkdir: a recursive mkdir under /proc never returns.
  const real = await refuseSystemPath(out, 'The export folder')
  if (opts.storeDir !== undefined) {
    const store = await refuseSystemPath(opts.storeDir)
    if (real === store || real.startsWith(store + sep)) {
      throw new LayerFileError(
        `${out} is ${real === store ? 'the store folder' : 'inside the store folder ' + store}, which holds the app's database and runs: choose a folder of your own for the export.`,
      )
    }
  }
  let existing: Stats | null = null
  try {
    existing = await stat(out)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw describeFsError(err, out, 'The export folder')
  }
  if (existing && !existing.isDirectory()) throw new LayerFileError(`${out} exists and is a file: choose a folder path.`)
  const entries = existing ? await readdir(out).catch((err: unknown) => Promise.reject(describeFsError(err, out, 'The export folder'))) : []
  const dbFiles = entries.filter((f) => STORE_DB_FILES.includes(f))
  if (dbFiles.length > 0) {
    throw new LayerFileError(
      `${out} holds an MxD Studio store database (${listFiles(dbFiles)}): exporting there could destroy it. Choose another folder; nothing was changed.`,
    )
  }
  const foreign = entries.filter((f) => !EXPORT_FILES.includes(f))
  if (foreign.length > 0) {
    const shown = foreign.length > 10 ? `${listFiles(foreign.slice(0, 10))} and ${foreign.length - 10} more` : listFiles(foreign)
    throw new LayerFileError(
      `${out} is not empty: it holds ${shown}, which a layer export does not write. Choose a new or empty folder; --force only replaces a previous export (${listFiles(EXPORT_FILES)}) and never deletes other files. Nothing was changed.`,
    )
  }
  if (entries.length > 0 && !opts.force) {
    throw new LayerFileError(`${out} is not empty: it holds a previous export (${listFiles(entries)}). Choose a new folder, or pass --force to replace it.`)
  }
  try {
    await mkdir(dirname(out), { recursive: true })
  } catch (err) {
    throw describeFsError(err, dirname(out), 'The export folder')
  }
  const staging = join(dirname(out), `.${basename(out)}.${randomBytes(6).toString('hex')}.partial`)
  try {
    await mkdir(staging)
    for (const f of EXPORT_FILES) await copyDurably(join(srcDir, f), join(staging, f))
    if (existing) {
      // Only our own files, each replaced by an atomic rename: the folder itself and anything
      // that appeared in it meanwhile stay as they are.
      for (const f of EXPORT_FILES) await rename(join(staging, f), join(out, f))
      await rm(staging, { recursive: true, force: true })
    } else {
      await rename(staging, out)
    }
  } catch (err) {
    await rm(staging, { recursive: true, force: true })
    // Name the file the system named (a missing weights file in the run, a full disk at the target).
    const path = (err as NodeJS.ErrnoException).path
    throw typeof path === 'string' ? describeFsError(err, path) : describeFsError(err, out, 'The export folder')
  }
  return EXPORT_FILES.map((f) => join(out, f))
}

async function copyDurably(from: string, to: string): Promise<void> {
  await copyFile(from, to)
  const fh = await open(to, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

// ------------------------------------------------------------------------------------ import

export type ImportSource = 'mxd-studio' | 'saelens'

export interface ImportedLayer {
  run: Run
  cfg: LayerFileConfig
  source: ImportSource
}

/**
 * Validates `dir` (cfg.json, tensor names, shapes and dtypes), copies it into the store and
 * registers a `layer-import` run (status succeeded) with it. A folder that fails any check
 * registers nothing.
 */
export function importLayer(store: Store, dir: string): ImportedLayer {
  const src = resolve(dir)
  const staging = join(store.dir, 'runs', `.import-${randomBytes(6).toString('hex')}`)
  mkdirSync(staging, { recursive: true })
  try {
    const { cfg, source } = stageLayer(src, staging)
    const run = store.createRun('layer-import', {
      source: src,
      format: source,
      architecture: cfg.architecture,
      layer: cfg.layer,
      k: cfg.k,
      model_name: cfg.model_name,
      model_hash: cfg.model_hash,
      ...(typeof cfg.training.model === 'string' ? { model: cfg.training.model } : {}),
    })
    try {
      renameSync(staging, join(store.runDir(run.id), LAYER_SUBDIR))
    } catch (err) {
      store.db.prepare('DELETE FROM runs WHERE id = ?').run(run.id)
      throw err
    }
    store.log(run.id, 'info', `Imported a ${cfg.architecture} layer (block ${cfg.layer}, k = ${cfg.k}) from ${src}.`)
    return { run: store.setRunStatus(run.id, 'succeeded'), cfg, source }
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
}

/**
 * Writes a validated copy of `src` into `staging` in our format and checks that it loads. Our
 * own folders are copied as they are; a SAELens-style folder gets a cfg.json in our format (its
 * own kept under training.source_cfg) and F32 weights.
 */
function stageLayer(src: string, staging: string): { cfg: LayerFileConfig; source: ImportSource } {
  if (!existsSync(src) || !statSync(src).isDirectory()) {
    throw new LayerFileError(`${src} is not a folder: give the folder that holds ${LAYER_CONFIG_FILE} and the weights (.safetensors).`)
  }
  const cfgPath = join(src, LAYER_CONFIG_FILE)
  if (!existsSync(cfgPath)) {
    throw new LayerFileError(
      `${src} has no ${LAYER_CONFIG_FILE}: a layer folder holds ${LAYER_CONFIG_FILE} and ${LAYER_WEIGHTS_FILE} (see "Layer file format" in the README).`,
    )
  }
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>
  } catch (err) {
    throw new LayerFileError(`${cfgPath} is not valid JSON (${(err as Error).message}): fix or re-export it.`)
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new LayerFileError(`${cfgPath} must hold a JSON object.`)

  let source: ImportSource
  let weightsPath: string
  if ('format_version' in raw) {
    source = 'mxd-studio'
    readLayerConfig(src) // cfg.json on its own, with its error messages
    const weights = (weightsPath = join(src, LAYER_WEIGHTS_FILE))
    if (!existsSync(weights)) throw new LayerFileError(`${src} has ${LAYER_CONFIG_FILE} but no ${LAYER_WEIGHTS_FILE}: re-export the layer.`)
    checkFloatDtypes(weights)
    copyFileSync(cfgPath, join(staging, LAYER_CONFIG_FILE))
    copyFileSync(weights, join(staging, LAYER_WEIGHTS_FILE))
  } else {
    source = 'saelens'
    const weights = (weightsPath = findWeightsFile(src))
    checkFloatDtypes(weights)
    const file = SafetensorsFile.open(weights)
    try {
      const cfg = saelensConfig(raw, cfgPath, file, src)
      const tensors: Record<string, WritableTensor> = {}
      for (const [name, info] of file.tensors) tensors[name] = { dtype: 'F32', shape: info.shape, data: file.readFloat32(name) }
      writeSafetensors(join(staging, LAYER_WEIGHTS_FILE), tensors, { format: 'pt', architecture: cfg.architecture })
      writeFileAtomic(join(staging, LAYER_CONFIG_FILE), new TextEncoder().encode(JSON.stringify(cfg, null, 2) + '\n'))
    } finally {
      file.close()
    }
  }
  // The real test: every tensor by name and shape against cfg.json, loaded as the app will. Its
  // errors name the staged copy; point them at the user's own files instead.
  try {
    const { layer, cfg } = loadLayerFolder(staging)
    layer.dispose()
    return { cfg, source }
  } catch (err) {
    if (err instanceof Error) {
      err.message = err.message
        .replaceAll(join(staging, LAYER_WEIGHTS_FILE), weightsPath)
        .replaceAll(join(staging, LAYER_CONFIG_FILE), cfgPath)
        .replaceAll(staging, src)
    }
    throw err
  }
}

const READABLE_DTYPES = new Set(['F32', 'F16', 'BF16'])

function checkFloatDtypes(path: string): void {
  const file = SafetensorsFile.open(path)
  try {
    for (const info of file.tensors.values()) {
      if (!READABLE_DTYPES.has(info.dtype)) {
        throw new LayerFileError(`${path}: tensor "${info.name}" is ${info.dtype}; layer weights must be F32, F16 or BF16: re-export them as float32.`)
      }
    }
  } finally {
    file.close()
  }
}

/** sae_weights.safetensors, else the folder's only .safetensors file. */
function findWeightsFile(dir: string): string {
  const preferred = join(dir, LAYER_WEIGHTS_FILE)
  if (existsSync(preferred)) return preferred
  const found = readdirSync(dir).filter((f) => f.endsWith('.safetensors'))
  if (found.length === 1) return join(dir, found[0]!)
  if (found.length === 0) throw new LayerFileError(`${dir} has ${LAYER_CONFIG_FILE} but no .safetensors weights: add ${LAYER_WEIGHTS_FILE}.`)
  throw new LayerFileError(`${dir} has several .safetensors files (${found.join(', ')}): keep only the layer's weights, named ${LAYER_WEIGHTS_FILE}.`)
}

/**
 * The registered kind a SAELens-style "architecture" names: among the kinds that accept the name
 * (descriptor.file.saelensArchitectures), the one whose tensor names are exactly the file's (so a
 * "transcoder" with W_skip is a skip transcoder), else the kind of that very id, else the first.
 * The size does not change tensor names, so any size serves to list them.
 */
function saelensKind(arch: string, tensorNames: ReadonlySet<string>): LayerKindDescriptor | undefined {
  const candidates = layerKinds().filter((d) => d.file.saelensArchitectures.includes(arch))
  const namesOf = (d: LayerKindDescriptor): string[] => Object.keys(d.file.tensors({ dIn: 1, dOut: 1, width: 1, k: 1, hidden: 1, glu: false }))
  const exact = candidates.find((d) => {
    const names = namesOf(d)
    return names.length === tensorNames.size && names.every((n) => tensorNames.has(n))
  })
  return exact ?? candidates.find((d) => d.id === arch) ?? candidates[0]
}

/**
 * Our cfg.json from a SAELens-style one: architecture a name some registered kind accepts
 * ("transcoder", "skip_transcoder"; W_skip present makes it a skip transcoder), d_in, d_sae,
 * d_out (else W_dec's), k (or activation_fn_kwargs.k), hook_name blocks.L.ln2.hook_normalized, model_name.
 */
function saelensConfig(raw: Record<string, unknown>, cfgPath: string, file: SafetensorsFile, src: string): LayerFileConfig {
  const meta = (typeof raw.metadata === 'object' && raw.metadata !== null ? raw.metadata : {}) as Record<string, unknown>
  const pick = (key: string): unknown => raw[key] ?? meta[key]
  const arch = raw.architecture
  const kind = typeof arch === 'string' ? saelensKind(arch, new Set(file.tensors.keys())) : undefined
  if (!kind) {
    const names = [...new Set(layerKinds().flatMap((d) => d.file.saelensArchitectures))].map((n) => `"${n}"`).join(' / ')
    throw new LayerFileError(
      `${cfgPath}: architecture ${JSON.stringify(arch ?? null)} is unknown: MxD Studio imports folders it exported (with format_version) and ` +
        `SAELens-style TopK ${names} folders. Set "architecture" to one of those if the layer is one.`,
    )
  }
  const int = (key: string, value: unknown): number => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new LayerFileError(`${cfgPath}: "${key}" must be a positive whole number, found ${JSON.stringify(value ?? null)}.`)
    }
    return value
  }
  const kwargs = (typeof raw.activation_fn_kwargs === 'object' && raw.activation_fn_kwargs !== null ? raw.activation_fn_kwargs : {}) as Record<string, unknown>
  const kValue = pick('k') ?? kwargs.k
  if (kValue === undefined) {
    throw new LayerFileError(`${cfgPath} has no "k": only TopK transcoders can be spliced here. If the layer is one, add "k": K to ${LAYER_CONFIG_FILE}.`)
  }
  if (raw.apply_b_dec_to_input === true) {
    throw new LayerFileError(`${cfgPath}: "apply_b_dec_to_input": true is not supported (the encoder would read x − b_dec); export the transcoder without it.`)
  }
  const norm = raw.normalize_activations
  if (norm !== undefined && norm !== null && norm !== 'none') {
    throw new LayerFileError(`${cfgPath}: "normalize_activations": ${JSON.stringify(norm)} is not supported; fold the normalisation into the weights first.`)
  }
  const hookName = pick('hook_name')
  const match = typeof hookName === 'string' ? /^blocks\.(\d+)\.ln2\.hook_normalized$/.exec(hookName) : null
  if (!match) {
    throw new LayerFileError(
      `${cfgPath}: "hook_name" is ${JSON.stringify(hookName ?? null)}; a layer that replaces an MLP reads blocks.L.ln2.hook_normalized and writes blocks.L.hook_mlp_out.`,
    )
  }
  const layer = Number(match[1])
  const hookLayer = pick('hook_layer')
  if (hookLayer !== undefined && hookLayer !== layer) {
    throw new LayerFileError(`${cfgPath}: "hook_layer" ${String(hookLayer)} disagrees with hook_name ${hookName}.`)
  }
  const dec = file.tensors.get('W_dec')
  const dIn = int('d_in', raw.d_in)
  const dSae = int('d_sae', raw.d_sae)
  const dOut = int('d_out', raw.d_out ?? dec?.shape[1] ?? dIn)
  const k = int('k', kValue)
  const hookOut = pick('hook_name_out') ?? `blocks.${layer}.hook_mlp_out`
  if (hookOut !== `blocks.${layer}.hook_mlp_out`) {
    throw new LayerFileError(`${cfgPath}: "hook_name_out" is ${JSON.stringify(hookOut)}; a layer that replaces block ${layer}'s MLP writes blocks.${layer}.hook_mlp_out.`)
  }
  const modelName = pick('model_name')
  return {
    format_version: LAYER_FORMAT_VERSION,
    // SAELens layers have no hidden layer: the width is d_sae whatever the kind calls it.
    ...shapeFieldsOf(kind, { dIn, dOut, width: dSae, k, hidden: null, glu: false }),
    hook_name: hookName as string,
    hook_name_out: hookOut,
    layer,
    model_name: typeof modelName === 'string' ? modelName : 'unknown',
    model_hash: typeof raw.model_hash === 'string' ? raw.model_hash : 'unknown',
    dtype: 'float32',
    training: { imported_from: src, source_cfg: raw },
  }
}
