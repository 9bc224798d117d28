// The Playground's form: what is typed (kept here, so leaving the page and coming back keeps it,
// generated or not), the rules each field follows, the prompt that suits a model, the steering
// rows and the agreed link /playground?layer=RUN&steer=UNIT:VALUE,…. The generation itself lives
// in the models store; side-by-side steering in the steering store.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { GenerateRequest, Steer, type ModelEntry, type SplicableLayer } from '../../../shared/models'
import { STEERING_LIMITS } from '../../../shared/steering'
import type { GenerationSettings } from './models'
import { useBackendStore } from './backend'
import { errorMessage } from '../lib/errors'
import { parseNumber, ruleOf, type Parsed } from '../lib/numbers'
import { layerKinds } from '../../../shared/layer-kinds/index'

// The fields' bounds are GenerateRequest's; a model's context narrows max tokens, a layer's width
// the steered unit, and asking for 0 predictions would leave the panel empty.
const RULE = {
  maxTokens: ruleOf(GenerateRequest.shape.maxTokens, 'max tokens'),
  temperature: ruleOf(GenerateRequest.shape.temperature, 'the temperature'),
  topK: ruleOf(GenerateRequest.shape.topK, 'top-k'),
  topP: ruleOf(GenerateRequest.shape.topP, 'top-p'),
  penalty: ruleOf(GenerateRequest.shape.frequencyPenalty, 'the frequency penalty'),
  seed: ruleOf(GenerateRequest.shape.seed, 'the seed'),
  topPredictions: ruleOf(GenerateRequest.shape.topPredictions, 'the number of predictions', { min: 1 }),
  steerUnit: ruleOf(Steer.shape.unit, 'the unit'),
  steerValue: ruleOf(Steer.shape.value, 'the steering value'),
}
const NOT_ASKED: Parsed = { ok: true, value: 0, error: null }
/** The API's cap on steered units at once (GenerateSplice, SteeringSettings). */
export const MAX_STEERS = STEERING_LIMITS.maxSteers
/** The paper's steering value, taken when a link or a button names a unit alone. */
export const DEFAULT_STEER_VALUE = 100

export interface SteerRow {
  unitText: string
  valueText: string
}

/**
 * The link's `steer` parameter: `12:100,40:-50`, or `12` alone for +100. Null when it is not
 * that shape (the page then says so and fills nothing).
 */
export function parseSteerParam(text: string): { unit: number; value: number }[] | null {
  const out: { unit: number; value: number }[] = []
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?::\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?))?\s*$/i.exec(part)
    if (!m) return null
    out.push({ unit: Number(m[1]), value: m[2] === undefined ? DEFAULT_STEER_VALUE : Number(m[2]) })
  }
  return out.length > 0 && out.length <= MAX_STEERS ? out : null
}

/** The API's own cap on new tokens (GenerateRequest). */
export const MAX_TOKENS_CAP = RULE.maxTokens.max!

/**
 * New tokens a model can give at most: its context minus at least one prompt token (the back end
 * stops earlier when a longer prompt fills the context), never above the API's cap.
 */
export function maxTokensFor(model: ModelEntry | undefined): number {
  const ctx = model?.info?.contextLength
  return ctx ? Math.max(1, Math.min(MAX_TOKENS_CAP, ctx - 1)) : MAX_TOKENS_CAP
}

/** A prompt that suits the model: the bundled King James model starts a verse; others a sentence. */
export function defaultPrompt(model: ModelEntry | undefined): string {
  if (model && /kjv|king.?james|bible/i.test(`${model.name} ${model.path}`)) return 'In the beginning'
  return 'The meaning of life is'
}

