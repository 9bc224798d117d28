// The conversion pages' back-end calls and data: the registered datasets, previews, starting runs
// and sweeps, and the speed this machine has measured before. The wizard's draft and
// rules are stores/convert-wizard.ts; the frontier is stores/frontier.ts.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { Dataset, Input, Output, Run } from '../../../shared/api'
import type { LayerKind } from '../lib/convert-format'
import { useBackendStore } from './backend'
import { errorMessage } from '../lib/errors'

export type ConvertInput = Input<'convert.start'>
export type ConvertPreview = Output<'convert.preview'>

/** A speed this machine measured: from an earlier conversion of the same model, or the benchmark. */
export interface SpeedSource {
  kind: 'conversion' | 'benchmark'
  runId: number
  /** Conversion: training tokens/s (optimizer only) and harvesting tokens/s (model forward). */
  trainTokensPerS?: number
  harvestTokensPerS?: number
  /** Conversion: that run's training FLOPs per token, to scale its speed to another size. */
  trainFlopsPerToken?: number
  /** Benchmark: the best matrix-multiply GFLOP/s. */
  gflops?: number
}

export const useConvertStore = defineStore('convert', () => {
  const backend = useBackendStore()

  const datasets = ref<Dataset[]>([])
  const datasetsLoaded = ref(false)
  const datasetsError = ref<string | null>(null)

  async function refreshDatasets(): Promise<void> {
    try {
      datasets.value = await backend.call('datasets.list', {})
      datasetsError.value = null
    } catch (err) {
      datasetsError.value = errorMessage(err)
    } finally {
      datasetsLoaded.value = true
    }
  }

  /** Registers a file or folder; throws the back end's message when refused. */
  async function addDataset(path: string): Promise<Dataset> {
    const d = await backend.call('datasets.add', { path })
    const i = datasets.value.findIndex((x) => x.id === d.id)
    if (i >= 0) datasets.value.splice(i, 1, d)
    else datasets.value.push(d)
    return d
  }

  function preview(config: ConvertInput): Promise<ConvertPreview> {
    return backend.call('convert.preview', config)
  }
  async function start(config: ConvertInput): Promise<number> {
    return (await backend.call('convert.start', config)).runId
  }
  async function sweep(config: ConvertInput, ks: number[], kinds: LayerKind[]): Promise<number[]> {
    return (await backend.call('convert.sweep', { ...config, ks, kinds })).runIds
  }
  async function evaluate(runId: number): Promise<number> {
    return (await backend.call('convert.evaluate', { runId })).runId
  }

  /** The evaluation runs of a training run, newest first. */
  function evalRunsOf(trainRunId: number): Run[] {
    return backend.runs.filter((r) => r.kind === 'convert-eval' && r.config.trainRunId === trainRunId).sort((a, b) => b.id - a.id)
  }

  const speedCache = new Map<string, SpeedSource | null>()
  /**
   * The newest finished conversion of this model with measured speeds; else the newest benchmark.
   * Null when this machine has measured nothing yet.
   */
  async function measuredSpeed(modelPath: string): Promise<SpeedSource | null> {
    if (speedCache.has(modelPath)) return speedCache.get(modelPath)!
    let found: SpeedSource | null = null
    const conversions = backend.runs.filter((r) => r.kind === 'convert' && r.status === 'succeeded' && r.config.model === modelPath)
    for (const run of conversions.slice(0, 3)) {
      const d = await backend.call('runs.get', { id: run.id })
      const last = (name: string): number | undefined => d.metrics.filter((m) => m.name === name).at(-1)?.value
      const train = last('tokens_per_s')
      const harvest = last('harvest_tokens_per_s')
      if (train && harvest) {
        let flops: number | undefined
        try {
          flops = (await preview(run.config as unknown as ConvertInput)).trainFlopsPerToken
        } catch {
          flops = undefined // an older config the preview no longer takes: use its speed unscaled
        }
        found = { kind: 'conversion', runId: run.id, trainTokensPerS: train, harvestTokensPerS: harvest, trainFlopsPerToken: flops }
        break
      }
    }
    if (!found) {
      const bench = backend.runs.find((r) => r.kind === 'bench-backend' && r.status === 'succeeded')
      if (bench) {
        const d = await backend.call('runs.get', { id: bench.id })
        const best = Math.max(0, ...d.metrics.filter((m) => m.name === 'gflops').map((m) => m.value))
        if (best > 0) found = { kind: 'benchmark', runId: bench.id, gflops: best }
      }
    }
    speedCache.set(modelPath, found)
    return found
  }

  return {
    datasets,
    datasetsLoaded,
    datasetsError,
    refreshDatasets,
    addDataset,
    preview,
    start,
    sweep,
    evaluate,
    evalRunsOf,
    measuredSpeed,
  }
})
