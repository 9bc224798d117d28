// Steering side by side (docs/steering.md): the Playground's form generated twice per seed, once
// with the layer spliced and no steering ("original") and once with the steering rows
// ("steered"), for N seeds s … s+N−1, so the two columns differ by the steering alone. The
// generations go one after another through playground.generate (the engine runs one at a time)
// and are read off `playground.event`. Also the presets: saved steering settings, the paper's
// built in; and the steering score of the rows' units (job kind steer-score), followed live.
import { defineStore } from 'pinia'
import { computed, ref, shallowRef, watch } from 'vue'
import type { PlaygroundEvent } from '../../../shared/models'
import { PAPER_PRESET, STEERING_LIMITS, SteeringSettings, type SteeringPreset, type SteerScoreResult } from '../../../shared/steering'
import { errorMessage } from '../lib/errors'
import { parseNumber, ruleOf } from '../lib/numbers'
import { useBackendStore } from './backend'
import type { StopReason } from '../lib/model-format'
import type { GenerationSettings } from './models'
import { DEFAULT_STEER_VALUE, usePlaygroundStore } from './playground'

const SAMPLES_RULE = ruleOf(SteeringSettings.shape.samples, 'the number of samples')

export interface SideText {
  /** The generated text (the prompt not included). */
  text: string
  ids: number[]
  stopReason: StopReason
}
export interface CompareSample {
  seed: number
  original: SideText | null
  steered: SideText | null
}
export type CompareStatus = 'idle' | 'running' | 'done' | 'stopped' | 'error'

type Finished = { ok: true; side: SideText } | { ok: false; message: string }

