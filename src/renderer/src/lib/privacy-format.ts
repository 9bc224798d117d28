// How the Privacy pages write the figures of a privacy run and a certificate.

/** A constant or a privacy parameter: 4 significant digits, exponent form when tiny or huge; — for none. */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—'
  if (v === 0) return '0'
  const a = Math.abs(v)
  return a < 1e-3 || a >= 1e6 ? v.toExponential(3).replace(/\.?0+e/, 'e') : String(Number(v.toPrecision(4)))
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
