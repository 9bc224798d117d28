// The shipped demo model, as a user meets it: it loads in the engine, predicts held-out text far
// better than the unigram baseline its README states, and writes English from a prompt.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { generate } from '../../src/engine/generate.js'
import { loadLanguageModel } from '../../src/engine/models/load.js'
import { TextTokenizer } from '../../src/engine/tokenizer.js'
import { repoRoot } from '../helpers/web-process.js'

const dir = join(repoRoot, 'resources/models/kjv-gpt2-mini')
const corpus = join(repoRoot, 'resources/corpus/kjv')

/** Mean next-token cross-entropy (nats) over `ids`, computed from the logits in plain JS. */
function crossEntropy(logits: Float32Array, vocab: number, ids: number[]): number {
  let total = 0
  for (let t = 0; t + 1 < ids.length; t++) {
    const row = logits.subarray(t * vocab, (t + 1) * vocab)
    let max = -Infinity
    for (const v of row) max = Math.max(max, v)
    let sum = 0
    for (const v of row) sum += Math.exp(v - max)
    total += max + Math.log(sum) - row[ids[t + 1]!]!
  }
  return total / (ids.length - 1)
}

describe('demo model kjv-gpt2-mini', () => {
  it('beats its stated unigram baseline on held-out chapters by far', async () => {
    const readme = readFileSync(join(dir, 'README.md'), 'utf8')
    const unigram = Number(/Unigram-entropy baseline[^*]*\*\*([\d.]+)/.exec(readme)?.[1])
    expect(unigram).toBeGreaterThan(5)
    const tokenizer = TextTokenizer.fromFolder(dir)!
    const model = await loadLanguageModel(dir)
    try {
      const text = readFileSync(join(corpus, 'heldout.txt'), 'utf8')
      const ids = tokenizer.encode(text).slice(0, 4 * 128)
      let ce = 0
      for (let s = 0; s < 4; s++) {
        const seq = ids.slice(s * 128, (s + 1) * 128)
        const { logits } = model.forward([seq])
        ce += crossEntropy(logits!.dataSync() as Float32Array, model.vocabSize, seq) / 4
        logits!.dispose()
      }
      expect(ce).toBeLessThan(unigram - 1) // README: 4.075 against 5.925
    } finally {
      model.dispose()
    }
  })

  it('writes English: sampled words are words of the King James Bible', async () => {
    const tokenizer = TextTokenizer.fromFolder(dir)!
    const model = await loadLanguageModel(dir)
    try {
      const prompt = 'And God said'
      const out = await generate(model, tokenizer.encode(prompt), { maxNewTokens: 80, temperature: 0.8, topK: 40, seed: 3, tokenizer })
      const words = (out.text ?? '').match(/[A-Za-z]+/g) ?? []
      expect(words.length).toBeGreaterThan(20)
      const vocabulary = new Set(readFileSync(join(corpus, 'train.txt'), 'utf8').match(/[A-Za-z]+/g))
      const known = words.filter((w) => vocabulary.has(w)).length / words.length
      expect(known).toBeGreaterThan(0.9)
    } finally {
      model.dispose()
    }
  })
})
