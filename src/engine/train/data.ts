// Training and held-out sequences for pre-training, from a dataset on disk: the documents the
// data module reads, its seeded by-document split (held-out text is never trained on), and its
// packer (EOS between documents, fixed-length sequences). Sequences are ctx + 1 tokens long so
// that every one of the ctx input positions has its next token as a target.
import { packSequences, type PackTokenizer } from '../../data/pack.js'
import { readDocuments } from '../../data/read.js'
import { DEFAULT_HELD_OUT_FRACTION, DEFAULT_SPLIT_SEED } from '../../data/split.js'

export interface PretrainDataOptions {
  ctx: number
  heldOutFraction?: number
  splitSeed?: number
  /** Stop packing training sequences after this many (the token budget needs no more). */
  maxTrainSequences?: number
  /** Held-out sequences used for the held-out loss (the first ones, in file order). */
  maxHeldoutSequences?: number
}

export interface PretrainData {
  train: Int32Array[]
  heldout: Int32Array[]
}

export async function loadPretrainData(path: string, tokenizer: PackTokenizer, o: PretrainDataOptions): Promise<PretrainData> {
  const split = { heldOutFraction: o.heldOutFraction ?? DEFAULT_HELD_OUT_FRACTION, seed: o.splitSeed ?? DEFAULT_SPLIT_SEED }
  const take = async (part: 'train' | 'heldout', max: number): Promise<Int32Array[]> => {
    const out: Int32Array[] = []
    if (max <= 0) return out
    for await (const seq of packSequences(readDocuments(path), tokenizer, { ...split, split: part, ctx: o.ctx + 1 })) {
      out.push(seq)
      if (out.length >= max) break
    }
    return out
  }
  return {
    train: await take('train', o.maxTrainSequences ?? Infinity),
    heldout: await take('heldout', o.maxHeldoutSequences ?? 64),
  }
}

/**
 * Unigram entropy (nats/token) of a token stream: the loss of the best model that ignores
 * context, fitted on the very data it is scored on; a context-using model must beat it.
 */
export function unigramEntropy(sequences: readonly Int32Array[]): number {
  const counts = new Map<number, number>()
  let n = 0
  for (const s of sequences) {
    for (const id of s) counts.set(id, (counts.get(id) ?? 0) + 1)
    n += s.length
  }
  let h = 0
  for (const c of counts.values()) h -= (c / n) * Math.log(c / n)
  return h
}
