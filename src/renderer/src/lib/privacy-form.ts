// The Privacy wizard's form as typed text (so each field carries its own message, as the
// Classifiers and Pre-train forms do) and its reading into the API's requests. Every bound comes
// from the zod schemas of src/shared/privacy.ts through lib/numbers, so the form never accepts what
// privacy.finetune / privacy.certify refuse. Pure: tested without a browser
// (test/unit/ui/privacy-form.test.ts).
import {
  AttackConfig,
  PrivacyCertifyConfig,
  PrivacyFinetuneConfig,
  PrivacyObjective,
  ProtectSpec,
  type PrivacyCertifyRequest,
  type PrivacyFinetuneRequest,
  type ProtectSpec as ProtectSpecT,
} from '../../../shared/privacy'
import { lengthBoundsOf, parseNumber, parseNumberList, parseOptional, ruleOf, type NumberRule, type Parsed } from './numbers'

const [ByClass, ByRandom, ByIndices] = ProtectSpec.options
const FT = PrivacyFinetuneConfig.shape
const CE = PrivacyCertifyConfig.shape
const OBJ = PrivacyObjective.shape
const PGD = AttackConfig.shape.pgd.unwrap().shape

// Labels start with a Latin word: the parser capitalises a message's first letter, and θ would become Θ.
export const PRIVACY_RULES = {
  classCount: ruleOf(ByClass.shape.count, 'the number of images of the class'),
  randomCount: ruleOf(ByRandom.shape.count, 'the number of images'),
  protectSeed: ruleOf(ByClass.shape.seed, 'the seed of the draw'),
  theta: ruleOf(OBJ.theta, 'the privacy weight θ'),
  lambda: ruleOf(OBJ.lambda, 'the weight decay λ'),
  sweepTheta: ruleOf(OBJ.theta, 'each θ of the sweep'),
  epochs: ruleOf(FT.epochs, 'the number of epochs'),
  lr: ruleOf(FT.lr, 'the learning rate'),
  batch: ruleOf(FT.batch, 'the batch size'),
  projectNorm: ruleOf(FT.projectNorm, 'the projection norm'),
  retainFloor: ruleOf(FT.retainFloor, 'the retain-accuracy floor'),
  normBound: ruleOf(CE.normBound, 'the norm bound C'),
  epsilon: ruleOf(CE.epsilon, 'the privacy budget ε'),
  delta: ruleOf(CE.delta, 'the failure probability δ'),
  seed: ruleOf(CE.seed, 'the seed'),
  radius: ruleOf(PGD.radius, 'the attack radius'),
  pgdSteps: ruleOf(PGD.steps, 'the number of PGD steps'),
  pgdStepSize: ruleOf(PGD.stepSize, 'the PGD step size'),
} satisfies Record<string, NumberRule>
export const MAX_SWEEP = lengthBoundsOf(FT.sweep).max ?? 16
export const MAX_PICKED = lengthBoundsOf(ByIndices.shape.indices).max ?? Infinity

export type ProtectBy = ProtectSpecT['by']
export type PrivacyMethod = 'finetune' | 'certify'
export type LossK = 'forward-kl' | 'reverse-kl' | 'squared'
export type Solver = 'auto' | 'cholesky' | 'cg'

export interface ProtectDraft {
  by: ProtectBy
  /** The class (by: class); null before one is picked. */
  cls: number | null
  /** by: class, blank = all of the class; by: random, required. */
  count: string
  seed: string
  /** by: indices, training-split indices in the order they were clicked. */
  picked: number[]
}

export interface MethodDraft {
  method: PrivacyMethod
  theta: string
  lambda: string
  lossK: LossK
  /** Further θ values, "0.5, 0.9"; blank = none. */
  sweep: string
  // Pareto fine-tuning (Algorithm 1)
  epochs: string
  lr: string
  batch: string
  surgery: boolean
  /** Blank = no projection. */
  projectNorm: string
  retainFloor: string
  // Certified Newton step (Algorithm 2)
  normBound: string
  epsilon: string
  delta: string
  seed: string
  solver: Solver
}

