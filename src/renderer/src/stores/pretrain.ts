// The Pre-train wizard's draft (kept while the user visits other pages), its validation, the
// back end's preview of the configuration (parameter counts, matched μMoE rank, time) and the
// start. Field values are kept as typed text so each can carry its own message.
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { Dataset, Input, Output } from '../../../shared/api'
import { useBackendStore } from './backend'
import { errorMessage } from '../lib/errors'

export type MlpKind = 'dense' | 'cpmoe' | 'trmoe'
export type StepId = 'data' | 'size' | 'mlp' | 'budget' | 'output' | 'review'
export const STEPS: { id: StepId; label: string }[] = [
  { id: 'data', label: 'Data' },
  { id: 'size', label: 'Size' },
  { id: 'mlp', label: 'MLP' },
  { id: 'budget', label: 'Budget' },
  { id: 'output', label: 'Output' },
  { id: 'review', label: 'Review' },
]

export type Preview = Output<'pretrain.preview'>

/** Same rule as the back end (src/shared/pretrain.ts), kept here so the bundle has no zod. */
const OUT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/


/** A whole number in [min, max] from typed text ("20_000", "2e4" and "20k" allowed), or a message. */
export function parseInt_(text: string, what: string, min: number, max: number): { value: number | null; error: string | null } {
  const t = text.trim().replaceAll('_', '').replaceAll(',', '')
  if (t === '') return { value: null, error: `Enter ${what}.` }
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)([kKmM]?)$/.exec(t)
  if (!m) return { value: null, error: `“${text.trim()}” is not a number.` }
  const n = Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]!) ? 1e3 : 1e6)
  if (!Number.isInteger(n)) return { value: null, error: `${what[0]!.toUpperCase()}${what.slice(1)} must be a whole number.` }
  if (n < min || n > max) return { value: null, error: `Between ${min.toLocaleString('en-US')} and ${max.toLocaleString('en-US')}.` }
  return { value: n, error: null }
}

function parseFloat_(text: string, what: string, min: number, max: number): { value: number | null; error: string | null } {
  const t = text.trim()
  if (t === '') return { value: null, error: `Enter ${what}.` }
  const n = Number(t)
  if (!Number.isFinite(n)) return { value: null, error: `“${t}” is not a number.` }
  if (n <= min || n > max) return { value: null, error: `Greater than ${min} and at most ${max}.` }
  return { value: n, error: null }
}

