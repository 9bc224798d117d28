// Test-time privacy (docs/privacy.md): the protected set, Pareto fine-tuning (Algorithm 1, job
// privacy-finetune), the certified Newton step (Algorithm 2, job privacy-certify), the attacks
// (job privacy-attack), a certificate's verification (job privacy-verify), and what each run
// writes in its folder. Every request is validated here, sizes included; the jobs check what only
// the data can tell (a class the dataset lacks, an index past the split's end).
import { z } from 'zod'
import { pathString } from './limits.js'

const RunId = z.number().int().positive()
const Seed = z.number().int().min(0).max(2 ** 31 - 1)

/**
 * The classifier kinds the certified path (Algorithm 2) supports: those with an exact curvature
 * module (src/engine/privacy/curvature/registry.ts; a test keeps the two lists equal). Pareto
 * fine-tuning supports every classifier.
 */
export const CERTIFIABLE_MODEL_KINDS = ['logreg', 'mlp'] as const
export type CertifiableKind = (typeof CERTIFIABLE_MODEL_KINDS)[number]

/** The most indices a protected set listed by hand may have (the UI picks, a CLI file). */
export const MAX_PROTECTED_INDICES = 60_000

/**
 * D_f, the protected set, as indices into the classifier's dataset's TRAINING split (the split as
 * the dataset records it). D_r is the rest of that split. Both are recorded by hash.
 */
export const ProtectSpec = z.discriminatedUnion('by', [
  /** The images of one class: all of them, or `count` of them drawn with `seed`. */
  z.strictObject({ by: z.literal('class'), class: z.number().int().min(0).max(9999), count: z.number().int().min(1).max(MAX_PROTECTED_INDICES).optional(), seed: Seed.default(0) }),
  /** `count` images drawn uniformly from the training split with `seed`. */
  z.strictObject({ by: z.literal('random'), count: z.number().int().min(1).max(MAX_PROTECTED_INDICES), seed: Seed.default(0) }),
  /** Exactly these training-split indices (duplicates refused). */
  z.strictObject({ by: z.literal('indices'), indices: z.array(z.number().int().min(0)).min(1).max(MAX_PROTECTED_INDICES) }),
])
export type ProtectSpec = z.input<typeof ProtectSpec>

export const UncertaintyLossName = z.enum(['forward-kl', 'reverse-kl', 'squared'])

/** The objective F(w) = θ·L_K(D_f) + (1−θ)·CE(D_r) + (λ/2)‖w‖². */
export const PrivacyObjective = z.strictObject({
  theta: z.number().gt(0).lt(1).default(0.75),
  lambda: z.number().positive().max(100).default(1e-3),
  lossK: UncertaintyLossName.default('forward-kl'),
  /** Logits ÷ temperature inside F only (1 = none). */
  temperature: z.number().positive().max(100).default(1),
})
export type PrivacyObjective = z.infer<typeof PrivacyObjective>

/** The attacks run on the resulting model over D_f (each optional; radii in pixel units of [0, 1]). */
export const AttackConfig = z.strictObject({
  gaussian: z.strictObject({ radius: z.number().positive().max(1).default(0.1), seed: Seed.default(0) }).optional(),
  fgsm: z.strictObject({ radius: z.number().positive().max(1).default(0.1) }).optional(),
  pgd: z
    .strictObject({
      radius: z.number().positive().max(1).default(0.1),
      steps: z.number().int().min(1).max(1000).default(50),
      stepSize: z.number().positive().max(1).default(1e-3),
    })
    .optional(),
  /** A protected image counts as "confident again" when its max probability exceeds this. */
  confidentAbove: z.number().gt(0).lt(1).default(0.5),
})
export type AttackConfig = z.infer<typeof AttackConfig>

