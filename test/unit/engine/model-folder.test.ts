import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  discoverHfCache,
  inspectModelFolder,
  ModelLoadError,
  openModelFolder,
  SUPPORTED_MODEL_TYPES,
} from '../../../src/engine/model-folder.js'

const MODELS = join(import.meta.dirname, '../../fixtures/models')
const tmp = mkdtempSync(join(tmpdir(), 'mxd-model-folder-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

let copies = 0
/** A scratch copy of a fixture model folder, to break in one way. */
function copyOf(fixture: string): string {
  const dir = join(tmp, `${fixture}-${copies++}`)
  cpSync(join(MODELS, fixture), dir, { recursive: true })
  return dir
}

function expectLoadError(dir: string, ...messages: RegExp[]): void {
  let error: unknown
  try {
    openModelFolder(dir)
  } catch (err) {
    error = err
  }
  expect(error).toBeInstanceOf(ModelLoadError)
  for (const message of messages) expect((error as Error).message).toMatch(message)
}

describe('openModelFolder on good folders', () => {
  it('GPT-2 with a tokenizer: shape, parameters (masks excluded), dtype, memory', () => {
    const folder = openModelFolder(join(MODELS, 'gpt2-tiny-f32'))
    try {
      expect(folder.architecture).toBe('gpt2')
      expect(folder.info).toMatchObject({
        name: 'gpt2-tiny-f32',
        modelType: 'gpt2',
        layers: 2,
        dModel: 32,
        mlpWidth: 128,
        heads: 4,
        kvHeads: 4,
        vocabSize: 300,
        contextLength: 64,
        dtype: 'F32',
        hasTokenizer: true,
      })
      // wte + wpe + 2 × (ln_1, c_attn, c_proj, ln_2, c_fc, mlp c_proj) + ln_f
      expect(folder.info.parameters).toBe(
        300 * 32 + 64 * 32 + 2 * (64 + 32 * 96 + 96 + 32 * 32 + 32 + 64 + 32 * 128 + 128 + 128 * 32 + 32) + 64,
      )
      expect(folder.info.memoryBytes).toBe(4 * folder.info.parameters + 256 * 1024 * 1024)
      expect(folder.info.sizeOnDisk).toBe(readFileSync(join(MODELS, 'gpt2-tiny-f32/model.safetensors')).length)
      expect(folder.tokenizerFiles?.tokenizerJson).toMatch(/tokenizer\.json$/)
      expect(folder.tokenizerFiles?.tokenizerConfig).toMatch(/tokenizer_config\.json$/)
      expect(folder.tokenizerFiles?.specialTokensMap).toBeNull()
      const wte = folder.weights.names().find((n) => n.endsWith('wte.weight'))!
      expect(folder.weights.readFloat32(wte)).toHaveLength(300 * 32)
    } finally {
      folder.close()
    }
  })

  it('GPT-NeoX in float16 and Llama (grouped-query attention) in bfloat16', () => {
    expect(inspectModelFolder(join(MODELS, 'neox-tiny-f16'))).toMatchObject({ architecture: 'gpt_neox', dtype: 'F16', mlpWidth: 128 })
    expect(inspectModelFolder(join(MODELS, 'llama-tiny-bf16'))).toMatchObject({
      architecture: 'llama',
      dtype: 'BF16',
      heads: 4,
      kvHeads: 2,
      mlpWidth: 88,
      hasTokenizer: false,
    })
  })

  it('sharded weights read through the index, the same tensors as the single-file model', () => {
    const sharded = openModelFolder(join(MODELS, 'llama-tiny-sharded-f32'))
    const single = openModelFolder(join(MODELS, 'llama-tiny-f32'))
    try {
      expect(sharded.weights.names().sort()).toEqual(single.weights.names().sort())
      const files = new Set(sharded.weights.names().map((n) => sharded.weights.info(n).file))
      expect([...files].map((f) => f.split('/').pop()).sort()).toEqual([
        'model-00001-of-00002.safetensors',
        'model-00002-of-00002.safetensors',
      ])
      expect(sharded.info.parameters).toBe(single.info.parameters)
      expect(sharded.weights.has('model.norm.weight')).toBe(true)
      expect(() => sharded.weights.readFloat32('nope')).toThrow(/no tensor named "nope"/)
    } finally {
      sharded.close()
      single.close()
    }
  })

  it('a missing tokenizer is fine: the model opens with hasTokenizer false', () => {
    const dir = copyOf('gpt2-tiny-f32')
    rmSync(join(dir, 'tokenizer.json'))
    const folder = openModelFolder(dir)
    expect(folder.info.hasTokenizer).toBe(false)
    expect(folder.tokenizerFiles).toBeNull()
    folder.close()
  })
})

describe('openModelFolder refuses bad folders with a message that names the file and the fix', () => {
  it('missing folder', () => {
    expectLoadError(join(tmp, 'nowhere'), /nowhere does not exist/, /config\.json/)
  })

  it('missing config.json', () => {
    const dir = copyOf('gpt2-tiny-f32')
    rmSync(join(dir, 'config.json'))
    expectLoadError(dir, /has no config\.json/, /snapshots/)
  })

  it('config.json that is not valid JSON', () => {
    const dir = copyOf('gpt2-tiny-f32')
    writeFileSync(join(dir, 'config.json'), '{"model_type": "gpt2",')
    expectLoadError(dir, /config\.json is not valid JSON/, /re-download/)
  })

  it('unknown architecture lists the supported ones', () => {
    const dir = copyOf('llama-tiny-f32')
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 'mamba' }))
    expectLoadError(dir, /model_type "mamba"/, new RegExp(SUPPORTED_MODEL_TYPES.join(', ')))
  })

  it('a config missing a dimension', () => {
    const dir = copyOf('llama-tiny-f32')
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))
    delete config.hidden_size
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config))
    expectLoadError(dir, /lacks a positive integer "hidden_size"/)
  })

  it('PyTorch pickles only: says how to convert', () => {
    const dir = copyOf('gpt2-tiny-f32')
    renameSync(join(dir, 'model.safetensors'), join(dir, 'pytorch_model.bin'))
    expectLoadError(dir, /only PyTorch pickle weights \(pytorch_model\.bin\)/, /save_pretrained\(.*safe_serialization=True\)/, /save_file/)
  })

  it('no weights at all', () => {
    const dir = copyOf('gpt2-tiny-f32')
    rmSync(join(dir, 'model.safetensors'))
    expectLoadError(dir, /no model\.safetensors or model\.safetensors\.index\.json/)
  })

  it('a shard index naming a missing file', () => {
    const dir = copyOf('llama-tiny-sharded-f32')
    rmSync(join(dir, 'model-00002-of-00002.safetensors'))
    expectLoadError(dir, /names the shard model-00002-of-00002\.safetensors, which is missing/, /download the missing shard/)
  })

  it('a tensor the index lists but the shard lacks', () => {
    const dir = copyOf('llama-tiny-sharded-f32')
    const indexPath = join(dir, 'model.safetensors.index.json')
    const index = JSON.parse(readFileSync(indexPath, 'utf8'))
    index.weight_map['model.layers.9.mlp.up_proj.weight'] = 'model-00001-of-00002.safetensors'
    writeFileSync(indexPath, JSON.stringify(index))
    expectLoadError(
      dir,
      /tensor "model\.layers\.9\.mlp\.up_proj\.weight" is in model-00001-of-00002\.safetensors, but that shard does not contain it/,
    )
  })

  it('a shard index pointing outside the folder', () => {
    const dir = copyOf('llama-tiny-sharded-f32')
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'lm_head.weight': '../../etc/passwd' } }))
    expectLoadError(dir, /no valid "weight_map"/)
  })

  it('a truncated weight file', () => {
    const dir = copyOf('neox-tiny-f16')
    const file = join(dir, 'model.safetensors')
    truncateSync(file, readFileSync(file).length - 100)
    expectLoadError(dir, /model\.safetensors is truncated/, /re-download or re-export/)
  })

  it('tokenizer.json that is not valid JSON', () => {
    const dir = copyOf('gpt2-tiny-f32')
    writeFileSync(join(dir, 'tokenizer.json'), '{"model": ')
    expectLoadError(dir, /tokenizer\.json is not valid JSON/)
  })
})

