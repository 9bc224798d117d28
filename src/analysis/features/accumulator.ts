// The streaming half of the feature index (docs/features.md): per unit of a sparse layer, the
// statistics of its post-TopK code over a token stream, updated from each token's K selected
// (value, unit) pairs only, so the work per token is O(K) (O(K²) for co-firing) and never O(width),
// and the memory is fixed up front by the width, never by the number of tokens:
//
//   count, sum, max                       width × 20 bytes
//   histogram (50 log-scale bins)         width × 200 bytes
//   top 20 contexts (value, position)     width × 160 bytes
//   reservoir of 5 per histogram bin      width × 2,000 bytes  (quantile-band samples)
//   Misra–Gries co-firing, 16 counters    width × 128 bytes
//
// about 2.5 KB a unit: 53 MB for a 21,490-unit layer, whatever the number of tokens; and, per
// token id of the vocabulary, its occurrences and a Misra–Gries sketch of the units firing on it
// (TOKEN_SLOTS counters: 68 bytes a token id, 3.4 MB for GPT-2's 50,257).
// A unit fires at a token when its code there is > 0 (every kind's code is a TopK of a ReLU, so
// selected values that are 0 are not firings).
import { Rng } from '../../data/shuffle.js'

/** Log-scale histogram: bin i holds 10^(LOG_MIN + i·w) ≤ v < 10^(LOG_MIN + (i+1)·w), w = (LOG_MAX − LOG_MIN)/BINS; the first and last bins also take everything below / above. */
export const HISTOGRAM = { bins: 50, log10Min: -4, log10Max: 2 } as const
/** Contexts kept per unit at its highest activations. */
export const TOP_CONTEXTS = 20
/** Quantile bands (sae_vis style) and the samples shown per band. */
export const BANDS = 10
export const PER_BAND = 5
/** Misra–Gries counters per unit for its co-firing units. */
export const COFIRE_SLOTS = 16
/** Misra–Gries counters per token id for the units that fire on it. */
export const TOKEN_SLOTS = 8

/** The 51 bin edges of the histogram (the first and last bins are open-ended). */
export function histogramEdges(): number[] {
  const { bins, log10Min, log10Max } = HISTOGRAM
  return Array.from({ length: bins + 1 }, (_, i) => 10 ** (log10Min + ((log10Max - log10Min) * i) / bins))
}

export function binOf(v: number): number {
  const { bins, log10Min, log10Max } = HISTOGRAM
  const b = Math.floor(((Math.log10(v) - log10Min) * bins) / (log10Max - log10Min))
  return b < 0 ? 0 : b >= bins ? bins - 1 : b
}

/** One sampled position of a unit: its global token index and the unit's activation there. */
export interface Sample {
  position: number
  value: number
}

export interface UnitSummary {
  unit: number
  count: number
  sum: number
  max: number
  histogram: number[]
  /** Highest activations first; ties keep the earlier position. */
  top: Sample[]
  /** BANDS bands from the lowest activations to the highest; a band may be empty. */
  bands: { lo: number; hi: number; samples: Sample[] }[]
  /** Co-firing units with their Misra–Gries counts (lower bounds of the true co-firing counts), largest first. */
  cofiring: { unit: number; count: number }[]
}

export class FeatureAccumulator {
  readonly count: Uint32Array
  readonly sum: Float64Array
  readonly max: Float32Array
  private readonly hist: Uint32Array
  private readonly topVal: Float32Array
  private readonly topPos: Uint32Array
  private readonly topLen: Uint8Array
  /** Index (0…TOP_CONTEXTS−1) of the smallest kept value, valid when the unit's list is full. */
  private readonly topMin: Uint8Array
  private readonly resVal: Float32Array
  private readonly resPos: Uint32Array
  private readonly mgKey: Int32Array
  private readonly mgCount: Uint32Array
  private readonly rng: Rng
  /** Per token id: occurrences, and the units firing on it (Misra–Gries, TOKEN_SLOTS counters). */
  readonly occurrences: Uint32Array
  private readonly tokKey: Int32Array
  private readonly tokCount: Uint32Array
  /** Tokens seen. */
  tokens = 0

  constructor(
    readonly width: number,
    readonly vocabSize: number,
    seed = 0,
  ) {
    const B = HISTOGRAM.bins
    this.count = new Uint32Array(width)
    this.sum = new Float64Array(width)
    this.max = new Float32Array(width)
    this.hist = new Uint32Array(width * B)
    this.topVal = new Float32Array(width * TOP_CONTEXTS)
    this.topPos = new Uint32Array(width * TOP_CONTEXTS)
    this.topLen = new Uint8Array(width)
    this.topMin = new Uint8Array(width)
    this.resVal = new Float32Array(width * B * PER_BAND)
    this.resPos = new Uint32Array(width * B * PER_BAND)
    this.mgKey = new Int32Array(width * COFIRE_SLOTS).fill(-1)
    this.mgCount = new Uint32Array(width * COFIRE_SLOTS)
    this.rng = new Rng(seed)
    this.occurrences = new Uint32Array(vocabSize)
    this.tokKey = new Int32Array(vocabSize * TOKEN_SLOTS).fill(-1)
    this.tokCount = new Uint32Array(vocabSize * TOKEN_SLOTS)
  }

