// Documents → fixed-length training sequences, as GPT-2 pre-training does: tokenize each
// document, append EOS, concatenate everything into one stream and cut it into sequences of
// exactly ctx tokens (no padding; the final partial sequence is dropped). With addBos every
// sequence starts with BOS and holds ctx - 1 stream tokens, which activation harvesting wants
// because models behave oddly at position 0 without it.
import type { Document } from './document.js'
import { shuffleBuffer, type ShuffleOptions } from './shuffle.js'
import { splitOf, type Split, type SplitOptions } from './split.js'

/** What the packer needs of a tokenizer (src/engine/tokenizer.ts's TextTokenizer has it). */
export interface PackTokenizer {
  readonly bosId: number | null
  readonly eosId: number | null
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[]
}

export interface StreamOptions extends SplitOptions {
  /** Which documents: the training part, the held-out part, or all of them. */
  split: Split | 'all'
  /** The separator after each document; default the tokenizer's EOS. Null: none. */
  eosId?: number | null
}

export interface PackOptions extends StreamOptions {
  /** Tokens per sequence. */
  ctx: number
  /** Start each sequence with BOS, where there is one (the tokenizer's, or bosId). */
  addBos?: boolean
  bosId?: number | null
  /**
   * Shuffle the sequences within a bounded buffer. Its seed is separate from the split's seed
   * on purpose: a new shuffle per epoch or run must never move documents across the split.
   */
  shuffle?: ShuffleOptions
}

type Docs = AsyncIterable<Document> | Iterable<Document>

/** Each selected document's ids followed by the separator: the stream the packer cuts. */
export async function* tokenStream(docs: Docs, tokenizer: PackTokenizer | null, opts: StreamOptions): AsyncGenerator<Int32Array> {
  const eos = opts.eosId !== undefined ? opts.eosId : (tokenizer?.eosId ?? null)
  const extra = eos === null ? 0 : 1
  for await (const doc of docs) {
    if (opts.split !== 'all' && splitOf(doc, opts) !== opts.split) continue
    let ids: ArrayLike<number>
    if (doc.kind === 'tokens') ids = doc.ids
    else if (tokenizer) ids = tokenizer.encode(doc.text, { addSpecialTokens: false })
    else throw new Error(`${doc.file} line ${doc.line} is text, but no tokenizer was given to tokenize it.`)
    const out = new Int32Array(ids.length + extra)
    out.set(ids)
    if (eos !== null) out[ids.length] = eos
    yield out
  }
}

export async function* packSequences(docs: Docs, tokenizer: PackTokenizer | null, opts: PackOptions): AsyncGenerator<Int32Array> {
  const sequences = packInOrder(docs, tokenizer, opts)
  yield* opts.shuffle ? shuffleBuffer(sequences, opts.shuffle) : sequences
}

async function* packInOrder(docs: Docs, tokenizer: PackTokenizer | null, opts: PackOptions): AsyncGenerator<Int32Array> {
  const { bos, body } = layout(tokenizer, opts)
  let seq = newSequence(opts.ctx, bos)
  let filled = 0
  for await (const ids of tokenStream(docs, tokenizer, opts)) {
    let from = 0
    while (from < ids.length) {
      const n = Math.min(body - filled, ids.length - from)
      seq.set(ids.subarray(from, from + n), opts.ctx - body + filled)
      filled += n
      from += n
      if (filled === body) {
        yield seq
        seq = newSequence(opts.ctx, bos)
        filled = 0
      }
    }
  }
}

export interface TokenCount {
  documents: number
  /** Tokens in the stream, separators included. */
  tokens: number
  /** Full sequences packSequences yields with the same options. */
  sequences: number
}

export async function countTokens(docs: Docs, tokenizer: PackTokenizer | null, opts: Omit<PackOptions, 'shuffle'>): Promise<TokenCount> {
  const { body } = layout(tokenizer, opts)
  let documents = 0
  let tokens = 0
  for await (const ids of tokenStream(docs, tokenizer, opts)) {
    documents++
    tokens += ids.length
  }
  return { documents, tokens, sequences: Math.floor(tokens / body) }
}

/** The BOS id to put first (or null) and how many stream tokens each sequence holds. */
function layout(tokenizer: PackTokenizer | null, opts: PackOptions): { bos: number | null; body: number } {
  const bos = opts.addBos ? (opts.bosId !== undefined ? opts.bosId : (tokenizer?.bosId ?? null)) : null
  const body = opts.ctx - (bos === null ? 0 : 1)
  if (!Number.isInteger(opts.ctx) || body < 1)
    throw new RangeError(`ctx must be a whole number of at least ${bos === null ? 1 : 2}, not ${opts.ctx}`)
  return { bos, body }
}

function newSequence(ctx: number, bos: number | null): Int32Array {
  const seq = new Int32Array(ctx)
  if (bos !== null) seq[0] = bos
  return seq
}
