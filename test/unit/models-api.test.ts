// The Models page and Playground API on a real store, real model files and the real engine worker.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../src/backend/backend.js'
import type { PlaygroundEvent } from '../../src/shared/models.js'
import { initBackend } from '../../src/engine/backend.js'
import { tinyModelWithByteTokenizer } from '../helpers/byte-tokenizer.js'
import { writeMxdLayerFolder } from '../helpers/mxd-layer-folder.js'
import { repoRoot } from '../helpers/web-process.js'

const fixtures = join(repoRoot, 'test/fixtures/models')
let backend: Backend
const hfCache = mkdtempSync(join(tmpdir(), 'mxd-hf-'))
const savedEnv = process.env.HF_HUB_CACHE

beforeAll(async () => {
  // A Hugging Face cache holding one snapshot (a link to a fixture, as the hub links blobs).
  const snap = join(hfCache, 'models--tiny--llama', 'snapshots', 'abc123')
  mkdirSync(join(hfCache, 'models--tiny--llama', 'refs'), { recursive: true })
  writeFileSync(join(hfCache, 'models--tiny--llama', 'refs', 'main'), 'abc123')
  mkdirSync(join(hfCache, 'models--tiny--llama', 'snapshots'), { recursive: true })
  symlinkSync(join(fixtures, 'llama-tiny-f32'), snap)
  process.env.HF_HUB_CACHE = hfCache
  backend = await Backend.create({ storeDir: mkdtempSync(join(tmpdir(), 'mxd-models-')), bundledModelsDir: join(tmpdir(), 'none') })
})
afterAll(async () => {
  if (savedEnv === undefined) delete process.env.HF_HUB_CACHE
  else process.env.HF_HUB_CACHE = savedEnv
  await backend.close()
})

describe('models API', () => {
  it('refuses what is not a model folder, with the reason, and registers nothing', async () => {
    await expect(backend.call('models.add', { path: 'relative/dir' })).rejects.toThrow(/absolute path/)
    await expect(backend.call('models.add', { path: '/no/such/folder' })).rejects.toThrow(/is not a folder/)
    await expect(backend.call('models.add', { path: join(repoRoot, 'test/fixtures/tokenizers/gpt2') })).rejects.toThrow(/config\.json/)
    expect(backend.ctx.store.listModels()).toEqual([])
  })

  it('adds a folder, lists it with the Hugging Face cache, and describes its layers', async () => {
    const added = await backend.call('models.add', { path: join(fixtures, 'neox-tiny-f16') })
    expect(added).toMatchObject({ source: 'added', architecture: 'gpt_neox', error: null })
    expect(added.info).toMatchObject({ dtype: 'F16', layers: 2 })
    const again = await backend.call('models.add', { path: join(fixtures, 'neox-tiny-f16') })
    expect(again.id).toBe(added.id) // the same folder is not registered twice

    const list = await backend.call('models.list', {})
    expect(list.map((m) => [m.source, m.architecture])).toEqual(
      expect.arrayContaining([
        ['added', 'gpt_neox'],
        ['hf-cache', 'llama'],
      ]),
    )
    expect(list.find((m) => m.source === 'hf-cache')!.name).toBe('tiny/llama')

    const d = await backend.call('models.inspect', { id: added.id })
    expect(d.layers.map((l) => l.hookIn)).toEqual(['blocks.0.ln2.hook_normalized', 'blocks.1.ln2.hook_normalized'])
    expect(d.layers[0]!.mlpParameters).toBe(2 * d.info.dModel * d.info.mlpWidth + d.info.mlpWidth + d.info.dModel)
    await expect(backend.call('models.inspect', { id: 9999 })).rejects.toThrow(/no model 9999/)
  })
})

