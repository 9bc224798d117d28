// Steering (docs/steering.md): the presets (the paper's built in, the user's in SQLite) and the
// steering score of a layer's units, queued as a steer-score job.
import { readSteerScore, unitTopTokens } from '../../jobs/steer-score.js'
import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import { JobError } from '../../shared/errors.js'
import { PAPER_PRESET, STEERING_LIMITS, SteeringSettings, SteerScoreConfig, type SteeringPreset } from '../../shared/steering.js'
import type { SteeringPresetRow } from '../../store/store.js'
import type { BackendContext } from '../context.js'
import { asApiError, layerRunDir } from './layer-run.js'

function presetOf(row: SteeringPresetRow): SteeringPreset | null {
  // A row the schema no longer accepts (edited by hand) is left out rather than breaking the list.
  const settings = SteeringSettings.safeParse(JSON.parse(row.settings))
  return settings.success ? { id: row.id, name: row.name, builtIn: false, settings: settings.data } : null
}

export function listPresets(ctx: BackendContext): Output<'steering.listPresets'> {
  return [PAPER_PRESET, ...ctx.store.listSteeringPresets().flatMap((r) => presetOf(r) ?? [])]
}

export function savePreset(ctx: BackendContext, input: ParsedInput<'steering.savePreset'>): Output<'steering.savePreset'> {
  if (input.name.toLowerCase() === PAPER_PRESET.name.toLowerCase()) {
    throw new ApiError('bad_request', `"${PAPER_PRESET.name}" is the built-in preset: save yours under another name.`)
  }
  const saved = ctx.store.listSteeringPresets()
  if (saved.length >= STEERING_LIMITS.maxPresets && !saved.some((r) => r.name === input.name)) {
    throw new ApiError('bad_request', `There are ${saved.length} presets already, the most the app keeps: delete one first.`)
  }
  return presetOf(ctx.store.saveSteeringPreset(input.name, JSON.stringify(input.settings)))!
}

export function deletePreset(ctx: BackendContext, input: ParsedInput<'steering.deletePreset'>): Output<'steering.deletePreset'> {
  if (input.id === PAPER_PRESET.id) throw new ApiError('bad_request', `"${PAPER_PRESET.name}" is built in and cannot be deleted.`)
  if (!ctx.store.deleteSteeringPreset(input.id)) throw new ApiError('not_found', `There is no saved preset ${input.id}.`)
  return { deleted: true }
}

export function startScore(ctx: BackendContext, input: ParsedInput<'steering.score'>): Output<'steering.score'> {
  const preset = listPresets(ctx).find((p) => p.id === (input.presetId ?? PAPER_PRESET.id))
  if (!preset) throw new ApiError('not_found', `There is no preset ${input.presetId}.`)
  layerRunDir(ctx, input.layerRunId)
  try {
    // Refused now rather than minutes into the job: every unit needs its top output tokens.
    unitTopTokens(ctx.store, input.layerRunId, input.units)
  } catch (err) {
    throw err instanceof JobError ? new ApiError('bad_request', err.message) : asApiError(err)
  }
  const units = [...new Set(input.units)]
  const settings = { ...preset.settings, ...(input.samples === undefined ? {} : { samples: input.samples }) }
  const run = ctx.store.createRun(
    'steer-score',
    SteerScoreConfig.parse({ layerRunId: input.layerRunId, units, presetName: preset.name, settings }),
  )
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}

export function getScore(ctx: BackendContext, input: ParsedInput<'steering.getScore'>): Output<'steering.getScore'> {
  const run = ctx.store.getRun(input.runId)
  if (!run || run.kind !== 'steer-score') throw new ApiError('not_found', `There is no steering-score run ${input.runId}.`)
  const result = run.status === 'succeeded' ? readSteerScore(ctx.store, run.id) : null
  if (!result)
    throw new ApiError(
      'not_found',
      `Steering score ${input.runId} is ${run.status}: it has no result${run.error ? ` (${run.error})` : ' yet'}.`,
    )
  return result
}