export const useSteeringStore = defineStore('steering', () => {
  const backend = useBackendStore()
  const pg = usePlaygroundStore()

  // -------------------------------------------------------------- side by side
  const samplesText = ref('3')
  const samples = computed(() => parseNumber(samplesText.value, SAMPLES_RULE))
  const status = ref<CompareStatus>('idle')
  const error = ref<string | null>(null)
  const results = shallowRef<CompareSample[]>([])
  /** What the shown comparison was generated with. */
  const used = ref<GenerationSettings | null>(null)
  const running = computed(() => status.value === 'running')
  const done = computed(() => results.value.reduce((n, r) => n + (r.original ? 1 : 0) + (r.steered ? 1 : 0), 0))
  const total = computed(() => 2 * results.value.length)

  // Events of this store's generations, by generation id: the ids the tokens carried and, once
  // it ends, the outcome. Kept only while a comparison runs.
  const tokenIds = new Map<string, number[]>()
  const finished = new Map<string, Finished>()
  const waiters = new Map<string, (f: Finished) => void>()
  let current: string | null = null
  let stopAsked = false

  function onEvent(e: PlaygroundEvent): void {
    if (!running.value) return
    const id = e.generationId
    let f: Finished | null = null
    if (e.type === 'token') {
      const list = tokenIds.get(id) ?? []
      list.push(e.id)
      tokenIds.set(id, list)
    } else if (e.type === 'done') f = { ok: true, side: { text: e.text ?? '', ids: tokenIds.get(id) ?? [], stopReason: e.stopReason } }
    else if (e.type === 'error') f = { ok: false, message: e.message }
    if (!f) return
    const waiter = waiters.get(id)
    if (waiter) waiter(f)
    else finished.set(id, f)
  }
  let unsubscribe: (() => void) | null = null
  watch(
    () => backend.client,
    (client) => {
      unsubscribe?.()
      unsubscribe = client ? client.subscribe((e) => (e.event === 'playground.event' ? onEvent(e.data) : undefined)) : null
    },
    { immediate: true },
  )

  /** One generation to its end (its events may come before its id does). */
  async function generateOne(s: GenerationSettings, seed: number, steer: { unit: number; value: number }[]): Promise<SideText> {
    const { generationId } = await backend.call('playground.generate', {
      modelId: s.modelId,
      prompt: s.prompt,
      maxTokens: s.maxTokens,
      temperature: s.temperature,
      topK: s.topK,
      topP: s.topP,
      frequencyPenalty: s.frequencyPenalty,
      topPredictions: 0,
      seed,
      splice: { runId: s.splice!.runId, steer },
    })
    current = generationId
    const f = finished.get(generationId) ?? (await new Promise<Finished>((resolve) => waiters.set(generationId, resolve)))
    finished.delete(generationId)
    waiters.delete(generationId)
    tokenIds.delete(generationId)
    current = null
    if (!f.ok) throw new Error(f.message)
    return f.side
  }

  /** Why a comparison cannot start now, or null. */
  function blocker(s: GenerationSettings | null): string | null {
    if (!s) return 'Fix the fields marked above first.'
    if (!s.splice) return 'Choose a sparse layer first: steering shifts its units.'
    if (s.splice.steer.length === 0) return 'Add at least one unit to steer.'
    if (samples.value.error) return samples.value.error
    return null
  }

  /** Generates the comparison of the form `s` (its seed, else a random one, is the first seed). */
  async function compare(s: GenerationSettings | null): Promise<void> {
    error.value = blocker(s)
    if (error.value || running.value || !s) return
    const n = samples.value.value!
    const first = s.seed ?? Math.floor(Math.random() * (2 ** 31 - STEERING_LIMITS.maxSamples))
    used.value = { ...s, seed: first }
    results.value = Array.from({ length: n }, (_, i) => ({ seed: first + i, original: null, steered: null }))
    status.value = 'running'
    stopAsked = false
    try {
      for (let i = 0; i < n && !stopAsked; i++) {
        const original = await generateOne(s, first + i, [])
        if (stopAsked) break
        const steered = await generateOne(s, first + i, s.splice!.steer)
        results.value = results.value.map((r, j) => (j === i ? { ...r, original, steered } : r))
      }
      status.value = stopAsked ? 'stopped' : 'done'
    } catch (err) {
      error.value = `Generation failed: ${errorMessage(err)}`
      status.value = 'error'
    } finally {
      finished.clear()
      tokenIds.clear()
    }
  }

  async function stop(): Promise<void> {
    stopAsked = true
    if (current) await backend.call('playground.stop', { generationId: current }).catch(() => undefined)
  }

  // -------------------------------------------------------------- presets
  const presets = ref<SteeringPreset[]>([PAPER_PRESET])
  /** The preset chosen in the presets bar; the steering score runs with it. */
  const presetId = ref(PAPER_PRESET.id)
  const presetsError = ref<string | null>(null)

  async function loadPresets(): Promise<void> {
    try {
      presets.value = await backend.call('steering.listPresets', {})
      presetsError.value = null
    } catch (err) {
      presetsError.value = `Could not read the presets: ${errorMessage(err)}`
    }
  }

  /** Fills the Playground's form with a preset (its units only when it names some). */
  function applyPreset(p: SteeringPreset): void {
    const s = p.settings
    pg.setPrompt(s.prompt)
    if (s.steer.length > 0) pg.setSteers(s.steer)
    else for (const r of pg.steerRows) r.valueText = String(s.value)
    pg.maxTokensText = String(s.maxTokens)
    pg.temperatureText = String(s.temperature)
    pg.topKText = '0'
    pg.topPText = String(s.topP)
    pg.penaltyText = String(s.frequencyPenalty)
    pg.seedRandom = false
    pg.seedText = String(s.seed)
    samplesText.value = String(s.samples)
  }

  /** Saves the form as preset `name` (same name: replaced); the back end's message when refused. */
  async function savePreset(name: string, s: GenerationSettings | null): Promise<SteeringPreset> {
    if (!s) throw new Error('Fix the fields marked above first.')
    if (samples.value.error) throw new Error(samples.value.error)
    const saved = await backend.call('steering.savePreset', {
      name,
      settings: {
        prompt: s.prompt,
        steer: s.splice?.steer ?? [],
        value: s.splice?.steer[0]?.value ?? DEFAULT_STEER_VALUE,
        maxTokens: s.maxTokens,
        samples: samples.value.value!,
        temperature: s.temperature,
        topP: s.topP,
        frequencyPenalty: s.frequencyPenalty,
        seed: s.seed ?? 0,
      },
    })
    await loadPresets()
    return saved
  }

  async function deletePreset(id: number): Promise<void> {
    await backend.call('steering.deletePreset', { id })
    await loadPresets()
  }

  // -------------------------------------------------------------- steering score
  const scoreRunId = ref<number | null>(null)
  const scoreResult = shallowRef<SteerScoreResult | null>(null)
  const scoreError = ref<string | null>(null)
  const scoreRun = computed(() => (scoreRunId.value === null ? null : (backend.runs.find((r) => r.id === scoreRunId.value) ?? null)))
  const scoreProgress = computed(() => (scoreRunId.value === null ? null : (backend.progress[scoreRunId.value] ?? null)))
  const scoring = computed(() => scoreRunId.value !== null && (!scoreRun.value || scoreRun.value.status === 'queued' || scoreRun.value.status === 'running'))

  /** Queues the score of `units` of layer run `layerRunId` with the chosen preset. */
  async function startScore(layerRunId: number, units: number[]): Promise<void> {
    scoreError.value = null
    scoreResult.value = null
    if (units.length === 0) {
      scoreError.value = 'Add at least one unit to score.'
      return
    }
    try {
      scoreRunId.value = (await backend.call('steering.score', { layerRunId, units, presetId: presetId.value })).runId
    } catch (err) {
      scoreError.value = errorMessage(err)
    }
  }
  watch(
    () => scoreRun.value?.status,
    async (st) => {
      const run = scoreRun.value
      if (!run) return
      if (st === 'succeeded') {
        try {
          scoreResult.value = await backend.call('steering.getScore', { runId: run.id })
        } catch (err) {
          scoreError.value = errorMessage(err)
        }
      } else if (st === 'failed' || st === 'interrupted') scoreError.value = `Steering score run ${run.id} ${st}: ${run.error ?? 'no reason given'}`
    },
  )
  async function cancelScore(): Promise<void> {
    if (scoreRunId.value !== null) await backend.cancel(scoreRunId.value).catch((err: unknown) => (scoreError.value = errorMessage(err)))
  }

  return {
    samplesText,
    samples,
    status,
    error,
    results,
    used,
    running,
    done,
    total,
    blocker,
    compare,
    stop,
    presets,
    presetId,
    presetsError,
    loadPresets,
    applyPreset,
    savePreset,
    deletePreset,
    scoreRunId,
    scoreResult,
    scoreError,
    scoreRun,
    scoreProgress,
    scoring,
    startScore,
    cancelScore,
  }
})
