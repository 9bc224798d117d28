// The feature index's passes over the text (docs/features.md). The codes of a sparse layer
// spliced at block L depend only on the text up to that block's MLP input (ln2's output), so a
// pass runs the model through block L's ln2 and applies the layer there, reading the TopK's K
// selected (value, unit) pairs per token:
//   1. the streaming pass: every token into a FeatureAccumulator, the token ids into one array;
//   2. the values pass: for each kept context (top and band samples of every unit), the unit's
//      activation at every position of the context's ids, stored sparsely (the positions where it
//      fired); only the sequences that hold a kept context are run again.
import { tf } from '../../engine/backend.js'
import { hookNames } from '../../engine/hooks.js'
import { MxDLayer } from '../../engine/layers/mxd.js'
import type { SparseLayer } from '../../engine/layers/sparse-layer.js'
import type { LanguageModel } from '../../engine/models/model.js'
import { ContributionSum, FeatureAccumulator, type Sample, type UnitSummary } from './accumulator.js'

/** Tokens after the ranked one that a context shows. */
export const CONTEXT_AFTER = 4

export interface Selections {
  values: Float32Array
  indices: Int32Array
  rows: number
  k: number
  /** An MxD layer's Dᵀz at every token ([rows, d_out]), when asked for. */
  decoding?: Float32Array
}

/** The layer's K selected values and units at every token of `ids` (equal-length sequences), row-major; with `decoding`, an MxD's Dᵀz too. */
export async function layerSelections(model: LanguageModel, layer: SparseLayer, block: number, ids: number[][], o: { decoding?: boolean } = {}): Promise<Selections> {
  const name = hookNames.ln2(block)
  // Block L's own MLP output is never used (the pass stops at its input): zeros cost nothing.
  const { cache } = model.forward(ids, { cacheNames: [name], stopAfterLayer: block, mlpReplacements: { [block]: (x) => tf.zerosLike(x) } })
  const x = cache[name] as tf.Tensor
  try {
    const [values, indices] = tf.tidy(() => {
      const flat = tf.reshape(x, [-1, x.shape[2] as number]) as tf.Tensor2D
      const out = layer.forward(flat)
      if (!out.selected) throw new Error(`the ${layer.kind} layer's forward reports no TopK selection`)
      return [out.selected.values, tf.cast(out.selected.indices, 'int32')]
    })
    const v = (await values.data()) as Float32Array
    const i = (await indices.data()) as Int32Array
    values.dispose()
    indices.dispose()
    let decoding: Float32Array | undefined
    if (o.decoding && layer instanceof MxDLayer) {
      const dz = tf.tidy(() => layer.sharedDecoding(tf.reshape(x, [-1, x.shape[2] as number]) as tf.Tensor2D))
      decoding = (await dz.data()) as Float32Array
      dz.dispose()
    }
    return { values: v, indices: i, rows: v.length / layer.k, k: layer.k, ...(decoding ? { decoding } : {}) }
  } finally {
    for (const t of Object.values(cache)) t.dispose()
  }
}

export interface StreamResult {
  acc: FeatureAccumulator
  /** An MxD layer's per-expert Σ a_n·Dᵀz (its mean contributions: effect.ts expertEffects); null for other kinds. */
  contributions: ContributionSum | null
  /** The indexed tokens, sequence after sequence (sequences × seqLen). */
  tokens: Uint32Array
  sequences: number
  seqLen: number
}

export interface PassHooks {
  cancelled?: () => boolean
  onProgress?: (done: number) => void
}

/** Pass 1: `wanted` sequences of `seqLen` from `sequences`, `batch` at a time. Null when cancelled. */
export async function streamingPass(
  model: LanguageModel,
  layer: SparseLayer,
  block: number,
  sequences: AsyncIterable<Int32Array>,
  o: { wanted: number; seqLen: number; batch: number; seed: number } & PassHooks,
): Promise<StreamResult | null> {
  const acc = new FeatureAccumulator(layer.width, model.vocabSize, o.seed)
  const contributions = layer instanceof MxDLayer ? new ContributionSum(layer.width, layer.size.dOut) : null
  const tokens = new Uint32Array(o.wanted * o.seqLen)
  let taken = 0
  let pending: number[][] = []
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return
    const first = (taken - pending.length) * o.seqLen
    const s = await layerSelections(model, layer, block, pending, { decoding: contributions !== null })
    acc.add(s.values, s.indices, s.rows, s.k, first, tokens.subarray(first, first + s.rows))
    if (contributions) contributions.add(s.values, s.indices, s.rows, s.k, s.decoding!)
    pending = []
    o.onProgress?.(taken * o.seqLen)
    await new Promise((r) => setImmediate(r))
  }
  for await (const seq of sequences) {
    if (o.cancelled?.()) return null
    if (seq.length !== o.seqLen) continue
    tokens.set(seq, taken * o.seqLen)
    pending.push(Array.from(seq))
    taken++
    if (pending.length === o.batch) await flush()
    if (taken === o.wanted) break
  }
  await flush()
  if (o.cancelled?.()) return null
  return { acc, contributions, tokens: tokens.subarray(0, taken * o.seqLen), sequences: taken, seqLen: o.seqLen }
}

/** A kept context with the unit's activations over its ids, sparse: offsets (in ids) where it fired. */
export interface ValuedSample extends Sample {
  firedAt: number[]
  firedValues: number[]
}

