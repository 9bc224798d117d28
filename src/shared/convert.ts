// What a conversion run is (one dense MLP → one sparse layer, trained to reproduce it) and the
// parameter counts shown before it starts. Pure: zod and arithmetic only, so the API contract,
// the CLI and the wizard can import it without loading the compute engine. Everything that
// depends on the layer kind (default width, parameters, cost) comes from its descriptor in
// ./layer-kinds; test/unit/layers/layer-kinds.test.ts checks each against the engine's layers.
import { z } from 'zod'
import { fieldName, pathString } from './limits.js'
import { CONVERT_DEFAULTS } from './convert-defaults.js'
import { LayerKind, layerKind, type LayerKindDescriptor, type LayerKindId, type LayerSize } from './layer-kinds/index.js'
import { transcoderParams } from './layer-kinds/transcoder.js'

export { CONVERT_DEFAULTS, LayerKind }
export type LayerKind = LayerKindId
export { matchedExperts, matchedSkipWidth, mxdParams, transcoderParams } from './layer-kinds/index.js'


const positiveInt = z.number().int().positive()

/** A learning rate: the one bound shared by a new run, a resume at a new lr and the forms that offer one. */
export const LearningRate = z.number().positive().max(1)

/**
 * The lr a diverged run's advice names: a tenth, rounded to one significant digit (3e-3 → 3e-4).
 * Shared so that the error message and the Resume form suggest the same value.
 */
export function lowerLr(lr: number): number {
  return Number((lr / 10).toPrecision(1))
}

/** The fields of a conversion run; ConvertConfig and the sweep share them. */
const convertFields = {
  /** The model folder (config.json + safetensors). */
  model: pathString('the model folder'),
  /** Index of the block whose MLP is converted. */
  layer: z.number().int().min(0).max(1000),
  /** A dataset path (registered on first use) or a registered dataset's id. */
  data: z.union([pathString('the dataset path'), positiveInt]),
  /** JSON field / parquet column with the text, when registering `data` (default "text", else "input_ids"). */
  textField: fieldName('the text field').optional(),
  kind: LayerKind.default('mxd'),
  /** MxD: N experts; default parameter-matched to a 32× TopK transcoder. */
  experts: positiveInt.max(10_000_000).optional(),
  /**
   * Transcoders: d_sae latents. Default 32·d_model for the TopK transcoder; the skip transcoder's
   * default gives up round(d²/(2d+1)) latents to pay for W_skip, so every kind's default has the
   * same parameter count and a sweep's kinds compare at matched parameters.
   */
  width: positiveInt.max(10_000_000).optional(),
  /** Active experts / latents per token. */
  k: positiveInt.max(65_536).default(CONVERT_DEFAULTS.k),
  /** MxD: hidden width H; default the dense MLP's. */
  hidden: positiveInt.max(1_000_000).optional(),
  /** MxD's hidden layer: exact GELU, or GLU (Llama-style models); default by architecture. */
  act: z.enum(['gelu', 'glu']).optional(),
  lr: LearningRate.default(CONVERT_DEFAULTS.lr),
  /** Linear warm-up steps of the constant schedule; default 5% of the steps, at most 5,000. */
  warmup: z.number().int().min(0).optional(),
  /** Activations (tokens) per optimizer step. */
  batch: positiveInt.max(65_536).default(CONVERT_DEFAULTS.batch),
  /** Training tokens (activations) in all. */
  tokens: positiveInt.max(1e12).default(CONVERT_DEFAULTS.tokens),
  /** Tokens per harvested sequence, BOS included where the tokenizer has one. */
  ctx: z.number().int().min(2).max(65_536).default(CONVERT_DEFAULTS.ctx),
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
  /**
   * Train on the BOS position's activations too (the official code's choice). Evaluation and
   * generation splice the layer at every position, BOS included, so a layer that never saw BOS
   * would extrapolate at the attention sink and confound every CE figure; false skips those rows.
   */
  trainOnBos: z.boolean().default(CONVERT_DEFAULTS.trainOnBos),
  /** Rows the shuffled activation buffer holds; default 65,536, capped at 256 MiB. */
  bufferRows: positiveInt.max(1e8).optional(),
  harvestBatch: positiveInt.max(4096).default(CONVERT_DEFAULTS.harvestBatch),
  deadWindow: positiveInt.default(CONVERT_DEFAULTS.deadWindow),
  metricsEvery: positiveInt.default(CONVERT_DEFAULTS.metricsEvery),
  /** A checkpoint at least this often (and at the end). */
  checkpointSeconds: z.number().positive().default(CONVERT_DEFAULTS.checkpointSeconds),
  /** Also a checkpoint every this many steps (tests; unset: by time only). */
  checkpointSteps: positiveInt.optional(),
  /** Evaluate on the held-out split when training ends. */
  evaluate: z.boolean().default(true),
  /** Held-out tokens for that evaluation. */
  evalTokens: positiveInt.max(1e9).default(CONVERT_DEFAULTS.evalTokens),
}

