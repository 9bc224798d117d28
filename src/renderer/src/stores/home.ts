// The start page's facts: the bundled demo model, its newest conversion (running or done) and
// where each step of the first-run story leads. Derived from the models list, the live runs list
// and the run summaries, so the page updates as a conversion starts and finishes.
import { defineStore } from 'pinia'
import { computed } from 'vue'
import type { Run } from '../../../shared/api'
import { useBackendStore } from './backend'
import { useModelsStore } from './models'
import { useRunsStore } from './runs'

/** How many recent runs the start page lists. */
export const RECENT_RUNS = 5

const LAYER_RUNS = new Set(['convert', 'layer-import'])

export const useHomeStore = defineStore('home', () => {
  const backend = useBackendStore()
  const models = useModelsStore()
  const runs = useRunsStore()

  /** The model shipped with the app (the first bundled one that can be read). */
  const demo = computed(
    () => models.models.find((m) => m.source === 'bundled' && m.info) ?? models.models.find((m) => m.source === 'bundled'),
  )
  /** The model the story is about: the demo model, else the first readable one. */
  const model = computed(() => demo.value ?? models.models.find((m) => m.info) ?? null)

  function isOfModel(run: Run): boolean {
    const m = model.value
    if (!m) return false
    const s = runs.summaries[run.id]
    return run.config.model === m.path || (s !== undefined && (s.modelId === m.id || s.model === m.name))
  }
  /** The newest conversion of the story's model, whatever its status. */
  const conversion = computed(() => backend.runs.find((r) => r.kind === 'convert' && isOfModel(r)) ?? null)
  /** The newest finished layer (trained or imported) of that model: what the Playground can splice. */
  const layerRun = computed(() => backend.runs.find((r) => LAYER_RUNS.has(r.kind) && r.status === 'succeeded' && isOfModel(r)) ?? null)
  /** The block the story's frontier shows: the newest layer's, else the middle block. */
  const layer = computed(() => {
    const run = layerRun.value ?? conversion.value
    const fromRun = run ? runs.summaries[run.id]?.layer : undefined
    if (typeof fromRun === 'number') return fromRun
    const n = model.value?.info?.layers
    return n ? Math.floor(n / 2) : 0
  })

  const links = computed(() => {
    const m = model.value
    if (!m) return null
    const q = `model=${m.id}`
    return {
      convert: `/convert?${q}&layer=${layer.value}`,
      run: conversion.value ? `/runs/${conversion.value.id}` : null,
      frontier: `/convert/frontier?${q}&layer=${layer.value}`,
      playground: layerRun.value ? `/playground?${q}&layer=${layerRun.value.id}` : `/playground?${q}`,
      experts: `/models/${m.id}/experts`,
      model: `/models/${m.id}`,
    }
  })

  const recent = computed(() => backend.runs.slice(0, RECENT_RUNS))

  return { demo, model, conversion, layerRun, layer, links, recent }
})