/** Algorithm 1: the privacy-finetune job's config. */
export const PrivacyFinetuneConfig = z.strictObject({
  /** The classify-train run whose saved classifier is w*. */
  trainRunId: RunId,
  protect: ProtectSpec,
  objective: PrivacyObjective.prefault({}),
  /** Further θ values to fine-tune for the trade-off curve (each from w*, same settings). */
  sweep: z.array(z.number().gt(0).lt(1)).max(16).default([]),
  optimizer: z.enum(['adam', 'sgd']).default('adam'),
  lr: z.number().positive().max(10).default(1e-3),
  epochs: z.number().int().min(1).max(10_000).default(30),
  /** Images per step from D_r (D_f is used whole every step); 0 = full batch (one step per epoch, as the paper). */
  batch: z.number().int().min(0).max(65_536).default(0),
  /** PCGrad-style gradient surgery when ∇L_K and ∇L_A conflict. */
  surgery: z.boolean().default(false),
  /** Project w to ‖w‖ ≤ C after each step (the whole vector, as the bound assumes); null = off. */
  projectNorm: z.number().positive().max(1e9).nullable().default(null),
  /** The kept epoch must reach at least this retain accuracy (0–1). */
  retainFloor: z.number().min(0).max(1).default(0),
  attacks: AttackConfig.prefault({}),
  seed: Seed.default(0),
})
export type PrivacyFinetuneConfig = z.infer<typeof PrivacyFinetuneConfig>
export type PrivacyFinetuneRequest = z.input<typeof PrivacyFinetuneConfig>

/** Algorithm 2: the privacy-certify job's config. */
export const PrivacyCertifyConfig = z.strictObject({
  trainRunId: RunId,
  protect: ProtectSpec,
  objective: PrivacyObjective.prefault({}),
  /** The parameter-norm bound C the certificate assumes (‖w*‖ and ‖w⁻‖ are checked against it). */
  normBound: z.number().positive().max(1e9),
  epsilon: z.number().positive().max(1000).default(1),
  delta: z.number().gt(0).lt(1).default(1e-5),
  /** The noise's seed (recorded: verification regenerates it). */
  seed: Seed.default(0),
  solver: z
    .strictObject({
      /** auto: Cholesky on the dense Hessian when P ≤ denseLimit, else conjugate gradient. */
      method: z.enum(['auto', 'cholesky', 'cg']).default('auto'),
      denseLimit: z.number().int().min(1).max(20_000).default(4000),
      tolerance: z.number().positive().max(1).default(1e-8),
      maxIterations: z.number().int().min(1).max(100_000).default(2000),
    })
    .prefault({}),
  /** The θ values whose trade-off bound is computed and measured (each a Pareto fine-tune). */
  sweep: z.array(z.number().gt(0).lt(1)).max(16).default([]),
  attacks: AttackConfig.prefault({}),
  /** Also write the certificate folder here (the CLI's --out); it is always written in the run folder. */
  outDir: pathString('the certificate folder').optional(),
})
export type PrivacyCertifyConfig = z.infer<typeof PrivacyCertifyConfig>
export type PrivacyCertifyRequest = z.input<typeof PrivacyCertifyConfig>

/** privacy-attack: attacks on a classifier run's model or a certificate's released model. */
export const PrivacyAttackConfig = z.strictObject({
  target: z.union([z.strictObject({ runId: RunId }), z.strictObject({ certificateId: z.number().int().positive() })]),
  /** For a classifier run target; a certificate brings its own protected set. */
  protect: ProtectSpec.optional(),
  attacks: AttackConfig.prefault({}),
})
export type PrivacyAttackConfig = z.infer<typeof PrivacyAttackConfig>
export type PrivacyAttackRequest = z.input<typeof PrivacyAttackConfig>

/** privacy-verify: recompute a certificate from its stored inputs. */
export const PrivacyVerifyConfig = z.strictObject({
  certificate: z.union([z.strictObject({ id: z.number().int().positive() }), z.strictObject({ dir: pathString('the certificate folder') })]),
})
export type PrivacyVerifyConfig = z.infer<typeof PrivacyVerifyConfig>
export type PrivacyVerifyRequest = z.input<typeof PrivacyVerifyConfig>

// ------------------------------------------------------------------------------- results

export const Provenance = z.enum(['computed', 'bounded', 'estimated', 'assumed'])
export const Constant = z.object({ value: z.number(), provenance: Provenance, method: z.string() })

/** How confident a model is on a set: confidence distance, accuracy, and max-probability histogram. */
export const ConfidenceSummary = z.object({
  images: z.number().int(),
  /** Mean of max(0, max_c p_c − 1/|Y|). */
  distance: z.number(),
  accuracy: z.number(),
  /** Max probability per image in 20 equal bins over [1/|Y|, 1]. */
  histogram: z.object({ edges: z.array(z.number()), counts: z.array(z.number().int()) }),
})
export type ConfidenceSummary = z.infer<typeof ConfidenceSummary>