export interface AttackDraft {
  gaussian: boolean
  fgsm: boolean
  pgd: boolean
  radius: string
  pgdSteps: string
  pgdStepSize: string
}

export const defaultProtect = (): ProtectDraft => ({ by: 'class', cls: null, count: '', seed: '0', picked: [] })
export const defaultMethod = (): MethodDraft => ({
  method: 'finetune',
  theta: '0.75',
  lambda: '0.001',
  lossK: 'forward-kl',
  sweep: '',
  epochs: '30',
  lr: '0.001',
  batch: '0',
  surgery: false,
  projectNorm: '',
  retainFloor: '0',
  normBound: '',
  epsilon: '1',
  delta: '1e-5',
  seed: '0',
  solver: 'auto',
})
export const defaultAttacks = (): AttackDraft => ({
  gaussian: true,
  fgsm: true,
  pgd: false,
  radius: '0.1',
  pgdSteps: '50',
  pgdStepSize: '0.001',
})

/** A field's reading; a field the current choices do not use reads as fine and is left out. */
type Field = Parsed | { ok: true; value: null; error: null }
const UNUSED: Field = { ok: true, value: null, error: null }

export interface ProtectReading {
  fields: Record<'count' | 'seed', Field>
  /** The set's message (no class picked, no image picked, too many). */
  error: string | null
  spec: ProtectSpecT | null
}

/** What the form knows of the classifier's dataset's training split: its size, and per class. */
export interface TrainSplit {
  images: number
  perClass: number[]
}

/** A count rule whose maximum is at most `most` (what the split holds). */
function narrow(rule: NumberRule, most: number): NumberRule {
  return { ...rule, max: Math.min(rule.max ?? Infinity, most) }
}

/**
 * The protected set as typed. The counts are narrowed to what the training split holds (the
 * schema cannot know it; the job checks it again), so a draw larger than its class says so here.
 */
export function readProtect(d: ProtectDraft, split: TrainSplit): ProtectReading {
  const classes = split.perClass.length
  const inClass = d.cls !== null ? split.perClass[d.cls] : undefined
  const classRule = inClass !== undefined ? narrow(PRIVACY_RULES.classCount, inClass) : PRIVACY_RULES.classCount
  const count =
    d.by === 'class'
      ? (parseOptional(d.count, classRule) ?? UNUSED)
      : d.by === 'random'
        ? parseNumber(d.count, narrow(PRIVACY_RULES.randomCount, split.images))
        : UNUSED
  const seed = d.by === 'indices' ? UNUSED : parseNumber(d.seed, PRIVACY_RULES.protectSeed)
  const fields = { count, seed }
  let error: string | null = null
  if (d.by === 'class' && (d.cls === null || d.cls < 0 || d.cls >= classes)) error = 'Pick the class whose images are protected.'
  if (d.by === 'indices' && d.picked.length === 0) error = 'Click at least one image to protect it.'
  if (d.by === 'indices' && d.picked.length > MAX_PICKED)
    error = `At most ${MAX_PICKED.toLocaleString('en-US')} images can be picked by hand; protect a class or a random draw instead.`
  if (error || !count.ok || !seed.ok) return { fields, error, spec: null }
  const spec: ProtectSpecT =
    d.by === 'class'
      ? { by: 'class', class: d.cls!, seed: seed.value!, ...(count.value !== null ? { count: count.value } : {}) }
      : d.by === 'random'
        ? { by: 'random', count: count.value!, seed: seed.value! }
        : { by: 'indices', indices: [...d.picked].sort((a, b) => a - b) }
  return { fields, error, spec }
}

type MethodKey =
  'theta' | 'lambda' | 'sweep' | 'epochs' | 'lr' | 'batch' | 'projectNorm' | 'retainFloor' | 'normBound' | 'epsilon' | 'delta' | 'seed'
type AttackKey = 'radius' | 'pgdSteps' | 'pgdStepSize'

export interface MethodReading {
  fields: Record<MethodKey, Field>
  sweep: number[]
}

