import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { createRng, generate, generateTokens, Sampler, topProbabilities, type GeneratedToken } from '../../../src/engine/generate.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import { KVCache, type LanguageModel } from '../../../src/engine/models/model.js'
import { TextTokenizer } from '../../../src/engine/tokenizer.js'

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'models')
const PROMPT = [11, 42, 7, 199, 3]

beforeAll(async () => {
  await initBackend()
})

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number)
}

/** Greedy continuation without any cache: a full forward per step. */
function greedyWithoutCache(model: LanguageModel, prompt: number[], steps: number): number[] {
  const ids = [...prompt]
  for (let i = 0; i < steps; i++) {
    const { logits } = model.forward([ids])
    const last = tf.tidy(() => tf.argMax(tf.squeeze(tf.slice(logits!, [0, ids.length - 1], [1, 1]))).dataSync()[0] as number)
    logits!.dispose()
    ids.push(last)
  }
  return ids.slice(prompt.length)
}

describe.each(['gpt2-tiny-f32', 'neox-tiny-f32', 'neox-tiny-sequential-f32', 'llama-tiny-f32', 'llama-tiny-tied-f32'])(
  'KV cache, %s',
  (folder) => {
    let model: LanguageModel
    beforeAll(async () => {
      model = await loadLanguageModel(join(FIXTURES, folder))
    })
    afterAll(() => model.dispose())

    it('token-by-token cached logits equal the full forward at every position', () => {
      const ids = [...PROMPT, 250, 17, 88, 1]
      const { logits: full } = model.forward([ids])
      const cache = new KVCache()
      // Prompt in one go, then one token at a time.
      const steps = [ids.slice(0, 3), ...ids.slice(3).map((id) => [id])]
      let pos = 0
      for (const chunk of steps) {
        const { logits } = model.forward([chunk], { kvCache: cache })
        const expected = tf.slice(full!, [0, pos], [1, chunk.length])
        expect(maxAbsDiff(logits!, expected)).toBeLessThan(1e-5)
        tf.dispose([logits!, expected])
        pos += chunk.length
      }
      expect(cache.length).toBe(ids.length)
      cache.dispose()
      full!.dispose()
    })

    it('a left-padded batch continues correctly from the cache', () => {
      const a = [5, 6, 7, 8, 9]
      const b = [0, 0, 21, 22, 23]
      const mask = [
        [1, 1, 1, 1, 1],
        [0, 0, 1, 1, 1],
      ]
      const cache = new KVCache()
      tf.dispose(model.forward([a, b], { attentionMask: mask, kvCache: cache }).logits!)
      const { logits: step } = model.forward([[30], [31]], { kvCache: cache })
      const { logits: fullA } = model.forward([[...a, 30]])
      const { logits: fullB } = model.forward([[21, 22, 23, 31]])
      const [stepA, stepB] = tf.split(step!, 2, 0) as [tf.Tensor, tf.Tensor]
      const lastA = tf.slice(fullA!, [0, 5], [1, 1])
      const lastB = tf.slice(fullB!, [0, 3], [1, 1])
      expect(maxAbsDiff(stepA, lastA)).toBeLessThan(1e-5)
      expect(maxAbsDiff(stepB, lastB)).toBeLessThan(1e-5)
      tf.dispose([step!, fullA!, fullB!, stepA, stepB, lastA, lastB])
      cache.dispose()
    })

    it('greedy generation equals argmax of full forwards, and is deterministic', async () => {
      const first = await generate(model, PROMPT, { maxNewTokens: 8, stopIds: [] })
      const second = await generate(model, PROMPT, { maxNewTokens: 8, stopIds: [] })
      expect(first.ids).toEqual(greedyWithoutCache(model, PROMPT, 8))
      expect(second.ids).toEqual(first.ids)
      expect(first.stopReason).toBe('max_tokens')
    })
  },
)

describe('sampling', () => {
  let model: LanguageModel
  beforeAll(async () => {
    model = await loadLanguageModel(join(FIXTURES, 'llama-tiny-f32'))
  })
  afterAll(() => model.dispose())

  const sample = { maxNewTokens: 12, temperature: 1.5, stopIds: [] }

  it('the same seed gives the same sample, another seed another', async () => {
    const a = await generate(model, PROMPT, { ...sample, seed: 7 })
    const b = await generate(model, PROMPT, { ...sample, seed: 7 })
    const c = await generate(model, PROMPT, { ...sample, seed: 8 })
    expect(b.ids).toEqual(a.ids)
    expect(c.ids).not.toEqual(a.ids)
    expect(a.seed).toBe(7)
  })

  it('top-k = 1 is greedy whatever the temperature and seed', async () => {
    const greedy = await generate(model, PROMPT, { maxNewTokens: 10, stopIds: [] })
    const topK1 = await generate(model, PROMPT, { maxNewTokens: 10, stopIds: [], temperature: 5, topK: 1, seed: 3 })
    expect(topK1.ids).toEqual(greedy.ids)
  })

  it('a tiny top-p is greedy too', async () => {
    const greedy = await generate(model, PROMPT, { maxNewTokens: 10, stopIds: [] })
    const nucleus = await generate(model, PROMPT, { maxNewTokens: 10, stopIds: [], temperature: 1, topP: 1e-6, seed: 3 })
    expect(nucleus.ids).toEqual(greedy.ids)
  })

  it('stops at an EOS token', async () => {
    const greedy = await generate(model, PROMPT, { maxNewTokens: 10, stopIds: [] })
    const stopAt = greedy.ids[3]!
    const firstIndex = greedy.ids.indexOf(stopAt)
    const stopped = await generate(model, PROMPT, { maxNewTokens: 10, stopIds: [stopAt] })
    expect(stopped.ids).toEqual(greedy.ids.slice(0, firstIndex + 1))
    expect(stopped.stopReason).toBe('eos')
  })

  it('uses the model EOS ids by default', async () => {
    const eos = model.dims.eosIds
    expect(eos).toEqual([2])
    const result = await generate(model, PROMPT, { maxNewTokens: 3 })
    expect(result.ids.slice(0, -1)).not.toContain(2)
  })

  it('stops when the context is full', async () => {
    const long = Array.from({ length: model.dims.maxPositions - 2 }, (_, i) => (i % 250) + 3)
    const result = await generate(model, long, { maxNewTokens: 10, stopIds: [] })
    expect(result.ids).toHaveLength(2)
    expect(result.stopReason).toBe('context_full')
  })

  it('streams tokens and frees its cache when the consumer stops early', async () => {
    const before = tf.memory().numTensors
    const seen: number[] = []
    for await (const token of generateTokens(model, PROMPT, { maxNewTokens: 50, stopIds: [] })) {
      seen.push(token.id)
      if (seen.length === 3) break
    }
    expect(seen).toHaveLength(3)
    expect(tf.memory().numTensors).toBe(before)
  })

  it('honours an abort signal', async () => {
    const controller = new AbortController()
    const result = await generate(model, PROMPT, {
      maxNewTokens: 50,
      stopIds: [],
      signal: controller.signal,
      onToken: (t) => {
        if (t.index === 1) controller.abort()
      },
    })
    expect(result.ids).toHaveLength(2)
    expect(result.stopReason).toBe('aborted')
  })
})

