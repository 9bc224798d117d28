// Scales for the SVG charts: linear scales on the shared "nice" ticks, and log scales.
import { formatLinearTick, formatTick, niceTicks } from '../../../shared/ticks'

export { formatLinearTick, formatTick }

export interface Scale {
  domain: [number, number]
  ticks: number[]
  /** Maps a data value to 0..1 across the domain. */
  norm(v: number): number
  /** Maps 0..1 back to a data value. */
  invert(t: number): number
  /** Linear scales: the tick spacing, so labels can carry exactly the decimals that tell ticks apart. */
  step?: number
}

export function linearScale(values: number[], count = 5, explicit?: number[], minSpan = 0, minStep = 0): Scale {
  const finite = values.filter(Number.isFinite)
  let lo = finite.length ? Math.min(...finite) : 0
  let hi = finite.length ? Math.max(...finite) : 1
  let ticks: number[]
  let step: number | undefined
  if (explicit?.length) {
    if (lo === hi) {
      const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1
      lo -= pad
      hi += pad
    }
    lo = Math.min(lo, ...explicit)
    hi = Math.max(hi, ...explicit)
    ticks = [...explicit].sort((a, b) => a - b)
  } else {
    const nice = niceTicks(lo, hi, count, minSpan, minStep)
    ;({ lo, hi, step, ticks } = nice)
  }
  const span = hi - lo || 1
  return { domain: [lo, hi], ticks, step, norm: (v) => (v - lo) / span, invert: (t) => lo + t * span }
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