describe('playground API', () => {
  function collect(generationId: string): Promise<PlaygroundEvent[]> {
    const events: PlaygroundEvent[] = []
    return new Promise((resolve) => {
      const off = backend.subscribe((e) => {
        if (e.event !== 'playground.event' || e.data.generationId !== generationId) return
        events.push(e.data)
        if (e.data.type === 'done' || e.data.type === 'error') {
          off()
          resolve(events)
        }
      })
    })
  }

  it('streams the prompt, each token with the top predictions, then done — in a worker', async () => {
    const { id } = await backend.call('models.add', { path: tinyModelWithByteTokenizer() })
    const { generationId } = await backend.call('playground.generate', { modelId: id, prompt: 'Hello', maxTokens: 5, topPredictions: 3 })
    const events = await collect(generationId)
    expect(events[0]).toMatchObject({ type: 'prompt', ids: [72, 101, 108, 108, 111] })
    const tokens = events.filter((e) => e.type === 'token')
    expect(tokens).toHaveLength(5)
    for (const t of tokens) {
      if (t.type !== 'token') continue
      expect(t.top).toHaveLength(3)
      expect(t.top[0]!.prob).toBeGreaterThanOrEqual(t.top[1]!.prob)
      expect(t.top.reduce((s, p) => s + p.prob, 0)).toBeLessThanOrEqual(1 + 1e-6)
      expect(t.id).toBe(t.top[0]!.id) // greedy picks the most likely token
    }
    expect(events.at(-1)).toMatchObject({ type: 'done', stopReason: 'max_tokens' })
  })

  it('stops a generation on request', async () => {
    const { id } = await backend.call('models.add', { path: tinyModelWithByteTokenizer() })
    const { generationId } = await backend.call('playground.generate', { modelId: id, prompt: 'a', maxTokens: 60, temperature: 1, seed: 1 })
    const done = collect(generationId)
    const off = backend.subscribe((e) => {
      if (e.event === 'playground.event' && e.data.generationId === generationId && e.data.type === 'token') {
        off()
        void backend.call('playground.stop', { generationId })
      }
    })
    const events = await done
    expect(events.at(-1)).toMatchObject({ type: 'done', stopReason: 'aborted' })
    expect(events.filter((e) => e.type === 'token').length).toBeLessThan(60)
  })

  it('lists a model\'s layers, splices one (steered) into a generation, and refuses a layer of another model or a bad steer', async () => {
    await initBackend()
    const dir = tinyModelWithByteTokenizer()
    const { id } = await backend.call('models.add', { path: dir })
    await expect(backend.call('playground.listLayers', { modelId: id })).resolves.toEqual([])
    const layerDir = mkdtempSync(join(tmpdir(), 'mxd-layer-'))
    writeMxdLayerFolder(layerDir, { modelDir: dir, block: 1, dModel: 32, hidden: 128, experts: 24, k: 4 })
    const { runId } = await backend.call('convert.import', { dir: layerDir })
    await expect(backend.call('playground.listLayers', { modelId: id })).resolves.toEqual([{ runId, kind: 'mxd', block: 1, k: 4, width: 24, nmse: null }])

    const text = async (splice?: { runId: number; steer?: { unit: number; value: number }[] }): Promise<string | null> => {
      const { generationId } = await backend.call('playground.generate', { modelId: id, prompt: 'Hello', maxTokens: 6, ...(splice ? { splice } : {}) })
      const last = (await collect(generationId)).at(-1)!
      expect(last.type, JSON.stringify(last)).toBe('done')
      return last.type === 'done' ? last.text : null
    }
    const steered = await text({ runId, steer: [{ unit: 3, value: 500 }] })
    expect(steered).not.toBe(await text({ runId }))

    // Out-of-range unit: an error event from the worker; unknown fields and a missing run: refused.
    const { generationId } = await backend.call('playground.generate', { modelId: id, prompt: 'Hello', splice: { runId, steer: [{ unit: 24, value: 1 }] } })
    expect((await collect(generationId)).at(-1)).toMatchObject({ type: 'error', message: expect.stringMatching(/cannot steer unit 24: this layer has units 0…23/) })
    await expect(backend.call('playground.generate', { modelId: id, prompt: 'Hello', splice: { runId, extra: 1 } } as never)).rejects.toThrow(/extra/)
    await expect(backend.call('playground.generate', { modelId: id, prompt: 'Hello', splice: { runId: 999 } })).rejects.toThrow(/There is no run 999/)
    // The same layer on another model (another fingerprint) is refused by name.
    const other = await backend.call('models.add', { path: join(fixtures, 'gpt2-tiny-f32') })
    await expect(backend.call('playground.generate', { modelId: other.id, prompt: 'Hello', splice: { runId } })).rejects.toThrow(/trained on gpt2-tiny, not on this model/)
  })

  it('reports a model without a tokenizer as an error event, not a crash', async () => {
    const { id } = await backend.call('models.add', { path: join(fixtures, 'llama-tiny-f32') })
    const { generationId } = await backend.call('playground.generate', { modelId: id, prompt: 'hi' })
    const events = await collect(generationId)
    expect(events.at(-1)).toMatchObject({ type: 'error', message: expect.stringMatching(/no tokenizer\.json/) })
  })
})
