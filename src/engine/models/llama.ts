// Llama (Hugging Face LlamaForCausalLM: Llama 2/3, and the many models that copy it):
//   x = embed_tokens[ids]                               rotary positions, nothing added here
//   per block:  x = x + attn(rms1(x));  x = x + mlp(rms2(x))    (pre-norm, RMSNorm, no biases)
//   attn: rotary on every channel; grouped-query attention when num_key_value_heads < heads
//   mlp(x) = (silu(x W_gate) ∗ (x W_up)) W_down          SwiGLU: hook_post is the product
//   logits = norm(x) lm_headᵀ                            lm_head = embed_tokens when tied
import { tf } from '../backend.js'
import { hookNames } from '../hooks.js'
import type { ValidConfig } from '../config-fields.js'
import {
  boolean,
  divides,
  normTensors,
  num,
  oneOf,
  positiveInt,
  positiveNumber,
  range,
  show,
  TOKEN_FIELDS,
  torchLinear,
  type ArchitectureSchema,
  type FieldRule,
  type Values,
} from '../config-fields.js'
import type { ArchitectureModule } from './architecture.js'
import { embedding, linear, llama3InverseFrequencies, rmsNorm, ropeInverseFrequencies, silu, type Linear } from '../ops.js'
import type { DecoderBlock, DecoderSpec } from './model.js'
import { WeightLoader, type WeightSource } from './weights.js'

// -------------------------------------------------------------------------- the folder format

/** Llama 3.1's rope_scaling, or null / type "default" for plain rotary. */
const ropeScaling: FieldRule = {
  what: 'null or {"rope_type": "llama3", "factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}',
  fallback: null,
  check: (s) => {
    if (s === null) return null
    if (typeof s !== 'object' || Array.isArray(s)) return `is ${show(s)}`
    const o = s as Values
    const type = o.rope_type ?? o.type ?? 'default'
    if (type === 'default') return null
    if (type !== 'llama3') return `has type ${show(type)}; only "default" and "llama3" are implemented`
    const positive = (k: string): boolean => typeof o[k] === 'number' && Number.isFinite(o[k]) && (o[k] as number) > 0
    for (const k of ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings']) {
      if (!positive(k)) return `has "${k}" = ${show(o[k])}, which should be a number greater than 0`
    }
    if ((o.high_freq_factor as number) <= (o.low_freq_factor as number)) {
      return `has "high_freq_factor" = ${show(o.high_freq_factor)} not above "low_freq_factor" = ${show(o.low_freq_factor)} (the smoothing band between them would be empty)`
    }
    return null
  },
}

export const LLAMA_SCHEMA: ArchitectureSchema = {
  prefix: 'model.',
  fields: {
    ...TOKEN_FIELDS,
    hidden_size: positiveInt(),
    num_attention_heads: positiveInt(),
    num_key_value_heads: positiveInt((v) => num(v, 'num_attention_heads')),
    head_dim: positiveInt((v) => num(v, 'hidden_size') / num(v, 'num_attention_heads')),
    num_hidden_layers: positiveInt(),
    intermediate_size: positiveInt(),
    vocab_size: positiveInt(),
    max_position_embeddings: positiveInt(),
    rms_norm_eps: positiveNumber(1e-6),
    rope_theta: positiveNumber(10000),
    hidden_act: oneOf(['silu'], 'silu'),
    pretraining_tp: oneOf([1], 1),
    tie_word_embeddings: boolean(false),
    rope_scaling: ropeScaling,
  },
  rules: [
    // Without an explicit head_dim the width is split evenly among the heads.
    (v) =>
      Number.isInteger(num(v, 'head_dim'))
        ? null
        : `"hidden_size" = ${num(v, 'hidden_size')} is not a multiple of "num_attention_heads" = ${num(v, 'num_attention_heads')} and no "head_dim" is given (each attention head takes an equal slice of the width)`,
    divides('num_key_value_heads', 'num_attention_heads', 'each key/value head serves an equal group of query heads'),
    (v) =>
      num(v, 'head_dim') % 2 === 0
        ? null
        : `"head_dim" is ${num(v, 'head_dim')}, but rotary embeddings turn channels in pairs: it must be even`,
  ],
  dims: (v) => ({
    nLayers: num(v, 'num_hidden_layers'),
    dModel: num(v, 'hidden_size'),
    nHeads: num(v, 'num_attention_heads'),
    nKvHeads: num(v, 'num_key_value_heads'),
    headDim: num(v, 'head_dim'),
    dMlp: num(v, 'intermediate_size'),
    vocabSize: num(v, 'vocab_size'),
    maxPositions: num(v, 'max_position_embeddings'),
  }),
  tensors: (v, { nLayers, dModel: d, nHeads, nKvHeads, headDim, dMlp, vocabSize }) => [
    { name: 'embed_tokens.weight', shape: [vocabSize, d] },
    ...range(nLayers).flatMap((l) => [
      ...normTensors(`layers.${l}.input_layernorm`, d, false),
      ...torchLinear(`layers.${l}.self_attn.q_proj`, d, nHeads * headDim),
      ...torchLinear(`layers.${l}.self_attn.k_proj`, d, nKvHeads * headDim),
      ...torchLinear(`layers.${l}.self_attn.v_proj`, d, nKvHeads * headDim),
      ...torchLinear(`layers.${l}.self_attn.o_proj`, nHeads * headDim, d),
      ...normTensors(`layers.${l}.post_attention_layernorm`, d, false),
      ...torchLinear(`layers.${l}.mlp.gate_proj`, d, dMlp),
      ...torchLinear(`layers.${l}.mlp.up_proj`, d, dMlp),
      ...torchLinear(`layers.${l}.mlp.down_proj`, dMlp, d),
    ]),
    ...normTensors('norm', d, false),
    // Tied models (Llama 3.2 1B/3B) ship no lm_head: the embedding is reused.
    ...(v.tie_word_embeddings ? [] : torchLinear('lm_head', d, vocabSize)),
  ],
}

