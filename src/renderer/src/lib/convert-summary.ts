// What the conversion wizard shows of a configuration once the back end has previewed it: the
// parameter bars, a time estimate from this machine's measured speed, the review's rows and the
// equivalent command line. Pure functions of the wizard store's state.
import type { ConvertInput, ConvertPreview, SpeedSource } from '../stores/convert'
import type { ConvertDraft } from './convert-draft'
import { compact, KIND_LABEL, ratio, type LayerKind } from './convert-format'
import { formatSeconds } from './format'
import { formatBytes } from './model-format'

export interface Estimate {
  seconds: number
  basis: string
}

/** Seconds for one run, from what this machine measured; null when nothing was measured. */
export function estimateTime(s: SpeedSource | null, p: ConvertPreview | null, tokens: number | undefined): Estimate | null {
  if (!s || !p || tokens === undefined) return null
  if (s.kind === 'conversion' && s.trainTokensPerS && s.harvestTokensPerS) {
    const scale = s.trainFlopsPerToken ? p.trainFlopsPerToken / s.trainFlopsPerToken : 1
    const seconds = tokens / s.harvestTokensPerS + (tokens * scale) / s.trainTokensPerS
    return {
      seconds,
      basis: `from run ${s.runId} on this model: harvesting ${compact(Math.round(s.harvestTokensPerS))} tokens/s, training ${compact(Math.round(s.trainTokensPerS))} tokens/s${scale !== 1 ? ` (scaled ×${scale.toFixed(2)} for this size)` : ''}`,
    }
  }
  if (s.kind === 'benchmark' && s.gflops) {
    return {
      seconds: (tokens * p.trainFlopsPerToken) / (s.gflops * 1e9),
      basis: `training arithmetic only, at the ${s.gflops.toFixed(1)} GFLOP/s of benchmark run ${s.runId}; running the model to harvest activations comes on top`,
    }
  }
  return null
}

export interface ParamRow {
  key: string
  label: string
  value: number
  strong: boolean
  width: string
}

/** This run's layer (each kind's, in a sweep) against the dense MLP and a 32× transcoder, as bars. */
export function paramRows(previews: ConvertPreview[], draft: Pick<ConvertDraft, 'sweep' | 'kind'>): ParamRow[] {
  const p = previews[0]
  if (!p) return []
  const max = Math.max(p.params.layer, p.params.denseMlp, p.params.transcoder32x, ...previews.map((q) => q.params.layer))
  const rows = previews.map((q, i) => ({
    key: `layer${i}`,
    label: `${KIND_LABEL[draft.sweep ? ((q.resolved.kind as LayerKind) ?? 'mxd') : draft.kind]} (this run)`,
    value: q.params.layer,
    strong: true,
  }))
  rows.push({ key: 'dense', label: 'Dense MLP it replaces', value: p.params.denseMlp, strong: false })
  rows.push({ key: 'tc', label: 'TopK transcoder, 32·d latents', value: p.params.transcoder32x, strong: false })
  return rows.map((r) => ({ ...r, width: `${Math.max(1, (r.value / max) * 100)}%` }))
}

export interface ReviewInput {
  draft: ConvertDraft
  model: { name: string; path: string } | undefined
  layer: { layer: number; hookIn: string; hookOut: string } | null
  dataset: { name: string; documents: number; heldOutDocuments: number } | null
  preview: ConvertPreview | null
  sweepCount: number
  sweepKs: number[] | null
  estimate: Estimate | null
}

/** The review step's term / value rows. */
export function reviewRows({ draft: d, model, layer, dataset, preview: p, sweepCount, sweepKs, estimate }: ReviewInput): [string, string][] {
  const rows: [string, string][] = []
  rows.push(['Model', model ? `${model.name} (${model.path})` : '—'])
  rows.push(['Layer', layer ? `block ${layer.layer}: ${layer.hookIn} → ${layer.hookOut}` : '—'])
  rows.push([
    'Dataset',
    dataset ? `${dataset.name} — ${dataset.documents.toLocaleString('en-US')} documents, ${dataset.heldOutDocuments} held out` : '—',
  ])
  if (d.sweep) {
    rows.push(['Sweep', `${sweepCount} runs: ${d.sweepKinds.map((k) => KIND_LABEL[k]).join(', ')} × K ∈ {${sweepKs ? sweepKs.join(', ') : '?'}}`])
  } else rows.push(['Layer kind', KIND_LABEL[d.kind]])
  if (p) {
    if (p.hidden !== null) rows.push(['Experts N', `${p.width.toLocaleString('en-US')}${d.customWidth ? '' : ' (parameter-matched)'}`])
    else rows.push(['Latents d_sae', p.width.toLocaleString('en-US')])
    if (!d.sweep) rows.push(['K (active per token)', String(p.k)])
    if (p.hidden !== null) rows.push(['Hidden width H', `${p.hidden.toLocaleString('en-US')}, ${p.act === 'glu' ? 'GLU' : 'GELU (exact erf)'}`])
    rows.push([
      'Parameters',
      `${p.params.layer.toLocaleString('en-US')} (${ratio(p.params.layer, p.params.denseMlp)} the dense MLP, ${ratio(p.params.layer, p.params.transcoder32x)} a 32× transcoder)`,
    ])
    rows.push([
      'Training',
      `${compact(Number(p.resolved.tokens))} tokens = ${p.steps.toLocaleString('en-US')} steps of ${p.resolved.batch} · lr ${p.resolved.lr} · warm-up ${p.warmup} steps · seed ${p.resolved.seed}`,
    ])
    rows.push(['Context', `${p.resolved.ctx} tokens per sequence; buffer ${p.bufferRows.toLocaleString('en-US')} activations (${formatBytes(p.bufferBytes)})`])
    rows.push([
      'Evaluation',
      d.evaluate ? `on ${compact(Number(p.resolved.evalTokens))} held-out tokens when training ends` : 'not after training (run it later from the run page)',
    ])
    rows.push(['Hooks', `${p.hookIn} → ${p.hookOut}`])
  }
  if (estimate) rows.push(['Estimated time', `about ${formatSeconds(estimate.seconds)}${d.sweep ? ' per run' : ''}`])
  return rows
}

/** The same run from the command line; null for a sweep. */
export function cliCommand(c: ConvertInput | null, sweep: boolean, datasetPath: string | undefined): string | null {
  if (!c || sweep) return null
  const data = datasetPath ?? String(c.data)
  const q = (s: string): string => (/^[\w./:@-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`)
  const parts = ['mxd train', `--model ${q(c.model)}`, `--layer ${c.layer}`, `--data ${q(data)}`, `--kind ${c.kind!.replace('_', '-')}`]
  if (c.experts !== undefined) parts.push(`--experts ${c.experts}`)
  if (c.k !== undefined) parts.push(`--k ${c.k}`)
  if (c.hidden !== undefined) parts.push(`--hidden ${c.hidden}`)
  if (c.act) parts.push(`--act ${c.act}`)
  for (const f of ['lr', 'batch', 'tokens', 'ctx', 'seed'] as const) if (c[f] !== undefined) parts.push(`--${f} ${c[f]}`)
  return parts.join(' ')
}
