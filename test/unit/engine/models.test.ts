// Golden tests: every fixture model folder (written with its PyTorch reference by
// scripts/fixtures/make_model_fixtures.py) must reproduce the reference logits and every hook
// point, on whatever backend initBackend() picks (wasm here).
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { hookNames } from '../../../src/engine/hooks.js'
import { loadedWeightSets, loadLanguageModel } from '../../../src/engine/models/load.js'
import { KVCache, type LanguageModel } from '../../../src/engine/models/model.js'
import { SafetensorsFile, writeSafetensors } from '../../../src/engine/safetensors.js'

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'models')
const FOLDERS = readdirSync(FIXTURES).sort()

/** max|a − b| / max(max|b|, 1e-6), per tensor. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0
  let scale = 1e-6
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs((actual[i] as number) - (expected[i] as number)))
    scale = Math.max(scale, Math.abs(expected[i] as number))
  }
  return diff / scale
}

interface Reference {
  ids: number[][]
  mask: number[][]
  tensors: Map<string, { shape: number[]; data: Float32Array }>
}

function readReference(folder: string): Reference {
  const file = SafetensorsFile.open(join(FIXTURES, folder, 'reference.safetensors'))
  try {
    const rows = (name: string): number[][] => {
      const [b, t] = file.info(name).shape as [number, number]
      const flat = Array.from(file.readInt32(name))
      return Array.from({ length: b }, (_, i) => flat.slice(i * t, (i + 1) * t))
    }
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>()
    for (const [name, info] of file.tensors) {
      if (info.dtype === 'F32') tensors.set(name, { shape: info.shape, data: file.readFloat32(name) })
    }
    return { ids: rows('input_ids'), mask: rows('attention_mask'), tensors }
  } finally {
    file.close()
  }
}

/** Logits of the real tokens of one row, as nested arrays. */
function logitsOf(model: LanguageModel, ids: number[][], mask?: number[][]): number[][][] {
  const { logits } = model.forward(ids, mask ? { attentionMask: mask } : {})
  const out = logits!.arraySync()
  logits!.dispose()
  return out
}

function maxAbsDiff(a: number[][], b: number[][]): number {
  return Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - (b[i]?.[j] ?? NaN)))))
}

beforeAll(async () => {
  await initBackend()
})

describe.each(FOLDERS)('fixture %s', (folder) => {
  let model: LanguageModel
  let ref: Reference

  beforeAll(async () => {
    model = await loadLanguageModel(join(FIXTURES, folder))
    ref = readReference(folder)
  })
  afterAll(() => model.dispose())

  it('matches the PyTorch reference logits and every hook point within 1e-4', () => {
    const refHooks = [...ref.tensors.keys()].filter((n) => n.startsWith('hook:')).map((n) => n.slice(5))
    expect([...refHooks].sort()).toEqual([...model.hookPoints].sort())
    const { logits, cache } = model.forward(ref.ids, { attentionMask: ref.mask, cacheNames: model.hookPoints })
    const check = (name: string, t: tf.Tensor): void => {
      const want = ref.tensors.get(name)!
      expect(t.shape, name).toEqual(want.shape)
      expect(relativeError(t.dataSync(), want.data), name).toBeLessThan(1e-4)
    }
    check('logits', logits!)
    for (const name of model.hookPoints) check(`hook:${name}`, cache[name]!)
    tf.dispose([logits!, ...Object.values(cache)])
  })

  it('started at the last block from PyTorch\'s resid_pre, gives the reference logits; earlier hooks do not fire', () => {
    const L = model.nLayers - 1
    const given = ref.tensors.get(`hook:${hookNames.residPre(L)}`)!
    const residual = tf.tensor(given.data, given.shape)
    const names = [hookNames.embed, hookNames.mlpOut(L), hookNames.residPost(L)]
    const { logits, cache } = model.forward(ref.ids, { attentionMask: ref.mask, cacheNames: names, startAtLayer: { layer: L, residual } })
    expect(relativeError(logits!.dataSync(), ref.tensors.get('logits')!.data)).toBeLessThan(1e-4)
    expect(relativeError(cache[hookNames.residPost(L)]!.dataSync(), ref.tensors.get(`hook:${hookNames.residPost(L)}`)!.data)).toBeLessThan(1e-4)
    expect(cache[hookNames.embed]).toBeUndefined()
    expect(residual.isDisposed).toBe(false)
    tf.dispose([logits!, residual, ...Object.values(cache)])
  })
})

