// The corpus tokenizer trainer, and the trainer's guard against a non-finite loss.
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { TextTokenizer } from '../../../src/engine/tokenizer.js'
import { bpeTokenizerJson, gpt2TokenizerConfig, trainBpe } from '../../../src/engine/train/bpe.js'
import { unigramEntropy } from '../../../src/engine/train/data.js'
import { TrainableGpt2 } from '../../../src/engine/train/gpt2.js'
import { NonFiniteLossError, Pretrainer } from '../../../src/engine/train/trainer.js'

beforeAll(async () => {
  await initBackend()
})

const corpus = [
  'In the beginning God created the heaven and the earth.',
  'And the earth was without form, and void; and darkness was upon the face of the deep.',
  "And God said, Let there be light: and there was light. Isn't it 1611?",
]

describe('byte-level BPE trainer', () => {
  it('learns frequent merges and makes a tokenizer.json that round-trips any text', () => {
    const bpe = trainBpe(corpus, { vocabSize: 280, specialTokens: ['<|endoftext|>'] })
    expect(bpe.vocab.size).toBe(280)
    expect(bpe.vocab.get('<|endoftext|>')).toBe(279)
    // "Ġthe"-style merges exist for the most frequent word (Ġ is the byte-level space).
    expect(bpe.vocab.has('Ġthe')).toBe(true)
    const tok = TextTokenizer.fromJson(bpeTokenizerJson(bpe, ['<|endoftext|>']), gpt2TokenizerConfig('<|endoftext|>', 64))
    expect(tok.vocabSize).toBe(280)
    expect(tok.eosId).toBe(279)
    for (const text of [...corpus, 'Unseen wörds, ümlauts and emoji 🙂 still round-trip.']) {
      const ids = tok.encode(text, { addSpecialTokens: false })
      expect(tok.decode(ids)).toBe(text)
    }
    // Merges shorten the training text well below one token per byte.
    const ids = tok.encode(corpus.join(' '), { addSpecialTokens: false })
    expect(ids.length).toBeLessThan(corpus.join(' ').length * 0.7)
  })

  it('computes the unigram entropy by hand', () => {
    // p = (1/2, 1/4, 1/4): H = ½ ln 2 + 2·¼ ln 4 = 1.5 ln 2
    expect(unigramEntropy([Int32Array.of(1, 1, 2, 3)])).toBeCloseTo(1.5 * Math.log(2), 12)
  })
})

describe('trainer guard', () => {
  it('stops on a NaN loss without touching the weights', () => {
    const model = new TrainableGpt2({ vocabSize: 20, nPositions: 8, nLayer: 1, nHead: 2, nEmbd: 8, layerNormEps: 1e-5, mlp: { kind: 'dense' } }, 1)
    const seqs = Array.from({ length: 4 }, (_, i) => Int32Array.from({ length: 9 }, (_, t) => (i + t) % 20))
    const trainer = new Pretrainer(model, seqs, [], { batch: 2, lr: 1e-3, minLrRatio: 0.1, warmupSteps: 0, totalSteps: 4, weightDecay: 0.1, betas: [0.9, 0.95], gradClip: 1, seed: 0 })
    const wpe = model.params['transformer.wpe.weight']!
    wpe.assign(tf.fill(wpe.shape, NaN))
    const before = model.params['transformer.h.0.attn.c_attn.weight']!.dataSync().slice()
    expect(() => trainer.trainStep()).toThrow(NonFiniteLossError)
    expect(trainer.step).toBe(0)
    expect(model.params['transformer.h.0.attn.c_attn.weight']!.dataSync()).toEqual(before)
    trainer.dispose()
    model.dispose()
  })
})
