// A trained sparse layer on disk, in the export format (issue 6, README "Layer file format"):
//
//   <dir>/cfg.json                  SAELens-like description (LayerFileConfig below)
//   <dir>/sae_weights.safetensors   the tensors, F32, under the export names:
//     MxD              E [d_in,H], b_E [H], (E_glu [d_in,H], b_glu [H],) G [d_in,N], b_G [N],
//                      C [N,d_out] (row n = c_n), D [H,d_out], b_out [d_out]
//     (skip) transcoder W_enc [d_in,d_sae], b_enc [d_sae], W_dec [d_sae,d_out], b_dec [d_out],
//                      (W_skip [d_out,d_in])
//
// The tensors, the width field (n_experts / d_sae) and the activations of each kind come from its
// descriptor (src/shared/layer-kinds); nothing here names a kind.
//
// The same folder is what a training run leaves in runDir/layer, what `mxd export` copies and
// what `mxd import` / `--splice` read back. Both files are written atomically (temp + rename),
// weights first, so a folder with a cfg.json always has complete weights beside it.
import { createHash } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { sparseLayerFromTensors } from '../engine/layers/kinds.js'
import type { LayerTensors, SparseLayer } from '../engine/layers/sparse-layer.js'
import { LayerKind, layerKind, type LayerKindDescriptor, type LayerSize } from '../shared/layer-kinds/index.js'
import { SafetensorsFile, writeSafetensors } from '../engine/safetensors.js'
import { writeFileAtomic } from '../store/files.js'

export const LAYER_CONFIG_FILE = 'cfg.json'
export const LAYER_WEIGHTS_FILE = 'sae_weights.safetensors'
/** Bumped when the folder layout or a field's meaning changes; older readers refuse newer files. */
export const LAYER_FORMAT_VERSION = 1

export const LayerFileConfig = z.object({
  format_version: z.number().int().min(1),
  /** The layer kind's id (a registered kind, src/shared/layer-kinds). */
  architecture: LayerKind,
  d_in: z.number().int().positive(),
  d_out: z.number().int().positive(),
  /** MxD's dense hidden width H; null for kinds without a hidden layer. */
  hidden: z.number().int().positive().nullable(),
  /** MxD: N experts; null for transcoders. */
  n_experts: z.number().int().positive().nullable(),
  /** Transcoders: latents; null for MxD. */
  d_sae: z.number().int().positive().nullable(),
  k: z.number().int().positive(),
  /** MxD's hidden activation: "gelu" (exact erf form) or "glu" (gelu(E x + b_E) ∗ (E_glu x + b_glu)); transcoders: "topk_relu". */
  activation: z.enum(['gelu', 'glu', 'topk_relu']),
  /** Where x is read (TransformerLens name): blocks.L.ln2.hook_normalized. */
  hook_name: z.string(),
  /** What the layer reconstructs / replaces: blocks.L.hook_mlp_out. */
  hook_name_out: z.string(),
  layer: z.number().int().min(0),
  model_name: z.string(),
  /** modelFingerprint() of the model folder the layer was trained on. */
  model_hash: z.string(),
  dtype: z.literal('float32'),
  parameters: z.number().int().positive(),
  /**
   * Whether the layer was trained on the BOS position's activations (a conversion's default, as
   * the official code does); false: it never saw BOS, where splicing it extrapolates. Absent in
   * files from before this field and from importers that do not say.
   */
  train_on_bos: z.boolean().optional(),
  /** The conversion run's config (ConvertConfig) and where it ended; free-form for importers. */
  training: z.record(z.string(), z.unknown()),
})
export type LayerFileConfig = z.infer<typeof LayerFileConfig>

export class LayerFileError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'LayerFileError'
  }
}

type ShapeFields = Pick<LayerFileConfig, 'architecture' | 'd_in' | 'd_out' | 'hidden' | 'n_experts' | 'd_sae' | 'k' | 'activation' | 'parameters'>

