// The feature search page: a text read by the layer (features.search: the units active at each
// token), the units firing most on one token (features.listByToken), and the user's labels
// matching words (features.listLabels). One action each, with its own answer and error.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { FeatureLabels, FeatureSearchResult, FeatureTokenUnits } from '../../../shared/features'
import { FEATURE_LIMITS } from '../../../shared/features'
import { useAction } from '../lib/action'
import { useBackendStore } from './backend'

export const useFeatureSearchStore = defineStore('feature-search', () => {
  const backend = useBackendStore()
  const runId = ref<number | null>(null)

  const text = ref('')
  const textResult = ref<FeatureSearchResult | null>(null)
  const textAction = useAction()
  /** The token whose units are shown (an index into textResult.tokens). */
  const selected = ref<number | null>(null)
  async function searchText(): Promise<void> {
    const t = text.value
    if (runId.value === null || !t.trim()) return
    const id = runId.value
    const out = await textAction.run(() => backend.call('features.search', { runId: id, text: t.slice(0, FEATURE_LIMITS.maxSearchChars) }))
    textResult.value = out ?? null
    // The token with the strongest unit is shown first.
    selected.value = out ? strongestToken(out) : null
  }

  const token = ref('')
  const tokenResult = ref<FeatureTokenUnits | null>(null)
  const tokenAction = useAction()
  async function searchToken(): Promise<void> {
    if (runId.value === null || token.value === '') return
    const id = runId.value
    const t = token.value.slice(0, 256)
    tokenResult.value = (await tokenAction.run(() => backend.call('features.listByToken', { runId: id, token: t }))) ?? null
  }

  const labelQuery = ref('')
  const labelResult = ref<FeatureLabels | null>(null)
  const labelAction = useAction()
  async function searchLabels(): Promise<void> {
    if (runId.value === null) return
    const id = runId.value
    const q = labelQuery.value.trim().slice(0, 200)
    labelResult.value = (await labelAction.run(() => backend.call('features.listLabels', q ? { runId: id, query: q } : { runId: id }))) ?? null
  }

  /** A new index: the answers of the last one go. */
  function open(id: number): void {
    if (runId.value === id) return
    runId.value = id
    textResult.value = tokenResult.value = labelResult.value = null
    selected.value = null
  }

  return {
    runId,
    open,
    text,
    textResult,
    selected,
    searchText,
    searchingText: textAction.busy,
    textError: textAction.error,
    token,
    tokenResult,
    searchToken,
    searchingToken: tokenAction.busy,
    tokenError: tokenAction.error,
    labelQuery,
    labelResult,
    searchLabels,
    searchingLabels: labelAction.busy,
    labelError: labelAction.error,
  }
})

function strongestToken(r: FeatureSearchResult): number | null {
  let best: number | null = null
  let value = -Infinity
  r.tokens.forEach((t, i) => {
    const v = t.units[0]?.value ?? -Infinity
    if (v > value) {
      value = v
      best = i
    }
  })
  return best
}
