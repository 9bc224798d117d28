// The Features wizard: model → layer run → dataset → token budget → start a feature index; then
// that index's progress (the live run list and job.progress events of the backend store), its
// cancel, and the indexes already made. FeaturesView and components/features/*Step only lay it out.
import { defineStore } from 'pinia'
import { computed, markRaw, ref, watch } from 'vue'
import type { Input, Run, RunSummary } from '../../../shared/api'
import { FEATURE_LIMITS } from '../../../shared/features'
import { createWizard, type WizardStep } from '../components/wizard/wizard'
import { compact } from '../lib/convert-format'
import { layerRunLabel } from '../lib/features-format'
import { useAction } from '../lib/action'
import { parseNumber } from '../lib/numbers'
import { useBackendStore } from './backend'
import { useConvertStore } from './convert'
import { useModelsStore } from './models'
import { useRunsStore } from './runs'

/** Where the indexed text comes from: the layer's own training data (the default), a registered dataset, or a path. */
export type DataSource = 'layer' | 'dataset' | 'path'

const TOKENS_RULE = { label: 'the number of tokens', integer: true, min: 1, max: FEATURE_LIMITS.maxTokens }

export const useFeaturesWizardStore = defineStore('features-wizard', () => {
  const backend = useBackendStore()
  const runs = useRunsStore()
  const models = useModelsStore()
  const datasets = useConvertStore()

  const modelId = ref<number | null>(null)
  const layerRunId = ref<number | null>(null)
  const source = ref<DataSource>('layer')
  const datasetId = ref<number | null>(null)
  const dataPath = ref('')
  const tokensText = ref(String(FEATURE_LIMITS.defaultTokens))

  /** Finished layer runs (conversions and imported layers) of the chosen model, newest first. */
  const layerRuns = computed<{ run: Run; summary: RunSummary }[]>(() => {
    if (modelId.value === null) return []
    return Object.values(runs.layerRunsOf(modelId.value))
      .flat()
      .filter((r) => r.run.status === 'succeeded')
      .sort((a, b) => b.run.id - a.run.id)
  })
  /** How many finished layer runs each model has (the model step shows it). */
  const layerCount = (id: number): number =>
    Object.values(runs.layerRunsOf(id))
      .flat()
      .filter((r) => r.run.status === 'succeeded').length
  const layer = computed(() => layerRuns.value.find((r) => r.run.id === layerRunId.value) ?? null)
  watch(modelId, (id, old) => {
    if (old !== null && id !== old) layerRunId.value = null
  })

  const tokens = computed(() => parseNumber(tokensText.value, TOKENS_RULE))
  const dataset = computed(() => datasets.datasets.find((d) => d.id === datasetId.value) ?? null)

  const steps = (): WizardStep[] => {
    const model = modelId.value === null ? undefined : models.byId(modelId.value)
    const dataErrors =
      source.value === 'dataset' && datasetId.value === null
        ? ['Pick a registered dataset, or index the layer’s own training data.']
        : source.value === 'path' && !dataPath.value.trim()
          ? ['Type the absolute path of a .txt, .jsonl or .parquet file (or a folder of them).']
          : []
    return [
      { id: 'model', title: 'Model', summary: model?.name, errors: model ? [] : ['Pick the model whose layer you want to browse.'] },
      {
        id: 'layer',
        title: 'Layer',
        summary: layer.value ? `run ${layer.value.run.id} · ${layerRunLabel(layer.value.summary)}` : undefined,
        errors: layer.value ? [] : ['Pick a converted or imported layer of this model.'],
      },
      {
        id: 'data',
        title: 'Dataset',
        summary: source.value === 'layer' ? 'the layer’s training data' : source.value === 'dataset' ? dataset.value?.name : dataPath.value.trim() || undefined,
        errors: dataErrors,
      },
      { id: 'budget', title: 'Tokens', summary: tokens.value.ok ? `${compact(tokens.value.value)} tokens` : undefined, errors: tokens.value.ok ? [] : [tokens.value.error] },
      { id: 'review', title: 'Review', heading: 'Review and start', errors: [] },
    ]
  }
  const wizard = createWizard(steps)

  /** The request the draft describes (null while a step is invalid). */
  const request = computed<Input<'features.start'> | null>(() => {
    if (layerRunId.value === null || !tokens.value.ok) return null
    const r: Input<'features.start'> = { layerRunId: layerRunId.value, tokens: tokens.value.value }
    if (source.value === 'dataset' && datasetId.value !== null) r.data = datasetId.value
    if (source.value === 'path' && dataPath.value.trim()) r.data = dataPath.value.trim()
    return r
  })

  const starter = useAction()
  /** The index started from this page, followed until it ends. */
  const startedId = ref<number | null>(null)
  async function start(): Promise<void> {
    if ((await wizard.attemptAll()) !== null || !request.value) return
    const req = request.value
    const out = await starter.run(() => backend.call('features.start', req))
    if (out) {
      startedId.value = out.runId
      void backend.refreshRuns()
    }
  }
  const started = computed(() => (startedId.value === null ? null : (backend.runs.find((r) => r.id === startedId.value) ?? null)))
  const progress = computed(() => (startedId.value === null ? null : (backend.progress[startedId.value] ?? null)))
  const canceller = useAction()
  async function cancel(): Promise<void> {
    if (startedId.value !== null) {
      const id = startedId.value
      await canceller.run(() => backend.cancel(id))
    }
  }

  /** Every feature index, newest first, with the layer it indexes. */
  const indexes = computed(() =>
    backend.runs
      .filter((r) => r.kind === 'feature-index')
      .map((run) => {
        const layerId = typeof run.config.layerRunId === 'number' ? run.config.layerRunId : null
        return { run, layerRunId: layerId, layer: layerId === null ? undefined : runs.summaries[layerId] }
      }),
  )

  /** On entering the page: fresh lists, the wizard at its first step (a started index stays shown). */
  function enter(): void {
    wizard.reset()
    starter.error.value = null
    void datasets.refreshDatasets()
    // Listing the models registers the bundled ones: the summaries (which name each layer run's
    // model by its registered id) are asked for after it.
    void (models.loaded ? Promise.resolve() : models.refresh()).then(() => runs.refreshSummaries())
  }
  /** A new index from scratch (after one was started here). */
  function again(): void {
    startedId.value = null
    wizard.reset()
  }

  return {
    modelId,
    layerRunId,
    source,
    datasetId,
    dataPath,
    tokensText,
    tokens,
    layerRuns,
    layerCount,
    layer,
    dataset,
    wizard: markRaw(wizard),
    request,
    start,
    starting: starter.busy,
    startError: starter.error,
    startedId,
    started,
    progress,
    cancel,
    cancelError: canceller.error,
    indexes,
    enter,
    again,
  }
})
