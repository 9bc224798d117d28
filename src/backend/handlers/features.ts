// Feature browsing (issue 11): queue a feature index of a layer run, list its units, one unit's
// page. An index is named by its own run id or by the layer run (its newest index).
import { indexInfo, readVocab, tokenIdsOf, unitPage, unitRow, unitsOnToken } from '../../analysis/features/read.js'
import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import { FeatureIndexConfig } from '../../shared/features.js'
import type { FeatureIndexRow } from '../../store/store.js'
import type { BackendContext } from '../context.js'
import { layerRunDir } from './layer-run.js'

export function startFeatureIndex(ctx: BackendContext, input: ParsedInput<'features.start'>): Output<'features.start'> {
  layerRunDir(ctx, input.layerRunId)
  const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined))
  const run = ctx.store.createRun('feature-index', FeatureIndexConfig.parse(defined))
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}

/** The index `runId` names: a feature-index run's own, else the newest of a layer run. */
export function featureIndexOf(ctx: BackendContext, runId: number): FeatureIndexRow {
  const run = ctx.store.getRun(runId)
  if (!run) throw new ApiError('not_found', `There is no run ${runId}.`)
  const index = run.kind === 'feature-index' ? ctx.store.getFeatureIndex(runId) : ctx.store.latestFeatureIndex(runId)
  if (index) return index
  if (run.kind === 'feature-index') throw new ApiError('not_found', `Feature index ${runId} is ${run.status}: it has no result yet.`)
  throw new ApiError('not_found', `Run ${runId} has no feature index yet: start one with "mxd features index --run ${runId}".`)
}

export function listFeatures(ctx: BackendContext, input: ParsedInput<'features.list'>): Output<'features.list'> {
  const index = featureIndexOf(ctx, input.runId)
  const n = index.tokens
  const { total, units } = ctx.store.listFeatureUnits(index.runId, {
    sort: input.sort === 'freq' ? 'count' : input.sort,
    desc: input.order === 'desc',
    // Frequencies are count / tokens: the bounds as counts, rounded to include the boundary.
    minCount: input.minFrequency === undefined ? 1 : Math.max(1, Math.ceil(input.minFrequency * n - 1e-9)),
    maxCount: input.maxFrequency === undefined ? n : Math.floor(input.maxFrequency * n + 1e-9),
    offset: input.offset,
    limit: input.limit,
    ...(input.label !== undefined ? { label: input.label } : {}),
  })
  return { index: indexInfo(index), total, units: units.map((u) => unitRow(index, u)) }
}

export function getFeature(ctx: BackendContext, input: ParsedInput<'features.get'>): Output<'features.get'> {
  const index = featureIndexOf(ctx, input.runId)
  if (input.unit >= index.width)
    throw new ApiError('bad_request', `Unit ${input.unit} does not exist: this layer has units 0…${index.width - 1}.`)
  const row = ctx.store.getFeatureUnit(index.runId, input.unit)
  if (!row) throw new ApiError('not_found', `Feature index ${index.runId} has no unit ${input.unit}.`)
  const page = unitPage(ctx.store.runDir(index.runId), index, row)
  const label = ctx.store.getFeatureLabel(index.layerRunId, input.unit)
  return { ...page, stats: { ...page.stats, label: label?.label ?? null } }
}

export function unitsByToken(ctx: BackendContext, input: ParsedInput<'features.listByToken'>): Output<'features.listByToken'> {
  const index = featureIndexOf(ctx, input.runId)
  const runDir = ctx.store.runDir(index.runId)
  const vocab = readVocab(runDir)
  const ids = input.tokenId !== undefined ? [input.tokenId] : tokenIdsOf(vocab, input.token!)
  const matches = ids.map((tokenId) => {
    const { occurrences, units } = unitsOnToken(runDir, tokenId)
    return {
      tokenId,
      text: vocab?.[tokenId] ?? null,
      occurrences,
      units: units.map((u) => ({ ...u, share: occurrences > 0 ? u.count / occurrences : 0 })),
    }
  })
  return { index: indexInfo(index), matches }
}

/**
 * The layer run whose labels `runId` names: a layer run itself, or the layer a feature-index run
 * indexes (from its config, so labels can be written while its index is still running).
 */
function labelLayerOf(ctx: BackendContext, runId: number): number {
  const run = ctx.store.getRun(runId)
  if (!run) throw new ApiError('not_found', `There is no run ${runId}.`)
  if (run.kind === 'convert' || run.kind === 'layer-import') return run.id
  if (run.kind === 'feature-index') {
    const parsed = FeatureIndexConfig.safeParse(run.config)
    if (parsed.success) return parsed.data.layerRunId
    throw new ApiError('bad_request', `Feature index ${runId} has an unreadable config: start a new index of its layer.`)
  }
  throw new ApiError(
    'bad_request',
    `Run ${runId} is a ${run.kind} run: labels belong to a layer (a convert or layer-import run) or to one of its feature indexes.`,
  )
}

export function setFeatureLabel(ctx: BackendContext, input: ParsedInput<'features.setLabel'>): Output<'features.setLabel'> {
  const layerRunId = labelLayerOf(ctx, input.runId)
  const index = ctx.store.latestFeatureIndex(layerRunId)
  if (index && input.unit >= index.width) {
    throw new ApiError('bad_request', `Unit ${input.unit} does not exist: this layer has units 0…${index.width - 1}.`)
  }
  // Surrounding spaces are never meant; trimmed, an all-blank label and notes clear the entry.
  return ctx.store.setFeatureLabel(layerRunId, input.unit, input.label.trim(), input.notes.trim())
}

export function listFeatureLabels(ctx: BackendContext, input: ParsedInput<'features.listLabels'>): Output<'features.listLabels'> {
  const layerRunId = labelLayerOf(ctx, input.runId)
  return { layerRunId, labels: ctx.store.listFeatureLabels(layerRunId, input.query) }
}
