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
import type { SparseLayer } from '../../engine/layers/sparse-layer.js'
import type { LanguageModel } from '../../engine/models/model.js'
import { FeatureAccumulator, type Sample, type UnitSummary } from './accumulator.js'

/** Tokens after the ranked one that a context shows. */
export const CONTEXT_AFTER = 4

export interface Selections {
  values: Float32Array
  indices: Int32Array
  rows: number
  k: number
}

/** The layer's K selected values and units at every token of `ids` (equal-length sequences), row-major. */
export async function layerSelections(model: LanguageModel, layer: SparseLayer, block: number, ids: number[][]): Promise<Selections> {
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
    return { values: v, indices: i, rows: v.length / layer.k, k: layer.k }
  } finally {
    for (const t of Object.values(cache)) t.dispose()
  }
}

export interface StreamResult {
  acc: FeatureAccumulator
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
  const tokens = new Uint32Array(o.wanted * o.seqLen)
  let taken = 0
  let pending: number[][] = []
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return
    const first = (taken - pending.length) * o.seqLen
    const s = await layerSelections(model, layer, block, pending)
    acc.add(s.values, s.indices, s.rows, s.k, first, tokens.subarray(first, first + s.rows))
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
  return { acc, tokens: tokens.subarray(0, taken * o.seqLen), sequences: taken, seqLen: o.seqLen }
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
 * Pass 2: runs again only the sequences that hold a kept context and fills in, for each, the
 * unit's activation at every position of its ids. `summaries` is consumed unit by unit via
 * `summary(u)`; returns per unit its contexts, or null when cancelled.
 */
export async function valuesPass(
  model: LanguageModel,
  layer: SparseLayer,
  block: number,
  stream: StreamResult,
  summaries: readonly UnitSummary[],
  o: { batch: number } & PassHooks,
): Promise<UnitContexts[] | null> {
  const { seqLen } = stream
  const valued = (s: Sample): ValuedSample => ({ ...s, firedAt: [], firedValues: [] })
  const out: UnitContexts[] = summaries.map((s) => ({
    top: s.top.map(valued),
    bands: s.bands.map((b) => ({ lo: b.lo, hi: b.hi, samples: b.samples.map(valued) })),
  }))
  // Which (unit, context) pairs each sequence serves.
  const bySequence = new Map<number, { unit: number; c: ValuedSample }[]>()
  out.forEach((u, unit) => {
    for (const c of [...u.top, ...u.bands.flatMap((b) => b.samples)]) {
      const seq = Math.floor(c.position / seqLen)
      let list = bySequence.get(seq)
      if (!list) bySequence.set(seq, (list = []))
      list.push({ unit, c })
    }
  })
  const order = [...bySequence.keys()].sort((a, b) => a - b)
  for (let i = 0; i < order.length; i += o.batch) {
    if (o.cancelled?.()) return null
    const seqs = order.slice(i, i + o.batch)
    const ids = seqs.map((s) => Array.from(stream.tokens.subarray(s * seqLen, (s + 1) * seqLen)))
    const sel = await layerSelections(model, layer, block, ids)
    seqs.forEach((seq, b) => {
      for (const { unit, c } of bySequence.get(seq)!) {
        const { start, end } = contextSpan(c.position, seqLen)
        for (let p = start; p < end; p++) {
          const row = b * seqLen + (p - start)
          for (let j = 0; j < sel.k; j++) {
            if (sel.indices[row * sel.k + j] === unit && sel.values[row * sel.k + j]! > 0) {
              c.firedAt.push(p - start)
              c.firedValues.push(sel.values[row * sel.k + j]!)
            }
          }
        }
      }
    })
    o.onProgress?.(Math.min(order.length, i + o.batch) * seqLen)
    await new Promise((r) => setImmediate(r))
  }
  return out
}
