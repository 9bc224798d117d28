import { basename, resolve } from 'node:path'
import { ApiError, type ParsedInput, type Output, type Run, type RunSummary } from '../../shared/api.js'
import type { BackendContext } from '../context.js'
import { isLayerKind } from '../../shared/layer-kinds/index.js'

export function listRuns(ctx: BackendContext, input: ParsedInput<'runs.list'>): Output<'runs.list'> {
  return ctx.store.listRuns({ limit: input.limit, kind: input.kind })
}

export function getRun(ctx: BackendContext, input: ParsedInput<'runs.get'>): Output<'runs.get'> {
  const run = ctx.store.getRun(input.id)
  if (!run) throw new ApiError('not_found', `There is no run ${input.id}.`)
  return {
    run,
    metrics: ctx.store.getMetrics(run.id),
    checkpoints: ctx.store.getCheckpoints(run.id),
    log: ctx.store.getLog(run.id),
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null)
const int = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) ? v : null)

/**
 * One summary per run, from one query plus the model and dataset names. An evaluation takes its
 * model, block, kind and K from the run it evaluated (when that run is in the same page of runs);
 * an imported layer's come from its config (copied from its cfg.json at import).
 */
export function runSummaries(ctx: BackendContext, input: ParsedInput<'runs.summarize'>): Output<'runs.summarize'> {
  const rows = ctx.store.runSummaryRows({ limit: input.limit, kind: input.kind })
  const models = new Map(ctx.store.listModels().map((m) => [resolve(m.path), m]))
  const datasets = ctx.store.datasetNames()
  const datasetById = new Map(datasets.map((d) => [d.id, d.name]))
  const datasetByPath = new Map(datasets.map((d) => [resolve(d.path), d.name]))
  const runsById = new Map(rows.map((r) => [r.run.id, r.run]))

  function datasetName(data: unknown): string | null {
    if (typeof data === 'number') return datasetById.get(data) ?? `dataset ${data}`
    const path = str(data)
    return path ? (datasetByPath.get(resolve(path)) ?? basename(path)) : null
  }
  function about(run: Run): Omit<RunSummary, 'id' | 'nmse' | 'lossRecovered' | 'trainNmse'> {
    const c = run.config
    // An evaluation is about the layer it evaluated; its own model/data override the trained run's.
    const trained = run.kind === 'convert-eval' ? runsById.get(int(c.trainRunId) ?? -1) : undefined
    const base = trained ? about(trained) : null
    const modelPath = str(c.model)
    const model = modelPath ? models.get(resolve(modelPath)) : undefined
    const kind = str(c.kind) ?? str(c.architecture)
    return {
      model: model?.name ?? (modelPath ? basename(modelPath) : (str(c.model_name) ?? base?.model ?? null)),
      modelId: model?.id ?? (modelPath ? null : (base?.modelId ?? null)),
      layer: int(c.layer) ?? base?.layer ?? null,
      layerKind: isLayerKind(kind) ? kind : (base?.layerKind ?? null),
      k: int(c.k) ?? base?.k ?? null,
      dataset: datasetName(c.data) ?? base?.dataset ?? null,
    }
  }
  return rows.map(({ run, evalNmse, evalLossRecovered, trainNmse }) => ({
    id: run.id,
    ...about(run),
    nmse: evalNmse,
    lossRecovered: evalLossRecovered,
    trainNmse,
  }))
}

/**
 * Deletes a finished run and the files the app wrote for it (its folder in the store). Files a
 * run wrote elsewhere at the user's request (a pre-trained model's output folder, an exported
 * layer) are the user's and stay.
 */
export function deleteRun(ctx: BackendContext, input: ParsedInput<'runs.delete'>): Output<'runs.delete'> {
  const run = ctx.store.getRun(input.id)
  if (!run) throw new ApiError('not_found', `There is no run ${input.id}.`)
  if (run.status === 'running' || run.status === 'queued') {
    throw new ApiError('conflict', `Run ${run.id} is ${run.status}: cancel it first, then delete it.`)
  }
  let removedDir: string | null
  try {
    removedDir = ctx.store.deleteRun(run.id)
  } catch (err) {
    throw new ApiError('internal', `Run ${run.id} was deleted, but its folder could not be removed: ${(err as Error).message}`)
  } finally {
    // The rows are gone even when the folder could not be removed: every window drops the run.
    if (!ctx.store.getRun(run.id)) ctx.notifyRunDeleted?.(run.id)
  }
  return { id: run.id, removedDir }
}
