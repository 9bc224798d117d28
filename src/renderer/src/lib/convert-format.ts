// Words, numbers and explanations for the conversion pages (wizard, live run, frontier). The
// wording follows docs of the method (Oldfield et al., "Mixture of Decoders", NeurIPS 2025).
import type { Run, RunDetail } from '../../../shared/api'
import { LearningRate, lowerLr } from '../../../shared/convert'
import { layerKind, layerKinds, type BuiltInLayerKindId, type LayerKindDescriptor } from '../../../shared/layer-kinds/index'

// The layer kinds, their names, help texts and chart colours: all from the layer-kind registry
// (src/shared/layer-kinds), read once when the renderer loads. The renderer registers no kind of
// its own, so the kinds it lists are the built-in ones.
export type LayerKind = BuiltInLayerKindId
export const LAYER_KINDS = layerKinds().map((d) => d.id) as LayerKind[]

/**
 * A property of every registered kind, by id. A kind the server knows and this renderer does not
 * (or an old run's) indexes as undefined: callers show the id instead.
 */
type ByKind = Readonly<Record<LayerKind, string>> & Readonly<Partial<Record<string, string>>>
function byKind(value: (d: LayerKindDescriptor) => string): ByKind {
  return Object.fromEntries(layerKinds().map((d) => [d.id, value(d)])) as ByKind
}

export const KIND_LABEL = byKind((d) => d.name)

export const KIND_HELP = byKind((d) => d.help)

/** Chart colours per kind, stable across pages. */
export const KIND_COLOR = byKind((d) => `var(--chart-${d.chartSlot})`)

/** The wizard's words for a kind's default width ("32·d", "Matched to 32·d (W_skip’s d² paid in latents)"). */
export const KIND_DEFAULT_WIDTH = byKind((d) => d.sizeField.defaultText)

/** What TopK selects, plural ("experts", "latents"). */
export const KIND_UNITS = byKind((d) => d.unit.many)

/** The wizard's label of a kind's size field ("Experts N", "Latents d_sae"). */
export const KIND_SIZE_LABEL = byKind((d) => d.sizeField.label)

/** The config field that sets a kind's width: `experts` (MxD) or `width` (transcoders). */
export function kindWidthField(kind: LayerKind): 'experts' | 'width' {
  return layerKind(kind).widthField
}

/** Whether a kind has a dense hidden layer (the wizard's H and activation fields). */
export function kindUsesHidden(kind: LayerKind): boolean {
  return layerKind(kind).usesHidden
}

export const CONVERT_RUN_KIND_LABEL: Record<string, string> = {
  convert: 'Layer conversion',
  'convert-eval': 'Layer evaluation',
  'layer-import': 'Imported layer',
}

/** The live training metrics charted on a conversion run's page. */
export const TRAIN_CHARTS = [
  {
    name: 'loss',
    label: 'Loss',
    help: 'The training objective: squared error divided by each target’s L2 norm, averaged over the batch.',
    logY: true,
  },
  {
    name: 'nmse',
    label: 'NMSE',
    help: 'Normalised MSE: Σ‖ŷ − y‖² / Σ‖y‖². 0 is a perfect copy of the dense layer’s output; 1 is no better than outputting 0.',
    logY: true,
  },
  { name: 'l0', label: 'L0', help: 'Active units per token (non-zero expert coefficients); TopK caps it at K.', logY: false },
  {
    name: 'dead_fraction',
    label: 'Dead fraction',
    help: 'Fraction of experts (or latents) that have not fired in the last dead-window tokens.',
    logY: false,
  },
] as const

/** The evaluation table: metric name, label, one-line explanation, better when lower/higher. */
export const EVAL_ROWS: { name: string; label: string; help: string }[] = [
  {
    name: 'eval.nmse',
    label: 'NMSE',
    help: 'Normalised MSE of the layer’s output on held-out tokens: Σ‖ŷ − y‖² / Σ‖y‖². Lower is better.',
  },
  {
    name: 'eval.fvu',
    label: 'FVU',
    help: 'Fraction of variance unexplained: squared error over the variance of y around its mean. Lower is better.',
  },
  {
    name: 'eval.explained_variance',
    label: 'Explained variance',
    help: '1 − FVU: how much of the output’s variation the sparse layer reproduces. Higher is better.',
  },
  { name: 'eval.l0', label: 'L0', help: 'Mean number of active experts (or latents) per held-out token.' },
  { name: 'eval.dead_fraction', label: 'Dead fraction', help: 'Units that never fired on the held-out tokens.' },
  { name: 'eval.ce_clean', label: 'CE clean', help: 'Next-token cross-entropy (nats/token) of the unchanged model.' },
  {
    name: 'eval.ce_spliced',
    label: 'CE spliced',
    help: 'Cross-entropy with the sparse layer replacing blocks[L].mlp. Close to CE clean is faithful.',
  },
  {
    name: 'eval.ce_zero',
    label: 'CE zero-ablation',
    help: 'Cross-entropy with the MLP’s output set to 0: how much the model needs this layer.',
  },
  {
    name: 'eval.loss_recovered',
    label: 'Loss recovered',
    help: '(CE zero − CE spliced) / (CE zero − CE clean): 1 recovers all of what the dense layer contributes, 0 nothing. Can exceed 1 by chance when the layer matters little.',
  },
  { name: 'eval.tokens', label: 'Held-out tokens', help: 'Tokens of the held-out split the metrics were measured on.' },
]