export const usePlaygroundStore = defineStore('playground', () => {
  const modelId = ref<number | null>(null)
  const prompt = ref('')
  /** Whether the prompt was typed by the user (then a model change keeps it). */
  const promptEdited = ref(false)
  const maxTokensText = ref('64')
  const temperatureText = ref('0.8')
  const topKText = ref('40')
  const topPText = ref('0.95')
  const penaltyText = ref('0')
  const seedRandom = ref(true)
  const seedText = ref('')
  const topPredictionsText = ref('5')
  const spliceRun = ref<number | null>(null)
  // One empty row to start with: an empty unit means no steering.
  const steerRows = ref<SteerRow[]>([{ unitText: '', valueText: String(DEFAULT_STEER_VALUE) }])
  /** The message of a ?steer= link that could not be read. */
  const linkError = ref<string | null>(null)

  /** Called when the model changes: an untouched prompt follows the model. */
  function suggestPrompt(model: ModelEntry | undefined): void {
    if (!promptEdited.value || prompt.value === '') {
      prompt.value = defaultPrompt(model)
      promptEdited.value = false
    }
  }
  function setPrompt(text: string): void {
    prompt.value = text
    promptEdited.value = true
  }

  const fieldRules = (model: ModelEntry | undefined) => ({
    maxTokens: parseNumber(maxTokensText.value, { ...RULE.maxTokens, max: maxTokensFor(model) }),
    temperature: parseNumber(temperatureText.value, RULE.temperature),
    topK: parseNumber(topKText.value, RULE.topK),
    topP: parseNumber(topPText.value, RULE.topP),
    penalty: parseNumber(penaltyText.value, RULE.penalty),
    seed: seedRandom.value ? NOT_ASKED : parseNumber(seedText.value, RULE.seed),
    topPredictions: parseNumber(topPredictionsText.value, RULE.topPredictions),
  })
  const promptError = computed(() => (prompt.value.length === 0 ? 'Type a prompt first.' : null))

  // A converted layer of this model can replace its block's MLP; steering adds a constant to one
  // unit's post-TopK code at every position (+100 in the paper; docs/science/mxd.md#steering).
  const backend = useBackendStore()
  const layers = ref<SplicableLayer[]>([])
  const layersError = ref<string | null>(null)
  const spliced = computed(() => layers.value.find((l) => l.runId === spliceRun.value) ?? null)
  const unitName = computed(() => layerKinds().find((d) => d.id === spliced.value?.kind)?.unit.one ?? 'unit')
  /** Each row's unit and value as read; a row with an empty unit is not a steer. */
  const steerParsed = computed(() =>
    steerRows.value.map((r) => ({
      unit:
        !spliced.value || r.unitText.trim() === ''
          ? null
          : parseNumber(r.unitText, { ...RULE.steerUnit, label: `the ${unitName.value}`, max: spliced.value.width - 1 }),
      value: parseNumber(r.valueText, RULE.steerValue),
    })),
  )
  const steerValid = computed(() => steerParsed.value.every((r) => !r.unit || (!r.unit.error && !r.value.error)))
  /** The steers the rows give (only when they are all valid). */
  const steers = computed(() =>
    steerParsed.value.flatMap((r) => (r.unit?.ok && r.value.ok ? [{ unit: r.unit.value, value: r.value.value }] : [])),
  )

  function addSteer(unit: number | null = null, value = DEFAULT_STEER_VALUE): void {
    // A unit already in a row is not added twice; an empty row is filled first.
    if (unit !== null && steerRows.value.some((r) => r.unitText.trim() === String(unit))) return
    const empty = steerRows.value.find((r) => r.unitText.trim() === '')
    if (empty && unit !== null) Object.assign(empty, { unitText: String(unit), valueText: String(value) })
    else if (steerRows.value.length < MAX_STEERS) steerRows.value.push({ unitText: unit === null ? '' : String(unit), valueText: String(value) })
  }
  function removeSteer(i: number): void {
    steerRows.value.splice(i, 1)
  }
  function setSteers(list: readonly { unit: number; value: number }[]): void {
    steerRows.value = list.map((s) => ({ unitText: String(s.unit), valueText: String(s.value) }))
  }

  /** The link's ?steer=…: fills the rows, or says why it could not. */
  function followSteerLink(text: string): void {
    const list = parseSteerParam(text)
    if (list) setSteers(list)
    else linkError.value = `The link's steering “${text}” is not UNIT:VALUE,… (at most ${MAX_STEERS} units): enter the units below.`
  }

  /**
   * The link's ?layer=RUN without a model: the first model whose splicable layers include that
   * run, or null (said above the layer field) when none has it.
   */
  async function modelOfLayer(layerRunId: number, models: readonly ModelEntry[]): Promise<number | null> {
    for (const m of models) {
      try {
        const list = await backend.call('playground.listLayers', { modelId: m.id })
        if (list.some((l) => l.runId === layerRunId)) return m.id
      } catch {
        // A model that cannot list its layers (unreadable folder) is not the one.
      }
    }
    linkError.value = `No model here has run ${layerRunId}'s layer: add the model it was trained on (Models page), then open the link again.`
    return null
  }

  /** The generation the form asks for, or null while a field is wrong (the view shows why). */
  function settingsFor(model: ModelEntry | undefined): GenerationSettings | null {
    const r = fieldRules(model)
    if (!model || promptError.value || !steerValid.value || Object.values(r).some((p) => p.error)) return null
    const num = (p: Parsed): number => p.value ?? 0
    return {
      modelId: model.id,
      prompt: prompt.value,
      maxTokens: num(r.maxTokens),
      temperature: num(r.temperature),
      topK: num(r.topK),
      topP: num(r.topP),
      frequencyPenalty: num(r.penalty),
      ...(seedRandom.value ? {} : { seed: num(r.seed) }),
      topPredictions: num(r.topPredictions),
      ...(spliced.value ? { splice: { runId: spliced.value.runId, steer: steers.value } } : {}),
    }
  }

  /** Loads the model's splicable layers; `wanted` (a ?layer=RUN link) is picked when it is one of them. */
  async function loadLayers(modelId: number, wanted: number | null): Promise<void> {
    layers.value = []
    layersError.value = null
    try {
      layers.value = await backend.call('playground.listLayers', { modelId })
    } catch (e) {
      layersError.value = errorMessage(e)
    }
    if (wanted !== null && layers.value.some((l) => l.runId === wanted)) spliceRun.value = wanted
    if (spliceRun.value !== null && !layers.value.some((l) => l.runId === spliceRun.value)) spliceRun.value = null
  }

  return {
    modelId,
    prompt,
    promptEdited,
    maxTokensText,
    temperatureText,
    topKText,
    topPText,
    penaltyText,
    seedRandom,
    seedText,
    topPredictionsText,
    spliceRun,
    steerRows,
    linkError,
    promptError,
    layers,
    layersError,
    spliced,
    unitName,
    steerParsed,
    steerValid,
    steers,
    addSteer,
    removeSteer,
    setSteers,
    followSteerLink,
    modelOfLayer,
    settingsFor,
    loadLayers,
    suggestPrompt,
    setPrompt,
    fieldRules,
  }
})