/** The method's fields as typed; those of the other method are not read. */
export function readMethod(d: MethodDraft): MethodReading {
  const R = PRIVACY_RULES
  const ft = d.method === 'finetune'
  const use = (on: boolean, text: string, rule: NumberRule): Field => (on ? parseNumber(text, rule) : UNUSED)
  let sweepField: Field = UNUSED
  let sweep: number[] = []
  if (d.sweep.trim()) {
    const l = parseNumberList(d.sweep, R.sweepTheta)
    if (!l.ok) sweepField = { ok: false, value: null, error: l.error }
    else if (l.value.length > MAX_SWEEP)
      sweepField = { ok: false, value: null, error: `The sweep can have at most ${MAX_SWEEP} θ values, not ${l.value.length}.` }
    else sweep = l.value
  }
  return {
    fields: {
      theta: parseNumber(d.theta, R.theta),
      lambda: parseNumber(d.lambda, R.lambda),
      sweep: sweepField,
      epochs: use(ft, d.epochs, R.epochs),
      lr: use(ft, d.lr, R.lr),
      batch: use(ft, d.batch, R.batch),
      projectNorm: ft ? (parseOptional(d.projectNorm, R.projectNorm) ?? UNUSED) : UNUSED,
      retainFloor: use(ft, d.retainFloor, R.retainFloor),
      normBound: use(!ft, d.normBound, R.normBound),
      epsilon: use(!ft, d.epsilon, R.epsilon),
      delta: use(!ft, d.delta, R.delta),
      seed: use(!ft, d.seed, R.seed),
    },
    sweep,
  }
}

export function readAttacks(d: AttackDraft): Record<AttackKey, Field> {
  const R = PRIVACY_RULES
  const any = d.gaussian || d.fgsm || d.pgd
  return {
    radius: any ? parseNumber(d.radius, R.radius) : UNUSED,
    pgdSteps: d.pgd ? parseNumber(d.pgdSteps, R.pgdSteps) : UNUSED,
    pgdStepSize: d.pgd ? parseNumber(d.pgdStepSize, R.pgdStepSize) : UNUSED,
  }
}

/** Each field's message, by name (null: fine). */
export function fieldErrors(fields: Record<string, Field>): Record<string, string | null> {
  return Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.error]))
}

export type PrivacyRequest = { method: 'finetune'; request: PrivacyFinetuneRequest } | { method: 'certify'; request: PrivacyCertifyRequest }

/** The start request of the whole form; null while anything is wrong. */
export function buildPrivacyRequest(
  trainRunId: number,
  protect: ProtectSpecT | null,
  d: MethodDraft,
  a: AttackDraft,
): PrivacyRequest | null {
  if (!protect) return null
  const m = readMethod(d)
  const at = readAttacks(a)
  if (![...Object.values(m.fields), ...Object.values(at)].every((f) => f.ok)) return null
  const v = (k: MethodKey): number => m.fields[k].value!
  const radius = at.radius.value
  const attacks = {
    ...(a.gaussian ? { gaussian: { radius: radius! } } : {}),
    ...(a.fgsm ? { fgsm: { radius: radius! } } : {}),
    ...(a.pgd ? { pgd: { radius: radius!, steps: at.pgdSteps.value!, stepSize: at.pgdStepSize.value! } } : {}),
  }
  const objective = { theta: v('theta'), lambda: v('lambda'), lossK: d.lossK }
  if (d.method === 'finetune')
    return {
      method: 'finetune',
      request: {
        trainRunId,
        protect,
        objective,
        sweep: m.sweep,
        lr: v('lr'),
        epochs: v('epochs'),
        batch: v('batch'),
        surgery: d.surgery,
        projectNorm: m.fields.projectNorm.value,
        retainFloor: v('retainFloor'),
        attacks,
      },
    }
  return {
    method: 'certify',
    request: {
      trainRunId,
      protect,
      objective,
      normBound: v('normBound'),
      epsilon: v('epsilon'),
      delta: v('delta'),
      seed: v('seed'),
      solver: { method: d.solver },
      sweep: m.sweep,
      attacks,
    },
  }
}
