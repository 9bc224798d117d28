// Issue 9: a config.json or weight file that cannot be right is refused, by inspect and by load
// alike, with a message naming the file, the field (or tensor) and the fix. Each case below was
// accepted before (inspect said fine, or forward printed different logits and exited 0).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { plannedTensors, storedName } from '../../../src/engine/architectures.js'
import { initBackend } from '../../../src/engine/backend.js'
import { inspectModelFolder, ModelLoadError, openModelFolder } from '../../../src/engine/model-folder.js'
import { loadGpt2 } from '../../../src/engine/models/gpt2.js'
import { loadGptNeox } from '../../../src/engine/models/gpt_neox.js'
import { loadLlama } from '../../../src/engine/models/llama.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import { SafetensorsFile, writeSafetensors, type WritableTensor } from '../../../src/engine/safetensors.js'
import { TrainableGpt2, type Gpt2Config } from '../../../src/engine/train/gpt2.js'
import { saveGpt2Folder } from '../../../src/engine/train/save.js'
import { mxd } from '../../helpers/mxd-cli.js'

const LOADERS = { gpt2: loadGpt2, gpt_neox: loadGptNeox, llama: loadLlama }
const MODELS = join(import.meta.dirname, '../../fixtures/models')
const tmp = mkdtempSync(join(tmpdir(), 'mxd-hardening-config-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
beforeAll(async () => {
  await initBackend()
})

let copies = 0
function copyOf(fixture: string): string {
  const dir = join(tmp, `${fixture}-${copies++}`)
  cpSync(join(MODELS, fixture), dir, { recursive: true })
  return dir
}

/** A copy of `fixture` whose config.json has `patch` applied (undefined deletes a field). */
function withConfig(fixture: string, patch: Record<string, unknown>): string {
  const dir = copyOf(fixture)
  const path = join(dir, 'config.json')
  const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete config[k]
    else config[k] = v
  }
  // JSON.stringify writes Infinity as null; a real file can hold 1e999, which parses to Infinity.
  writeFileSync(path, JSON.stringify(config).replace('"__INF__"', '1e999'))
  return dir
}

/** A copy of `fixture` with its (single-file) weights rewritten by `edit`. */
function withWeights(fixture: string, edit: (tensors: Record<string, WritableTensor>) => void): string {
  const dir = copyOf(fixture)
  const path = join(dir, 'model.safetensors')
  const file = SafetensorsFile.open(path)
  const tensors: Record<string, WritableTensor> = {}
  for (const [name, info] of file.tensors) tensors[name] = { dtype: 'F32', shape: info.shape, data: file.readFloat32(name) }
  file.close()
  edit(tensors)
  writeSafetensors(path, tensors)
  return dir
}

function loadError(fn: () => unknown): Error {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ModelLoadError)
    return err as Error
  }
  throw new Error('expected a ModelLoadError, but the folder was accepted')
}

async function loadFails(dir: string): Promise<Error> {
  try {
    ;(await loadLanguageModel(dir)).dispose()
  } catch (err) {
    expect(err).toBeInstanceOf(ModelLoadError)
    return err as Error
  }
  throw new Error('expected loadLanguageModel to fail, but it loaded')
}

