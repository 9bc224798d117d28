// The Privacy page: the wizard (a finished classifier, the protected set with its preview, the
// method and the attacks, the start) and the list of certificates. The classifier runs and the
// image datasets are the Classifiers page's store's (classify.ts); the form's reading is
// lib/privacy-form.ts; the started run is followed on its run page.
import { defineStore } from 'pinia'
import { computed, markRaw, reactive, ref, watch } from 'vue'
import { CERTIFIABLE_MODEL_KINDS, type CertificateSummary, type ProtectedSetInfo } from '../../../shared/privacy'
import { IMAGE_GET_LIMIT } from '../../../shared/images'
import { createWizard, type WizardStep } from '../components/wizard/wizard'
import { useAction } from '../lib/action'
import { debouncedRequest } from '../lib/debounced-request'
import { errorMessage } from '../lib/errors'
import {
  buildPrivacyRequest,
  defaultAttacks,
  defaultMethod,
  defaultProtect,
  fieldErrors,
  readAttacks,
  readMethod,
  readProtect,
} from '../lib/privacy-form'
import { useBackendStore } from './backend'
import { useClassifyStore, type ClassifierRunRow } from './classify'
import type { SplitImage } from './image-experts'

/** Model kinds whose Hessian the certified Newton step can form (docs/privacy.md). */
export const CERTIFIABLE_MODELS: ReadonlySet<string> = new Set(CERTIFIABLE_MODEL_KINDS)
/** Training images per page of the picker grid (a multiple of its columns, under IMAGE_GET_LIMIT). */
export const PICK_PAGE = Math.min(48, IMAGE_GET_LIMIT)
/** The preview waits this long after the last keystroke. */
const PREVIEW_DEBOUNCE_MS = 300

