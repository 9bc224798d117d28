// The image expert page (/classifiers/experts?run=): one classify-train run, the expert analysis
// it asks for (classify.analyzeExperts on the run's own dataset), that analysis's progress and
// result, and the split's images the result's top-image grids show (images.get, cached by index).
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { ClassifyRunState } from '../../../shared/classify'
import type { ImageExpertsResult } from '../../../shared/image-experts'
import { IMAGE_GET_LIMIT, type ImageSplitName } from '../../../shared/images'
import { errorMessage } from '../lib/errors'
import { useBackendStore } from './backend'

/** One image of the analysed split, as images.get gave it. */
export interface SplitImage {
  label: number
  pixels: string
}

export const useImageExpertsStore = defineStore('image-experts', () => {
  const backend = useBackendStore()

  const trainRunId = ref<number | null>(null)
  const train = ref<ClassifyRunState | null>(null)
  /** The analysis run this page started (or reopened); null before one. */
  const analysisRunId = ref<number | null>(null)
  const result = ref<ImageExpertsResult | null>(null)
  const error = ref<string | null>(null)
  const busy = ref(false)
  /** The split the images below belong to, their shape, and images.get's error if it failed. */
  const images = ref(new Map<number, SplitImage>())
  const imageShape = ref<{ height: number; width: number; channels: number } | null>(null)
  const imagesError = ref<string | null>(null)
  let imagesFor = ''

  /** The training run's dataset, from its stored config (classify-train keeps it as `dataset`). */
  const datasetId = computed(() => {
    const d = train.value?.config.dataset
    return typeof d === 'number' ? d : null
  })
  const analysis = computed(() => result.value?.analysis ?? null)
  const running = computed(() => result.value !== null && (result.value.status === 'queued' || result.value.status === 'running'))
  const progress = computed(() => (analysisRunId.value !== null && running.value ? (backend.progress[analysisRunId.value] ?? null) : null))

  /** Shows a training run, and the analysis `analysisId` of it if given (the page's URL keeps it); what another run showed is dropped at once. */
  async function open(runId: number, analysisId: number | null = null): Promise<void> {
    if (runId !== trainRunId.value) {
      trainRunId.value = runId
      train.value = null
      analysisRunId.value = null
      result.value = null
      error.value = null
    }
    if (analysisId !== null && analysisId !== analysisRunId.value) {
      analysisRunId.value = analysisId
      void refresh()
    }
    try {
      const t = await backend.call('classify.get', { runId })
      if (runId !== trainRunId.value) return
      if (t.kind !== 'classify-train') throw new Error(`run ${runId} is a ${t.kind} run: open a classifier training run (its id is on the Runs page).`)
      train.value = t
    } catch (err) {
      error.value = errorMessage(err)
    }
  }

  async function refresh(): Promise<void> {
    const id = analysisRunId.value
    if (id === null) return
    try {
      const r = await backend.call('classify.getExperts', { runId: id })
      if (id !== analysisRunId.value) return
      result.value = r
      error.value = r.status === 'failed' || r.status === 'interrupted' ? (r.error ?? `The analysis ${r.status}: start it again.`) : null
    } catch (err) {
      error.value = errorMessage(err)
    }
  }

  /** Queues the analysis of the training run's model on its dataset's `split`. */
  async function analyze(split: ImageSplitName, maxImages: number | null): Promise<void> {
    if (trainRunId.value === null || datasetId.value === null) return
    busy.value = true
    error.value = null
    try {
      const { runId } = await backend.call('classify.analyzeExperts', {
        trainRunId: trainRunId.value,
        datasetId: datasetId.value,
        split,
        ...(maxImages ? { maxImages } : {}),
      })
      analysisRunId.value = runId
      await refresh()
    } catch (err) {
      error.value = errorMessage(err)
    } finally {
      busy.value = false
    }
  }

  // The analysis run changed state (started, finished, failed): refetch its result.
  watch(
    () => (analysisRunId.value !== null ? backend.runs.find((r) => r.id === analysisRunId.value)?.status : undefined),
    (now, before) => {
      if (now && now !== before) void refresh()
    },
  )

  /** Fetches the images at `indices` of the analysed split not cached yet, IMAGE_GET_LIMIT per call. */
  async function loadImages(indices: number[]): Promise<void> {
    const a = analysis.value
    if (!a) return
    const key = `${a.data.datasetId}/${a.data.split}`
    if (key !== imagesFor) {
      imagesFor = key
      images.value = new Map()
      imagesError.value = null
    }
    const missing = [...new Set(indices)].filter((i) => !images.value.has(i))
    try {
      for (let at = 0; at < missing.length; at += IMAGE_GET_LIMIT) {
        const got = await backend.call('images.get', { datasetId: a.data.datasetId, split: a.data.split, indices: missing.slice(at, at + IMAGE_GET_LIMIT) })
        if (key !== imagesFor) return
        imageShape.value = { height: got.height, width: got.width, channels: got.channels }
        const next = new Map(images.value)
        for (const im of got.images) next.set(im.index, { label: im.label, pixels: im.pixels })
        images.value = next
      }
      imagesError.value = null
    } catch (err) {
      imagesError.value = errorMessage(err)
    }
  }

  return { trainRunId, train, datasetId, analysisRunId, result, analysis, running, progress, error, busy, images, imageShape, imagesError, open, refresh, analyze, loadImages }
})
