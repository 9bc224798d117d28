// The Privacy wizard's form reading (src/renderer/src/lib/privacy-form.ts): each field's message,
// the bounds it takes from src/shared/privacy.ts, and the requests it builds, which the API's own
// zod schemas must accept unchanged (the form never sends what privacy.finetune / certify refuse).
import { describe, expect, it } from 'vitest'
import { PrivacyCertifyConfig, PrivacyFinetuneConfig, ProtectSpec } from '../../../src/shared/privacy.js'

// The renderer is its own TypeScript project (tsconfig.web.json); a specifier tsc does not follow
// keeps it out of this one (as numbers.test.ts does), and these types state the part tested here.
type Field = { ok: boolean; value: number | null; error: string | null }
interface ProtectDraft {
  by: 'class' | 'random' | 'indices'
  cls: number | null
  count: string
  seed: string
  picked: number[]
}
type MethodDraft = Record<string, string | boolean> & { method: 'finetune' | 'certify' }
type AttackDraft = { gaussian: boolean; fgsm: boolean; pgd: boolean; radius: string; pgdSteps: string; pgdStepSize: string }
interface FormModule {
  PRIVACY_RULES: Record<string, { label: string; min?: number; above?: number; max?: number; below?: number; integer?: boolean }>
  MAX_SWEEP: number
  defaultProtect(): ProtectDraft
  defaultMethod(): MethodDraft
  defaultAttacks(): AttackDraft
  readProtect(
    d: ProtectDraft,
    split: { images: number; perClass: number[] },
  ): { fields: Record<string, Field>; error: string | null; spec: unknown }
  readMethod(d: MethodDraft): { fields: Record<string, Field>; sweep: number[] }
  readAttacks(d: AttackDraft): Record<string, Field>
  buildPrivacyRequest(
    trainRunId: number,
    protect: unknown,
    d: MethodDraft,
    a: AttackDraft,
  ): { method: string; request: Record<string, unknown> } | null
}
const FORM: string = '../../../src/renderer/src/lib/privacy-form.ts'
const F = (await import(FORM)) as FormModule

describe('privacy form: bounds from the contract', () => {
  it('θ is open on both ends, ε positive up to 1000, δ in (0, 1), PGD steps whole from 1', () => {
    expect(F.PRIVACY_RULES.theta).toMatchObject({ above: 0, below: 1 })
    expect(F.PRIVACY_RULES.epsilon).toMatchObject({ above: 0, max: 1000 })
    expect(F.PRIVACY_RULES.delta).toMatchObject({ above: 0, below: 1 })
    expect(F.PRIVACY_RULES.pgdSteps).toMatchObject({ integer: true, min: 1, max: 1000 })
    expect(F.PRIVACY_RULES.retainFloor).toMatchObject({ min: 0, max: 1 })
    expect(F.MAX_SWEEP).toBe(16)
  })
})

/** A training split of 10 classes, 500 images each but class 4 with 30. */
const SPLIT = { images: 4530, perClass: [500, 500, 500, 500, 30, 500, 500, 500, 500, 500] }

describe('privacy form: the protected set', () => {
  it('asks for a class, then reads the whole class (no count) with the seed', () => {
    const d = F.defaultProtect()
    expect(F.readProtect(d, SPLIT).error).toBe('Pick the class whose images are protected.')
    d.cls = 3
    const r = F.readProtect(d, SPLIT)
    expect(r.error).toBeNull()
    expect(r.spec).toEqual({ by: 'class', class: 3, seed: 0 })
    expect(ProtectSpec.parse(r.spec)).toEqual({ by: 'class', class: 3, seed: 0 })
  })

  it('refuses a class the dataset lacks and a count of 0', () => {
    const d = { ...F.defaultProtect(), cls: 10 }
    expect(F.readProtect(d, SPLIT).spec).toBeNull()
    const c = F.readProtect({ ...d, cls: 2, count: '0' }, SPLIT)
    expect(c.fields.count!.error).toBe('The number of images of the class must be at least 1.')
    expect(c.spec).toBeNull()
  })

  it('narrows the counts to what the training split holds', () => {
    const c = F.readProtect({ ...F.defaultProtect(), cls: 4, count: '31' }, SPLIT)
    expect(c.fields.count!.error).toBe('The number of images of the class must be at most 30.')
    expect(F.readProtect({ ...F.defaultProtect(), cls: 4, count: '30' }, SPLIT).spec).toEqual({ by: 'class', class: 4, count: 30, seed: 0 })
    const r = F.readProtect({ ...F.defaultProtect(), by: 'random', count: '5k' }, SPLIT)
    expect(r.fields.count!.error).toBe('The number of images must be at most 4,530.')
  })

  it('a random draw needs its count; picked images are sent sorted', () => {
    const r = F.readProtect({ ...F.defaultProtect(), by: 'random' }, SPLIT)
    expect(r.fields.count!.error).toBe('Enter the number of images.')
    expect(F.readProtect({ ...F.defaultProtect(), by: 'random', count: '1k', seed: '7' }, SPLIT).spec).toEqual({
      by: 'random',
      count: 1000,
      seed: 7,
    })
    expect(F.readProtect({ ...F.defaultProtect(), by: 'indices' }, SPLIT).error).toBe('Click at least one image to protect it.')
    expect(F.readProtect({ ...F.defaultProtect(), by: 'indices', picked: [9, 2, 5] }, SPLIT).spec).toEqual({
      by: 'indices',
      indices: [2, 5, 9],
    })
  })
})

