// How the Privacy pages write the figures of a privacy run and a certificate.

import { formatFigure } from '../../../shared/privacy'

/** A constant or a privacy parameter as report.html writes it (formatFigure); — for none. */
export function formatNumber(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : formatFigure(v)
}

/** A verification check's stored or recomputed value: a figure, or text cut short (a sha256 is 64 characters; the full text goes in a tooltip). */
export function formatCheckValue(v: number | string): string {
  if (typeof v === 'number') return formatNumber(v)
  return v.length > 20 ? `${v.slice(0, 12)}…` : v
}

/** What each provenance of a certificate's constant means (the badge's tooltip). */
export const PROVENANCE_HELP: Record<string, string> = {
  computed: 'Computed exactly from the model and the data.',
  bounded: 'A proven upper (or lower) bound, not the exact value.',
  estimated: 'Estimated numerically (e.g. by sampling or iteration): not a proof.',
  assumed: 'Taken as given (from the settings), not checked against the data.',
}

/** A badge's tone for a certificate status or a provenance: green for proof, amber for less, red for failure. */
export function badgeTone(word: string): 'good' | 'warn' | 'bad' | 'neutral' {
  if (word === 'verified' || word === 'computed' || word === 'bounded' || word === 'pass') return 'good'
  if (word === 'estimated' || word === 'assumed') return 'warn'
  if (word === 'failed' || word === 'fail') return 'bad'
  return 'neutral'
}
