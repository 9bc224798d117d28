// The Pre-train wizard's draft (kept while the user visits other pages), its validation, the
// back end's preview of the configuration (parameter counts, matched μMoE rank, time) and the
// start. Field values are kept as typed text so each can carry its own message.
import { defineStore } from 'pinia'
import { computed, markRaw, ref, watch } from 'vue'
import type { Dataset, Input, Output } from '../../../shared/api'
import { PretrainConfig } from '../../../shared/api'
import { OUT_NAME_PATTERN } from '../../../shared/pretrain'
import { createWizard } from '../components/wizard/wizard'
import { debouncedRequest } from '../lib/debounced-request'
import { errorMessage } from '../lib/errors'
import { parseNumber, parseOptional, ruleOf, type NumberRule } from '../lib/numbers'
import { useBackendStore } from './backend'

export type MlpKind = 'dense' | 'cpmoe' | 'trmoe'
export const STEPS = [
  { id: 'data', title: 'Data', heading: 'Training text' },
  { id: 'size', title: 'Size', heading: 'Model size' },
  { id: 'mlp', title: 'MLP', heading: 'MLP kind' },
  { id: 'budget', title: 'Budget', heading: 'Training budget' },
  { id: 'output', title: 'Output', heading: 'Output folder' },
  { id: 'review', title: 'Review' },
] as const
export type StepId = (typeof STEPS)[number]['id']

export type Preview = Output<'pretrain.preview'>

const S = PretrainConfig.shape
/** Each number field's rule: PretrainConfig's bounds (the API's), under the field's name in messages. */
export const RULES = {
  layers: ruleOf(S.layers, 'the number of layers'),
  dModel: ruleOf(S.dModel, 'd_model'),
  heads: ruleOf(S.heads, 'the number of heads'),
  ctx: ruleOf(S.ctx, 'the context length'),
  vocabSize: ruleOf(S.vocabSize, 'the vocabulary size'),
  experts: ruleOf(S.experts, 'the number of experts'),
  rank: ruleOf(S.rank, 'the rank'),
  tokens: ruleOf(S.tokens, 'the number of tokens'),
  batch: ruleOf(S.batch, 'the batch size'),
  lr: ruleOf(S.lr, 'the learning rate'),
  warmup: ruleOf(S.warmup, 'the warm-up steps'),
  seed: ruleOf(S.seed, 'the seed'),
  evalEvery: ruleOf(S.evalEvery, 'the interval'),
} satisfies Record<string, NumberRule>

export const MLP_KINDS: { id: MlpKind; label: string; text: string }[] = [
  { id: 'dense', label: 'Dense', text: 'GPT-2’s own MLP: d → 4d (GELU) → d.' },
  { id: 'cpmoe', label: 'CPμMoE', text: 'Experts’ weights as a CP (rank-R) decomposition: U₁, U₂, U₃.' },
  { id: 'trmoe', label: 'TRμMoE', text: 'Experts’ weights as a tensor ring with ranks (4, 4, r₃).' },
]

/** A blank optional field: no value, nothing wrong (the back end's default applies). */
const BLANK = { value: null, error: null } as const

export const usePretrainStore = defineStore('pretrain', () => {
  const backend = useBackendStore()

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
    layers: parseNumber(layers.value, RULES.layers),
    dModel: parseNumber(dModel.value, RULES.dModel),
    heads: parseNumber(heads.value, RULES.heads),
    ctx: parseNumber(ctx.value, RULES.ctx),
    vocabSize: parseNumber(vocabSize.value, RULES.vocabSize),
    experts: parseNumber(experts.value, RULES.experts),
    rank: parseOptional(rank.value, RULES.rank) ?? BLANK,
    tokens: parseNumber(tokens.value, RULES.tokens),
    batch: parseNumber(batch.value, RULES.batch),
    lr: parseNumber(lr.value, RULES.lr),
    warmup: parseOptional(warmup.value, RULES.warmup) ?? BLANK,
    seed: parseNumber(seed.value, RULES.seed),
    evalEvery: parseOptional(evalEvery.value, RULES.evalEvery) ?? BLANK,
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
    e.outName = name === '' ? 'Enter a folder name.' : !OUT_NAME_PATTERN.test(name) ? 'Use letters, digits, “.”, “_” and “-”, starting with a letter or digit; no slashes.' : preview.value?.outExists && preview.value.out?.endsWith(name) ? `A folder named “${name}” already holds files; choose another name.` : null
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
  const stepErrors = (id: StepId): string[] => STEP_FIELDS[id].flatMap((k) => errors.value[k] ?? [])
  const wizard = createWizard(
    () => STEPS.map((s) => ({ ...s, errors: stepErrors(s.id) })),
    () => previewRequest.now(),
  )
  function stepValid(id: StepId): boolean {
    return stepErrors(id).length === 0
  }
  /** A field's message once its step was submitted (Next, or the start). */
  function shown(field: string): string | null {
    const owner = STEPS.findIndex((s) => STEP_FIELDS[s.id].includes(field))
    return owner >= 0 && wizard.attempted.value.has(owner) ? (errors.value[field] ?? null) : null
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
    if (OUT_NAME_PATTERN.test(name)) input.outName = name
    return input
  })

  /** The shown preview is of an earlier configuration: some size or MLP field is not valid now. */
  const previewStale = computed(() => previewInput.value === null)
  /** The preview, unless it describes an earlier configuration. */
  const previewShown = computed(() => (previewStale.value ? null : preview.value))
  const mlpLabel = computed(() => MLP_KINDS.find((k) => k.id === mlp.value)!.label)

  const previewRequest = debouncedRequest({
    delayMs: 150,
    input: () => previewInput.value,
    request: (input) => backend.call('pretrain.preview', input),
    onAnswer: (p) => {
      preview.value = p
      previewError.value = null
    },
    onError: (err) => (previewError.value = errorMessage(err)),
  })
  watch(
    () => JSON.stringify(previewInput.value),
    () => previewRequest.schedule(),
  )
  /** Asks at once (the page opening, a step moving on), not after the pause. */
  const refreshPreview = (): Promise<void> => previewRequest.now()

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
    await wizard.attemptAll()
    const c = config.value
    if (!c) {
      startError.value = 'Some settings need attention: the steps marked in the list above say which.'
      return null
    }
    starting.value = true
    try {
      const { runId } = await backend.call('pretrain.start', c)
      wizard.reset()
      return runId
    } catch (err) {
      startError.value = errorMessage(err)
      return null
    } finally {
      starting.value = false
    }
  }

  return {
    // Not reactive itself (its refs are read as such by WizardShell): pinia must not unwrap them.
    wizard: markRaw(wizard),
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
    previewShown,
    mlpLabel,
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