// [fixture, patch, field the message must name, what it must say]
const BAD_CONFIGS: [string, Record<string, unknown>, string, RegExp][] = [
  ['gpt2-tiny-f32', { n_head: 5 }, 'n_embd', /not a multiple of "n_head" = 5/],
  ['gpt2-tiny-f32', { layer_norm_epsilon: 0 }, 'layer_norm_epsilon', /is 0, but it must be a finite number greater than 0/],
  ['gpt2-tiny-f32', { layer_norm_epsilon: -1e-5 }, 'layer_norm_epsilon', /is -0\.00001/],
  ['gpt2-tiny-f32', { layer_norm_epsilon: '__INF__' }, 'layer_norm_epsilon', /is Infinity, but it must be a finite number/],
  ['gpt2-tiny-f32', { n_embd: 32.5 }, 'n_embd', /is 32\.5, but it must be a positive integer/],
  ['gpt2-tiny-f32', { n_layer: 0 }, 'n_layer', /is 0/],
  ['gpt2-tiny-f32', { n_layer: -2 }, 'n_layer', /is -2/],
  ['gpt2-tiny-f32', { vocab_size: '300' }, 'vocab_size', /is "300"/],
  ['gpt2-tiny-f32', { n_positions: 0, n_ctx: undefined }, 'n_positions', /is 0/],
  ['gpt2-tiny-f32', { activation_function: 'relu' }, 'activation_function', /is "relu", but it must be one of "gelu_new"/],
  ['gpt2-tiny-f32', { mlp_kind: 'cpmoe' }, 'n_experts', /lacks a positive integer/],
  ['neox-tiny-f32', { rotary_pct: 0 }, 'rotary_pct', /is 0/],
  ['neox-tiny-f32', { rotary_pct: 1.5 }, 'rotary_pct', /is 1\.5/],
  // head_dim 8 × 0.375 = 3 channels: rotary turns pairs.
  ['neox-tiny-f32', { rotary_pct: 0.375 }, 'rotary_pct', /rotates 3 channels/],
  ['neox-tiny-f32', { hidden_act: 'relu' }, 'hidden_act', /is "relu"/],
  ['neox-tiny-f32', { layer_norm_eps: -1 }, 'layer_norm_eps', /is -1/],
  ['neox-tiny-f32', { num_attention_heads: 3 }, 'hidden_size', /not a multiple of "num_attention_heads" = 3/],
  ['neox-tiny-f32', { use_parallel_residual: 'yes' }, 'use_parallel_residual', /true or false/],
  ['llama-tiny-f32', { num_key_value_heads: 3 }, 'num_attention_heads', /not a multiple of "num_key_value_heads" = 3/],
  ['llama-tiny-f32', { head_dim: 7 }, 'head_dim', /must be even/],
  ['llama-tiny-f32', { rope_theta: 0 }, 'rope_theta', /is 0/],
  ['llama-tiny-f32', { rms_norm_eps: -1e-6 }, 'rms_norm_eps', /is -0\.000001/],
  ['llama-tiny-f32', { head_dim: undefined, num_attention_heads: 5, num_key_value_heads: 5 }, 'hidden_size', /no "head_dim" is given/],
  ['llama-tiny-f32', { rope_scaling: { rope_type: 'llama3', factor: 0, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 256 } }, 'rope_scaling', /"factor" = 0/],
  ['llama-tiny-f32', { rope_scaling: { rope_type: 'yarn' } }, 'rope_scaling', /type "yarn"/],
  ['llama-tiny-f32', { max_position_embeddings: 1.5 }, 'max_position_embeddings', /is 1\.5/],
  ['llama-tiny-f32', { hidden_size: undefined }, 'hidden_size', /lacks a positive integer/],
  ['llama-tiny-f32', { eos_token_id: [2, -1] }, 'eos_token_id', /is \[2,-1\], but it must be a whole number ≥ 0 or a list of them/],
  ['gpt2-tiny-f32', { bos_token_id: 0.5 }, 'bos_token_id', /is 0\.5/],
]

describe('config.json validation: every field each architecture reads', () => {
  it.each(BAD_CONFIGS)('%s with %j names %s', async (fixture, patch, field, says) => {
    const dir = withConfig(fixture, patch)
    const inspected = loadError(() => inspectModelFolder(dir))
    expect(inspected.message).toContain(join(dir, 'config.json'))
    expect(inspected.message).toContain(`"${field}"`)
    expect(inspected.message).toMatch(says)
    expect(inspected.message).toMatch(/re-download it from the model page|config\.json from the model page/)
    // Loading says exactly what inspect said: one check serves both.
    expect((await loadFails(dir)).message).toContain(inspected.message)
  })

  it('the fixtures (and defaults for absent optional fields) still pass', () => {
    for (const fixture of ['gpt2-tiny-f32', 'neox-tiny-f32', 'llama-tiny-tied-f32', 'llama-tiny-sharded-f32']) {
      expect(() => inspectModelFolder(join(MODELS, fixture))).not.toThrow()
    }
    const dir = withConfig('neox-tiny-f32', { layer_norm_eps: undefined, hidden_act: undefined, rope_scaling: undefined })
    expect(inspectModelFolder(dir).architecture).toBe('gpt_neox')
  })
})

