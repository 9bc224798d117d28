// The expert-specialisation analysis of a μMoE GPT-2 (src/analysis/experts.ts): what the
// `expert-analysis` job is asked, and what it writes. The definitions of the shares, the
// thresholds and "specialised" are in src/analysis/experts.ts and docs/mumoe.md.
import { z } from 'zod'
import { pathString } from './limits.js'

/** The job's stored config. */
export const ExpertAnalysisConfig = z.strictObject({
  /** The model folder (absolute path). */
  model: pathString('the model folder'),
  /** A text dataset whose held-out split is read; default the pre-training run's, else the bundled KJV corpus. */
  data: pathString('the dataset path'),
  /** Tokens of held-out text (whole sequences, spread over the split). */
  tokens: z.number().int().min(64).max(1_000_000).default(32_768),
  heldOutFraction: z.number().min(0).lt(1).default(0.05),
  splitSeed: z.number().int().min(0).default(0),
  /** Sequence length; default the model's context (at most 256). */
  seqLen: z.number().int().min(4).max(4096).optional(),
})
export type ExpertAnalysisConfig = z.infer<typeof ExpertAnalysisConfig>

export const ExpertAnalysisRequest = z.strictObject({
  modelId: z.number().int().positive(),
  tokens: z.number().int().min(64).max(1_000_000).optional(),
  /** A dataset path to read held-out text from (default: see ExpertAnalysisConfig.data). */
  data: pathString('the dataset path').optional(),
})

export const ExpertAnalysisGet = z.strictObject({ runId: z.number().int().positive() })

const RunState = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'])

/** Whether a registered model has experts, and its analysis runs, newest first. */
export const ModelExperts = z.object({
  modelId: z.number().int().positive(),
  /** config.json mlp_kind: dense, cpmoe or trmoe (null: not a GPT-2 pre-trained here). */
  mlpKind: z.string().nullable(),
  nExperts: z.number().int().nullable(),
  runs: z.array(z.object({ id: z.number().int().positive(), status: RunState, tokens: z.number().int(), createdAt: z.string() })),
})
export type ModelExperts = z.infer<typeof ModelExperts>

export const TokenStat = z.object({
  id: z.number().int(),
  text: z.string(),
  /** Σ of the expert's gate weight over the token's occurrences. */
  weight: z.number(),
  /** Occurrences of the token in the analysed text. */
  count: z.number().int(),
  /** weight / count. */
  mean: z.number(),
  /** weight / the expert's total gate mass. */
  share: z.number(),
})
export type TokenStat = z.infer<typeof TokenStat>

export const ExpertContext = z.object({
  weight: z.number(),
  sequence: z.number().int(),
  position: z.number().int(),
  before: z.array(z.string()),
  token: z.string(),
  after: z.array(z.string()),
})
export type ExpertContext = z.infer<typeof ExpertContext>

export const Specialisation = z.object({ by: z.enum(['class', 'theme', 'token']), label: z.string(), share: z.number() })
export type Specialisation = z.infer<typeof Specialisation>

export const ExpertReport = z.object({
  expert: z.number().int(),
  /** The expert's share of the layer's gate mass (uniform: 1/N). */
  massShare: z.number(),
  /** Fraction of positions where its weight is above zero (entmax-1.5 is sparse). */
  activeFraction: z.number(),
  /** Mass at least THRESHOLDS.activeMass of a uniform share. */
  active: z.boolean(),
  topTokens: z.array(TokenStat),
  topTokensByMean: z.array(TokenStat),
  topContexts: z.array(ExpertContext),
  /** Raw share of the expert's mass per class. */
  classMass: z.array(z.number()),
  /** Base-rate balanced share per class (∝ mean weight over the class's tokens). */
  classBalanced: z.array(z.number()),
  topClass: z.string(),
  /** Entropy of classBalanced, bits. */
  classEntropy: z.number(),
  themeBalanced: z.array(z.number()).nullable(),
  topTheme: z.string().nullable(),
  /** The criteria that hold, strongest share first; empty: not specialised. */
  specialisedBy: z.array(Specialisation),
})
export type ExpertReport = z.infer<typeof ExpertReport>

export const SpecialisationSummary = z.object({
  experts: z.number().int(),
  active: z.number().int(),
  /** Fractions of the active experts. */
  specialised: z.number(),
  byClass: z.number(),
  byTheme: z.number().nullable(),
  byToken: z.number(),
  /** Over active experts, bits. */
  meanClassEntropy: z.number(),
  medianClassEntropy: z.number(),
  /** Active experts specialised in each class / theme. */
  classCounts: z.record(z.string(), z.number()),
  themeCounts: z.record(z.string(), z.number()).nullable(),
})
export type SpecialisationSummary = z.infer<typeof SpecialisationSummary>

export const LayerReport = z.object({ layer: z.number().int(), summary: SpecialisationSummary, experts: z.array(ExpertReport) })
export type LayerReport = z.infer<typeof LayerReport>

export const ExpertAnalysis = z.object({
  model: z.string(),
  nExperts: z.number().int(),
  nLayers: z.number().int(),
  text: z.object({ source: z.string(), sequences: z.number().int(), seqLen: z.number().int(), tokens: z.number().int() }),
  classes: z.array(z.string()),
  /** Fraction of the text's tokens in each class / theme. */
  classBase: z.array(z.number()),
  themes: z.array(z.string()).nullable(),
  themeBase: z.array(z.number()).nullable(),
  thresholds: z.object({ classShare: z.number(), tokenShare: z.number(), activeMass: z.number() }),
  /** All layers together. */
  summary: SpecialisationSummary,
  layers: z.array(LayerReport),
})
export type ExpertAnalysis = z.infer<typeof ExpertAnalysis>

export const ExpertAnalysisResult = z.object({
  runId: z.number().int().positive(),
  status: RunState,
  error: z.string().nullable(),
  /** Present once the run has succeeded. */
  analysis: ExpertAnalysis.nullable(),
})
export type ExpertAnalysisResult = z.infer<typeof ExpertAnalysisResult>