  /**
   * Adds `rows` tokens at global positions first…first+rows−1, with ids `ids`, each with its K
   * selected (value, unit) pairs, row-major in `values` / `indices` ([rows, k]).
   */
  add(values: Float32Array, indices: Int32Array | Float32Array, rows: number, k: number, first: number, ids: ArrayLike<number>): void {
    const active: number[] = []
    for (let r = 0; r < rows; r++) {
      const position = first + r
      const id = ids[r]!
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new Error(`token id ${id} is outside the vocabulary (0…${this.vocabSize - 1})`)
      this.occurrences[id]!++
      active.length = 0
      for (let j = 0; j < k; j++) {
        const v = values[r * k + j] as number
        if (!(v > 0)) continue
        const u = indices[r * k + j] as number
        active.push(u)
        this.fire(u, v, position)
      }
      for (const u of active) {
        misraGries(this.tokKey, this.tokCount, id * TOKEN_SLOTS, TOKEN_SLOTS, u)
        for (const w of active) if (w !== u) misraGries(this.mgKey, this.mgCount, u * COFIRE_SLOTS, COFIRE_SLOTS, w)
      }
    }
    this.tokens += rows
  }

  private fire(u: number, v: number, position: number): void {
    this.count[u]!++
    this.sum[u]! += v
    if (v > this.max[u]!) this.max[u] = v
    const b = binOf(v)
    const inBin = ++this.hist[u * HISTOGRAM.bins + b]!
    // Reservoir sampling (Algorithm R) per histogram bin: each of the bin's firings so far is
    // kept with equal probability PER_BAND / inBin.
    const base = (u * HISTOGRAM.bins + b) * PER_BAND
    if (inBin <= PER_BAND) {
      this.resVal[base + inBin - 1] = v
      this.resPos[base + inBin - 1] = position
    } else {
      const slot = this.rng.below(inBin)
      if (slot < PER_BAND) {
        this.resVal[base + slot] = v
        this.resPos[base + slot] = position
      }
    }
    // Top contexts: an unsorted list of TOP_CONTEXTS with its minimum tracked; sorted at the end.
    const t = u * TOP_CONTEXTS
    const len = this.topLen[u]!
    if (len < TOP_CONTEXTS) {
      this.topVal[t + len] = v
      this.topPos[t + len] = position
      this.topLen[u] = len + 1
      if (len + 1 === TOP_CONTEXTS) this.rescanMin(u)
    } else if (v > this.topVal[t + this.topMin[u]!]!) {
      this.topVal[t + this.topMin[u]!] = v
      this.topPos[t + this.topMin[u]!] = position
      this.rescanMin(u)
    }
  }

  private rescanMin(u: number): void {
    const t = u * TOP_CONTEXTS
    let m = 0
    for (let i = 1; i < TOP_CONTEXTS; i++) {
      const a = this.topVal[t + i]!
      const b = this.topVal[t + m]!
      // On equal values the later position is the one to drop, so earlier positions win ties.
      if (a < b || (a === b && this.topPos[t + i]! > this.topPos[t + m]!)) m = i
    }
    this.topMin[u] = m
  }

  /** The units firing most on token `id` (Misra–Gries counts: lower bounds), largest first. */
  tokenUnits(id: number): { unit: number; count: number }[] {
    const out: { unit: number; count: number }[] = []
    for (let i = 0; i < TOKEN_SLOTS; i++) {
      const key = this.tokKey[id * TOKEN_SLOTS + i]!
      if (key !== -1) out.push({ unit: key, count: this.tokCount[id * TOKEN_SLOTS + i]! })
    }
    return out.sort((a, b) => b.count - a.count || a.unit - b.unit)
  }

  /** The unit's finished statistics: top contexts sorted, reservoirs grouped into quantile bands. */
  summary(u: number): UnitSummary {
    const B = HISTOGRAM.bins
    const count = this.count[u]!
    const histogram = Array.from(this.hist.subarray(u * B, (u + 1) * B))
    const t = u * TOP_CONTEXTS
    const top: Sample[] = []
    for (let i = 0; i < this.topLen[u]!; i++) top.push({ value: this.topVal[t + i]!, position: this.topPos[t + i]! })
    top.sort((a, b) => b.value - a.value || a.position - b.position)
    const cofiring: { unit: number; count: number }[] = []
    for (let i = 0; i < COFIRE_SLOTS; i++) {
      const key = this.mgKey[u * COFIRE_SLOTS + i]!
      if (key !== -1) cofiring.push({ unit: key, count: this.mgCount[u * COFIRE_SLOTS + i]! })
    }
    cofiring.sort((a, b) => b.count - a.count || a.unit - b.unit)
    return { unit: u, count, sum: this.sum[u]!, max: this.max[u]!, histogram, top, bands: this.bands(u, histogram, count), cofiring }
  }

