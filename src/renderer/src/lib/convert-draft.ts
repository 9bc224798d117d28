// The conversion wizard's draft as typed, and the rule of each of its number fields: ConvertConfig's
// bounds (the API's own schema) under the field's name in messages. The store (stores/convert-wizard.ts)
// applies them.
import { ConvertConfig } from '../../../shared/convert'
import { CONVERT_DEFAULTS } from '../../../shared/convert-defaults'
import type { LayerKind } from './convert-format'
import { ruleOf, type NumberRule } from './numbers'

/** Everything the wizard asks, as typed (text), so that a wrong value can be shown with its message. */
export interface ConvertDraft {
  modelId: number | null
  layer: number | null
  datasetId: number | null
  kind: LayerKind
  /** MxD: N parameter-matched (default) or typed. */
  customWidth: boolean
  experts: string
  /** Transcoders: d_sae. */
  width: string
  k: string
  /** '' = the dense MLP's. */
  hidden: string
  /** '' = by architecture. */
  act: '' | 'gelu' | 'glu'
  tokens: string
  batch: string
  lr: string
  /** '' = 5% of the steps. */
  warmup: string
  seed: string
  ctx: string
  evaluate: boolean
  evalTokens: string
  metricsEvery: string
  /** '' = default (65,536 rows). */
  bufferRows: string
  harvestBatch: string
  sweep: boolean
  sweepKs: string
  sweepKinds: LayerKind[]
}

export function defaultDraft(): ConvertDraft {
  return {
    modelId: null,
    layer: null,
    datasetId: null,
    kind: 'mxd',
    customWidth: false,
    experts: '',
    width: '',
    k: String(CONVERT_DEFAULTS.k),
    hidden: '',
    act: '',
    tokens: String(CONVERT_DEFAULTS.tokens),
    batch: String(CONVERT_DEFAULTS.batch),
    lr: String(CONVERT_DEFAULTS.lr),
    warmup: '',
    seed: '0',
    ctx: String(CONVERT_DEFAULTS.ctx),
    evaluate: true,
    evalTokens: String(CONVERT_DEFAULTS.evalTokens),
    metricsEvery: String(CONVERT_DEFAULTS.metricsEvery),
    bufferRows: '',
    harvestBatch: String(CONVERT_DEFAULTS.harvestBatch),
    sweep: false,
    sweepKs: '4, 8, 16, 32',
    sweepKinds: ['mxd'],
  }
}

const S = ConvertConfig.shape
/** Each number field's rule: ConvertConfig's bounds under the field's name in messages. */
export const RULES = {
  experts: ruleOf(S.experts, 'the number of experts N'),
  width: ruleOf(S.width, 'the number of latents d_sae'),
  k: ruleOf(S.k, 'K'),
  hidden: ruleOf(S.hidden, 'the hidden width H'),
  tokens: ruleOf(S.tokens, 'the training tokens'),
  batch: ruleOf(S.batch, 'the batch size'),
  lr: ruleOf(S.lr, 'the learning rate'),
  warmup: ruleOf(S.warmup, 'the warm-up steps'),
  seed: ruleOf(S.seed, 'the seed'),
  ctx: ruleOf(S.ctx, 'the context length'),
  evalTokens: ruleOf(S.evalTokens, 'the evaluation tokens'),
  metricsEvery: ruleOf(S.metricsEvery, 'the metrics interval'),
  bufferRows: ruleOf(S.bufferRows, 'the buffer rows'),
  harvestBatch: ruleOf(S.harvestBatch, 'the harvest batch'),
} satisfies Record<string, NumberRule>
export type NumberFieldName = keyof typeof RULES

/** Left empty, these take the back end's default. */
export const OPTIONAL: Partial<Record<NumberFieldName, true>> = { hidden: true, warmup: true, bufferRows: true }
export const BUDGET_FIELDS: NumberFieldName[] = ['tokens', 'batch', 'lr', 'warmup', 'seed', 'ctx', 'evalTokens', 'metricsEvery', 'bufferRows', 'harvestBatch']
/** Which fields each step owns (for its errors). */
export const STEP_FIELDS: Record<number, string[]> = {
  3: ['experts', 'width', 'k', 'hidden', 'sweepKs', 'sweepKinds'],
  4: BUDGET_FIELDS,
}
export const STEPS = [
  { id: 'model', title: 'Model' },
  { id: 'layer', title: 'Layer' },
  { id: 'data', title: 'Dataset' },
  { id: 'size', title: 'Kind and size' },
  { id: 'budget', title: 'Training budget' },
  { id: 'review', title: 'Review' },
] as const

/** The preview's warnings name what they are about; each goes to that field. */
export const warningField = (w: string): string =>
  /^k =/.test(w) ? 'k' : /warm-up/.test(w) ? 'warmup' : /^ctx/.test(w) ? 'ctx' : /^layer/.test(w) ? 'layer' : 'general'
