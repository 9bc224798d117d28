// The renderer's one reader of numbers typed into forms. Its bounds come from the zod schemas in
// src/shared (the API contract the back end enforces), so that a form never accepts what a start
// refuses, nor refuses what it would take; a form narrows them only for what the schema cannot
// know (a model's context length, a layer's width).
import { z } from 'zod'

/** A number typed into a field: the value, or a message saying what is wrong. Both keys are always there. */
export type Parsed = { ok: true; value: number; error: null } | { ok: false; value: null; error: string }
export type ParsedList = { ok: true; value: number[]; error: null } | { ok: false; value: null; error: string }

export interface NumberRule {
  /** The noun phrase in messages: "the batch size" gives "Enter the batch size." */
  label: string
  integer?: boolean
  min?: number
  /** Exclusive lower bound. */
  above?: number
  max?: number
  /** Exclusive upper bound. */
  below?: number
}

const SUFFIX = { '': 1, k: 1e3, m: 1e6, b: 1e9 } as const

const fail = (error: string): { ok: false; value: null; error: string } => ({ ok: false, value: null, error })

/**
 * Reads 4096, 4,096, 20_000, 2e4, 1e-3, 20k, 1.5M, 2B and -0.5 (separators and spaces are
 * dropped, so "4,096" is four thousand; lists are split before this sees them).
 */
export function parseNumber(text: string, rule: NumberRule): Parsed {
  const t = text.trim().replace(/[,_\s]/g, '')
  const Label = cap(rule.label)
  if (!t) return fail(`Enter ${rule.label}.`)
  const m = /^([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[-+]?[0-9]+)?)([kmb]?)$/i.exec(t)
  if (!m) return fail(`${Label} must be a number, not “${text.trim()}”.`)
  const v = Number(m[1]) * SUFFIX[m[2]!.toLowerCase() as keyof typeof SUFFIX]
  if (!Number.isFinite(v)) return fail(`${Label} is too large.`)
  if (rule.integer && !Number.isInteger(v)) return fail(`${Label} must be a whole number.`)
  if (rule.above !== undefined && !(v > rule.above)) return fail(`${Label} must be greater than ${fmt(rule.above)}.`)
  if (rule.min !== undefined && v < rule.min) return fail(`${Label} must be at least ${fmt(rule.min)}.`)
  if (rule.below !== undefined && !(v < rule.below)) return fail(`${Label} must be less than ${fmt(rule.below)}.`)
  if (rule.max !== undefined && v > rule.max) return fail(`${Label} must be at most ${fmt(rule.max)}.`)
  return { ok: true, value: v, error: null }
}

/** Like parseNumber, but empty text is "not given" (null) rather than an error: for optional fields. */
export function parseOptional(text: string, rule: NumberRule): Parsed | null {
  return text.trim() === '' ? null : parseNumber(text, rule)
}

/** A list such as "4, 8, 16 32": each item by the rule, duplicates dropped, sorted. */
export function parseNumberList(text: string, rule: NumberRule): ParsedList {
  const parts = text.split(/[\s,;]+/).filter(Boolean)
  if (parts.length === 0) return fail(`Enter at least one ${rule.label}.`)
  const out: number[] = []
  for (const p of parts) {
    const r = parseNumber(p, rule)
    if (!r.ok) return r
    if (!out.includes(r.value)) out.push(r.value)
  }
  return { ok: true, value: out.sort((a, b) => a - b), error: null }
}

/** The bounds a zod number schema enforces (through .default(), .optional() and .nullable()). */
export function boundsOf(schema: z.ZodType): Omit<NumberRule, 'label'> {
  let s: z.ZodType = schema
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType
  if (!(s instanceof z.ZodNumber)) throw new Error(`boundsOf: not a number schema (${s.def.type})`)
  const out: Omit<NumberRule, 'label'> = {}
  if (s.isInt) out.integer = true
  // zod gives the bound but not whether it is inclusive; asking the schema about the bound itself
  // tells (gt(0) refuses 0, min(0) takes it). For whole numbers an exclusive bound is the next
  // whole number in ("at least 1" reads better than "greater than 0"). The safe-integer range of
  // .int() is no bound a user needs to hear of.
  const lo = s.minValue
  const hi = s.maxValue
  if (lo !== null && Number.isFinite(lo) && lo > Number.MIN_SAFE_INTEGER) {
    if (s.safeParse(lo).success) out.min = lo
    else if (s.isInt) out.min = Math.floor(lo) + 1
    else out.above = lo
  }
  if (hi !== null && Number.isFinite(hi) && hi < Number.MAX_SAFE_INTEGER) {
    if (s.safeParse(hi).success) out.max = hi
    else if (s.isInt) out.max = Math.ceil(hi) - 1
    else out.below = hi
  }
  return out
}

/** The length bounds of a zod array schema (through .default() and .optional()): min_length / max_length checks. */
export function lengthBoundsOf(schema: z.ZodType): { min?: number; max?: number } {
  let s: z.ZodType = schema
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType
  if (!(s instanceof z.ZodArray)) throw new Error(`lengthBoundsOf: not an array schema (${s.def.type})`)
  const out: { min?: number; max?: number } = {}
  for (const c of s.def.checks ?? []) {
    const def = c._zod.def as { check: string; minimum?: number; maximum?: number }
    if (def.check === 'min_length' && def.minimum !== undefined) out.min = def.minimum
    if (def.check === 'max_length' && def.maximum !== undefined) out.max = def.maximum
  }
  return out
}

/** A field's rule: the schema's bounds, the label, and any narrowing the form knows of. */
export function ruleOf(schema: z.ZodType, label: string, narrow: Partial<NumberRule> = {}): NumberRule {
  return { ...boundsOf(schema), label, ...narrow }
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}
function fmt(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 20 })
}

/** A whole number as the forms show it (4,096), or — for none. */
export function formatWhole(v: number | null | undefined): string {
  return v === null || v === undefined ? '—' : v.toLocaleString('en-US')
}

/** A rule's range for a hint ("1–48"), so a hint never restates a bound the schema may change. */
export function rangeText(rule: NumberRule): string {
  const lo = rule.min ?? rule.above
  const hi = rule.max ?? rule.below
  return `${lo === undefined ? '' : fmt(lo)}–${hi === undefined ? '' : fmt(hi)}`
}
