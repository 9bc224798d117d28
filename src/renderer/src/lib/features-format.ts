// How the feature pages word and draw a feature index: a unit's frequency, a context token's
// highlight, a layer run's one-line description, the Playground's steering link.
import type { Run, RunSummary } from '../../../shared/api'
import { FEATURE_LIMITS } from '../../../shared/features'
import { KIND_LABEL, type LayerKind } from './convert-format'

/** A firing frequency as a percentage, with enough digits for rare units (0.012%). */
export function formatFrequency(f: number): string {
  if (f === 0) return '0%'
  const p = 100 * f
  return `${p >= 10 ? p.toFixed(1) : p >= 1 ? p.toFixed(2) : p.toPrecision(2)}%`
}

/** An activation value, short: 3 significant digits. */
export function formatActivation(v: number): string {
  return v === 0 ? '0' : Math.abs(v) >= 1000 ? v.toFixed(0) : v.toPrecision(3)
}

/**
 * A token's highlight: the unit's activation over the context's largest, so a context reads the
 * same whatever the unit's scale; 0 (no colour) where it did not fire.
 */
export function highlightAlpha(value: number, max: number): number {
  return value > 0 && max > 0 ? Math.min(1, value / max) : 0
}

/** The Playground's link that splices the layer and steers with the unit (+100 after TopK, the paper's setting). */
export function steerLink(layerRunId: number, unit: number, value = 100): string {
  return `/playground?layer=${layerRunId}&steer=${unit}:${value}`
}

/** "MxD · block 2 · K 32" for a layer run, from its summary. */
export function layerRunLabel(s: Pick<RunSummary, 'layerKind' | 'layer' | 'k'> | undefined): string {
  if (!s) return 'layer'
  const parts = [s.layerKind ? (KIND_LABEL[s.layerKind as LayerKind] ?? s.layerKind) : 'layer']
  if (s.layer !== null) parts.push(`block ${s.layer}`)
  if (s.k !== null) parts.push(`K ${s.k}`)
  return parts.join(' · ')
}

/** A layer run's width (experts or latents) where its config says it, else null. */
export function layerWidth(run: Pick<Run, 'config'>): number | null {
  const c = run.config
  const w = c.experts ?? c.width
  return typeof w === 'number' ? w : null
}

/**
 * What an index of `tokens` tokens will take, in words: the default budget takes about a minute
 * or two on the demo model on 2 cores (bench/README.md), and the time grows with the tokens.
 */
export function indexTimeHint(tokens: number): string {
  const minutes = (1.5 * tokens) / FEATURE_LIMITS.defaultTokens
  const time = minutes < 1 ? 'under a minute' : minutes < 90 ? `about ${Math.round(minutes)} minute${Math.round(minutes) === 1 ? '' : 's'}` : `about ${(minutes / 60).toFixed(1)} hours`
  return `Takes ${time} on the demo model on 2 cores (the default ${FEATURE_LIMITS.defaultTokens.toLocaleString('en-US')} tokens take a minute or two; a bigger model or layer takes longer). More tokens give rarer units more contexts.`
}