describe('discoverHfCache', () => {
  const home = join(tmp, 'home')
  const hub = join(home, '.cache/huggingface/hub')

  function snapshot(repo: string, rev: string, withConfig = true): string {
    const dir = join(hub, repo, 'snapshots', rev)
    mkdirSync(dir, { recursive: true })
    if (withConfig) writeFileSync(join(dir, 'config.json'), '{}')
    return dir
  }
  function ref(repo: string, rev: string): void {
    mkdirSync(join(hub, repo, 'refs'), { recursive: true })
    writeFileSync(join(hub, repo, 'refs/main'), `${rev}\n`)
  }

  snapshot('models--openai-community--gpt2', 'aaa111')
  snapshot('models--openai-community--gpt2', 'old000')
  ref('models--openai-community--gpt2', 'aaa111')
  snapshot('models--EleutherAI--pythia-70m', 'r1')
  snapshot('models--EleutherAI--pythia-70m', 'r2-incomplete', false)
  snapshot('models--gpt2', 'bbb222')
  ref('models--gpt2', 'gone999') // refs/main names a snapshot that was deleted: list what is there
  mkdirSync(join(hub, 'models--no-snapshots'), { recursive: true })
  snapshot('datasets--someone--data', 'ccc')
  writeFileSync(join(hub, 'models--a-file'), 'not a folder')
  writeFileSync(join(hub, 'version.txt'), '1')

  const expected = [
    { name: 'EleutherAI/pythia-70m', revision: 'r1', path: join(hub, 'models--EleutherAI--pythia-70m/snapshots/r1') },
    { name: 'gpt2', revision: 'bbb222', path: join(hub, 'models--gpt2/snapshots/bbb222') },
    { name: 'openai-community/gpt2', revision: 'aaa111', path: join(hub, 'models--openai-community--gpt2/snapshots/aaa111') },
  ]

  it('finds snapshots with a config.json under ~/.cache/huggingface/hub, following refs/main', () => {
    expect(discoverHfCache({ HOME: home })).toEqual(expected)
  })

  it('honours HF_HOME, and a missing cache is an empty list', () => {
    const hfHome = join(tmp, 'hf-home')
    mkdirSync(hfHome)
    cpSync(hub, join(hfHome, 'hub'), { recursive: true })
    expect(discoverHfCache({ HF_HOME: hfHome, HOME: join(tmp, 'elsewhere') }).map((m) => m.name)).toEqual(expected.map((m) => m.name))
    expect(discoverHfCache({ HOME: join(tmp, 'elsewhere') })).toEqual([])
  })

  it('a model opened from the cache is named org/name', () => {
    const dir = snapshot('models--tiny--llama-test', 'ddd444', false)
    cpSync(join(MODELS, 'llama-tiny-f32'), dir, { recursive: true })
    expect(inspectModelFolder(dir).name).toBe('tiny/llama-test')
  })
})