/** The kind-specific fields of cfg.json for a layer of `kind` and `size`, as its descriptor lays them out. */
export function shapeFieldsOf(kind: LayerKindDescriptor, size: LayerSize): ShapeFields {
  return {
    architecture: kind.id,
    d_in: size.dIn,
    d_out: size.dOut,
    hidden: kind.usesHidden ? size.hidden : null,
    n_experts: kind.file.widthKey === 'n_experts' ? size.width : null,
    d_sae: kind.file.widthKey === 'd_sae' ? size.width : null,
    k: size.k,
    activation: kind.file.activation(size),
    parameters: kind.parameters(size),
  }
}

/** The kind-specific fields of cfg.json, read off a live layer. */
export function layerShapeFields(layer: SparseLayer): ShapeFields {
  return { ...shapeFieldsOf(layerKind(layer.kind), layer.size), parameters: layer.parameterCount() }
}

/** The layer's sizes from a validated cfg.json. */
export function layerSizeOfFile(cfg: LayerFileConfig): LayerSize {
  const kind = layerKind(cfg.architecture)
  return {
    dIn: cfg.d_in,
    dOut: cfg.d_out,
    width: cfg[kind.file.widthKey]!,
    k: cfg.k,
    hidden: kind.usesHidden ? cfg.hidden : null,
    glu: kind.usesHidden && cfg.activation === 'glu',
  }
}

/**
 * Writes `layer` into `dir` (created if needed): weights, then cfg.json, each atomically. The
 * shape fields of cfg.json are taken from the layer itself, so they cannot disagree with the tensors.
 */
export function saveLayerFolder(
  dir: string,
  layer: SparseLayer,
  cfg: Pick<LayerFileConfig, 'hook_name' | 'hook_name_out' | 'layer' | 'model_name' | 'model_hash' | 'training'> & Partial<Pick<LayerFileConfig, 'train_on_bos'>>,
): LayerFileConfig {
  mkdirSync(dir, { recursive: true })
  const full: LayerFileConfig = { format_version: LAYER_FORMAT_VERSION, ...layerShapeFields(layer), ...cfg, dtype: 'float32' }
  writeSafetensors(join(dir, LAYER_WEIGHTS_FILE), layer.toTensors(), { format: 'pt', architecture: full.architecture })
  writeFileAtomic(join(dir, LAYER_CONFIG_FILE), new TextEncoder().encode(JSON.stringify(full, null, 2) + '\n'))
  return full
}

/** Reads and validates cfg.json alone (cheap: for listings, compatibility checks, the frontier). */
export function readLayerConfig(dir: string): LayerFileConfig {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new LayerFileError(`Layer folder ${dir} does not exist or is not a folder: choose the folder that holds ${LAYER_CONFIG_FILE} and ${LAYER_WEIGHTS_FILE}.`)
  }
  const path = join(dir, LAYER_CONFIG_FILE)
  if (!existsSync(path)) throw new LayerFileError(`${dir} has no ${LAYER_CONFIG_FILE}: this is not an exported MxD Studio layer folder.`)
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new LayerFileError(`${path} is not valid JSON (${(err as Error).message}): re-export the layer.`)
  }
  const version = (raw as { format_version?: unknown } | null)?.format_version
  if (typeof version === 'number' && version > LAYER_FORMAT_VERSION) {
    throw new LayerFileError(`${path} has format version ${version}, newer than this app's ${LAYER_FORMAT_VERSION}: update MxD Studio.`)
  }
  const parsed = LayerFileConfig.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new LayerFileError(`${path}: field "${issue.path.join('.')}" ${issue.message.toLowerCase()}; re-export the layer.`)
  }
  const c = parsed.data
  const kind = layerKind(c.architecture)
  const { widthKey, activations } = kind.file
  if ((kind.usesHidden && c.hidden === null) || c[widthKey] === null || !activations.includes(c.activation)) {
    const needs = [...(kind.usesHidden ? ['"hidden"'] : []), `"${widthKey}"`].join(', ')
    const acts = activations.map((a) => `"${a}"`).join(' or ')
    throw new LayerFileError(`${path}: a "${c.architecture}" layer needs ${needs} and activation ${acts}.`)
  }
  const width = c[widthKey]!
  if (c.k > width) throw new LayerFileError(`${path}: k = ${c.k} is larger than the ${width} units it selects among.`)
  return c
}

