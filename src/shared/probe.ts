// Sparse probing (issue 11): the `probe` job's config and the probe.* API shapes. Pure zod, so
// the contract, the CLI and the renderer share it. The method: docs/probing.md and
// src/analysis/probe/probe.ts.
import { z } from 'zod'
import { fieldName, pathString } from './limits.js'

const RunId = z.number().int().positive()

export const PROBE_LIMITS = {
  /** Examples read from a task file at most (the pooled codes are sparse: K·examples numbers at most per position). */
  maxExamples: 100_000,
  /** Default cap: the shipped task (756 verses) fits whole. */
  defaultExamples: 5_000,
  /** Largest task file read, in bytes. */
  maxFileBytes: 64 * 1024 * 1024,
  /** Candidate units per class: the top ones by mean(positive) − mean(negative) on the training split. */
  candidates: 100,
  /** Most classes a task may have. */
  maxClasses: 100,
  /** Least examples of one class: each split needs at least one. */
  minPerClass: 5,
  /** Probe runs probe.list returns at most. */
  maxList: 1000,
} as const

/** The result file a succeeded `probe` run leaves in its run folder (ProbeResult as JSON). */
export const PROBE_RESULT_FILE = 'probe.json'

/** The split fractions (train, validation, test), per class. */
export const PROBE_SPLIT = { train: 0.6, validation: 0.2, test: 0.2 } as const

/** A `probe` run's stored config. */
export const ProbeConfig = z.strictObject({
  /** The `convert` or `layer-import` run whose layer's codes are probed. */
  layerRunId: RunId,
  /** A .csv or .jsonl file of labelled texts, or a registered dataset's id (a file of one of those formats). */
  data: z.union([pathString('the task file'), RunId]),
  textField: fieldName('the text field').default('text'),
  labelField: fieldName('the label field').default('label'),
  /** Seeds the stratified train / validation / test split. */
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
  /** Examples read at most (the file's first ones). */
  maxExamples: z.number().int().min(1).max(PROBE_LIMITS.maxExamples).default(PROBE_LIMITS.defaultExamples),
  /** Texts per forward pass. */
  batch: z.number().int().min(1).max(256).default(16),
})
export type ProbeConfig = z.infer<typeof ProbeConfig>

/** probe.start: the layer run, the task, and any overrides. */
export const ProbeStartRequest = z.strictObject({
  layerRunId: RunId,
  data: z.union([pathString('the task file'), RunId]),
  textField: fieldName('the text field').optional(),
  labelField: fieldName('the label field').optional(),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  maxExamples: z.number().int().min(1).max(PROBE_LIMITS.maxExamples).optional(),
})
export type ProbeStartRequest = z.infer<typeof ProbeStartRequest>

const Scores = z.object({ f1: z.number(), balancedAccuracy: z.number() })

/** One class's one-vs-rest probe. */
export const ProbeClassResult = z.object({
  label: z.string(),
  /** Positives in train / validation / test. */
  positives: z.object({ train: z.number().int(), validation: z.number().int(), test: z.number().int() }),
  /** Candidate units considered (at most PROBE_LIMITS.candidates). */
  candidates: z.number().int(),
  /** The unit chosen on the validation split; null when no unit fired on the training split. */
  unit: z.number().int().nullable(),
  /** Its mean(positive) − mean(negative) on the training split. */
  meanDifference: z.number(),
  /** The 1-D logistic regression on the pooled code x: p = σ(weight·x + bias). */
  weight: z.number(),
  bias: z.number(),
  validation: Scores,
  test: Scores,
  /** For comparison only: the unit the official code would pick (best test F1) and its test scores: optimistic. */
  testChosen: z.object({ unit: z.number().int().nullable(), f1: z.number(), balancedAccuracy: z.number() }),
})
export type ProbeClassResult = z.infer<typeof ProbeClassResult>

/** What a succeeded `probe` run wrote. */
export const ProbeResult = z.object({
  layer: z.object({ runId: RunId, kind: z.string(), block: z.number().int(), k: z.number().int(), width: z.number().int() }),
  task: z.object({
    /** The file's name, for tables. */
    name: z.string(),
    path: z.string(),
    textField: z.string(),
    labelField: z.string(),
    examples: z.number().int(),
    /** Texts cut to the model's context (their first tokens are pooled). */
    truncated: z.number().int(),
    /** Examples whose text has no token after BOS: left out (nothing to pool). */
    empty: z.number().int(),
  }),
  split: z.object({ seed: z.number().int(), train: z.number().int(), validation: z.number().int(), test: z.number().int() }),
  classes: z.array(ProbeClassResult),
  /** Means over the classes of the test scores (chosen on validation), and of the optimistic test-chosen ones. */
  mean: z.object({ f1: z.number(), balancedAccuracy: z.number(), testChosenF1: z.number(), testChosenBalancedAccuracy: z.number() }),
})
export type ProbeResult = z.infer<typeof ProbeResult>

export const ProbeGetRequest = z.strictObject({ runId: RunId })

/** RunStatus's values, spelt here because api.ts imports this module (it cannot import back). */
const Status = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'])

export const ProbeRunState = z.object({
  runId: RunId,
  status: Status,
  error: z.string().nullable(),
  layerRunId: RunId,
  result: ProbeResult.nullable(),
})
export type ProbeRunState = z.infer<typeof ProbeRunState>

export const ProbeListRequest = z.strictObject({
  limit: z.number().int().min(1).max(PROBE_LIMITS.maxList).default(200),
})

/** One row of the comparison table: a probe run, with its layer and headline scores once it succeeded. */
export const ProbeRow = z.object({
  runId: RunId,
  status: Status,
  error: z.string().nullable(),
  layerRunId: RunId,
  kind: z.string().nullable(),
  block: z.number().int().nullable(),
  k: z.number().int().nullable(),
  width: z.number().int().nullable(),
  task: z.string().nullable(),
  classes: z.number().int().nullable(),
  meanF1: z.number().nullable(),
  meanBalancedAccuracy: z.number().nullable(),
  createdAt: z.string(),
})
export type ProbeRow = z.infer<typeof ProbeRow>
/** A labelled task that ships with the app (resources/tasks), with its absolute path on this machine. */
export const ShippedTask = z.object({ name: z.string(), path: z.string(), description: z.string() })
export type ShippedTask = z.infer<typeof ShippedTask>

/** probe.list: the probe runs, newest first, and the shipped tasks a new probe can use. */
export const ProbeList = z.object({ runs: z.array(ProbeRow), tasks: z.array(ShippedTask) })
export type ProbeList = z.infer<typeof ProbeList>
