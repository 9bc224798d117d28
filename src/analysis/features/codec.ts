// One unit's detail as stored in feature_units.detail: a compact little-endian record (about
// 1–3 KB a unit) rather than JSON, so a 21,490-unit index stays tens of MB.
//
//   u32 × 50                 histogram counts
//   u32 n, n × context       top contexts, highest first
//   10 × (f32 lo, f32 hi, u32 n, n × context)   quantile bands, lowest first
//   u32 n, n × (u32 unit, u32 count)            co-firing (Misra–Gries)
//   u32 n, n × (u32 id, f32 value) twice         output effect: top then bottom tokens (n = 0: none)
//
//   context = u32 position (global token index), f32 value, u32 m, m × (u32 offset, f32 value)
//             — the unit's non-zero activations over the context's ids (offset in ids).
import { BANDS, HISTOGRAM, TOKEN_SLOTS, type FeatureAccumulator } from './accumulator.js'
import type { UnitEffect } from './effect.js'
import type { UnitContexts, ValuedSample } from './pass.js'

export interface UnitDetail extends UnitContexts {
  histogram: number[]
  cofiring: { unit: number; count: number }[]
  effect: UnitEffect | null
}

export function encodeUnitDetail(d: UnitDetail): Uint8Array {
  const ctxBytes = (c: ValuedSample): number => 12 + 8 * c.firedAt.length
  const effectTokens = d.effect?.top.length ?? 0
  let size = 4 * HISTOGRAM.bins + 4 + d.top.reduce((s, c) => s + ctxBytes(c), 0) + 4 + 8 * d.cofiring.length + 4 + 16 * effectTokens
  for (const b of d.bands) size += 12 + b.samples.reduce((s, c) => s + ctxBytes(c), 0)
  const buf = new Uint8Array(size)
  const v = new DataView(buf.buffer)
  let o = 0
  const u32 = (x: number): void => {
    v.setUint32(o, x, true)
    o += 4
  }
  const f32 = (x: number): void => {
    v.setFloat32(o, x, true)
    o += 4
  }
  const ctx = (c: ValuedSample): void => {
    u32(c.position)
    f32(c.value)
    u32(c.firedAt.length)
    c.firedAt.forEach((at, i) => {
      u32(at)
      f32(c.firedValues[i]!)
    })
  }
  for (const h of d.histogram) u32(h)
  u32(d.top.length)
  d.top.forEach(ctx)
  for (const b of d.bands) {
    f32(b.lo)
    f32(b.hi)
    u32(b.samples.length)
    b.samples.forEach(ctx)
  }
  u32(d.cofiring.length)
  for (const c of d.cofiring) {
    u32(c.unit)
    u32(c.count)
  }
  u32(effectTokens)
  for (const t of [...(d.effect?.top ?? []), ...(d.effect?.bottom ?? [])]) {
    u32(t.id)
    f32(t.value)
  }
  return buf
}

export function decodeUnitDetail(buf: Uint8Array): UnitDetail {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  let o = 0
  const u32 = (): number => {
    const x = v.getUint32(o, true)
    o += 4
    return x
  }
  const f32 = (): number => {
    const x = v.getFloat32(o, true)
    o += 4
    return x
  }
  const ctx = (): ValuedSample => {
    const position = u32()
    const value = f32()
    const m = u32()
    const firedAt: number[] = []
    const firedValues: number[] = []
    for (let i = 0; i < m; i++) {
      firedAt.push(u32())
      firedValues.push(f32())
    }
    return { position, value, firedAt, firedValues }
  }
  const histogram = Array.from({ length: HISTOGRAM.bins }, u32)
  const top = Array.from({ length: u32() }, ctx)
  const bands = Array.from({ length: BANDS }, () => {
    const lo = f32()
    const hi = f32()
    return { lo, hi, samples: Array.from({ length: u32() }, ctx) }
  })
  const cofiring = Array.from({ length: u32() }, () => ({ unit: u32(), count: u32() }))
  const n = u32()
  const token = (): { id: number; value: number } => ({ id: u32(), value: f32() })
  const effect = n === 0 ? null : { top: Array.from({ length: n }, token), bottom: Array.from({ length: n }, token) }
  return { histogram, top, bands, cofiring, effect }
}

// ---- token-units.bin: the units firing most on each token id ------------------------------
//
//   u32 vocab, u32 slots, vocab × u32 occurrences, vocab × slots × (u32 unit, u32 count)
//   (unit 0xFFFFFFFF: an empty counter). One token id's entry is read at its offset.

const EMPTY = 0xffffffff

export function encodeTokenUnits(acc: FeatureAccumulator): Uint8Array {
  const V = acc.vocabSize
  const buf = new Uint8Array(8 + 4 * V + 8 * V * TOKEN_SLOTS)
  const v = new DataView(buf.buffer)
  v.setUint32(0, V, true)
  v.setUint32(4, TOKEN_SLOTS, true)
  for (let id = 0; id < V; id++) {
    v.setUint32(8 + 4 * id, acc.occurrences[id]!, true)
    const units = acc.tokenUnits(id)
    for (let i = 0; i < TOKEN_SLOTS; i++) {
      const o = 8 + 4 * V + 8 * (id * TOKEN_SLOTS + i)
      v.setUint32(o, units[i]?.unit ?? EMPTY, true)
      v.setUint32(o + 4, units[i]?.count ?? 0, true)
    }
  }
  return buf
}

/** Where token `id`'s occurrences and counters lie in a token-units file of `vocab` ids. */
export function tokenUnitsOffsets(vocab: number, id: number): { occurrences: number; slots: number } {
  return { occurrences: 8 + 4 * id, slots: 8 + 4 * vocab + 8 * TOKEN_SLOTS * id }
}

export function decodeTokenSlots(buf: Uint8Array): { unit: number; count: number }[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const out: { unit: number; count: number }[] = []
  for (let o = 0; o + 8 <= buf.byteLength; o += 8) {
    const unit = v.getUint32(o, true)
    if (unit !== EMPTY) out.push({ unit, count: v.getUint32(o + 4, true) })
  }
  return out
}
