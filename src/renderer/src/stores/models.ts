// The Models page and the Playground: the model list (add, remove, inspect) and the one live
// generation of this window, fed by `playground.event`. The generation lives here, not in the
// page, so leaving the Playground and coming back keeps what was generated.
import { defineStore } from 'pinia'
import { computed, ref, shallowRef, watch } from 'vue'
import type { ModelDescription, ModelEntry, PlaygroundEvent } from '../../../shared/models'
import {
  promptTokenTexts,
  type GeneratedToken,
  type Prediction,
  type PromptToken,
  type SeqToken,
  type StopReason,
} from '../lib/model-format'
import { useBackendStore } from './backend'
import { errorMessage } from '../lib/errors'

// The sequence's token types live with their formatting (lib/model-format.ts); re-exported for
// the components that take them from the store.
export type { GeneratedToken, Prediction, PromptToken, SeqToken }

export type GenerationStatus = 'idle' | 'starting' | 'running' | 'done' | 'error'

export interface GenerationSettings {
  modelId: number
  prompt: string
  maxTokens: number
  temperature: number
  topK: number
  topP: number
  frequencyPenalty: number
  seed?: number
  topPredictions: number
  /** A converted layer in place of its block's MLP, with its steers (none: the model as it is). */
  splice?: { runId: number; steer: { unit: number; value: number }[] }
}

