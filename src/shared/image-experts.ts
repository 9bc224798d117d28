// Expert specialisation of a μMoE MLP-Mixer on images (src/analysis/image-experts, docs/image-experts.md):
// what the `image-experts` job is asked, and what it writes. The class shares, the dominance rule
// and its thresholds are the GPT-2 expert view's (src/analysis/specialisation.ts), so the share of
// dominated experts means the same for text and images and for any expert count.
import { z } from 'zod'
import { ImageSplitName } from './images.js'
import { pathString } from './limits.js'

export const TOP_IMAGES = 16

/** The job's stored config. */
export const ImageExpertsConfig = z.strictObject({
  /** A saved classifier folder: config.json + model.safetensors (absolute path). */
  model: pathString('the classifier folder'),
  /** A registered image dataset (images.list). */
  datasetId: z.number().int().positive(),
  split: ImageSplitName.default('test'),
  /** Analyse only the split's first N images (default: all of them). */
  maxImages: z.number().int().min(1).max(10_000_000).optional(),
  /** Images per forward. */
  batch: z.number().int().min(1).max(4096).default(256),
})
export type ImageExpertsConfig = z.infer<typeof ImageExpertsConfig>

export const ImageExpertsRequest = z
  .strictObject({
    /** A saved classifier folder… */
    model: pathString('the classifier folder').optional(),
    /** …or a succeeded classify-train run (its run folder). */
    trainRunId: z.number().int().positive().optional(),
    datasetId: z.number().int().positive(),
    split: ImageSplitName.optional(),
    maxImages: z.number().int().min(1).max(10_000_000).optional(),
  })
  .refine((r) => (r.model === undefined) !== (r.trainRunId === undefined), { message: 'give exactly one of model (a folder) or trainRunId', path: ['model'] })
export type ImageExpertsRequest = z.infer<typeof ImageExpertsRequest>

export const ImageExpertsGet = z.strictObject({ runId: z.number().int().positive() })

export const TopImage = z.object({
  /** Index of the image within the split (the order loadImageSplit returns). */
  index: z.number().int(),
  label: z.number().int(),
  /** The expert's gate weight on the image, the mean over its patch tokens. */
  weight: z.number(),
})
export type TopImage = z.infer<typeof TopImage>

export const ImageExpertReport = z.object({
  expert: z.number().int(),
  /** The expert's share of the block's gate mass (uniform: 1/N). */
  massShare: z.number(),
  /** Fraction of images on which its pooled weight is above zero (entmax-1.5 is sparse). */
  activeFraction: z.number(),
  /** Mass at least thresholds.activeMass of a uniform share. */
  active: z.boolean(),
  /** Highest pooled weight first (ties: the lower index), at most TOP_IMAGES. */
  topImages: z.array(TopImage),
  /** Raw share of the expert's gate mass per class. */
  classMass: z.array(z.number()),
  /** Base-rate balanced share per class (∝ its mean pooled weight over the class's images). */
  classBalanced: z.array(z.number()),
  topClass: z.string(),
  /** Entropy of classBalanced, bits. */
  classEntropy: z.number(),
  /** The class holding ≥ thresholds.classShare raw and balanced (active experts only), else null. */
  dominatedBy: z.string().nullable(),
})
export type ImageExpertReport = z.infer<typeof ImageExpertReport>

export const ImageExpertsSummary = z.object({
  experts: z.number().int(),
  active: z.number().int(),
  /** Fraction of the active experts dominated by one class. */
  dominated: z.number(),
  /** Over active experts, bits. */
  meanClassEntropy: z.number(),
  medianClassEntropy: z.number(),
  /** Active experts dominated by each class. */
  classCounts: z.record(z.string(), z.number()),
})
export type ImageExpertsSummary = z.infer<typeof ImageExpertsSummary>

export const ImageExpertsBlock = z.object({ block: z.number().int(), summary: ImageExpertsSummary, experts: z.array(ImageExpertReport) })
export type ImageExpertsBlock = z.infer<typeof ImageExpertsBlock>

export const ImageExpertAnalysis = z.object({
  model: z.string(),
  /** cpmoe or trmoe. */
  mlp: z.string(),
  nExperts: z.number().int(),
  nBlocks: z.number().int(),
  /** Patch tokens per image that each image's gate weights are averaged over. */
  patches: z.number().int(),
  data: z.object({ datasetId: z.number().int(), split: ImageSplitName, images: z.number().int() }),
  classes: z.array(z.string()),
  /** Images per class in the analysed data. */
  classCounts: z.array(z.number().int()),
  thresholds: z.object({ classShare: z.number(), activeMass: z.number() }),
  /** All blocks together. */
  summary: ImageExpertsSummary,
  blocks: z.array(ImageExpertsBlock),
})
export type ImageExpertAnalysis = z.infer<typeof ImageExpertAnalysis>

const RunState = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'])

export const ImageExpertsResult = z.object({
  runId: z.number().int().positive(),
  status: RunState,
  error: z.string().nullable(),
  /** Present once the run has succeeded. */
  analysis: ImageExpertAnalysis.nullable(),
})
export type ImageExpertsResult = z.infer<typeof ImageExpertsResult>
