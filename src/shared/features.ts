// Feature browsing (issue 11): the `feature-index` job's config and the features.* API shapes.
// Pure zod, so the contract, the CLI and the renderer share it. What is computed and how:
// docs/features.md and src/analysis/features/accumulator.ts.
import { z } from 'zod'
import { fieldName, pathString } from './limits.js'

const RunId = z.number().int().positive()

/** Feature-index bounds: budgets a person may ask for, and page sizes. */
export const FEATURE_LIMITS = {
  /** Tokens an index reads at most (its token file is 4 bytes a token). */
  maxTokens: 10_000_000,
  /** The default budget: about a minute or two for the demo model on 2 loaded cores (bench/README.md). */
  defaultTokens: 65_536,
  maxPage: 1000,
  /** Longest text features.search reads. */
  maxSearchChars: 20_000,
} as const

/** A `feature-index` run's stored config. */
export const FeatureIndexConfig = z.strictObject({
  /** The `convert` or `layer-import` run whose layer is indexed. */
  layerRunId: RunId,
  /** The model folder; default the layer's (as an evaluation finds it). */
  model: pathString('the model folder').optional(),
  /** A dataset path or registered id; default the layer's training data. Only its held-out split is read. */
  data: z.union([pathString('the dataset path'), RunId]).optional(),
  textField: fieldName('the text field').optional(),
  /** Held-out tokens to index (whole sequences of ctx tokens, at least one). */
  tokens: z.number().int().positive().max(FEATURE_LIMITS.maxTokens).default(FEATURE_LIMITS.defaultTokens),
  /** Tokens per sequence; default the layer's training ctx. */
  ctx: z.number().int().min(2).max(4096).optional(),
  /** Sequences per forward pass. */
  batch: z.number().int().positive().max(256).default(8),
  /** Seeds the reservoir sampling of the quantile bands. */
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
})
export type FeatureIndexConfig = z.infer<typeof FeatureIndexConfig>

/** features.start: the layer run and any overrides. */
export const FeatureIndexRequest = FeatureIndexConfig.omit({ seed: true }).extend({
  tokens: z.number().int().positive().max(FEATURE_LIMITS.maxTokens).optional(),
  batch: z.number().int().positive().max(256).optional(),
})

/** Which index: a `feature-index` run, or a layer run (its newest succeeded index). */
const IndexRef = z.strictObject({
  /** A feature-index run, or a layer run whose newest succeeded index is meant. */
  runId: RunId,
})

export const FeatureListRequest = IndexRef.extend({
  sort: z.enum(['freq', 'max', 'unit']).default('freq'),
  order: z.enum(['desc', 'asc']).default('desc'),
  /** Keep units whose firing frequency is at least this (0…1). */
  minFrequency: z.number().min(0).max(1).optional(),
  maxFrequency: z.number().min(0).max(1).optional(),
  offset: z.number().int().min(0).max(10_000_000).default(0),
  limit: z.number().int().min(1).max(FEATURE_LIMITS.maxPage).default(100),
  /** Keep units whose label contains this (case-insensitive); unlabelled units are then left out. */
  label: z.string().min(1).max(200).optional(),
})
export type FeatureListRequest = z.infer<typeof FeatureListRequest>

export const FeatureIndexInfo = z.object({
  /** The feature-index run. */
  indexRunId: RunId,
  layerRunId: RunId,
  kind: z.string(),
  block: z.number().int(),
  width: z.number().int(),
  k: z.number().int(),
  /** Tokens indexed. */
  tokens: z.number().int(),
  seqLen: z.number().int(),
  /** Units that never fired on the indexed tokens. */
  dead: z.number().int(),
  /** The upper edges of the 50 log-scale histogram bins start at edges[1]; edges[0] is the first bin's lower edge (both end bins are open). */
  histogramEdges: z.array(z.number()),
})
export type FeatureIndexInfo = z.infer<typeof FeatureIndexInfo>

export const FeatureUnitRow = z.object({
  unit: z.number().int(),
  count: z.number().int(),
  frequency: z.number(),
  /** Mean activation over the tokens where the unit fired. */
  meanActivation: z.number(),
  maxActivation: z.number(),
  /** The user's label on the unit (features.setLabel), null where it has none. */
  label: z.string().nullable(),
})
export type FeatureUnitRow = z.infer<typeof FeatureUnitRow>

export const FeatureList = z.object({
  index: FeatureIndexInfo,
  /** Live units matching the filter (dead units are counted in index.dead, never listed). */
  total: z.number().int(),
  units: z.array(FeatureUnitRow),
})
export type FeatureList = z.infer<typeof FeatureList>

export const FeatureGetRequest = IndexRef.extend({ unit: z.number().int().min(0).max(10_000_000) })

export const FeatureContext = z.object({
  /** Token ids of the context's sequence from its first token through the window's last token. */
  ids: z.array(z.number().int()),
  /** Index in ids of the token the context is ranked by. */
  position: z.number().int(),
  /** The unit's activation at ids[position]. */
  value: z.number(),
  /** The unit's activation at every index of ids (0 where it did not fire). */
  values: z.array(z.number()),
  /** Decoded text of each id, when the model folder has a tokenizer. */
  tokens: z.array(z.string()).nullable(),
})
export type FeatureContext = z.infer<typeof FeatureContext>

