// The conversion wizard's rules: the draft (kept while the user visits other pages), each field's
// reading and message with the bounds of ConvertConfig (the rules are lib/convert-draft.ts), the
// cross-field rules, the back end's preview of the configuration, the steps and their errors, and
// the start of one run or a sweep. ConvertView and components/convert/* only lay this out.
import { defineStore } from 'pinia'
import { computed, markRaw, ref, watch } from 'vue'
import { createWizard, type WizardStep } from '../components/wizard/wizard'
import { bundledCorpusPath, compact, KIND_LABEL, kindUsesHidden, kindWidthField, LAYER_KINDS, type LayerKind } from '../lib/convert-format'
import { debouncedRequest } from '../lib/debounced-request'
import { errorMessage } from '../lib/errors'
import {
  BUDGET_FIELDS,
  defaultDraft,
  OPTIONAL,
  RULES,
  STEP_FIELDS,
  STEPS,
  warningField,
  type ConvertDraft,
  type NumberFieldName,
} from '../lib/convert-draft'
import { parseNumber, parseNumberList, type Parsed } from '../lib/numbers'
import { useConvertStore, type ConvertInput, type ConvertPreview, type SpeedSource } from './convert'
import { useModelsStore } from './models'

export const useConvertWizardStore = defineStore('convert-wizard', () => {
  const api = useConvertStore()
  const models = useModelsStore()
  const draft = ref<ConvertDraft>(defaultDraft())

  // ---------------------------------------------------------------- model, layer, dataset
  const model = computed(() => (draft.value.modelId === null ? undefined : models.byId(draft.value.modelId)))
  const info = computed(() => model.value?.info ?? null)
  const description = computed(() => (draft.value.modelId === null ? null : (models.descriptions[draft.value.modelId] ?? null)))
  const layerRow = computed(() => description.value?.layers.find((l) => l.layer === draft.value.layer) ?? null)
  const layersError = ref<string | null>(null)
  const dataset = computed(() => api.datasets.find((d) => d.id === draft.value.datasetId) ?? null)
  const suggestedCorpus = computed(() => (model.value?.source === 'bundled' ? bundledCorpusPath(model.value.path) : null))

  watch(
    () => draft.value.modelId,
    async (id, old) => {
      if (id === null) return
      if (old !== undefined && old !== null && id !== old) {
        draft.value.layer = null
        // A new model: its own context bounds ctx.
        const ctxMax = models.byId(id)?.info?.contextLength
        if (ctxMax && Number(draft.value.ctx) > ctxMax) draft.value.ctx = String(ctxMax)
      }
      if (!models.descriptions[id]) {
        try {
          layersError.value = null
          await models.inspect(id)
        } catch (err) {
          layersError.value = errorMessage(err)
        }
      }
    },
  )

  const dataPath = ref('')
  const addingData = ref(false)
  const dataError = ref<string | null>(null)
  const dataAdded = ref<string | null>(null)
  async function addData(path: string): Promise<void> {
    const p = path.trim()
    dataError.value = null
    dataAdded.value = null
    if (!p) {
      dataError.value = 'Type the absolute path of a .txt, .jsonl or .parquet file, or of a folder of them.'
      return
    }
    addingData.value = true
    try {
      const d = await api.addDataset(p)
      draft.value.datasetId = d.id
      dataAdded.value = `Registered ${d.name}: ${d.documents.toLocaleString('en-US')} documents, ${d.heldOutDocuments.toLocaleString('en-US')} held out.`
      dataPath.value = ''
    } catch (err) {
      dataError.value = errorMessage(err)
    } finally {
      addingData.value = false
    }
  }

  // ---------------------------------------------------------------- fields
  function parsed(f: NumberFieldName): Parsed | null {
    const text = draft.value[f]
    if (OPTIONAL[f] && !text.trim()) return null
    // The schema allows 65,536; the chosen model's context is the real cap.
    const rule = f === 'ctx' && info.value ? { ...RULES.ctx, max: info.value.contextLength } : RULES[f]
    return parseNumber(text, rule)
  }
  const value = (f: NumberFieldName): number | undefined => parsed(f)?.value ?? undefined
  const sweepKs = computed(() => parseNumberList(draft.value.sweepKs, { ...RULES.k, label: 'K value' }))

  /** Whether any kind the draft would train has a dense hidden layer (H and its activation). */
  const usesHidden = computed(() => {
    const d = draft.value
    return d.sweep ? d.sweepKinds.some(kindUsesHidden) : kindUsesHidden(d.kind)
  })

  /** Client-side problems, by field. */
  const clientErrors = computed<Record<string, string>>(() => {
    const e: Record<string, string> = {}
    const d = draft.value
    const check = (f: NumberFieldName): void => {
      const p = parsed(f)
      if (p && !p.ok) e[f] = p.error
    }
    if (d.customWidth) check(kindWidthField(d.kind))
    if (d.sweep) {
      if (!sweepKs.value.ok) e.sweepKs = sweepKs.value.error
      if (d.sweepKinds.length === 0) e.sweepKinds = 'Pick at least one layer kind.'
    } else check('k')
    if (usesHidden.value) check('hidden')
    for (const f of BUDGET_FIELDS) check(f)
    const tokens = value('tokens')
    const batch = value('batch')
    if (tokens !== undefined && batch !== undefined && !e.tokens && tokens < batch)
      e.tokens = `Train on at least one batch: ${batch.toLocaleString('en-US')} tokens or more.`
    const ctx = value('ctx')
    const evalTokens = value('evalTokens')
    if (d.evaluate && ctx !== undefined && evalTokens !== undefined && !e.evalTokens && evalTokens < ctx)
      e.evalTokens = `Evaluate at least one sequence: ${ctx} tokens or more (the context length).`
    return e
  })

  // ---------------------------------------------------------------- the config and its preview
  /** The request as far as the fields are valid (invalid optional fields are left to their defaults). */
  function buildConfig(kind: LayerKind, k: number | undefined): ConvertInput | null {
    const d = draft.value
    if (!model.value || d.layer === null) return null
    const c: ConvertInput = { model: model.value.path, layer: d.layer, data: d.datasetId ?? '(not chosen yet)', kind, evaluate: d.evaluate }
    const set = (f: NumberFieldName): void => {
      const v = value(f)
      if (v !== undefined) (c as Record<string, unknown>)[f] = v
    }
    if (k !== undefined) c.k = k
    if (d.customWidth && kind === d.kind) set(kindWidthField(kind))
    if (kindUsesHidden(kind)) {
      set('hidden')
      if (d.act) c.act = d.act
    }
    for (const f of BUDGET_FIELDS) if (f !== 'evalTokens' || d.evaluate) set(f)
    return c
  }
  const singleConfig = computed(() => buildConfig(draft.value.kind, value('k')))
  /** Sweeps preview each kind at the largest K (the one that can exceed the width). */
  const previewConfigs = computed<ConvertInput[]>(() => {
    const d = draft.value
    if (!d.sweep) return singleConfig.value ? [singleConfig.value] : []
    const kMax = sweepKs.value.ok ? Math.max(...sweepKs.value.value) : undefined
    return d.sweepKinds.flatMap((kind) => buildConfig(kind, kMax) ?? [])
  })

  const previews = ref<ConvertPreview[]>([])
  const previewError = ref<string | null>(null)
  const previewing = ref(false)
  const preview = computed(() => previews.value[0] ?? null)
  const previewRequest = debouncedRequest({
    delayMs: 200,
    input: () => (previewConfigs.value.length > 0 ? previewConfigs.value : null),
    request: (configs) => Promise.all(configs.map((c) => api.preview(c))),
    onAnswer: (out) => {
      previews.value = out
      previewError.value = null
    },
    onError: (err) => {
      previews.value = []
      previewError.value = errorMessage(err)
    },
    onEmpty: () => {
      previews.value = []
      previewError.value = null
    },
    onBusy: (busy) => (previewing.value = busy),
  })
  watch(
    () => JSON.stringify(previewConfigs.value),
    () => previewRequest.schedule(),
    { immediate: true },
  )
  /** Validation waits for the preview of the values as typed, so a stale warning never blocks. */
  const settlePreview = (): Promise<void> => previewRequest.flush()

  /** The preview's warnings, put on the field they are about. */
  const previewWarnings = computed(() => {
    const out: Record<string, string[]> = {}
    for (const p of previews.value)
      for (const w of p.warnings) {
        let f = warningField(w)
        if (f === 'k' && draft.value.sweep) f = 'sweepKs'
        const list = (out[f] ??= [])
        const text = `${w.charAt(0).toUpperCase()}${w.slice(1)}.`
        if (!list.includes(text)) list.push(text)
      }
    return out
  })

  // ---------------------------------------------------------------- steps
  function stepErrors(i: number): string[] {
    const d = draft.value
    switch (i) {
      case 0:
        if (d.modelId === null) return ['Pick a model.']
        if (!info.value) return [`This model cannot be read: ${model.value?.error ?? 'unknown error'}.`]
        return []
      case 1:
        if (d.layer === null) return ['Pick the layer to convert.']
        return previewWarnings.value.layer ?? []
      case 2:
        return d.datasetId === null ? ['Pick a dataset, or add one.'] : []
      case 3:
      case 4: {
        const errs = STEP_FIELDS[i]!.flatMap((f) => (clientErrors.value[f] ? [clientErrors.value[f]!] : (previewWarnings.value[f] ?? [])))
        if (i === 3 && previewError.value) errs.push(previewError.value)
        return errs
      }
      default:
        return []
    }
  }
  const sweepCount = computed(() => (sweepKs.value.ok ? sweepKs.value.value.length : 0) * draft.value.sweepKinds.length)
  function stepSummary(i: number): string {
    const d = draft.value
    switch (i) {
      case 0:
        return model.value?.name ?? ''
      case 1:
        return d.layer === null ? '' : `block ${d.layer}`
      case 2:
        return dataset.value?.name ?? ''
      case 3:
        return d.sweep ? `sweep of ${sweepCount.value}` : preview.value ? `${KIND_LABEL[d.kind]}, K ${preview.value.k}` : ''
      case 4: {
        const t = value('tokens')
        return t !== undefined ? `${compact(t)} tokens` : ''
      }
      default:
        return ''
    }
  }
  const wizard = createWizard(
    (): WizardStep[] => STEPS.map((s, i) => ({ ...s, summary: stepSummary(i), errors: stepErrors(i) })),
    settlePreview,
  )

  /** Fields the user has left: their messages show (on a step not yet tried to leave, only those). */
  const touched = ref(new Set<string>())
  function fieldError(f: string): string | undefined {
    const e = clientErrors.value[f] ?? previewWarnings.value[f]?.join(' ')
    if (!e) return undefined
    const shown = touched.value.has(f) || wizard.attempted.value.has(wizard.step.value) || wizard.isReview.value
    return shown ? e : undefined
  }
  /**
   * A field's error shows once the user has left it, a moment later: showing it at once would move
   * the buttons below while a click on them is under way (the click would land elsewhere).
   */
  function touch(f: string): void {
    setTimeout(() => (touched.value = new Set(touched.value).add(f)), 250)
  }

  function setKind(k: LayerKind): void {
    draft.value.kind = k
    draft.value.customWidth = false
  }
  function toggleSweepKind(k: LayerKind, on: boolean): void {
    const set = new Set(draft.value.sweepKinds)
    if (on) set.add(k)
    else set.delete(k)
    draft.value.sweepKinds = LAYER_KINDS.filter((x) => set.has(x))
  }

  // ---------------------------------------------------------------- measured speed
  const speed = ref<SpeedSource | null>(null)
  watch(
    () => model.value?.path,
    async (p) => {
      speed.value = null
      if (!p) return
      try {
        speed.value = await api.measuredSpeed(p)
      } catch {
        speed.value = null
      }
    },
    { immediate: true },
  )

  // ---------------------------------------------------------------- start
  const starting = ref(false)
  const startError = ref<string | null>(null)
  const sweepResult = ref<number[] | null>(null)
  /** Starts the run (its id) or queues the sweep (null; sweepResult has the ids). */
  async function start(): Promise<number | null> {
    startError.value = null
    sweepResult.value = null
    const bad = await wizard.attemptAll()
    if (bad !== null) {
      startError.value = `Not started: Step ${bad + 1} (${STEPS[bad]!.title}) needs attention: ${stepErrors(bad)[0]}`
      return null
    }
    const d = draft.value
    const base = buildConfig(d.kind, value('k'))
    if (!base || d.datasetId === null) return null
    starting.value = true
    try {
      if (d.sweep && sweepKs.value.ok) {
        const { k: _k, ...shared } = base
        sweepResult.value = await api.sweep({ ...shared, kind: d.sweepKinds[0]! }, sweepKs.value.value, d.sweepKinds)
        return null
      }
      return await api.start(base)
    } catch (err) {
      startError.value = `Not started: ${errorMessage(err)}`
      return null
    } finally {
      starting.value = false
    }
  }

  /** Coming to the page: the draft stays, the walk through the steps starts again. */
  function enter(): void {
    wizard.reset()
    touched.value = new Set()
    startError.value = null
    sweepResult.value = null
    void api.refreshDatasets()
  }
  /** A link with ?model= (and &layer=) fills those steps in and goes past them. */
  async function prefill(qModel: number, qLayer: number): Promise<void> {
    if (!models.loaded) await models.refresh()
    let jump = -1
    if (Number.isInteger(qModel) && models.byId(qModel)) {
      draft.value.modelId = qModel
      jump = 1
      if (!models.descriptions[qModel]) await models.inspect(qModel).catch(() => undefined)
      if (Number.isInteger(qLayer) && models.descriptions[qModel]?.layers.some((l) => l.layer === qLayer)) {
        draft.value.layer = qLayer
        jump = 2
      }
    } else if (draft.value.modelId === null && models.models.length === 1 && models.models[0]!.info) {
      draft.value.modelId = models.models[0]!.id
    }
    if (jump >= 0) wizard.jump(jump)
  }

  return {
    draft,
    usesHidden,
    model,
    info,
    description,
    layerRow,
    layersError,
    dataset,
    suggestedCorpus,
    dataPath,
    addingData,
    dataError,
    dataAdded,
    addData,
    parsed,
    value,
    sweepKs,
    sweepCount,
    clientErrors,
    singleConfig,
    previews,
    preview,
    previewError,
    previewing,
    previewWarnings,
    // Not reactive itself (its refs are read as such by WizardShell): pinia must not unwrap them.
    wizard: markRaw(wizard),
    fieldError,
    touch,
    setKind,
    toggleSweepKind,
    speed,
    starting,
    startError,
    sweepResult,
    start,
    enter,
    prefill,
  }
})
