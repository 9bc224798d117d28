// The Playground's token inspector: the spliced layer's active units at one position of the
// generation (prompt or generated), read by features.search over the ids up to and including that
// position (the units at a position depend only on the tokens up to it), with the user's labels
// (features.listLabels). Only the newest request's answer is kept.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { errorMessage } from '../lib/errors'
import { useBackendStore } from './backend'

export interface ActiveUnit {
  unit: number
  value: number
  /** The unit's firing frequency in the layer's feature index, when it has one. */
  frequency: number | null
  label: string | null
}

export const useInspectorStore = defineStore('inspector', () => {
  const backend = useBackendStore()
  const layerRunId = ref<number | null>(null)
  const pos = ref<number | null>(null)
  const units = ref<ActiveUnit[]>([])
  const loading = ref(false)
  const error = ref<string | null>(null)
  /** Labels by layer run, read once per layer (a failed read means no labels, not an error). */
  const labels = new Map<number, Map<number, string>>()
  let request = 0

  async function labelsOf(runId: number): Promise<Map<number, string>> {
    const known = labels.get(runId)
    if (known) return known
    const map = new Map<number, string>()
    try {
      for (const l of (await backend.call('features.listLabels', { runId })).labels) if (l.label) map.set(l.unit, l.label)
      labels.set(runId, map)
    } catch {
      // No labels (none written, or the layer has no index yet): the units are shown without.
    }
    return map
  }

  /** Reads the units active at `at` of `ids` (the whole generation so far) in layer run `runId`. */
  async function inspect(runId: number, ids: readonly number[], at: number): Promise<void> {
    const mine = ++request
    layerRunId.value = runId
    pos.value = at
    loading.value = true
    error.value = null
    try {
      const [found, names] = await Promise.all([backend.call('features.search', { runId, ids: ids.slice(0, at + 1) }), labelsOf(runId)])
      if (mine !== request) return
      const here = found.tokens.at(-1)?.units ?? []
      units.value = here.map((u) => ({ unit: u.unit, value: u.value, frequency: u.frequency, label: names.get(u.unit) ?? null }))
    } catch (err) {
      if (mine !== request) return
      units.value = []
      error.value = `Could not read the active units: ${errorMessage(err)}`
    } finally {
      if (mine === request) loading.value = false
    }
  }

  function clear(): void {
    request++
    pos.value = null
    units.value = []
    error.value = null
    loading.value = false
  }

  return { layerRunId, pos, units, loading, error, inspect, clear }
})