export const usePrivacyStore = defineStore('privacy', () => {
  const backend = useBackendStore()
  const cs = useClassifyStore()

  // ---- step 1: the classifier
  const trainRunId = ref<number | null>(null)
  /** Succeeded classify-train runs: only a finished classifier has a saved model to edit. */
  const classifiers = computed<ClassifierRunRow[]>(() => cs.runs.filter((r) => r.run.status === 'succeeded'))
  const classifier = computed(() => classifiers.value.find((r) => r.run.id === trainRunId.value) ?? null)
  const modelKind = computed(() => String((classifier.value?.run.config as { model?: unknown } | undefined)?.model ?? ''))
  /** The classifier's dataset (classify-train keeps it as `dataset` in its config). */
  const dataset = computed(() => {
    const id = (classifier.value?.run.config as { dataset?: unknown } | undefined)?.dataset
    return cs.datasets.find((d) => d.id === id) ?? null
  })
  const classes = computed(() => dataset.value?.classes ?? [])

  // ---- step 2: the protected set
  const protect = reactive(defaultProtect())
  const protectReading = computed(() =>
    readProtect(protect, { images: dataset.value?.splitSizes.train ?? 0, perClass: dataset.value?.counts.train ?? [] }),
  )
  const protectErrors = computed<Record<string, string | null>>(() => ({
    ...fieldErrors(protectReading.value.fields),
    set: protectReading.value.error,
  }))
  const preview = ref<ProtectedSetInfo | null>(null)
  const previewError = ref<string | null>(null)
  const previewing = ref(false)
  const clearPreview = (): void => {
    preview.value = null
    previewError.value = null
  }
  const previewRequest = debouncedRequest({
    delayMs: PREVIEW_DEBOUNCE_MS,
    input: () => {
      const spec = protectReading.value.spec
      return spec && trainRunId.value !== null ? { trainRunId: trainRunId.value, protect: spec } : null
    },
    // The set as the job will see it: an edit undone within the pause asks nothing again.
    key: (input) => JSON.stringify(input),
    request: (input) => backend.call('privacy.preview', input),
    onStart: clearPreview,
    onAnswer: (p) => (preview.value = p),
    onError: (err) => (previewError.value = errorMessage(err)),
    onEmpty: clearPreview,
    onBusy: (busy) => (previewing.value = busy),
  })
  watch(
    () => JSON.stringify([trainRunId.value, protectReading.value.spec]),
    () => previewRequest.schedule(),
  )

  // The picker grid: one page of the training split at a time, cached by index.
  const pickPage = ref(0)
  const pickImages = ref(new Map<number, SplitImage>())
  const pickShape = ref<{ height: number; width: number; channels: number } | null>(null)
  const pickError = ref<string | null>(null)
  const pickPages = computed(() => Math.max(1, Math.ceil((dataset.value?.splitSizes.train ?? 0) / PICK_PAGE)))
  const pageIndices = computed(() => {
    const n = dataset.value?.splitSizes.train ?? 0
    const from = pickPage.value * PICK_PAGE
    return Array.from({ length: Math.max(0, Math.min(PICK_PAGE, n - from)) }, (_, i) => from + i)
  })
  let pickFor: number | null = null

  async function loadPickPage(): Promise<void> {
    const d = dataset.value
    if (!d) return
    if (pickFor !== d.id) {
      pickFor = d.id
      pickImages.value = new Map()
    }
    const missing = pageIndices.value.filter((i) => !pickImages.value.has(i))
    if (missing.length === 0) return
    try {
      const got = await backend.call('images.get', { datasetId: d.id, split: 'train', indices: missing })
      if (pickFor !== d.id) return
      pickShape.value = { height: got.height, width: got.width, channels: got.channels }
      const next = new Map(pickImages.value)
      for (const im of got.images) next.set(im.index, { label: im.label, pixels: im.pixels })
      pickImages.value = next
      pickError.value = null
    } catch (err) {
      pickError.value = `${errorMessage(err)} (the images of ${d.name} could not be read; check that its folder is still there on the Classifiers page).`
    }
  }
  function togglePick(index: number): void {
    const i = protect.picked.indexOf(index)
    if (i >= 0) protect.picked.splice(i, 1)
    else protect.picked.push(index)
  }
  watch([pickPage, dataset], () => {
    if (protect.by === 'indices') void loadPickPage()
  })
  watch(
    () => protect.by,
    (by) => {
      if (by === 'indices') void loadPickPage()
    },
  )
  watch(trainRunId, () => {
    // Another classifier may have other classes and another dataset: the picks were of the old one.
    protect.cls = null
    protect.picked = []
    pickPage.value = 0
  })

  // ---- step 3: the method and the attacks
  const method = reactive(defaultMethod())
  const attacks = reactive(defaultAttacks())
  const methodReading = computed(() => readMethod(method))
  const methodErrors = computed(() => fieldErrors(methodReading.value.fields))
  const attackErrors = computed(() => fieldErrors(readAttacks(attacks)))
  const certifiable = computed(() => CERTIFIABLE_MODELS.has(modelKind.value))

  // ---- the wizard
  const request = computed(() =>
    trainRunId.value === null ? null : buildPrivacyRequest(trainRunId.value, protectReading.value.spec, method, attacks),
  )
  const errorsOf = (e: Record<string, string | null>): string[] => Object.values(e).filter((x): x is string => x !== null)
  const wizard = createWizard((): WizardStep[] => [
    {
      id: 'classifier',
      title: 'Classifier',
      summary: classifier.value ? `run ${classifier.value.run.id}, ${classifier.value.model}` : undefined,
      errors: trainRunId.value === null ? ['Pick a finished classifier (train one on the Classifiers page first).'] : [],
    },
    {
      id: 'protect',
      title: 'Protected set',
      summary: preview.value ? `${preview.value.forget.toLocaleString('en-US')} images` : undefined,
      errors: errorsOf(protectErrors.value),
    },
    {
      id: 'method',
      title: 'Method',
      summary: method.method === 'finetune' ? 'Pareto fine-tuning' : 'Certified',
      errors: [
        ...(method.method === 'certify' && !certifiable.value
          ? [
              `The certified method needs a logistic regression or MLP classifier; run ${trainRunId.value ?? '?'} is a ${modelKind.value || 'different'} model. Choose Pareto fine-tuning, or another classifier.`,
            ]
          : []),
        ...errorsOf(methodErrors.value),
        ...errorsOf(attackErrors.value),
      ],
    },
    { id: 'review', title: 'Run', heading: 'Review and start', errors: [] },
  ])
  const starting = useAction()

  /** Starts the job; the new run's id (the page opens it), or null with the message in starting.error. */
  async function start(): Promise<number | null> {
    const bad = await wizard.attemptAll()
    if (bad !== null) {
      wizard.go(bad)
      return null
    }
    const r = request.value
    if (!r) return null
    const got = await starting.run(() =>
      r.method === 'finetune' ? backend.call('privacy.finetune', r.request) : backend.call('privacy.certify', r.request),
    )
    return got?.runId ?? null
  }

  // ---- the certificates
  const certificates = ref<CertificateSummary[]>([])
  const certificatesError = ref<string | null>(null)
  async function loadCertificates(): Promise<void> {
    try {
      certificates.value = await backend.call('privacy.listCertificates', {})
      certificatesError.value = null
    } catch (err) {
      certificatesError.value = errorMessage(err)
    }
  }

  /** Loads the classifiers (and their datasets) and the certificates; picks the newest classifier. */
  async function load(): Promise<void> {
    await Promise.all([cs.load(), loadCertificates()])
    if (trainRunId.value === null && classifiers.value.length > 0) trainRunId.value = classifiers.value[0]!.run.id
  }

  const datasetName = (id: number): string | null => cs.datasets.find((d) => d.id === id)?.name ?? null

  return {
    trainRunId,
    classifiers,
    classifier,
    modelKind,
    dataset,
    classes,
    protect,
    protectReading,
    protectErrors,
    preview,
    previewError,
    previewing,
    pickPage,
    pickPages,
    pageIndices,
    pickImages,
    pickShape,
    pickError,
    togglePick,
    method,
    attacks,
    methodReading,
    methodErrors,
    attackErrors,
    certifiable,
    request,
    wizard: markRaw(wizard),
    starting,
    start,
    certificates,
    certificatesError,
    loadCertificates,
    load,
    datasetName,
    loadError: computed(() => cs.loadError),
  }
})
