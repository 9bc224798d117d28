// The Pre-train wizard's preview: what a configuration would build (parameters per part, the
// μMoE rank matched to the dense MLP's budget), how long it would run, and where it would save.
// The bounds mirror PretrainConfig in api.ts so a preview never accepts what a start refuses.
import { z } from 'zod'

export const PretrainPreviewRequest = z.strictObject({
  layers: z.number().int().min(1).max(48),
  dModel: z.number().int().min(8).max(4096),
  heads: z.number().int().min(1).max(64),
  ctx: z.number().int().min(4).max(4096),
  vocabSize: z.number().int().min(300).max(65_535).default(4096),
  mlp: z.enum(['dense', 'cpmoe', 'trmoe']).default('dense'),
  experts: z.number().int().min(2).max(1024).optional(),
  /** CP rank, or the TR rank r3 (r1 = r2 = 4); default: parameter-matched. */
  rank: z.number().int().min(1).max(65_536).optional(),
  tokens: z.number().int().min(1).max(1e12).optional(),
  batch: z.number().int().min(1).max(4096).default(8),
  warmup: z.number().int().min(0).optional(),
  /** A folder name (no path) under the store's models folder. */
  outName: z.string().min(1, 'the folder name is empty').max(100, 'the folder name can be at most 100 characters').optional(),
})
export type PretrainPreviewRequest = z.input<typeof PretrainPreviewRequest>

const Ranks = z.object({ r1: z.number().int(), r2: z.number().int(), r3: z.number().int() })

export const PretrainPreview = z.object({
  /** Parameters of the whole model by part (all blocks summed). */
  params: z.object({
    embeddings: z.number().int(),
    attention: z.number().int(),
    mlp: z.number().int(),
    layerNorms: z.number().int(),
    total: z.number().int(),
  }),
  /** One block's MLP: as configured, and the dense MLP it stands in for. */
  mlpPerBlock: z.number().int(),
  denseMlpPerBlock: z.number().int(),
  /** For a μMoE MLP with experts: the largest rank within the dense MLP's budget; else null. */
  matched: z.object({ rank: z.number().int(), ranks: Ranks.nullable() }).nullable(),
  /** The rank actually used (the given one, or the matched one); null for dense. */
  rankUsed: z.number().int().nullable(),
  steps: z.number().int().nullable(),
  warmupSteps: z.number().int().nullable(),
  /** A rough wall time, and what it is based on. */
  estimate: z
    .object({ seconds: z.number(), tokensPerSecond: z.number(), basis: z.string() })
    .nullable(),
  /** Absolute output folder for outName, whether it already holds files, and the folder it goes in. */
  out: z.string().nullable(),
  outExists: z.boolean(),
  modelsDir: z.string(),
  /** The text corpus shipped with the app (a training file), when present. */
  bundledCorpus: z.object({ path: z.string(), name: z.string(), bytes: z.number() }).nullable(),
})
export type PretrainPreview = z.infer<typeof PretrainPreview>

/** Folder names the wizard may create: no separators, no leading dot. */
export const OUT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
