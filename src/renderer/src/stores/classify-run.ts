// A classify-train run's results for its run page: the test evaluation (classify.get), the
// misclassified examples' images (images.get, only those rows) and predictions on a chosen image
// (classify.predict).
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { ClassifyPrediction, ClassifyRunState } from '../../../shared/classify'
import { IMAGE_GET_LIMIT } from '../../../shared/images'
import { useAction } from '../lib/action'
import { errorMessage } from '../lib/errors'
import { fileToBase64, pixelsToDataUrl } from '../lib/image-pixels'
import { useBackendStore } from './backend'

/** How many misclassified examples the page shows. */
export const SHOWN_MISCLASSIFIED = 24

export const useClassifyRunStore = defineStore('classify-run', () => {
  const backend = useBackendStore()
  const runId = ref<number | null>(null)
  const state = ref<ClassifyRunState | null>(null)
  const error = ref<string | null>(null)
  /** Data URLs of the misclassified test images, by index within the test split. */
  const images = ref<Map<number, string>>(new Map())
  const imagesError = ref<string | null>(null)
  const prediction = ref<ClassifyPrediction | null>(null)
  const predictedFile = ref<string | null>(null)
  /** The chosen image as a data: URL (the page's CSP allows data: images, not blob:). */
  const predictedImage = ref<string | null>(null)
  const predicting = useAction()

  async function open(id: number): Promise<void> {
    if (runId.value !== id) {
      runId.value = id
      state.value = null
      images.value = new Map()
      prediction.value = null
      predictedFile.value = null
      predictedImage.value = null
    }
    try {
      const s = await backend.call('classify.get', { runId: id })
      if (runId.value !== id) return
      state.value = s
      error.value = null
      if (s.train) await loadImages(id, s)
    } catch (err) {
      error.value = errorMessage(err)
    }
  }

  async function loadImages(id: number, s: ClassifyRunState): Promise<void> {
    const test = s.train!.test
    const indices = test.misclassified.slice(0, Math.min(SHOWN_MISCLASSIFIED, IMAGE_GET_LIMIT)).map((m) => m.index)
    if (indices.length === 0) return
    try {
      const got = await backend.call('images.get', { datasetId: test.dataset.id, split: 'test', indices })
      if (runId.value !== id) return
      images.value = new Map(got.images.map((im) => [im.index, pixelsToDataUrl(im.pixels, got.width, got.height, got.channels)]))
      imagesError.value = null
    } catch (err) {
      imagesError.value = `${errorMessage(err)} (the examples are listed without their images).`
    }
  }

  async function predict(file: File): Promise<void> {
    const id = runId.value
    if (id === null) return
    const base64 = await fileToBase64(file)
    predictedImage.value = `data:${file.type || 'image/png'};base64,${base64}`
    predictedFile.value = file.name
    const r = await predicting.run(() => backend.call('classify.predict', { runId: id, image: { base64 } }))
    if (runId.value === id) prediction.value = r ?? null
  }

  return { runId, state, error, images, imagesError, prediction, predictedFile, predictedImage, predicting, open, predict }
})
