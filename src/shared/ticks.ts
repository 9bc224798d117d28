// Axis ticks for the charts: "nice" linear steps (1, 2, 2.5 or 5 × 10^k) and labels with exactly
// the decimals that tell ticks apart. Pure arithmetic, kept beside the API types so that the unit
// tests (which typecheck with the back end) and the renderer share one implementation.

function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count)
  const mag = 10 ** Math.floor(Math.log10(raw))
  // A hair of tolerance: a span of 0.05000000000000071 (float noise) still gets steps of 0.01.
  const r = raw / mag - 1e-9
  return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 2.5 ? 2.5 : r <= 5 ? 5 : 10) * mag
}

export interface NiceTicks {
  lo: number
  hi: number
  step: number
  ticks: number[]
}

/**
 * "Nice" linear ticks (1, 2, 2.5 or 5 × 10^k apart, about `count` of them) covering [lo, hi],
 * with the domain widened to whole steps. A range narrower than `minSpan` is widened to it around
 * its middle first, so a 0.0005 difference is not blown up to fill the chart; an empty range gets
 * ±10% (±1 around 0). `minStep` bounds the spacing from below: 1 for counts such as steps, where
 * a tick at 1.25 would name a step that does not exist.
 */
export function niceTicks(lo: number, hi: number, count = 5, minSpan = 0, minStep = 0): NiceTicks {
  if (hi < lo) [lo, hi] = [hi, lo]
  if (hi - lo < minSpan) {
    const mid = (lo + hi) / 2
    lo = mid - minSpan / 2
    hi = mid + minSpan / 2
  }
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1
    lo -= pad
    hi += pad
  }
  const step = Math.max(niceStep(hi - lo, count), minStep)
  const first = Math.floor(lo / step + 1e-9)
  const last = Math.ceil(hi / step - 1e-9)
  const ticks: number[] = []
  // Multiples of the step, rounded to its decimals, so 0.1 + 0.2 shows as 0.3 and 0 is 0.
  const dp = tickDecimals(step)
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toFixed(Math.min(20, dp))) + 0)
  return { lo: first * step, hi: last * step, step, ticks }
}

/** The decimals that tell ticks `step` apart: 0.0002 → 4, 2.5 → 1, 0.25 → 2, 50 → 0. */
export function tickDecimals(step: number): number {
  if (!(step > 0) || !Number.isFinite(step)) return 0
  let dp = Math.max(0, -Math.floor(Math.log10(step) + 1e-9))
  // 2.5 × 10^k needs one digit more than its magnitude.
  while (dp < 20 && Math.abs(Number(step.toFixed(dp)) - step) > step * 1e-6) dp++
  return dp
}

/**
 * Labels for the ticks of a linear scale: fixed decimals from the step, so no two ticks read the
 * same (4.1454, 4.1456 rather than 4.145, 4.146); very small or large values as formatTick.
 */
export function formatLinearTick(v: number, step: number): string {
  const a = Math.abs(v)
  if (a === 0) return '0'
  if (a >= 1e5 || step < 1e-6) return formatTick(v)
  return v.toLocaleString('en-US', { minimumFractionDigits: tickDecimals(step), maximumFractionDigits: tickDecimals(step) })
}

const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumSignificantDigits: 3 })
const plain = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 4 })

/** Short tick / tooltip labels: 1,024 · 12.5 · 3.2M · 1.5e-5. */
export function formatTick(v: number): string {
  const a = Math.abs(v)
  if (a === 0) return '0'
  if (a < 1e-3) return v.toExponential(1)
  if (a >= 1e5) return compact.format(v)
  return plain.format(v)
}
