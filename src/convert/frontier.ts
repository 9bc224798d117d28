// The sparsity–accuracy frontier of one model's layer: every trained or imported layer of that
// block, one series per layer kind, each point a run with its K and its stored held-out metrics
// (eval.*, written by the convert-eval job). The charts put K or L0 on x and NMSE or CE_spliced on y.
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Store } from '../store/store.js'
import { EVAL_METRICS, type Frontier, type FrontierPoint, type FrontierSeries } from '../shared/convert-eval.js'
import { LAYER_RUN_KINDS, LAYER_SUBDIR } from './export.js'
import { layerKind, layerKinds } from '../shared/layer-kinds/index.js'
import { LAYER_CONFIG_FILE, modelFingerprint, readLayerConfig, type LayerFileConfig } from './layer-file.js'

/** How many runs are scanned at most (newest first). */
const MAX_RUNS = 10_000

/** A trained or imported layer in the store, with its cfg.json. */
export interface StoredLayer {
  runId: number
  dir: string
  cfg: LayerFileConfig
}

/**
 * Every trained or imported layer that belongs to the model at `modelPath` (same fingerprint, same
 * model path in its run, or evaluated on it), newest run first; damaged folders are left out
 * (they are reported where they are opened).
 */
export function modelLayers(store: Store, modelPath: string): { modelHash: string | null; layers: StoredLayer[] } {
  const path = resolve(modelPath)
  let modelHash: string | null = null
  try {
    modelHash = modelFingerprint(path)
  } catch {
    // A folder that cannot be read: match by path only.
  }
  // Layers evaluated on this model by an explicit --model (imported layers without a model_hash).
  const evaluatedHere = new Set(
    store
      .listRuns({ kind: 'convert-eval', limit: MAX_RUNS })
      .filter((r) => typeof r.config.model === 'string' && resolve(r.config.model) === path && r.status === 'succeeded')
      .map((r) => r.config.trainRunId),
  )
  const layers: StoredLayer[] = []
  for (const kind of LAYER_RUN_KINDS) {
    for (const run of store.listRuns({ kind: kind as never, limit: MAX_RUNS })) {
      const dir = join(store.dir, 'runs', String(run.id), LAYER_SUBDIR)
      if (!existsSync(join(dir, LAYER_CONFIG_FILE))) continue
      let cfg: LayerFileConfig
      try {
        cfg = readLayerConfig(dir)
      } catch {
        continue
      }
      const runModel = typeof run.config.model === 'string' ? resolve(run.config.model) : undefined
      const sameModel = (modelHash !== null && cfg.model_hash === modelHash) || runModel === path || evaluatedHere.has(run.id)
      if (sameModel) layers.push({ runId: run.id, dir, cfg })
    }
  }
  layers.sort((a, b) => b.runId - a.runId)
  return { modelHash, layers }
}

export function layerFrontier(store: Store, modelPath: string, layer: number): Frontier {
  const { modelHash, layers } = modelLayers(store, modelPath)
  const byKind = new Map<FrontierSeries['kind'], FrontierPoint[]>()
  for (const { runId, cfg } of layers) {
    if (cfg.layer !== layer) continue
    const points = byKind.get(cfg.architecture) ?? []
    points.push(pointOf(store, runId, cfg))
    byKind.set(cfg.architecture, points)
  }
  // One series per kind, in the registry's order (the same on every page).
  const series = layerKinds()
    .map((d) => d.id)
    .filter((k) => byKind.has(k))
    .map((kind) => ({
      kind,
      points: byKind.get(kind)!.sort((a, b) => a.k - b.k || a.runId - b.runId),
    }))
  // The newest evaluation's references: every evaluation of a block measures the same model on
  // held-out text, so they differ only by the evaluation budget.
  const newest = series
    .flatMap((s) => s.points)
    .filter((p) => p.ce_clean !== null)
    .sort((a, b) => b.runId - a.runId)[0]
  const reference = newest ? { ceClean: newest.ce_clean!, ceZero: newest.ce_zero, runId: newest.runId } : null
  return { layer, modelHash, series, reference }
}

/**
 * The eval.* metrics of a run's latest evaluation: those at the highest step that has eval.nmse
 * (so a metric missing from that evaluation, such as an undefined loss recovered, is not taken
 * from an older one).
 */
export function latestEvalMetrics(store: Store, runId: number): Record<string, number> {
  const metrics = store.getMetrics(runId).filter((m) => m.name.startsWith('eval.'))
  const steps = metrics.filter((m) => m.name === EVAL_METRICS.nmse).map((m) => m.step)
  if (steps.length === 0) return {}
  const step = Math.max(...steps)
  return Object.fromEntries(metrics.filter((m) => m.step === step).map((m) => [m.name, m.value]))
}

function pointOf(store: Store, runId: number, cfg: LayerFileConfig): FrontierPoint {
  const m = latestEvalMetrics(store, runId)
  const get = (name: string): number | null => m[name] ?? null
  return {
    runId,
    k: cfg.k,
    l0: get(EVAL_METRICS.l0),
    nmse: get(EVAL_METRICS.nmse),
    ce_spliced: get(EVAL_METRICS.ceSpliced),
    loss_recovered: get(EVAL_METRICS.lossRecovered),
    ce_clean: get(EVAL_METRICS.ceClean),
    ce_zero: get(EVAL_METRICS.ceZero),
    width: cfg[layerKind(cfg.architecture).file.widthKey]!,
    parameters: cfg.parameters,
  }
}
