import { describe, expect, it } from 'vitest'
import type { Document } from '../../../src/data/document.js'
import { countTokens, packSequences, type PackOptions, type PackTokenizer } from '../../../src/data/pack.js'
import { Rng, shuffleBuffer } from '../../../src/data/shuffle.js'
import { splitOf } from '../../../src/data/split.js'
import { TextTokenizer } from '../../../src/engine/tokenizer.js'
import { fixture, GPT2, readAll, textDoc } from './helpers.js'

const gpt2 = TextTokenizer.fromFolder(GPT2)!
const EOT = 50256

async function pack(docs: Document[], tokenizer: PackTokenizer | null, opts: PackOptions): Promise<number[][]> {
  const out: number[][] = []
  for await (const seq of packSequences(docs, tokenizer, opts)) {
    expect(seq).toBeInstanceOf(Int32Array)
    expect(seq.length).toBe(opts.ctx)
    out.push([...seq])
  }
  return out
}

// GPT-2 ids: "Hello world" = 15496 995, "The cat sat." = 464 3797 3332 13, "Hi" = 17250.
const docs = ['Hello world', 'The cat sat.', 'Hi'].map((t) => textDoc(t))

describe('packSequences', () => {
  it('packs the token stream with EOS after each document into sequences of exactly ctx', async () => {
    // Stream: 15496 995 EOT | 464 3797 3332 13 EOT | 17250 EOT — the last 2 tokens do not fill a sequence.
    expect(await pack(docs, gpt2, { ctx: 4, split: 'all' })).toEqual([
      [15496, 995, EOT, 464],
      [3797, 3332, 13, EOT],
    ])
    expect(await countTokens(docs, gpt2, { ctx: 4, split: 'all' })).toEqual({ documents: 3, tokens: 10, sequences: 2 })
  })

  it('with addBos starts every sequence with BOS and fills ctx - 1 from the stream', async () => {
    expect(await pack(docs, gpt2, { ctx: 4, split: 'all', addBos: true })).toEqual([
      [EOT, 15496, 995, EOT],
      [EOT, 464, 3797, 3332],
      [EOT, 13, EOT, 17250],
    ])
    expect((await countTokens(docs, gpt2, { ctx: 4, split: 'all', addBos: true })).sequences).toBe(3)
    // A tokenizer without BOS: no BOS, as if addBos were false.
    const noBos: PackTokenizer = { bosId: null, eosId: EOT, encode: (t, o) => gpt2.encode(t, o) }
    expect(await pack(docs, noBos, { ctx: 4, split: 'all', addBos: true })).toEqual(await pack(docs, gpt2, { ctx: 4, split: 'all' }))
  })

  it('a document longer than ctx spans several sequences', async () => {
    const long = textDoc('One two three four five') // 3198 734 1115 1440 1936
    expect(await pack([long], gpt2, { ctx: 2, split: 'all' })).toEqual([
      [3198, 734],
      [1115, 1440],
      [1936, EOT],
    ])
  })

  it('packs pre-tokenized documents without a tokenizer, with the EOS given', async () => {
    const tokenDocs = await readAll(fixture('tokens.jsonl'))
    expect(await pack(tokenDocs, null, { ctx: 3, split: 'all', eosId: 9 })).toEqual([
      [464, 3290, 13],
      [9, 50256, 0],
    ])
    await expect(pack(docs, null, { ctx: 3, split: 'all' })).rejects.toThrow(/is text, but no tokenizer was given/)
  })

  it('train and held-out sequences come from disjoint documents', async () => {
    const corpus = Array.from({ length: 200 }, (_, i) => textDoc(`Doc ${i}`))
    const opts = { seed: 4, heldOutFraction: 0.2 }
    const held = corpus.filter((d) => splitOf(d, opts) === 'heldout')
    const train = corpus.filter((d) => splitOf(d, opts) === 'train')
    const counts = {
      held: await countTokens(corpus, gpt2, { ctx: 8, split: 'heldout', ...opts }),
      train: await countTokens(corpus, gpt2, { ctx: 8, split: 'train', ...opts }),
    }
    expect(counts.held.documents).toBe(held.length)
    expect(counts.train.documents).toBe(train.length)
    expect(await pack(corpus, gpt2, { ctx: 8, split: 'heldout', ...opts })).toEqual(await pack(held, gpt2, { ctx: 8, split: 'all' }))
    expect(await pack(corpus, gpt2, { ctx: 8, split: 'train', ...opts })).toEqual(await pack(train, gpt2, { ctx: 8, split: 'all' }))
  })

  it('shuffles sequences deterministically for a seed, as a permutation', async () => {
    const corpus = Array.from({ length: 100 }, (_, i) => textDoc(`Doc ${i}`))
    const plain = await pack(corpus, gpt2, { ctx: 4, split: 'all' })
    const a = await pack(corpus, gpt2, { ctx: 4, split: 'all', shuffle: { seed: 1, bufferSize: 16 } })
    const again = await pack(corpus, gpt2, { ctx: 4, split: 'all', shuffle: { seed: 1, bufferSize: 16 } })
    const b = await pack(corpus, gpt2, { ctx: 4, split: 'all', shuffle: { seed: 2, bufferSize: 16 } })
    expect(a).toEqual(again)
    expect(a).not.toEqual(plain)
    expect(a).not.toEqual(b)
    const key = (s: number[]): string => s.join(',')
    expect(a.map(key).sort()).toEqual(plain.map(key).sort())
  })

  it('refuses a ctx too small to hold a token', async () => {
    await expect(pack(docs, gpt2, { ctx: 1, split: 'all', addBos: true })).rejects.toThrow(RangeError)
  })
})

describe('shuffleBuffer', () => {
  it('holds at most bufferSize items: an item is never emitted before bufferSize more have arrived', async () => {
    let arrived = 0
    function* source(): Generator<number> {
      for (let i = 0; i < 1000; i++) {
        arrived = i + 1
        yield i
      }
    }
    const seen: number[] = []
    for await (const x of shuffleBuffer(source(), { seed: 5, bufferSize: 10 })) {
      if (arrived < 1000) expect(arrived - seen.length).toBeLessThanOrEqual(11)
      seen.push(x)
    }
    expect([...seen].sort((p, q) => p - q)).toEqual(Array.from({ length: 1000 }, (_, i) => i))
  })

  it('Rng is fixed by its seed', () => {
    const a = new Rng(42)
    const b = new Rng(42)
    const xs = Array.from({ length: 5 }, () => a.nextUint32())
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xs)
    expect(new Rng(43).nextUint32()).not.toBe(xs[0])
    expect(Array.from({ length: 1000 }, () => a.next()).every((x) => x >= 0 && x < 1)).toBe(true)
  })
})
