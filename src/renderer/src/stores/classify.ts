// The Classifiers page: registered image datasets (and the known locations, for a one-click add),
// the training form's draft (kept as typed text so each field carries its own message, as the
// Pre-train wizard does), the back end's preview of the model's size (for a μMoE mixer the
// parameter-matched rank, classify.preview), its start, and the classifier runs with their test accuracy.
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { Run } from '../../../shared/api'
import {
  ClassifyAugment,
  ClassifyOptimizer,
  ClassifySchedule,
  ClassifyTrainConfig,
  type ClassifyPreview,
  type ClassifyPreviewRequest,
  type ClassifyStartRequest,
} from '../../../shared/classify'
import type { ImageDataset, ImageLocation } from '../../../shared/images'
import { useAction } from '../lib/action'
import { debouncedRequest } from '../lib/debounced-request'
import { errorMessage } from '../lib/errors'
import { formatWhole, parseNumber, parseOptional, ruleOf, type NumberRule } from '../lib/numbers'
import { useBackendStore } from './backend'

export type ModelKind = 'logreg' | 'mlp' | 'mixer'
export type MixerKind = 'dense' | 'cpmoe' | 'trmoe'

const S = ClassifyTrainConfig.shape
/** A blank optional field: no value, nothing wrong (the model's default applies). */
const BLANK = { value: null, error: null } as const
export const RULES = {
  epochs: ruleOf(S.epochs, 'the number of epochs'),
  batch: ruleOf(S.batch, 'the batch size'),
  lr: ruleOf(ClassifyOptimizer.shape.lr, 'the learning rate'),
  seed: ruleOf(S.seed, 'the seed'),
  trainImages: ruleOf(S.trainImages, 'the number of training images'),
  weightDecay: ruleOf(ClassifyOptimizer.shape.weightDecay, 'the weight decay'),
  momentum: ruleOf(ClassifyOptimizer.shape.momentum, 'the momentum'),
  warmup: ruleOf(ClassifySchedule.shape.warmup, 'the warm-up steps'),
  minLrRatio: ruleOf(ClassifySchedule.shape.minLrRatio, 'the floor ratio'),
  cropPadding: ruleOf(ClassifyAugment.shape.cropPadding, 'the crop padding'),
  // The mixer's own bounds live in the engine's registry (which checks them again on start).
  experts: { label: 'the number of experts', integer: true, min: 2, max: 4096 },
  hidden: { label: 'the hidden width', integer: true, min: 1, max: 8192 },
  patch: { label: 'the patch side', integer: true, min: 1, max: 64 },
  depth: { label: 'the depth', integer: true, min: 1, max: 32 },
  tokenMixing: { label: 'the token-mixing width', integer: true, min: 1, max: 4096 },
  channelMixing: { label: 'the channel-mixing width', integer: true, min: 1, max: 8192 },
  rank: { label: 'the rank', integer: true, min: 1, max: 8192 },
} satisfies Record<string, NumberRule>

export const MODEL_KINDS: { value: ModelKind; label: string }[] = [
  { value: 'logreg', label: 'Logistic regression' },
  { value: 'mlp', label: 'MLP (one hidden layer)' },
  { value: 'mixer', label: 'MLP-Mixer' },
]
// Short: the field is labelled "Channel mixing", and a longer option was cut off in its select.
export const MIXER_KINDS: { value: MixerKind; label: string }[] = [
  { value: 'dense', label: 'Dense' },
  { value: 'cpmoe', label: 'CPμMoE' },
  { value: 'trmoe', label: 'TRμMoE' },
]

/** A classifier run as the list shows it; `testAccuracy` once it finished. */
export interface ClassifierRunRow {
  run: Run
  model: string
  testAccuracy: number | null
}

