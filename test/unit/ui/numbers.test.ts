// The forms' one number parser (src/renderer/src/lib/numbers.ts) and the bounds it reads from the
// API's zod schemas. Expected values computed by hand; the schema cases check that a bound moved in
// a schema moves the form's bound with it.
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { ConvertConfig } from '../../../src/shared/convert.js'
import { PretrainConfig } from '../../../src/shared/api.js'
import { GenerateRequest } from '../../../src/shared/models.js'

// The renderer is its own TypeScript project (tsconfig.web.json); a specifier tsc does not follow
// keeps it out of this one, and this interface states the part of the module tested here.
interface Rule {
  label: string
  integer?: boolean
  min?: number
  above?: number
  max?: number
  below?: number
}
type Result<T> = { ok: true; value: T; error: null } | { ok: false; value: null; error: string }
interface NumbersModule {
  parseNumber(text: string, rule: Rule): Result<number>
  parseOptional(text: string, rule: Rule): Result<number> | null
  parseNumberList(text: string, rule: Rule): Result<number[]>
  boundsOf(schema: z.ZodType): Omit<Rule, 'label'>
  ruleOf(schema: z.ZodType, label: string, narrow?: Partial<Rule>): Rule
}
const NUMBERS: string = '../../../src/renderer/src/lib/numbers.ts'
const { boundsOf, parseNumber, parseNumberList, parseOptional, ruleOf } = (await import(NUMBERS)) as NumbersModule

const whole = { label: 'the batch size', integer: true, min: 1, max: 65_536 }

describe('parseNumber', () => {
  it('reads separators, exponents and k/M/B suffixes', () => {
    // 20_000 = 2e4 = 20k = 20,000; 1.5M = 1,500,000; 2B is over the max
    for (const t of ['20000', '20_000', '2e4', '20k', '20K', '20,000', ' 20 000 ']) expect(parseNumber(t, { label: 'x' }).value).toBe(20_000)
    expect(parseNumber('1.5M', { label: 'x', integer: true }).value).toBe(1_500_000)
    expect(parseNumber('2B', { label: 'x' }).value).toBe(2e9)
    expect(parseNumber('1e-3', { label: 'x' }).value).toBe(0.001)
    expect(parseNumber('.5', { label: 'x' }).value).toBe(0.5)
    expect(parseNumber('-2.5', { label: 'x', min: -10 }).value).toBe(-2.5)
  })

  it('says what is wrong, naming the field', () => {
    expect(parseNumber('', whole)).toEqual({ ok: false, value: null, error: 'Enter the batch size.' })
    expect(parseNumber('abc', whole).error).toBe('The batch size must be a number, not “abc”.')
    expect(parseNumber('1.5', whole).error).toBe('The batch size must be a whole number.')
    expect(parseNumber('0', whole).error).toBe('The batch size must be at least 1.')
    // 65,537 is one over
    expect(parseNumber('65537', whole).error).toBe('The batch size must be at most 65,536.')
    expect(parseNumber('65536', whole)).toEqual({ ok: true, value: 65_536, error: null })
    expect(parseNumber('0', { label: 'the learning rate', above: 0 }).error).toBe('The learning rate must be greater than 0.')
    expect(parseNumber('1', { label: 'the fraction', below: 1 }).error).toBe('The fraction must be less than 1.')
    expect(parseNumber('1e400', { label: 'x' }).error).toBe('X is too large.')
  })

  it('optional fields: empty is not given', () => {
    expect(parseOptional('  ', whole)).toBeNull()
    expect(parseOptional('0', whole)?.ok).toBe(false)
  })

  it('lists: sorted, without duplicates, the first bad item reported', () => {
    expect(parseNumberList('16, 4 8;4', { ...whole, label: 'K value' }).value).toEqual([4, 8, 16])
    expect(parseNumberList(' , ', { ...whole, label: 'K value' }).error).toBe('Enter at least one K value.')
    expect(parseNumberList('4, x', { ...whole, label: 'K value' }).error).toBe('K value must be a number, not “x”.')
  })
})

describe('bounds from the zod schemas', () => {
  it('reads inclusive and exclusive bounds and .int() through default/optional', () => {
    // an exclusive bound on a whole number is the next whole number: positive() → at least 1
    expect(boundsOf(z.number().int().positive().max(65_536).default(4))).toEqual({ integer: true, min: 1, max: 65_536 })
    expect(boundsOf(z.number().int().lt(10))).toEqual({ integer: true, max: 9 })
    expect(boundsOf(z.number().positive())).toEqual({ above: 0 })
    expect(boundsOf(z.number().int().min(0).optional())).toEqual({ integer: true, min: 0 })
    expect(boundsOf(z.number().min(0).lt(1))).toEqual({ min: 0, below: 1 })
    expect(() => boundsOf(z.string())).toThrow(/not a number schema/)
  })

  it('the API schemas give the forms their bounds', () => {
    // ConvertConfig.k: positiveInt.max(65_536); lr: positive().max(1); ctx: int().min(2).max(65_536)
    expect(boundsOf(ConvertConfig.shape.k)).toEqual({ integer: true, min: 1, max: 65_536 })
    expect(boundsOf(ConvertConfig.shape.lr)).toEqual({ above: 0, max: 1 })
    expect(boundsOf(ConvertConfig.shape.ctx)).toEqual({ integer: true, min: 2, max: 65_536 })
    // PretrainConfig.layers: int().min(1).max(48); experts: int().min(2).max(1024)
    expect(boundsOf(PretrainConfig.shape.layers)).toEqual({ integer: true, min: 1, max: 48 })
    expect(parseNumber('49', ruleOf(PretrainConfig.shape.layers, 'the number of layers')).error).toBe('The number of layers must be at most 48.')
    expect(parseNumber('1', ruleOf(PretrainConfig.shape.experts, 'the number of experts')).error).toBe(
      'The number of experts must be at least 2.',
    )
    // GenerateRequest.topP: gt(0).max(1)
    expect(parseNumber('0', ruleOf(GenerateRequest.shape.topP, 'top-p')).error).toBe('Top-p must be greater than 0.')
  })

  it('a bound changed in the schema changes the parser’s bound', () => {
    const before = ruleOf(ConvertConfig.shape.batch, 'the batch size')
    const after = ruleOf(ConvertConfig.extend({ batch: z.number().int().positive().max(1024) }).shape.batch, 'the batch size')
    expect(parseNumber('2048', before).ok).toBe(true)
    expect(parseNumber('2048', after).error).toBe('The batch size must be at most 1,024.')
  })

  it('a form narrows a bound the schema cannot know', () => {
    // a model with a 256-token context: ctx at most 256 although the schema allows 65,536
    const rule = ruleOf(ConvertConfig.shape.ctx, 'the context length', { max: 256 })
    expect(parseNumber('257', rule).error).toBe('The context length must be at most 256.')
    expect(parseNumber('1', rule).error).toBe('The context length must be at least 2.')
  })
})
