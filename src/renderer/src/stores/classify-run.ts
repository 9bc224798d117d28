// A classify-train or classify-eval run's results for its run page: the evaluation (classify.get;
// a training run's test split, an evaluation run's own), the misclassified examples' images
// (images.get, only those rows of the evaluated split), predictions on a chosen image
// (classify.predict), and evaluating a trained run on another split or dataset (classify.evaluate).
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { ClassifyEvaluation, ClassifyPrediction, ClassifyRunState } from '../../../shared/classify'
import { IMAGE_GET_LIMIT, type ImageDataset } from '../../../shared/images'
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
  /** The evaluation the page shows: a training run's test split, or an evaluation run's. */
  const evaluation = computed<ClassifyEvaluation | null>(() => state.value?.train?.test ?? state.value?.evaluation ?? null)

  /** "Evaluate on…": the image datasets a trained run's classifier can take (same image shape and class count). */
  const evalDatasets = ref<ImageDataset[]>([])
  const evalDatasetId = ref<number | null>(null)
  const evalSplit = ref<'train' | 'validation' | 'test'>('test')
  const evaluating = useAction()

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
      if (s.train) void loadEvalDatasets(id, s)
      const ev = s.train?.test ?? s.evaluation
      if (ev) await loadImages(id, ev)
    } catch (err) {
      error.value = errorMessage(err)
    }
  }

  async function loadImages(id: number, ev: ClassifyEvaluation): Promise<void> {
    const indices = ev.misclassified.slice(0, Math.min(SHOWN_MISCLASSIFIED, IMAGE_GET_LIMIT)).map((m) => m.index)
    if (indices.length === 0) return
    try {
      const split = ev.dataset.split as 'train' | 'validation' | 'test'
      const got = await backend.call('images.get', { datasetId: ev.dataset.id, split, indices })
      if (runId.value !== id) return
      images.value = new Map(got.images.map((im) => [im.index, pixelsToDataUrl(im.pixels, got.width, got.height, got.channels)]))
      imagesError.value = null
    } catch (err) {
      imagesError.value = `${errorMessage(err)} (the examples are listed without their images).`
    }
  }

  /** The datasets the classify-eval job would accept for this classifier (it checks the same again). */
  async function loadEvalDatasets(id: number, s: ClassifyRunState): Promise<void> {
    const shape = s.train!.shape
    try {
      const all = await backend.call('images.list', {})
      if (runId.value !== id) return
      evalDatasets.value = all.filter((d) => d.shape.height === shape.height && d.shape.width === shape.width && d.shape.channels === shape.channels && d.classes.length === shape.classes)
      if (!evalDatasets.value.some((d) => d.id === evalDatasetId.value)) evalDatasetId.value = s.train!.test.dataset.id
    } catch (err) {
      evaluating.error.value = errorMessage(err)
    }
  }

  /** Starts a classify-eval run of this classifier on the chosen dataset and split; its run id (the page opens it). */
  async function evaluate(): Promise<number | null> {
    const id = runId.value
    if (id === null || evalDatasetId.value === null) return null
    const data = evalDatasetId.value
    const r = await evaluating.run(() => backend.call('classify.evaluate', { trainRunId: id, data, split: evalSplit.value }))
    return r?.runId ?? null
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

  return {
    runId, state, evaluation, error, images, imagesError, prediction, predictedFile, predictedImage, predicting,
    evalDatasets, evalDatasetId, evalSplit, evaluating, open, predict, evaluate,
  }
})