export const useClassifyStore = defineStore('classify', () => {
  const backend = useBackendStore()

  const datasets = ref<ImageDataset[]>([])
  const locations = ref<ImageLocation[]>([])
  const loadError = ref<string | null>(null)
  const addPath = ref('')
  const adding = useAction()

  const datasetId = ref<number | null>(null)
  const model = ref<ModelKind>('mixer')
  const mixer = ref<MixerKind>('cpmoe')
  const experts = ref('16')
  /** Blank: the model's default size (docs/classifiers.md). */
  const hidden = ref('')
  const patch = ref('')
  const depth = ref('')
  const tokenMixing = ref('')
  const channelMixing = ref('')
  const epochs = ref('5')
  const batch = ref('64')
  const optimizer = ref<'adamw' | 'sgd'>('adamw')
  const lr = ref('0.001')
  const seed = ref('0')
  /** Blank: the whole train split; else its first N images (no more than the split holds). */
  const trainImages = ref('')
  /** Blank: the optimizer's default (AdamW 0.01, SGD none). */
  const weightDecay = ref('')
  const momentum = ref('0.9')
  const schedule = ref<'constant' | 'cosine'>('constant')
  const warmup = ref('0')
  const minLrRatio = ref('0')
  const flip = ref(false)
  const cropPadding = ref('0')
  /** μMoE only; blank: the parameter-matched rank (preview.matchedRank). */
  const rank = ref('')
  const starting = useAction()
  const preview = ref<ClassifyPreview | null>(null)
  /** The preview request `preview` answers (JSON), so an earlier configuration's is never shown. */
  const previewKey = ref<string | null>(null)
  const previewError = ref<string | null>(null)

  const runs = ref<ClassifierRunRow[]>([])

  const dataset = computed(() => datasets.value.find((d) => d.id === datasetId.value) ?? null)
  const f = computed(() => ({
    epochs: parseNumber(epochs.value, RULES.epochs),
    batch: parseNumber(batch.value, RULES.batch),
    lr: parseNumber(lr.value, RULES.lr),
    seed: parseNumber(seed.value, RULES.seed),
    trainImages: parseOptional(trainImages.value, RULES.trainImages) ?? BLANK,
    experts: parseNumber(experts.value, RULES.experts),
    hidden: parseOptional(hidden.value, RULES.hidden) ?? BLANK,
    patch: parseOptional(patch.value, RULES.patch) ?? BLANK,
    depth: parseOptional(depth.value, RULES.depth) ?? BLANK,
    tokenMixing: parseOptional(tokenMixing.value, RULES.tokenMixing) ?? BLANK,
    channelMixing: parseOptional(channelMixing.value, RULES.channelMixing) ?? BLANK,
    rank: parseOptional(rank.value, RULES.rank) ?? BLANK,
    weightDecay: parseOptional(weightDecay.value, RULES.weightDecay) ?? BLANK,
    momentum: parseNumber(momentum.value, RULES.momentum),
    warmup: parseNumber(warmup.value, RULES.warmup),
    minLrRatio: parseNumber(minLrRatio.value, RULES.minLrRatio),
    cropPadding: parseNumber(cropPadding.value, RULES.cropPadding),
  }))
  const errors = computed<Record<string, string | null>>(() => {
    const e: Record<string, string | null> = {}
    for (const [k, r] of Object.entries(f.value)) e[k] = r.error
    if (!(model.value === 'mixer' && mixer.value !== 'dense')) e.experts = e.rank = null
    if (optimizer.value !== 'sgd') e.momentum = null
    if (schedule.value !== 'cosine') e.warmup = e.minLrRatio = null
    if (model.value !== 'mixer') e.patch = e.depth = e.tokenMixing = e.channelMixing = null
    if (model.value === 'logreg') e.hidden = null
    e.dataset = datasetId.value === null ? 'Pick an image dataset, or add one above.' : null
    // The one bound the schema cannot know: the selected dataset's train split (start refuses more).
    const limit = f.value.trainImages.value
    const split = dataset.value?.splitSizes.train
    if (e.trainImages === null && limit !== null && split !== undefined && limit > split) {
      e.trainImages = `The number of training images must be at most ${formatWhole(split)}, the train split of ${dataset.value!.name}.`
    }
    return e
  })
  const valid = computed(() => Object.values(errors.value).every((e) => e === null))

  async function load(): Promise<void> {
    try {
      const [ds, locs] = await Promise.all([backend.call('images.list', {}), backend.call('images.listLocations', {})])
      datasets.value = ds
      locations.value = locs
      if (datasetId.value === null && ds.length > 0) datasetId.value = ds[ds.length - 1]!.id
      loadError.value = null
    } catch (err) {
      loadError.value = errorMessage(err)
    }
    await loadRuns()
  }

  /** Registers a folder (typed, or a known location) and selects it for training. */
  async function add(path: string): Promise<void> {
    const d = await adding.run(() => backend.call('images.add', { path: path.trim() }))
    if (!d) return
    datasets.value = [...datasets.value.filter((x) => x.id !== d.id), d]
    datasetId.value = d.id
    addPath.value = ''
  }

  async function loadRuns(): Promise<void> {
    try {
      const list = await backend.call('runs.list', { kind: 'classify-train', limit: 50 })
      runs.value = await Promise.all(
        list.map(async (run): Promise<ClassifierRunRow> => {
          const c = run.config as { model?: string; modelConfig?: { mlp?: string; experts?: number } }
          const label = c.model === 'mixer' ? `mixer (${c.modelConfig?.mlp ?? 'dense'}${c.modelConfig?.experts && c.modelConfig.mlp !== 'dense' ? `, ${c.modelConfig.experts} experts` : ''})` : (c.model ?? '?')
          const testAccuracy = run.status === 'succeeded' ? ((await backend.call('classify.get', { runId: run.id })).train?.test.accuracy ?? null) : null
          return { run, model: label, testAccuracy }
        }),
      )
    } catch (err) {
      loadError.value = errorMessage(err)
    }
  }

  /** The model part of the form (dataset, model, its config); null while one of its fields is wrong. */
  const previewInput = computed<ClassifyPreviewRequest | null>(() => {
    const e = errors.value
    if (['dataset', 'experts', 'hidden', 'patch', 'depth', 'tokenMixing', 'channelMixing', 'rank'].some((k) => e[k] !== null)) return null
    const v = f.value
    const modelConfig: Record<string, string | number> = {}
    if (model.value !== 'logreg' && v.hidden.value !== null) modelConfig.hidden = v.hidden.value
    if (model.value === 'mixer') {
      modelConfig.mlp = mixer.value
      if (mixer.value !== 'dense') modelConfig.experts = v.experts.value!
      if (mixer.value !== 'dense' && v.rank.value !== null) modelConfig.rank = v.rank.value
      if (v.patch.value !== null) modelConfig.patch = v.patch.value
      if (v.depth.value !== null) modelConfig.depth = v.depth.value
      if (v.tokenMixing.value !== null) modelConfig.tokenMixing = v.tokenMixing.value
      if (v.channelMixing.value !== null) modelConfig.channelMixing = v.channelMixing.value
    }
    return { data: datasetId.value!, model: model.value, modelConfig }
  })
  /** The preview of the model as typed now; null while it is being asked for or a field is wrong. */
  const previewShown = computed(() => (previewInput.value && previewKey.value === JSON.stringify(previewInput.value) ? preview.value : null))

  const previewRequest = debouncedRequest({
    delayMs: 150,
    input: () => previewInput.value,
    request: (input) => backend.call('classify.preview', input),
    onAnswer: (p, input) => {
      preview.value = p
      previewKey.value = JSON.stringify(input)
      previewError.value = null
    },
    onError: (err) => (previewError.value = errorMessage(err)),
  })
  watch(
    () => JSON.stringify(previewInput.value),
    () => {
      previewError.value = null
      previewRequest.schedule()
    },
    { immediate: true },
  )

  /** The start request of the form as typed; null while a field is wrong. */
  const request = computed<ClassifyStartRequest | null>(() => {
    const m = previewInput.value
    if (!valid.value || !m) return null
    const v = f.value
    const sgd = optimizer.value === 'sgd'
    return {
      ...m,
      optimizer: { kind: optimizer.value, lr: v.lr.value!, ...(v.weightDecay.value !== null ? { weightDecay: v.weightDecay.value } : {}), ...(sgd ? { momentum: v.momentum.value! } : {}) },
      schedule: schedule.value === 'cosine' ? { kind: 'cosine', warmup: v.warmup.value!, minLrRatio: v.minLrRatio.value! } : { kind: 'constant' },
      augment: { flip: flip.value, cropPadding: v.cropPadding.value! },
      epochs: v.epochs.value!,
      batch: v.batch.value!,
      seed: v.seed.value!,
      ...(v.trainImages.value !== null ? { trainImages: v.trainImages.value } : {}),
    }
  })

  /** Starts training; the new run's id (the page opens it), or null with the message in starting.error. */
  async function start(): Promise<number | null> {
    const req = request.value
    if (!req) return null
    const r = await starting.run(() => backend.call('classify.start', req))
    return r?.runId ?? null
  }

  return {
    datasets, locations, loadError, addPath, adding, datasetId, dataset, model, mixer, experts, hidden, patch, depth, tokenMixing, channelMixing, rank, epochs, batch, trainImages, optimizer, lr, seed,
    weightDecay, momentum, schedule, warmup, minLrRatio, flip, cropPadding, starting, runs, f, errors, valid, previewInput, previewShown, previewError, request, load, add, loadRuns, start,
  }
})
