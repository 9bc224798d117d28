// The evaluation job's config, the export/import requests and the frontier's shape. Pure zod, so
// the API contract, the CLI and the renderer can import it without loading the compute engine.
import { z } from 'zod'
import { fieldName, pathString } from './limits.js'
import { EVAL_DEFAULTS } from './convert-defaults.js'
import { LayerKind } from './layer-kinds/index.js'

export { EVAL_DEFAULTS }

const RunId = z.number().int().positive()
const positiveInt = z.number().int().positive()


/**
 * A `convert-eval` run: evaluates the layer of a training (or imported) run, or a layer folder,
 * on the held-out split of a dataset. The model, the data and ctx default to the training run's.
 */
export const ConvertEvalConfig = z
  .strictObject({
    /** The `convert` or `layer-import` run whose layer (runDir/layer) is evaluated; its metrics get eval.*. */
    trainRunId: RunId.optional(),
    /** A layer folder (cfg.json + sae_weights.safetensors) instead of a run. */
    layerDir: pathString('the layer folder').optional(),
    /** The model folder; default the training run's model, else a registered model with the layer's model_hash. */
    model: pathString('the model folder').optional(),
    /** A dataset path or registered id; default the training run's. Only its held-out split is read. */
    data: z.union([pathString('the dataset path'), positiveInt]).optional(),
    textField: fieldName('the text field').optional(),
    /** Held-out tokens to evaluate (whole sequences of ctx tokens, at least one). */
    tokens: positiveInt.max(1e9).default(EVAL_DEFAULTS.tokens),
    /** Sequences per forward pass. */
    batch: positiveInt.max(1024).default(EVAL_DEFAULTS.batch),
    /** Tokens per sequence; default the training run's ctx. */
    ctx: z.number().int().min(2).max(65_536).optional(),
    /** Shuffles which held-out sequences are read when the budget is smaller than the split. */
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
  })
  .refine((c) => (c.trainRunId === undefined) !== (c.layerDir === undefined), {
    message: 'give exactly one of trainRunId or layerDir',
    path: ['trainRunId'],
  })
export type ConvertEvalConfig = z.infer<typeof ConvertEvalConfig>

/** A `layer-import` run's config (export.ts writes it): where the layer came from, free-form. */
export const ImportedLayerConfig = z.record(z.string(), z.unknown())

/** `convert.evaluate`: a run id and any overrides of the evaluation config. */
export const EvaluateRequest = z.strictObject({
  runId: RunId,
  model: pathString('the model folder').optional(),
  data: z.union([pathString('the dataset path'), positiveInt]).optional(),
  textField: fieldName('the text field').optional(),
  tokens: positiveInt.max(1e9).optional(),
  batch: positiveInt.max(1024).optional(),
  ctx: z.number().int().min(2).max(65_536).optional(),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
})
export type EvaluateRequest = z.infer<typeof EvaluateRequest>

/** The metric names an evaluation writes (onto its own run and onto the evaluated run). */
export const EVAL_METRICS = {
  nmse: 'eval.nmse',
  fvu: 'eval.fvu',
  explainedVariance: 'eval.explained_variance',
  l0: 'eval.l0',
  deadFraction: 'eval.dead_fraction',
  ceClean: 'eval.ce_clean',
  ceSpliced: 'eval.ce_spliced',
  ceZero: 'eval.ce_zero',
  lossRecovered: 'eval.loss_recovered',
  tokens: 'eval.tokens',
} as const

export const ExportRequest = z.strictObject({
  runId: RunId,
  /** Absolute path of the folder to write. */
  dir: pathString('the export folder'),
  /** Replace a previous export (its cfg.json and weights) in `dir`; other files are never deleted. */
  force: z.boolean().default(false),
})

export const ExportResult = z.object({ dir: z.string(), files: z.array(z.string()) })

export const ImportRequest = z.strictObject({ dir: pathString('the layer folder') })

export const ImportResult = z.object({
  runId: RunId,
  architecture: z.string(),
  layer: z.number().int(),
  k: z.number().int(),
  /** "mxd-studio" for our own folders, "saelens" for one converted from a SAELens-style cfg. */
  source: z.enum(['mxd-studio', 'saelens']),
})

export const FrontierRequest = z
  .strictObject({
    /** A model folder (matched by the layer files' model_hash, or the training runs' model path). */
    modelPath: pathString('the model folder').optional(),
    /** A registered model's id. */
    modelId: z.number().int().positive().optional(),
    layer: z.number().int().min(0).max(1000),
  })
  .refine((r) => (r.modelPath === undefined) !== (r.modelId === undefined), {
    message: 'give exactly one of modelPath or modelId',
    path: ['modelPath'],
  })

export const FrontierPoint = z.object({
  runId: RunId,
  k: z.number().int(),
  /** Measured on held-out tokens (eval.l0); null before the run is evaluated. */
  l0: z.number().nullable(),
  nmse: z.number().nullable(),
  ce_spliced: z.number().nullable(),
  loss_recovered: z.number().nullable(),
  ce_clean: z.number().nullable(),
  ce_zero: z.number().nullable(),
  /** The width TopK selects among (N experts or d_sae latents). */
  width: z.number().int(),
  parameters: z.number().int(),
})
export type FrontierPoint = z.infer<typeof FrontierPoint>

export const FrontierSeries = z.object({
  kind: LayerKind,
  /** Sorted by k. */
  points: z.array(FrontierPoint),
})
export type FrontierSeries = z.infer<typeof FrontierSeries>

/**
 * The two cross-entropies CE spliced sits between, from the newest evaluation on this block: the
 * unchanged model (the best a layer can do) and the MLP zero-ablated (the worst that counts).
 */
export const FrontierReference = z.object({
  ceClean: z.number(),
  ceZero: z.number().nullable(),
  /** The evaluated run they were measured on. */
  runId: RunId,
})
export type FrontierReference = z.infer<typeof FrontierReference>

export const Frontier = z.object({
  layer: z.number().int(),
  modelHash: z.string().nullable(),
  series: z.array(FrontierSeries),
  /** Null until a layer of this block is evaluated. */
  reference: FrontierReference.nullable(),
})
export type Frontier = z.infer<typeof Frontier>