  /**
   * Quantile bands from the per-bin reservoirs: bin b goes to band ⌊BANDS · (firings below b +
   * half of b's) / count⌋, so each band holds about a tenth of the unit's firings, lowest
   * activations first (a bin is never split, so a unit with few occupied bins has empty bands).
   * A band's PER_BAND samples are drawn from its bins' reservoirs, each reservoir item weighted by
   * the firings it stands for (bin count / items kept), without replacement (Efraimidis–Spirakis
   * keys), with a generator seeded by the unit, so the result does not depend on the order units
   * are summarised in.
   */
  private bands(u: number, histogram: number[], count: number): UnitSummary['bands'] {
    const edges = histogramEdges()
    const out: UnitSummary['bands'] = Array.from({ length: BANDS }, () => ({ lo: Infinity, hi: 0, samples: [] as Sample[] }))
    if (count === 0) return out.map(() => ({ lo: 0, hi: 0, samples: [] }))
    const pools: { s: Sample; w: number }[][] = Array.from({ length: BANDS }, () => [])
    let below = 0
    histogram.forEach((h, b) => {
      if (h === 0) return
      const band = Math.min(BANDS - 1, Math.floor((BANDS * (below + h / 2)) / count))
      below += h
      const kept = Math.min(h, PER_BAND)
      const base = (u * HISTOGRAM.bins + b) * PER_BAND
      for (let i = 0; i < kept; i++) pools[band]!.push({ s: { value: this.resVal[base + i]!, position: this.resPos[base + i]! }, w: h / kept })
      const o = out[band]!
      o.lo = Math.min(o.lo, edges[b]!)
      o.hi = Math.max(o.hi, edges[b + 1]!)
    })
    const rng = new Rng(u + 1)
    return out.map((o, band) => {
      const pool = pools[band]!
      if (pool.length === 0) return { lo: 0, hi: 0, samples: [] }
      const keyed = pool.map(({ s, w }) => ({ s, key: Math.log(rng.next() || Number.MIN_VALUE) / w }))
      keyed.sort((a, b) => b.key - a.key)
      const samples = keyed.slice(0, PER_BAND).map((x) => x.s)
      samples.sort((a, b) => a.value - b.value || a.position - b.position)
      return { lo: o.lo, hi: o.hi, samples }
    })
  }
}

/**
 * One occurrence of `item` in a Misra–Gries sketch of `slots` counters at keys/counts[base…]:
 * its counter goes up, or a free one is taken, or every counter goes down by one. Each kept count
 * is then a lower bound of the item's true count, low by at most n/(slots+1) for a stream of n.
 */
function misraGries(keys: Int32Array, counts: Uint32Array, base: number, slots: number, item: number): void {
  let empty = -1
  for (let i = 0; i < slots; i++) {
    const key = keys[base + i]!
    if (key === item) {
      counts[base + i]!++
      return
    }
    if (key === -1 && empty === -1) empty = i
  }
  if (empty !== -1) {
    keys[base + empty] = item
    counts[base + empty] = 1
    return
  }
  for (let i = 0; i < slots; i++) if (--counts[base + i]! === 0) keys[base + i] = -1
}

/**
 * For an MxD layer, per expert n: Σ a_n·(Dᵀz) over the tokens where it fired, in float64
 * (width × d_out × 8 bytes: 132 MB for GPT-2-small's 21,490 experts of 768). Expert n's output at
 * a token is a_n·(c_n ∗ Dᵀz) (src/engine/layers/mxd.ts), linear in a_n·Dᵀz, so its mean
 * contribution is c_n ∗ (this sum) / count, exactly. Summed after D rather than before (Σ a_n·z,
 * then D once per expert, as linear) because d_out is a quarter of the hidden width H: a quarter
 * of the memory (H would be 528 MB for GPT-2-small) and of the work per firing.
 */
export class ContributionSum {
  readonly sum: Float64Array

  constructor(
    readonly width: number,
    readonly dOut: number,
  ) {
    this.sum = new Float64Array(width * dOut)
  }

  /** Adds `rows` tokens: their K selected (value, unit) pairs ([rows, k]) and Dᵀz ([rows, dOut]). */
  add(values: Float32Array, indices: Int32Array | Float32Array, rows: number, k: number, decoding: Float32Array): void {
    const O = this.dOut
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < k; j++) {
        const v = values[r * k + j] as number
        if (!(v > 0)) continue
        const base = (indices[r * k + j] as number) * O
        const row = r * O
        for (let o = 0; o < O; o++) this.sum[base + o]! += v * decoding[row + o]!
      }
    }
  }

  /** Σ a_n·Dᵀz / count for experts first…first+n−1 ([n, d_out]; zeros for an expert that never fired): times c_n, its mean contribution. */
  means(first: number, n: number, counts: ArrayLike<number>): Float32Array {
    const O = this.dOut
    const out = new Float32Array(n * O)
    for (let r = 0; r < n; r++) {
      const count = counts[first + r]!
      if (count === 0) continue
      for (let o = 0; o < O; o++) out[r * O + o] = this.sum[(first + r) * O + o]! / count
    }
    return out
  }
}