export const FeatureUnit = z.object({
  index: FeatureIndexInfo,
  stats: FeatureUnitRow,
  /** Counts per histogram bin (index.histogramEdges). */
  histogram: z.array(z.number().int()),
  top: z.array(FeatureContext),
  bands: z.array(z.object({ lo: z.number(), hi: z.number(), contexts: z.array(FeatureContext) })),
  /** Approximate (Misra–Gries) co-firing counts: lower bounds, largest first. */
  cofiring: z.array(z.object({ unit: z.number().int(), count: z.number().int() })),
  /** The unit's direct effect on the logits: what was computed, in words, and the tokens it promotes / suppresses most (empty where not computed). */
  effect: z.object({
    description: z.string(),
    top: z.array(z.object({ id: z.number().int(), text: z.string().nullable(), value: z.number() })),
    bottom: z.array(z.object({ id: z.number().int(), text: z.string().nullable(), value: z.number() })),
  }),
})
export type FeatureUnit = z.infer<typeof FeatureUnit>

/** features.listByToken: the units that fire most on a token, by its text or its id. */
export const FeatureTokenRequest = IndexRef.extend({
  /** The token's exact decoded text (" LORD", with its leading space), as the tokenizer writes it. */
  token: z.string().min(1).max(256).optional(),
  tokenId: z.number().int().min(0).max(10_000_000).optional(),
}).refine((r) => (r.token === undefined) !== (r.tokenId === undefined), { message: 'give exactly one of token or tokenId', path: ['token'] })

export const FeatureTokenUnits = z.object({
  index: FeatureIndexInfo,
  /** One entry per token id with that text (usually one); empty when no indexed token has it. */
  matches: z.array(
    z.object({
      tokenId: z.number().int(),
      text: z.string().nullable(),
      /** Times the token occurs in the indexed text. */
      occurrences: z.number().int(),
      /** Units firing on it, most often first: Misra–Gries counts (lower bounds) and their share of the occurrences. */
      units: z.array(z.object({ unit: z.number().int(), count: z.number().int(), share: z.number() })),
    }),
  ),
})
export type FeatureTokenUnits = z.infer<typeof FeatureTokenUnits>

// ---------------------------------------------------------------------------------------------
// Reading a layer on new text (features.search), ablation (features.ablation), the user's labels
// (features.setLabel / features.listLabels). `runId` is an index run or a layer run, as above;
// search also works on a layer run with no index (its frequencies are then null).

const TokenId = z.number().int().min(0).max(10_000_000)

/** features.search: the units active at each token of a text, or of token ids (the Playground's token inspector). */
export const FeatureSearchRequest = IndexRef.extend({
  /** Text to read; a BOS is put first where the model has one, and it is cut to the model's context. */
  text: z.string().min(1).max(FEATURE_LIMITS.maxSearchChars).optional(),
  /** Token ids to read as they are (a Playground generation's prompt and output ids). */
  ids: z.array(TokenId).min(1).max(4096).optional(),
}).refine((r) => (r.text === undefined) !== (r.ids === undefined), { message: 'give exactly one of text or ids', path: ['text'] })

export const FeatureSearchResult = z.object({
  layerRunId: RunId,
  /** The index whose frequencies are shown; null where the layer has none. */
  indexRunId: RunId.nullable(),
  /** One entry per token read (BOS included), in order. */
  tokens: z.array(
    z.object({
      id: z.number().int(),
      text: z.string().nullable(),
      /** The units active here (post-TopK code > 0), highest activation first. */
      units: z.array(z.object({ unit: z.number().int(), value: z.number(), frequency: z.number().nullable() })),
    }),
  ),
  /** True when the text was longer than the model's context and was cut. */
  truncated: z.boolean(),
})
export type FeatureSearchResult = z.infer<typeof FeatureSearchResult>

export const FeatureAblationRequest = FeatureGetRequest

/** features.ablate: the unit's direct effect on the loss, on its top contexts. */
export const FeatureAblation = z.object({
  /** What was computed, in words. */
  description: z.string(),
  contexts: z.array(
    z.object({
      /** The context's index in features.get's `top`. */
      rank: z.number().int(),
      /** The next token after the ranked position, whose log-prob is compared. */
      nextId: z.number().int(),
      nextText: z.string().nullable(),
      logProb: z.number(),
      ablatedLogProb: z.number(),
      /** ablatedLogProb − logProb: negative where the unit helped predict the next token. */
      delta: z.number(),
    }),
  ),
  /** Mean delta over the contexts; null when none has a next token. */
  meanDelta: z.number().nullable(),
})
export type FeatureAblation = z.infer<typeof FeatureAblation>

/** The user's label and notes on a unit, kept per layer run (they outlive re-indexing). */
export const FEATURE_LABEL_LIMITS = { maxLabel: 200, maxNotes: 10_000 } as const

export const FeatureLabelSet = z.strictObject({
  runId: RunId,
  unit: z.number().int().min(0).max(10_000_000),
  /** Empty label and notes remove the entry. */
  label: z.string().max(FEATURE_LABEL_LIMITS.maxLabel),
  notes: z.string().max(FEATURE_LABEL_LIMITS.maxNotes).default(''),
})

export const FeatureLabel = z.object({
  layerRunId: RunId,
  unit: z.number().int(),
  label: z.string(),
  notes: z.string(),
  /** ISO time of the last change. */
  updatedAt: z.string(),
})
export type FeatureLabel = z.infer<typeof FeatureLabel>

export const FeatureLabelsRequest = IndexRef.extend({
  /** Keep labels or notes containing this (case-insensitive); all when absent. */
  query: z.string().min(1).max(FEATURE_LABEL_LIMITS.maxLabel).optional(),
})

export const FeatureLabels = z.object({ layerRunId: RunId, labels: z.array(FeatureLabel) })
export type FeatureLabels = z.infer<typeof FeatureLabels>