describe('inspect checks what load checks, from headers alone', () => {
  const missing = (): string =>
    withWeights('gpt2-tiny-f32', (t) => {
      delete t['transformer.h.1.mlp.c_fc.bias']
    })
  const reshaped = (): string => withConfig('gpt2-tiny-f32', { n_inner: 64 })
  const tooManyLayers = (): string => withConfig('llama-tiny-f32', { num_hidden_layers: 1000 })
  const threeLayers = (): string => withConfig('neox-tiny-f32', { num_hidden_layers: 3 })
  const int32 = (): string =>
    withWeights('llama-tiny-f32', (t) => {
      const w = t['model.layers.0.mlp.up_proj.weight']!
      t['model.layers.0.mlp.up_proj.weight'] = { dtype: 'I32', shape: w.shape, data: new Int32Array(w.data.length) }
    })

  const CASES: [string, () => string, RegExp[]][] = [
    ['a missing tensor', missing, [/model\.safetensors lacks tensor "transformer\.h\.1\.mlp\.c_fc\.bias"/, /config\.json implies/]],
    ['a shape that contradicts config.json', reshaped, [/tensor "transformer\.h\.0\.mlp\.c_fc\.weight" has shape \[32, 128\] but .*config\.json implies \[32, 64\]/]],
    ['n_layer 1000 with 2 layers of weights', tooManyLayers, [/config\.json says the model has 1000 layers, but .*model\.safetensors holds only \d+ tensors/]],
    ['one layer more than stored', threeLayers, [/lacks tensor "gpt_neox\.layers\.2\.input_layernorm\.weight"/]],
    ['an I32 weight', int32, [/model\.safetensors: tensor "model\.layers\.0\.mlp\.up_proj\.weight" is stored as I32/, /F32, F16, BF16/]],
  ]

  it.each(CASES)('%s: inspectModelFolder and loading refuse it alike', async (_what, make, messages) => {
    const dir = make()
    const err = loadError(() => inspectModelFolder(dir))
    for (const m of messages) expect(err.message).toMatch(m)
    expect((await loadFails(dir)).message).toContain(err.message)
  })

  it('mxd inspect exits 1 with the same message for each case', async () => {
    const dirs = CASES.map(([, make]) => make())
    const results = await Promise.all(dirs.map((dir) => mxd(['inspect', '--model', dir])))
    results.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(1)
      for (const m of CASES[i]![2]) expect(r.stderr).toMatch(m)
    })
  }, 120_000)

  /** A GPT-2 with μMoE MLPs as pre-training saves it (config.json mlp_kind cpmoe or trmoe). */
  function muMoEModel(mlp: Gpt2Config['mlp']): string {
    const model = new TrainableGpt2({ vocabSize: 50, nPositions: 16, nLayer: 2, nHead: 2, nEmbd: 16, layerNormEps: 1e-5, mlp }, 7)
    const dir = join(tmp, `mumoe-${mlp.kind}-${copies++}`)
    saveGpt2Folder(dir, model, { dtype: 'F32', tokenizer: null, bosId: 0, eosId: 0 })
    model.dispose()
    return dir
  }

  it.each([
    ...['gpt2-tiny-f32', 'neox-tiny-f32', 'neox-tiny-sequential-f32', 'llama-tiny-f32', 'llama-tiny-tied-f32', 'llama-tiny-sharded-f32'].map((f) => [f, () => join(MODELS, f)] as const),
    ['μMoE GPT-2 (cpmoe)', () => muMoEModel({ kind: 'cpmoe', nExperts: 4, rank: 24 })] as const,
    ['μMoE GPT-2 (trmoe)', () => muMoEModel({ kind: 'trmoe', nExperts: 4, ranks: { r1: 2, r2: 2, r3: 8 } })] as const,
  ])(
    '%s: the loader reads exactly the planned tensors, in the planned shapes',
    (_name, make) => {
      const folder = openModelFolder(make())
      const read = new Map<string, number[]>()
      try {
        const planned = plannedTensors(folder.valid).flatMap((t) => {
          const name = storedName(folder.architecture, t.name, (n) => folder.weights.has(n))
          return name === null ? [] : [[name, t.shape] as const]
        })
        // The real loader, reading through a source that records what it reads.
        const spec = LOADERS[folder.architecture](folder.valid, {
          has: (n) => folder.weights.has(n),
          info: (n) => folder.weights.info(n),
          readFloat32: (n) => {
            read.set(n, folder.weights.info(n).shape)
            return folder.weights.readFloat32(n)
          },
        })
        for (const t of spec.tensors) t.dispose()
        expect(read).toEqual(new Map(planned))
      } finally {
        folder.close()
      }
    },
  )
})
