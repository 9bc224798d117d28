// The experts of a μMoE model (pre-trained with CPμMoE or TRμMoE MLPs): whether it has any, its
// expert-analysis runs, the newest finished analysis, and queuing a new one. The Experts page
// shows one model at a time; the model page only asks how many experts a model has.
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { ExpertAnalysis, ModelExperts } from '../../../shared/experts'
import { errorMessage } from '../lib/errors'
import { useBackendStore } from './backend'
import { useModelsStore } from './models'

export const useExpertsStore = defineStore('experts', () => {
  const backend = useBackendStore()
  const models = useModelsStore()

  /** The model shown; null before the page first opens one. */
  const modelId = ref<number | null>(null)
  const state = ref<ModelExperts | null>(null)
  const analysis = ref<ExpertAnalysis | null>(null)
  const error = ref<string | null>(null)
  const busy = ref(false)
  /** The run whose analysis is loaded: a refresh refetches it only when a newer one finished. */
  let loadedRun = 0

  const pending = computed(() => state.value?.runs.find((r) => r.status === 'queued' || r.status === 'running') ?? null)
  const latestDone = computed(() => state.value?.runs.find((r) => r.status === 'succeeded') ?? null)
  const progress = computed(() => (pending.value ? (backend.progress[pending.value.id] ?? null) : null))

  async function refresh(): Promise<void> {
    const id = modelId.value
    if (id === null) return
    try {
      if (!models.loaded) await models.refresh()
      const s = await backend.call('experts.list', { modelId: id })
      if (id !== modelId.value) return
      state.value = s
      const done = s.runs.find((r) => r.status === 'succeeded')
      if (done && done.id !== loadedRun) {
        const result = await backend.call('experts.get', { runId: done.id })
        if (id !== modelId.value) return
        analysis.value = result.analysis
        loadedRun = done.id
      }
      // The newest run failed: say why (its stored error), above the older analysis if any.
      const newest = s.runs[0]
      error.value =
        newest && newest.status === 'failed'
          ? ((await backend.call('experts.get', { runId: newest.id })).error ?? 'The analysis failed.')
          : null
    } catch (err) {
      error.value = errorMessage(err)
    }
  }

  /** Shows a model: what another model showed is dropped at once, not left on screen. */
  async function open(id: number): Promise<void> {
    if (id !== modelId.value) {
      modelId.value = id
      state.value = null
      analysis.value = null
      error.value = null
      loadedRun = 0
    }
    await refresh()
  }

  /** Queues an analysis over at most `tokens` held-out tokens. */
  async function analyze(tokens: number): Promise<void> {
    if (modelId.value === null) return
    busy.value = true
    error.value = null
    try {
      await backend.call('experts.analyze', { modelId: modelId.value, tokens })
      await refresh()
    } catch (err) {
      error.value = errorMessage(err)
    } finally {
      busy.value = false
    }
  }

  // The pending run changed state (started, finished, failed): refetch.
  watch(
    () => (pending.value ? backend.runs.find((r) => r.id === pending.value!.id)?.status : null),
    (now, before) => {
      if (before && now !== before) void refresh()
    },
  )

  /** How many experts per layer a model has (null: dense, not a μMoE, or unknown). */
  async function expertCount(id: number): Promise<number | null> {
    try {
      return (await backend.call('experts.list', { modelId: id })).nExperts
    } catch {
      return null
    }
  }

  return { modelId, state, analysis, error, busy, pending, latestDone, progress, open, refresh, analyze, expertCount }
})