export interface UnitContexts {
  top: ValuedSample[]
  bands: { lo: number; hi: number; samples: ValuedSample[] }[]
}

/** The ids of the context at global position `position`: its sequence's start through CONTEXT_AFTER tokens after it. */
export function contextSpan(position: number, seqLen: number): { start: number; end: number } {
  const start = Math.floor(position / seqLen) * seqLen
  return { start, end: Math.min(start + seqLen, position + 1 + CONTEXT_AFTER) }
}

/**
 * The kept contexts of every unit with the unit's activations over each one's ids, in flat
 * arrays (a 21,490-unit layer keeps up to 1.5 M contexts: objects per context would cost hundreds
 * of MB). Context i belongs to unit `unit[i]`; unit u's contexts are first[u]…first[u+1]−1, in
 * the order of summary(u): top contexts, then each band's samples. Its activations are the
 * (offset in ids, value) pairs at pool[start[i] … start[i] + count[i]).
 */
export class ContextValues {
  readonly first: Uint32Array
  readonly unit: number[] = []
  readonly position: number[] = []
  start = new Uint32Array(0)
  count = new Uint32Array(0)
  readonly firedAt: number[] = []
  readonly firedValues: number[] = []

  constructor(width: number) {
    this.first = new Uint32Array(width + 1)
  }

  /** Unit u's contexts as `summary` lists them, each with its activations. */
  unitContexts(u: number, summary: UnitSummary): UnitContexts {
    let i = this.first[u]!
    const valued = (c: Sample): ValuedSample => {
      if (this.position[i] !== c.position) throw new Error(`unit ${u}: context ${i} is at ${this.position[i]}, not ${c.position}`)
      const from = this.start[i]!
      const to = from + this.count[i]!
      i++
      return { ...c, firedAt: this.firedAt.slice(from, to), firedValues: this.firedValues.slice(from, to) }
    }
    return {
      top: summary.top.map(valued),
      bands: summary.bands.map((b) => ({ lo: b.lo, hi: b.hi, samples: b.samples.map(valued) })),
    }
  }
}

/**
 * Pass 2: runs again only the sequences that hold a kept context (summary(u) of every unit: its
 * top contexts and band samples) and records, for each, the unit's activation at every position
 * of its ids. Null when cancelled.
 */
export async function valuesPass(
  model: LanguageModel,
  layer: SparseLayer,
  block: number,
  stream: StreamResult,
  o: { batch: number } & PassHooks,
): Promise<ContextValues | null> {
  const { seqLen, acc } = stream
  const table = new ContextValues(layer.width)
  for (let u = 0; u < layer.width; u++) {
    table.first[u] = table.unit.length
    const s = acc.summary(u)
    for (const c of [...s.top, ...s.bands.flatMap((b) => b.samples)]) {
      table.unit.push(u)
      table.position.push(c.position)
    }
  }
  const n = table.unit.length
  table.first[layer.width] = n
  table.start = new Uint32Array(n)
  table.count = new Uint32Array(n)
  // Contexts in token order, so each batch of sequences serves a run of them.
  const order = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => table.position[a]! - table.position[b]!)
  const sequences: number[] = []
  for (const i of order) {
    const seq = Math.floor(table.position[i]! / seqLen)
    if (sequences.at(-1) !== seq) sequences.push(seq)
  }
  let next = 0
  for (let i = 0; i < sequences.length; i += o.batch) {
    if (o.cancelled?.()) return null
    const seqs = sequences.slice(i, i + o.batch)
    const ids = seqs.map((q) => Array.from(stream.tokens.subarray(q * seqLen, (q + 1) * seqLen)))
    const sel = await layerSelections(model, layer, block, ids)
    const lastSeq = seqs.at(-1)!
    for (; next < n && Math.floor(table.position[order[next]!]! / seqLen) <= lastSeq; next++) {
      const c = order[next]!
      const unit = table.unit[c]!
      const b = seqs.indexOf(Math.floor(table.position[c]! / seqLen))
      const { start, end } = contextSpan(table.position[c]!, seqLen)
      table.start[c] = table.firedAt.length
      for (let p = start; p < end; p++) {
        const row = b * seqLen + (p - start)
        for (let j = 0; j < sel.k; j++) {
          if (sel.indices[row * sel.k + j] === unit && sel.values[row * sel.k + j]! > 0) {
            table.firedAt.push(p - start)
            table.firedValues.push(sel.values[row * sel.k + j]!)
          }
        }
      }
      table.count[c] = table.firedAt.length - table.start[c]!
    }
    o.onProgress?.(Math.min(sequences.length, i + o.batch) * seqLen)
    await new Promise((r) => setImmediate(r))
  }
  return table
}

/** Per token of one sequence, the units that fire there with their activations, highest first. */
export async function activeUnits(model: LanguageModel, layer: SparseLayer, block: number, ids: number[]): Promise<{ unit: number; value: number }[][]> {
  const s = await layerSelections(model, layer, block, [ids])
  return Array.from({ length: s.rows }, (_, r) => {
    const units: { unit: number; value: number }[] = []
    for (let j = 0; j < s.k; j++) if (s.values[r * s.k + j]! > 0) units.push({ unit: s.indices[r * s.k + j]!, value: s.values[r * s.k + j]! })
    return units.sort((a, b) => b.value - a.value || a.unit - b.unit)
  })
}