describe.each(['gpt2-tiny-f32', 'neox-tiny-f32', 'neox-tiny-sequential-f32', 'llama-tiny-f32'])('padding, %s', (folder) => {
  let model: LanguageModel
  beforeAll(async () => {
    model = await loadLanguageModel(join(FIXTURES, folder))
  })
  afterAll(() => model.dispose())

  const seq = [5, 17, 42, 99, 7, 250]
  const pad = [0, 0, 0]

  it('left padding gives the unpadded logits at real positions', () => {
    const [alone] = logitsOf(model, [seq])
    const [, padded] = logitsOf(
      model,
      [
        [1, 2, ...seq.slice(0, 4), 3, 4, 5],
        [...pad, ...seq],
      ],
      [
        [1, 1, 1, 1, 1, 1, 1, 1, 1],
        [0, 0, 0, 1, 1, 1, 1, 1, 1],
      ],
    )
    expect(maxAbsDiff(padded!.slice(3), alone!)).toBeLessThan(1e-4)
  })

  it('right padding gives the unpadded logits at real positions', () => {
    const [alone] = logitsOf(model, [seq])
    const [padded] = logitsOf(model, [[...seq, ...pad]], [[1, 1, 1, 1, 1, 1, 0, 0, 0]])
    expect(maxAbsDiff(padded!.slice(0, seq.length), alone!)).toBeLessThan(1e-4)
  })

  it('a padded row leaves the other rows of the batch unchanged', () => {
    const other = [9, 8, 7, 6, 5, 4]
    const [alone] = logitsOf(model, [other])
    const [batched] = logitsOf(
      model,
      [other, [0, 0, ...seq.slice(0, 4)]],
      [
        [1, 1, 1, 1, 1, 1],
        [0, 0, 1, 1, 1, 1],
      ],
    )
    expect(maxAbsDiff(batched!, alone!)).toBeLessThan(1e-4)
  })
})