describe('Sampler', () => {
  const logits = Float32Array.from([1, 3, 2, 3, 0])

  it('greedy picks the first maximum', () => {
    expect(new Sampler({}, 1).pick(logits)).toBe(1)
  })

  it('frequency penalty lowers tokens already generated', () => {
    const sampler = new Sampler({ frequencyPenalty: 1.5 }, 1)
    expect([sampler.pick(logits), sampler.pick(logits), sampler.pick(logits)]).toEqual([1, 3, 2])
  })

  it('samples in proportion to softmax(logits / T)', () => {
    const sampler = new Sampler({ temperature: 2 }, 123)
    const counts = new Array(5).fill(0) as number[]
    const n = 20000
    for (let i = 0; i < n; i++) counts[sampler.pick(logits)]!++
    const z = Array.from(logits).reduce((a, l) => a + Math.exp(l / 2), 0)
    counts.forEach((c, id) => expect(Math.abs(c / n - Math.exp(logits[id]! / 2) / z)).toBeLessThan(0.015))
  })

  it('top-k restricts sampling to the k best', () => {
    for (let seed = 0; seed < 200; seed++) expect([1, 3]).toContain(new Sampler({ temperature: 10, topK: 2 }, seed).pick(logits))
  })

  it('topProbabilities lists the n most likely tokens under softmax, best first', () => {
    const z = Array.from(logits).reduce((a, l) => a + Math.exp(l), 0)
    const top = topProbabilities(logits, 3)
    expect(top.map((t) => t.id)).toEqual([1, 3, 2])
    expect(top[0]!.prob).toBeCloseTo(Math.exp(3) / z, 6)
    expect(top[2]!.prob).toBeCloseTo(Math.exp(2) / z, 6)
  })

  it('the PRNG is reproducible and roughly uniform', () => {
    const a = createRng(42)
    const b = createRng(42)
    const xs = Array.from({ length: 10000 }, () => a())
    expect(Array.from({ length: 10000 }, () => b())).toEqual(xs)
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01)
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...xs)).toBeLessThan(1)
  })
})

describe('text pieces', () => {
  it('streams text pieces whose concatenation is the decoded completion (GPT-2 tokenizer)', async () => {
    const dir = join(FIXTURES, 'gpt2-tiny-f32')
    const tokenizer = TextTokenizer.fromFolder(dir)
    expect(tokenizer).not.toBeNull()
    const model = await loadLanguageModel(dir)
    // The fixture's 300-token vocabulary is the tokenizer's first 300 ids (bytes and early merges),
    // so every generated id decodes; the prompt is chosen to stay within it.
    const prompt = tokenizer!.encode('x=1')
    expect(Math.max(...prompt)).toBeLessThan(model.vocabSize)
    const pieces: GeneratedToken[] = []
    const result = await generate(model, prompt, { maxNewTokens: 12, stopIds: [], tokenizer, onToken: (t) => pieces.push(t) })
    expect(pieces.map((p) => p.id)).toEqual(result.ids)
    expect(pieces.map((p) => p.text).join('')).toBe(result.text)
    expect(result.text).toBe(tokenizer!.decode(result.ids))
    model.dispose()
  })

  it('holds back a piece until a split multi-byte character is complete', async () => {
    // A byte-level decoder (each id one UTF-8 byte) and a stand-in model whose logits force the
    // three bytes of "€" and then "A".
    const decoder = { decode: (ids: number[]) => Buffer.from(ids).toString('utf8') }
    const forcedIds = [0xe2, 0x82, 0xac, 0x41]
    const vocabSize = 256
    let step = 0
    const forced = {
      dims: { maxPositions: 64, eosIds: [] },
      forward: () => {
        const logits = tf.tidy(() => tf.mul(tf.reshape(tf.oneHot([forcedIds[step++]!], vocabSize), [1, 1, vocabSize]), 100))
        return { logits: logits as tf.Tensor3D, cache: {} }
      },
    } as unknown as LanguageModel
    const pieces: string[] = []
    const result = await generate(forced, [0x41], { maxNewTokens: 4, tokenizer: decoder, onToken: (t) => pieces.push(t.text!) })
    expect(pieces).toEqual(['', '', '€', 'A'])
    expect(result.text).toBe('€A')
  })
})
