// A trained sparse layer on disk, in the export format (issue 6, README "Layer file format"):
//
//   <dir>/cfg.json                  SAELens-like description (LayerFileConfig below)
//   <dir>/sae_weights.safetensors   the tensors, F32, under the export names:
//     MxD              E [d_in,H], b_E [H], (E_glu [d_in,H], b_glu [H],) G [d_in,N], b_G [N],
//                      C [N,d_out] (row n = c_n), D [H,d_out], b_out [d_out]
//     (skip) transcoder W_enc [d_in,d_sae], b_enc [d_sae], W_dec [d_sae,d_out], b_dec [d_out],
//                      (W_skip [d_out,d_in])
//
// The same folder is what a training run leaves in runDir/layer, what `mxd export` copies and
// what `mxd import` / `--splice` read back. Both files are written atomically (temp + rename),
// weights first, so a folder with a cfg.json always has complete weights beside it.
import { createHash } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { MxDLayer, type MxDConfig } from '../engine/layers/mxd.js'
import type { LayerTensors, SparseLayer, SparseLayerKind } from '../engine/layers/sparse-layer.js'
import { TranscoderLayer } from '../engine/layers/transcoder.js'
import { SafetensorsFile, writeSafetensors } from '../engine/safetensors.js'
import { writeFileAtomic } from '../store/files.js'

export const LAYER_CONFIG_FILE = 'cfg.json'
export const LAYER_WEIGHTS_FILE = 'sae_weights.safetensors'
/** Bumped when the folder layout or a field's meaning changes; older readers refuse newer files. */
export const LAYER_FORMAT_VERSION = 1

export const LayerFileConfig = z.object({
  format_version: z.number().int().min(1),
  architecture: z.enum(['mxd', 'transcoder', 'skip_transcoder']),
  d_in: z.number().int().positive(),
  d_out: z.number().int().positive(),
  /** MxD's dense hidden width H; null for transcoders. */
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

/** The layer-kind-specific fields of cfg.json, read off a live layer. */
export function layerShapeFields(layer: SparseLayer): Pick<LayerFileConfig, 'architecture' | 'd_in' | 'd_out' | 'hidden' | 'n_experts' | 'd_sae' | 'k' | 'activation' | 'parameters'> {
  if (layer instanceof MxDLayer) {
    const c = layer.config
    return {
      architecture: 'mxd',
      d_in: c.dIn,
      d_out: c.dOut,
      hidden: c.hidden,
      n_experts: c.experts,
      d_sae: null,
      k: c.k,
      activation: c.glu ? 'glu' : 'gelu',
      parameters: layer.parameterCount(),
    }
  }
  if (layer instanceof TranscoderLayer) {
    return {
      architecture: layer.kind,
      d_in: layer.config.dIn,
      d_out: layer.config.dOut,
      hidden: null,
      n_experts: null,
      d_sae: layer.width,
      k: layer.k,
      activation: 'topk_relu',
      parameters: layer.parameterCount(),
    }
  }
  throw new LayerFileError(`cannot save a layer of kind "${(layer as SparseLayer).kind}"`)
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
  const mxd = c.architecture === 'mxd'
  if (mxd && (c.hidden === null || c.n_experts === null || c.activation === 'topk_relu')) {
    throw new LayerFileError(`${path}: an "mxd" layer needs "hidden", "n_experts" and activation "gelu" or "glu".`)
  }
  if (!mxd && c.d_sae === null) throw new LayerFileError(`${path}: a "${c.architecture}" layer needs "d_sae".`)
  const width = mxd ? c.n_experts! : c.d_sae!
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
  const shapes =
    kind === 'mxd'
      ? MxDLayer.shapes(mxdConfigOf(cfg))
      : TranscoderLayer.shapes({ dIn: cfg.d_in, dOut: cfg.d_out, width: cfg.d_sae!, k: cfg.k, skip: kind === 'skip_transcoder' })
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
  const layer = layerFromTensors(kind, cfg, tensors)
  return { layer, cfg }
}

function mxdConfigOf(cfg: LayerFileConfig): MxDConfig {
  return { dIn: cfg.d_in, dOut: cfg.d_out, hidden: cfg.hidden!, experts: cfg.n_experts!, k: cfg.k, glu: cfg.activation === 'glu' }
}

function layerFromTensors(kind: SparseLayerKind, cfg: LayerFileConfig, tensors: LayerTensors): SparseLayer {
  if (kind === 'mxd') return MxDLayer.fromTensors(mxdConfigOf(cfg), tensors)
  return TranscoderLayer.fromTensors({ dIn: cfg.d_in, dOut: cfg.d_out, width: cfg.d_sae!, k: cfg.k, skip: kind === 'skip_transcoder' }, tensors)
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