export const usePretrainStore = defineStore('pretrain', () => {
  const backend = useBackendStore()

  const step = ref<StepId>('data')
  /** Steps whose Next was pressed: their messages show. */
  const touched = ref<Set<StepId>>(new Set())

  // Data
  const datasets = ref<Dataset[]>([])
  const datasetsLoaded = ref(false)
  const datasetsError = ref<string | null>(null)
  const datasetId = ref<number | null>(null)
  const addPath = ref('')
  const adding = ref(false)
  const addError = ref<string | null>(null)

  // Size
  const layers = ref('4')
  const dModel = ref('128')
  const heads = ref('4')
  const ctx = ref('128')
  const vocabSize = ref('4096')

  // MLP
  const mlp = ref<MlpKind>('dense')
  const experts = ref('32')
  /** Blank: the parameter-matched rank. */
  const rank = ref('')

  // Budget
  const tokens = ref('2000000')
  const batch = ref('8')
  const lr = ref('0.001')
  /** Blank: 5% of the steps (at most 200). */
  const warmup = ref('')
  const seed = ref('0')
  /** Blank: about 20 held-out evaluations per run. */
  const evalEvery = ref('')

  // Output
  const outName = ref('')
  const outNameEdited = ref(false)

  const preview = ref<Preview | null>(null)
  const previewError = ref<string | null>(null)
  const starting = ref(false)
  const startError = ref<string | null>(null)

  const dataset = computed(() => datasets.value.find((d) => d.id === datasetId.value) ?? null)

  const f = computed(() => ({
    layers: parseInt_(layers.value, 'a number of layers', 1, 48),
    dModel: parseInt_(dModel.value, 'd_model', 8, 4096),
    heads: parseInt_(heads.value, 'a number of heads', 1, 64),
    ctx: parseInt_(ctx.value, 'a context length', 4, 4096),
    vocabSize: parseInt_(vocabSize.value, 'a vocabulary size', 300, 65_535),
    experts: parseInt_(experts.value, 'a number of experts', 2, 1024),
    rank: rank.value.trim() === '' ? { value: null, error: null } : parseInt_(rank.value, 'a rank', 1, 65_536),
    tokens: parseInt_(tokens.value, 'a number of tokens', 1, 1e12),
    batch: parseInt_(batch.value, 'a batch size', 1, 4096),
    lr: parseFloat_(lr.value, 'a learning rate', 0, 1),
    warmup: warmup.value.trim() === '' ? { value: null, error: null } : parseInt_(warmup.value, 'warm-up steps', 0, 1e9),
    seed: parseInt_(seed.value, 'a seed', 0, 2 ** 31 - 1),
    evalEvery: evalEvery.value.trim() === '' ? { value: null, error: null } : parseInt_(evalEvery.value, 'an interval', 1, 1e9),
  }))

  /** Per-field messages, cross-field rules included. */
  const errors = computed<Record<string, string | null>>(() => {
    const v = f.value
    const e: Record<string, string | null> = {}
    for (const [k, r] of Object.entries(v)) e[k] = r.error
    if (!e.heads && !e.dModel && v.dModel.value! % v.heads.value! !== 0) e.heads = `d_model (${v.dModel.value}) must be a multiple of the number of heads.`
    if (mlp.value === 'dense') {
      e.experts = null
      e.rank = null
    }
    e.dataset = datasetId.value === null ? 'Pick a dataset, or add one from a file path.' : null
    const name = outName.value.trim()
    e.outName = name === '' ? 'Enter a folder name.' : !OUT_NAME.test(name) ? 'Use letters, digits, “.”, “_” and “-”, starting with a letter or digit; no slashes.' : preview.value?.outExists && preview.value.out?.endsWith(name) ? `A folder named “${name}” already holds files; choose another name.` : null
    if (!e.tokens && !e.batch && !e.ctx && v.tokens.value! < v.batch.value! * v.ctx.value!) {
      e.tokens = `Less than one step: a step takes batch × context = ${(v.batch.value! * v.ctx.value!).toLocaleString('en-US')} tokens.`
    }
    return e
  })

  const STEP_FIELDS: Record<StepId, string[]> = {
    data: ['dataset'],
    size: ['layers', 'dModel', 'heads', 'ctx', 'vocabSize'],
    mlp: ['experts', 'rank'],
    budget: ['tokens', 'batch', 'lr', 'warmup', 'seed', 'evalEvery'],
    output: ['outName'],
    review: [],
  }
  function stepValid(id: StepId): boolean {
    return STEP_FIELDS[id].every((k) => !errors.value[k])
  }
  /** A field's message once its step was submitted (or always, for a value typed and wrong). */
  function shown(field: string): string | null {
    const owner = (Object.keys(STEP_FIELDS) as StepId[]).find((s) => STEP_FIELDS[s].includes(field))
    return owner && touched.value.has(owner) ? (errors.value[field] ?? null) : null
  }
  const allValid = computed(() => STEPS.every((s) => stepValid(s.id)))

  function suggestedName(): string {
    const v = f.value
    const kind = mlp.value === 'dense' ? 'dense' : `${mlp.value}${v.experts.value ?? ''}`
    return `gpt2-${v.layers.value ?? 'n'}x${v.dModel.value ?? 'd'}-${kind}`
  }
  watch([layers, dModel, mlp, experts], () => {
    if (!outNameEdited.value) outName.value = suggestedName()
  }, { immediate: true })

  const steps = computed(() => preview.value?.steps ?? null)
  /** The held-out interval the run gets: typed, or about 20 evaluations per run. */
  const evalEveryUsed = computed(() => f.value.evalEvery.value ?? Math.max(1, Math.min(200, Math.round((steps.value ?? 1000) / 20))))

  /** The request the preview is asked for; null while the size is not valid. */
  const previewInput = computed<Input<'pretrain.preview'> | null>(() => {
    const v = f.value
    const e = errors.value
    if (['layers', 'dModel', 'heads', 'ctx', 'vocabSize'].some((k) => e[k])) return null
    const input: Input<'pretrain.preview'> = {
      layers: v.layers.value!,
      dModel: v.dModel.value!,
      heads: v.heads.value!,
      ctx: v.ctx.value!,
      vocabSize: v.vocabSize.value!,
      mlp: mlp.value,
    }
    if (mlp.value !== 'dense') {
      if (v.experts.value === null) return null
      input.experts = v.experts.value
      if (v.rank.value !== null) input.rank = v.rank.value
    }
    if (v.tokens.value !== null) input.tokens = v.tokens.value
    if (v.batch.value !== null) input.batch = v.batch.value
    if (v.warmup.value !== null) input.warmup = v.warmup.value
    const name = outName.value.trim()
    if (OUT_NAME.test(name)) input.outName = name
    return input
  })

  /** The shown preview is of an earlier configuration: some size or MLP field is not valid now. */
  const previewStale = computed(() => previewInput.value === null)

  let previewSeq = 0
  let previewTimer: ReturnType<typeof setTimeout> | undefined
  async function refreshPreview(): Promise<void> {
    const input = previewInput.value
    if (!input) return
    const seq = ++previewSeq
    try {
      const p = await backend.call('pretrain.preview', input)
      if (seq !== previewSeq) return
      preview.value = p
      previewError.value = null
    } catch (err) {
      if (seq === previewSeq) previewError.value = errorMessage(err)
    }
  }
  watch(
    () => JSON.stringify(previewInput.value),
    () => {
      clearTimeout(previewTimer)
      previewTimer = setTimeout(() => void refreshPreview(), 150)
    },
  )

  async function loadDatasets(): Promise<void> {
    try {
      datasets.value = await backend.call('datasets.list', {})
      datasetsError.value = null
      if (datasetId.value === null && datasets.value.length === 1) datasetId.value = datasets.value[0]!.id
    } catch (err) {
      datasetsError.value = errorMessage(err)
    } finally {
      datasetsLoaded.value = true
    }
  }

  async function addDataset(path: string): Promise<boolean> {
    addError.value = null
    const p = path.trim()
    if (p === '') {
      addError.value = 'Enter the absolute path of a .txt, .jsonl or .parquet file, or of a folder of them.'
      return false
    }
    adding.value = true
    try {
      const d = await backend.call('datasets.add', { path: p })
      const i = datasets.value.findIndex((x) => x.id === d.id)
      if (i >= 0) datasets.value.splice(i, 1, d)
      else datasets.value.unshift(d)
      datasetId.value = d.id
      addPath.value = ''
      return true
    } catch (err) {
      addError.value = errorMessage(err)
      return false
    } finally {
      adding.value = false
    }
  }

  /** The config sent to pretrain.start; null until every step is valid. */
  const config = computed<Input<'pretrain.start'> | null>(() => {
    if (!allValid.value || !dataset.value || !preview.value?.out) return null
    const v = f.value
    const c: Input<'pretrain.start'> = {
      data: dataset.value.path,
      out: preview.value.out,
      vocabSize: v.vocabSize.value!,
      layers: v.layers.value!,
      dModel: v.dModel.value!,
      heads: v.heads.value!,
      ctx: v.ctx.value!,
      mlp: mlp.value,
      tokens: v.tokens.value!,
      batch: v.batch.value!,
      lr: v.lr.value!,
      seed: v.seed.value!,
      evalEvery: evalEveryUsed.value,
      heldOutFraction: dataset.value.heldOutFraction,
    }
    if (mlp.value !== 'dense') {
      c.experts = v.experts.value!
      if (v.rank.value !== null) c.rank = v.rank.value
    }
    if (v.warmup.value !== null) c.warmup = v.warmup.value
    return c
  })

  async function start(): Promise<number | null> {
    startError.value = null
    for (const s of STEPS) touched.value.add(s.id)
    await refreshPreview()
    const c = config.value
    if (!c) {
      startError.value = 'Some settings need attention: the steps marked in the list above say which.'
      return null
    }
    starting.value = true
    try {
      const { runId } = await backend.call('pretrain.start', c)
      step.value = 'data'
      touched.value = new Set()
      return runId
    } catch (err) {
      startError.value = errorMessage(err)
      return null
    } finally {
      starting.value = false
    }
  }

  return {
    step,
    touched,
    datasets,
    datasetsLoaded,
    datasetsError,
    datasetId,
    dataset,
    addPath,
    adding,
    addError,
    layers,
    dModel,
    heads,
    ctx,
    vocabSize,
    mlp,
    experts,
    rank,
    tokens,
    batch,
    lr,
    warmup,
    seed,
    evalEvery,
    evalEveryUsed,
    outName,
    outNameEdited,
    preview,
    previewStale,
    previewError,
    starting,
    startError,
    f,
    errors,
    shown,
    stepValid,
    allValid,
    config,
    loadDatasets,
    addDataset,
    refreshPreview,
    start,
  }
})