/** A model measured where it matters: on D_f, on D_r, on the test split. */
export const ModelReport = z.object({
  forget: ConfidenceSummary,
  retainAccuracy: z.number(),
  retainLoss: z.number(),
  testAccuracy: z.number(),
})
export type ModelReport = z.infer<typeof ModelReport>

export const AttackOutcome = z.object({
  kind: z.enum(['gaussian', 'fgsm', 'pgd']),
  radius: z.number(),
  steps: z.number().int(),
  stepSize: z.number(),
  distanceBefore: z.number(),
  distanceAfter: z.number(),
  confidentFraction: z.number(),
  confidentAbove: z.number(),
})
export type AttackOutcome = z.infer<typeof AttackOutcome>

export const ProtectedSetInfo = z.object({
  spec: z.record(z.string(), z.unknown()),
  forget: z.number().int(),
  retain: z.number().int(),
  /** sha256 of the sorted forget indices (as little-endian uint32) and of the retain indices. */
  forgetHash: z.string(),
  retainHash: z.string(),
  /** Per class, how many protected images. */
  classCounts: z.array(z.number().int()),
})
export type ProtectedSetInfo = z.infer<typeof ProtectedSetInfo>

export const ParetoEpochRecord = z.object({
  epoch: z.number().int(),
  objective: z.number(),
  lossK: z.number(),
  lossA: z.number(),
  forgetDistance: z.number(),
  forgetAccuracy: z.number(),
  retainAccuracy: z.number(),
  testAccuracy: z.number().nullable(),
  weightNorm: z.number(),
  conflicts: z.number(),
  seconds: z.number(),
})

/** One θ of a sweep: the kept model's figures, and the paper's bound on the retain-loss change. */
export const TradeoffPoint = z.object({
  theta: z.number(),
  forgetDistance: z.number(),
  testAccuracy: z.number(),
  retainLoss: z.number(),
  /** |retain loss(θ) − retain loss(w*)|, measured. */
  retainLossChange: z.number(),
  /** The bound on that change from the constants (null where the bound does not apply; see `boundNote`). */
  bound: z.number().nullable(),
  boundNote: z.string(),
})
export type TradeoffPoint = z.infer<typeof TradeoffPoint>

/** result.json of a privacy-finetune run. */
export const PrivacyFinetuneResult = z.object({
  protected: ProtectedSetInfo,
  classes: z.array(z.string()),
  before: ModelReport,
  after: ModelReport,
  epochs: z.array(ParetoEpochRecord),
  kept: z.object({ epoch: z.number().int(), reason: z.string() }),
  sweep: z.array(TradeoffPoint),
  attacks: z.array(AttackOutcome),
  /** The kept model, a saved classifier folder (reloadable like a training run's). */
  modelDir: z.string(),
  seconds: z.number(),
})
export type PrivacyFinetuneResult = z.infer<typeof PrivacyFinetuneResult>

/** result.json of a privacy-certify run (certificate.json holds the full certificate). */
export const PrivacyCertifyResult = z.object({
  certificateId: z.number().int(),
  dir: z.string(),
  protected: ProtectedSetInfo,
  classes: z.array(z.string()),
  epsilon: z.number(),
  delta: z.number(),
  sensitivity: z.number(),
  sigma: z.number(),
  constants: z.record(z.string(), Constant),
  newton: z.object({
    method: z.string(),
    iterations: z.number().int(),
    relativeResidual: z.number(),
    lambdaMin: z.number(),
    lambdaMinMethod: z.string(),
    shift: z.number(),
    seconds: z.number(),
  }),
  /** w*, w⁻ (before noise) and w̃ (released). */
  before: ModelReport,
  newtonModel: ModelReport,
  released: ModelReport,
  /** False when σ makes the released model useless (its test accuracy within 5 points of chance, or below before − 20). */
  useful: z.boolean(),
  /** Plain words on usefulness, and the ε that would give σ small enough (null if none ≤ 1000). */
  usefulness: z.object({ note: z.string(), epsilonForUseful: z.number().nullable() }),
  sweep: z.array(TradeoffPoint),
  attacks: z.array(AttackOutcome),
  seconds: z.number(),
})
export type PrivacyCertifyResult = z.infer<typeof PrivacyCertifyResult>

