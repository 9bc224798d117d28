// Mean-pooled codes of a sparse layer over each text's content positions, kept sparse. Each text
// is tokenized after BOS (as the feature index's sequences are), cut to the model's context, and
// run with the layer at its block through the feature index's own reader (layerSelections: the
// model through block L's ln2, the layer's TopK there). A batch is right-padded to its longest
// text: the model is causal, so padding after a text changes none of its positions, and the
// padded positions are simply not read. The pooled value of unit u is the sum of its post-TopK
// code over the text's content positions (every position but BOS and padding) divided by their
// count; units that never fired on the text are absent (never examples × width dense).
import { layerSelections } from '../features/pass.js'
import type { SparseLayer } from '../../engine/layers/sparse-layer.js'
import type { LanguageModel } from '../../engine/models/model.js'

/** One example's pooled codes: the units that fired (ascending) and their mean codes. */
export interface PooledCodes {
  units: Int32Array
  values: Float64Array
}

export interface TokenizedText {
  /** The sequence as run: BOS (when the tokenizer has one) and the text's tokens. */
  ids: number[]
  /** Index in ids of the first content position (1 after a BOS, else 0). */
  first: number
}

/** `ids` as the pooling runs them: BOS first when there is one, cut to `maxPositions`. */
export function sequenceOf(tokens: number[], bosId: number | null, maxPositions: number): TokenizedText & { truncated: boolean } {
  const ids = bosId === null ? tokens.slice() : [bosId, ...tokens]
  return { ids: ids.slice(0, maxPositions), first: bosId === null ? 0 : 1, truncated: ids.length > maxPositions }
}

/**
 * Pools the codes of one batch's rows. `values`/`indices` are the layer's K selections per
 * position, row-major over (text, position) with `seqLen` positions per text; text t's content is
 * positions first…length−1.
 */
export function poolRows(
  sel: { values: Float32Array; indices: Int32Array; k: number },
  texts: { first: number; length: number }[],
  seqLen: number,
): PooledCodes[] {
  return texts.map((t, b) => {
    const sums = new Map<number, number>()
    const n = t.length - t.first
    for (let p = t.first; p < t.length; p++) {
      const row = b * seqLen + p
      for (let j = 0; j < sel.k; j++) {
        const v = sel.values[row * sel.k + j]!
        if (v === 0) continue
        const u = sel.indices[row * sel.k + j]!
        sums.set(u, (sums.get(u) ?? 0) + v)
      }
    }
    const units = Int32Array.from(sums.keys()).sort()
    return { units, values: Float64Array.from(units, (u) => sums.get(u)! / n) }
  })
}

/**
 * The pooled codes of every text, `batch` texts per forward pass (each text must have at least
 * one content position). Null when cancelled.
 */
export async function pooledCodes(
  model: LanguageModel,
  layer: SparseLayer,
  block: number,
  texts: TokenizedText[],
  o: { batch: number; padId: number; cancelled?: () => boolean; onProgress?: (done: number) => void },
): Promise<PooledCodes[] | null> {
  const out: PooledCodes[] = []
  for (let i = 0; i < texts.length; i += o.batch) {
    if (o.cancelled?.()) return null
    const chunk = texts.slice(i, i + o.batch)
    const seqLen = Math.max(...chunk.map((t) => t.ids.length))
    const ids = chunk.map((t) => [...t.ids, ...new Array<number>(seqLen - t.ids.length).fill(o.padId)])
    const sel = await layerSelections(model, layer, block, ids)
    out.push(...poolRows(sel, chunk.map((t) => ({ first: t.first, length: t.ids.length })), seqLen))
    o.onProgress?.(out.length)
    // Lets the worker see a cancel between batches.
    await new Promise((r) => setImmediate(r))
  }
  return out
}