describe('privacy form: method and attacks', () => {
  it('says what is wrong with θ, the sweep and a fine-tuning field', () => {
    const m = { ...F.defaultMethod(), theta: '1', sweep: '0.5, 1.2', epochs: '2.5' }
    const r = F.readMethod(m)
    expect(r.fields.theta!.error).toBe('The privacy weight θ must be less than 1.')
    expect(r.fields.sweep!.error).toBe('Each θ of the sweep must be less than 1.')
    expect(r.fields.epochs!.error).toBe('The number of epochs must be a whole number.')
    const many = Array.from({ length: 17 }, (_, i) => ((i + 1) / 20).toFixed(2)).join(' ')
    expect(F.readMethod({ ...F.defaultMethod(), sweep: many }).fields.sweep!.error).toBe('The sweep can have at most 16 θ values, not 17.')
  })

  it('does not read the other method’s fields: a blank C blocks only the certified method', () => {
    const ft = F.readMethod({ ...F.defaultMethod(), normBound: '' })
    expect(ft.fields.normBound!.error).toBeNull()
    const ce = F.readMethod({ ...F.defaultMethod(), method: 'certify', normBound: '', epochs: 'x' })
    expect(ce.fields.normBound!.error).toBe('Enter the norm bound C.')
    expect(ce.fields.epochs!.error).toBeNull()
  })

  it('reads the PGD fields only when PGD is on', () => {
    const a = { ...F.defaultAttacks(), pgdSteps: '0' }
    expect(F.readAttacks(a).pgdSteps!.error).toBeNull()
    expect(F.readAttacks({ ...a, pgd: true }).pgdSteps!.error).toBe('The number of PGD steps must be at least 1.')
  })
})

describe('privacy form: requests the API accepts', () => {
  const protect = { by: 'class', class: 1, seed: 0 }

  it('builds a fine-tune request that PrivacyFinetuneConfig parses to the values typed', () => {
    const m = {
      ...F.defaultMethod(),
      theta: '0.9',
      lambda: '1e-2',
      sweep: '0.9 0.5',
      epochs: '12',
      lr: '5e-4',
      batch: '128',
      projectNorm: '',
      retainFloor: '0.95',
      surgery: true,
    }
    const a = { ...F.defaultAttacks(), pgd: true, radius: '0.05', pgdSteps: '20', pgdStepSize: '0.01' }
    const r = F.buildPrivacyRequest(4, protect, m, a)!
    expect(r.method).toBe('finetune')
    const parsed = PrivacyFinetuneConfig.parse(r.request)
    expect(parsed.objective).toEqual({ theta: 0.9, lambda: 0.01, lossK: 'forward-kl', temperature: 1 })
    expect(parsed.sweep).toEqual([0.5, 0.9])
    expect([parsed.epochs, parsed.lr, parsed.batch, parsed.retainFloor, parsed.surgery, parsed.projectNorm]).toEqual([
      12,
      5e-4,
      128,
      0.95,
      true,
      null,
    ])
    expect(parsed.attacks.gaussian).toEqual({ radius: 0.05, seed: 0 })
    expect(parsed.attacks.fgsm).toEqual({ radius: 0.05 })
    expect(parsed.attacks.pgd).toEqual({ radius: 0.05, steps: 20, stepSize: 0.01 })
  })

  it('builds a certify request that PrivacyCertifyConfig parses; none while C is blank', () => {
    const m = { ...F.defaultMethod(), method: 'certify' as const, epsilon: '2', delta: '1e-6', seed: '3', solver: 'cg' }
    expect(F.buildPrivacyRequest(4, protect, m, F.defaultAttacks())).toBeNull()
    const r = F.buildPrivacyRequest(4, protect, { ...m, normBound: '50' }, { ...F.defaultAttacks(), gaussian: false, fgsm: false })!
    const parsed = PrivacyCertifyConfig.parse(r.request)
    expect([parsed.normBound, parsed.epsilon, parsed.delta, parsed.seed, parsed.solver.method]).toEqual([50, 2, 1e-6, 3, 'cg'])
    expect(parsed.attacks.gaussian).toBeUndefined()
    expect(parsed.attacks.pgd).toBeUndefined()
  })

  it('builds nothing without a protected set or with a wrong field', () => {
    expect(F.buildPrivacyRequest(4, null, F.defaultMethod(), F.defaultAttacks())).toBeNull()
    expect(F.buildPrivacyRequest(4, protect, { ...F.defaultMethod(), lr: '-1' }, F.defaultAttacks())).toBeNull()
  })
})