/** `valid` has been checked against LLAMA_SCHEMA (head grouping, even head_dim, rope_scaling…). */
export function loadLlama(valid: ValidConfig, source: WeightSource): DecoderSpec {
  const config = valid.raw
  const { dModel: d, nHeads, nKvHeads, headDim, dMlp, vocabSize: vocab, nLayers, maxPositions } = valid.dims
  const eps = valid.number('rms_norm_eps')

  const weights = new WeightLoader(source, 'model.')
  const norm = (prefix: string) => {
    const w = weights.vector(`${prefix}.weight`, d)
    return (x: tf.Tensor) => rmsNorm(x, w, eps)
  }
  const embedTokens = weights.matrix('embed_tokens.weight', vocab, d)

  const blocks: DecoderBlock[] = []
  for (let l = 0; l < nLayers; l++) {
    const p = `layers.${l}`
    const gate = weights.torchLinear(`${p}.mlp.gate_proj`, d, dMlp)
    const up = weights.torchLinear(`${p}.mlp.up_proj`, d, dMlp)
    const down = weights.torchLinear(`${p}.mlp.down_proj`, dMlp, d)
    blocks.push({
      ln1: norm(`${p}.input_layernorm`),
      attn: {
        qkv: fuseQkv(weights, `${p}.self_attn`, d, nHeads * headDim, nKvHeads * headDim),
        out: weights.torchLinear(`${p}.self_attn.o_proj`, nHeads * headDim, d),
      },
      ln2: norm(`${p}.post_attention_layernorm`),
      mlp: (x, post) => linear(post(tf.mul(silu(linear(x, gate)), linear(x, up))), down),
    })
  }
  const lnFinal = norm('norm')
  // Tied models (Llama 3.2 1B/3B) ship no lm_head: reuse the embedding, transposed once.
  const unembed: Linear = valid.boolean('tie_word_embeddings')
    ? { w: weights.derive(() => tf.transpose(embedTokens)), b: null }
    : weights.torchLinear('lm_head', d, vocab)

  return {
    architecture: 'llama',
    config,
    dims: {
      nLayers,
      dModel: d,
      nHeads,
      nKvHeads,
      headDim,
      dMlp,
      vocabSize: vocab,
      maxPositions,
      bosId: valid.tokenIds('bos_token_id')[0] ?? null,
      eosIds: valid.tokenIds('eos_token_id'),
    },
    parallelResidual: false,
    hasPosEmbed: false,
    embed: (ids, _positions, hook) => hook(hookNames.embed, embedding(embedTokens, ids)),
    rotaryInvFreq: rotaryFrequencies(valid, headDim),
    blocks,
    lnFinal,
    unembed: (x) => linear(x, unembed),
    tensors: weights.tensors,
  }
}

/** q, k and v projections concatenated into the one [in, q|k|v] matrix attention() expects. */
function fuseQkv(weights: WeightLoader, prefix: string, d: number, qDim: number, kvDim: number): Linear {
  const parts = [
    weights.torchLinear(`${prefix}.q_proj`, d, qDim),
    weights.torchLinear(`${prefix}.k_proj`, d, kvDim),
    weights.torchLinear(`${prefix}.v_proj`, d, kvDim),
  ]
  const biases = parts.flatMap((l) => (l.b ? [l.b] : []))
  const w = weights.derive(() =>
    tf.concat(
      parts.map((l) => l.w),
      1,
    ),
  )
  const b = biases.length === 3 ? weights.derive(() => tf.concat(biases, 0)) : null
  weights.free([...parts.map((l) => l.w), ...biases])
  return { w, b }
}

/** Default rotary frequencies, rescaled when rope_scaling asks for Llama 3's scheme (checked in architectures.ts). */
function rotaryFrequencies(valid: ValidConfig, headDim: number): Float32Array {
  const base = ropeInverseFrequencies(valid.number('rope_theta'), headDim)
  const s = valid.value('rope_scaling') as Record<string, number | string> | null
  if (s === null || (s.rope_type ?? s.type ?? 'default') === 'default') return base
  return llama3InverseFrequencies(base, {
    factor: s.factor as number,
    lowFreqFactor: s.low_freq_factor as number,
    highFreqFactor: s.high_freq_factor as number,
    originalMaxPositions: s.original_max_position_embeddings as number,
  })
}

export const llamaArchitecture: ArchitectureModule = { schema: LLAMA_SCHEMA, load: loadLlama }
