// The training / held-out split, by document. A document is held out when a hash of (seed, its
// content) falls below the held-out fraction: the split depends on nothing but the document
// itself, not on reading order, batch size, which files came first or how many workers read,
// and identical documents (common in web crawls) always land on the same side, so held-out
// text is never trained on, not even through a duplicate.
import { createHash } from 'node:crypto'
import type { Document } from './document.js'

export const DEFAULT_HELD_OUT_FRACTION = 0.05
export const DEFAULT_SPLIT_SEED = 0

export type Split = 'train' | 'heldout'

export interface SplitOptions {
  /** Fraction of documents held out, in [0, 1). */
  heldOutFraction?: number
  /** Changes which documents are held out; keep it fixed for a dataset across runs. */
  seed?: number
}

/** A number in [0, 1) fixed by the seed and the document's content. */
export function splitHash(doc: Document, seed: number = DEFAULT_SPLIT_SEED): number {
  const hash = createHash('sha256').update(`mxd-split:${seed}:${doc.kind}:`)
  if (doc.kind === 'text') hash.update(doc.text, 'utf8')
  else hash.update(new Uint8Array(doc.ids.buffer, doc.ids.byteOffset, doc.ids.byteLength))
  const digest = hash.digest()
  // 53 bits: the most a double holds exactly.
  return (digest.readUInt32BE(0) * 2 ** 21 + (digest.readUInt32BE(4) >>> 11)) / 2 ** 53
}

export function splitOf(doc: Document, opts: SplitOptions = {}): Split {
  const fraction = opts.heldOutFraction ?? DEFAULT_HELD_OUT_FRACTION
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`heldOutFraction must be in [0, 1), not ${fraction}`)
  return splitHash(doc, opts.seed) < fraction ? 'heldout' : 'train'
}
