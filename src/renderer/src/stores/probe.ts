// The Probing page (docs/probing.md): the layer runs that can be probed, the shipped tasks, the
// probe runs as one comparison table, one run's per-class detail, and starting probes. Finished
// runs are refetched when the runs list says a probe run changed state.
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { RunSummary } from '../../../shared/api'
import type { ProbeList, ProbeResult } from '../../../shared/probe'
import { errorMessage } from '../lib/errors'
import { useBackendStore } from './backend'

export const useProbeStore = defineStore('probe', () => {
  const backend = useBackendStore()

  const list = ref<ProbeList | null>(null)
  /** Conversion and imported layer runs whose layer is there to probe (succeeded), newest first. */
  const layers = ref<RunSummary[]>([])
  const error = ref<string | null>(null)
  /** The run whose per-class detail is open, and its result. */
  const openRun = ref<number | null>(null)
  const detail = ref<ProbeResult | null>(null)

  const pending = computed(() => list.value?.runs.filter((r) => r.status === 'queued' || r.status === 'running') ?? [])

  async function refresh(): Promise<void> {
    try {
      if (!backend.runsLoaded) await backend.refreshRuns()
      const [probes, converted, imported] = await Promise.all([
        backend.call('probe.list', {}),
        backend.call('runs.summarize', { kind: 'convert' }),
        backend.call('runs.summarize', { kind: 'layer-import' }),
      ])
      list.value = probes
      const done = new Set(backend.runs.filter((r) => r.status === 'succeeded').map((r) => r.id))
      layers.value = [...converted, ...imported].filter((s) => done.has(s.id)).sort((a, b) => b.id - a.id)
      error.value = null
    } catch (err) {
      error.value = errorMessage(err)
    }
  }

  /** Queues one probe per layer run on the task; resolves once they are queued. */
  async function start(layerRunIds: number[], data: string): Promise<void> {
    for (const layerRunId of layerRunIds) await backend.call('probe.start', { layerRunId, data })
    await refresh()
  }

  /** Opens (or closes, when open) a run's per-class detail. */
  async function toggle(runId: number): Promise<void> {
    if (openRun.value === runId) {
      openRun.value = null
      detail.value = null
      return
    }
    openRun.value = runId
    detail.value = null
    try {
      const state = await backend.call('probe.get', { runId })
      if (openRun.value === runId) detail.value = state.result
    } catch (err) {
      error.value = errorMessage(err)
    }
  }

  // A probe run started, finished or failed: refetch the table.
  watch(
    () =>
      backend.runs
        .filter((r) => r.kind === 'probe')
        .map((r) => `${r.id}:${r.status}`)
        .join(),
    (now, before) => {
      if (now !== before) void refresh()
    },
  )

  return { list, layers, error, openRun, detail, pending, refresh, start, toggle }
})