export const ConvertConfig = z.strictObject(convertFields)
export type ConvertConfig = z.infer<typeof ConvertConfig>
export type ConvertConfigInput = z.input<typeof ConvertConfig>

/** One queued run per (kind, K), everything else shared (same data, seed and budget). */
export const ConvertSweep = z.strictObject({
  ...convertFields,
  ks: z.array(positiveInt.max(65_536)).min(1).max(64),
  kinds: z.array(LayerKind).min(1).max(16),
})
export type ConvertSweep = z.infer<typeof ConvertSweep>

/** The configs a sweep queues, kind-major (all K of the first kind, then the next). */
export function sweepConfigs(sweep: ConvertSweep): ConvertConfig[] {
  const { ks, kinds, ...base } = sweep
  const out: ConvertConfig[] = []
  for (const kind of [...new Set(kinds)]) for (const k of [...new Set(ks)]) out.push({ ...base, kind, k })
  return out
}

// ------------------------------------------------------------------------------ preview

/** What the preview needs to know of the model (ModelInfo has all of it). */
export interface ModelShape {
  architecture: string
  layers: number
  dModel: number
  mlpWidth: number
  contextLength: number
}

export const ParameterCounts = z.object({
  /** The sparse layer as configured. */
  layer: z.number().int(),
  /** The dense MLP it replaces. */
  denseMlp: z.number().int(),
  /** A TopK transcoder with 32·d latents (what MxD's default N is matched to). */
  transcoder32x: z.number().int(),
  /** A skip transcoder with 32·d latents. */
  skipTranscoder32x: z.number().int(),
})
export type ParameterCounts = z.infer<typeof ParameterCounts>

export const ConvertPreview = z.object({
  /** Every field with its default filled in, as the run will see it. */
  resolved: z.record(z.string(), z.unknown()),
  dIn: z.number().int(),
  dOut: z.number().int(),
  /** MxD's H; null for transcoders. */
  hidden: z.number().int().nullable(),
  /** N (MxD) or d_sae (transcoders): the units TopK selects among. */
  width: z.number().int(),
  k: z.number().int(),
  act: z.enum(['gelu', 'glu']).nullable(),
  params: ParameterCounts,
  steps: z.number().int(),
  warmup: z.number().int(),
  bufferRows: z.number().int(),
  bufferBytes: z.number(),
  /** Bytes of one training checkpoint file (layer, AdamW m and v, buffer state): an upper bound. */
  checkpointBytes: z.number(),
  /** Checkpoint files on disk at the worst moment (the newest good one while the next is written). */
  checkpointFilesPeak: z.number().int(),
  /** The run folder's peak disk use: checkpointFilesPeak checkpoints (the final layer file is smaller). */
  diskPeakBytes: z.number(),
  /** Multiply-adds ×2 of one training step per token (forward + backward), for a time estimate. */
  trainFlopsPerToken: z.number(),
  hookIn: z.string(),
  hookOut: z.string(),
  warnings: z.array(z.string()),
})
export type ConvertPreview = z.infer<typeof ConvertPreview>

/** The dense MLP: GPT-2 / NeoX W_in, b_in, W_out, b_out; Llama's gate/up/down (no biases). */
export function denseMlpParams(architecture: string, d: number, hidden: number): number {
  return architecture === 'llama' ? 3 * d * hidden : 2 * d * hidden + hidden + d
}

/**
 * Checkpoint files a conversion has on disk at once, at worst: it deletes all but the newest
 * before writing the next (so the last good one survives a crash mid-write), and keeps only the
 * final one beside the layer file at the end.
 */
export const CHECKPOINT_FILES_PEAK = 2

/**
 * Bytes of one conversion checkpoint (writeCheckpoint in src/jobs/convert/checkpoint-file.ts), from above: F32 parameters
 * and AdamW's m and v (3 × 4 bytes per parameter), last_fired (I32 per unit), the buffer's four
 * I32 arrays of at most bufferRows each, and the safetensors header (names, shapes, metadata).
 */
export function checkpointBytes(parameters: number, width: number, bufferRows: number): number {
  const HEADER_BYTES = 4096
  return 12 * parameters + 4 * width + 16 * bufferRows + 8 + HEADER_BYTES
}

/** Resolved sizes of a run: the layer's shape, the schedule and the buffer. */
export interface ResolvedSizes {
  d: number
  hidden: number
  glu: boolean
  width: number
  /** The layer's sizes as its kind reads them (hidden null for kinds without a hidden layer). */
  size: LayerSize
  steps: number
  warmup: number
  bufferRows: number
}

