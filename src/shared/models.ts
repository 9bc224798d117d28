// Schemas of the model-facing part of the API: the Models page and the Playground.
import { z } from 'zod'
import { promptString } from './limits.js'
import { LayerKind } from './layer-kinds/index.js'

export const ModelId = z.number().int().positive()

export const ModelInfo = z.object({
  dir: z.string(),
  name: z.string(),
  architecture: z.string(),
  modelType: z.string(),
  parameters: z.number(),
  layers: z.number().int(),
  dModel: z.number().int(),
  mlpWidth: z.number().int(),
  heads: z.number().int(),
  kvHeads: z.number().int(),
  vocabSize: z.number().int(),
  contextLength: z.number().int(),
  dtype: z.string(),
  sizeOnDisk: z.number(),
  memoryBytes: z.number(),
  hasTokenizer: z.boolean(),
})
export type ModelInfo = z.infer<typeof ModelInfo>

export const ModelSource = z.enum(['added', 'hf-cache', 'bundled'])

export const ModelEntry = z.object({
  id: ModelId,
  path: z.string(),
  name: z.string(),
  architecture: z.string(),
  source: ModelSource,
  addedAt: z.string(),
  /** Null when the folder can no longer be read; `error` says why. */
  info: ModelInfo.nullable(),
  error: z.string().nullable(),
})
export type ModelEntry = z.infer<typeof ModelEntry>

export const LayerRow = z.object({
  layer: z.number().int(),
  hookIn: z.string(),
  hookOut: z.string(),
  dModel: z.number().int(),
  dMlp: z.number().int(),
  mlpParameters: z.number(),
})

export const ModelDescription = z.object({ info: ModelInfo, layers: z.array(LayerRow) })
export type ModelDescription = z.infer<typeof ModelDescription>

/**
 * Steering (docs/science/mxd.md#steering): add `value` to unit `unit`'s post-TopK code (an
 * MxD expert's coefficient a_n, or a transcoder latent) at every position while generating.
 */
export const Steer = z.strictObject({
  unit: z.number().int().min(0).max(10_000_000),
  value: z.number().min(-1e6).max(1e6),
})
export type Steer = z.infer<typeof Steer>

/** Generate with a trained or imported sparse layer in place of its block's MLP, optionally steered. */
export const GenerateSplice = z.strictObject({
  runId: z.number().int().positive(),
  steer: z.array(Steer).max(16).default([]),
})
export type GenerateSplice = z.infer<typeof GenerateSplice>

/** A sparse layer the Playground can splice into a model (playground.listLayers). */
export const SplicableLayer = z.object({
  runId: z.number().int().positive(),
  kind: LayerKind,
  block: z.number().int(),
  k: z.number().int(),
  /** N experts (MxD) or d_sae latents: the units a steer may name. */
  width: z.number().int(),
  /** The run's latest held-out NMSE, when it was evaluated. */
  nmse: z.number().nullable(),
})
export type SplicableLayer = z.infer<typeof SplicableLayer>

export const GenerateRequest = z.strictObject({
  modelId: ModelId,
  prompt: promptString,
  maxTokens: z.number().int().min(1).max(4096).default(64),
  /** 0: greedy. */
  temperature: z.number().min(0).max(10).default(0),
  topK: z.number().int().min(0).max(100_000).default(0),
  topP: z.number().gt(0).max(1).default(1),
  frequencyPenalty: z.number().min(-10).max(10).default(0),
  seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
  /** How many likely next tokens to show at each position. */
  topPredictions: z.number().int().min(0).max(20).default(5),
  splice: GenerateSplice.optional(),
})
export type GenerateRequest = z.infer<typeof GenerateRequest>

export const GenerationId = z.string().regex(/^g[0-9]+$/)

export const TopPrediction = z.object({ id: z.number().int(), prob: z.number(), text: z.string() })

export const PlaygroundEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('prompt'), generationId: GenerationId, ids: z.array(z.number().int()), tokens: z.array(z.string()) }),
  z.object({
    type: z.literal('token'),
    generationId: GenerationId,
    index: z.number().int(),
    id: z.number().int(),
    text: z.string().nullable(),
    top: z.array(TopPrediction),
  }),
  z.object({
    type: z.literal('done'),
    generationId: GenerationId,
    stopReason: z.enum(['eos', 'max_tokens', 'context_full', 'aborted']),
    text: z.string().nullable(),
    seed: z.number().int(),
  }),
  z.object({ type: z.literal('error'), generationId: GenerationId, message: z.string() }),
])
export type PlaygroundEvent = z.infer<typeof PlaygroundEvent>