export const PrivacyAttackResult = z.object({ target: z.string(), attacks: z.array(AttackOutcome) })
export type PrivacyAttackResult = z.infer<typeof PrivacyAttackResult>

export const VerifyCheck = z.object({
  name: z.string(),
  stored: z.union([z.number(), z.string()]),
  recomputed: z.union([z.number(), z.string()]),
  /** The tolerance it was compared with, e.g. "relative 1e-4", "exact". */
  tolerance: z.string(),
  pass: z.boolean(),
})
export const PrivacyVerifyResult = z.object({ dir: z.string(), pass: z.boolean(), checks: z.array(VerifyCheck), seconds: z.number() })
export type PrivacyVerifyResult = z.infer<typeof PrivacyVerifyResult>

export const CertificateStatus = z.enum(['issued', 'verified', 'failed'])

/** A certificate as listed in the store. */
export const CertificateSummary = z.object({
  id: z.number().int(),
  runId: z.number().int(),
  trainRunId: z.number().int(),
  dir: z.string(),
  model: z.string(),
  epsilon: z.number(),
  delta: z.number(),
  sigma: z.number(),
  sensitivity: z.number(),
  useful: z.boolean(),
  status: CertificateStatus,
  createdAt: z.string(),
  verifiedAt: z.string().nullable(),
})
export type CertificateSummary = z.infer<typeof CertificateSummary>

/**
 * A privacy figure (σ, Δ, a constant, a distance) as text, the same on the run page and in a
 * certificate's report.html, so a number read on one can be found on the other: 6 significant
 * digits, exponent form when tiny or huge (σ with honest constants is often 1e+10 or more), never
 * rounding a value to 0. Not finite: as JavaScript writes it.
 */
export function formatFigure(x: number): string {
  if (!Number.isFinite(x)) return String(x)
  if (x === 0) return '0'
  const a = Math.abs(x)
  return a >= 1e-3 && a < 1e6 ? String(Number(x.toPrecision(6))) : x.toExponential(5).replace(/\.?0+e/, 'e')
}

// ------------------------------------------------------------------------------- requests

export const PrivacyPreviewRequest = z.strictObject({ trainRunId: RunId, protect: ProtectSpec })
export const PrivacyGetRequest = z.strictObject({ runId: RunId })

/**
 * The most bytes of report.html privacy.getReport returns. A report is tens of kilobytes (inline
 * CSS and SVG, no images); the limit keeps a replaced or corrupt file from filling the wire.
 */
export const MAX_REPORT_BYTES = 2 * 1024 * 1024
export const PrivacyReportRequest = z.strictObject({ certificateId: z.number().int().positive() })
/** privacy.getReport: a certificate folder's report.html as text (the app serves no files). */
export const PrivacyReport = z.object({ certificateId: z.number().int(), dir: z.string(), html: z.string() })
export type PrivacyReport = z.infer<typeof PrivacyReport>

/** privacy.get: a privacy run's config, status and (once finished) its result. */
export const PrivacyRunState = z.object({
  runId: z.number().int(),
  kind: z.enum(['privacy-finetune', 'privacy-certify', 'privacy-attack', 'privacy-verify']),
  status: z.string(),
  error: z.string().nullable(),
  config: z.record(z.string(), z.unknown()),
  finetune: PrivacyFinetuneResult.nullable(),
  certify: PrivacyCertifyResult.nullable(),
  attack: PrivacyAttackResult.nullable(),
  verify: PrivacyVerifyResult.nullable(),
})
export type PrivacyRunState = z.infer<typeof PrivacyRunState>

/** File names in a run folder and in a certificate folder (README, "Certificate folder"). */
export const PRIVACY_RESULT_FILE = 'result.json'
export const CERTIFICATE_DIR = 'certificate'
export const CERTIFICATE_FILE = 'certificate.json'
export const CERTIFICATE_REPORT = 'report.html'
export const CERTIFICATE_PROTECTED = 'protected.json'
/** w* (the trained model), w⁻ (after the Newton step, before noise), w̃ (released = w⁻ + noise). */
export const CERTIFICATE_W_STAR = 'w-star.safetensors'
export const CERTIFICATE_W_MINUS = 'w-minus.safetensors'
/** The released model as a saved classifier folder: config.json + model.safetensors (= w̃). */
export const CERTIFICATE_RELEASED_DIR = 'released'
