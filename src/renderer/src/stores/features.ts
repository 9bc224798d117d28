// A feature index's pages: the unit list (its sort, filters and page, all done by features.list),
// one unit's page (features.get, the ablation of features.ablate, and its neighbours for prev/next),
// and the user's labels (features.setLabel / features.listLabels). The views only lay this out.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { Input } from '../../../shared/api'
import type { FeatureAblation, FeatureLabel, FeatureList, FeatureUnit } from '../../../shared/features'
import { useAction } from '../lib/action'
import { errorMessage } from '../lib/errors'
import { parseOptional } from '../lib/numbers'
import { useBackendStore } from './backend'

export type UnitSort = 'freq' | 'max' | 'unit'

const PAGE = 50
const PERCENT_RULE = { label: 'a frequency (%)', min: 0, max: 100 }

export const useFeaturesStore = defineStore('features', () => {
  const backend = useBackendStore()

  // ---------------------------------------------------------------- the unit list
  const runId = ref<number | null>(null)
  const list = ref<FeatureList | null>(null)
  const listError = ref<string | null>(null)
  const loadingList = ref(false)
  const sort = ref<UnitSort>('freq')
  const order = ref<'desc' | 'asc'>('desc')
  const page = ref(0)
  /** Filters as typed: frequencies in percent (empty: no bound), a label substring. */
  const minFreqText = ref('')
  const maxFreqText = ref('')
  const labelFilter = ref('')
  const minFreq = computed(() => parseOptional(minFreqText.value, PERCENT_RULE))
  const maxFreq = computed(() => parseOptional(maxFreqText.value, PERCENT_RULE))
  const filterError = computed(() => (minFreq.value && !minFreq.value.ok ? minFreq.value.error : maxFreq.value && !maxFreq.value.ok ? maxFreq.value.error : null))
  const pages = computed(() => (list.value ? Math.max(1, Math.ceil(list.value.total / PAGE)) : 1))

  let listSeq = 0
  async function loadList(): Promise<void> {
    if (runId.value === null || filterError.value) return
    const req: Input<'features.list'> = { runId: runId.value, sort: sort.value, order: order.value, offset: page.value * PAGE, limit: PAGE }
    if (minFreq.value?.ok) req.minFrequency = minFreq.value.value / 100
    if (maxFreq.value?.ok) req.maxFrequency = maxFreq.value.value / 100
    if (labelFilter.value.trim()) req.label = labelFilter.value.trim().slice(0, 200)
    const seq = ++listSeq
    loadingList.value = true
    try {
      const out = await backend.call('features.list', req)
      // An older answer arriving after a newer request is dropped.
      if (seq !== listSeq) return
      list.value = out
      listError.value = null
    } catch (err) {
      if (seq === listSeq) listError.value = errorMessage(err)
    } finally {
      if (seq === listSeq) loadingList.value = false
    }
  }
  /** Opens index `id`'s list (filters kept only within the same index). */
  function openList(id: number): Promise<void> {
    if (runId.value !== id) {
      runId.value = id
      list.value = null
      page.value = 0
      minFreqText.value = ''
      maxFreqText.value = ''
      labelFilter.value = ''
    }
    return loadList()
  }
  /** A column's header: sort by it, or flip the order when it is the sort already. */
  function sortBy(s: UnitSort): Promise<void> {
    if (sort.value === s) order.value = order.value === 'desc' ? 'asc' : 'desc'
    else {
      sort.value = s
      order.value = s === 'unit' ? 'asc' : 'desc'
    }
    page.value = 0
    return loadList()
  }
  function applyFilters(): Promise<void> {
    page.value = 0
    return loadList()
  }
  function goPage(p: number): Promise<void> {
    page.value = Math.min(Math.max(0, p), pages.value - 1)
    return loadList()
  }

  // ---------------------------------------------------------------- one unit
  const unit = ref<FeatureUnit | null>(null)
  const unitError = ref<string | null>(null)
  const loadingUnit = ref(false)
  const ablation = ref<FeatureAblation | null>(null)
  const ablationError = ref<string | null>(null)
  const ablating = ref(false)
  /** The layer run's labels by unit (the unit page's editor and its co-firing links). */
  const labels = ref<Record<number, FeatureLabel>>({})
  const layerRunId = computed(() => unit.value?.index.layerRunId ?? list.value?.index.layerRunId ?? null)

  let unitSeq = 0
  async function openUnit(id: number, u: number): Promise<void> {
    const seq = ++unitSeq
    loadingUnit.value = true
    unitError.value = null
    ablation.value = null
    ablationError.value = null
    try {
      const out = await backend.call('features.get', { runId: id, unit: u })
      if (seq !== unitSeq) return
      unit.value = out
      void loadLabels(id)
      void loadAblation(id, u, seq)
    } catch (err) {
      if (seq === unitSeq) {
        unit.value = null
        unitError.value = errorMessage(err)
      }
    } finally {
      if (seq === unitSeq) loadingUnit.value = false
    }
  }
  async function loadAblation(id: number, u: number, seq: number): Promise<void> {
    ablating.value = true
    try {
      const out = await backend.call('features.ablate', { runId: id, unit: u })
      if (seq === unitSeq) ablation.value = out
    } catch (err) {
      if (seq === unitSeq) ablationError.value = errorMessage(err)
    } finally {
      if (seq === unitSeq) ablating.value = false
    }
  }
  async function loadLabels(id: number): Promise<void> {
    try {
      const out = await backend.call('features.listLabels', { runId: id })
      labels.value = Object.fromEntries(out.labels.map((l) => [l.unit, l]))
    } catch {
      // The editor still works; co-firing links just show no labels.
      labels.value = {}
    }
  }

  const saver = useAction()
  const savedAt = ref<string | null>(null)
  /** Stores the unit's label and notes (both empty: removes them). */
  async function saveLabel(id: number, u: number, label: string, notes: string): Promise<boolean> {
    savedAt.value = null
    const out = await saver.run(() => backend.call('features.setLabel', { runId: id, unit: u, label, notes }))
    if (out === undefined) return false
    const { [u]: _old, ...rest } = labels.value
    labels.value = out ? { ...rest, [u]: out } : rest
    if (unit.value?.stats.unit === u) unit.value = { ...unit.value, stats: { ...unit.value.stats, label: out?.label ?? null } }
    savedAt.value = out?.updatedAt ?? new Date().toISOString()
    return true
  }

  return {
    runId,
    list,
    listError,
    loadingList,
    sort,
    order,
    page,
    pages,
    pageSize: PAGE,
    minFreqText,
    maxFreqText,
    labelFilter,
    filterError,
    openList,
    loadList,
    sortBy,
    applyFilters,
    goPage,
    unit,
    unitError,
    loadingUnit,
    ablation,
    ablationError,
    ablating,
    labels,
    layerRunId,
    openUnit,
    saveLabel,
    saving: saver.busy,
    saveError: saver.error,
    savedAt,
  }
})
