// Scales and ticks for the SVG charts: linear "nice" ticks (1, 2, 5 × 10^k) and log ticks.

export interface Scale {
  domain: [number, number]
  ticks: number[]
  /** Maps a data value to 0..1 across the domain. */
  norm(v: number): number
  /** Maps 0..1 back to a data value. */
  invert(t: number): number
}

function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count)
  const mag = 10 ** Math.floor(Math.log10(raw))
  const r = raw / mag
  return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 2.5 ? 2.5 : r <= 5 ? 5 : 10) * mag
}

export function linearScale(values: number[], count = 5, explicit?: number[]): Scale {
  const finite = values.filter(Number.isFinite)
  let lo = finite.length ? Math.min(...finite) : 0
  let hi = finite.length ? Math.max(...finite) : 1
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1
    lo -= pad
    hi += pad
  }
  let ticks: number[]
  if (explicit?.length) {
    lo = Math.min(lo, ...explicit)
    hi = Math.max(hi, ...explicit)
    ticks = [...explicit].sort((a, b) => a - b)
  } else {
    const step = niceStep(hi - lo, count)
    lo = Math.floor(lo / step + 1e-9) * step
    hi = Math.ceil(hi / step - 1e-9) * step
    ticks = []
    for (let v = lo; v <= hi + step * 1e-6; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)))
  }
  const span = hi - lo || 1
  return { domain: [lo, hi], ticks, norm: (v) => (v - lo) / span, invert: (t) => lo + t * span }
}

export function logScale(values: number[], explicit?: number[]): Scale {
  const pos = values.filter((v) => Number.isFinite(v) && v > 0)
  let lo = pos.length ? Math.min(...pos) : 1
  let hi = pos.length ? Math.max(...pos) : 10
  if (explicit?.length) {
    const ex = explicit.filter((v) => v > 0)
    if (ex.length) {
      lo = Math.min(lo, ...ex)
      hi = Math.max(hi, ...ex)
    }
  }
  if (lo === hi) {
    lo /= 2
    hi *= 2
  }
  // A little room either side, in log space, so end points are not on the frame.
  const pad = (Math.log10(hi) - Math.log10(lo)) * 0.04
  const l0 = Math.log10(lo) - pad
  const l1 = Math.log10(hi) + pad
  let ticks: number[]
  if (explicit?.length) ticks = [...explicit].filter((v) => v > 0).sort((a, b) => a - b)
  else {
    const inRange = (v: number): boolean => Math.log10(v) >= l0 - 1e-9 && Math.log10(v) <= l1 + 1e-9
    const decades: number[] = []
    for (let e = Math.floor(l0); e <= Math.ceil(l1); e++) decades.push(e)
    ticks = decades.map((e) => 10 ** e).filter(inRange)
    if (ticks.length < 3) ticks = decades.flatMap((e) => [1, 2, 5].map((m) => m * 10 ** e)).filter(inRange)
    if (ticks.length < 2) ticks = [lo, hi]
  }
  const span = l1 - l0 || 1
  return {
    domain: [10 ** l0, 10 ** l1],
    ticks,
    norm: (v) => (Math.log10(v) - l0) / span,
    invert: (t) => 10 ** (l0 + t * span),
  }
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
