// playground.generate's bound on max tokens: no more new tokens than the model's context
// (n_positions) holds, refused with a sentence saying why.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../src/backend/backend.js'
import { tinyModelWithByteTokenizer } from '../helpers/byte-tokenizer.js'

let backend: Backend
beforeAll(async () => {
  backend = await Backend.create({ storeDir: mkdtempSync(join(tmpdir(), 'mxd-pg-')), bundledModelsDir: join(tmpdir(), 'none') })
})
afterAll(async () => {
  await backend.close()
})

describe('playground.generate', () => {
  it('refuses more new tokens than the context holds beside the prompt', async () => {
    // The tiny GPT-2 fixture has n_positions = 64.
    const { id } = await backend.call('models.add', { path: tinyModelWithByteTokenizer() })
    await expect(backend.call('playground.generate', { modelId: id, prompt: 'Hi', maxTokens: 65 })).rejects.toThrow(
      /Max tokens can be at most 64 for .*: its context is 64 tokens, the prompt included\./,
    )
    await expect(backend.call('playground.generate', { modelId: id, prompt: 'Hi', maxTokens: 4096 })).rejects.toThrow(/at most 64/)
    const ok = await backend.call('playground.generate', { modelId: id, prompt: 'Hi', maxTokens: 64 })
    expect(ok.generationId).toEqual(expect.any(String))
    await backend.call('playground.stop', { generationId: ok.generationId })
  })
})
