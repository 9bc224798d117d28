// Options shared by the commands that work on one model folder.
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { CommandContext, OptionSpec } from './command.js'
import { UsageError } from './command.js'

export const modelOption: OptionSpec = { model: { type: 'string', short: 'm' } }

export function requireModelDir(ctx: CommandContext): string {
  const dir = ctx.values.model
  if (typeof dir !== 'string' || dir === '') throw new UsageError('--model DIR is required (a folder with config.json and safetensors)')
  const full = resolve(dir)
  if (!existsSync(full)) throw new UsageError(`--model ${dir}: no such folder`)
  return full
}

export function stringOption(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name]
  return typeof v === 'string' ? v : undefined
}

/** A number option within [min, max], or the default when absent. */
export function numberOption(ctx: CommandContext, name: string, fallback: number, min: number, max: number, integer = false): number {
  const raw = stringOption(ctx, name)
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, not "${raw}"`)
  }
  return n
}

/** "1,2,3" → [1, 2, 3] (whole numbers ≥ 0). */
export function parseIds(text: string, flag = '--ids'): number[] {
  const ids = text.split(',').map((s) => s.trim()).filter(Boolean).map(Number)
  if (ids.length === 0 || ids.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new UsageError(`${flag} takes token ids separated by commas, e.g. 464,3290,318, not "${text}"`)
  }
  return ids
}