describe('hooks, MLP replacement, early stop', () => {
  let model: LanguageModel
  const ids = [[3, 14, 15, 92, 65, 35]]
  beforeAll(async () => {
    model = await loadLanguageModel(join(FIXTURES, 'llama-tiny-f32'))
  })
  afterAll(() => model.dispose())

  it('a hook that returns a tensor replaces the activation downstream', () => {
    const name = hookNames.mlpOut(1)
    const clean = model.forward(ids, { cacheNames: [name] })
    const ablated = model.forward(ids, { hooks: { [name]: (act) => tf.zerosLike(act) }, cacheNames: [name] })
    expect(tf.max(tf.abs(ablated.cache[name]!)).dataSync()[0]).toBe(0)
    expect(tf.max(tf.abs(tf.sub(clean.logits!, ablated.logits!))).dataSync()[0]).toBeGreaterThan(1e-3)
    tf.dispose([clean.logits!, ablated.logits!, ...Object.values(clean.cache), ...Object.values(ablated.cache)])
  })

  it('a read-only hook sees the activation and changes nothing', () => {
    const seen: number[][] = []
    const clean = model.forward(ids)
    const hooked = model.forward(ids, {
      hooks: { [hookNames.pattern(0)]: (act, name) => void seen.push([...act.shape, name.length]) },
    })
    expect(seen).toEqual([[1, 4, 6, 6, hookNames.pattern(0).length]])
    expect(tf.max(tf.abs(tf.sub(clean.logits!, hooked.logits!))).dataSync()[0]).toBe(0)
    tf.dispose([clean.logits!, hooked.logits!])
  })

  it('an MLP replacement receives ln2 and its output becomes hook_mlp_out', () => {
    const layer = 0
    const ref = model.forward(ids, { cacheNames: [hookNames.ln2(layer), hookNames.mlpOut(layer)] })
    // Replace the MLP by "whatever it produced on this very input": the logits must not move.
    const recorded = ref.cache[hookNames.mlpOut(layer)]!
    const received: tf.Tensor[] = []
    const replaced = model.forward(ids, {
      mlpReplacements: {
        [layer]: (x) => {
          received.push(tf.keep(x.clone()))
          return recorded.clone()
        },
      },
    })
    expect(tf.max(tf.abs(tf.sub(received[0]!, ref.cache[hookNames.ln2(layer)]!))).dataSync()[0]).toBe(0)
    expect(tf.max(tf.abs(tf.sub(replaced.logits!, ref.logits!))).dataSync()[0]).toBeLessThan(1e-5)
    tf.dispose([ref.logits!, replaced.logits!, ...received, ...Object.values(ref.cache)])
  })

  it('stopAfterLayer returns the cache only, equal to the full run', () => {
    const name = hookNames.residPost(0)
    const full = model.forward(ids, { cacheNames: [name] })
    const early = model.forward(ids, { cacheNames: [name], stopAfterLayer: 0 })
    expect(early.logits).toBeNull()
    expect(tf.max(tf.abs(tf.sub(full.cache[name]!, early.cache[name]!))).dataSync()[0]).toBe(0)
    tf.dispose([full.logits!, ...Object.values(full.cache), ...Object.values(early.cache)])
  })

  it('startAtLayer refuses a residual of the wrong shape, a layer out of range and a KV cache', () => {
    const residual = tf.zeros([ids.length, ids[0]!.length, model.dModel])
    const wrong = tf.zeros([1, 1, model.dModel])
    expect(() => model.forward(ids, { startAtLayer: { layer: 0, residual: wrong } })).toThrow(/the residual has shape \[1,1,/)
    expect(() => model.forward(ids, { startAtLayer: { layer: model.nLayers, residual } })).toThrow(/startAtLayer must be a layer index/)
    expect(() => model.forward(ids, { startAtLayer: { layer: 1, residual }, stopAfterLayer: 0 })).toThrow(/startAtLayer must be a layer index 0…0/)
    const kv = new KVCache()
    expect(() => model.forward(ids, { startAtLayer: { layer: 0, residual }, kvCache: kv })).toThrow(/KV cache/)
    kv.dispose()
    tf.dispose([residual, wrong])
  })

  it('rejects unknown hook points, out-of-vocabulary ids and ragged batches', () => {
    expect(() => model.forward(ids, { hooks: { 'blocks.0.hook_nope': () => undefined } })).toThrow(/unknown hook point/)
    expect(() => model.forward([[model.vocabSize]])).toThrow(/outside this model's vocabulary/)
    expect(() => model.forward([[1, 2], [3]])).toThrow(/pad them/)
    expect(() => model.forward(ids, { hooks: { [hookNames.embed]: () => tf.zeros([1]) } })).toThrow(/returned shape/)
  })

  it('parallel-residual GPT-NeoX has no resid_mid; GPT-2 alone has hook_pos_embed', async () => {
    const neox = await loadLanguageModel(join(FIXTURES, 'neox-tiny-f32'))
    const gpt2 = await loadLanguageModel(join(FIXTURES, 'gpt2-tiny-f32'))
    expect(neox.hookPoints).not.toContain(hookNames.residMid(0))
    expect(gpt2.hookPoints).toContain(hookNames.posEmbed)
    expect(model.hookPoints).not.toContain(hookNames.posEmbed)
    neox.dispose()
    gpt2.dispose()
  })
})

describe('loading', () => {
  it('shares one copy of the weights between handles and frees it with the last', async () => {
    const dir = join(FIXTURES, 'gpt2-tiny-f16')
    const before = tf.memory().numTensors
    const sets = loadedWeightSets()
    const a = await loadLanguageModel(dir)
    const afterOne = tf.memory().numTensors
    const b = await loadLanguageModel(dir)
    expect(tf.memory().numTensors).toBe(afterOne)
    expect(loadedWeightSets()).toBe(sets + 1)
    a.dispose()
    a.dispose() // idempotent: must not release b's reference
    const logits = b.forward([[1, 2, 3]]).logits!
    logits.dispose()
    b.dispose()
    expect(tf.memory().numTensors).toBe(before)
    expect(loadedWeightSets()).toBe(sets)
  })

  it('names the supported architectures for an unknown model_type', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mxd-unknown-model-'))
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'mamba', architectures: ['MambaForCausalLM'] }))
      writeSafetensors(join(dir, 'model.safetensors'), { 'x.weight': { dtype: 'F32', shape: [1], data: new Float32Array([1]) } })
      await expect(loadLanguageModel(dir)).rejects.toThrow(/gpt2.*gpt_neox.*llama/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
