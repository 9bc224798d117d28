// The sparsity–accuracy frontier of one model's block: every trained (or imported) sparse layer of
// that block with its held-out NMSE and CE spliced, kept fresh as layers finish and evaluations
// land, and what the Frontier page draws from it (series per layer kind, the table's rows, the CE
// references).
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { Input, Output } from '../../../shared/api'
import type { ChartPoint, ChartReference, ChartSeries } from '../components/LineChart.vue'
import { KIND_COLOR, KIND_LABEL, type LayerKind } from '../lib/convert-format'
import { errorMessage } from '../lib/errors'
import { useBackendStore } from './backend'
import { useConvertStore } from './convert'

export type Frontier = Output<'convert.getFrontier'>
export type FrontierRequest = Input<'convert.getFrontier'>
export type FrontierAxis = 'k' | 'l0'
export type FrontierRow = Frontier['series'][number]['points'][number] & { kind: LayerKind }

/** A finished evaluation or a new layer run changes the frontier: reload at most this often. */
const RELOAD_MS = 1500
const LAYER_RUN_KINDS = new Set(['convert-eval', 'convert', 'layer-import'])

/**
 * The page's query: ?model= is a registered model's id or a model folder's path, ?layer= a block.
 * The request is null until both are there.
 */
export function frontierQuery(query: Record<string, unknown>): {
  model: string
  modelId: number | null
  layer: number | null
  request: FrontierRequest | null
} {
  const model = typeof query.model === 'string' ? query.model : ''
  const layer = typeof query.layer === 'string' && /^\d+$/.test(query.layer) ? Number(query.layer) : null
  const modelId = /^\d+$/.test(model) ? Number(model) : null
  const request = !model || layer === null ? null : modelId !== null ? { modelId, layer } : { modelPath: model, layer }
  return { model, modelId, layer, request }
}

/** One chart series per layer kind: x is K or the measured L0, y the metric; points carry their run. */
export function frontierSeries(f: Frontier | null, axis: FrontierAxis, y: 'nmse' | 'ce_spliced'): ChartSeries[] {
  return (f?.series ?? []).map((s) => ({
    name: KIND_LABEL[s.kind as LayerKind],
    color: KIND_COLOR[s.kind as LayerKind],
    points: s.points.flatMap((p): ChartPoint[] => {
      const x = axis === 'k' ? p.k : p.l0
      const v = p[y]
      return x !== null && v !== null ? [{ x, y: v, id: p.runId }] : []
    }),
  }))
}

/** On the K axis, a tick at each K that occurs (undefined: the chart picks its own). */
export function frontierTicks(f: Frontier | null, axis: FrontierAxis): number[] | undefined {
  if (axis !== 'k') return undefined
  const ks = [...new Set((f?.series ?? []).flatMap((s) => s.points.map((p) => p.k)))].sort((a, b) => a - b)
  return ks.length ? ks : undefined
}

export const useFrontierStore = defineStore('frontier', () => {
  const backend = useBackendStore()
  const convert = useConvertStore()

  const request = ref<FrontierRequest | null>(null)
  const frontier = ref<Frontier | null>(null)
  const loading = ref(false)
  const error = ref<string | null>(null)
  /** The run whose evaluation is being queued, and why that failed. */
  const evaluating = ref<number | null>(null)
  const evalError = ref<string | null>(null)

  async function load(): Promise<void> {
    const req = request.value
    if (!req) {
      frontier.value = null
      return
    }
    loading.value = true
    try {
      const f = await backend.call('convert.getFrontier', req)
      if (req === request.value) {
        frontier.value = f
        error.value = null
      }
    } catch (err) {
      error.value = errorMessage(err)
    } finally {
      loading.value = false
    }
  }

  /** Shows the frontier of `req` (null: none chosen yet). */
  function show(req: FrontierRequest | null): Promise<void> {
    request.value = req
    return load()
  }

  let timer: ReturnType<typeof setTimeout> | undefined
  /** The page is gone: no reloads for it, and nothing stale when it opens again. */
  function close(): void {
    clearTimeout(timer)
    request.value = null
    frontier.value = null
  }
  watch(
    () =>
      backend.runs
        .filter((r) => LAYER_RUN_KINDS.has(r.kind))
        .map((r) => `${r.id}:${r.status}`)
        .join(','),
    () => {
      if (!request.value) return
      clearTimeout(timer)
      timer = setTimeout(() => void load(), RELOAD_MS)
    },
  )

  const rows = computed<FrontierRow[]>(() =>
    (frontier.value?.series ?? [])
      .flatMap((s) => s.points.map((p) => ({ ...p, kind: s.kind as LayerKind })))
      .sort((a, b) => a.k - b.k || a.kind.localeCompare(b.kind)),
  )
  const evaluatedCount = computed(() => rows.value.filter((r) => r.nmse !== null).length)
  /** CE clean and CE zero of the newest evaluation (the back end picks it): the references for CE spliced. */
  const ceReferences = computed<ChartReference[]>(() => {
    const r = frontier.value?.reference
    if (!r) return []
    return [{ label: 'unchanged model', y: r.ceClean }, ...(r.ceZero !== null ? [{ label: 'MLP zeroed', y: r.ceZero }] : [])]
  })

  /** Queues a held-out evaluation of a layer that has none. */
  async function evaluate(runId: number): Promise<void> {
    evaluating.value = runId
    evalError.value = null
    try {
      await convert.evaluate(runId)
    } catch (err) {
      evalError.value = errorMessage(err)
    } finally {
      evaluating.value = null
    }
  }
  const evalPending = (runId: number): boolean => convert.evalRunsOf(runId).some((r) => r.status === 'queued' || r.status === 'running')

  return {
    request,
    frontier,
    loading,
    error,
    evaluating,
    evalError,
    rows,
    evaluatedCount,
    ceReferences,
    show,
    close,
    load,
    evaluate,
    evalPending,
  }
})
