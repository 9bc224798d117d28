// The Playground's form: what is typed (kept here, so leaving the page and coming back keeps it,
// generated or not), the rules each field follows, and the prompt that suits a model. The
// generation itself lives in the models store.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { GenerateRequest, Steer, type ModelEntry, type SplicableLayer } from '../../../shared/models'
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
  const steerUnitText = ref('')
  const steerValueText = ref('100')

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
  const steerUnit = computed<Parsed | null>(() =>
    !spliced.value || steerUnitText.value.trim() === ''
      ? null
      : parseNumber(steerUnitText.value, { ...RULE.steerUnit, label: `the ${unitName.value}`, max: spliced.value.width - 1 }),
  )
  const steerValue = computed(() => parseNumber(steerValueText.value, RULE.steerValue))
  /** The steer counts only when a unit is given; its value is read only then. */
  const steerValid = computed(() => !steerUnit.value || (!steerUnit.value.error && !steerValue.value.error))

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
    steerUnitText,
    steerValueText,
    promptError,
    layers,
    layersError,
    spliced,
    unitName,
    steerUnit,
    steerValue,
    steerValid,
    loadLayers,
    suggestPrompt,
    setPrompt,
    fieldRules,
  }
})