/**
 * Reads a layer folder back into a live layer (tf.Variables; the caller disposes it). Every
 * tensor is checked by name and shape against cfg.json; a missing, extra or mis-shaped tensor is
 * named in the error.
 */
export function loadLayerFolder(dir: string): { layer: SparseLayer; cfg: LayerFileConfig } {
  const cfg = readLayerConfig(dir)
  const path = join(dir, LAYER_WEIGHTS_FILE)
  if (!existsSync(path)) throw new LayerFileError(`${dir} has ${LAYER_CONFIG_FILE} but no ${LAYER_WEIGHTS_FILE}: re-export the layer.`)
  const kind = cfg.architecture
  const size = layerSizeOfFile(cfg)
  const shapes = layerKind(kind).file.tensors(size)
  const file = SafetensorsFile.open(path)
  let tensors: LayerTensors
  try {
    const extra = [...file.tensors.keys()].filter((n) => !(n in shapes))
    if (extra.length > 0) {
      throw new LayerFileError(`${path} holds tensor(s) ${extra.map((n) => `"${n}"`).join(', ')} that a "${kind}" layer does not have: cfg.json and the weights disagree.`)
    }
    tensors = {}
    for (const [name, shape] of Object.entries(shapes)) {
      const info = file.tensors.get(name)
      if (!info) throw new LayerFileError(`${path} has no tensor "${name}", which a "${kind}" layer needs.`)
      if (info.shape.length !== shape.length || info.shape.some((s, i) => s !== shape[i])) {
        throw new LayerFileError(`${path}: tensor "${name}" has shape [${info.shape.join(', ')}] but cfg.json implies [${shape.join(', ')}].`)
      }
      tensors[name] = { shape, data: file.readFloat32(name) }
    }
  } finally {
    file.close()
  }
  return { layer: sparseLayerFromTensors(kind, size, tensors), cfg }
}

/**
 * The one rule for splicing a layer into a model (app and CLI alike): a layer whose cfg.json
 * names the fingerprint of another model is refused, since its weights were fitted to another
 * MLP's inputs and outputs and would give plausible-looking nonsense. `what` names the layer in
 * the message ("Run 4's layer", "The layer in /x"). Layers without a fingerprint (imported
 * SAELens files) are allowed: there is nothing to compare.
 */
export function checkLayerModel(cfg: LayerFileConfig, modelDir: string, what: string): void {
  const known = cfg.model_hash !== 'unknown' && cfg.model_hash !== ''
  if (known && cfg.model_hash !== modelFingerprint(modelDir)) {
    throw new LayerFileError(
      `${what} was trained on ${cfg.model_name}, not on this model (its model_hash differs from this model's fingerprint): splice one of this model's layers, or train one on it.`,
    )
  }
}

/**
 * A fingerprint of a model folder, cheap even for 10 GB of weights: sha256 over config.json and,
 * for each .safetensors file (sorted by name), its name, size and 16 evenly spaced 64 KiB samples
 * (the header included). Different weights, shapes or configs give different fingerprints; it is
 * not a full content hash. Written into cfg.json as model_hash so a layer is spliced only into
 * the model it was trained on.
 */
export function modelFingerprint(modelDir: string): string {
  const hash = createHash('sha256')
  hash.update(readFileSync(join(modelDir, 'config.json')))
  const files = readdirSync(modelDir)
    .filter((f) => f.endsWith('.safetensors'))
    .sort()
  const SAMPLES = 16
  const SAMPLE_BYTES = 64 * 1024
  const buf = Buffer.alloc(SAMPLE_BYTES)
  for (const f of files) {
    const path = join(modelDir, f)
    const size = statSync(path).size
    hash.update(`${f}\0${size}\0`)
    const fd = openSync(path, 'r')
    try {
      for (let i = 0; i < SAMPLES; i++) {
        const pos = Math.floor((i * Math.max(0, size - SAMPLE_BYTES)) / (SAMPLES - 1))
        const n = readSync(fd, buf, 0, Math.min(SAMPLE_BYTES, size), pos)
        hash.update(buf.subarray(0, n))
      }
    } finally {
      closeSync(fd)
    }
  }
  return `fp1:${hash.digest('hex')}`
}