/**
 * Fills in the defaults that depend on the model. The buffer is rounded to whole harvest chunks
 * (harvestBatch sequences) per half, so that a refill harvests whole chunks (see activation-buffer.ts).
 */
export function resolveSizes(config: ConvertConfig, model: ModelShape): ResolvedSizes {
  const d = model.dModel
  const glu = (config.act ?? (model.architecture === 'llama' ? 'glu' : 'gelu')) === 'glu'
  const hidden = config.hidden ?? model.mlpWidth
  const kind = layerKind(config.kind)
  const width = config[kind.widthField] ?? kind.defaultWidth({ d, hidden, glu })
  const steps = Math.ceil(config.tokens / config.batch)
  const warmup = config.warmup ?? Math.min(CONVERT_DEFAULTS.warmupMax, Math.round(steps * CONVERT_DEFAULTS.warmupFraction))
  const rowBytes = 2 * d * 4
  const wanted = config.bufferRows ?? Math.min(CONVERT_DEFAULTS.bufferRows, Math.floor(CONVERT_DEFAULTS.bufferMaxBytes / rowBytes))
  const rowsPerChunk = config.harvestBatch * rowsPerSequence(config.ctx, !config.trainOnBos)
  // At least two chunks per half and at least two batches in the buffer.
  const half = Math.max(2 * rowsPerChunk, Math.ceil(Math.max(wanted, 2 * config.batch) / 2 / rowsPerChunk) * rowsPerChunk)
  const size = layerSizeOf(kind, { d, hidden, glu, width, k: config.k })
  return { d, hidden, glu, width, size, steps, warmup, bufferRows: 2 * half }
}

/** A kind's LayerSize for a d → d layer; hidden and glu only where the kind has a hidden layer. */
export function layerSizeOf(kind: LayerKindDescriptor, s: { d: number; hidden: number; glu: boolean; width: number; k: number }): LayerSize {
  return { dIn: s.d, dOut: s.d, width: s.width, k: s.k, hidden: kind.usesHidden ? s.hidden : null, glu: kind.usesHidden && s.glu }
}

/** Rows (activations) one sequence gives: every position, less a leading BOS when it is skipped. */
export function rowsPerSequence(ctx: number, skipBos: boolean): number {
  return skipBos ? ctx - 1 : ctx
}

export function previewConversion(config: ConvertConfig, model: ModelShape): ConvertPreview {
  const r = resolveSizes(config, model)
  const { d, hidden, glu, width } = r
  const kind = layerKind(config.kind)
  // Kinds with a dense hidden layer (MxD) report H and its activation; the others report null.
  const mxd = kind.usesHidden
  const layerParams = kind.parameters(r.size)
  const warnings: string[] = []
  if (config.layer >= model.layers) warnings.push(`layer ${config.layer} does not exist: the model has layers 0…${model.layers - 1}`)
  if (config.ctx > model.contextLength) warnings.push(`ctx ${config.ctx} exceeds the model's context of ${model.contextLength}`)
  if (config.k > width) warnings.push(`k = ${config.k} is larger than the ${width} ${kind.unit.many}`)
  if (r.warmup >= r.steps) warnings.push(`the warm-up (${r.warmup} steps) is as long as the run (${r.steps} steps)`)
  // Forward multiply-adds per token; a training step costs about 3× the forward.
  const forwardMacs = kind.forwardMacs(r.size)
  return {
    resolved: {
      ...config,
      act: mxd ? (glu ? 'glu' : 'gelu') : undefined,
      hidden: mxd ? hidden : undefined,
      experts: kind.widthField === 'experts' ? width : undefined,
      width: kind.widthField === 'width' ? width : undefined,
      warmup: r.warmup,
      bufferRows: r.bufferRows,
    },
    dIn: d,
    dOut: d,
    hidden: mxd ? hidden : null,
    width,
    k: config.k,
    act: mxd ? (glu ? 'glu' : 'gelu') : null,
    params: {
      layer: layerParams,
      denseMlp: denseMlpParams(model.architecture, d, model.mlpWidth),
      transcoder32x: transcoderParams(d, d, 32 * d, false),
      skipTranscoder32x: transcoderParams(d, d, 32 * d, true),
    },
    steps: r.steps,
    warmup: r.warmup,
    bufferRows: r.bufferRows,
    bufferBytes: r.bufferRows * 2 * d * 4,
    checkpointBytes: checkpointBytes(layerParams, width, r.bufferRows),
    checkpointFilesPeak: CHECKPOINT_FILES_PEAK,
    diskPeakBytes: CHECKPOINT_FILES_PEAK * checkpointBytes(layerParams, width, r.bufferRows),
    trainFlopsPerToken: 6 * forwardMacs,
    hookIn: `blocks.${config.layer}.ln2.hook_normalized`,
    hookOut: `blocks.${config.layer}.hook_mlp_out`,
    warnings,
  }
}
