// features.search and features.ablate: a layer read on new input, and one unit ablated on its top
// contexts. The store side (which layer, which index, the frequencies, the top contexts) is read
// here; the model work runs in the engine worker (src/jobs/engine-worker.ts inspectWork), never
// on the server's event loop.
import { ABLATION_DESCRIPTION, withFrequencies } from '../../analysis/features/inspect.js'
import type { InspectLayer, InspectRequest, InspectResults } from '../../jobs/engine-protocol.js'
import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import type { FeatureIndexRow } from '../../store/store.js'
import type { BackendContext } from '../context.js'
import { featureIndexOf, getFeature } from './features.js'
import { layerRunDir } from './layer-run.js'

/** What the worker needs to load layer run `layerRunId` and its model. */
function inspectLayer(ctx: BackendContext, layerRunId: number): InspectLayer {
  const layerDir = layerRunDir(ctx, layerRunId)
  const run = ctx.store.getRun(layerRunId)!
  return { layerRunId, layerDir, runConfig: run.config as Record<string, unknown>, models: ctx.store.listModels() }
}

/** The engine's answer; its errors (no model, ids out of range, …) already say what to do. */
async function engine<R extends InspectRequest>(ctx: BackendContext, request: R): Promise<InspectResults[R['op']]> {
  try {
    return await ctx.engine.inspect(request)
  } catch (err) {
    throw new ApiError('bad_request', err instanceof Error ? err.message : String(err))
  }
}

export async function searchFeatures(ctx: BackendContext, input: ParsedInput<'features.search'>): Promise<Output<'features.search'>> {
  const run = ctx.store.getRun(input.runId)
  if (!run) throw new ApiError('not_found', `There is no run ${input.runId}.`)
  // An index run names its own index (and its layer); a layer run its newest index, if any.
  const index: FeatureIndexRow | null =
    run.kind === 'feature-index' ? featureIndexOf(ctx, input.runId) : (ctx.store.latestFeatureIndex(input.runId) ?? null)
  const layerRunId = index?.layerRunId ?? input.runId
  const layer = inspectLayer(ctx, layerRunId)
  const read = await engine(ctx, { op: 'search', layer, ...(input.text !== undefined ? { text: input.text } : { ids: input.ids! }) })
  const frequency = (unit: number): number | null => {
    const row = index ? ctx.store.getFeatureUnit(index.runId, unit) : undefined
    return row && index && index.tokens > 0 ? row.count / index.tokens : null
  }
  return { layerRunId, indexRunId: index?.runId ?? null, tokens: withFrequencies(read.tokens, frequency), truncated: read.truncated }
}

export async function ablateFeature(ctx: BackendContext, input: ParsedInput<'features.ablate'>): Promise<Output<'features.ablate'>> {
  const index = featureIndexOf(ctx, input.runId)
  const page = getFeature(ctx, { runId: index.runId, unit: input.unit })
  const layer = inspectLayer(ctx, index.layerRunId)
  const { contexts } = await engine(ctx, {
    op: 'ablate',
    layer,
    unit: input.unit,
    contexts: page.top.map((c) => ({ ids: c.ids, position: c.position })),
  })
  const meanDelta = contexts.length > 0 ? contexts.reduce((a, c) => a + c.delta, 0) / contexts.length : null
  return { description: ABLATION_DESCRIPTION, contexts, meanDelta }
}
