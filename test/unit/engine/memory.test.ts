// A forward pass must free every intermediate tensor: a training job runs millions of them.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { generate } from '../../../src/engine/generate.js'
import { hookNames } from '../../../src/engine/hooks.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import { KVCache, type LanguageModel } from '../../../src/engine/models/model.js'

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'models')

beforeAll(async () => {
  await initBackend()
})

describe.each(['gpt2-tiny-f32', 'neox-tiny-f32', 'llama-tiny-bf16'])('memory, %s', (folder) => {
  let model: LanguageModel
  beforeAll(async () => {
    model = await loadLanguageModel(join(FIXTURES, folder))
  })
  afterAll(() => model.dispose())

  const ids = [
    [4, 8, 15, 16, 23, 42],
    [0, 0, 7, 9, 11, 13],
  ]
  const attentionMask = [
    [1, 1, 1, 1, 1, 1],
    [0, 0, 1, 1, 1, 1],
  ]

  it('holds tf.memory().numTensors constant over 100 forwards with hooks, caches and replacements', () => {
    const before = tf.memory().numTensors
    for (let i = 0; i < 100; i++) {
      const { logits, cache } = model.forward(ids, {
        attentionMask,
        cacheNames: [hookNames.ln2(0), hookNames.mlpOut(1), hookNames.pattern(1)],
        hooks: {
          [hookNames.residPost(0)]: (act) => tf.mul(act, 0.9),
          [hookNames.mlpPost(0)]: () => undefined,
          [hookNames.attnOut(1)]: (act) => tf.zerosLike(act),
        },
        mlpReplacements: { 1: (x) => tf.neg(x) },
      })
      tf.dispose([logits!, ...Object.values(cache)])
      const early = model.forward(ids, { attentionMask, cacheNames: [hookNames.residPost(0)], stopAfterLayer: 0 })
      tf.dispose(Object.values(early.cache))
    }
    expect(tf.memory().numTensors).toBe(before)
  })

  it('frees KV caches and generation state', async () => {
    const before = tf.memory().numTensors
    for (let i = 0; i < 10; i++) {
      const cache = new KVCache()
      tf.dispose(model.forward(ids, { attentionMask, kvCache: cache }).logits!)
      tf.dispose(model.forward([[1], [2]], { kvCache: cache, lastPositionOnly: true }).logits!)
      cache.dispose()
    }
    await generate(model, [1, 2, 3], { maxNewTokens: 10, temperature: 1, topK: 5, seed: 1 })
    expect(tf.memory().numTensors).toBe(before)
  })
})
