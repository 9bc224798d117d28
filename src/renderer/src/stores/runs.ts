// What the Runs page and the start page know about runs beyond the live list in the backend
// store: a summary per run (model, block, kind, K, headline metrics), the list's filters, one run's
// full detail, cancelling, resuming and deleting a run, and importing and exporting a layer folder.
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { Output, Run, RunDetail, RunSummary } from '../../../shared/api'
import type { LayerKind } from '../lib/convert-format'
import { useBackendStore } from './backend'
import { errorMessage } from '../lib/errors'

export type ImportResult = Output<'convert.import'>
export type ExportResult = Output<'convert.export'>

/** Filter values: '' is "all". A model filter is the summary's model name. */
export interface RunFilter {
  model: string
  layerKind: LayerKind | ''
}

export const useRunsStore = defineStore('runs', () => {
  const backend = useBackendStore()
  const summaries = ref<Record<number, RunSummary>>({})
  const summariesError = ref<string | null>(null)
  const filter = ref<RunFilter>({ model: '', layerKind: '' })

  async function refreshSummaries(): Promise<void> {
    try {
      const list = await backend.call('runs.summarize', {})
      summaries.value = Object.fromEntries(list.map((s) => [s.id, s]))
      summariesError.value = null
    } catch (err) {
      summariesError.value = errorMessage(err)
    }
  }

  // A run that appears or finishes has new facts (its eval metrics): refetch, at most every second.
  let timer: ReturnType<typeof setTimeout> | undefined
  watch(
    () => backend.runs.map((r) => `${r.id}:${r.status}`).join(','),
    () => {
      clearTimeout(timer)
      timer = setTimeout(() => void refreshSummaries(), 1000)
    },
  )

  const summaryOf = (run: Run): RunSummary | undefined => summaries.value[run.id]
  /** The model names that occur, for the filter. */
  const modelNames = computed(() =>
    [...new Set(Object.values(summaries.value).flatMap((s) => (s.model ? [s.model] : [])))].sort((a, b) => a.localeCompare(b)),
  )
  const filtered = computed(() =>
    backend.runs.filter((run) => {
      const s = summaries.value[run.id]
      if (filter.value.model && s?.model !== filter.value.model) return false
      if (filter.value.layerKind && s?.layerKind !== filter.value.layerKind) return false
      return true
    }),
  )
  const filtering = computed(() => filter.value.model !== '' || filter.value.layerKind !== '')

  /**
   * The conversions and imported layers of a registered model, by block, newest first: what its
   * model page lists as converted.
   */
  function layerRunsOf(modelId: number): Record<number, { run: Run; summary: RunSummary }[]> {
    const out: Record<number, { run: Run; summary: RunSummary }[]> = {}
    for (const run of backend.runs) {
      if (run.kind !== 'convert' && run.kind !== 'layer-import') continue
      const s = summaries.value[run.id]
      if (!s || s.modelId !== modelId || s.layer === null) continue
      ;(out[s.layer] ??= []).push({ run, summary: s })
    }
    return out
  }

  async function deleteRun(id: number): Promise<void> {
    await backend.call('runs.delete', { id })
    backend.forgetRun(id)
    const { [id]: _gone, ...rest } = summaries.value
    summaries.value = rest
  }

  /** One run with its metrics, checkpoints and log. */
  function fetchDetail(id: number): Promise<RunDetail> {
    return backend.call('runs.get', { id })
  }

  /** Writes a finished layer's cfg.json and safetensors to `dir`; `force` replaces what it holds. */
  function exportLayer(runId: number, dir: string, force: boolean): Promise<ExportResult> {
    return backend.call('convert.export', { runId, dir, force })
  }

  async function importLayer(dir: string): Promise<ImportResult> {
    const result = await backend.call('convert.import', { dir })
    await Promise.all([backend.refreshRuns(), refreshSummaries()])
    return result
  }

  return {
    summaries,
    summariesError,
    filter,
    filtering,
    modelNames,
    filtered,
    summaryOf,
    layerRunsOf,
    refreshSummaries,
    fetchDetail,
    deleteRun,
    importLayer,
    exportLayer,
  }
})
