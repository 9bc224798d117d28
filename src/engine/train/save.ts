// A trained model as a Hugging Face model folder: config.json as GPT2Config writes it (plus
// "mlp_kind" and the μMoE sizes for μMoE models), model.safetensors with GPT2LMHeadModel's tensor
// names (lm_head tied to wte, so not stored, as save_pretrained does), and the tokenizer files.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SafetensorsFile, writeSafetensors, type WritableTensor } from '../safetensors.js'
import { plannedTensors, validateConfig } from '../architectures.js'
import { gpt2Shape } from '../models/gpt2.js'
import { TrainableGpt2, type Gpt2Config } from './gpt2.js'

export interface TokenizerFiles {
  /** tokenizer.json content */
  json: object
  /** tokenizer_config.json content */
  config: object
}

/** config.json for a trained GPT-2 (transformers' GPT2Config fields; dropout off as trained). */
export function gpt2ConfigJson(
  c: Gpt2Config,
  special: { bosId: number | null; eosId: number | null },
  dtype: 'float16' | 'float32',
): object {
  const mlp: Record<string, unknown> =
    c.mlp.kind === 'dense'
      ? { mlp_kind: 'dense' }
      : c.mlp.kind === 'cpmoe'
        ? { mlp_kind: 'cpmoe', n_experts: c.mlp.nExperts, rank: c.mlp.rank }
        : { mlp_kind: 'trmoe', n_experts: c.mlp.nExperts, tr_ranks: [c.mlp.ranks.r1, c.mlp.ranks.r2, c.mlp.ranks.r3] }
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: c.vocabSize,
    n_positions: c.nPositions,
    n_ctx: c.nPositions,
    n_embd: c.nEmbd,
    n_layer: c.nLayer,
    n_head: c.nHead,
    n_inner: null,
    activation_function: 'gelu_new',
    resid_pdrop: 0,
    embd_pdrop: 0,
    attn_pdrop: 0,
    layer_norm_epsilon: c.layerNormEps,
    initializer_range: 0.02,
    scale_attn_weights: true,
    scale_attn_by_inverse_layer_idx: false,
    reorder_and_upcast_attn: false,
    tie_word_embeddings: true,
    bos_token_id: special.bosId,
    eos_token_id: special.eosId,
    torch_dtype: dtype,
    ...mlp,
  }
}

/**
 * The trainer's config from a config.json written by gpt2ConfigJson (or any GPT-2 config), read
 * by the engine's own GPT-2 schema, so the trainer accepts exactly the folders the engine loads.
 */
export function gpt2ConfigFromJson(json: Record<string, unknown>, path = 'config.json'): Gpt2Config {
  const s = gpt2Shape(validateConfig('gpt2', json, path))
  if (s.dMlp !== 4 * s.dModel) throw new Error(`${path}: "n_inner" is ${s.dMlp}; the trainer builds MLPs of 4 × n_embd = ${4 * s.dModel}`)
  return {
    vocabSize: s.vocabSize,
    nPositions: s.maxPositions,
    nLayer: s.nLayers,
    nHead: s.nHeads,
    nEmbd: s.dModel,
    layerNormEps: s.layerNormEps,
    mlp: s.mlp,
  }
}

export interface SaveOptions {
  dtype: 'F16' | 'F32'
  tokenizer: TokenizerFiles | null
  bosId: number | null
  eosId: number | null
  /** Stored in the safetensors header (strings only). */
  metadata?: Record<string, string>
}

/** Writes the folder (each file atomically); returns the path of model.safetensors. */
export function saveGpt2Folder(dir: string, model: TrainableGpt2, opts: SaveOptions): string {
  mkdirSync(dir, { recursive: true })
  const tensors: Record<string, WritableTensor> = {}
  for (const [name, v] of Object.entries(model.params)) {
    tensors[name] = { dtype: opts.dtype, shape: [...v.shape], data: v.dataSync() as Float32Array }
  }
  const weights = join(dir, 'model.safetensors')
  writeSafetensors(weights, tensors, { format: 'pt', ...opts.metadata })
  const config = gpt2ConfigJson(model.config, opts, opts.dtype === 'F16' ? 'float16' : 'float32')
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n')
  if (opts.tokenizer) {
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(opts.tokenizer.json) + '\n')
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(opts.tokenizer.config, null, 2) + '\n')
  }
  return weights
}

/** A saved folder back as a trainable model (to continue training it, or to test round trips). */
export function loadTrainableGpt2(dir: string): TrainableGpt2 {
  const configPath = join(dir, 'config.json')
  const config = gpt2ConfigFromJson(JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>, configPath)
  const model = new TrainableGpt2(config, 0)
  const file = SafetensorsFile.open(join(dir, 'model.safetensors'))
  try {
    const values: Record<string, { shape: number[]; data: Float32Array }> = {}
    for (const [name, info] of file.tensors) values[name] = { shape: [...info.shape], data: file.readFloat32(name) }
    model.load(values)
  } finally {
    file.close()
  }
  return model
}

/** A GPT-2's parameters by part. */
export interface Gpt2ParameterCounts {
  embeddings: number
  attention: number
  mlp: number
  layerNorms: number
  total: number
}

/**
 * The parameters of a GPT-2 of config `c` by part, read off the tensors the engine's GPT-2 loader
 * reads for it (the architecture's own tensor list, models/gpt2.ts): no second formula to keep
 * equal. lm_head is tied to wte, so it is not counted twice.
 */
export function gpt2ParameterCounts(c: Gpt2Config): Gpt2ParameterCounts {
  const json = gpt2ConfigJson(c, { bosId: null, eosId: null }, 'float32') as Record<string, unknown>
  const counts = { embeddings: 0, attention: 0, mlp: 0, layerNorms: 0, total: 0 }
  for (const t of plannedTensors(validateConfig('gpt2', json, 'config.json'))) {
    const n = t.shape.reduce((a, b) => a * b, 1)
    if (t.optional) continue // buffers some checkpoints carry (attn.bias), not parameters
    const part = /^(wte|wpe)\./.test(t.name)
      ? 'embeddings'
      : /\.attn\./.test(t.name)
        ? 'attention'
        : /\.mlp\./.test(t.name)
          ? 'mlp'
          : /ln_/.test(t.name)
            ? 'layerNorms'
            : null
    if (part === null) throw new Error(`GPT-2 tensor ${t.name} belongs to no part of the parameter count`)
    counts[part] += n
    counts.total += n
  }
  return counts
}