export const useModelsStore = defineStore('models', () => {
  const backend = useBackendStore()

  // ------------------------------------------------------------------ models
  const models = ref<ModelEntry[]>([])
  const loaded = ref(false)
  const listError = ref<string | null>(null)
  const descriptions = ref<Record<number, ModelDescription>>({})

  async function refresh(): Promise<void> {
    try {
      models.value = await backend.call('models.list', {})
      listError.value = null
    } catch (err) {
      listError.value = errorMessage(err)
    } finally {
      loaded.value = true
    }
  }

  /** Registers a folder; throws the back end's message when it is refused. */
  async function add(path: string): Promise<ModelEntry> {
    const entry = await backend.call('models.add', { path })
    const i = models.value.findIndex((m) => m.id === entry.id)
    if (i >= 0) models.value.splice(i, 1, entry)
    else models.value.push(entry)
    return entry
  }

  async function remove(id: number): Promise<void> {
    await backend.call('models.remove', { id })
    models.value = models.value.filter((m) => m.id !== id)
    const { [id]: _dropped, ...rest } = descriptions.value
    descriptions.value = rest
  }

  async function inspect(id: number): Promise<ModelDescription> {
    const d = await backend.call('models.inspect', { id })
    descriptions.value = { ...descriptions.value, [id]: d }
    return d
  }

  function byId(id: number): ModelEntry | undefined {
    return models.value.find((m) => m.id === id)
  }

  // -------------------------------------------------------------- generation
  const status = ref<GenerationStatus>('idle')
  const generationId = ref<string | null>(null)
  const settings = ref<GenerationSettings | null>(null)
  const promptTokens = ref<PromptToken[]>([])
  // Tokens are committed once per animation frame, not one by one: a small model writes hundreds
  // of tokens a second, and re-rendering (and re-laying-out) a stream of thousands of spans per
  // token fell so far behind that a click on Stop was seen only after the generation had ended.
  // shallowRef + frozen tokens: nothing in a token ever changes, so Vue need not watch inside it.
  const generated = shallowRef<readonly GeneratedToken[]>([])
  let pendingTokens: GeneratedToken[] = []
  let pendingLastAt: number | null = null
  let frame: number | null = null
  const stopReason = ref<StopReason | null>(null)
  const seedUsed = ref<number | null>(null)
  const error = ref<string | null>(null)
  const startedAt = ref<number | null>(null)
  const promptAt = ref<number | null>(null)
  const lastTokenAt = ref<number | null>(null)
  const finishedAt = ref<number | null>(null)
  const stopping = ref(false)
  /** Events that came in before `playground.generate` answered with their id. */
  let early: PlaygroundEvent[] = []

  const sequence = computed<SeqToken[]>(() => [...promptTokens.value, ...generated.value])
  const running = computed(() => status.value === 'starting' || status.value === 'running')
  /** Generated tokens per second, from the first forward (prompt read) to the newest token. */
  const tokensPerSecond = computed<number | null>(() => {
    const n = generated.value.length
    const t0 = promptAt.value ?? startedAt.value
    const t1 = lastTokenAt.value
    if (!n || t0 === null || t1 === null || t1 <= t0) return null
    return (n / (t1 - t0)) * 1000
  })

  function apply(e: PlaygroundEvent): void {
    if (e.type === 'prompt') {
      const texts = promptTokenTexts(e.tokens)
      promptTokens.value = e.ids.map((id, pos) => ({ kind: 'prompt', pos, id, text: texts[pos] ?? '' }))
      promptAt.value = performance.now()
      if (status.value === 'starting') status.value = 'running'
    } else if (e.type === 'token') {
      const pos = promptTokens.value.length + e.index
      pendingTokens.push(
        Object.freeze<GeneratedToken>({ kind: 'generated', pos, index: e.index, id: e.id, text: e.text ?? '', top: e.top }),
      )
      pendingLastAt = performance.now()
      if (frame === null) frame = requestAnimationFrame(commitTokens)
      if (status.value === 'starting') status.value = 'running'
    } else if (e.type === 'done') {
      commitTokens()
      stopReason.value = e.stopReason
      seedUsed.value = e.seed
      status.value = 'done'
      finishedAt.value = performance.now()
      stopping.value = false
    } else {
      commitTokens()
      error.value = e.message
      status.value = 'error'
      finishedAt.value = performance.now()
      stopping.value = false
    }
  }

  /** Moves the tokens that came in since the last frame into `generated`, in one update. */
  function commitTokens(): void {
    if (frame !== null) cancelAnimationFrame(frame)
    frame = null
    if (!pendingTokens.length) return
    generated.value = generated.value.concat(pendingTokens)
    lastTokenAt.value = pendingLastAt
    pendingTokens = []
  }

  function dropPendingTokens(): void {
    if (frame !== null) cancelAnimationFrame(frame)
    frame = null
    pendingTokens = []
    pendingLastAt = null
  }

  function onEvent(e: PlaygroundEvent): void {
    if (generationId.value === null) {
      if (status.value === 'starting') early.push(e)
      return
    }
    if (e.generationId === generationId.value) apply(e)
  }

  let unsubscribe: (() => void) | null = null
  watch(
    () => backend.client,
    (client) => {
      unsubscribe?.()
      unsubscribe = client
        ? client.subscribe((e) => {
            if (e.event === 'playground.event') onEvent(e.data)
          })
        : null
    },
    { immediate: true },
  )

  /** Forgets the last generation's output: tokens, outcome and error. */
  function resetOutput(next: GenerationStatus): void {
    status.value = next
    generationId.value = null
    promptTokens.value = []
    dropPendingTokens()
    generated.value = []
    stopReason.value = null
    seedUsed.value = null
    error.value = null
  }

  async function generate(s: GenerationSettings): Promise<void> {
    if (running.value) return
    settings.value = { ...s }
    resetOutput('starting')
    stopping.value = false
    startedAt.value = performance.now()
    promptAt.value = null
    lastTokenAt.value = null
    finishedAt.value = null
    early = []
    try {
      const { generationId: id } = await backend.call('playground.generate', {
        modelId: s.modelId,
        prompt: s.prompt,
        maxTokens: s.maxTokens,
        temperature: s.temperature,
        topK: s.topK,
        topP: s.topP,
        frequencyPenalty: s.frequencyPenalty,
        topPredictions: s.topPredictions,
        ...(s.seed === undefined ? {} : { seed: s.seed }),
        ...(s.splice ? { splice: s.splice } : {}),
      })
      generationId.value = id
      const pending = early.filter((e) => e.generationId === id)
      early = []
      for (const e of pending) apply(e)
    } catch (err) {
      error.value = errorMessage(err)
      status.value = 'error'
    }
  }

  async function stop(): Promise<void> {
    const id = generationId.value
    if (!id || !running.value) return
    stopping.value = true
    try {
      await backend.call('playground.stop', { generationId: id })
    } catch (err) {
      error.value = `Could not stop: ${errorMessage(err)}`
      stopping.value = false
    }
  }

  function clear(): void {
    if (running.value) return
    resetOutput('idle')
  }

  return {
    models,
    loaded,
    listError,
    descriptions,
    refresh,
    add,
    remove,
    inspect,
    byId,
    status,
    generationId,
    settings,
    promptTokens,
    generated,
    sequence,
    running,
    stopping,
    stopReason,
    seedUsed,
    error,
    startedAt,
    finishedAt,
    tokensPerSecond,
    generate,
    stop,
    clear,
  }
})