/** 1.2K, 3.4M tokens; plain below a thousand. */
export function compact(n: number): string {
  const a = Math.abs(n)
  if (a >= 1e9) return `${+(n / 1e9).toFixed(2)}B`
  if (a >= 1e6) return `${+(n / 1e6).toFixed(2)}M`
  if (a >= 1e4) return `${+(n / 1e3).toFixed(1)}K`
  return n.toLocaleString('en-US', { maximumFractionDigits: 3 })
}

export function formatMetric(name: string, v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—'
  if (name.endsWith('tokens')) return Math.round(v).toLocaleString('en-US')
  if (name.endsWith('l0')) return v.toFixed(2)
  if (name.endsWith('fraction')) return `${(v * 100).toFixed(1)}%`
  if (Math.abs(v) !== 0 && Math.abs(v) < 1e-3) return v.toExponential(3)
  return v.toFixed(4)
}

/** The eval.* values of a run's latest evaluation (the highest step with eval.nmse). */
export function latestEval(detail: RunDetail | null): Record<string, number> {
  if (!detail) return {}
  const evals = detail.metrics.filter((m) => m.name.startsWith('eval.'))
  const steps = evals.filter((m) => m.name === 'eval.nmse').map((m) => m.step)
  if (steps.length === 0) return {}
  const step = Math.max(...steps)
  return Object.fromEntries(evals.filter((m) => m.step === step).map((m) => [m.name, m.value]))
}

/** The folder that holds a bundled model's corpus: <resources>/corpus/kjv next to <resources>/models/NAME. */
export function bundledCorpusPath(modelPath: string): string | null {
  const m = /^(.*)[\\/]models[\\/][^\\/]+[\\/]?$/.exec(modelPath)
  if (!m) return null
  const sep = modelPath.includes('\\') && !modelPath.includes('/') ? '\\' : '/'
  return `${m[1]}${sep}corpus${sep}kjv`
}

export function ratio(a: number, b: number): string {
  if (!b) return '—'
  const r = a / b
  return r >= 10 ? `${r.toFixed(0)}×` : r >= 1 ? `${r.toFixed(2)}×` : `${r.toFixed(2)}×`
}

/**
 * The learning rate the Resume form starts from for a conversion run: a failed run (divergence or
 * a NaN, the failures a learning rate causes) gets a tenth of its lr, the value its error message
 * suggests (lowerLr); a cancelled or interrupted one keeps its own. Null where the run has no lr.
 */
export function resumeLrDefault(run: Pick<Run, 'kind' | 'status' | 'config'>): number | null {
  const lr = run.config.lr
  if (run.kind !== 'convert' || typeof lr !== 'number') return null
  return run.status === 'failed' ? lowerLr(lr) : lr
}

/**
 * Whether Resume should go through the run's page, where the learning rate is chosen: a failed
 * conversion most likely diverged, and resuming it at the same lr would fail the same way.
 */
export function resumeOnRunPage(run: Pick<Run, 'kind' | 'status'>): boolean {
  return run.kind === 'convert' && run.status === 'failed'
}

/** The Resume form's lr text → the lr to send, or the reason it cannot be sent (the API's own bounds). */
export function parseResumeLr(text: string): { lr: number } | { error: string } {
  const t = text.trim()
  if (t === '') return { error: 'Enter a learning rate, e.g. 0.003.' }
  const parsed = LearningRate.safeParse(Number(t))
  if (!parsed.success || !Number.isFinite(parsed.data))
    return { error: `“${t}” is not a learning rate: use a number above 0 and at most 1.` }
  return { lr: parsed.data }
}
